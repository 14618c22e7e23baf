"""Build the result tables (format-independent) from the records DataFrame and benchmark docs.

Tables:
- `fewshot_table`     episodic few-shot: rows = methods, columns = dataset x ways x shots x
                      protocol, cells = accuracy ± CI95 from the record (1.96·std/sqrt(episodes)),
                      best entry marked by `compare.significant_best`.
- `paired_table`      paired differences between methods on the same episode set.
- `allway_table`      all-way K-shot: rows = methods, columns = dataset x K (plus the
                      full-supervised top-1 of the same dataset), cells = mean top-1 over folds
                      ± t-interval; n = 1 is shown as "(n=1)" with no interval.
- `full_table`        full-supervised: top-1/top-5 before and after merging, views, GFLOPs,
                      params; several seeds -> mean ± t-interval, "Seeds" column gives n.
- `efficiency_table`  from benchmark JSON documents (zeroi2v-bench/1).
Duplicated records are resolved before (see `load.dedupe`: newest wins).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import compare as cmp
from . import records as rec


@dataclass(frozen=True)
class Cell:
    """One table cell: a mean with optional 95 % CI half-width, or preformatted text."""

    mean: float | None = None
    half_width: float | None = None
    n: int | None = None
    bold: bool = False
    text: str | None = None


MISSING = Cell()


@dataclass
class Table:
    name: str                              # file stem, e.g. "fewshot"
    title: str
    row_header: list[str]                  # names of the row-label columns
    columns: list[tuple[str, ...]]         # multi-level column headers, all the same depth
    rows: list[tuple[tuple[str, ...], list[Cell]]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)

    def cell(self, row: int, col: int) -> Cell:
        return self.rows[row][1][col]


# ----------------------------------------------------------------------------- helpers

def method_order(methods: Sequence[str]) -> list[str]:
    """Known methods in records.METHODS order, then the others alphabetically."""
    known = [m for m in rec.METHODS if m in methods]
    return known + sorted(set(methods) - set(known))


def _row_keys(df: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = set(zip(df["method"], df["backbone"]))
    order = method_order([m for m, _ in pairs])
    return sorted(pairs, key=lambda p: (order.index(p[0]), p[1]))


def _row_label(method: str, backbone: str, *, show_backbone: bool) -> str:
    label = rec.METHOD_LABELS.get(method, method)
    return f"{label} ({backbone})" if show_backbone else label


def _fmt_num(x: Any, *, scale: float = 1.0, suffix: str = "") -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "--"
    v = float(x) / scale
    if v == 0:
        return f"0{suffix}"
    if abs(v) >= 100:
        s = f"{v:.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    elif abs(v) >= 0.01:
        s = f"{v:.2f}"
    else:
        s = f"{v:.2g}"
    return s + suffix


def _present(df: pd.DataFrame, col: str) -> pd.Series:
    return df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index)


def _episode_loader(path: str, record: dict[str, Any]):
    def load() -> np.ndarray | None:
        try:
            return rec.load_episode_accuracies(path, record)
        except rec.RecordError as e:
            import warnings

            from .load import RecordWarning

            warnings.warn(f"no paired comparison for {path}: {e}", RecordWarning, stacklevel=2)
            return None
    return load


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not (isinstance(v, float) and np.isnan(v))}


# ----------------------------------------------------------------------------- few-shot

FEWSHOT_NOTE = (
    "Cells: mean accuracy (%) over test episodes ± 95% CI half-width, 1.96·std/sqrt(n episodes). "
    "Bold: highest mean whose paired 95% CI (per-episode differences on the same episode set, "
    "1.96·std/sqrt(n)) excludes 0 against every other method in the column; without paired "
    "per-episode data nothing is bold (overlap of unpaired CIs is not used). "
    "A cell run more than once: the newest record is used."
)


def fewshot_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Few-shot rows only, with integer ways/shots (mixed kinds make these columns float)."""
    if df.empty:
        return df
    fs = df[df["kind"] == "fewshot"].copy()
    if fs.empty:
        return fs
    for col in ("ways", "shots", "n_episodes"):
        fs[col] = fs[col].astype(int)
    return fs


def _fewshot_columns(df: pd.DataFrame) -> list[tuple]:
    keys = df[["dataset", "ways", "shots", "protocol"]].drop_duplicates()
    return sorted(map(tuple, keys.itertuples(index=False)),
                  key=lambda k: (k[0], int(k[1]), int(k[2]), k[3]))


def fewshot_entries(df: pd.DataFrame) -> dict[tuple, dict[tuple[str, str], cmp.Entry]]:
    """Per few-shot column key, the comparison entry of each (method, backbone) row."""
    out: dict[tuple, dict[tuple[str, str], cmp.Entry]] = {}
    for _, r in df.iterrows():
        record = _clean(r.to_dict())
        col = (record["dataset"], record["ways"], record["shots"], record["protocol"])
        loader = (_episode_loader(record["_path"], record)
                  if record.get("episode_accuracies") else None)
        out.setdefault(col, {})[(record["method"], record["backbone"])] = cmp.Entry(
            key=record["method"], mean=float(record["accuracy"]),
            episode_set_hash=record.get("episode_set_hash"), load_episodes=loader)
    return out


