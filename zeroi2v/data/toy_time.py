"""The time-only toy kind (`toy_time`): classes that live only between frames.

Two patterns (`TimeToyConfig.pattern`, `make-toy --kind toy_time --pattern P`), both with the
property below, exactly and by construction:

- "order" (the default, the demo's): a static texture tinted with each of 8 hues once; the class is
  the order of the hues (`zeroi2v.data.toy_order`). ZeroI2V learns it; the order-blind rows stay at chance.
- "motion" (the first attempt, kept so its documented numbers reproduce): an object moving on a
  torus, the class its velocity (this module). The tiny ViT did not learn it in the demo's budget.

The motion pattern: each video shows one object (a random shape, colour, texture, size and orientation from
`toy_render`, on a random static background) on a **torus**: the frame wraps at its borders. The
object's start is uniform on the torus and a class is a velocity (dx, dy) in px per frame: 8
directions x 3 speeds (4, 8, 12 px per frame at 64 px) plus `static`. A translation of a uniform
position on the torus is again uniform, and nothing else about the video depends on the class, so
**the distribution of the frame at every clip position is the same for every class** -- exactly,
by construction, not approximately: one frame, or all frames each seen alone (with their position
in the clip), carry no information about the class. Only how consecutive frames relate (where the
object went) differs. Videos are encoded all-intra (every frame a key frame), so the codec, too,
treats each frame alone. Clips hold every frame of the video (`frames` = the demo's clip length).

Why these sizes: the object is about a patch wide (radius 8-13 px at 64 px, patch 16) and moves
a quarter to three quarters of a patch per frame, so the position change between neighbouring
frames is large against the object but small against the frame; the image pre-training
(`zeroi2v.model.toyvit`) teaches the tiny ViT where the object is on the torus (cos/sin of x and
y), shape and colour.

Same files as the toy (zeroi2v.data.toy writes both kinds), without frames.npz: the image
pre-training draws its single frames from `pretrain_frames`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zeroi2v.data import toy_order

ENV = "ZEROI2V_TOY_TIME_ROOT"
FORMAT = "zeroi2v-toy-time/2"  # 2: the pattern field (order, the new default; motion, format 1's)
LAYOUT = ("videos/<class>/<file>.mp4 + ucfTrainTestlist/ + splits/ + toy.json "
          "(python -m fewshot.data make-toy --kind toy_time)")
PATTERNS = ("order", "motion")  # TimeToyConfig.pattern; each one row of _BY_PATTERN (end of this module)
REFERENCE_SIZE = 64  # velocities are in px per frame at this frame size (scaled with the size)
SPEEDS = (4, 8, 12)
DIRECTIONS = {"right": (1, 0), "down_right": (1, 1), "down": (0, 1), "down_left": (-1, 1),
              "left": (-1, 0), "up_left": (-1, -1), "up": (0, -1), "up_right": (1, -1)}  # y points down


def _velocities() -> dict[str, tuple[float, float]]:
    out = {"static": (0.0, 0.0)}
    for speed in SPEEDS:
        for name, (x, y) in DIRECTIONS.items():
            k = speed / math.hypot(x, y)
            out[f"{name}_{speed}"] = (x * k, y * k)
    return out


# class name -> velocity (dx, dy), px per frame at REFERENCE_SIZE; the classes of the time-only toy
VELOCITIES: dict[str, tuple[float, float]] = _velocities()


@dataclass(frozen=True)
class TimeToyConfig:
    """The time-only toy's settings (zeroi2v.data.toy writes it; the toy's files without frames.npz)."""

    seed: int = 0
    pattern: str = "order"  # PATTERNS: hue order (zeroi2v.data.toy_order) or object motion (this module)
    videos_per_class: int = 20
    test_per_class: int = 5  # of those, how many go to testlist01 (supervised split)
    frames: int = 8  # = the demo's clip length: every clip holds every frame (no frame skipping)
    size: int = 64
    fps: int = 8
    num_classes: int = 25  # the first num_classes classes of the pattern (ORDERS or VELOCITIES)
    class_split: tuple[int, int, int] = (13, 5, 7)  # base / val / novel classes


def draw_object(rng: np.random.Generator, size: int, *, shape: str | None = None, colour: str | None = None) -> dict:
    """One object and its static background: look, radius (frame units), angle; no class in it."""
    from zeroi2v.data.toy_render import background, draw_look

    look = draw_look(rng, shape=shape, colour=colour)
    return dict(look=look, r=float(rng.uniform(0.12, 0.2)), angle=float(rng.uniform(0, 2 * math.pi)),
                bg=background(rng, size))


def render_object(obj: dict, x: float, y: float) -> np.ndarray:
    """(H, W, 3) uint8: the object centred at (x, y) (frame units, on the torus) on its background;
    the parts beyond a border reappear at the opposite one."""
    from zeroi2v.data.toy_render import composite, downsample

    canvas = obj["bg"].copy()
    for ox in (-1.0, 0.0, 1.0):
        for oy in (-1.0, 0.0, 1.0):
            if abs(x + ox - 0.5) < 0.5 + 1.5 * obj["r"] and abs(y + oy - 0.5) < 0.5 + 1.5 * obj["r"]:
                composite(canvas, obj["look"], x=x + ox, y=y + oy, r=obj["r"], angle=obj["angle"])
    return downsample(canvas)


def positions(motion: str, x0: float, y0: float, frames: int) -> np.ndarray:
    """(T, 2) object centres (frame units, in [0, 1)) of a video of `motion` starting at (x0, y0)."""
    v = np.array(VELOCITIES[motion]) / REFERENCE_SIZE  # frame units per frame (size-independent)
    return (np.array([x0, y0])[None, :] + np.arange(frames)[:, None] * v[None, :]) % 1.0


def render_time_video(motion: str, rng: np.random.Generator, *, frames: int, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8: one random object moving with the class's velocity, wrapping at the borders."""
    obj = draw_object(rng, size)
    x0, y0 = rng.uniform(0, 1, 2)
    return np.stack([render_object(obj, x, y) for x, y in positions(motion, x0, y0, frames)])


