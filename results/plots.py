"""Accuracy-vs-shots plots (matplotlib, Agg backend), PNG + SVG, written atomically.

- `fewshot_<dataset>.{png,svg}`: one subplot per (ways, protocol); x = shots, y = accuracy (%),
  one line per method, error bars = the record's 95 % CI half-width (several seeds: mean ±
  t-interval over seeds, as in the table).
- `cost_<dataset>.{png,svg}`: accuracy vs GFLOPs per view, one subplot per (ways, protocol), one point
  per method and shot count (marker per method, the shot count written beside it), error bars as in
  the few-shot plot; x = the record's `gflops_per_view` (log scale where it spans more than a decade),
  records without it are left out.
- `allway_<dataset>.{png,svg}`: x = K, y = mean top-1 over folds, error bars = 95 % t-interval
  (none for n = 1); a dashed horizontal line per method for its full-supervised top-1 if present.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from zeroi2v.utils.io import atomic_path

from . import aggregate as agg
from . import compare as cmp
from . import records as rec
from .tables import fewshot_frame, method_order

IMAGE_FORMATS = ("png", "svg")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    written = []
    for ext in IMAGE_FORMATS:
        path = out_dir / f"{stem}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        written.append(path)
    return written


def _label(method: str, backbone: str, multi: bool, kind: str = "fewshot") -> str:
    label = rec.method_label(method, kind)
    return f"{label} ({backbone})" if multi else label


def _style(ax, shots, *, title: str, xlabel: str, ylabel: str) -> None:
    """Log-2 shot axis ticked at the shots present, labels, grid, legend."""
    ticks = sorted(int(k) for k in set(shots))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _panel_figures(plt, cells, *, width: float, height: float):
    """One figure per few-shot dataset with one panel per (ways, protocol, setting): yields (dataset,
    fig, [(ax, ways, protocol, setting, cols, rows in method order)]); unused axes are hidden."""
    for dataset in sorted({c[0] for c in cells}):
        panels = sorted({(c[1], c[3], c[4]) for c in cells if c[0] == dataset})
        ncols = min(3, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
        out = []
        for ax, (ways, protocol, setting) in zip(axes.flat, panels):
            cols = sorted((c for c in cells if c[0] == dataset and (c[1], c[3], c[4]) == (ways, protocol, setting)),
                          key=lambda c: c[2])
            rows = {r for c in cols for r in cells[c]}
            order = method_order([r[0] for r in rows])
            out.append((ax, ways, protocol, setting, cols,
                        sorted(rows, key=lambda r: (order.index(r[0]), r[1], str(r[2])))))
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        yield dataset, fig, out


def plot_fewshot(records: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One figure per few-shot dataset; returns the written files. Several seeds of a point:
    their mean ± t-interval over seeds (as in the table)."""
    df = fewshot_frame(records)
    if df.empty:
        return []
    plt = _pyplot()
    out_dir = Path(out_dir)
    written: list[Path] = []
    multi = df["backbone"].nunique() > 1
    sha = agg.show_sha(df)
    cells = agg.fewshot_cells(df)
    for dataset, fig, panels in _panel_figures(plt, cells, width=4.2, height=3.4):
        for ax, ways, protocol, setting, cols, rows in panels:
            for row in rows:
                pts = [(c[2], cells[c][row].interval()) for c in cols if row in cells[c]]
                label = _label(row[0], row[1], multi) + (f" [{str(row[2])[:8]}]" if sha else "")
                ax.errorbar([k for k, _ in pts], [iv.mean for _, iv in pts],
                            yerr=[iv.half_width or 0.0 for _, iv in pts], marker="o", capsize=3,
                            label=label)
            title = f"{dataset}: {ways}-way, {protocol}" + (f", {setting}" if setting else "")
            _style(ax, [c[2] for c in cols], title=title, xlabel="shots",
                   ylabel="accuracy (%) ± 95% CI")
        fig.tight_layout()
        written += _save(fig, out_dir, f"fewshot_{_safe(dataset)}")
        plt.close(fig)
    return written


