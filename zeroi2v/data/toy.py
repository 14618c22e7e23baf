"""`toy`: a synthetic motion dataset, the embedded default for the demo (no download needed).

Each class is a MOTION (translation in 8 directions, rotation cw/ccw, growing/shrinking, orbiting,
spiralling, appearing/vanishing, approach-then-retreat, bouncing, zigzag, rolling, squashing,
shaking, blinking, pendulum swing) applied to an object whose shape, colour, texture, size,
position, orientation and background (plus an optional static distractor) are drawn at random
independently of the class, so no single frame reveals the class; many classes come in
time-reversed pairs (grow/shrink, appear/vanish, move_left/move_right, ...). Seeded and
deterministic: the same seed gives the same decoded frames (and, with the same x264, the same bytes).

Layout written by `python -m fewshot.data make-toy --out DIR` (UCF101's official list format, so
the real UCF101 reader parses it)::

    DIR/
        toy.json                          format, config, class list, base/val/novel class split
        videos/<class>/<class>_<i:03d>.mp4     H.264, `frames` frames of `size`x`size` px
        ucfTrainTestlist/classInd.txt     "1 move_left"
        ucfTrainTestlist/trainlist01.txt  "move_left/move_left_000.mp4 1"
        ucfTrainTestlist/testlist01.txt   "move_left/move_left_015.mp4"
        splits/{train,val,test}.txt       episodic few-shot splits: "train3//videos/<class>/<file>.mp4"
                                          (base / val / novel classes; video id "<class>/<file>")
        frames.npz                        single frames for image pre-training: images (N, 3, H, W)
                                          uint8, labels (N,), class_names ("<colour>_<shape>")

`ensure_toy()` generates it once into $ZEROI2V_CACHE/toy (default ~/.cache/zeroi2v/toy), writing a
temp folder that is renamed into place only when complete. Env var for another root: ZEROI2V_TOY_ROOT.
Splits of the reader: train -> trainlist01, val and test -> testlist01 (all classes, for supervised use).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from zeroi2v.errors import UserError
from zeroi2v.io import atomic_path, atomic_write_json, atomic_write_text

from .common import BadData, VideoItem
from .registry import Reader
from .ucf101 import parse_lists

ENV = "ZEROI2V_TOY_ROOT"
FORMAT = "zeroi2v-toy/2"  # 2: frames.npz carries each frame's object geometry
LAYOUT = "videos/<class>/<file>.mp4 + ucfTrainTestlist/ + splits/ + frames.npz + toy.json (python -m fewshot.data make-toy)"

SHAPES = ("square", "triangle", "ellipse", "semicircle", "cross", "lshape")
COLOURS = {
    "red": (225, 45, 45), "green": (45, 205, 65), "blue": (60, 100, 245),
    "yellow": (235, 220, 45), "magenta": (220, 60, 220), "cyan": (45, 215, 225),
}  # fmt: skip
TEXTURES = ("solid", "stripes", "checker", "dots")
BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "checker")


@dataclass(frozen=True)
class ToyConfig:
    seed: int = 0
    videos_per_class: int = 20
    test_per_class: int = 5  # of those, how many go to testlist01 (supervised split)
    frames: int = 16
    size: int = 64
    fps: int = 8
    images_per_class: int = 60  # single frames per (colour, shape) class
    num_classes: int = 32  # the first num_classes motions of MOTIONS (tests use fewer)
    class_split: tuple[int, int, int] = (16, 6, 10)  # base / val / novel classes (scaled down if fewer classes)


# ---------------------------------------------------------------- motions
# A motion maps t in [0, 1] (shape (T,)) and a per-video rng to per-frame state arrays:
# x, y (centre, frame units), r (radius, frame units), angle (rad, + = clockwise on screen),
# alpha (visibility 0..1), ax, ay (axis scale factors for squashing).


def _state(t, *, x, y, r, angle=0.0, alpha=1.0, ax=1.0, ay=1.0) -> dict[str, np.ndarray]:
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), t.shape).copy()  # noqa: E731
    return dict(x=full(x), y=full(y), r=full(r), angle=full(angle), alpha=full(alpha), ax=full(ax), ay=full(ay))


def _common(rng) -> dict:
    return dict(x=rng.uniform(0.38, 0.62), y=rng.uniform(0.38, 0.62), r=rng.uniform(0.12, 0.19), a0=rng.uniform(0, 2 * math.pi))


def translate(dx: float, dy: float, *, roll: bool = False) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        d = rng.uniform(0.36, 0.52) / math.hypot(dx, dy)
        x = c["x"] + (t - 0.5) * d * dx + rng.uniform(-0.04, 0.04)
        y = c["y"] + (t - 0.5) * d * dy + rng.uniform(-0.04, 0.04)
        angle = c["a0"] + (d * math.hypot(dx, dy) / c["r"]) * t * np.sign(dx) if roll else c["a0"]
        return _state(t, x=x, y=y, r=c["r"], angle=angle)

    return motion


def rotate(direction: int) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        return _state(t, x=c["x"], y=c["y"], r=c["r"] * 1.2, angle=c["a0"] + direction * rng.uniform(0.6, 1.0) * math.pi * t)

    return motion


def scale(kind: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        small, big = rng.uniform(0.06, 0.09), rng.uniform(0.2, 0.26)
        s = {"grow": t, "shrink": 1 - t, "approach": np.sin(math.pi * t), "retreat": 1 - np.sin(math.pi * t)}[kind]
        return _state(t, x=c["x"], y=c["y"], r=small + (big - small) * s, angle=c["a0"])

    return motion


def orbit(direction: int, *, spiral: str | None = None) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        cx, cy = 0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05)
        turn = direction if spiral is None else rng.choice((-1, 1))
        phase = rng.uniform(0, 2 * math.pi) + turn * rng.uniform(1.2, 1.7) * math.pi * t
        radius = rng.uniform(0.2, 0.27)
        if spiral == "in":
            radius = radius * (1 - 0.85 * t)
        elif spiral == "out":
            radius = radius * (0.15 + 0.85 * t)
        return _state(t, x=cx + radius * np.cos(phase), y=cy + radius * np.sin(phase), r=c["r"] * 0.8, angle=c["a0"])

    return motion


def fade(kind: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        start = rng.uniform(0.15, 0.4)
        ramp = np.clip((t - start) / 0.35, 0, 1)
        if kind == "blink":
            cycles = rng.uniform(2.0, 3.0)
            ramp = (np.cos(2 * math.pi * cycles * t + rng.uniform(0, 2 * math.pi)) > 0).astype(np.float64)
        elif kind == "vanish":
            ramp = 1 - np.clip((t - (1 - start - 0.35)) / 0.35, 0, 1)
        return _state(t, x=c["x"], y=c["y"], r=c["r"], angle=c["a0"], alpha=ramp)

    return motion


def oscillate(axis: str, *, cycles: tuple[float, float], amp: tuple[float, float]) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        a = rng.uniform(*amp) * rng.choice((-1, 1))  # which side it starts moving to is free
        n = rng.uniform(*cycles)
        offset = a * np.sin(2 * math.pi * n * t)
        x, y = (c["x"] + offset, c["y"]) if axis == "x" else (c["x"], c["y"] + offset)
        return _state(t, x=x, y=y, r=c["r"], angle=c["a0"])

    return motion


def zigzag(dx: int) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        d = rng.uniform(0.36, 0.5)
        wave = rng.uniform(0.08, 0.12) * np.sin(2 * math.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 2 * math.pi))
        return _state(t, x=c["x"] + (t - 0.5) * d * dx, y=c["y"] + wave, r=c["r"] * 0.9, angle=c["a0"])

    return motion


def squash(axis: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        f = 0.15 + 0.85 * np.abs(np.cos(math.pi * rng.uniform(1.0, 1.5) * t))
        ax, ay = (f, 1.0) if axis == "x" else (1.0, f)
        return _state(t, x=c["x"], y=c["y"], r=c["r"] * 1.2, angle=0.0, ax=ax, ay=ay)

    return motion


def pendulum(t, rng):
    c = _common(rng)
    length = rng.uniform(0.35, 0.45)
    phi = rng.uniform(0.5, 0.8) * np.cos(2 * math.pi * rng.uniform(0.8, 1.2) * t + rng.choice((0, math.pi)))
    return _state(t, x=0.5 + length * np.sin(phi), y=0.12 + length * np.cos(phi), r=c["r"] * 0.85, angle=c["a0"])


MOTIONS: dict[str, Callable] = {
    "move_left": translate(-1, 0), "move_right": translate(1, 0),
    "move_up": translate(0, -1), "move_down": translate(0, 1),
    "rotate_cw": rotate(1), "rotate_ccw": rotate(-1),
    "grow": scale("grow"), "shrink": scale("shrink"),
    "orbit_cw": orbit(1), "orbit_ccw": orbit(-1),
    "appear": fade("appear"), "vanish": fade("vanish"),
    "approach_then_retreat": scale("approach"), "retreat_then_approach": scale("retreat"),
    "bounce_horizontal": oscillate("x", cycles=(0.9, 1.1), amp=(0.2, 0.26)),
    "bounce_vertical": oscillate("y", cycles=(0.9, 1.1), amp=(0.2, 0.26)),
    "move_up_left": translate(-1, -1), "move_down_right": translate(1, 1),
    "move_up_right": translate(1, -1), "move_down_left": translate(-1, 1),
    "roll_left": translate(-1, 0, roll=True), "roll_right": translate(1, 0, roll=True),
    "spiral_in": orbit(1, spiral="in"), "spiral_out": orbit(1, spiral="out"),
    "zigzag_left": zigzag(-1), "zigzag_right": zigzag(1),
    "squash_horizontal": squash("x"), "squash_vertical": squash("y"),
    "shake_horizontal": oscillate("x", cycles=(3.0, 4.0), amp=(0.05, 0.07)),
    "shake_vertical": oscillate("y", cycles=(3.0, 4.0), amp=(0.05, 0.07)),
    "blink": fade("blink"), "pendulum": pendulum,
}  # fmt: skip


# ---------------------------------------------------------------- rendering

SS = 2  # supersampling factor (anti-aliased edges, sub-pixel motion stays visible)


@dataclass(frozen=True)
class Look:
    shape: str
    colour: str
    rgb: tuple[float, float, float]
    texture: str
    texture_freq: float


def draw_look(rng: np.random.Generator, *, shape: str | None = None, colour: str | None = None) -> Look:
    shape = shape or str(rng.choice(SHAPES))
    colour = colour or str(rng.choice(list(COLOURS)))
    rgb = np.clip(np.array(COLOURS[colour]) + rng.uniform(-25, 25, size=3), 0, 255)
    return Look(shape, colour, tuple(float(v) for v in rgb), str(rng.choice(TEXTURES)), float(rng.uniform(5, 9)))


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size*SS, size*SS, 3) float, dark so every object colour stands out."""
    n = size * SS
    kind = str(rng.choice(BACKGROUNDS))
    c1, c2 = rng.uniform(0, 90, size=3), rng.uniform(0, 90, size=3)
    yy, xx = np.mgrid[0:n, 0:n] / n
    if kind == "solid":
        w = np.zeros((n, n))
    elif kind == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        w = (np.cos(a) * xx + np.sin(a) * yy)
        w = (w - w.min()) / max(w.max() - w.min(), 1e-6)
    elif kind == "noise":
        coarse = rng.random((size // 8 + 1, size // 8 + 1))
        w = np.kron(coarse, np.ones((8 * SS, 8 * SS)))[:n, :n]
    else:
        f, a = rng.uniform(4, 10), rng.uniform(0, math.pi)
        u, v = np.cos(a) * xx + np.sin(a) * yy, -np.sin(a) * xx + np.cos(a) * yy
        w = (np.sin(2 * math.pi * f * u) > 0).astype(float)
        if kind == "checker":
            w = (w == (np.sin(2 * math.pi * f * v) > 0)).astype(float)
    return c1 * (1 - w[..., None]) + c2 * w[..., None]


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in object coordinates (unit radius, v points down)."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == "ellipse":
        return u**2 + (v / 0.55) ** 2 <= 1
    if shape == "triangle":
        return (v <= 0.5) & (math.sqrt(3) * u - v <= 1) & (-math.sqrt(3) * u - v <= 1)
    if shape == "semicircle":
        return (u**2 + (v + 0.35) ** 2 <= 1) & (v >= -0.35)
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.9)) | ((np.abs(u) <= 0.9) & (np.abs(v) <= 0.3))
    if shape == "lshape":
        return ((u >= -0.8) & (u <= -0.2) & (np.abs(v) <= 0.85)) | ((np.abs(u) <= 0.8) & (v >= 0.25) & (v <= 0.85))
    raise ValueError(shape)


