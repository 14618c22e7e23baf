"""Few-shot benchmark -> videos on disk: join an episodic split with the dataset reader's index.

To add a dataset: give it a reader in `zeroi2v/data/` (layout, annotations, video ids), a record in
`zeroi2v/settings/datasets.py` and its few-shot split files; nothing here changes.

`--dataset list --data-root D` (your own videos): D/train.txt, val.txt, test.txt are the base /
val / novel splits (lines `<relative/path> <class name or index into classes.txt>`); their classes
must be disjoint and, given ways/shots/queries, every split needs >= ways classes of >=
shots+queries videos (`episodes.splits.check_fewshot_splits`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from episodes import splits as ep_splits
from zeroi2v.utils.errors import UserError

log = logging.getLogger("fewshot")



def canonical_dataset(name: str) -> str:
    """The few-shot split set of any spelling of a dataset (the records: "ssv2" -> "ssv2_full")."""
    from zeroi2v.settings.datasets import fewshot_name

    return fewshot_name(name)


@dataclass(frozen=True)
class FewShotData:
    dataset: str
    root: Path
    items: dict  # video id -> VideoItem, every video the splits need that is on disk
    splits: dict  # split -> list[SplitEntry] (only entries whose video is on disk)


def load_fewshot_data(dataset: str, data_root: str | None, *, on_error: str = "error",
                      splits: tuple[str, ...] = ("train", "val", "test"), ways: int | None = None,
                      shots: int | Sequence[int] | None = None, queries: int | None = None) -> FewShotData:
    """Resolve the data root, index the reader's videos and join the episodic splits to them.

    For the datasets whose splits live under the root (toy, list) the splits are checked:
    disjoint classes and videos, and with `ways` (+ `shots`, the largest if several, + `queries`)
    enough classes and videos per class in every split."""
    from zeroi2v import data
    from zeroi2v.settings.datasets import find

    dataset = canonical_dataset(dataset)
    record, rooted = find(dataset), ep_splits.rooted(dataset)
    reader = data.get_reader(dataset)
    root = data.resolve_root(reader.name, data_root)
    index = data.index_videos(reader.name, root, on_error=on_error)
    labels = {vid: item.class_name for vid, item in index.items()}
    out: dict[str, list] = {}
    for split in splits:
        entries = ep_splits.load_split(dataset, split, root=root if rooted else None,
                                       video_labels=labels if record.split_ids == "numeric" else None)
        if reader.locate_unlisted is not None:  # a few-shot split may use clips no official list names
            index.update(reader.locate_unlisted(root, {e.video_id for e in entries} - set(index)))
        missing = [e.video_id for e in entries if e.video_id not in index]
        if missing and on_error == "error":
            raise UserError(f"{len(missing)} of {len(entries)} {dataset} {split} videos are not in the dataset "
                            f"under {root} (first: {missing[0]}); fix --data-root, or pass --on-error skip "
                            f"to leave them out")
        if missing:
            log.warning("%s %s: %d of %d videos not found under %s, left out (first: %s)",
                        dataset, split, len(missing), len(entries), root, missing[0])
        out[split] = [e for e in entries if e.video_id in index]
        log.info("%s %s: %d videos, %d classes (read from %s)", dataset, split, len(out[split]),
                 len({e.label for e in out[split]}), root)
    if rooted:
        if shots is not None and not isinstance(shots, int):
            shots = max(shots) if shots else None
        ep_splits.check_fewshot_splits(out, ways=ways, shots=shots, queries=queries,
                                       source=f"{dataset} dataset at {root}")
    return FewShotData(dataset=dataset, root=root, items=index, splits=out)
