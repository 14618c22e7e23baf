"""Frame-index sampling: the original recipes' mmaction2 1.x samplers, and this suite's TSN segments.

Every function returns an int64 array of shape (num_clips, T) with values in [0, n).

- "uniform" = mmaction2 1.x `UniformSample` (the u8/u16/u32 configs; open-mmlab/mmaction2
  mmaction/datasets/transforms/loading.py, `UniformSample._get_sample_clips`): seg = (n - 1) / T;
  frame i of the clip lies in [round(seg i), round(seg (i + 1))] -- a random one in training, in test
  clip k of V takes round(seg i) + int(seg / (V + 1) x (k + 1)). Short videos (n < T) repeat frames
  by the same formula; rounding is numpy's (half to even).
- "dense" = mmaction2 1.x `SampleFrames` (the K400 8x16 / 32x4 configs; same file,
  `SampleFrames._get_train_clips`, `_get_test_clips`, `transform`): T frames `interval` apart from a
  clip offset. Train (num_clips V): avg = (n - T interval + 1) // V; offsets k avg + randint(avg) when
  avg > 0; else sorted randint(n - T interval + 1) when n > max(V, T interval); else
  around(k (n - T interval + 1) / V) when avg == 0; else 0. Test: max_offset = max(n - ((T - 1)
  interval + 1), 0); V > 1 clips at round(k max_offset / (V - 1)) (first and last at the ends), one
  clip at max_offset // 2. Frames past the end: "loop" (mmaction2's default out_of_bound_opt: index
  mod n) or "repeat" (clamped to the last frame).
- "tsn" (this suite's, the toy demo's): T equal integer segments; train a random frame in each,
  test the point (k + 0.5) / V of each segment for clip k.
"""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("uniform", "dense", "tsn")
SHORT_POLICIES = ("repeat", "loop")


def _check(n: int, num_frames: int, num_clips: int) -> None:
    if n <= 0:
        raise ValueError(f"cannot sample from a video with {n} frames")
    if num_frames <= 0 or num_clips <= 0:
        raise ValueError(f"num_frames={num_frames} and num_clips={num_clips} must be positive")


def uniform_indices(
    n: int, num_frames: int, *, train: bool, rng: np.random.Generator | None = None, num_clips: int = 1
) -> np.ndarray:
    """mmaction2 1.x UniformSample over an n-frame video -> (num_clips, T) sorted indices in [0, n)."""
    _check(n, num_frames, num_clips)
    seg = float(n - 1) / num_frames
    start = np.round(seg * np.arange(num_frames)).astype(np.int64)  # (T,)
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        end = np.round(seg * np.arange(1, num_frames + 1)).astype(np.int64)  # (T,)
        idx = rng.integers(start[None, :], end[None, :] + 1, size=(num_clips, num_frames))  # (V, T)
    else:
        duration = seg / (num_clips + 1)
        step = np.array([int(duration * (k + 1)) for k in range(num_clips)], dtype=np.int64)  # (V,)
        idx = start[None, :] + step[:, None]  # (V, T)
    return np.clip(idx, 0, n - 1).astype(np.int64)


def tsn_indices(
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


def _dense_train_offsets(n: int, num_frames: int, interval: int, num_clips: int,
                         rng: np.random.Generator) -> np.ndarray:
    ori = num_frames * interval  # SampleFrames._get_train_clips: clip_len x frame_interval
    avg = (n - ori + 1) // num_clips
    if avg > 0:
        return np.arange(num_clips) * avg + rng.integers(0, avg, size=num_clips)
    if n > max(num_clips, ori):
        return np.sort(rng.integers(0, n - ori + 1, size=num_clips))
    if avg == 0:
        return np.around(np.arange(num_clips) * (n - ori + 1.0) / num_clips).astype(np.int64)
    return np.zeros(num_clips, dtype=np.int64)


def dense_indices(
    n: int,
    num_frames: int,
    *,
    interval: int,
    train: bool,
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
    short: str = "loop",
) -> np.ndarray:
    """mmaction2 1.x SampleFrames: T frames `interval` apart -> (num_clips, T) indices in [0, n)."""
    _check(n, num_frames, num_clips)
    if interval <= 0:
        raise ValueError(f"interval={interval} must be positive")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short={short!r}: use one of {SHORT_POLICIES}")
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        starts = _dense_train_offsets(n, num_frames, interval, num_clips, rng)
    else:
        max_offset = max(n - ((num_frames - 1) * interval + 1), 0)
        if num_clips > 1:
            starts = np.round(np.arange(num_clips) * (max_offset / float(num_clips - 1))).astype(np.int64)
        else:
            starts = np.array([max_offset // 2], dtype=np.int64)
    idx = starts[:, None] + np.arange(num_frames)[None, :] * interval  # (V, T)
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
    short: str = "loop",
) -> np.ndarray:
    """Dispatch on `sampling` ("uniform" | "dense" | "tsn") -> (num_clips, T)."""
    if sampling == "uniform":
        return uniform_indices(n, num_frames, train=train, rng=rng, num_clips=num_clips)
    if sampling == "tsn":
        return tsn_indices(n, num_frames, train=train, rng=rng, num_clips=num_clips)
    if sampling == "dense":
        if interval is None:
            raise ValueError("dense sampling needs an interval (e.g. 8x16: num_frames=8, interval=16)")
        return dense_indices(n, num_frames, interval=interval, train=train, rng=rng, num_clips=num_clips, short=short)
    raise ValueError(f"sampling={sampling!r}: use one of {', '.join(SAMPLINGS)}")