def texture_shade(look: Look, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness factor in object coordinates (the texture moves and turns with the object)."""
    k = look.texture_freq
    if look.texture == "solid":
        return np.ones_like(u)
    if look.texture == "stripes":
        return np.where(np.sin(k * u) > 0, 1.0, 0.5)
    if look.texture == "checker":
        return np.where(np.sin(k * u) * np.sin(k * v) > 0, 1.0, 0.5)
    return np.where(np.sin(k * u) ** 2 + np.sin(k * v) ** 2 < 0.5, 0.45, 1.0)  # dots


def composite(canvas: np.ndarray, look: Look, *, x, y, r, angle, alpha=1.0, ax=1.0, ay=1.0) -> np.ndarray:
    """Paint one object onto a (n, n, 3) float canvas (n = size*SS), in place; returns it."""
    if alpha <= 0:
        return canvas
    n = canvas.shape[0]
    coords = (np.arange(n) + 0.5) / n
    dx, dy = coords[None, :] - x, coords[:, None] - y  # (1, n), (n, 1)
    c, s = math.cos(angle), math.sin(angle)
    u = (c * dx + s * dy) / (r * ax)  # rotate by -angle into object coordinates
    v = (-s * dx + c * dy) / (r * ay)
    inside = shape_mask(look.shape, u, v)
    if not inside.any():
        return canvas
    a = inside * float(alpha)  # (n, n)
    colour = np.asarray(look.rgb)[None, None, :] * texture_shade(look, u, v)[..., None]
    canvas *= 1 - a[..., None]
    canvas += a[..., None] * colour
    return canvas


def downsample(canvas: np.ndarray) -> np.ndarray:
    """(n, n, 3) float at SS x resolution -> (n/SS, n/SS, 3) uint8 (box filter)."""
    n = canvas.shape[0] // SS
    out = canvas.reshape(n, SS, n, SS, 3).mean(axis=(1, 3))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_video(motion: str, rng: np.random.Generator, *, frames: int, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 of one random object doing `motion`."""
    t = np.linspace(0.0, 1.0, frames)
    state = MOTIONS[motion](t, rng)
    look = draw_look(rng)
    bg = background(rng, size)
    if rng.random() < 0.35:  # a static distractor of another shape
        other = draw_look(rng, shape=str(rng.choice([s for s in SHAPES if s != look.shape])))
        composite(bg, other, x=rng.uniform(0.15, 0.85), y=rng.uniform(0.15, 0.85), r=rng.uniform(0.06, 0.09),
                  angle=rng.uniform(0, 2 * math.pi))
    video = np.empty((frames, size, size, 3), np.uint8)
    for i in range(frames):
        canvas = bg.copy()
        composite(canvas, look, **{k: float(v[i]) for k, v in state.items()})
        video[i] = downsample(canvas)
    return video


def render_image(rng: np.random.Generator, *, shape: str, colour: str, size: int) -> tuple[np.ndarray, tuple]:
    """(H, W, 3) uint8: one object of the given shape and colour, random everything else; and its
    geometry (x, y, r): centre and radius in frame units."""
    canvas = background(rng, size)
    look = draw_look(rng, shape=shape, colour=colour)
    x, y, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.24)
    composite(canvas, look, x=x, y=y, r=r, angle=rng.uniform(0, 2 * math.pi))
    return downsample(canvas), (x, y, r)


