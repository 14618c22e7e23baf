"""Toy data-loader throughput: decoded clips/s of `VideoClipDataset` + DataLoader per worker count."""
from __future__ import annotations

import math
import sys
import time

from zeroi2v.utils.errors import UserError

from zeroi2v.bench.config import BenchConfig


def bench_data(cfg: BenchConfig, *, size: int, mean, std) -> dict:
    """Decoded clips/s of the toy videos through VideoClipDataset + DataLoader, per worker count."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from zeroi2v import data

    root = data.ensure_toy(cfg.data_root)
    items = [it for split in ("train", "test") for it in data.list_videos("toy", root, split)]
    if not items:
        raise UserError(f"no toy videos under {root}; delete it to regenerate the toy dataset")
    items = (items * math.ceil(cfg.data_clips / len(items)))[:cfg.data_clips]
    ds = data.VideoClipDataset(items, num_frames=cfg.frames, size=size, train=False, mean=mean, std=std,
                               decoder=cfg.decoder)
    runs = []
    for workers in cfg.num_workers:
        loader = DataLoader(ds, batch_size=1, shuffle=False, num_workers=workers)
        t0 = time.perf_counter()
        first, n, shape = None, 0, None
        for video, _ in tqdm(loader, desc=f"data ({workers} workers)", unit="clip", file=sys.stderr):
            n += video.shape[0]
            shape = list(video.shape[1:])
            if first is None:
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        steady = (n - 1) / (total - first) if n > 1 and total > first else None
        runs.append(dict(num_workers=workers, clips=n, seconds=total, clips_per_s=n / total, first_clip_s=first,
                         steady_clips_per_s=steady))
    return dict(dataset="toy", root=str(root), distinct_videos=len(set(i.video_id for i in items)), frames=cfg.frames,
                size=size, clip_shape=shape, batch_size=1, runs=runs)
