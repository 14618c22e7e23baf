"""Standard episodic few-shot splits, resolved to the data layer's video ids.

Which split sets exist, where their files are and how a line names a video is each dataset's
record (`zeroi2v.settings.datasets`: `fewshot`, `split_ids`). The shipped files under
`episodes/splits/` are copied unchanged from CLIP-FSAR (Apache-2.0, see `splits/NOTICE.md`). Each
line is `<split><class index within the split>/<video>`; the record's `split_ids` maps `<video>`:

    train8/78687                                              numeric     -> "78687"
    test0//videos/fencing/x.avi                               class_file  -> "fencing/x.avi"
    train0//train_256/air_drumming/-VtLx-mcPds_000012_000022.mp4  youtube -> "-VtLx-mcPds"
    val0//val_256/baking_cookies/-514AQUrSow.mp4              youtube     -> "-514AQUrSow"

A split set without a folder lives under the data root: the toy dataset's in
`<toy root>/splits/{train,val,test}.txt`; a list dataset (`--dataset list --data-root D`, your own
videos) uses D/train.txt, val.txt, test.txt as base / val / novel classes (see
zeroi2v.data.listfile); their classes must be disjoint (`check_fewshot_splits`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from zeroi2v.settings import datasets as records
from zeroi2v.utils.errors import UserError

SPLITS = ("train", "val", "test")
SPLITS_DIR = Path(__file__).resolve().parent / "splits"

_LINE = re.compile(r"^(train|val|test)(\d+)/(.+)$")
_KINETICS_CLIP = re.compile(r"_\d{6}_\d{6}$")  # "<ytid>_<start>_<end>"; ytids may contain '_'


@dataclass(frozen=True)
class SplitEntry:
    """One video of a few-shot split. `label` is the class index local to the split file."""

    video_id: str
    label: int
    class_key: str


def fewshot_dataset(dataset: str) -> str:
    """The few-shot split set a dataset name means (any spelling: "ssv2" -> "ssv2_full"); UserError otherwise."""
    return records.fewshot_name(dataset, what="dataset")


def rooted(dataset: str) -> bool:
    """Whether the dataset's few-shot split files live under --data-root (toy, list) rather than being shipped."""
    return records.fewshot_splits(dataset)[1].path is None


def check_dataset_split(dataset: str, split: str) -> None:
    """Raise a one-line UserError for an unknown dataset or split."""
    fewshot_dataset(dataset)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def resolve_video(dataset: str, video: str) -> tuple[str, str | None]:
    """Map the `<video>` part of a split line to (video id, class folder or None when the line has none)."""
    style = records.find(dataset).split_ids
    if style == "numeric":
        if not video.isdigit():
            raise ValueError(f"{dataset} entry {video!r} is not a numeric video id")
        return video, None
    parts = [p for p in video.split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"entry {video!r} has no '<class>/<file>' part")
    cls, name = parts[-2], parts[-1]
    if style == "youtube":
        return _KINETICS_CLIP.sub("", name.rsplit(".", 1)[0]), cls
    return f"{cls}/{name}", cls


def parse_split_lines(lines: list[str], *, dataset: str, split: str, source: str = "split",
                      video_labels: Mapping[str, str] | None = None) -> list[SplitEntry]:
    """Parse split-file lines into entries; SSv2 class keys are `"<split>:<index>"` unless
    `video_labels` (video id -> class name, from SSv2's annotations) is given."""
    entries: list[SplitEntry] = []
    key_of: dict[int, str] = {}
    seen: set[str] = set()
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None or m.group(1) != split:
            raise UserError(f"{source}:{n}: expected '{split}<class index>/<video>', got {line[:80]!r}")
        label = int(m.group(2))
        try:
            video_id, cls = resolve_video(dataset, m.group(3))
        except ValueError as e:
            raise UserError(f"{source}:{n}: {e}") from None
        if cls is None:
            cls = video_labels[video_id] if video_labels and video_id in video_labels else f"{split}:{label}"
        if key_of.setdefault(label, cls) != cls:
            raise UserError(f"{source}:{n}: class index {label} is both {key_of[label]!r} and {cls!r}")
        if video_id in seen:
            raise UserError(f"{source}:{n}: video {video_id!r} listed twice")
        seen.add(video_id)
        entries.append(SplitEntry(video_id=video_id, label=label, class_key=cls))
    if not entries:
        raise UserError(f"{source} is empty; regenerate it")
    return entries


@lru_cache(maxsize=32)
def _load_shipped(dataset: str, split: str, folder: str) -> tuple[SplitEntry, ...]:
    path = SPLITS_DIR / folder / f"{split}.txt"  # an absolute folder (your own split files) stays as given
    if not path.is_file():
        raise UserError(f"split file {path} is missing; reinstall the package (or fix the dataset record's folder)")
    return tuple(parse_split_lines(_read_split_lines(path), dataset=dataset, split=split, source=str(path)))