def fewshot_table(df: pd.DataFrame) -> Table | None:
    df = fewshot_frame(df)
    if df.empty:
        return None
    columns = _fewshot_columns(df)
    rows = _row_keys(df)
    show_bb = df["backbone"].nunique() > 1
    entries = fewshot_entries(df)
    best: dict[tuple, tuple[str, str] | None] = {}
    for col in columns:
        keys = list(entries[col])
        i = cmp.significant_best([entries[col][k] for k in keys])
        best[col] = None if i is None else keys[i]
    by_cell = {(r["method"], r["backbone"], r["dataset"], r["ways"], r["shots"], r["protocol"]): r
               for _, r in df.iterrows()}
    table = Table(
        name="fewshot", title="Episodic few-shot accuracy (%)", row_header=["Method"],
        columns=[(d, f"{w}-way", f"{s}-shot", p) for d, w, s, p in columns],
        footnotes=[FEWSHOT_NOTE])
    for m, b in rows:
        cells = []
        for col in columns:
            r = by_cell.get((m, b, *col))
            if r is None:
                cells.append(MISSING)
                continue
            cells.append(Cell(mean=float(r["accuracy"]), half_width=float(r["ci95"]),
                              n=int(r["n_episodes"]), bold=best[col] == (m, b)))
        table.rows.append(((_row_label(m, b, show_backbone=show_bb),), cells))
    return table


def paired_table(df: pd.DataFrame) -> Table | None:
    """Every pair of methods in a few-shot column that share the episode set and have
    per-episode accuracies: difference (later row minus earlier row) ± paired 95 % CI."""
    df = fewshot_frame(df)
    if df.empty:
        return None
    entries = fewshot_entries(df)
    show_bb = df["backbone"].nunique() > 1
    table = Table(
        name="fewshot_paired", title="Paired differences on the same episode set (accuracy points)",
        row_header=["Dataset", "Ways", "Shots", "Protocol", "Comparison"],
        columns=[("Difference",), ("Episodes",), ("Significant",)],
        footnotes=["Difference A - B: mean of per-episode accuracy differences ± "
                   "1.96·std/sqrt(n episodes) (std with ddof=1). Only runs on the same episode "
                   "set (same hash) with per-episode accuracies are paired; others are omitted."])
    for col in _fewshot_columns(df):
        col_entries = entries[col]
        order = [k for k in _row_keys(df) if k in col_entries]
        for b_key, a_key in itertools.combinations(order, 2):
            diff = cmp.compare(col_entries[a_key], col_entries[b_key])
            if diff is None:
                continue
            label = (f"{_row_label(*a_key, show_backbone=show_bb)} - "
                     f"{_row_label(*b_key, show_backbone=show_bb)}")
            table.rows.append((
                (str(col[0]), str(col[1]), str(col[2]), str(col[3]), label),
                [Cell(mean=diff.mean, half_width=diff.half_width, n=diff.n),
                 Cell(text=str(diff.n)),
                 Cell(text="yes" if diff.excludes_zero() else "no")]))
    return table if table.rows else None


# ----------------------------------------------------------------------------- all-way K-shot

ALLWAY_NOTE = (
    "Cells: mean top-1 (%) over folds ± 95% t-interval, t(0.975, n-1)·s/sqrt(n); "
    "'(n=1)': a single fold, no interval. 'full': full-supervised top-1 of the same dataset "
    "(mean over seeds, same interval). No entry is marked best: a few folds give no reliable "
    "significance test. A fold run more than once: the newest record is used."
)


def allway_table(df: pd.DataFrame) -> Table | None:
    if df.empty:
        return None
    aw = df[df["kind"] == "kshot-allway"]
    if aw.empty:
        return None
    full = df[(df["kind"] == "full") & df["dataset"].isin(set(aw["dataset"]))]
    multi_proto = aw["protocol"].nunique() > 1
    col_keys = sorted(set(zip(aw["dataset"], aw["shots"].astype(int), aw["protocol"])))
    columns: list[tuple[str, ...]] = []
    specs: list[tuple[str, Any, Any]] = []
    for dataset in sorted({k[0] for k in col_keys}):
        for d, k, p in (c for c in col_keys if c[0] == dataset):
            columns.append((d, f"K={k}" + (f" {p}" if multi_proto else "")))
            specs.append(("allway", (d, k, p), None))
        if (full["dataset"] == dataset).any():
            columns.append((dataset, "full"))
            specs.append(("full", dataset, None))
    both = pd.concat([aw, full])
    show_bb = both["backbone"].nunique() > 1
    table = Table(name="allway", title="All-way K-shot top-1 accuracy (%)",
                  row_header=["Method"], columns=columns, footnotes=[ALLWAY_NOTE])
    for m, b in _row_keys(both):
        cells = []
        for what, key, _ in specs:
            if what == "allway":
                d, k, p = key
                sel = aw[(aw["method"] == m) & (aw["backbone"] == b) & (aw["dataset"] == d)
                         & (aw["shots"].astype(int) == k) & (aw["protocol"] == p)]
            else:
                sel = full[(full["method"] == m) & (full["backbone"] == b)
                           & (full["dataset"] == key)]
            if sel.empty:
                cells.append(MISSING)
                continue
            iv = cmp.t_interval(sel["top1"].astype(float))
            cells.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n))
        table.rows.append(((_row_label(m, b, show_backbone=show_bb),), cells))
    return table


