"""Kinetics-400 / Kinetics-100 reader (official CSV annotations + downloaded clip files).

Expected layout (the official CSVs and the clips as the usual downloaders write them)::

    $ZEROI2V_KINETICS_ROOT/
        train.csv  validate.csv  [test.csv]       (or annotations/*.csv; val.csv also accepted)
            label,youtube_id,time_start,time_end,split[,is_cc]
            abseiling,-3B32lodo2M,59,69,train
        train/                                    (or videos/train/, train_256/)
            -3B32lodo2M_000059_000069.mp4         <youtube_id>_<start:06d>_<end:06d>.<mp4|mkv|webm>
            or abseiling/-3B32lodo2M_000059_000069.mp4 (class sub-folders are fine), or <youtube_id>.mp4
        val/  (or validate/, videos/val/, val_256/)      test/  (or videos/test/)

Kinetics-100 (few-shot) uses Kinetics-400 clips: point the root at the Kinetics-400 tree.
Splits: train -> train.csv, val -> validate.csv, test -> test.csv (validate.csv when there is no test.csv).
Labels: index in the sorted set of label names over all CSVs present. Video id: the YouTube id.
YouTube takedowns make some clips missing: that is bad data (on_error="skip" skips and counts them).
"""
from __future__ import annotations

import csv
import io
import math
import os
from functools import lru_cache
from pathlib import Path

from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, VideoItem, read_text
from zeroi2v.data.registry import Reader

ENV = "ZEROI2V_KINETICS_ROOT"
CSV_DIRS = (".", "annotations")
CSV_NAMES = {"train": ("train.csv",), "val": ("validate.csv", "val.csv"), "test": ("test.csv",)}
VIDEO_DIRS = {
    "train": ("train", "videos/train", "train_256"),
    "val": ("val", "validate", "videos/val", "videos/validate", "val_256"),
    "test": ("test", "videos/test", "test_256"),
}
EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
COLUMNS = ("label", "youtube_id", "time_start", "time_end")
LAYOUT = "train.csv/validate.csv (label,youtube_id,time_start,time_end,split) + train/ val/ with <youtube_id>_<start:06d>_<end:06d>.mp4"


def csv_file(root: Path, split: str) -> Path | None:
    for d in CSV_DIRS:
        for name in CSV_NAMES[split]:
            if (root / d / name).is_file():
                return root / d / name
    return None


def effective_split(root: Path, split: str) -> str:
    if split == "test" and csv_file(root, "test") is None:
        return "val"
    if csv_file(root, split) is None:
        tried = ", ".join(str(root / d / n) for d in CSV_DIRS for n in CSV_NAMES[split])
        raise UserError(f"Kinetics {split} annotations not found (tried {tried}); expected layout: {LAYOUT}; "
                        f"point --data-root or ${ENV} at the dataset root")
    return split


def read_rows(path: Path, bad: BadData) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each well-formed row; malformed rows go to `bad`."""
    try:
        return _read_rows(path, bad)
    except csv.Error as e:
        raise UserError(f"{path}: not a CSV file ({e}); restore the official annotation file") from None


def _read_rows(path: Path, bad: BadData) -> list[tuple[int, dict[str, str]]]:
    rows = []
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}:1: header lacks {', '.join(missing)}; expected label,youtube_id,time_start,time_end,split")
        for row in reader:
            number = reader.line_num
            ok = all(row.get(c) not in (None, "") for c in COLUMNS)
            try:
                ok = ok and all(math.isfinite(float(row[c])) and float(row[c]) >= 0
                                for c in ("time_start", "time_end"))
            except (TypeError, ValueError):
                ok = False
            if not ok or None in row:
                bad.report(f"{path}:{number}", f"malformed row {','.join(str(v) for v in row.values() if v is not None)!r}")
                continue
            rows.append((number, row))
    return rows


@lru_cache(maxsize=8)
def _scan(directory: str) -> dict[str, str]:
    """{file stem: path} of the video files up to two levels below `directory`."""
    found: dict[str, str] = {}

    def walk(d: str, depth: int) -> None:
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir() and depth < 2:
                    walk(e.path, depth + 1)
                elif os.path.splitext(e.name)[1] in EXTENSIONS:
                    found.setdefault(os.path.splitext(e.name)[0], e.path)

    walk(directory, 0)
    return found


def clip_index(root: Path, split: str) -> dict[str, str]:
    for c in VIDEO_DIRS[split]:
        if (root / c).is_dir():
            return _scan(str((root / c).resolve()))
    if (root / "videos").is_dir():
        return _scan(str((root / "videos").resolve()))
    tried = ", ".join(str(root / c) for c in VIDEO_DIRS[split])
    raise UserError(f"Kinetics {split} video folder not found (tried {tried}); expected layout: {LAYOUT}")


def read_classes(root: Path) -> list[str]:
    names: set[str] = set()
    for split in CSV_NAMES:
        path = csv_file(root, split)
        if path is None:
            continue
        try:
            with io.StringIO(read_text(path), newline="") as f:
                names.update(row["label"] for row in csv.DictReader(f) if row.get("label"))
        except csv.Error as e:
            raise UserError(f"{path}: not a CSV file ({e}); restore the official annotation file") from None
    return sorted(names)


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    split = effective_split(root, split)
    classes = read_classes(root)
    label_of = {c: i for i, c in enumerate(classes)}
    path = csv_file(root, split)
    clips = clip_index(root, split)
    items: list[VideoItem] = []
    seen: set[str] = set()
    for number, row in read_rows(path, bad):
        yid = row["youtube_id"]
        stem = f"{yid}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
        file = clips.get(stem) or clips.get(yid)
        if file is None:
            bad.report(f"{path}:{number}", f"clip {stem} not found under the {split} video folder",
                       fix="download the clip or pass on_error='skip' (--on-error skip)")
            continue
        if yid in seen:
            continue
        seen.add(yid)
        items.append(VideoItem(video_id=yid, path=Path(file), label=label_of[row["label"]], class_name=row["label"]))
    return items


def splits_of(root: Path) -> tuple[str, ...]:
    return tuple(s for s in CSV_NAMES if csv_file(root, s) is not None)


READER = Reader(name="kinetics", env=ENV, splits=("train", "val"), folds=(1,), list_split=list_split, layout=LAYOUT,
                splits_of=splits_of)
