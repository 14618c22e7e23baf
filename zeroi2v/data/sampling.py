"""Frame-index sampling: TSN-style uniform segments and dense sampling with an interval.

Every function returns an int64 array of shape (num_clips, T) with values in [0, n).

- uniform (TSN): the video is cut into T equal segments; train takes a random frame in each
  segment, test the segment centre. With `num_clips` > 1 (test) clip k takes the point at
  (k + 0.5) / num_clips of each segment, so the temporal views interleave.
- dense ("8x16" = T=8 frames, interval 16 in Kinetics papers): T frames `interval` apart from a
  start that is random (train) or evenly spread over the video (test, one start per clip).
- Videos shorter than needed: "repeat" clamps to the last frame (indices stay sorted), "loop"
  wraps around to the start (index mod n).
"""
from __future__ import annotations

import numpy as np

SHORT_POLICIES = ("repeat", "loop")


def _check(n: int, num_frames: int, num_clips: int) -> None:
    if n <= 0:
        raise ValueError(f"cannot sample from a video with {n} frames")
    if num_frames <= 0 or num_clips <= 0:
        raise ValueError(f"num_frames={num_frames} and num_clips={num_clips} must be positive")


def uniform_indices(
    n: int, num_frames: int, *, train: bool, rng: np.random.Generator | None = None, num_clips: int = 1
) -> np.ndarray:
    """TSN segments over an n-frame video -> (num_clips, T) sorted indices in [0, n)."""
    _check(n, num_frames, num_clips)
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        frac = rng.random((num_clips, num_frames))  # (V, T) position inside each segment
    else:
        frac = np.broadcast_to(((np.arange(num_clips) + 0.5) / num_clips)[:, None], (num_clips, num_frames))
    if n >= num_frames:  # integer segment edges: every segment has >= 1 frame, indices strictly increase
        edges = np.floor(np.linspace(0, n, num_frames + 1) + 1e-9).astype(np.int64)  # (T+1,)
        idx = edges[None, :-1] + np.floor(frac * np.diff(edges)[None, :]).astype(np.int64)
    else:  # shorter than T: segments under one frame, so frames repeat (sorted)
        seg = n / num_frames
        idx = np.floor((np.arange(num_frames)[None, :] + frac) * seg).astype(np.int64)
    return np.clip(idx, 0, n - 1)


def dense_indices(
    n: int,
    num_frames: int,
    *,
    interval: int,
    train: bool,
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
    short: str = "repeat",
) -> np.ndarray:
    """T frames `interval` apart -> (num_clips, T) indices in [0, n); sorted unless short="loop" wraps."""
    _check(n, num_frames, num_clips)
    if interval <= 0:
        raise ValueError(f"interval={interval} must be positive")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short={short!r}: use one of {SHORT_POLICIES}")
    span = (num_frames - 1) * interval + 1  # frames covered by one clip
    room = max(n - span, 0)  # possible start positions beyond 0
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        starts = rng.integers(0, room + 1, size=num_clips)  # (V,)
    else:
        starts = np.floor((np.arange(num_clips) + 0.5) / num_clips * room + 0.5).astype(np.int64)
        starts = np.minimum(starts, room)
    idx = starts[:, None] + np.arange(num_frames)[None, :] * interval  # (V, T)
    if span > n:
        idx = idx % n if short == "loop" else np.minimum(idx, n - 1)
    return idx.astype(np.int64)


def sample_indices(
    n: int,
    num_frames: int,
    *,
    sampling: str,
    train: bool,
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
    interval: int | None = None,
    short: str = "repeat",
) -> np.ndarray:
    """Dispatch on `sampling` ("uniform" | "dense") -> (num_clips, T)."""
    if sampling == "uniform":
        return uniform_indices(n, num_frames, train=train, rng=rng, num_clips=num_clips)
    if sampling == "dense":
        if interval is None:
            raise ValueError("dense sampling needs an interval (e.g. 8x16: num_frames=8, interval=16)")
        return dense_indices(n, num_frames, interval=interval, train=train, rng=rng, num_clips=num_clips, short=short)
    raise ValueError(f"sampling={sampling!r}: use uniform or dense")
