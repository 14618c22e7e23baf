"""Video access with readable failure reasons, through one of three decoders.

`open_video(path, decoder=...)` returns a reader (`len(reader)` = frame count) or raises `VideoError`
with a short reason (missing file, empty file, not a video / truncated, no video frames);
`read_frames(reader, indices)` returns the (N, H, W, 3) uint8 frames in one call per sample.

Decoders: "decord" (`decord.VideoReader`, one `get_batch` per sample; the default where its wheels
exist), "pyav" (PyAV, always installed: sequential decode up to the last wanted frame; the automatic
fallback), "torchcodec" (optional; exact seeking, FFmpeg libraries from the system), "auto" (per file, the
fastest measured: PyAV for the short-clip containers of `PYAV_FIRST` -- .avi (HMDB51, UCF101) and .webm (SSv2),
where it costs ~5-12 % less CPU than decord (docs/benchmark.md) -- else decord, else torchcodec, else PyAV). Decord's native error chatter on stderr is silenced; its reason is
recovered with PyAV on the failure path only.
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


DECODERS = ("auto", "decord", "pyav", "torchcodec")
# "auto" decodes these containers with PyAV (sequential decode, no seeking: short clips sampled over their whole
# length); measured on the fixtures, one decoding thread: MPEG-4 avi 35.4 vs decord 40.1 ms, VP9 webm ~2-5 % less
PYAV_FIRST = (".avi", ".webm")
KEEP_PACKET_BYTES = 256 << 20  # PyAVReader keeps a header-less file's packets (its frame count) up to this size
AUTO_RULE = "auto:" + ",".join(s.lstrip(".") for s in PYAV_FIRST) + "=pyav"  # names this rule in cache keys
_INSTALL = {"decord": "pip install decord (wheels for x86_64 Linux and 64-bit Windows only)",
            "pyav": "pip install av", "torchcodec": "pip install torchcodec (it needs FFmpeg's shared libraries on the system, "
                          "e.g. apt install ffmpeg)"}


def decoder_problem(name: str) -> str | None:
    """None if decoder `name` works here, else why not (one line)."""
    try:
        if name == "decord":
            _decord()
        elif name == "pyav":
            import av  # noqa: F401
        elif name == "torchcodec":
            from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads the FFmpeg libraries)
        else:
            return f"unknown decoder {name!r}"
    except Exception as e:  # ImportError, or OSError/RuntimeError from native libraries that fail to load
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}"
    return None


def resolve_decoder(name: str | None, path: str | Path | None = None) -> str:
    """The decoder to use for `name` ("auto"/None: PyAV for a `path` ending in one of `PYAV_FIRST`, else decord,
    else torchcodec, else PyAV); UserError if unavailable."""
    from zeroi2v.utils.errors import UserError

    name = name or "auto"
    if name not in DECODERS:
        raise UserError(f"--decoder {name!r} is not known; use one of {', '.join(DECODERS)}")
    if name == "auto":  # per file: PyAV for PYAV_FIRST; else decord, else torchcodec, else PyAV (always installed)
        if path is not None and Path(path).suffix.lower() in PYAV_FIRST:
            return "pyav"
        return next((d for d in ("decord", "torchcodec") if decoder_problem(d) is None), "pyav")
    problem = decoder_problem(name)
    if problem is not None:
        raise UserError(f"--decoder {name} is not available here ({problem}); {_INSTALL[name]}, "
                        f"or use --decoder auto")
    return name


class PyAVReader:
    """PyAV: the frame count from the container (or by demuxing), frames by decoding sequentially.

    (Seeking to the keyframe before the first wanted frame and matching timestamps gave the same frames
    but was slower on the fixtures: most of their clips start in the first GOP.)"""

    def __init__(self, path: Path, *, num_threads: int = 1):
        import av

        self.path, self.num_threads = path, int(num_threads)
        self._fresh = None  # the container opened here, still at its start (read once by the first `read`)
        self._packets = None  # the video packets demuxed to count the frames, decoded by the first `read`
        container = av.open(str(path))
        try:
            if not container.streams.video:
                raise VideoError("zero frames (no video stream in the file)")
            stream = container.streams.video[0]
            n = stream.frames
            if not n:  # e.g. webm: no count in the header; count the packets that carry a picture, and keep
                packets, n, size = [], 0, 0  # them (up to KEEP_PACKET_BYTES) so `read` needs no second demux pass
                for p in container.demux(stream):
                    if p.size:
                        n, size = n + 1, size + p.size
                        if size > KEEP_PACKET_BYTES:
                            packets = None  # too long to keep: `read` opens the file again
                        elif packets is not None:
                            packets.append(p)
                if packets is not None:
                    self._packets, self._fresh, container = packets, container, None
            else:
                self._fresh, container = container, None
        finally:
            if container is not None:
                container.close()
        self.n = int(n)

    def __len__(self) -> int:
        return self.n

    def read(self, indices: list[int]) -> np.ndarray:
        fresh, self._fresh = self._fresh, None
        packets, self._packets = self._packets, None
        return _read_frames_pyav(self.path, indices, num_threads=self.num_threads, container=fresh, packets=packets)

    def __del__(self):
        if getattr(self, "_fresh", None) is not None:
            self._fresh.close()


class TorchcodecReader:
    """torchcodec `VideoDecoder` (exact seek mode, one FFmpeg thread per worker)."""

    def __init__(self, path: Path, *, num_threads: int = 1, device: str = "cpu"):
        from torchcodec.decoders import VideoDecoder

        self.decoder = VideoDecoder(str(path), seek_mode="exact", num_ffmpeg_threads=num_threads, device=device)
        self.n = int(self.decoder.metadata.num_frames or 0)

    def __len__(self) -> int:
        return self.n

    def read(self, indices: list[int]) -> np.ndarray:
        batch = self.decoder.get_frames_at(indices).data  # (N, C, H, W) uint8
        return batch.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)


def open_video(path: str | Path, *, num_threads: int = 1, decoder: str | None = "auto"):
    """A reader for `path` (decord.VideoReader for "decord"); raises VideoError(reason) if it cannot be
    opened or has no frames, UserError if `decoder` is not available here."""
    path = Path(path)
    decoder = resolve_decoder(decoder, path)
    if not path.is_file():
        raise VideoError(_why_unreadable(path))
    if decoder != "decord":
        try:
            reader = (PyAVReader(path, num_threads=num_threads) if decoder == "pyav"
                      else TorchcodecReader(path, num_threads=num_threads))
        except VideoError:
            raise
        except Exception:
            raise VideoError(_why_unreadable(path)) from None
        if len(reader) <= 0:
            raise VideoError("zero frames (the video stream is empty)")
        return reader
    decord = _decord()
    try:
        with _native_stderr_silenced():
            vr = decord.VideoReader(str(path), num_threads=num_threads)
    except Exception:
        raise VideoError(_why_unreadable(path)) from None
    if len(vr) <= 0:
        raise VideoError("zero frames (the video stream is empty)")
    return vr


def _decoded(stream, packets):
    """The frames of `packets` (already demuxed from `stream`) in order, then the decoder's delayed ones."""
    for packet in packets:
        yield from stream.codec_context.decode(packet)
    yield from stream.codec_context.decode(None)