MARKERS = "osD^vP*Xh<>"


def plot_cost(records: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Accuracy vs GFLOPs per view: one figure per few-shot dataset; returns the written files."""
    df = fewshot_frame(records)
    if df.empty or "gflops_per_view" not in df.columns:
        return []
    df = df[df["gflops_per_view"].notna()]
    if df.empty:
        return []
    plt = _pyplot()
    out_dir = Path(out_dir)
    written: list[Path] = []
    multi = df["backbone"].nunique() > 1
    cells = agg.fewshot_cells(df)
    for dataset, fig, panels in _panel_figures(plt, cells, width=4.6, height=3.6):
        for ax, ways, protocol, setting, cols, rows in panels:
            for i, row in enumerate(rows):
                pts = [(c[2], cells[c][row]) for c in cols if row in cells[c]]
                xs = [float(pd.Series([r["gflops_per_view"] for r in cell.records]).mean()) for _, cell in pts]
                ivs = [cell.interval() for _, cell in pts]
                ax.errorbar(xs, [iv.mean for iv in ivs], yerr=[iv.half_width or 0.0 for iv in ivs], linestyle="none",
                            marker=MARKERS[i % len(MARKERS)], capsize=3, label=_label(row[0], row[1], multi))
                for x, (shots, _), iv in zip(xs, pts, ivs):
                    ax.annotate(f"{shots}-shot", (x, iv.mean), textcoords="offset points", xytext=(4, 3), fontsize=7)
            xs_all = [float(x) for line in ax.lines for x in line.get_xdata()]
            if xs_all and max(xs_all) > 10 * min(xs_all):  # log scale where the costs span over a decade
                ax.set_xscale("log")
            ax.set_title(f"{dataset}: {ways}-way, {protocol}" + (f", {setting}" if setting else ""))
            ax.set_xlabel("GFLOPs per view (inference model)")
            ax.set_ylabel("accuracy (%) ± 95% CI")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        written += _save(fig, out_dir, f"cost_{_safe(dataset)}")
        plt.close(fig)
    return written


def plot_allway(records: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One figure per all-way dataset (top-1 vs K); returns the written files."""
    if records.empty:
        return []
    aw = records[records["kind"] == "kshot-allway"].copy()
    if aw.empty:
        return []
    aw["shots"] = aw["shots"].astype(int)
    full = records[records["kind"] == "full"]
    plt = _pyplot()
    out_dir = Path(out_dir)
    written: list[Path] = []
    multi = pd.concat([aw, full])["backbone"].nunique() > 1
    for dataset, dsub in aw.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(4.8, 3.6))
        for method in method_order(list(dsub["method"].unique())):
            for backbone, msub in dsub[dsub["method"] == method].groupby("backbone"):
                ks, means, errs = [], [], []
                for k, ksub in msub.groupby("shots"):
                    iv = cmp.t_interval(ksub["top1"].astype(float))
                    ks.append(k)
                    means.append(iv.mean)
                    errs.append(0.0 if iv.half_width is None else iv.half_width)
                line = ax.errorbar(ks, means, yerr=errs, marker="o", capsize=3,
                                   label=_label(method, backbone, multi, "kshot-allway"))
                fsub = full[(full["dataset"] == dataset) & (full["method"] == method)
                            & (full["backbone"] == backbone)]
                if not fsub.empty:
                    ax.axhline(float(fsub["top1"].astype(float).mean()), linestyle="--",
                               color=line.lines[0].get_color(), alpha=0.6)
        _style(ax, dsub["shots"], title=f"{dataset}: all-way K-shot (dashed: full)", xlabel="K (shots per class)",
               ylabel="top-1 (%) ± 95% t-interval")
        fig.tight_layout()
        written += _save(fig, out_dir, f"allway_{_safe(dataset)}")
        plt.close(fig)
    return written


def write_plots(records: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Every plot the records allow, written under `out_dir`."""
    return plot_fewshot(records, out_dir) + plot_cost(records, out_dir) + plot_allway(records, out_dir)