def encode_mp4(path: Path, video: np.ndarray, *, fps: int) -> None:
    """(T, H, W, 3) uint8 -> H.264 mp4 (single-threaded x264, no B-frames: deterministic bytes)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = video.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "fast", "x264-params": "bframes=0:threads=1"}
        stream.codec_context.thread_count = 1
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------- dataset files


def class_names(config: ToyConfig) -> list[str]:
    names = list(MOTIONS)
    if not 2 <= config.num_classes <= len(names):
        raise UserError(f"toy num_classes={config.num_classes} must be in 2..{len(names)}")
    return names[: config.num_classes]


def class_splits(config: ToyConfig) -> dict[str, list[str]]:
    """Seeded base / val / novel (= few-shot train / val / test) class split."""
    names = class_names(config)
    want = np.array(config.class_split, dtype=float)
    counts = np.floor(want / want.sum() * len(names)).astype(int) if want.sum() > len(names) else want.astype(int)
    counts[0] += len(names) - counts.sum()
    order = np.random.default_rng([config.seed, 7]).permutation(len(names))
    parts, start = {}, 0
    for split, n in zip(("train", "val", "test"), counts):
        parts[split] = sorted((names[i] for i in order[start : start + n]), key=names.index)
        start += n
    return parts


def video_file(cls: str, i: int) -> str:
    return f"{cls}_{i:03d}.mp4"


def _make_class(args: tuple[Path, ToyConfig, int, str]) -> int:
    out, config, class_index, cls = args
    folder = out / "videos" / cls
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(config.videos_per_class):
        rng = np.random.default_rng([config.seed, class_index, i])
        encode_mp4(folder / video_file(cls, i), render_video(cls, rng, frames=config.frames, size=config.size), fps=config.fps)
    return config.videos_per_class


def make_frames(config: ToyConfig) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Single frames labelled "<colour>_<shape>": images (N, 3, H, W) uint8, labels (N,) int64,
    class names, and geometry (N, 3) float32: the object's centre x, y and radius (frame units)."""
    names = [f"{c}_{s}" for c in COLOURS for s in SHAPES]
    n = config.images_per_class * len(names)
    images = np.empty((n, 3, config.size, config.size), np.uint8)
    geometry = np.empty((n, 3), np.float32)
    labels = np.repeat(np.arange(len(names)), config.images_per_class)
    for i, label in enumerate(labels):
        colour, shape = names[label].split("_", 1)
        rng = np.random.default_rng([config.seed, 10_000, i])
        image, geometry[i] = render_image(rng, shape=shape, colour=colour, size=config.size)
        images[i] = image.transpose(2, 0, 1)
    return images, labels.astype(np.int64), names, geometry


