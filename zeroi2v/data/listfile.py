"""Generic list-file reader ("bring your own dataset"): one "relative/path label" line per video.

Expected layout::

    $ZEROI2V_LIST_ROOT/
        train.txt   val.txt   [test.txt]     "videos/cat/clip_001.mp4 3"  or  "videos/cat/clip_001.mp4 cat"
                                             (path relative to the root, inside it; the last
                                              whitespace-separated field is the label: an integer
                                              index into classes.txt, or a class name)
        classes.txt                          optional: class name of label i on line i+1 (0-based labels)
        videos/...                           any folder structure the list files point into

Labels: with classes.txt, a name must be one of its lines and an integer indexes it. Without it,
integer labels are used as they are (class name = the number) and names are numbered in sorted
order over all list files of the root (so train/val/test agree); one root uses one kind.
Splits (full-supervised): train -> train.txt, val -> val.txt (test.txt if there is no val.txt),
test -> test.txt (val.txt if there is no test.txt). Few-shot (episodes / fewshot.run) reads the
three files as base / val / novel classes, without aliases (`fewshot_split_file`).
Video id: the relative path, normalised (`normalise_id`: `videos/./a.mp4`, `videos//a.mp4` and
`videos/x/../a.mp4` are all `videos/a.mp4`), so every duplicate and leak check sees one video under
one name. Paths that are absolute or leave the root are refused.
"""
from __future__ import annotations

import posixpath
from pathlib import Path

from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, VideoItem, listed_path, read_lines
from zeroi2v.data.registry import Reader

ENV = "ZEROI2V_LIST_ROOT"
LAYOUT = "train.txt / val.txt / test.txt with lines '<relative/path> <label or class name>' (+ optional classes.txt)"
ALIAS = {"train": ("train",), "val": ("val", "test"), "test": ("test", "val")}
FILES = ("train", "val", "test")


def list_file(root: Path, split: str) -> Path:
    for name in ALIAS[split]:
        if (root / f"{name}.txt").is_file():
            return root / f"{name}.txt"
    raise UserError(f"list file {root / (split + '.txt')} not found; expected layout: {LAYOUT}; "
                    f"point --data-root or ${ENV} at the folder holding the list files")


def fewshot_split_file(root: Path, split: str) -> Path:
    """`<root>/<split>.txt` exactly (few-shot: train/val/test = base/val/novel classes)."""
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise UserError(f"few-shot list dataset needs {path} (train.txt / val.txt / test.txt hold the "
                        f"base / val / novel classes, lines '<relative/path> <class>'); point --data-root "
                        "at the folder holding them")
    return path


def read_classes(root: Path) -> list[str] | None:
    path = root / "classes.txt"
    if not path.is_file():
        return None
    names = [line for _, line in read_lines(path)]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise UserError(f"{path}: class {n!r} is listed twice; one class per line")
        seen.add(n)
    return names


def normalise_id(rel: str) -> str:
    """A listed relative path in its one spelling: `/` separators, no `.`, empty or `x/..` parts."""
    return posixpath.normpath(rel.replace("\\", "/"))


def _split_line(line: str) -> tuple[str, str] | None:
    parts = line.rsplit(maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _is_index(label: str) -> bool:
    return label.lstrip("-").isdigit()


def class_table(root: Path) -> tuple[list[str] | None, dict[str, int] | None]:
    """(classes.txt names or None, name -> label for class-name labels or None)."""
    classes = read_classes(root)
    if classes is not None:
        return classes, {c: i for i, c in enumerate(classes)}
    return None, _names_without_classes_file(root)


def _names_without_classes_file(root: Path) -> dict[str, int] | None:
    names: set[str] = set()
    for name in FILES:
        path = root / f"{name}.txt"
        if path.is_file():
            for _, line in read_lines(path):
                parsed = _split_line(line)
                if parsed and not line.startswith("#") and not _is_index(parsed[1]):
                    names.add(parsed[1])
    return {c: i for i, c in enumerate(sorted(names))} if names else None


def read_list(root: Path, path: Path, *, bad: BadData) -> list[VideoItem]:
    """The items of one list file (labels resolved as in the module docstring)."""
    classes, by_name = class_table(root)
    items: list[VideoItem] = []
    for number, line in read_lines(path):
        if line.startswith("#"):
            continue
        where = f"{path}:{number}"
        parsed = _split_line(line)
        if parsed is None:
            bad.report(where, f"malformed line {line!r}, expected '<relative/path> <label or class name>'")
            continue
        rel, text = parsed
        if _is_index(text):
            label = int(text)
            if label < 0 or (classes is not None and label >= len(classes)):
                n = "no classes.txt" if classes is None else f"{len(classes)} classes in classes.txt"
                bad.report(where, f"label {label} is not a class index ({n})")
                continue
            if classes is None and by_name is not None:
                raise UserError(f"{where}: integer label {label} in a dataset whose other labels are "
                                "class names; use one kind, or add classes.txt")
            name = classes[label] if classes is not None else str(label)
        else:
            if by_name is None or text not in by_name:
                bad.report(where, f"class {text!r} is not in {root / 'classes.txt'}")
                continue
            label, name = by_name[text], text
        listed_path(root, rel, where=where)  # refuses a path leaving the root
        vid = normalise_id(rel)
        file = root / vid
        if not bad.video_exists(file, f"{path.name}:{number}"):
            continue
        items.append(VideoItem(video_id=vid, path=file, label=label, class_name=name))
    return items


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    return read_list(root, list_file(root, split), bad=bad)


def splits_of(root: Path) -> tuple[str, ...]:
    return tuple(s for s in FILES if (root / f"{s}.txt").is_file())


READER = Reader(name="list", env=ENV, splits=("train", "val"), folds=(1,), list_split=list_split, layout=LAYOUT,
                splits_of=splits_of)
