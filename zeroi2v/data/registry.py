"""The reader registry: one `Reader` per dataset format, and root resolution."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, VideoItem

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Reader:
    name: str
    env: str  # environment variable holding the dataset root
    splits: tuple[str, ...]  # the distinct official splits (an alias such as val==test is listed once)
    folds: tuple[int, ...]  # official folds (HMDB51/UCF101: 1, 2, 3), (1,) elsewhere
    list_split: Callable[..., list[VideoItem]]  # (root, split, *, fold, bad) -> items
    layout: str  # one-line layout summary for error messages; the module docstring has the full one
    splits_of: Callable[[Path], tuple[str, ...]] | None = None  # the splits present under a root, if that varies
    # (root, video ids) -> {video id: VideoItem} for videos no official list names (few-shot splits may use them)
    locate_unlisted: Callable[[Path, set], dict] | None = None

    def splits_at(self, root: Path) -> tuple[str, ...]:
        return self.splits_of(Path(root)) if self.splits_of else self.splits


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserError(f"split {split!r} is not one of {', '.join(SPLITS)}; pick one of those")
    return split


def check_fold(reader: Reader, fold: int) -> int:
    if fold not in reader.folds:
        raise UserError(f"{reader.name} has folds {list(reader.folds)}, not {fold}; pass --fold with one of them")
    return fold


def resolve_dir(root: str | os.PathLike, reader: Reader) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(
            f"{reader.name} data root {root} is not a directory; point --data-root or ${reader.env} at it "
            f"(expected layout: {reader.layout})"
        )
    return root


def list_with(reader: Reader, root, split: str, *, fold: int = 1, on_error: str = "error") -> list[VideoItem]:
    bad = BadData(on_error, what=f"{reader.name} {split}")
    items = reader.list_split(resolve_dir(root, reader), check_split(split), fold=check_fold(reader, fold), bad=bad)
    bad.summary()
    return items
