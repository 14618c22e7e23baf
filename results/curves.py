"""Training curves from the per-epoch `metrics.csv` files the trainers write.

Columns (docs: the trainer's metrics logger): epoch, step, lr, train_loss, train_acc, val_metric,
val_metric_name, seconds, throughput, peak_mem_mb -- an empty cell is "not measured". Files are
found anywhere under the run directories (`<out>/metrics.csv`, few-shot adaptation:
`<out>/<method>/metrics.csv`). Each file gives one figure `curves_<run>.{png,svg}` with three
panels over epochs: training loss, the validation metric (named by `val_metric_name`) and the
learning rate. A file that cannot be read is skipped with a `RecordWarning`, like a bad record.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_metric", "val_metric_name",
           "seconds", "throughput", "peak_mem_mb")
NUMERIC = tuple(c for c in COLUMNS if c != "val_metric_name")
PANELS = (("train_loss", "training loss"), ("val_metric", "validation"), ("lr", "learning rate"))


@dataclass
class Curves:
    path: Path              # the metrics.csv
    name: str               # run name: its folder relative to the run directory
    frame: pd.DataFrame     # numeric columns, one row per logged epoch, sorted by epoch

    @property
    def val_name(self) -> str:
        names = self.frame.attrs.get("val_metric_name") or []
        return names[0] if len(names) == 1 else "validation metric"


def find_metrics_files(*run_dirs: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(run dir, metrics.csv) for every metrics.csv under the run dirs (sorted)."""
    out = []
    for d in map(Path, run_dirs):
        if d.is_dir():
            out += [(d, p) for p in sorted(d.rglob("metrics.csv")) if p.is_file()]
    return out


def read_metrics(path: Path, *, name: str) -> Curves:
    """Parse one metrics.csv; ValueError with a short reason when it is not one."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ValueError(f"unreadable ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype={"val_metric_name": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise ValueError(f"not a CSV table ({str(e).splitlines()[0][:60]})") from None
    missing = [c for c in ("epoch", "lr", "train_loss") if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    for c in NUMERIC:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df = df[df["epoch"].notna()]
    if df.empty:
        raise ValueError("no rows with an epoch")
    names = sorted({str(v) for v in df.get("val_metric_name", pd.Series(dtype=str)).dropna()})
    out = df[[c for c in NUMERIC if c in df.columns]].sort_values("epoch", kind="stable").reset_index(drop=True)
    out.attrs["val_metric_name"] = names
    return Curves(path=path, name=name, frame=out)


def load_curves(*run_dirs: str | os.PathLike) -> list[Curves]:
    """Every readable metrics.csv under the run dirs; the others skipped with a warning."""
    from .load import RecordWarning

    curves = []
    for run_dir, path in find_metrics_files(*run_dirs):
        rel = path.parent.relative_to(run_dir).parts
        name = "_".join((run_dir.resolve().name, *rel))
        try:
            curves.append(read_metrics(path, name=name))
        except ValueError as e:
            warnings.warn(f"skipping {path}: {e}", RecordWarning, stacklevel=2)
    return curves


def plot_curves(curves: list[Curves], out_dir: str | Path) -> list[Path]:
    """One figure per metrics file (loss, validation metric, lr over epochs); the written files."""
    from .plots import _pyplot, _safe, _save

    if not curves:
        return []
    plt = _pyplot()
    written: list[Path] = []
    used: set[str] = set()
    for c in curves:
        stem = f"curves_{_safe(c.name)}"
        k = 2
        while stem in used:
            stem, k = f"curves_{_safe(c.name)}_{k}", k + 1
        used.add(stem)
        fig, axes = plt.subplots(1, 3, figsize=(12.6, 3.4), squeeze=False)
        for ax, (col, title) in zip(axes.flat, PANELS):
            series = c.frame[["epoch", col]].dropna() if col in c.frame.columns else pd.DataFrame()
            ax.set_title(f"{c.name}: {c.val_name if col == 'val_metric' else title}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if series.empty:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
                continue
            ax.plot(series["epoch"], series[col], marker="o", markersize=3)
            ax.set_ylabel({"train_loss": "loss", "val_metric": c.val_name, "lr": "lr"}[col])
            if col == "lr" and (series[col] > 0).all() and series[col].max() / series[col].min() > 100:
                ax.set_yscale("log")
        fig.tight_layout()
        written += _save(fig, Path(out_dir), stem)
        plt.close(fig)
    return written


def describe(curves: list[Curves]) -> str:
    """One line per run for stderr: epochs and the last loss / validation value."""
    lines = []
    for c in curves:
        last = c.frame.iloc[-1]
        val = last.get("val_metric")
        val_txt = "" if val is None or (isinstance(val, float) and math.isnan(val)) else f", {c.val_name} {val:.4g}"
        lines.append(f"curves {c.name}: {len(c.frame)} epoch(s), last loss {last['train_loss']:.4g}{val_txt}")
    return "\n".join(lines)
