"""Few-shot benchmark -> videos on disk: join an episodic split with the dataset reader's index.

To add a dataset: give it a reader in `zeroi2v/data/` (layout, annotations, video ids), a split in
`episodes/splits/`, and an entry in `episodes.splits.READER_OF`; nothing here changes.

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

ALIASES = {"ssv2": "ssv2_full", "kinetics": "kinetics100", "k100": "kinetics100"}


def canonical_dataset(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in ep_splits.FEWSHOT_DATASETS:
        raise UserError(f"unknown few-shot dataset {name!r}; use one of "
                        f"{', '.join(ep_splits.FEWSHOT_DATASETS)} (ssv2 = ssv2_full)")
    return name


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

    dataset = canonical_dataset(dataset)
    reader = ep_splits.READER_OF[dataset]
    root = data.resolve_root(reader, data_root)
    index = data.index_videos(reader, root, on_error=on_error)
    labels = {vid: item.class_name for vid, item in index.items()}
    out: dict[str, list] = {}
    for split in splits:
        entries = ep_splits.load_split(dataset, split, root=root if dataset in ep_splits.ROOTED else None,
                                       video_labels=labels if reader == "ssv2" else None)
        if reader == "hmdb51":  # the few-shot split uses clips the official folds mark unused (0)
            index.update(locate_unlisted_hmdb51(root, {e.video_id for e in entries} - set(index)))
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
    if dataset in ep_splits.ROOTED:
        if shots is not None and not isinstance(shots, int):
            shots = max(shots) if shots else None
        ep_splits.check_fewshot_splits(out, ways=ways, shots=shots, queries=queries,
                                       source=f"{dataset} dataset at {root}")
    return FewShotData(dataset=dataset, root=root, items=index, splits=out)


def locate_unlisted_hmdb51(root: Path, video_ids: set[str]) -> dict:
    """Find HMDB51 clips ("<class>/<file>.avi") that no official fold lists as train or test.

    Each official fold marks about a third of a class's clips 0 (unused), and some are unused in all
    three, yet the ARN few-shot split draws on every clip; they are looked up in the reader's video
    folders directly.
    """
    from zeroi2v.data import VideoItem, hmdb51
    from zeroi2v.data.common import listed_path

    found = {}
    for vid in sorted(video_ids):
        for folder in hmdb51.VIDEO_DIRS:
            path = listed_path(Path(root) / folder, vid, where=f"hmdb51 few-shot split entry {vid!r}")
            if path.is_file():
                found[vid] = VideoItem(video_id=vid, path=path, label=-1, class_name=vid.split("/")[0])
                break
    return found
