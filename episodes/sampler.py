"""Seeded N-way K-shot Q-query episode sampler.

Episode `i` of seed `s` is drawn from its own generator `np.random.default_rng([s, i])`, so it is the
same whatever order episodes are drawn in, by however many workers, processes or machines. Draws use
only `Generator.random` + a stable argsort (no `choice`/`shuffle`), i.e. only the PCG64/SeedSequence
streams that NumPy keeps stable across versions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from zeroi2v.utils.errors import UserError


@dataclass(frozen=True)
class Episode:
    """Indices into the sampler's `labels`; support/query are class-major (class 0's shots first)."""

    index: int
    classes: list[int]   # (ways,) label values, in episode order
    support: list[int]   # (ways * shots,)
    query: list[int]     # (ways * queries,)


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k distinct positions out of n, in random order (random keys + stable sort)."""
    return np.argsort(rng.random(n), kind="stable")[:k]


class EpisodeSampler:
    """N-way K-shot Q-query episodes over `labels` (one label per video); also a DataLoader
    `batch_sampler` yielding `support + query` indices for `episodes` episodes."""

    def __init__(self, labels: Sequence[int], *, ways: int = 5, shots: int = 1, queries: int = 1,
                 seed: int = 0, episodes: int = 10_000, source: str = "the split") -> None:
        for name, v in (("ways", ways), ("shots", shots), ("queries", queries), ("episodes", episodes)):
            if int(v) != v or v < 1:
                raise UserError(f"{name}={v} must be a positive integer")
        if ways < 2:
            raise UserError(f"ways={ways}: a 1-way episode is 100 % accurate by construction; "
                            "use ways >= 2")
        if int(seed) != seed or seed < 0:
            raise UserError(f"seed={seed} must be a non-negative integer")
        labels = np.asarray(labels, dtype=np.int64)
        self.classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if ways > len(self.classes):
            raise UserError(f"ways={ways} exceeds the {len(self.classes)} classes of {source}; "
                            f"use ways <= {len(self.classes)}")
        if shots + queries > counts.min():
            c = int(self.classes[counts.argmin()])
            raise UserError(f"shots+queries={shots + queries} exceeds the {counts.min()} videos of "
                            f"class {c} in {source}; use shots+queries <= {counts.min()}")
        order = np.argsort(inverse, kind="stable")  # indices grouped by class, file order within
        self.by_class = np.split(order, np.cumsum(counts)[:-1])
        self.ways, self.shots, self.queries = int(ways), int(shots), int(queries)
        self.seed, self.episodes = int(seed), int(episodes)

    def episode(self, i: int) -> Episode:
        """Episode `i`; depends only on (labels, ways, shots, queries, seed, i)."""
        rng = np.random.default_rng([self.seed, int(i)])
        picked = _pick(rng, len(self.classes), self.ways)
        k = self.shots + self.queries
        videos = [self.by_class[c][_pick(rng, len(self.by_class[c]), k)] for c in picked]
        return Episode(index=int(i), classes=self.classes[picked].tolist(),
                       support=[int(x) for v in videos for x in v[: self.shots]],
                       query=[int(x) for v in videos for x in v[self.shots:]])

    def __len__(self) -> int:
        return self.episodes

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(self.episodes):
            e = self.episode(i)
            yield e.support + e.query
