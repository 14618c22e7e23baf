"""Toy dataset rendering: objects (shape, colour, texture) on backgrounds, anti-aliased by
supersampling, and the deterministic H.264 writer.

The order of the draws from `rng` is part of the toy dataset's bytes: never reorder them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroi2v.data.toy_motion import MOTIONS

SHAPES = ("square", "triangle", "ellipse", "semicircle", "cross", "lshape")
COLOURS = {
    "red": (225, 45, 45), "green": (45, 205, 65), "blue": (60, 100, 245),
    "yellow": (235, 220, 45), "magenta": (220, 60, 220), "cyan": (45, 215, 225),
}  # fmt: skip
TEXTURES = ("solid", "stripes", "checker", "dots")
BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "checker")

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


def _encode_once(video: np.ndarray, *, fps: int, intra: bool = False) -> bytes:
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = video.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if intra:  # every frame a key frame at one constant quantiser: each frame's bytes depend on it alone
            # (CRF's rate control sets a frame's quantiser from its neighbours: the decoded frame then
            # differed by 0.1-0.4 grey levels with the order of the frames around it, measured)
            params = "bframes=0:threads=1:keyint=1:rc-lookahead=0:mbtree=0"
            stream.options = {"qp": "10", "preset": "fast", "x264-params": params}
        else:
            stream.options = {"crf": "16", "preset": "fast", "x264-params": "bframes=0:threads=1"}
        stream.codec_context.thread_count = 1
        for frame in video:
            # Convert to the encoder's yuv420p here, single-threaded, into a fresh frame: left to
            # the encoder, the conversion reused a frame whose bytes depended on the process' past.
            yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p", threads=1)
            for packet in stream.encode(yuv):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def encode_mp4(path: Path, video: np.ndarray, *, fps: int, tries: int = 5, intra: bool = False) -> None:
    """(T, H, W, 3) uint8 -> H.264 mp4 (single-threaded x264, no B-frames; `intra`: every frame a key
    frame, so each frame is compressed on its own).

    Deterministic bytes: with identical input planes, x264 was seen to emit a different stream
    for about one encode in fifty on a loaded machine (same pixels within codec noise, other
    bytes). The video is therefore encoded until two encodes agree (the common stream), at most
    `tries` times, then the most frequent result is written."""
    seen: dict[bytes, int] = {}
    for _ in range(tries):
        data = _encode_once(video, fps=fps, intra=intra)
        seen[data] = seen.get(data, 0) + 1
        if seen[data] >= 2:
            break
    best = max(seen, key=seen.get)
    Path(path).write_bytes(best)
