"""The result record: one JSON file per measured number, shared by every producer and reader.

Producers (`fewshot.run`, `zeroi2v.train`) call `write_record(run_dir, record)`; the aggregator
(`python -m results`) reads them back with `read_records`. A record is a flat JSON object:

common (required)   schema_version, kind ("fewshot" | "full" | "kshot-allway"), dataset, method,
                    backbone, seed, created (ISO time)
kind == "fewshot"   ways, shots, queries, protocol ("prototype" | "finetune"), accuracy (%),
                    ci95 (% half-width, 1.96*std/sqrt(n)), std (%), n_episodes, episode_set_hash
kind == "full"      protocol ("full"), top1, top5 (%), top1_merged, top5_merged, views ("CxS")
kind == "kshot-allway"  as "full", plus shots (K per class) and fold
optional            pretrained, pretrained_sha256, stdha, adapters, params_total, params_trainable,
                    params_new, gflops_per_view, throughput, merge_max_abs_diff,
                    merge_max_rel_diff, stage_seconds, version, git_commit, config,
                    episode_accuracies (relative path of the per-episode accuracies file)

`method` is one of METHODS for ZeroI2V runs; other strings are allowed (new baselines).
Records are written atomically under a unique name and never overwrite another record.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any


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


class RecordError(ValueError):
    """A record that does not follow the schema."""


def validate(record: dict[str, Any]) -> dict[str, Any]:
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
    return record


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


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Validate and write `record` under `run_dir/records/`; never overwrites an existing file."""
    validate(record)
    out_dir = Path(run_dir) / "records"
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=out_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    try:
        while True:  # link() fails if the name exists: no record is ever replaced
            path = out_dir / f"{record_name(record)}-{uuid.uuid4().hex[:8]}.json"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
    finally:
        os.unlink(tmp)


def iter_record_files(*run_dirs: str | os.PathLike):
    for d in run_dirs:
        d = Path(d)
        if d.is_file():
            yield d
        else:
            yield from sorted(p for p in d.rglob("*.json") if p.parent.name == "records")
