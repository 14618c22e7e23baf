"""All-way K-shot training subsets (the X-CLIP / ViFi-CLIP few-shot protocol).

For every class, K videos are drawn from the dataset's full official training list, for several
seeded folds. Within a fold the subsets are nested (the K=2 videos are the first two of the K=4 ones,
...): each (seed, fold, class) gets one random order of the class's videos, sorted by id first, so
the result does not depend on the order of the input list. Files are `<dataset>_k<K>_fold<F>.txt`
(folds numbered from 1) with lines `<video_id> <label>`.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_text, sha256_file

ALLWAY_SHOTS = (2, 4, 8, 16)


def allway_subsets(items: Iterable[tuple[str, int]], shots: Sequence[int] = ALLWAY_SHOTS,
                   folds: int = 3, seed: int = 0, *,
                   class_names: Mapping[int, str] | None = None) -> dict[tuple[int, int], list[tuple[str, int]]]:
    """{(K, fold): [(video_id, label), ...]} with exactly K videos per class, classes in label order."""
    shots = [int(k) for k in shots]
    if not shots or min(shots) < 1 or folds < 1 or seed < 0:
        raise UserError(f"shots {shots}, folds {folds} must be positive and seed {seed} non-negative")
    by_class: dict[int, list[str]] = defaultdict(list)
    for video_id, label in items:
        by_class[int(label)].append(str(video_id))
    if not by_class:
        raise UserError("the training list is empty; check --data-root")
    for label, vids in sorted(by_class.items()):
        if len(vids) < max(shots):
            name = class_names.get(label, label) if class_names else label
            raise UserError(f"class {name!r} has only {len(vids)} training videos, fewer than "
                            f"K={max(shots)}; use --shots <= {len(vids)}")
    out: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for fold in range(1, folds + 1):
        order = {}
        for label, vids in sorted(by_class.items()):
            vids = sorted(vids)
            rng = np.random.default_rng([seed, fold, label])
            order[label] = [vids[j] for j in np.argsort(rng.random(len(vids)), kind="stable")]
        for k in sorted(set(shots)):
            out[(k, fold)] = [(v, label) for label in sorted(order) for v in order[label][:k]]
    return out


def allway_filename(dataset: str, shots: int, fold: int) -> str:
    return f"{dataset}_k{shots}_fold{fold}.txt"


def write_allway_lists(out_dir: str | os.PathLike, dataset: str,
                       subsets: Mapping[tuple[int, int], list[tuple[str, int]]]) -> list[tuple[Path, int, str]]:
    """Write every subset atomically; returns [(path, lines, sha256)]."""
    written = []
    for (k, fold), rows in sorted(subsets.items()):
        path = Path(out_dir) / allway_filename(dataset, k, fold)
        atomic_write_text(path, "".join(f"{v} {label}\n" for v, label in rows))
        written.append((path, len(rows), sha256_file(path)))
    return written


def read_allway_list(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Read `<video_id> <label>` lines (video ids may contain spaces; the label is the last field)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"all-way list {path} not found; create it with `python -m episodes allway`")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        video_id, _, label = line.rstrip().rpartition(" ")
        if not video_id or not label.lstrip("-").isdigit():
            raise UserError(f"{path}:{n}: expected '<video_id> <label>', got {line[:80]!r}")
        rows.append((video_id, int(label)))
    return rows
