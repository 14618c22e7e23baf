"""The result record: one JSON file per measured number, shared by every producer and reader.

Producers (`fewshot.run`, `zeroi2v.train`) call `write_record(run_dir, record)`; the aggregator
(`python -m results`) reads them back with `results.load.read_records`. A record is a flat JSON
object, written to `<run_dir>/records/<kind>-<dataset>-<method>-...-<8 hex>.json`:

common (required)   schema_version, kind ("fewshot" | "full" | "kshot-allway"), dataset, method,
                    backbone, seed, created (ISO time)
kind == "fewshot"   ways, shots, queries, protocol ("prototype" | "finetune"), accuracy (%),
                    ci95 (% half-width, 1.96*std/sqrt(n)), std (%), n_episodes, episode_set_hash
kind == "full"      protocol ("full"), top1, top5 (%), top1_merged, top5_merged, views ("CxS")
kind == "kshot-allway"  as "full", plus shots (K per class) and fold
identity (optional)  data_root, data_sha256, data_seed (`data_fields`: which data), model_sha256
                    (few-shot: backbone, timm kwargs, frames, STDHA, weights, adapters), settings_sha256
                    (few-shot: adaptation settings without the seed, and the test view) -- records
                    differing in any of them are never one measurement (`results.load`)
optional            pretrained, pretrained_sha256, stdha, adapters, params_total, params_trainable,
                    params_new, gflops_per_view, throughput, merge_max_abs_diff,
                    merge_max_rel_diff, stage_seconds, version, git_commit, config,
                    episode_accuracies (see below)

Validation (`validate`): schema_version == SCHEMA_VERSION, kind known, every required field present
and not null; numbers are checked where they are required: percentages (accuracy, ci95, std, top1,
top5, top1_merged, top5_merged) are finite reals in [0, 100]; ways, shots, queries, n_episodes, fold
are integers in [1, 2**31 - 1]; seed is a 64-bit integer; dataset, method, backbone, protocol, episode_set_hash,
views are non-empty strings.

Per-episode accuracies (few-shot records, optional but needed for paired comparisons):
`episode_accuracies` is a POSIX-style path *relative to the run directory*, i.e. relative to the
parent of the record file's directory:
`<run_dir>/records/x.json` -> `<run_dir>/<episode_accuracies>`.
The file is a `.npy` float array of shape (n_episodes,), accuracy per episode in percent, in
episode-index order of the episode set named by `episode_set_hash`. Write it with
`save_episode_accuracies(run_dir, name, acc)` (atomic, unique name under
`<run_dir>/episode_accuracies/`) and store the returned string in the record; read it with
`load_episode_accuracies(record_path, record)`.

`method` is one of METHODS for ZeroI2V runs; other strings are allowed (new baselines).
Records are written atomically under a unique name and never overwrite another record.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import math
import numbers
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from zeroi2v.utils.io import write_temp


SCHEMA_VERSION = 1
KINDS = ("fewshot", "full", "kshot-allway")
METHODS = ("frozen", "zeroi2v_no_stdha", "zeroi2v")  # table row order
METHOD_LABELS = {
    "frozen": "Frozen image model",
    "zeroi2v_no_stdha": "ZeroI2V w/o STDHA",
    "zeroi2v": "ZeroI2V",
}
COMMON_FIELDS = ("schema_version", "kind", "dataset", "method", "backbone", "seed", "created")
REQUIRED_FIELDS = {
    "fewshot": COMMON_FIELDS
    + ("ways", "shots", "queries", "protocol", "accuracy", "ci95", "n_episodes", "episode_set_hash"),
    "full": COMMON_FIELDS + ("protocol", "top1", "top5", "top1_merged", "top5_merged", "views"),
    "kshot-allway": COMMON_FIELDS
    + ("protocol", "top1", "top5", "top1_merged", "top5_merged", "views", "shots", "fold"),
}


PERCENT_FIELDS = ("accuracy", "ci95", "std", "top1", "top5", "top1_merged", "top5_merged")
POSITIVE_INT_FIELDS = ("ways", "shots", "queries", "n_episodes", "fold")
STRING_FIELDS = ("dataset", "method", "backbone", "protocol", "episode_set_hash", "views")
EPISODE_ACC_DIR = "episode_accuracies"
MAX_COUNT = 2**31 - 1  # ways, shots, queries, episodes, fold: anything larger is not a real run


class RecordError(ValueError):
    """A record that does not follow the schema."""


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_types(record: dict[str, Any], required: tuple[str, ...]) -> None:
    for k in PERCENT_FIELDS:
        v = record.get(k)
        if v is None and k not in required:
            continue
        if not _is_real(v) or not math.isfinite(v) or not 0.0 <= v <= 100.0:
            raise RecordError(f"field {k}={v!r} is not a percentage in [0, 100]")
    for k in POSITIVE_INT_FIELDS:
        v = record.get(k)
        if v is None and k not in required:
            continue
        if not _is_int(v) or not 1 <= v <= MAX_COUNT:
            raise RecordError(f"field {k}={v!r} is not an integer in [1, {MAX_COUNT}]")
    seed = record.get("seed")
    if not _is_int(seed) or not -(2**63) <= seed < 2**63:
        raise RecordError(f"field seed={seed!r} is not a 64-bit integer")
    for k in STRING_FIELDS:
        v = record.get(k)
        if v is None and k not in required:
            continue
        if not isinstance(v, str) or not v:
            raise RecordError(f"field {k}={v!r} is not a non-empty string")
    rel = record.get("episode_accuracies")
    if rel is not None:
        _check_relative(rel)


def _check_relative(rel: Any) -> None:
    if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in Path(rel).parts:
        raise RecordError(f"episode_accuracies={rel!r} is not a path relative to the run directory")


def validate(record: dict[str, Any]) -> dict[str, Any]:
    """Return `record` if it follows the schema (module docstring); else raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError("record is not a JSON object")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(f"schema_version {version!r}, expected {SCHEMA_VERSION}")
    kind = record.get("kind")
    if kind not in KINDS:
        raise RecordError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    missing = [k for k in REQUIRED_FIELDS[kind] if record.get(k) is None]
    if missing:
        raise RecordError(f"missing field(s): {', '.join(missing)}")
    _check_types(record, REQUIRED_FIELDS[kind])
    return record


