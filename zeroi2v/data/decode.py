"""Decord video access with readable failure reasons.

`open_video(path)` returns a `decord.VideoReader` or raises `VideoError` with a short reason
(missing file, empty file, not a video / truncated, no video frames). `read_frames` does the one
`get_batch` call per sample. Decord's own native error chatter on stderr is silenced; its reason
is recovered with PyAV on the failure path only.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np


class VideoError(Exception):
    """A video that cannot be decoded; str(e) is a short reason (no path)."""


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send fd 2 to /dev/null for the duration (decord's C++ logger writes there directly)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _decord():
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def _why_unreadable(path: Path) -> str:
    """A short reason why `path` does not open as a video (used only after decord failed)."""
    if not path.exists():
        return "file not found"
    if path.is_dir():
        return "is a directory, not a video file"
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        import av

        with av.open(str(path)) as container:
            if not container.streams.video:
                return "zero frames (no video stream in the file)"
            stream = container.streams.video[0]
            if not stream.frames and not any(True for _ in container.decode(stream)):
                return "zero frames (the video stream is empty)"
    except Exception as e:  # PyAV's error text names the ffmpeg reason
        reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(e)).split(":")[0].strip()
        return f"corrupt or truncated video ({reason or type(e).__name__})"
    return "cannot be opened by decord (unsupported or corrupt container)"


def open_video(path: str | Path, *, num_threads: int = 1):
    """decord.VideoReader for `path`; raises VideoError(reason) if it cannot be opened or has no frames."""
    path = Path(path)
    decord = _decord()
    if not path.is_file():
        raise VideoError(_why_unreadable(path))
    try:
        with _native_stderr_silenced():
            vr = decord.VideoReader(str(path), num_threads=num_threads)
    except Exception:
        raise VideoError(_why_unreadable(path)) from None
    if len(vr) <= 0:
        raise VideoError("zero frames (the video stream is empty)")
    return vr


def _read_frames_pyav(path: Path, indices: list[int]) -> np.ndarray:
    """Sequential PyAV decode of the wanted frames: (N, H, W, 3) uint8 (decord fallback)."""
    import av

    wanted = sorted(set(indices))
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                found[i] = frame.to_ndarray(format="rgb24")
            if i >= wanted[-1]:
                break
    if len(found) < len(wanted):
        raise VideoError(f"corrupt or truncated video: only {len(found)} of the {len(wanted)} wanted frames decode")
    return np.stack([found[i] for i in indices])


def read_frames(vr, indices: Sequence[int] | np.ndarray, *, path: str | Path | None = None) -> np.ndarray:
    """One `get_batch` call: (N, H, W, 3) uint8 for the N frame `indices` (may repeat).

    decord 0.6 cannot batch-copy frames of a few small widths (16, 24, 48, 72 px: padded rows,
    "DECORDArrayCopyFromTo: The size must exact"); given `path`, those frames are decoded with PyAV.
    """
    idx = [int(i) for i in np.asarray(indices).reshape(-1)]
    try:
        with _native_stderr_silenced():
            batch = vr.get_batch(idx).asnumpy()  # (N, H, W, 3)
    except Exception as e:
        if "DECORDArrayCopyFromTo" in str(e) and path is not None:
            return _read_frames_pyav(Path(path), idx)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        msg = msg.split(": ", 1)[-1] if "video_reader" in msg else msg
        raise VideoError(f"corrupt or truncated video: decoding frames failed ({msg[:120]})") from None
    if batch.shape[0] != len(idx) or batch.ndim != 4:
        raise VideoError(f"decoder returned {batch.shape[0]} frames for {len(idx)} requested")
    return batch


def probe(path: str | Path, *, decode: str = "ends") -> int:
    """Open `path` and decode some frames: "header" (none), "ends" (first, middle, last) or "full".

    Returns the frame count; raises VideoError(reason) when the file is unreadable.
    """
    vr = open_video(path)
    n = len(vr)
    if decode == "ends":
        read_frames(vr, sorted({0, n // 2, n - 1}), path=path)
    elif decode == "full":
        for start in range(0, n, 64):
            read_frames(vr, range(start, min(n, start + 64)), path=path)
    elif decode != "header":
        raise ValueError(f"decode={decode!r}: use header, ends or full")
    return n
