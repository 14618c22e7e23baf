"""The feature-cache file format: one model's features of one dataset's videos under one view.

    {"format": 3, "key": {...what the features were computed for...},
     "ids": [video id, ...], "identities": ["relative/path|size|mtime_ns[|sha256:<hex>]", ...],
     "features": (N, D) float tensor}

`key` names what produced the features (`fewshot.embed`: the model's content hash, the dataset and
the view); `load(path, key=...)` refuses a file whose key differs -- a cache file copied into
another model's folder, or renamed, is reported and recomputed, never served. Each row's identity
names the video file it was computed from (a content hash is appended when it was verified).

Written by `fewshot.embed` (keyed and kept up to date there) and read by it and by `episodes.interop`
(features for easyfsl and other libraries): `load` is the one reader and validator, `save` the one
writer (atomic). Read with `weights_only=True`: nothing in a cache file is executed.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from zeroi2v.utils.io import atomic_torch_save

FORMAT = 3


class ForeignCache(ValueError):
    """A well-formed cache file computed for another model, dataset or view."""


def load(path: str | os.PathLike, *, key: dict | None = None) -> tuple[list[str], list[str], torch.Tensor]:
    """(ids, identities, features (N, D)) of a cache file; ValueError (or torch's error) for a file
    that is not one (truncated, another format, mismatched lengths); ForeignCache when `key` is
    given and the file was computed for another."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict):
        raise ValueError("not a feature cache of this format")
    ids, idents, feats = blob.get("ids"), blob.get("identities"), blob.get("features")
    if (blob.get("format") != FORMAT or not isinstance(feats, torch.Tensor) or feats.dim() != 2
            or not isinstance(ids, list) or not isinstance(idents, list) or not isinstance(blob.get("key"), dict)
            or not len(ids) == len(idents) == len(feats)
            or not all(isinstance(x, str) for x in ids + idents)):
        raise ValueError("not a feature cache of this format")
    if key is not None and blob["key"] != key:
        had = blob["key"]
        diff = sorted(k for k in set(key) | set(had) if key.get(k) != had.get(k))
        shown = ", ".join(f"{k}={had.get(k)!r}" for k in diff)
        raise ForeignCache(f"computed for another {', '.join(diff)} ({shown})")
    return ids, idents, feats


def save(path: str | os.PathLike, rows: dict[str, tuple[str, torch.Tensor]], *, key: dict) -> None:
    """Write {video id: (identity, feature (D,))} computed for `key` atomically, rows sorted by id."""
    ids = sorted(rows)
    atomic_torch_save({"format": FORMAT, "key": dict(key), "ids": ids, "identities": [rows[i][0] for i in ids],
                       "features": torch.stack([rows[i][1] for i in ids])}, path)
