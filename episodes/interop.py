"""Bridges to few-shot libraries: easyfsl (optional extra `fewshot-libs`) and learn2learn-style loops.

    ids, feats = read_feature_cache("cache/features/<model>/<dataset>-<view>.pt")
    ds = features_dataset(feats, ids, class_of)            # easyfsl FeaturesDataset (get_labels())
    acc = easyfsl_accuracies(SimpleShot(feature_normalization=2), feats, ids, episodes)

- `labels_to_indices` / `MetaDatasetView`: learn2learn's `MetaDataset` attributes (`labels`,
  `labels_to_indices`, `indices_to_labels`) over any dataset with `get_labels()` or a label list,
  duck-typed: learn2learn itself is not needed (it does not build on Python >= 3.11).
- `EpisodicCollate(ways, shots, queries)`: a DataLoader `collate_fn` for class-major episodes
  (easyfsl `TaskSampler` order: per class `shots` support then `queries` query samples) ->
  (support, support labels, query, query labels, class ids), labels episode-local 0..ways-1.
- `TaskBatchSampler`: easyfsl `TaskSampler`'s contract, seeded, usable with this torch.
- `features_dataset`: a feature cache (fewshot/embed.py) as an easyfsl `FeaturesDataset`.
- `episode_features` / `easyfsl_accuracies`: run any easyfsl classifier on our episode sets over
  cached features, one accuracy per episode (as `episodes.protocols` returns them).

Our "prototype" protocol (cosine to the normalised mean of L2-normalised supports) is easyfsl's
`SimpleShot(feature_normalization=2)`, exactly, at every shot count. easyfsl's
`PrototypicalNetworks` ranks by euclidean distance to the *un-normalised* mean, which is the same
classifier only for 1-shot episodes (every prototype then has norm 1).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from zeroi2v.utils.errors import UserError


def _need_easyfsl():
    if importlib.util.find_spec("easyfsl") is None:
        raise UserError("easyfsl is not installed; pip install 'easyfsl==1.5.*' (or the extra zeroi2v-suite[fewshot-libs])")


def labels_to_indices(labels: Sequence[int]) -> dict[int, list[int]]:
    """{label: [indices with that label]} in index order (learn2learn's MetaDataset.labels_to_indices)."""
    out: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        out.setdefault(int(y), []).append(i)
    return out


class MetaDatasetView(torch.utils.data.Dataset):
    """A learn2learn-style MetaDataset over `dataset`: items unchanged, plus the label index maps.

    Labels come from `labels`, else `dataset.get_labels()` (VideoClipDataset, easyfsl datasets).
    """

    def __init__(self, dataset, labels: Sequence[int] | None = None) -> None:
        if labels is None:
            if not hasattr(dataset, "get_labels"):
                raise TypeError("pass labels= or a dataset with get_labels()")
            labels = dataset.get_labels()
        labels = [int(y) for y in labels]
        if len(labels) != len(dataset):
            raise ValueError(f"{len(labels)} labels for {len(dataset)} samples")
        self.dataset, self.labels = dataset, sorted(set(labels))
        self.labels_to_indices = labels_to_indices(labels)
        self.indices_to_labels = dict(enumerate(labels))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[i]


class EpisodicCollate:
    """collate_fn for one class-major episode of `ways * (shots + queries)` (sample, label) pairs."""

    def __init__(self, ways: int, shots: int, queries: int) -> None:
        self.ways, self.shots, self.queries = ways, shots, queries

    def __call__(self, batch: Sequence[tuple[Any, int]]):
        W, K, Q = self.ways, self.shots, self.queries
        if len(batch) != W * (K + Q):
            raise ValueError(f"episode of {len(batch)} samples; expected ways*(shots+queries) = {W * (K + Q)}")
        groups = [batch[w * (K + Q):(w + 1) * (K + Q)] for w in range(W)]
        class_ids = []
        for g in groups:
            ys = {int(y) for _, y in g}
            if len(ys) != 1:
                raise ValueError(f"an episode block mixes labels {sorted(ys)}; samples must be class-major")
            class_ids.append(ys.pop())
        stack = lambda xs: torch.stack([torch.as_tensor(x) for x in xs])  # noqa: E731
        support = stack([x for g in groups for x, _ in g[:K]])  # (W*K, ...)
        query = stack([x for g in groups for x, _ in g[K:]])  # (W*Q, ...)
        return (support, torch.arange(W).repeat_interleave(K), query, torch.arange(W).repeat_interleave(Q),
                class_ids)


class TaskBatchSampler(torch.utils.data.Sampler):
    """easyfsl `TaskSampler`'s contract (a DataLoader `batch_sampler`: per task, `ways` random
    classes, each with `shots + queries` random indices, class-major), seeded and without easyfsl:
    easyfsl 1.5.0's own TaskSampler cannot be built on recent torch (2.14 here: it passes
    `data_source` to `Sampler.__init__`, which takes no arguments). Task i depends only on (seed, i)."""

    def __init__(self, labels, *, ways: int, shots: int, queries: int, tasks: int, seed: int = 0) -> None:
        labels = labels.get_labels() if hasattr(labels, "get_labels") else labels
        self.by_class = {y: ix for y, ix in labels_to_indices(labels).items() if len(ix) >= shots + queries}
        if len(self.by_class) < ways:
            raise UserError(f"{ways}-way {shots}-shot {queries}-query tasks need {ways} classes with "
                            f"{shots + queries} samples; {len(self.by_class)} have them")
        self.ways, self.shots, self.queries, self.tasks, self.seed = ways, shots, queries, tasks, seed
        self.episodic_collate_fn = EpisodicCollate(ways, shots, queries)

    def __len__(self) -> int:
        return self.tasks

    def __iter__(self):
        classes = sorted(self.by_class)
        for i in range(self.tasks):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            picked = [classes[j] for j in torch.randperm(len(classes), generator=g)[:self.ways].tolist()]
            yield [self.by_class[c][j] for c in picked
                   for j in torch.randperm(len(self.by_class[c]), generator=g)[:self.shots + self.queries].tolist()]


def read_feature_cache(path: str | Path) -> tuple[list[str], torch.Tensor]:
    """(video ids, features (N, D)) of a feature cache file written by fewshot's embedding step
    (`zeroi2v.data.feature_cache`); one-line UserError for anything else."""
    from zeroi2v.data import feature_cache

    path = Path(path)
    try:
        ids, _, feats = feature_cache.load(path)
    except Exception as e:  # noqa: BLE001 -- any unreadable file is one line
        raise UserError(f"{path} is not a feature cache ({type(e).__name__}: {' '.join(str(e).split())[:120]})")
    return list(ids), feats


def features_dataset(features: torch.Tensor, ids: Sequence[str], class_of: Callable[[str], str] | dict,
                     class_names: Sequence[str] | None = None):
    """An easyfsl FeaturesDataset of cached features: row i is video ids[i], labelled by its class.

    class_of: video id -> class name (dict or function). Labels index `class_names` (default: the
    classes in order of first appearance). Returns (dataset, row_of) with row_of[id] = row.
    """
    _need_easyfsl()
    from easyfsl.datasets import FeaturesDataset

    get = class_of.__getitem__ if isinstance(class_of, dict) else class_of
    names = [get(v) for v in ids]
    class_names = list(class_names) if class_names is not None else list(dict.fromkeys(names))
    index = {c: i for i, c in enumerate(class_names)}
    missing = sorted(set(names) - set(index))
    if missing:
        raise UserError(f"class {missing[0]!r} of the features is not in class_names")
    return FeaturesDataset([index[n] for n in names], features, class_names), {v: r for r, v in enumerate(ids)}


def episode_features(features: torch.Tensor, row_of: dict[str, int], episode: dict):
    """(support (W*K, D), support labels, query (W*Q, D), query labels) of one episode dict, class-major."""
    try:
        sup = [[row_of[v] for v in cls] for cls in episode["support"]]
        qry = [[row_of[v] for v in cls] for cls in episode["query"]]
    except KeyError as e:
        raise UserError(f"episode {episode.get('index', '?')}: video {e.args[0]!r} has no cached features") from None
    ys = torch.tensor([w for w, c in enumerate(sup) for _ in c])
    yq = torch.tensor([w for w, c in enumerate(qry) for _ in c])
    return features[[r for c in sup for r in c]], ys, features[[r for c in qry for r in c]], yq


@torch.no_grad()
def easyfsl_accuracies(classifier: torch.nn.Module, features: torch.Tensor, ids: Sequence[str] | dict[str, int],
                       episodes: Sequence[dict]) -> torch.Tensor:
    """Per-episode accuracy (E,) of an easyfsl FewShotClassifier (process_support_set, then forward on
    the query) over cached features; `ids` lists the row of each video (or is the row map itself)."""
    row_of = ids if isinstance(ids, dict) else {v: r for r, v in enumerate(ids)}
    classifier.eval()
    out = []
    for ep in episodes:
        xs, ys, xq, yq = episode_features(features, row_of, ep)
        classifier.process_support_set(xs, ys)
        out.append((classifier(xq).argmax(-1) == yq).float().mean())
    return torch.stack(out)
