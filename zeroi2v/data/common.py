"""Shared pieces of the data layer: the `VideoItem` record and the bad-data policy.

Bad data (a missing file, a corrupt / truncated / zero-frame video, a malformed annotation line)
is never silent. `on_error="error"` (the default) raises a one-line `UserError` naming the file,
the line number where there is one, the reason and the fix. `on_error="skip"` logs each problem
as a warning and `BadData.summary()` prints the final count.
"""
from __future__ import annotations

import logging
import ntpath
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from zeroi2v.utils.errors import UserError

log = logging.getLogger("zeroi2v.data")

ON_ERROR = ("error", "skip")


@dataclass(frozen=True)
class VideoItem:
    """One video of a dataset: `video_id` is the dataset's own key (see docs/ARCHITECTURE.md)."""

    video_id: str
    path: Path
    label: int
    class_name: str


@dataclass(frozen=True)
class Problem:
    where: str  # "file" or "file:line"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise UserError(f"on_error={on_error!r} is not a bad-data policy; use one of {', '.join(ON_ERROR)}")
    return on_error


class BadData:
    """Collects bad-data problems under a policy: `error` raises at the first, `skip` logs each one."""

    def __init__(self, on_error: str = "error", *, what: str = "data", log_each: bool = True):
        self.on_error = check_on_error(on_error)
        self.what = what
        self.log_each = log_each  # False when the caller reports the problems itself (the check command)
        self.problems: list[Problem] = []

    def report(self, where: str | Path, reason: str, *, fix: str = "") -> None:
        problem = Problem(str(where), " ".join(str(reason).split()))
        if self.on_error == "error":
            hint = fix or "fix or remove it, or pass on_error='skip' (--on-error skip) to skip bad items"
            raise UserError(f"{problem}; {hint}")
        self.problems.append(problem)
        if self.log_each:
            log.warning("skipping %s (%d skipped so far)", problem, len(self.problems))

    def video_exists(self, file: Path, listed_at: str) -> bool:
        """True if `file` exists; else reports it (error, or skip and count) and returns False."""
        if file.is_file():
            return True
        self.report(file, f"video file not found (listed at {listed_at})",
                    fix="restore the file or pass on_error='skip' (--on-error skip)")
        return False

    def summary(self) -> int:
        """Log the final count of skipped items (only when there were any); returns it."""
        if self.problems:
            log.warning("%s: skipped %d bad item(s) in total", self.what, len(self.problems))
        return len(self.problems)

    def __len__(self) -> int:
        return len(self.problems)


def read_text(path: str | os.PathLike, *, what: str = "annotation file", fix: str = "") -> str:
    """The UTF-8 text of a small annotation file (a BOM is dropped); a one-line UserError naming
    the file and the line of the first non-UTF-8 byte, or why it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a directory, not a file; {fix or 'check the path'}") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}; check the path and permissions") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                        f"{fix or 'save the file as UTF-8'}") from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for every non-empty line of a text annotation file."""
    text = read_text(path)
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip().lstrip("\ufeff")
        if line:
            yield number, line


def listed_path(base: Path, rel: str, *, where: str) -> Path:
    """`base / rel` for a path written in an annotation file, refused (one-line UserError naming
    `where` = "file:line") when it is absolute or leaves `base` after normalising `..`.

    The check is lexical: symbolic links the user placed inside the dataset root (a video folder
    on another disk) are followed as usual; a list file cannot name anything outside it."""
    norm = posixpath.normpath(rel.replace("\\", "/"))
    if (not rel or posixpath.isabs(norm) or ntpath.isabs(rel) or ntpath.splitdrive(rel)[0]
            or norm == ".." or norm.startswith("../")):
        raise UserError(f"{where}: path {rel!r} leaves the dataset root {base} (absolute or '..'); "
                        "list paths must be relative to the root and stay inside it")
    return base / rel


def first_existing(root: Path, candidates: tuple[str, ...], *, what: str, env: str, layout: str) -> Path:
    """The first of `root/candidate` that exists, else a UserError describing the expected layout."""
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    tried = ", ".join(str(root / c) for c in candidates)
    raise UserError(
        f"{what} not found under {root} (tried {tried}); expected layout: {layout}; "
        f"point --data-root or ${env} at the dataset root"
    )
