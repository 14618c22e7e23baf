"""UCF101 reader (official split lists).

Expected layout (as unpacked from UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip)::

    $ZEROI2V_UCF101_ROOT/
        UCF-101/                         (or videos/)
            ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi
            ...
        ucfTrainTestlist/                (or the list files directly in the root)
            classInd.txt                 "1 ApplyEyeMakeup"            (1-based class index)
            trainlist01.txt ... 03       "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
            testlist01.txt  ... 03       "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Splits: train -> trainlist0{fold}, val and test -> testlist0{fold} (folds 1-3).
Labels: classInd index - 1. Video id: "<class folder>/<file name>" as written in the list.
Class folders are matched case-insensitively (the official lists write HandstandPushups for the
folder HandstandPushups but files v_HandStandPushups_*).
"""
from __future__ import annotations

from pathlib import Path

from zeroi2v.data.common import BadData, VideoItem, first_existing, listed_path, read_lines
from zeroi2v.data.registry import Reader

ENV = "ZEROI2V_UCF101_ROOT"
LIST_DIRS = ("ucfTrainTestlist", ".")
VIDEO_DIRS = ("UCF-101", "videos", ".")
LAYOUT = "UCF-101/<Class>/<file>.avi + ucfTrainTestlist/{classInd.txt,trainlist0N.txt,testlist0N.txt}"


def list_dir(root: Path, *, env: str = ENV, layout: str = LAYOUT) -> Path:
    for c in LIST_DIRS:
        if (root / c / "classInd.txt").is_file():
            return root / c
    first_existing(root, tuple(f"{c}/classInd.txt" for c in LIST_DIRS), what="classInd.txt", env=env, layout=layout)
    raise AssertionError  # first_existing raised


def read_classes(path: Path, bad: BadData) -> list[str]:
    """classInd.txt -> class names in label order."""
    by_index: dict[int, str] = {}
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            bad.report(f"{path}:{number}", f"malformed class line {line!r}, expected '<index> <ClassName>'")
            continue
        by_index[int(parts[0])] = parts[1]
    if not by_index:
        bad.report(path, "no classes found", fix="restore the official classInd.txt")
        return []
    return [by_index[k] for k in sorted(by_index)]


def video_dir(root: Path, classes: list[str], *, env: str = ENV, layout: str = LAYOUT) -> Path:
    for c in VIDEO_DIRS:
        d = root / c
        if d.is_dir() and any((d / name).is_dir() for name in classes[:1] + classes[-1:]):
            return d
    return first_existing(root, VIDEO_DIRS[:-1], what="the video folder", env=env, layout=layout)


def parse_lists(
    root: Path, split: str, *, fold: int, bad: BadData, env: str = ENV, layout: str = LAYOUT
) -> list[VideoItem]:
    lists = list_dir(root, env=env, layout=layout)
    classes = read_classes(lists / "classInd.txt", bad)
    label_of = {c.lower(): i for i, c in enumerate(classes)}
    videos = video_dir(root, classes, env=env, layout=layout)
    name = f"trainlist{fold:02d}.txt" if split == "train" else f"testlist{fold:02d}.txt"
    path = first_existing(lists, (name,), what=name, env=env, layout=layout)
    items: list[VideoItem] = []
    for number, line in read_lines(path):
        parts = line.split()
        rel = parts[0]
        folder = rel.split("/")[0] if "/" in rel else ""
        if len(parts) > 2 or not folder or folder.lower() not in label_of:
            bad.report(f"{path}:{number}", f"malformed line {line!r}, expected '<Class>/<file> [label]' with a class of classInd.txt")
            continue
        label = label_of[folder.lower()]
        if len(parts) == 2 and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
            bad.report(f"{path}:{number}", f"label {parts[1]!r} does not match class {folder!r} (classInd says {label + 1})")
            continue
        file = listed_path(videos, rel, where=f"{path}:{number}")
        if not bad.video_exists(file, f"{path.name}:{number}"):
            continue
        items.append(VideoItem(video_id=rel, path=file, label=label, class_name=classes[label]))
    return items


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    return parse_lists(root, split, fold=fold, bad=bad)


READER = Reader(name="ucf101", env=ENV, splits=("train", "test"), folds=(1, 2, 3), list_split=list_split, layout=LAYOUT)
