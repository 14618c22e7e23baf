"""The feature-cache file format: one model's features of one dataset's videos under one view.

    {"format": 2, "ids": [video id, ...], "identities": ["relative/path|size|mtime_ns", ...],
     "features": (N, D) float tensor}

Written by `fewshot.embed` (keyed and kept up to date there) and read by it and by `episodes.interop`
(features for easyfsl and other libraries): `load` is the one reader and validator, `save` the one
writer (atomic). Read with `weights_only=True`: nothing in a cache file is executed.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from zeroi2v.utils.io import atomic_torch_save

FORMAT = 2


def load(path: str | os.PathLike) -> tuple[list[str], list[str], torch.Tensor]:
    """(ids, identities, features (N, D)) of a cache file; ValueError (or torch's error) for a file
    that is not one: truncated, another format, mismatched lengths."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict):
        raise ValueError("not a feature cache of this format")
    ids, idents, feats = blob.get("ids"), blob.get("identities"), blob.get("features")
    if (blob.get("format") != FORMAT or not isinstance(feats, torch.Tensor) or feats.dim() != 2
            or not isinstance(ids, list) or not isinstance(idents, list)
            or not len(ids) == len(idents) == len(feats)
            or not all(isinstance(x, str) for x in ids + idents)):
        raise ValueError("not a feature cache of this format")
    return ids, idents, feats


def save(path: str | os.PathLike, rows: dict[str, tuple[str, torch.Tensor]]) -> None:
    """Write {video id: (identity, feature (D,))} atomically, rows sorted by id."""
    ids = sorted(rows)
    atomic_torch_save({"format": FORMAT, "ids": ids, "identities": [rows[i][0] for i in ids],
                       "features": torch.stack([rows[i][1] for i in ids])}, path)