def data_fields(root: str | os.PathLike, lists: dict[str, list], *, generated: dict | None = None) -> dict[str, Any]:
    """The record fields naming the data a number was measured on.

    data_root: the root as resolved. data_sha256: sha256 of the resolved root and the contents of
    the lists the run read (`lists`: per split, its (video id, class) rows; order ignored) -- another
    dataset, another copy of it, or other lists never share it. A generated data set (`generated`:
    its generation settings, e.g. the toy's) is named by those settings instead, without their
    seed, which goes to data_seed: the toy set of each `--seeds` seed is the same data set drawn
    anew, so its seeds aggregate in one cell."""
    from zeroi2v.utils.io import sha256_json

    if generated is not None:
        settings = {k: v for k, v in generated.items() if k != "seed"}
        return dict(data_root=str(root), data_sha256=sha256_json({"generated": settings}),
                    data_seed=generated.get("seed"))
    body = {split: sorted([str(v) for v in row] for row in rows) for split, rows in sorted(lists.items())}
    return dict(data_root=str(root),
                data_sha256=sha256_json({"root": str(Path(root).expanduser().resolve()), "lists": body}))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("zeroi2v-suite")
    except Exception:  # not installed (running from a source tree)
        return "0+unknown"


def new_record(kind: str, **fields: Any) -> dict[str, Any]:
    """A record with the bookkeeping fields filled in (version, time, commit)."""
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    record = {"schema_version": SCHEMA_VERSION, "kind": kind, "created": now,
              "version": package_version(), "git_commit": git_commit()}
    record.update(fields)
    return record


def record_name(record: dict[str, Any]) -> str:
    parts = [record["kind"], record["dataset"], record["method"]]
    if record["kind"] == "fewshot":
        parts += [f"{record['ways']}w{record['shots']}s", record["protocol"]]
    elif record["kind"] == "kshot-allway":
        parts += [f"k{record['shots']}", f"fold{record['fold']}"]
    return "-".join(str(p).replace("/", "_") for p in parts)


def _json_default(obj: Any) -> Any:
    """numpy scalars/arrays become plain numbers/lists; anything else its str()."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Validate and write `record` under `run_dir/records/`; never overwrites an existing file."""
    validate(record)
    out_dir = Path(run_dir) / "records"
    text = json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n"
    tmp = write_temp(out_dir / "record", text.encode())  # umask mode; a full disk: one line, no temp left
    return _publish(tmp, out_dir, stem=record_name(record), suffix=".json")


