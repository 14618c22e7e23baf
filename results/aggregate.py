"""Few-shot cells: the records of one (row, column) of the few-shot table, aggregated over seeds.

A row is (method, backbone, image weights, variant) -- the weights' sha256, or for weights trained
per seed (the toy ViT) `pretrained_generated`, so those seeds share a row -- the variant naming the model and settings
(`model_sha256`, `settings_sha256`) where one (method, backbone, weights) has several; a column is
(dataset, ways, shots, protocol) plus the evaluation setting (queries, number of episodes, recipe,
data) when the records of that column disagree on it -- records that differ there are different
measurements and get different columns, never one cell: different data (`data_sha256`) above all.

Inside a cell the runs are counted from the seed field: the records of one seed are one run (a
seed evaluated on several episode sets: their episodes pooled, mean and CI over all of them, with
a warning). One seed -> its accuracy ± its CI over episodes (n = episodes); several seeds -> mean
over the per-seed accuracies ± 95 % t-interval (`compare.t_interval`, n = seeds, shown as
"n seeds"). Nothing is dropped. Two multi-seed cells are paired seed by seed (same seeds, same
episode set per seed): the paired difference is the t-interval of the per-seed differences.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import compare as cmp
from . import records as rec

SETTING_FIELDS = (("queries", "{}-query"), ("n_episodes", "{} episodes"), ("recipe", "recipe {}"),
                  ("data_sha256", "data {}"))
VARIANT_FIELDS = (("model_sha256", "model"), ("settings_sha256", "settings"))


@dataclass
class FewshotCell:
    row: tuple[str, str, str | None, str]      # method, backbone, pretrained sha256, variant label
    column: tuple                              # dataset, ways, shots, protocol, setting label
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        """Runs = distinct seeds (the seed field, not the number of record files)."""
        return len(self.seeds)

    @property
    def seeds(self) -> list[int]:
        return sorted({int(r["seed"]) for r in self.records})

    def by_seed(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for r in self.records:
            out.setdefault(int(r["seed"]), []).append(r)
        return out

    def seed_interval(self, records: list[dict[str, Any]]) -> cmp.Interval:
        """One seed's mean and CI over its episodes (several episode sets: all episodes pooled)."""
        if len(records) == 1:
            r = records[0]
            return cmp.Interval(float(r["accuracy"]), float(r["ci95"]), int(r["n_episodes"]))
        n = np.array([float(r["n_episodes"]) for r in records])
        m = np.array([float(r["accuracy"]) for r in records])
        sd = np.array([float(r["std"]) if r.get("std") is not None
                       else float(r["ci95"]) * np.sqrt(nr) / 1.96 for r, nr in zip(records, n)])
        total, mean = n.sum(), float((n * m).sum() / n.sum())
        ss = ((n - 1) * sd**2 + n * (m - mean) ** 2).sum()  # pooled sum of squares about the mean
        std = float(np.sqrt(ss / max(total - 1, 1)))
        return cmp.Interval(mean, 1.96 * std / float(np.sqrt(total)), int(total))

    def interval(self) -> cmp.Interval:
        """One seed: its mean and CI over episodes; several: t over the per-seed accuracies."""
        runs = self.by_seed()
        if len(runs) == 1:
            return self.seed_interval(next(iter(runs.values())))
        return cmp.t_interval([self.seed_interval(rs).mean for _, rs in sorted(runs.items())])

    def entry(self) -> cmp.Entry:
        if self.n_runs == 1 and len(self.records) == 1:
            r = self.records[0]
            loader = _episode_loader(r["_path"], r) if r.get("episode_accuracies") else None
            return cmp.Entry(key=self.row[0], mean=float(r["accuracy"]),
                             episode_set_hash=r.get("episode_set_hash"), load_episodes=loader)
        runs = tuple(sorted((seed, ",".join(sorted(str(r.get("episode_set_hash")) for r in rs)),
                             self.seed_interval(rs).mean) for seed, rs in self.by_seed().items()))
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


def _show(v):
    if v is None:
        return "?"
    if isinstance(v, (int, float)):
        return int(v)
    return v[:8] if len(v) == 64 and all(c in "0123456789abcdef" for c in v) else v  # a sha256: its prefix


def _setting_label(record: dict[str, Any], varying: list[tuple[str, str]]) -> str:
    return ", ".join(fmt.format(_show(record.get(k))) for k, fmt in varying)


def fewshot_cells(df: pd.DataFrame) -> dict[tuple, dict[tuple, FewshotCell]]:
    """{column: {row: cell}} over few-shot records (`df` already few-shot only, see
    tables.fewshot_frame); rows and columns as in the module docstring."""
    records = [clean(r) for r in df.to_dict("records")]
    base = lambda r: (r["dataset"], int(r["ways"]), int(r["shots"]), r["protocol"])  # noqa: E731
    values: dict[tuple, dict[str, set]] = {}
    for r in records:
        for k, _ in SETTING_FIELDS:
            values.setdefault(base(r), {}).setdefault(k, set()).add(r.get(k))
    model = lambda r: (r["method"], r["backbone"], weights_key(r))  # noqa: E731
    variants: dict[tuple, dict[str, set]] = {}
    for r in records:
        for k, _ in VARIANT_FIELDS:
            variants.setdefault(model(r), {}).setdefault(k, set()).add(r.get(k))
    out: dict[tuple, dict[tuple, FewshotCell]] = {}
    for r in records:
        varying = [(k, fmt) for k, fmt in SETTING_FIELDS if len(values[base(r)][k]) > 1]
        col = base(r) + (_setting_label(r, varying),)
        variant = ", ".join(f"{name} {_show(r.get(k))}" for k, name in VARIANT_FIELDS
                            if len(variants[model(r)][k]) > 1)
        row = model(r) + (variant,)
        out.setdefault(col, {}).setdefault(row, FewshotCell(row, col)).records.append(r)
    for cells in out.values():
        for cell in cells.values():
            cell.records.sort(key=lambda r: (int(r["seed"]), str(r.get("episode_set_hash"))))
            if len(cell.records) != cell.n_runs:
                warnings.warn(_repeated_seed_message(cell), _record_warning(), stacklevel=2)
    return out


def _record_warning():
    from .load import RecordWarning

    return RecordWarning


def _repeated_seed_message(cell: FewshotCell) -> str:
    d, w, s, p, _ = cell.column
    return (f"{cell.row[0]} {d} {w}-way {s}-shot {p}: {len(cell.records)} records but only "
            f"{cell.n_runs} distinct seed(s) (same seed on different episode sets); "
            "each seed's episodes are pooled into one run")


def sorted_columns(cells: dict[tuple, Any]) -> list[tuple]:
    return sorted(cells, key=lambda k: (k[0], int(k[1]), int(k[2]), k[3], k[4]))


def weights_key(record: dict[str, Any]) -> str | None:
    """The image weights a row stands for: `pretrained_generated` for weights trained per seed (the
    toy ViT: one model drawn anew with each seed, so its seeds share a row), else the file's sha256."""
    return record.get("pretrained_generated") or record.get("pretrained_sha256")


def show_sha(df: pd.DataFrame) -> bool:
    """True when one (method, backbone) was run with several pretrained files."""
    if "pretrained_sha256" not in df.columns:
        return False
    keys = [weights_key(clean(r)) for r in df.to_dict("records")]
    sub = df[["method", "backbone"]].assign(sha=[str(k) for k in keys])
    return bool((sub.groupby(["method", "backbone"])["sha"].nunique() > 1).any())