def pretrain_frames(seed: int, size: int, n: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Single frames for the image pre-training, drawn like every frame of every video: images
    (n, 3, H, W) uint8, labels (n,) "<colour>_<shape>" indices, class names, and geometry (n, 5)
    float32: cos and sin of 2 pi x, of 2 pi y (the centre on the torus) and the radius."""
    from zeroi2v.data.toy_render import COLOURS, SHAPES

    names = [f"{c}_{s}" for c in COLOURS for s in SHAPES]
    images = np.empty((n, 3, size, size), np.uint8)
    geometry = np.empty((n, 5), np.float32)
    labels = np.arange(n) % len(names)
    for i, label in enumerate(labels):
        colour, shape = names[label].split("_", 1)
        rng = np.random.default_rng([seed, 20_000, i])
        obj = draw_object(rng, size, shape=shape, colour=colour)
        x, y = rng.uniform(0, 1, 2)
        images[i] = render_object(obj, x, y).transpose(2, 0, 1)
        tx, ty = 2 * math.pi * x, 2 * math.pi * y
        geometry[i] = (math.cos(tx), math.sin(tx), math.cos(ty), math.sin(ty), obj["r"])
    return images, labels.astype(np.int64), names, geometry


# pattern -> (class name -> definition, render(cls, rng, frames=, size=), pretrain_frames(seed, size, n))
_BY_PATTERN = {"order": (toy_order.ORDERS, toy_order.render_order_video, toy_order.pretrain_frames),
               "motion": (VELOCITIES, render_time_video, pretrain_frames)}
assert tuple(_BY_PATTERN) == PATTERNS


def classes_of(pattern: str) -> list[str]:
    """Every class name of a pattern, in order (a config takes the first num_classes)."""
    return list(_BY_PATTERN[pattern][0])


def render_video(config: TimeToyConfig, cls: str, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) uint8: one video of class `cls` of the config's pattern."""
    return _BY_PATTERN[config.pattern][1](cls, rng, frames=config.frames, size=config.size)


def image_frames(config: dict, n: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The image pre-training's single frames of a toy.json `config` (a dict): the pattern's `pretrain_frames`."""
    return _BY_PATTERN[config.get("pattern", "motion")][2](int(config["seed"]), int(config["size"]), n)
