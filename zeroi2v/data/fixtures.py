"""Generated videos shaped like the real datasets, written with PyAV (for the benchmark and the tests).

The decoder does the same work as on the real files: same container, codec, frame size, frame rate,
length and keyframe interval; the pictures are a panning texture with moving shapes and sensor
noise (so the encoder spends bits as on camera footage). No real dataset is needed.

    kind      file   codec                   size      fps  length   GOP (keyframe interval)
    ssv2      .webm  VP9 (libvpx-vp9)        427x240   12   2-6 s    libvpx default (auto)
    kinetics  .mp4   H.264 (libx264)         604x340   30   10 s     250 (no scene-cut keyframes), B-frames
    hmdb      .avi   MPEG-4 part 2 (XVID)    320x240   30   2-5 s    300 (xvid's default max)

`scale="tiny"` keeps container, codec and GOP structure but writes a few small frames (test suite).
`fixture_set(root, kind, videos=N)` writes N videos once (atomically) and reuses them; the directory
name carries a hash of every setting that produced them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

# this module also runs as a plain script in a fresh interpreter (see `write_fixture`): the suite's own
# modules are imported inside the functions that need them, so that path loads only numpy and PyAV

FORMAT_OF_SUFFIX = {".webm": "webm", ".mp4": "mp4", ".avi": "avi", ".mkv": "matroska"}


@dataclass(frozen=True)
class FixtureSpec:
    kind: str
    suffix: str
    codec: str
    width: int
    height: int
    fps: int
    seconds: tuple[float, float]  # length range (each video draws one from its seed)
    gop: int | None  # keyframe interval in frames; None: the encoder's default
    options: tuple[tuple[str, str], ...] = ()  # encoder options
    codec_tag: str | None = None
    noise: float = 4.0  # std of the per-frame sensor noise (grey levels)


SPECS: dict[str, FixtureSpec] = {
    "ssv2": FixtureSpec("ssv2", ".webm", "libvpx-vp9", 427, 240, 12, (2.0, 6.0), None,
                        (("deadline", "realtime"), ("cpu-used", "8"), ("crf", "32"))),
    "kinetics": FixtureSpec("kinetics", ".mp4", "libx264", 604, 340, 30, (10.0, 10.0), 250,
                            (("preset", "veryfast"), ("crf", "23"))),
    "hmdb": FixtureSpec("hmdb", ".avi", "mpeg4", 320, 240, 30, (2.0, 5.0), 300, (("qscale", "4"),),
                        codec_tag="XVID"),
}  # fmt: skip


def tiny(spec: FixtureSpec) -> FixtureSpec:
    """The same container/codec/GOP structure at test size: 64-80 px, about 12-20 frames."""
    w, h = (80, 48) if spec.width > spec.height * 1.5 else (64, 48)
    gop = None if spec.gop is None else 8
    return replace(spec, width=w, height=h, fps=spec.fps if spec.fps <= 12 else 8, seconds=(1.5, 2.0), gop=gop)


def get_spec(kind: str, scale: str = "full") -> FixtureSpec:
    from zeroi2v.utils.errors import UserError

    if kind not in SPECS:
        raise UserError(f"unknown fixture kind {kind!r}; use one of {', '.join(SPECS)}")
    if scale not in ("full", "tiny"):
        raise UserError(f"fixture scale {scale!r}; use full or tiny")
    return SPECS[kind] if scale == "full" else tiny(SPECS[kind])


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 in [0, 255]: smooth colour blobs + fine grain, tiled for panning."""
    coarse = rng.uniform(30, 220, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    ys = np.linspace(0, coarse.shape[0] - 1.001, h)
    xs = np.linspace(0, coarse.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    c = coarse
    smooth = ((c[y0][:, x0] * (1 - fx) + c[y0][:, x0 + 1] * fx) * (1 - fy)
              + (c[y0 + 1][:, x0] * (1 - fx) + c[y0 + 1][:, x0 + 1] * fx) * fy)
    grain = rng.normal(0, 12, size=(h, w, 1)).astype(np.float32)
    return np.clip(smooth + grain, 0, 255)


def frames(spec: FixtureSpec, n: int, *, seed: int):
    """Yield n (H, W, 3) uint8 frames: a panning texture, two moving boxes, per-frame noise."""
    rng = np.random.default_rng(seed)
    H, W = spec.height, spec.width
    tex = _texture(rng, 2 * H, 2 * W)
    vy, vx = rng.uniform(-1.5, 1.5, size=2) * max(1.0, W / 320)
    boxes = [(rng.uniform(0, W), rng.uniform(0, H), rng.uniform(-4, 4), rng.uniform(-3, 3), rng.integers(40, 255, 3))
             for _ in range(2)]
    side = max(4, min(H, W) // 5)
    for t in range(n):
        oy, ox = int(round(t * vy)) % H, int(round(t * vx)) % W
        img = tex[oy : oy + H, ox : ox + W].copy()
        for x, y, dx, dy, colour in boxes:
            cx, cy = int(x + t * dx) % W, int(y + t * dy) % H
            img[cy : cy + side, cx : cx + side] = colour
        if spec.noise:
            img += rng.normal(0, spec.noise, size=(H, W, 1)).astype(np.float32)
        yield np.clip(img, 0, 255).astype(np.uint8)


def num_frames(spec: FixtureSpec, seed: int) -> int:
    lo, hi = spec.seconds
    seconds = lo if hi <= lo else float(np.random.default_rng([seed, 1]).uniform(lo, hi))
    return max(2, int(round(seconds * spec.fps)))


def _encode(path: Path, spec: FixtureSpec, *, seed: int, fmt: str) -> None:
    """Encode the frames of (spec, seed) into `path` with container format `fmt` (no atomicity here)."""
    import av

    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(spec.codec, rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        opts = dict(spec.options)
        if spec.gop is not None:
            stream.codec_context.gop_size = spec.gop
            if spec.codec == "libx264":  # a fixed GOP: keyframes exactly every `gop` frames
                opts["x264-params"] = f"keyint={spec.gop}:min-keyint={spec.gop}:scenecut=0:threads=1"
        if spec.codec_tag:
            stream.codec_context.codec_tag = spec.codec_tag
        if "qscale" in opts:  # constant quantiser (xvid-like), through the codec context
            stream.codec_context.qscale = int(opts.pop("qscale"))
        stream.options = opts
        stream.codec_context.thread_count = 1
        for frame in frames(spec, num_frames(spec, seed), seed=seed):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_fixture(path: str | os.PathLike, spec: FixtureSpec, *, seed: int = 0) -> Path:
    """Encode one video shaped by `spec` to `path` (atomically). Returns the path."""
    from zeroi2v.utils.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fmt = FORMAT_OF_SUFFIX[path.suffix]
        if spec.codec.startswith("libvpx") and "decord" in sys.modules:
            # decord's wheel bundles an older libvpx; once it is loaded, PyAV's VP9 encoder binds to it and
            # fails to open. Encode in a fresh interpreter (this file as a script: numpy + PyAV only).
            args = json.dumps(dict(path=str(tmp), spec=asdict(spec), seed=seed, fmt=fmt))
            subprocess.run([sys.executable, str(Path(__file__).resolve()), args], check=True)
        else:
            _encode(tmp, spec, seed=seed, fmt=fmt)
    return path


def default_root() -> Path:
    return Path(os.environ.get("ZEROI2V_CACHE", "~/.cache/zeroi2v")).expanduser() / "fixtures"


def fixture_set(root: str | os.PathLike | None, kind: str, *, videos: int, scale: str = "full", seed: int = 0) -> list[Path]:
    """`videos` generated videos of `kind` under root/<kind>-<scale>-<settings hash>/ (written once, reused)."""
    from zeroi2v.utils.io import sha256_json

    spec = get_spec(kind, scale)
    root = Path(root).expanduser() if root is not None else default_root()
    key = sha256_json(dict(spec=asdict(spec), seed=seed, version=1))[:10]
    folder = root / f"{kind}-{scale}-{key}"
    paths = [folder / f"{kind}_{seed + i:04d}{spec.suffix}" for i in range(videos)]
    for i, p in enumerate(paths):
        if not p.is_file():
            write_fixture(p, spec, seed=seed + i)
    return paths


if __name__ == "__main__":  # internal: `_encode` in a fresh interpreter (see write_fixture)
    a = json.loads(sys.argv[1])
    kw = a["spec"]
    kw.update(seconds=tuple(kw["seconds"]), options=tuple(map(tuple, kw["options"])))
    _encode(Path(a["path"]), FixtureSpec(**kw), seed=a["seed"], fmt=a["fmt"])
