"""Episode evaluation time: `episode_count` episodes from a synthetic cached feature table, per protocol."""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace

import torch

from zeroi2v.bench.config import BenchConfig
from zeroi2v.bench.machine import log

EPISODE_TARGETS_S = dict(prototype=1.0, finetune=30.0)  # seconds per 10 000 episodes (2 CPU cores)


def bench_episodes(cfg: BenchConfig) -> dict:
    """Seconds to evaluate `episode_count` episodes from a cached feature table, per protocol."""
    from episodes.episode_set import sample_episode_set
    from episodes.splits import SplitEntry
    from episodes import protocols

    C, n, D = cfg.episode_classes, cfg.videos_per_class, cfg.feature_dim
    g = torch.Generator().manual_seed(cfg.seed)
    centres = torch.randn(C, D, generator=g)
    features = cfg.class_separation * centres.repeat_interleave(n, 0) + torch.randn(C * n, D, generator=g)  # (C*n, D)
    entries = [SplitEntry(video_id=f"class{c:03d}/video{i:04d}.mp4", label=c, class_key=f"class{c:03d}")
               for c in range(C) for i in range(n)]
    row_of = {e.video_id: r for r, e in enumerate(entries)}
    log(f"episodes: sampling {cfg.episode_count} {cfg.ways}-way {cfg.shots}-shot {cfg.queries}-query episodes "
        f"from a synthetic cache of {C} classes x {n} videos x {D} dims")
    t0 = time.perf_counter()
    eps = sample_episode_set(entries, cfg.ways, cfg.shots, cfg.queries, episodes=cfg.episode_count, seed=cfg.seed,
                             source="the synthetic feature cache")
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    sup, qry = protocols.episode_indices(row_of, eps)  # (E, W, K), (E, W, Q) rows of the feature table
    t_gather = time.perf_counter() - t0

    out = dict(episodes=cfg.episode_count, ways=cfg.ways, shots=cfg.shots, queries=cfg.queries, dim=D,
               cache=dict(classes=C, videos_per_class=n, class_separation=cfg.class_separation, synthetic=True),
               torch_threads=torch.get_num_threads(), sample_s=t_sample, gather_s=t_gather, protocols={})
    # the targets for 10 000 episodes on 2 cores, scaled to the number of episodes run
    targets = {k: v * cfg.episode_count / 10_000 for k, v in EPISODE_TARGETS_S.items()}
    for name in protocols.PROTOCOLS:
        kwargs, settings = {}, {}
        if name == "finetune":
            ft = protocols.FinetuneConfig()
            if cfg.finetune_steps is not None:
                ft = replace(ft, steps=cfg.finetune_steps)
            kwargs["finetune"], settings = ft, asdict(ft)
        reps = cfg.episode_repeats if name == "prototype" else 1  # fine-tuning takes seconds: timed once
        log(f"episodes: {name} protocol on {cfg.episode_count} episodes" + (f", {reps} runs" if reps > 1 else ""))
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter()  # includes the (N, N) similarity table both protocols run on
            acc = protocols.evaluate_table(name, protocols.similarity_table(features), sup, qry, **kwargs)
            runs.append(time.perf_counter() - t0)
        seconds = statistics.median(runs)
        mean, ci, _ = protocols.mean_ci95(acc)
        out["protocols"][name] = dict(seconds=seconds, runs_s=runs, episodes_per_s=cfg.episode_count / seconds,
                                      accuracy=mean, ci95=ci, target_s=targets.get(name),
                                      meets_target=(seconds <= targets[name]) if name in targets else None,
                                      settings=settings)
    return out
