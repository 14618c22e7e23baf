"""Thin views of an episode set for meta-learning loops (no learn2learn needed).

    tasks = TaskView(read_episode_set("F.jsonl"), load=lambda vid: clips[vid], collate=torch.stack)
    for (xs, ys), (xq, yq) in tasks:      # xs: (ways*shots, ...), ys: (ways*shots,) episode-local labels
        ...
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence


class TaskView:
    """Episode i -> ((support, support labels), (query, query labels)), class-major order.

    `load(video_id)` turns an id into a sample (default: the id itself); `collate(list)` batches the
    loaded samples (default: a list). Labels are episode-local, 0..ways-1, as a list of ints or
    as `label_fn(list)` (e.g. `torch.tensor`).
    """

    def __init__(self, episodes: Sequence[dict], *, load: Callable[[str], Any] = lambda v: v,
                 collate: Callable[[list], Any] = lambda xs: xs,
                 label_fn: Callable[[list[int]], Any] = lambda ys: ys) -> None:
        self.episodes, self.load, self.collate, self.label_fn = episodes, load, collate, label_fn

    def __len__(self) -> int:
        return len(self.episodes)

    def _batch(self, groups: list[list[str]]) -> tuple[Any, Any]:
        xs = [self.load(v) for vs in groups for v in vs]
        ys = [w for w, vs in enumerate(groups) for _ in vs]
        return self.collate(xs), self.label_fn(ys)

    def __getitem__(self, i: int) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        ep = self.episodes[i]
        return self._batch(ep["support"]), self._batch(ep["query"])

    def __iter__(self) -> Iterator[tuple[tuple[Any, Any], tuple[Any, Any]]]:
        for i in range(len(self)):
            yield self[i]
