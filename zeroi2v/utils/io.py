"""Atomic file writes and content hashes.

Everything the suite writes goes through a temp file in the target directory plus `os.replace`,
so an interrupted run never leaves a half-written checkpoint, cache or record behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from zeroi2v.utils.errors import UserError


def check_dir(flag: str, path: str | os.PathLike | None) -> None:
    """A directory flag's path may not exist yet, but must not name, or sit below, a file (one line)."""
    if path is None:
        return
    p = Path(path).expanduser()
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise UserError(f"{flag} {path}: {q} is a file, not a directory; choose another {flag}")
            return


def check_file(flag: str, path: str | os.PathLike | None, *, example: str = "", writable: bool = False,
               must_exist: bool = False) -> Path | None:
    """A file flag's path: an output (not a folder, not below a file; `writable`: its nearest existing folder
    writable; one line naming the flag and `example`, a file name that would do), or with `must_exist` an
    input (an existing, non-empty regular file). Returns the expanded path."""
    if path is None:
        return None
    p = Path(path).expanduser()
    if must_exist:
        if p.is_dir():
            raise UserError(f"{flag} {path} is a directory; pass the file inside it")
        if not p.is_file():
            raise UserError(f"{flag} {path} not found; pass a local file")
        if p.stat().st_size == 0:
            raise UserError(f"{flag} {path} is empty (0 bytes); re-download or re-export it")
        return p
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise UserError(f"{flag} {path} is a directory; give a file name such as {p / example}")
    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a directory; choose another {flag}")
            if writable and not os.access(parent, os.W_OK | os.X_OK):
                raise UserError(f"{flag} {path}: the folder {parent} is not writable; choose another {flag}")
            return p
    return p


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success it is renamed onto `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of dict order and machine."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