def _read_split_lines(path: Path) -> list[str]:
    """Lines of a split file; one-line UserErrors for an unreadable or non-UTF-8 file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read split file {path}: {e.strerror}; check the path") from None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text; regenerate the split file") from None


def toy_split_path(root: str | Path | None, split: str, dataset: str = "toy") -> Path:
    """`<root>/splits/<split>.txt`; without a root the toy dataset is generated/cached first."""
    if root is None:
        from zeroi2v import data  # torch-heavy; only the toy dataset needs it

        root = data.ensure_toy(kind=dataset)
    return Path(root) / "splits" / f"{split}.txt"


def load_split(dataset: str, split: str, *, root: str | Path | None = None,
               video_labels: Mapping[str, str] | None = None) -> list[SplitEntry]:
    """Entries of a few-shot split, in file order. `root` is only used where the split files live
    under the data root (toy, list)."""
    check_dataset_split(dataset, split)
    record, split_set = records.fewshot_splits(dataset)
    dataset = split_set.name
    if split_set.path is None and record.reader == "list":
        return load_list_split(root, split)
    if split_set.path is None:
        path = toy_split_path(root, split, dataset)
        if not path.is_file():
            raise UserError(f"{dataset} split {path} not found; regenerate the {dataset} dataset or fix --data-root")
        return parse_split_lines(_read_split_lines(path), dataset=dataset, split=split, source=str(path))
    entries = list(_load_shipped(dataset, split, split_set.path))
    if video_labels:
        entries = [SplitEntry(e.video_id, e.label, video_labels.get(e.video_id, e.class_key))
                   for e in entries]
    return entries


def load_list_split(root: str | Path | None, split: str) -> list[SplitEntry]:
    """A list dataset's few-shot split: `<root>/<split>.txt` (every listed video must exist)."""
    from zeroi2v import data  # torch-heavy; only rooted datasets need it
    from zeroi2v.data import listfile

    if root is None:
        root = data.resolve_root("list", None)
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"list data root {root} is not a directory; pass --data-root D with "
                        "D/train.txt, val.txt, test.txt")
    path = listfile.fewshot_split_file(root, split)
    items = listfile.read_list(root, path, bad=data.BadData("error", what=f"list {split}"))
    seen: dict[str, int] = {}
    for item in items:
        seen[item.video_id] = seen.get(item.video_id, 0) + 1
    twice = [v for v, n in seen.items() if n > 1]
    if twice:
        raise UserError(f"{path}: video {twice[0]!r} is listed {seen[twice[0]]} times; list each video once")
    if not items:
        raise UserError(f"{path} lists no videos; add '<relative/path> <class>' lines")
    local = {g: k for k, g in enumerate(sorted({i.label for i in items}))}  # labels local to the split
    return [SplitEntry(video_id=i.video_id, label=local[i.label], class_key=i.class_name) for i in items]


def check_fewshot_splits(splits: Mapping[str, list[SplitEntry]], *, ways: int | None = None,
                         shots: int | None = None, queries: int | None = None,
                         source: str = "the dataset") -> None:
    """Few-shot splits must not share a class (one-line error naming one) nor a video; with `ways`/`shots`/`queries`, the test (novel) split -- where the
    episodes are drawn -- needs >= ways classes and every class >= shots+queries videos (the
    error names the smallest class). Validation episodes are drawn by the runner with at most as
    many ways as the val split has classes (a 10/4/6 split runs 5-way tests)."""
    owner: dict[str, str] = {}
    for split, entries in splits.items():
        for cls in sorted({e.class_key for e in entries}):
            if cls in owner:
                raise UserError(f"{source}: class {cls!r} is in both the {owner[cls]} and the {split} split; "
                                "few-shot base / val / novel classes must be disjoint")
            owner[cls] = split
    where: dict[str, str] = {}
    for split, entries in splits.items():
        for e in entries:
            if where.setdefault(e.video_id, split) != split:
                raise UserError(f"{source}: video {e.video_id!r} is in both the {where[e.video_id]} and the "
                                f"{split} split; list each video in one split")
    if ways is None or "test" not in splits:
        return
    need = (shots or 0) + (queries or 0)
    counts: dict[str, int] = {}
    for e in splits["test"]:
        counts[e.class_key] = counts.get(e.class_key, 0) + 1
    if len(counts) < ways:
        raise UserError(f"{source} test (novel) split has {len(counts)} classes, fewer than ways={ways}; "
                        f"use --ways <= {len(counts)} or add classes")
    small = min(sorted(counts), key=counts.get)
    if counts[small] < need:
        raise UserError(f"{source} test (novel) split: class {small!r} has {counts[small]} videos, fewer "
                        f"than shots+queries={need}; add videos or lower --shots/--queries")