def _publish(tmp: str, out_dir: Path, *, stem: str, suffix: str) -> Path:
    """Give a finished temp file in `out_dir` a fresh unique name `<stem>-<8 hex><suffix>`.

    Never replaces an existing file, so concurrent writers cannot lose each other's results:
    `os.link` fails if the name exists; on filesystems without hard links the name is reserved
    with O_EXCL and the temp file renamed onto it.
    """
    try:
        while True:
            path = out_dir / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
            except OSError:  # no hard links here
                try:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                except FileExistsError:
                    continue
                os.replace(tmp, path)
                return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def iter_record_files(*run_dirs: str | os.PathLike):
    """Every `*.json` file inside a `records/` directory under each run dir (recursive, sorted);
    a file argument is yielded as is."""
    for d in run_dirs:
        d = Path(d)
        if d.is_file():
            yield d
        else:
            yield from sorted(p for p in d.rglob("*.json") if p.parent.name == "records")


def save_episode_accuracies(run_dir: str | os.PathLike, name: str, acc: Any) -> str:
    """Atomically write per-episode accuracies (percent, shape (n_episodes,)) as
    `<run_dir>/episode_accuracies/<name>-<8 hex>.npy`; never overwrites another file.

    Returns the path relative to `run_dir` (POSIX style) to store in the record's
    `episode_accuracies` field.
    """
    import numpy as np

    arr = np.asarray(acc, dtype=np.float64).reshape(-1)  # (n_episodes,)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise RecordError("episode accuracies must be a non-empty array of finite numbers")
    out_dir = Path(run_dir) / EPISODE_ACC_DIR
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "episodes"
    buf = io.BytesIO()
    np.save(buf, arr)
    tmp = write_temp(out_dir / "record", buf.getvalue())  # umask mode; a full disk: one line, no temp left
    path = _publish(tmp, out_dir, stem=safe, suffix=".npy")
    return f"{EPISODE_ACC_DIR}/{path.name}"


def episode_accuracies_path(record_path: str | os.PathLike, record: dict[str, Any]) -> Path | None:
    """Absolute location of a record's per-episode accuracies file, or None if it has none."""
    rel = record.get("episode_accuracies")
    if rel is None:
        return None
    _check_relative(rel)
    return Path(record_path).resolve().parent.parent / rel


def check_episode_accuracies(record_path: str | os.PathLike, record: dict[str, Any], *,
                             tol: float = 1e-6) -> None:
    """RecordError when a few-shot record contradicts its per-episode array: another length than
    `n_episodes`, or `accuracy` (and `std`, `ci95` where given) not the array's mean (sample std,
    1.96·std/sqrt(n)) within `tol` percent. A record without an array, or whose array file is
    missing, is not checked here (tables then give it no paired comparison)."""
    path = episode_accuracies_path(record_path, record)
    if path is None or not path.is_file():
        return
    arr = load_episode_accuracies(record_path, record)
    n = arr.size
    expect = {"accuracy": float(arr.mean())}
    if n > 1:
        std = float(arr.std(ddof=1))
        expect.update(std=std, ci95=1.96 * std / math.sqrt(n))
    for k, v in expect.items():
        got = record.get(k)
        if got is not None and not abs(float(got) - v) <= tol + 1e-9 * abs(v):
            raise RecordError(f"{k}={got!r} contradicts its {n} per-episode accuracies ({path.name}: {k} "
                              f"{v:.6g}); the record was edited or belongs to another array")


def load_episode_accuracies(record_path: str | os.PathLike, record: dict[str, Any]) -> Any:
    """The (n_episodes,) float array of a few-shot record; RecordError if absent, unreadable or
    its length differs from the record's `n_episodes`."""
    import numpy as np

    path = episode_accuracies_path(record_path, record)
    if path is None:
        raise RecordError(f"{record_path}: record has no episode_accuracies")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise RecordError(f"{record_path}: cannot read episode accuracies {path}: {e}") from e
    arr = np.asarray(arr, dtype=np.float64).reshape(-1)
    n = record.get("n_episodes")
    if n is not None and arr.size != n:
        raise RecordError(f"{path}: {arr.size} episode accuracies, record says n_episodes={n}")
    return arr
