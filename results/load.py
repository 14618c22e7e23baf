"""Read result records and benchmark JSON files from run directories into pandas.

Every record file found by `records.iter_record_files` is parsed and validated; a file that is
not JSON, is truncated, does not follow the schema, or (few-shot) whose accuracy, std, ci95 or
n_episodes contradicts its per-episode array (`records.check_episode_accuracies`) is skipped with a `RecordWarning` naming
the file and counted in `Loaded.skipped` -- one bad file never stops the tables.

Duplicates: two records are the SAME MEASUREMENT only when every field of `IDENTITY_KEYS[kind]`
agrees -- for few-shot: dataset, method, backbone, protocol, ways, shots, queries, number of
episodes, episode-set hash, seed, pretrained sha256, training recipe, the data (`data_sha256`,
`data_seed`: root and list contents, see `records.data_fields`), the model (`model_sha256`) and
the settings (`settings_sha256`) (a field absent from a record counts as the value "absent";
records from before recipes or data identity have none). Only then is one a
rerun of the other: the NEWEST is kept (`created`, parsed as a time; equal times are ordered by a
hash of the record's content, never by its random file name) and the others are reported as
superseded. Records that differ in any identity field --
another seed above all -- are all kept; the tables aggregate seeds explicitly (mean ± t-interval
over seeds, n_seeds shown; see `results.aggregate`).

Not part of the identity, on purpose: `world_size`, `num_workers`, `device`, batch sizes of
embedding/evaluation, timings, version and commit. Evaluation is sharded deterministically
(episode i is the same draw on any number of processes, embeddings are gathered back into one
table), so a run on 1 GPU and its rerun on 8 GPUs measure the same numbers; counting them as two
replicates would shrink the interval with a copy of the same measurement. For trained runs the
training settings are named by the recipe (`--recipe`) and, for few-shot records, by
`settings_sha256` (every adaptation setting but the seed, and the test view): runs of two recipes
or with changed single flags (global batch, lr, epochs, ...) are two measurements, labelled in the
tables; only a rerun of the same settings on the same data supersedes the older one (newest wins).
Different data never share a cell (`results.aggregate`).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import records as rec

BENCH_SCHEMAS = ("zeroi2v-bench/1", "zeroi2v-bench/2")  # /2: /1 plus the data_path section
BENCH_SCHEMA = " or ".join(BENCH_SCHEMAS)

# The fields that make two records the same measurement (see the module docstring); the
# replicates -- seeds, all-way folds -- are part of it, so they are never deduplicated away.
DATA_KEYS = ("data_sha256", "data_seed")  # records.data_fields: which data (absent before data identity)
IDENTITY_KEYS = {
    "fewshot": ("kind", "dataset", "method", "backbone", "protocol", "ways", "shots", "queries",
                "n_episodes", "episode_set_hash", "seed", "pretrained_sha256", "recipe", *DATA_KEYS,
                "model_sha256", "settings_sha256"),
    "kshot-allway": ("kind", "dataset", "method", "backbone", "protocol", "shots", "fold", "seed",
                     "views", "pretrained_sha256", "recipe", *DATA_KEYS),
    "full": ("kind", "dataset", "method", "backbone", "protocol", "seed", "views",
             "pretrained_sha256", "recipe", *DATA_KEYS),
}
ABSENT = "<absent>"


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
    except RecursionError:
        raise rec.RecordError("nested too deeply to be a record") from None
    rec.validate(record)
    if record["kind"] == "fewshot":
        rec.check_episode_accuracies(path, record)  # accuracy / n_episodes agree with the array
    return record


def read_bench_file(path: Path) -> dict[str, Any] | None:
    """A benchmark document (schema zeroi2v-bench/1 or /2) or None when the JSON is something else.

    A /2 document written with `--data` alone has `models: null` (no model timing): it is kept, and
    the efficiency table simply has nothing from it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") not in BENCH_SCHEMAS:
        return None
    models = doc.get("models")
    if not (isinstance(models, list) or (models is None and doc.get("schema") != BENCH_SCHEMAS[0])):
        return None
    return {**doc, "_path": str(path)}


def find_bench_files(*run_dirs: str | os.PathLike) -> list[Path]:
    """`bench*.json` files anywhere under the run dirs (sorted)."""
    found: list[Path] = []
    for d in map(Path, run_dirs):
        if d.is_dir():
            found += sorted(d.rglob("bench*.json"))
    return found


def content_hash(row: dict[str, Any]) -> str:
    """sha256 of a record's content (without the reader's `_` columns): the deterministic
    tie-break between records created in the same second."""
    body = {k: v for k, v in row.items() if not str(k).startswith("_")
            and not (isinstance(v, float) and v != v)}  # NaN = field absent from this record
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def identity(row: dict[str, Any]) -> tuple:
    """The identity tuple of one record (values as strings; a missing field is ABSENT)."""
    out = []
    for k in IDENTITY_KEYS[row["kind"]]:
        v = row.get(k)
        if v is None or (isinstance(v, float) and v != v):
            out.append(ABSENT)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))  # ways/shots become floats in a frame mixing kinds
        else:
            out.append(str(v))
    return tuple(out)


def dedupe(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Path]]:
    """Keep the newest record per identity (see IDENTITY_KEYS); return (kept, superseded paths)."""
    if df.empty:
        return df, []
    rows = df.to_dict("records")
    created = pd.to_datetime(df["created"], utc=True, errors="coerce", format="ISO8601")
    stamp = [(t.value if not pd.isna(t) else -(2**63)) for t in created]
    order = sorted(range(len(rows)), key=lambda i: (stamp[i], content_hash(rows[i])))
    newest: dict[tuple, int] = {}
    for i in order:  # later (newer) wins
        newest[identity(rows[i])] = i
    keep = set(newest.values())
    dropped = [Path(rows[i]["_path"]) for i in order if i not in keep]
    out = df.iloc[sorted(keep)].sort_values("_path", kind="stable").reset_index(drop=True)
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
