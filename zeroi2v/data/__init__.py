"""Video data layer: dataset readers on their official layouts, frame sampling, transforms, toy data.

    from zeroi2v import data
    root = data.resolve_root(name, args.data_root)              # --data-root, else the record's env variable
    items = data.list_videos(name, root, "train", fold=1)       # list[VideoItem]
    ds = data.VideoClipDataset(items, num_frames=8, size=224, train=True, mean=..., std=...)

Readers (each module docstring documents the expected on-disk layout) are named by the dataset
records (`zeroi2v.settings.datasets`): any spelling of a dataset finds its reader. Command line:
`python -m fewshot.data check|make-toy` (see __main__.py).
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from zeroi2v.settings import datasets as records
from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, VideoItem
from zeroi2v.data.dataset import VideoClipDataset
from zeroi2v.data.registry import Reader, list_with
from zeroi2v.data.sampling import dense_indices, sample_indices, uniform_indices
from zeroi2v.data.toy import ToyConfig, ensure_toy, load_toy_frames, load_toy_geometry, make_toy
from zeroi2v.data.transforms import backbone_mean_std, flip_label_map



def _reader_of(record: records.DatasetRecord) -> Reader:
    return importlib.import_module(record.reader_module).READER


READERS: dict[str, Reader] = {r.reader: _reader_of(r) for r in records.RECORDS.values()}  # the shipped readers

__all__ = [
    "READERS", "Reader", "VideoItem", "VideoClipDataset", "BadData", "ToyConfig",
    "resolve_root", "list_videos", "index_videos", "get_reader", "ensure_toy", "make_toy", "load_toy_frames", "load_toy_geometry",
    "uniform_indices", "dense_indices", "sample_indices", "flip_label_map", "backbone_mean_std",
]  # fmt: skip


def get_reader(dataset: str) -> Reader:
    """The reader of any spelling of a dataset (its record's `reader_module`); one-line UserError otherwise."""
    return _reader_of(records.find(dataset))


def resolve_root(dataset: str, data_root: str | os.PathLike | None) -> Path:
    """--data-root if given, else $ZEROI2V_<NAME>_ROOT, else (toy only) the generated cache, else UserError."""
    record = records.find(dataset)
    reader = _reader_of(record)
    if data_root is None or str(data_root) == "":
        data_root = os.environ.get(record.env) or None
        if data_root is None:
            if reader.name in toy.KINDS:
                return ensure_toy(kind=reader.name)
            raise UserError(f"no {dataset} data root: pass --data-root DIR or set ${record.env} "
                            f"(expected layout: {reader.layout})")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise UserError(f"{dataset} data root {root} is not a directory; pass --data-root or set ${record.env} "
                        f"to the dataset root (expected layout: {reader.layout})")
    return root


def list_videos(dataset: str, root: str | os.PathLike, split: str, *, fold: int = 1, on_error: str = "error") -> list[VideoItem]:
    """The videos of one official split ("val" == "test" where a dataset has only two)."""
    return list_with(get_reader(dataset), root, split, fold=fold, on_error=on_error)


def index_videos(dataset: str, root: str | os.PathLike, *, on_error: str = "error") -> dict[str, VideoItem]:
    """Every video of every official list (all splits and folds), keyed by video id."""
    reader = get_reader(dataset)
    out: dict[str, VideoItem] = {}
    for fold in reader.folds:
        for split in reader.splits_at(Path(root)):
            for item in list_with(reader, root, split, fold=fold, on_error=on_error):
                out.setdefault(item.video_id, item)
    return out
