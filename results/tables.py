"""Build the result tables (format-independent) from the records DataFrame and benchmark docs.

Tables:
- `fewshot_table`     episodic few-shot: rows = methods, columns = dataset x ways x shots x
                      protocol (x queries / episodes where they vary), cells = accuracy ± CI95
                      from the record (1.96·std/sqrt(episodes)) or, over several seeds, mean ±
                      t-interval over seeds (n seeds shown); best entry marked by
                      `compare.significant_best`.
- `paired_table`      paired differences between methods on the same episode set.
- `allway_table`      all-way K-shot: rows = methods, columns = dataset x K (plus the
                      full-supervised top-1 of the same dataset), cells = mean top-1 over folds
                      ± t-interval; n = 1 is shown as "(n=1)" with no interval.
- `full_table`        full-supervised: top-1/top-5 before and after merging, views, GFLOPs,
                      params; several seeds -> mean ± t-interval, "Seeds" column gives n.
- `efficiency_table`  from benchmark JSON documents (zeroi2v-bench/1 and /2).
Duplicated records (every identity field equal) are resolved before (see `load.dedupe`: newest
wins); seeds are aggregated, never dropped (see `aggregate`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import aggregate as agg
from . import compare as cmp
from . import notes
from . import records as rec


@dataclass(frozen=True)
class Cell:
    """One table cell: a mean with optional 95 % CI half-width, or preformatted text."""

    mean: float | None = None
    half_width: float | None = None
    n: int | None = None
    bold: bool = False
    text: str | None = None
    n_seeds: int | None = None             # several runs aggregated (mean ± t over seeds)


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


def with_variant(df: pd.DataFrame) -> pd.DataFrame:
    """Add `_variant`: what else tells apart runs of one (dataset, method, backbone) that are not
    replicates -- the pretrained file (sha256), the test views and the recipe, named only where they vary."""
    df = df.copy()
    sha = _present(df, "pretrained_sha256").map(lambda h: h[:8] if isinstance(h, str) else "none")
    views = _present(df, "views").map(lambda v: v if isinstance(v, str) else "?")
    recipe = _present(df, "recipe").map(lambda v: v if isinstance(v, str) else "none")
    data = _present(df, "data_sha256").map(lambda h: h[:8] if isinstance(h, str) else "?")
    group = [df["dataset"], df["method"], df["backbone"]]
    many = [part.groupby(group).transform("nunique") > 1 for part in (sha, views, recipe, data)]
    df["_variant"] = [", ".join(([f"weights {h}"] if ms else []) + ([f"{v} views"] if mv else [])
                                + ([f"recipe {r}"] if mr else []) + ([f"data {d}"] if md else []))
                      for h, v, r, d, ms, mv, mr, md in zip(sha, views, recipe, data, *many)]
    return df


def _variant_keys(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    triples = set(zip(df["method"], df["backbone"], df["_variant"]))
    order = method_order([m for m, _, _ in triples])
    return sorted(triples, key=lambda p: (order.index(p[0]), p[1], p[2]))


def _select(df: pd.DataFrame, key: tuple[str, str, str]) -> pd.DataFrame:
    m, b, v = key
    return df[(df["method"] == m) & (df["backbone"] == b) & (df["_variant"] == v)]


def _variant_label(key: tuple[str, str, str], *, show_backbone: bool) -> str:
    label = _row_label(key[0], key[1], show_backbone=show_backbone)
    return f"{label} [{key[2]}]" if key[2] else label


# ----------------------------------------------------------------------------- few-shot

FEWSHOT_NOTE = (
    "Cells: mean accuracy (%) over test episodes ± 95% CI half-width, 1.96·std/sqrt(n episodes). "
    "Cells marked 'n seeds': several runs (seeds) of the same setting, mean over the runs ± 95% "
    "t-interval over the run accuracies, t(0.975, n-1)·s/sqrt(n). "
    "Bold: highest mean whose paired 95% CI (per-episode differences on the same episode set, "
    "1.96·std/sqrt(n); seed-aggregated cells: per-seed differences, t-interval) excludes 0 "
    "against every other method in the column; without paired data nothing is bold (overlap of "
    "unpaired CIs is not used). A measurement run more than once (every identity field equal, "
    "seed included): the newest record is used."
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


def _column_header(col: tuple) -> tuple[str, ...]:
    d, w, s, p, setting = col
    return (d, f"{w}-way", f"{s}-shot", p) + ((setting,) if setting else ())


def _fs_label(row: tuple, *, show_backbone: bool, sha: bool) -> str:
    m, b, h = row[:3]
    label = _row_label(m, b, show_backbone=show_backbone)
    if sha:
        label += f" [weights {str(h)[:8] if h else 'none'}]"
    if len(row) > 3 and row[3]:
        label += f" [{row[3]}]"  # model / settings hashes where one method ran with several
    return label


def _fs_rows(cells: dict[tuple, dict[tuple, agg.FewshotCell]]) -> list[tuple]:
    rows = {r for col in cells.values() for r in col}
    order = method_order([r[0] for r in rows])
    return sorted(rows, key=lambda r: (order.index(r[0]), r[1], str(r[2]), str(r[3:])))


def fewshot_table(df: pd.DataFrame) -> Table | None:
    df = fewshot_frame(df)
    if df.empty:
        return None
    cells = agg.fewshot_cells(df)
    columns = agg.sorted_columns(cells)
    depth = max(len(_column_header(c)) for c in columns)
    show_bb, sha = df["backbone"].nunique() > 1, agg.show_sha(df)
    table = Table(
        name="fewshot", title="Episodic few-shot accuracy (%)", row_header=["Method"],
        columns=[_column_header(c) + ("",) * (depth - len(_column_header(c))) for c in columns],
        footnotes=[FEWSHOT_NOTE])
    best: dict[tuple, tuple | None] = {}
    for col in columns:
        keys = list(cells[col])
        i = cmp.significant_best([cells[col][k].entry() for k in keys])
        best[col] = None if i is None else keys[i]
    for row in _fs_rows(cells):
        rows_records = [r for col in columns for r in (cells[col][row].records if row in cells[col] else [])]
        out = []
        for col in columns:
            cell = cells[col].get(row)
            if cell is None:
                out.append(MISSING)
                continue
            iv = cell.interval()
            out.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n,
                            n_seeds=cell.n_runs if cell.n_runs > 1 else None,
                            bold=best[col] == row))
        table.rows.append(((notes.mark(_fs_label(row, show_backbone=show_bb, sha=sha), rows_records, table.footnotes),),
                           out))
    return table


def paired_table(df: pd.DataFrame) -> Table | None:
    """Every pair of methods in a few-shot column that share the episode set and have
    per-episode accuracies (or, aggregated over seeds, the same seeds and episode sets):
    difference (later row minus earlier row) ± paired 95 % CI."""
    df = fewshot_frame(df)
    if df.empty:
        return None
    cells = agg.fewshot_cells(df)
    show_bb, sha = df["backbone"].nunique() > 1, agg.show_sha(df)
    table = Table(
        name="fewshot_paired", title="Paired differences on the same episode set (accuracy points)",
        row_header=["Dataset", "Ways", "Shots", "Protocol", "Comparison"],
        columns=[("Difference",), ("Episodes",), ("Significant",)],
        footnotes=["Difference A - B: mean of per-episode accuracy differences ± "
                   "1.96·std/sqrt(n episodes) (std with ddof=1). Only runs on the same episode "
                   "set (same hash) with per-episode accuracies are paired; others are omitted. "
                   "Seed-aggregated cells: mean of per-seed differences ± t-interval over seeds "
                   "('n seeds' in the Episodes column)."])
    rows = _fs_rows(cells)
    for col in agg.sorted_columns(cells):
        order = [r for r in rows if r in cells[col]]
        for b_key, a_key in itertools.combinations(order, 2):
            a, b = cells[col][a_key], cells[col][b_key]
            diff = cmp.compare(a.entry(), b.entry())
            if diff is None:
                continue
            label = (f"{_fs_label(a_key, show_backbone=show_bb, sha=sha)} - "
                     f"{_fs_label(b_key, show_backbone=show_bb, sha=sha)}")
            seeds = a.n_runs > 1
            protocol = col[3] + (f" ({col[4]})" if col[4] else "")
            table.rows.append((
                (str(col[0]), str(col[1]), str(col[2]), protocol, label),
                [Cell(mean=diff.mean, half_width=diff.half_width, n=diff.n),
                 Cell(text=f"{diff.n} seeds" if seeds else str(diff.n)),
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
    both = with_variant(pd.concat([aw, full]))
    aw, full = both[both["kind"] == "kshot-allway"], both[both["kind"] == "full"]
    show_bb = both["backbone"].nunique() > 1
    table = Table(name="allway", title="All-way K-shot top-1 accuracy (%)",
                  row_header=["Method"], columns=columns, footnotes=[ALLWAY_NOTE])
    for row in _variant_keys(both):
        cells = []
        for what, key, _ in specs:
            if what == "allway":
                d, k, p = key
                sel = _select(aw, row)
                sel = sel[(sel["dataset"] == d) & (sel["shots"].astype(int) == k)
                          & (sel["protocol"] == p)]
            else:
                sel = _select(full, row)
                sel = sel[sel["dataset"] == key]
            if sel.empty:
                cells.append(MISSING)
                continue
            iv = cmp.t_interval(sel["top1"].astype(float))
            cells.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n))
        table.rows.append(((_variant_label(row, show_backbone=show_bb),), cells))
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
    full = with_variant(full)
    tested = []
    for dataset in sorted(full["dataset"].unique()):
        sub = full[full["dataset"] == dataset]
        for row in _variant_keys(sub):
            sel = _select(sub, row).sort_values(["created", "_path"])
            last = sel.iloc[-1]
            cells = []
            for metric in ("top1", "top5", "top1_merged", "top5_merged"):
                iv = cmp.t_interval(sel[metric].astype(float))
                cells.append(Cell(mean=iv.mean, half_width=iv.half_width))
            views = sorted(set(map(str, sel["views"])))
            cells += [
                Cell(text=str(sel["seed"].nunique()) if sel["seed"].nunique() == len(sel)
                     else f"{len(sel)} runs, {sel['seed'].nunique()} seeds"),
                Cell(text="/".join(views)),
                Cell(text=_fmt_num(last.get("gflops_per_view"))),
                Cell(text=_fmt_num(last.get("params_total"), scale=1e6)),
                Cell(text=_fmt_num(last.get("params_new"), scale=1e6)),
            ]
            label = _variant_label(row, show_backbone=show_bb)
            config = last.get("config") if isinstance(last.get("config"), dict) else {}
            tested.append((f"{dataset} {label}", last.get("keep"), last.get("tested_epoch"), config.get("epochs")))
            table.rows.append(((str(dataset), notes.mark(label, sel.to_dict("records"), table.footnotes)), cells))
    note = notes.tested_note(tested)
    if note:
        table.footnotes.append(note)
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
