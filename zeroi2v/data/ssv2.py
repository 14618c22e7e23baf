"""Something-Something V2 reader (official JSON annotations, .webm videos).

Expected layout (20bn-something-something-v2-??.zip unpacked + the labels zip)::

    $ZEROI2V_SSV2_ROOT/
        20bn-something-something-v2/     (or videos/)
            1.webm 2.webm ... 220847.webm
        labels/                          (or the JSON files directly in the root)
            labels.json                  {"Approaching something with your camera": "0", ...}
            train.json                   [{"id": "78687", "label": "...", "template": "Pushing [something] from left to right", "placeholders": [...]}, ...]
            validation.json              same format
            (test.json has no labels and is not used)
        The official file names something-something-v2-{labels,train,validation}.json are accepted too.

Splits: train -> train.json, val and test -> validation.json (the test labels are not public).
Labels: labels.json index of the template with its brackets removed. Video id: the numeric id, e.g. "78687".
"""
from __future__ import annotations

import json
from pathlib import Path

from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, VideoItem, first_existing, listed_path, read_text
from zeroi2v.data.registry import Reader

ENV = "ZEROI2V_SSV2_ROOT"
LABEL_DIRS = ("labels", ".")
VIDEO_DIRS = ("20bn-something-something-v2", "videos")
LAYOUT = "20bn-something-something-v2/<id>.webm + labels/{labels,train,validation}.json"
FILES = {"labels": "labels", "train": "train", "val": "validation", "test": "validation"}


def annotation_file(root: Path, key: str) -> Path:
    base = FILES[key]
    names = tuple(f"{d}/{prefix}{base}.json" for d in LABEL_DIRS for prefix in ("", "something-something-v2-"))
    return first_existing(root, names, what=f"SSv2 {base}.json", env=ENV, layout=LAYOUT)


def load_json(path: Path):
    text = read_text(path, fix="restore the official annotation file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg}); restore the official annotation file") from None
    except (RecursionError, ValueError):
        raise UserError(f"{path}: not an annotation file (nested too deeply or a number too long); "
                        "restore the official annotation file") from None


def read_classes(root: Path) -> list[str]:
    path = annotation_file(root, "labels")
    mapping = load_json(path)
    if not isinstance(mapping, dict) or not mapping:
        raise UserError(f"{path}: expected a JSON object {{class name: index}}; restore the official labels.json")
    try:
        order = sorted(mapping.items(), key=lambda kv: int(kv[1]))
    except (TypeError, ValueError):
        raise UserError(f"{path}: class indices must be integers; restore the official labels.json") from None
    return [name for name, _ in order]


def class_name(template: str) -> str:
    return template.replace("[", "").replace("]", "")


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    classes = read_classes(root)
    label_of = {c: i for i, c in enumerate(classes)}
    videos = first_existing(root, VIDEO_DIRS, what="the SSv2 video folder", env=ENV, layout=LAYOUT)
    path = annotation_file(root, split)
    entries = load_json(path)
    if not isinstance(entries, list):
        raise UserError(f"{path}: expected a JSON list of {{id, template, ...}}; restore the official file")
    items: list[VideoItem] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}:entry {number}"
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            bad.report(where, f"malformed entry {str(entry)[:80]!r}, expected an object with 'id' and 'template'")
            continue
        name = class_name(str(entry["template"]))
        if name not in label_of:
            bad.report(where, f"template {entry['template']!r} is not a class of labels.json")
            continue
        vid = str(entry["id"])
        file = listed_path(videos, f"{vid}.webm", where=where)
        if not bad.video_exists(file, f"{path.name} entry {number}"):
            continue
        items.append(VideoItem(video_id=vid, path=file, label=label_of[name], class_name=name))
    return items


READER = Reader(name="ssv2", env=ENV, splits=("train", "val"), folds=(1,), list_split=list_split, layout=LAYOUT)
