"""HMDB51 reader (official three-fold splits).

Expected layout (hmdb51_org.rar with each <class>.rar unpacked, plus test_train_splits.rar)::

    $ZEROI2V_HMDB51_ROOT/
        videos/                          (or hmdb51_org/, or the class folders directly in the root)
            brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi
            ...
        testTrainMulti_7030_splits/      (or splits/)
            brush_hair_test_split1.txt   "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1"
            ...                          (1 = train, 2 = test, 0 = unused in this fold)

Splits: train -> lines marked 1 of *_test_split{fold}.txt, val and test -> lines marked 2 (folds 1-3).
Labels: index of the class in the sorted list of split-file class names (51 classes).
Video id: "<class folder>/<file name>".
"""
from __future__ import annotations

import re
from pathlib import Path

from zeroi2v.data.common import BadData, VideoItem, first_existing, listed_path, read_lines
from zeroi2v.data.registry import Reader

ENV = "ZEROI2V_HMDB51_ROOT"
SPLIT_DIRS = ("testTrainMulti_7030_splits", "splits", ".")
VIDEO_DIRS = ("videos", "hmdb51_org", ".")
LAYOUT = "videos/<class>/<file>.avi + testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt"
SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>[123])\.txt$")


def split_files(root: Path, fold: int) -> dict[str, Path]:
    """{class name: split file} for one fold, from the first split folder that has any."""
    for c in SPLIT_DIRS:
        d = root / c
        if not d.is_dir():
            continue
        found = {}
        for p in d.iterdir():
            m = SPLIT_FILE.match(p.name)
            if m and int(m["fold"]) == fold:
                found[m["cls"]] = p
        if found:
            return dict(sorted(found.items()))
    first_existing(root, tuple(f"{c}/<class>_test_split{fold}.txt" for c in SPLIT_DIRS[:-1]),
                   what=f"HMDB51 split files for fold {fold}", env=ENV, layout=LAYOUT)
    raise AssertionError


def video_dir(root: Path, classes: list[str]) -> Path:
    for c in VIDEO_DIRS:
        d = root / c
        if d.is_dir() and any((d / name).is_dir() for name in classes):
            return d
    return first_existing(root, VIDEO_DIRS[:-1], what="the HMDB51 video folder", env=ENV, layout=LAYOUT)


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    files = split_files(root, fold)
    classes = list(files)
    videos = video_dir(root, classes)
    wanted = "1" if split == "train" else "2"
    items: list[VideoItem] = []
    for label, (cls, path) in enumerate(files.items()):
        for number, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                bad.report(f"{path}:{number}", f"malformed line {line!r}, expected '<file>.avi <0|1|2>'")
                continue
            if parts[1] != wanted:
                continue
            file = listed_path(videos / cls, parts[0], where=f"{path}:{number}")
            if not bad.video_exists(file, f"{path.name}:{number}"):
                continue
            items.append(VideoItem(video_id=f"{cls}/{parts[0]}", path=file, label=label, class_name=cls))
    return items


def locate_unlisted(root: Path, video_ids: set[str]) -> dict[str, VideoItem]:
    """Find clips ("<class>/<file>.avi") that no official fold lists as train or test.

    Each official fold marks about a third of a class's clips 0 (unused), and some are unused in all
    three, yet the ARN few-shot split draws on every clip; they are looked up in the video folders
    directly (label -1: not an official class index)."""
    found = {}
    for vid in sorted(video_ids):
        for folder in VIDEO_DIRS:
            path = listed_path(Path(root) / folder, vid, where=f"hmdb51 few-shot split entry {vid!r}")
            if path.is_file():
                found[vid] = VideoItem(video_id=vid, path=path, label=-1, class_name=vid.split("/")[0])
                break
    return found


READER = Reader(name="hmdb51", env=ENV, splits=("train", "test"), folds=(1, 2, 3), list_split=list_split, layout=LAYOUT,
                locate_unlisted=locate_unlisted)
