"""Generic list-file reader: one "relative/path label" line per video.

Expected layout::

    $ZEROI2V_LIST_ROOT/
        train.txt   val.txt   [test.txt]     "videos/cat/clip_001.mp4 3"   (path relative to the root;
                                              the last whitespace-separated field is the integer label)
        classes.txt                          optional: class name of label i on line i+1 (0-based labels)
        videos/...                           any folder structure the list files point into

Splits: train -> train.txt, val -> val.txt (test.txt if there is no val.txt), test -> test.txt (val.txt
if there is no test.txt). Video id: the relative path as written. Class name: classes.txt, else the label.
"""
from __future__ import annotations

from pathlib import Path

from zeroi2v.errors import UserError

from .common import BadData, VideoItem, read_lines
from .registry import Reader

ENV = "ZEROI2V_LIST_ROOT"
LAYOUT = "train.txt / val.txt / test.txt with lines '<relative/path> <label>' (+ optional classes.txt)"
ALIAS = {"train": ("train",), "val": ("val", "test"), "test": ("test", "val")}


def list_file(root: Path, split: str) -> Path:
    for name in ALIAS[split]:
        if (root / f"{name}.txt").is_file():
            return root / f"{name}.txt"
    raise UserError(f"list file {root / (split + '.txt')} not found; expected layout: {LAYOUT}; "
                    f"point --data-root or ${ENV} at the folder holding the list files")


def read_classes(root: Path) -> list[str] | None:
    path = root / "classes.txt"
    if not path.is_file():
        return None
    return [line for _, line in read_lines(path)]


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    path = list_file(root, split)
    classes = read_classes(root)
    items: list[VideoItem] = []
    for number, line in read_lines(path):
        if line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
            bad.report(f"{path}:{number}", f"malformed line {line!r}, expected '<relative/path> <label>' with an integer label >= 0")
            continue
        rel, label = parts[0], int(parts[1])
        if classes is not None and label >= len(classes):
            bad.report(f"{path}:{number}", f"label {label} has no name in classes.txt ({len(classes)} classes)")
            continue
        file = root / rel
        if not bad.video_exists(file, f"{path.name}:{number}"):
            continue
        items.append(VideoItem(video_id=rel, path=file, label=label, class_name=classes[label] if classes else str(label)))
    return items


def splits_of(root: Path) -> tuple[str, ...]:
    return tuple(s for s in ("train", "val", "test") if (root / f"{s}.txt").is_file())


READER = Reader(name="list", env=ENV, splits=("train", "val"), folds=(1,), list_split=list_split, layout=LAYOUT,
                splits_of=splits_of)
