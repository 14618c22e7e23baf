"""The grid's tables, through `results`: per dataset the few-shot table (methods x shots; one seed: mean ±
95 % CI over episodes, several seeds: mean over seeds ± 95 % t-interval across seeds) and each method
minus the baseline, paired (one seed: per-episode differences on the same episode set; several:
per-seed differences), plus the full-supervised table of --supervised cells. Only the records that
measure the grid's cells (`cells.done_records`) are shown -- not older records of other settings.
The cells of one (dataset, method) share the grid's settings (each record was matched to its cell's
identity), so rows are not split by weights/model/settings hashes: what differs between them is the
seed (on the toy without --pretrained each seed's image model is pretrained with that seed).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from zeroi2v.utils.io import atomic_write_text

from .cells import Cell, done_records

PAIRED_NOTE = ("Cells: method minus baseline in accuracy points on the same test episodes. One seed: mean of the "
               "per-episode differences ± 1.96·std/sqrt(n episodes); several seeds: mean of the per-seed differences "
               "± 95% t-interval across seeds (n = seeds). Bold: the interval excludes 0. '–': no paired data.")


def grid_records(cells: list[Cell]) -> pd.DataFrame:
    rows = [r for c in cells for r in done_records(c)]
    return pd.DataFrame(rows)


def baseline_table(df: pd.DataFrame, baseline: str):
    """Each method minus `baseline` per few-shot column of `df` (one dataset), paired; None without a baseline row."""
    from results import aggregate as agg
    from results import compare as cmp
    from results import records as rec
    from results.tables import Cell as TCell, Table, fewshot_frame, method_order

    cells = agg.fewshot_cells(fewshot_frame(df))
    columns = agg.sorted_columns(cells)
    rows = {r for col in cells.values() for r in col}
    order = method_order([r[0] for r in rows])
    others = sorted((r for r in rows if r[0] != baseline), key=lambda r: (order.index(r[0]), *map(str, r[1:])))
    if not others or not any(r[0] == baseline for r in rows):
        return None
    label = lambda m: rec.METHOD_LABELS.get(m, m)  # noqa: E731
    table = Table(name=f"fewshot-{df['dataset'].iloc[0]}-minus-{baseline}",
                  title=f"{df['dataset'].iloc[0]}: each method minus {label(baseline)} (accuracy points, paired)",
                  row_header=["Method"], footnotes=[PAIRED_NOTE],
                  columns=[(d, f"{w}-way", f"{s}-shot", p) + ((x,) if x else ()) for d, w, s, p, x in columns])
    depth = max(len(c) for c in table.columns)
    table.columns = [c + ("",) * (depth - len(c)) for c in table.columns]
    for row in others:
        out = []
        for col in columns:
            a, b = cells[col].get(row), cells[col].get((baseline, *row[1:]))
            diff = cmp.compare(a.entry(), b.entry()) if a is not None and b is not None else None
            out.append(TCell() if diff is None else
                       TCell(mean=diff.mean, half_width=diff.half_width, n=diff.n, bold=diff.excludes_zero(),
                             n_seeds=diff.n if a.n_runs > 1 else None))
        table.rows.append(((f"{label(row[0])} - {label(baseline)}",), out))
    return table


def grid_tables(cells: list[Cell], *, baseline: str) -> list:
    """The tables of the grid's records (see the module docstring)."""
    from results.tables import fewshot_table, full_table

    df = grid_records(cells)
    if df.empty:
        return []
    df["created"] = df["created"].astype(str)
    # Every record was matched to its cell's full identity, and the cells of one (dataset, method) share the
    # grid's settings: what still differs between their weights/model hashes is the seed (on the toy without
    # --pretrained each seed pretrains its own tiny ViT, as fewshot.run --seeds does) -- one row, not several.
    df = df.drop(columns=["pretrained_sha256", "model_sha256", "settings_sha256"], errors="ignore")
    built = []
    fs = df[df["kind"] == "fewshot"]
    for dataset in sorted(fs["dataset"].unique()) if not fs.empty else []:
        sub = fs[fs["dataset"] == dataset].reset_index(drop=True)
        t = fewshot_table(sub)
        if t is not None:
            t.name, t.title = f"fewshot-{dataset}", f"{dataset}: {t.title}"
            built.append(t)
        paired = baseline_table(sub, baseline)
        if paired is not None:
            built.append(paired)
    full = df[df["kind"] == "full"]
    if not full.empty:
        t = full_table(full.reset_index(drop=True))
        if t is not None:
            built.append(t)
    return built


def write_tables(tables: list, out: Path) -> list[Path]:
    """Every table in every format under `out` (Markdown, CSV, LaTeX)."""
    from results.formats import EXTENSIONS, FORMATS, render

    written = []
    for fmt in FORMATS:
        for t in tables:
            written.append(atomic_write_text(out / f"{t.name}.{EXTENSIONS[fmt]}", render(t, fmt)))
    return written
