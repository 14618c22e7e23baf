"""Tiny real video files for the data-layer tests, written with PyAV (the codec follows the suffix)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

CODEC_OF_SUFFIX = {".mp4": "libx264", ".avi": "mpeg4", ".webm": "libvpx", ".mkv": "libx264"}


def moving_square(*, frames: int = 10, size: int = 32, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a bright square moving right over a dark background, frame index in red."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 60, size=3)
    video = np.empty((frames, size, size, 3), np.uint8)
    video[:] = bg
    side = size // 4
    for t in range(frames):
        x = int(t * (size - side) / max(frames - 1, 1))
        video[t, size // 3 : size // 3 + side, x : x + side] = (230, 230, 230)
    return video


def write_video(path: str | Path, frames: np.ndarray, *, fps: int = 8) -> Path:
    """Encode (T, H, W, 3) uint8 `frames` to `path`; codec chosen by suffix (.mp4/.mkv H.264, .avi MPEG-4, .webm VP8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = CODEC_OF_SUFFIX[path.suffix]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast", "x264-params": "bframes=0"}
        else:
            stream.bit_rate = 2_000_000
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_test_video(path: str | Path, *, frames: int = 10, size: int = 32, seed: int = 0) -> Path:
    return write_video(path, moving_square(frames=frames, size=size, seed=seed))


def write_zero_frame_video(path: str | Path) -> Path:
    """A valid container header with a video stream but no frames at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(CODEC_OF_SUFFIX[path.suffix], rate=8)
        stream.height = stream.width = 32
        stream.pix_fmt = "yuv420p"
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate(path: str | Path, *, keep: float = 0.5) -> Path:
    """Cut a video file to the first `keep` fraction of its bytes (a broken download)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
