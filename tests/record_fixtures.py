"""Factories for hand-made records (tests, demos). Every field can be overridden."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from results import records as rec


def fewshot_record(*, method: str = "zeroi2v", dataset: str = "toy", ways: int = 5,
                   shots: int = 1, protocol: str = "prototype", accuracy: float = 60.0,
                   ci95: float = 1.0, n_episodes: int = 100, episode_set_hash: str = "h0",
                   **extra: Any) -> dict[str, Any]:
    return rec.new_record(
        "fewshot", dataset=dataset, method=method, backbone=extra.pop("backbone", "vit_b16"),
        seed=extra.pop("seed", 0), ways=ways, shots=shots, queries=extra.pop("queries", 1),
        protocol=protocol, accuracy=accuracy, ci95=ci95, n_episodes=n_episodes,
        episode_set_hash=episode_set_hash, **extra)


def fewshot_from_episodes(run_dir: str | os.PathLike, acc: np.ndarray, **fields: Any) -> Path:
    """Write per-episode accuracies and a matching record (mean, 1.96·std(ddof=1)/sqrt(n))."""
    acc = np.asarray(acc, dtype=np.float64)
    n = acc.size
    rel = rec.save_episode_accuracies(run_dir, fields.get("method", "zeroi2v"), acc)
    record = fewshot_record(accuracy=float(acc.mean()),
                            ci95=1.96 * float(acc.std(ddof=1)) / math.sqrt(n),
                            std=float(acc.std(ddof=1)), n_episodes=n,
                            episode_accuracies=rel, **fields)
    return rec.write_record(run_dir, record)


def full_record(*, method: str = "zeroi2v", dataset: str = "toy", top1: float = 80.0,
                top5: float = 95.0, **extra: Any) -> dict[str, Any]:
    return rec.new_record(
        "full", dataset=dataset, method=method, backbone=extra.pop("backbone", "vit_b16"),
        seed=extra.pop("seed", 0), protocol="full", top1=top1, top5=top5,
        top1_merged=extra.pop("top1_merged", top1), top5_merged=extra.pop("top5_merged", top5),
        views=extra.pop("views", "1x1"), **extra)


def allway_record(*, method: str = "zeroi2v", dataset: str = "toy", shots: int = 2,
                  fold: int = 1, top1: float = 50.0, **extra: Any) -> dict[str, Any]:
    return rec.new_record(
        "kshot-allway", dataset=dataset, method=method, backbone=extra.pop("backbone", "vit_b16"),
        seed=extra.pop("seed", 0), protocol=extra.pop("protocol", "full"), shots=shots, fold=fold,
        top1=top1, top5=extra.pop("top5", min(100.0, top1 + 20)),
        top1_merged=extra.pop("top1_merged", top1),
        top5_merged=extra.pop("top5_merged", min(100.0, top1 + 20)),
        views=extra.pop("views", "1x1"), **extra)
