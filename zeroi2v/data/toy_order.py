"""The order pattern of the time-only toy (`toy_time`, pattern "order", the demo's default): classes
that are an ORDER of colours.

Every video shows one static random smooth texture (periodic, a few low spatial frequencies),
tinted frame by frame with each of the `HUES` colours exactly once. A class is a permutation `p`
of the T = 8 clip positions (p[0] = 0): the hue of frame t is (h0 + p[t]) mod 8, with the start hue
h0 uniform per video. So

- at every clip position the hue is uniform and the texture is drawn alike for every class: **the
  distribution of the frame at each position is the same for every class**, exactly;
- the *set* of a video's frames is the same for every class (one frame of each hue), so a model
  blind to order -- per-frame features averaged over the clip, with or without a temporal
  embedding -- has class-independent expected clip features (h0 uniform makes the expectation of
  any sum of per-frame terms the same for every class);
- only how consecutive frames relate differs: the hue steps p[t+1] - p[t] mod 8 are the class (up to
  nothing: p[0] = 0 removes the shift that h0 would make ambiguous). STDHA's heads at Δ = ±1 see
  exactly the neighbouring frame's hue, so attention across frames can read the steps.

Why these sizes (measured with docs/probes/hue_order.py before it became this module): a hue is
carried by every token of the frame, so a shifted head's keys and values hold the neighbour's
colour wherever it looks; the motion pattern (`toy_time`, pattern "motion") asks the tiny ViT to
locate an object in two frames and subtract positions, which it did not learn in the demo's
budget (docs/demo.md). Eight hues at saturation 0.8 stay far apart after H.264's 4:2:0 chroma.
"""
from __future__ import annotations

import colorsys

import numpy as np

HUES = 8  # colours per video = clip positions (every frame a different hue)
SATURATION = 0.8
PERMUTATION_SEED = 23  # the fixed draw of the class permutations (the same classes for every toy seed)
MAX_CLASSES = 40
# (8, 3) float RGB in [0, 1] of the hues, value 1
RGB = np.array([colorsys.hsv_to_rgb(h / HUES, SATURATION, 1.0) for h in range(HUES)], np.float32)


def _permutations(n: int = MAX_CLASSES) -> dict[str, tuple[int, ...]]:
    """`n` distinct permutations of the positions with p[0] = 0, named "order_<p>"."""
    rng = np.random.default_rng(PERMUTATION_SEED)
    out: dict[str, tuple[int, ...]] = {}
    while len(out) < n:
        p = (0, *(int(i) + 1 for i in rng.permutation(HUES - 1)))
        out.setdefault("order_" + "".join(map(str, p)), p)
    return out


# class name -> permutation (hue offset at each clip position); the classes of the order pattern
ORDERS: dict[str, tuple[int, ...]] = _permutations()


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(H, W) float in [0, 1]: a smooth periodic random texture (frequencies up to 3 cycles per frame)."""
    k = 4
    coef = rng.normal(size=(2 * k - 1, k)) + 1j * rng.normal(size=(2 * k - 1, k))  # low frequencies only
    spec = np.zeros((size, size // 2 + 1), np.complex128)
    spec[:k, :k], spec[-(k - 1):, :k] = coef[:k], coef[k:]
    spec[0, 0] = 0
    z = np.fft.irfft2(spec, s=(size, size))
    return (z - z.min()) / (z.max() - z.min() + 1e-12)


def tint(tex: np.ndarray, hue: int) -> np.ndarray:
    """(H, W, 3) uint8: the texture's luminance (0.2 to 1) times the hue's colour."""
    return np.round(255 * (0.2 + 0.8 * tex)[..., None] * RGB[hue]).astype(np.uint8)


def hues(order: str, h0: int, frames: int) -> list[int]:
    """The hue of every frame of a video of class `order` starting at hue h0 (frames <= HUES: a prefix)."""
    p = ORDERS[order]
    if not 1 <= frames <= HUES:
        raise ValueError(f"the order pattern has {HUES} positions; frames={frames}")
    return [(h0 + p[t]) % HUES for t in range(frames)]


def draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    """What a video draws, in order, class-independent: its texture and its start hue h0."""
    return texture(rng, size), int(rng.integers(HUES))


def render_order_video(order: str, rng: np.random.Generator, *, frames: int, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8: one random texture, frame t tinted with hue (h0 + p[t]) mod 8."""
    tex, h0 = draw(rng, size)
    return np.stack([tint(tex, h) for h in hues(order, h0, frames)])


def pretrain_frames(seed: int, size: int, n: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Single frames for the image pre-training, drawn like every frame of every video (a random texture,
    one hue): images (n, 3, H, W) uint8, labels (n,) = the hue, names "hue_<h>", geometry (n, 0)."""
    images = np.empty((n, 3, size, size), np.uint8)
    labels = np.arange(n) % HUES
    for i, h in enumerate(labels):
        images[i] = tint(texture(np.random.default_rng([seed, 30_000, i]), size), int(h)).transpose(2, 0, 1)
    return images, labels.astype(np.int64), [f"hue_{h}" for h in range(HUES)], np.zeros((n, 0), np.float32)
