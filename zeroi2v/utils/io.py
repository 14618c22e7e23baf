"""Atomic file writes, write errors as one line, and content hashes.

Everything the suite writes goes through a temp file in the target directory plus `os.replace`,
so an interrupted run never leaves a half-written checkpoint, cache or record behind. The temp
file is named `.<name>.tmp-<pid>-<host>-<random>`; one left by a killed process (its pid gone on
this host, or older than `STALE_AFTER_S`) is removed the next time the same target is written.
Files get the mode an ordinary `open()` would give them (0o666 minus the umask), not mkstemp's
0600. A failed write (disk full, `ulimit -f`, read-only file system, no permission) is a
one-line `UserError` naming the path and the fix; its temp file is removed.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import socket
import tempfile
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from zeroi2v.utils.errors import UserError

STALE_AFTER_S = 24 * 3600  # a temp file this old is stale whoever wrote it (other hosts included)
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"

_FIXES = {errno.ENOSPC: "no space left on device: free space and rerun",
          errno.EDQUOT: "no space left in the disk quota: free space and rerun",
          errno.EFBIG: "no space left under the file-size limit (ulimit -f, or the file system's): raise it or "
                       "write elsewhere",
          errno.EROFS: "choose a folder on a writable file system (or remount it read-write)",
          errno.EACCES: "permission denied: choose a folder you can write to (or fix its permissions)",
          errno.EPERM: "permission denied: choose a folder you can write to (or fix its permissions)"}


def write_error(path: str | os.PathLike, e: OSError) -> UserError:
    """The one-line UserError for an OSError raised while writing `path`."""
    fix = _FIXES.get(e.errno, "choose another location")
    return UserError(f"cannot write {path}: {e.strerror or e}; {fix} (nothing half-written is left; "
                     f"a previous file, if any, is intact)")


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError raised while writing `path` (a folder, a log file) into one UserError line."""
    try:
        yield
    except OSError as e:
        raise write_error(path, e) from None


def umask() -> int:
    """This process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(*, folder: bool = False) -> int:
    """The mode `open()` / `mkdir()` would give a new file / folder under the current umask."""
    return (0o777 if folder else 0o666) & ~umask()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def clean_stale_temps(path: str | os.PathLike, *, now: float | None = None) -> list[Path]:
    """Remove temp files of `path` left by killed writers: a dead pid of this host, or too old."""
    path = Path(path)
    now = time.time() if now is None else now
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob_escape(path.name)}.tmp-*"))
    except OSError:
        return removed
    for tmp in candidates:
        parts = tmp.name[len(path.name) + 6:].split("-")  # <pid>-<host>-<random>
        try:
            pid, host = int(parts[0]), parts[1]
            stale = (host == _HOST and not _pid_alive(pid)) or now - tmp.stat().st_mtime > STALE_AFTER_S
        except (ValueError, IndexError, OSError):
            continue
        if stale and pid != os.getpid():
            try:
                shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def temp_name(path: str | os.PathLike) -> str:
    """The prefix of this process's temp files / folders for `path` (stale ones are recognisable)."""
    return f".{Path(path).name}.tmp-{os.getpid()}-{_HOST}-"


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def new_temp(path: str | os.PathLike) -> tuple[int, str]:
    """Open a fresh temp file for `path` in its folder, with the umask's mode: (fd, name). Stale temp
    files of `path` are removed first. For writers that publish with their own rename or link."""
    path = Path(path)
    clean_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=temp_name(path), dir=path.parent)
    try:
        os.fchmod(fd, default_mode())
    except OSError:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, name


def _tree(root: Path) -> tuple[set[Path], set[Path]]:
    """(files, folders) under `root` (nothing when it does not exist)."""
    files, dirs = set(), set()
    if root.is_dir():
        for p in root.rglob("*"):
            (dirs if p.is_dir() and not p.is_symlink() else files).add(p)
    return files, dirs


@contextmanager
def undone_if_refused(root: str | os.PathLike, *, first: Callable[[Path], bool]) -> Iterator[None]:
    """A refused run leaves nothing under `root`: when a UserError escapes the block and every file
    created under `root` inside it is a first write (`first(path relative to root)`: its config, log,
    episode files), those files and the folders made for them are removed again. A run that produced
    anything else (a checkpoint, a record) keeps everything, for --resume."""
    root = Path(root)
    existed = root.exists()
    files, dirs = _tree(root)
    try:
        yield
    except UserError:
        new_files, new_dirs = (now - before for now, before in zip(_tree(root), (files, dirs)))
        if all(first(p.relative_to(root)) for p in new_files):
            for p in new_files:
                p.unlink(missing_ok=True)
            for d in sorted(new_dirs | ({root} if not existed else set()), key=lambda d: -len(d.parts)):
                try:
                    d.rmdir()
                except OSError:
                    pass
        raise


def write_temp(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` to a fresh temp file for `path` (umask mode, fsynced) and return its name, for
    writers that publish it themselves (a unique name, a hard link). A failed write is one UserError
    line and leaves no temp file."""
    path = Path(path)
    name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = new_temp(path)
        os.close(fd)
        _write_file(Path(name), data)
        return name
    except OSError as e:
        if name:
            Path(name).unlink(missing_ok=True)
        raise write_error(path.parent, e) from None


def check_dir(flag: str, path: str | os.PathLike | None) -> None:
    """An output folder flag's path may not exist yet, but must not name, or sit below, a file, and
    it (or its nearest existing parent) must be writable: one line naming the flag otherwise."""
    if path is None:
        return
    p = Path(path).expanduser()
    for q in (p, *p.absolute().parents):
        if q.exists():
            if not q.is_dir():
                raise UserError(f"{flag} {path}: {q} is a file, not a directory; choose another {flag}")
            if not os.access(q, os.W_OK | os.X_OK):
                why = "is on a read-only file system" if _read_only_fs(q) else "is not writable"
                raise UserError(f"{flag} {path}: {q} {why}; choose another {flag} (or make it writable)")
            return


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


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
    """Yield a temp path next to `path`; on success it is renamed onto `path` (atomic on POSIX) with
    the umask's mode. An OSError (full disk, read-only, no permission) becomes one UserError line;
    the temp file is removed on any failure."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = new_temp(path)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, default_mode())  # the body may have replaced the file
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # on disk before the rename publishes it
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        _write_file(tmp, data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save, serialised in memory first: a full disk is then an OSError of the file write
    (torch's zip writer reports it as a RuntimeError without the cause)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of dict order and machine."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
