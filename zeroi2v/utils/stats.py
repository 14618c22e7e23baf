"""The one 95 % confidence interval of the suite (episodes: many independent draws).

`mean_ci95(values)` -> (mean, half-width, std): mean ± 1.96 · std(ddof=1) / sqrt(n). Used for a
few-shot record's accuracy over its test episodes (`episodes.protocols.mean_ci95`, values in
[0, 1] scaled to percent there) and for paired per-episode differences (`results.compare`). With
n = 1 there is no spread: std = 0 and half-width = 0 here; `results.compare.normal_interval`
reports "no interval" for n = 1 instead.

Over a handful of replicates (folds, seeds) the normal quantile is too small; `results.compare.
t_interval` uses Student's t there.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

Z95 = 1.96


def mean_ci95(values: Any) -> tuple[float, float, float]:
    """(mean, 95 % CI half-width 1.96·std/√n, std with ddof=1) of a 1-D array of numbers."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)  # (n,)
    n = int(x.size)
    if n == 0:
        raise ValueError("mean_ci95 of no values")
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    return float(x.mean()), Z95 * std / math.sqrt(n), std
