"""Confidence intervals, paired differences and the significance rule for marking the best entry.

Definitions (all in accuracy percent):
- t-interval over folds/seeds: mean ± t_{0.975, n-1} · s / sqrt(n), s = sample std (ddof=1);
  n = 1 gives the mean and no interval.
- Paired difference of methods A and B evaluated on the SAME episode set (equal
  `episode_set_hash`, dataset, ways, shots, protocol and number of episodes):
  d_i = acc_A,i - acc_B,i; mean(d) ± 1.96 · std(d, ddof=1) / sqrt(n), n = number of episodes.
  Records on different episode sets are never paired.
- Cells aggregated over seeds are paired seed by seed (same seeds, same episode set per seed):
  t-interval of the per-seed differences of the run accuracies.
- Significance marking (conservative): in a column, the entry with the highest mean is marked
  best only if, against EVERY other entry of the column, a paired difference exists (per-episode
  accuracies present, same episode set) and its 95 % CI lies entirely above 0. Without paired
  data nothing is marked -- non-overlap of unpaired CIs is not used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from zeroi2v.utils.stats import mean_ci95



@dataclass(frozen=True)
class Interval:
    """A mean with a 95 % CI half-width (None when it cannot be computed, e.g. n = 1)."""

    mean: float
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def excludes_zero(self) -> bool:
        return self.half_width is not None and (self.low > 0 or self.high < 0)


def t_interval(values: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """Mean ± Student-t half-width over independent replicates (folds, seeds)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("t_interval of no values")
    n = int(x.size)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, None, 1)
    s = float(x.std(ddof=1))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    return Interval(mean, t * s / math.sqrt(n), n)


def normal_interval(values: Sequence[float]) -> Interval:
    """Mean ± 1.96 · std(ddof=1) / sqrt(n) (episodes: n is large)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    n = int(x.size)
    if n == 0:
        raise ValueError("interval of no values")
    if n == 1:
        return Interval(float(x[0]), None, 1)
    mean, half_width, _ = mean_ci95(x)
    return Interval(mean, half_width, n)


def paired_difference(acc_a: Sequence[float], acc_b: Sequence[float]) -> Interval:
    """Mean per-episode difference A - B with its 95 % CI (same episodes, same order)."""
    a = np.asarray(acc_a, dtype=np.float64).reshape(-1)
    b = np.asarray(acc_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired difference needs equal episode counts, got {a.size} and {b.size}")
    return normal_interval(a - b)


@dataclass
class Entry:
    """One method's result in one table column, enough to compare it with the others."""

    key: str                                    # row key, e.g. the method
    mean: float
    episode_set_hash: str | None = None
    load_episodes: Callable[[], np.ndarray | None] | None = None  # lazily loads per-episode acc
    runs: tuple[tuple[int, str, float], ...] | None = None  # several seeds: (seed, set hash, acc)

    def episodes(self) -> np.ndarray | None:
        if not hasattr(self, "_episodes"):
            self._episodes = self.load_episodes() if self.load_episodes else None
        return self._episodes


def compare(a: Entry, b: Entry) -> Interval | None:
    """Paired difference a - b, or None when they cannot be paired (other episode set, or no
    per-episode accuracies, or different episode counts). Entries aggregated over seeds are
    paired seed by seed: same seeds with the same episode set each, t-interval of the per-seed
    differences (n = seeds)."""
    if a.runs is not None or b.runs is not None:
        if a.runs is None or b.runs is None:
            return None
        keys_a, keys_b = [r[:2] for r in a.runs], [r[:2] for r in b.runs]
        if keys_a != keys_b or len(set(keys_a)) != len(keys_a):
            return None
        return t_interval([x[2] - y[2] for x, y in zip(a.runs, b.runs)])
    if a.episode_set_hash is None or a.episode_set_hash != b.episode_set_hash:
        return None
    ea, eb = a.episodes(), b.episodes()
    if ea is None or eb is None or ea.shape != eb.shape:
        return None
    return paired_difference(ea, eb)


def significant_best(entries: Sequence[Entry]) -> int | None:
    """Index of the entry to mark as best, or None (see the module docstring for the rule)."""
    if len(entries) < 2:
        return None
    order = sorted(range(len(entries)), key=lambda i: entries[i].mean, reverse=True)
    best = order[0]
    if entries[order[1]].mean == entries[best].mean:
        return None
    for other in order[1:]:
        diff = compare(entries[best], entries[other])
        if diff is None or diff.low is None or diff.low <= 0:
            return None
    return best