# ----------------------------------------------------------------------------- full-supervised

FULL_NOTE = (
    "Top-1/Top-5 (%) before and after merging the adapters into the backbone. Several seeds: "
    "mean ± 95% t-interval over seeds (n in 'Seeds'); one seed: no interval. GFLOPs per view; "
    "total compute = GFLOPs x views. Params in millions; new = parameters added to the image "
    "model at inference. A seed run more than once: the newest record is used."
)


def full_table(df: pd.DataFrame) -> Table | None:
    full = df[df["kind"] == "full"] if not df.empty else df
    if full.empty:
        return None
    show_bb = full["backbone"].nunique() > 1
    table = Table(
        name="full", title="Full-supervised results", row_header=["Dataset", "Method"],
        columns=[("Top-1",), ("Top-5",), ("Top-1 merged",), ("Top-5 merged",), ("Seeds",),
                 ("Views",), ("GFLOPs/view",), ("Params (M)",), ("New params (M)",)],
        footnotes=[FULL_NOTE])
    for dataset in sorted(full["dataset"].unique()):
        sub = full[full["dataset"] == dataset]
        for m, b in _row_keys(sub):
            sel = sub[(sub["method"] == m) & (sub["backbone"] == b)].sort_values("created")
            last = sel.iloc[-1]
            cells = []
            for metric in ("top1", "top5", "top1_merged", "top5_merged"):
                iv = cmp.t_interval(sel[metric].astype(float))
                cells.append(Cell(mean=iv.mean, half_width=iv.half_width))
            views = sorted(set(map(str, sel["views"])))
            cells += [
                Cell(text=str(len(sel))),
                Cell(text="/".join(views)),
                Cell(text=_fmt_num(last.get("gflops_per_view"))),
                Cell(text=_fmt_num(last.get("params_total"), scale=1e6)),
                Cell(text=_fmt_num(last.get("params_new"), scale=1e6)),
            ]
            table.rows.append(((str(dataset), _row_label(m, b, show_backbone=show_bb)), cells))
    return table


# ----------------------------------------------------------------------------- efficiency

def efficiency_table(bench: Sequence[dict[str, Any]]) -> Table | None:
    docs = [d for d in bench if d.get("models")]
    if not docs:
        return None
    table = Table(
        name="efficiency", title="Inference efficiency (benchmark)",
        row_header=["Backbone", "Device", "Model"],
        columns=[("Params (M)",), ("New params (M)",), ("GFLOPs",), ("Latency ms",),
                 ("Throughput",), ("Peak mem (MB)",), ("Latency ratio",), ("FLOPs ratio",)],
        footnotes=["Latency: median (IQR) over timed runs; throughput in clips/s; ratios "
                   "relative to the plain image model. Source: " + ", ".join(
                       f"{Path(d['_path']).name if '_path' in d else 'bench'} "
                       f"({d.get('machine', '?')}, {d.get('frames', '?')} frames, "
                       f"batch {d.get('batch', '?')})" for d in docs)])
    for d in docs:
        for m in d["models"]:
            lat = m.get("latency_ms_median")
            lat_txt = "--" if lat is None else (
                f"{_fmt_num(lat)} (IQR {_fmt_num(m.get('latency_ms_iqr'))})")
            table.rows.append((
                (str(d.get("backbone", "?")), str(d.get("device", "?")), str(m.get("name", "?"))),
                [Cell(text=_fmt_num(m.get("params"), scale=1e6)),
                 Cell(text=_fmt_num(m.get("new_params"), scale=1e6)),
                 Cell(text=_fmt_num(m.get("gflops"))),
                 Cell(text=lat_txt),
                 Cell(text=_fmt_num(m.get("throughput"))),
                 Cell(text=_fmt_num(m.get("peak_mem_mb"))),
                 Cell(text=_fmt_num(m.get("latency_ratio"))),
                 Cell(text=_fmt_num(m.get("flops_ratio")))]))
    return table


def build_tables(records: pd.DataFrame, bench: Sequence[dict[str, Any]] = ()) -> list[Table]:
    """All non-empty tables, in reading order."""
    if records.empty:
        built = [efficiency_table(bench)]
    else:
        built = [fewshot_table(records), paired_table(records), allway_table(records),
                 full_table(records), efficiency_table(bench)]
    return [t for t in built if t is not None]