def write_toy(out: Path, config: ToyConfig, *, workers: int = 1) -> None:
    """Write every file of the toy dataset into the (empty) folder `out`; toy.json last."""
    from tqdm import tqdm

    names = class_names(config)
    if config.videos_per_class <= config.test_per_class:
        raise UserError(f"videos_per_class={config.videos_per_class} must exceed test_per_class={config.test_per_class}")
    jobs = [(out, config, k, cls) for k, cls in enumerate(names)]
    bar = tqdm(total=len(names) * config.videos_per_class, desc="toy videos", unit="video", leave=False)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for n in pool.imap_unordered(_make_class, jobs):
                bar.update(n)
    else:
        for job in jobs:
            bar.update(_make_class(job))
    bar.close()

    lists = out / "ucfTrainTestlist"
    train = config.videos_per_class - config.test_per_class
    atomic_write_text(lists / "classInd.txt", "".join(f"{k + 1} {c}\n" for k, c in enumerate(names)))
    atomic_write_text(lists / "trainlist01.txt", "".join(
        f"{c}/{video_file(c, i)} {k + 1}\n" for k, c in enumerate(names) for i in range(train)))
    atomic_write_text(lists / "testlist01.txt", "".join(
        f"{c}/{video_file(c, i)}\n" for c in names for i in range(train, config.videos_per_class)))
    splits = class_splits(config)
    for split, classes in splits.items():
        atomic_write_text(out / "splits" / f"{split}.txt", "".join(
            f"{split}{k}//videos/{c}/{video_file(c, i)}\n" for k, c in enumerate(classes) for i in range(config.videos_per_class)))

    images, labels, frame_names, geometry = make_frames(config)
    with atomic_path(out / "frames.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels, class_names=np.array(frame_names),
                                geometry=geometry)
    atomic_write_json(out / "toy.json", {
        "format": FORMAT, "config": asdict(config), "classes": names, "class_splits": splits,
        "videos": len(names) * config.videos_per_class, "images": int(len(labels)), "image_classes": frame_names,
    })  # fmt: skip


