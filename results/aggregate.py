"""Few-shot cells: the records of one (row, column) of the few-shot table, aggregated over seeds.

A row is (method, backbone, pretrained sha256); a column is (dataset, ways, shots, protocol) plus
the evaluation setting (queries, number of episodes) when the records of that column disagree on
it -- records that differ there are different measurements and get different columns, never one
cell.

Inside a cell every record is a run (after `load.dedupe`, two runs never share every identity
field): one run -> its accuracy ± its CI over episodes (n = episodes); several runs (seeds) ->
mean over runs ± 95 % t-interval over the run accuracies (`compare.t_interval`, n = runs, shown
as "n seeds"). Nothing is dropped. Two multi-seed cells are paired seed by seed (same seeds,
same episode set per seed): the paired difference is the t-interval of the per-seed differences.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import compare as cmp
from . import records as rec

SETTING_FIELDS = (("queries", "{}-query"), ("n_episodes", "{} episodes"), ("recipe", "recipe {}"))


@dataclass
class FewshotCell:
    row: tuple[str, str, str | None]           # method, backbone, pretrained sha256
    column: tuple                              # dataset, ways, shots, protocol, setting label
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        return len(self.records)

    @property
    def seeds(self) -> list[int]:
        return sorted({int(r["seed"]) for r in self.records})

    def interval(self) -> cmp.Interval:
        """Single run: the record's own mean and CI over episodes; several: t over runs."""
        if self.n_runs == 1:
            r = self.records[0]
            return cmp.Interval(float(r["accuracy"]), float(r["ci95"]), int(r["n_episodes"]))
        return cmp.t_interval([float(r["accuracy"]) for r in self.records])

    def entry(self) -> cmp.Entry:
        if self.n_runs == 1:
            r = self.records[0]
            loader = _episode_loader(r["_path"], r) if r.get("episode_accuracies") else None
            return cmp.Entry(key=self.row[0], mean=float(r["accuracy"]),
                             episode_set_hash=r.get("episode_set_hash"), load_episodes=loader)
        runs = tuple(sorted((int(r["seed"]), str(r.get("episode_set_hash")), float(r["accuracy"]))
                            for r in self.records))
        return cmp.Entry(key=self.row[0], mean=self.interval().mean, runs=runs)


def _episode_loader(path: str, record: dict[str, Any]):
    def load() -> np.ndarray | None:
        try:
            return rec.load_episode_accuracies(path, record)
        except rec.RecordError as e:
            from .load import RecordWarning

            warnings.warn(f"no paired comparison for {path}: {e}", RecordWarning, stacklevel=2)
            return None
    return load


def clean(record: dict[str, Any]) -> dict[str, Any]:
    """A DataFrame row back to a record: NaN (field absent from this record) removed."""
    return {k: v for k, v in record.items() if not (isinstance(v, float) and np.isnan(v))}


def _setting_label(record: dict[str, Any], varying: list[tuple[str, str]]) -> str:
    def show(v):
        return "?" if v is None else int(v) if isinstance(v, (int, float)) else v

    return ", ".join(fmt.format(show(record.get(k))) for k, fmt in varying)


def fewshot_cells(df: pd.DataFrame) -> dict[tuple, dict[tuple, FewshotCell]]:
    """{column: {row: cell}} over few-shot records (`df` already few-shot only, see
    tables.fewshot_frame); rows and columns as in the module docstring."""
    records = [clean(r) for r in df.to_dict("records")]
    base = lambda r: (r["dataset"], int(r["ways"]), int(r["shots"]), r["protocol"])  # noqa: E731
    values: dict[tuple, dict[str, set]] = {}
    for r in records:
        for k, _ in SETTING_FIELDS:
            values.setdefault(base(r), {}).setdefault(k, set()).add(r.get(k))
    out: dict[tuple, dict[tuple, FewshotCell]] = {}
    for r in records:
        varying = [(k, fmt) for k, fmt in SETTING_FIELDS if len(values[base(r)][k]) > 1]
        col = base(r) + (_setting_label(r, varying),)
        row = (r["method"], r["backbone"], r.get("pretrained_sha256"))
        out.setdefault(col, {}).setdefault(row, FewshotCell(row, col)).records.append(r)
    for cells in out.values():
        for cell in cells.values():
            cell.records.sort(key=lambda r: (int(r["seed"]), str(r.get("episode_set_hash"))))
            if len(cell.seeds) != cell.n_runs:
                warnings.warn(_repeated_seed_message(cell), _record_warning(), stacklevel=2)
    return out


def _record_warning():
    from .load import RecordWarning

    return RecordWarning


def _repeated_seed_message(cell: FewshotCell) -> str:
    d, w, s, p, _ = cell.column
    return (f"{cell.row[0]} {d} {w}-way {s}-shot {p}: {cell.n_runs} runs but only "
            f"{len(cell.seeds)} distinct seed(s) (same seed on different episode sets); "
            "all are averaged as runs")


def sorted_columns(cells: dict[tuple, Any]) -> list[tuple]:
    return sorted(cells, key=lambda k: (k[0], int(k[1]), int(k[2]), k[3], k[4]))


def show_sha(df: pd.DataFrame) -> bool:
    """True when one (method, backbone) was run with several pretrained files."""
    if "pretrained_sha256" not in df.columns:
        return False
    sub = df[["method", "backbone"]].assign(sha=df["pretrained_sha256"].astype(str))
    return bool((sub.groupby(["method", "backbone"])["sha"].nunique() > 1).any())
