"""Read result records and benchmark JSON files from run directories into pandas.

Every record file found by `records.iter_record_files` is parsed and validated; a file that is
not JSON, is truncated, or does not follow the schema is skipped with a `RecordWarning` naming
the file and counted in `Loaded.skipped` -- one bad file never stops the tables.

Duplicates: two records describing the same measurement (same `identity_key`, e.g. a few-shot
cell rerun into the same runs directory) are resolved by keeping the NEWEST (`created`, then file
path as tie-break) and warning about the others; see `dedupe`.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import records as rec

BENCH_SCHEMA = "zeroi2v-bench/1"

# Columns that identify one measurement of each kind (the unit of replication is part of it:
# few-shot episodes live inside a record, all-way folds and full-supervised seeds are records).
IDENTITY_KEYS = {
    "fewshot": ("kind", "dataset", "backbone", "method", "ways", "shots", "protocol"),
    "kshot-allway": ("kind", "dataset", "backbone", "method", "protocol", "shots", "fold", "seed"),
    "full": ("kind", "dataset", "backbone", "method", "protocol", "seed"),
}


class RecordWarning(UserWarning):
    """A record file was skipped or superseded."""


@dataclass
class Skipped:
    path: Path
    reason: str


@dataclass
class Loaded:
    """Records (one row each, plus `_path` = the record file) and benchmark documents."""

    records: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    bench: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[Path] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        return len(self.records)


def read_record_file(path: Path) -> dict[str, Any]:
    """Parse and validate one record; raises RecordError with a short reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise rec.RecordError(f"unreadable ({e.__class__.__name__})") from e
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise rec.RecordError(f"not valid JSON ({e.msg} at line {e.lineno})") from e
    return rec.validate(record)


def read_bench_file(path: Path) -> dict[str, Any] | None:
    """A benchmark document (schema zeroi2v-bench/1) or None when the JSON is something else."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != BENCH_SCHEMA:
        return None
    if not isinstance(doc.get("models"), list):
        return None
    return {**doc, "_path": str(path)}


def find_bench_files(*run_dirs: str | os.PathLike) -> list[Path]:
    """`bench*.json` files anywhere under the run dirs (sorted)."""
    found: list[Path] = []
    for d in map(Path, run_dirs):
        if d.is_dir():
            found += sorted(d.rglob("bench*.json"))
    return found


def dedupe(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Path]]:
    """Keep the newest record per identity (see IDENTITY_KEYS); return (kept, superseded paths)."""
    if df.empty:
        return df, []
    kept, dropped = [], []
    for kind, sub in df.groupby("kind", sort=False):
        keys = [k for k in IDENTITY_KEYS[kind] if k in sub.columns]
        sub = sub.sort_values(["created", "_path"])
        is_dup = sub.duplicated(subset=keys, keep="last")
        kept.append(sub[~is_dup])
        dropped += [Path(p) for p in sub.loc[is_dup, "_path"]]
    out = pd.concat(kept).sort_values("_path").reset_index(drop=True)
    return out, dropped


def read_records(
    *run_dirs: str | os.PathLike,
    bench_files: list[str | os.PathLike] | tuple = (),
    deduplicate: bool = True,
) -> Loaded:
    """Read every record under `run_dirs` (recursive) plus benchmark JSON (auto-discovered
    `bench*.json` with the bench schema, and `bench_files` given explicitly)."""
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for path in rec.iter_record_files(*run_dirs):
        try:
            record = read_record_file(path)
        except rec.RecordError as e:
            skipped.append(Skipped(path, str(e)))
            warnings.warn(f"skipping {path}: {e}", RecordWarning, stacklevel=2)
            continue
        rows.append({**record, "_path": str(path)})
    df = pd.DataFrame(rows)
    if not df.empty:
        df["created"] = df["created"].astype(str)
    superseded: list[Path] = []
    if deduplicate:
        df, superseded = dedupe(df)
        for p in superseded:
            warnings.warn(f"ignoring {p}: a newer record measures the same thing", RecordWarning,
                          stacklevel=2)
    bench: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for p in [*map(Path, bench_files), *find_bench_files(*run_dirs)]:
        if p.resolve() in seen:
            continue
        seen.add(p.resolve())
        doc = read_bench_file(p)
        if doc is not None:
            bench.append(doc)
        elif p in map(Path, bench_files):
            skipped.append(Skipped(p, f"not a {BENCH_SCHEMA} benchmark file"))
            warnings.warn(f"skipping {p}: not a {BENCH_SCHEMA} benchmark file", RecordWarning,
                          stacklevel=2)
    return Loaded(records=df, skipped=skipped, bench=bench, superseded=superseded)