def read_meta(root: str | os.PathLike) -> dict | None:
    """toy.json of a finished toy dataset, else None."""
    path = Path(root) / "toy.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return meta if meta.get("format") == FORMAT else None


def make_toy(out: str | os.PathLike, config: ToyConfig = ToyConfig(), *, workers: int | None = None) -> Path:
    """Generate the toy dataset at `out` atomically (temp folder + rename); reuse it if already complete."""
    out = Path(out).expanduser()
    meta = read_meta(out)
    if meta is not None:
        if meta["config"] == json.loads(json.dumps(asdict(config))):
            print(f"toy dataset at {out} is complete (seed {config.seed}); reusing it")
            return out
        raise UserError(f"{out} holds a toy dataset made with other settings ({meta['config']}); "
                        "remove it or choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a toy dataset; remove it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        write_toy(tmp, config, workers=workers)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if read_meta(out) is not None:  # another process finished first
            return out
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n = config.num_classes * config.videos_per_class
    print(f"wrote toy dataset to {out}: {config.num_classes} classes, {n} videos, "
          f"{config.images_per_class * len(COLOURS) * len(SHAPES)} frames in {time.perf_counter() - start:.1f} s")
    return out


def default_root() -> Path:
    return Path(os.environ.get("ZEROI2V_CACHE", "~/.cache/zeroi2v")).expanduser() / "toy"


def ensure_toy(root: str | os.PathLike | None = None) -> Path:
    """The toy dataset root, generated on first use (default $ZEROI2V_CACHE/toy or ~/.cache/zeroi2v/toy)."""
    root = Path(root).expanduser() if root is not None else default_root()
    if read_meta(root) is not None:
        return root
    if root == default_root() and (root / "toy.json").is_file():  # our cache, from an older format
        shutil.rmtree(root)
    return make_toy(root)


def require(root: Path) -> dict:
    meta = read_meta(root)
    if meta is None:
        raise UserError(f"{root} is not a finished toy dataset (no valid toy.json); "
                        f"generate it with: python -m fewshot.data make-toy --out {root}")
    return meta


def load_toy_geometry(root: str | os.PathLike):
    """FloatTensor (N, 3): centre x, y and radius of the object in each toy frame (frame units)."""
    import torch

    root = Path(root)
    require(root)
    with np.load(root / "frames.npz") as z:
        return torch.from_numpy(z["geometry"]).float()


def load_toy_frames(root: str | os.PathLike):
    """(images uint8 (N, 3, H, W), labels LongTensor (N,), class_names) from <root>/frames.npz."""
    import torch

    root = Path(root)
    require(root)
    try:
        with np.load(root / "frames.npz") as z:
            images, labels, names = z["images"], z["labels"], [str(n) for n in z["class_names"]]
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"{root / 'frames.npz'} is unreadable ({e}); remove {root} and rerun make-toy") from None
    return torch.from_numpy(images), torch.from_numpy(labels).long(), names


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    require(root)
    return parse_lists(root, split, fold=fold, bad=bad, env=ENV, layout=LAYOUT)


def config_from(**kwargs) -> ToyConfig:
    names = {f.name for f in fields(ToyConfig)}
    return ToyConfig(**{k: v for k, v in kwargs.items() if k in names and v is not None})


READER = Reader(name="toy", env=ENV, splits=("train", "test"), folds=(1,), list_split=list_split, layout=LAYOUT)