def _read_frames_pyav(path: Path, indices: list[int], *, num_threads: int = 1, container=None,
                      packets=None) -> np.ndarray:
    """Sequential PyAV decode of the wanted frames: (N, H, W, 3) uint8 (decord fallback). `num_threads`: FFmpeg's
    decoding threads (1: none beside this one; PyAV's default, 0, starts one per core in every worker);
    `container`: a container of `path` to decode from (closed here), else the file is opened: unread, or already
    demuxed into `packets` (its video stream's packets that carry a picture, in order)."""
    import av

    wanted = sorted(set(indices))
    found: dict[int, np.ndarray] = {}
    with (av.open(str(path)) if container is None else container) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = max(0, int(num_threads))
        frames = container.decode(stream) if packets is None else _decoded(stream, packets)
        for i, frame in enumerate(frames):
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
    if isinstance(vr, (PyAVReader, TorchcodecReader)):
        try:
            batch = vr.read(idx)
        except VideoError:
            raise
        except Exception as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise VideoError(f"corrupt or truncated video: decoding frames failed ({msg[:120]})") from None
        if batch.shape[0] != len(idx) or batch.ndim != 4:
            raise VideoError(f"decoder returned {batch.shape[0]} frames for {len(idx)} requested")
        return batch
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


def probe(path: str | Path, *, decode: str = "ends", decoder: str | None = "auto") -> int:
    """Open `path` and decode some frames: "header" (none), "ends" (first, middle, last) or "full".

    Returns the frame count; raises VideoError(reason) when the file is unreadable.
    """
    vr = open_video(path, decoder=decoder)
    n = len(vr)
    if decode == "ends":
        read_frames(vr, sorted({0, n // 2, n - 1}), path=path)
    elif decode == "full":
        for start in range(0, n, 64):
            read_frames(vr, range(start, min(n, start + 64)), path=path)
    elif decode != "header":
        raise ValueError(f"decode={decode!r}: use header, ends or full")
    return n
