"""The peers table: every method side by side -- accuracy per protocol and shot count, the paired
difference to ZeroI2V on the same episodes, full-supervised top-1, and what each costs at inference.

Rows: (method, backbone[, pretrained sha256 / model-settings variant where one method ran with several]), in the
registry's order (`zeroi2v.methods`). Columns, in order:
- per few-shot column (dataset, ways, shots, protocol): accuracy ± 95 % CI (as `fewshot_table`),
  then "Δ ZeroI2V": the paired difference method - ZeroI2V on the same episode set (per-episode;
  seed-aggregated cells seed by seed), bold where its 95 % CI excludes 0; "–" where no pairing exists;
- per full-supervised dataset: top-1 of the model that ran at inference (merged where the method
  merges; mean ± t-interval over seeds);
- cost, from the method's newest record (few-shot records first: the features model that embedded
  the test videos; else full-supervised): what ran at inference (merged | trained | image), trained
  parameters (M), parameters added at inference over the image model (M), GFLOPs per view
  (torch.utils.flop_counter, 2 per multiply-add), FLOPs and latency as multiples of the image model.
Built only when the records hold at least two methods and one of them is not in ZeroI2V's own
table (frozen, zeroi2v_no_stdha, zeroi2v): the peers.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from zeroi2v.methods import DEFAULT_METHODS, method_label

from . import aggregate as agg
from . import compare as cmp
from .tables import MISSING, Cell, Table, _fmt_num, fewshot_frame, method_order

REFERENCE = "zeroi2v"
COST_COLUMNS = (("Cost", "inference"), ("Cost", "trained"), ("Cost", "added"), ("Cost", "GFLOPs/view"),
                ("Cost", "FLOPs x image"), ("Cost", "latency x image"))
NOTE = ("Accuracy (%) ± 95% CI as in the few-shot table; Δ ZeroI2V: paired difference (method - ZeroI2V, "
        "accuracy points) on the same episode set, ± 95% CI, bold where it excludes 0. Full: top-1 (%) of the "
        "model that ran at inference. Cost of the model that ran at inference (merged: adapters folded into the "
        "image weights; trained: as trained; image: the frozen image model), from the newest few-shot record "
        "(else full-supervised): trained and added parameters (K = 1e3, M = 1e6; added = over the image model with the "
        "same head), GFLOPs per view counted by torch.utils.flop_counter (2 per multiply-add: the papers' "
        "fvcore GFLOPs are half), FLOPs and median latency as multiples of the image model applied per frame.")


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def has_peers(df: pd.DataFrame) -> bool:
    methods = set(df["method"]) if not df.empty else set()
    return len(methods) > 1 and bool(methods - set(DEFAULT_METHODS))


def _label(method: str, backbone: str, sha, variant: str = "", *, kinds: set[str], show_backbone: bool,
           show_sha: bool) -> str:
    names = dict.fromkeys(method_label(method, k) for k in sorted(kinds, key=lambda k: k != "fewshot"))
    label = " / ".join(names)
    if show_backbone:
        label += f" ({backbone})"
    if show_sha:
        label += f" [weights {str(sha)[:8] if isinstance(sha, str) else 'none'}]"
    return label + (f" [{variant}]" if variant else "")  # model / settings where one method ran with several


def _cost_cells(rec: dict | None) -> list[Cell]:
    if rec is None:
        return [MISSING] * len(COST_COLUMNS)
    what = rec.get("inference_model")
    return [Cell(text=what if isinstance(what, str) else "--"),
            Cell(text=fmt_count(rec.get("params_trainable"))),
            Cell(text=fmt_count(rec.get("params_new"))),
            Cell(text=_fmt_num(_num(rec.get("gflops_per_view")))),
            Cell(text=_fmt_ratio(rec.get("flops_ratio"))),
            Cell(text=_fmt_ratio(rec.get("latency_ratio")))]


def fmt_count(x) -> str:
    """A parameter count: 11.0M, 4.7K, 128; "--" when absent."""
    v = _num(x)
    if v is None:
        return "--"
    return f"{v / 1e6:.1f}M" if abs(v) >= 1e6 else f"{v / 1e3:.1f}K" if abs(v) >= 1e3 else f"{v:.0f}"


def _fmt_ratio(x) -> str:
    v = _num(x)
    return "--" if v is None else f"{v:.2f}"


def _newest(df: pd.DataFrame) -> dict | None:
    if df.empty:
        return None
    return agg.clean(df.sort_values(["created", "_path"] if "_path" in df.columns else ["created"]).iloc[-1].to_dict())


def _full_top1(sel: pd.DataFrame) -> Cell:
    """Top-1 of the model that ran at inference: the merged model's where there is one."""
    merged = sel["top1_merged"].astype(float) if "top1_merged" in sel.columns else pd.Series(np.nan, index=sel.index)
    values = merged.where(merged.notna(), sel["top1"].astype(float))
    iv = cmp.t_interval(values)
    return Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n, n_seeds=iv.n if iv.n > 1 else None)


def _newest_weights(sel: pd.DataFrame) -> pd.DataFrame:
    """The runs with the newest run's image weights (seeds of other weights are other measurements)."""
    if sel.empty or "pretrained_sha256" not in sel.columns:
        return sel
    sha = sel["pretrained_sha256"].map(lambda h: h if isinstance(h, str) else "none")
    return sel[sha == sha[sel.sort_values("created").index[-1]]]


def peers_table(df: pd.DataFrame) -> Table | None:
    """The peers table of the records (module docstring), or None when there are no peers."""
    if df.empty or not has_peers(df):
        return None
    fs = fewshot_frame(df)
    full = df[df["kind"] == "full"]
    cells = agg.fewshot_cells(fs) if not fs.empty else {}
    fs_cols = agg.sorted_columns(cells)
    datasets = sorted(full["dataset"].unique()) if not full.empty else []
    rows = {row for col in cells.values() for row in col}  # (method, backbone, few-shot weights' sha, variant)
    rows |= {(m, b, None, "") for m, b in zip(full["method"], full["backbone"])
             if not any(r[:2] == (m, b) for r in rows)}
    order = method_order(sorted({r[0] for r in rows}))
    rows = sorted(rows, key=lambda r: (order.index(r[0]), r[1], str(r[2:])))
    show_bb = len({r[1] for r in rows}) > 1
    show_sha = any(len({x[2] for x in rows if x[:2] == r[:2]}) > 1 for r in rows)
    first = {}  # the full-supervised columns go on a method's first row
    for r in rows:
        first.setdefault(r[:2], r)
    columns: list[tuple[str, ...]] = []
    for d, w, s, p, setting in fs_cols:
        head = (str(d), f"{w}-way {s}-shot", p + (f" ({setting})" if setting else ""))
        columns += [head + ("acc",), head + (f"Δ {method_label(REFERENCE)}",)]
    columns += [(str(d), "full", "top-1", "acc") for d in datasets]
    columns += [c + ("", "") for c in COST_COLUMNS]
    kinds = set(df["kind"])
    table = Table(name="peers", title="Methods compared: accuracy and inference cost", row_header=["Method"],
                  columns=columns, footnotes=[NOTE])
    for row in rows:
        out: list[Cell] = []
        for col in fs_cols:
            cell, ref = cells[col].get(row), cells[col].get((REFERENCE,) + row[1:])
            if cell is None:
                out += [MISSING, MISSING]
                continue
            iv = cell.interval()
            out.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n,
                            n_seeds=cell.n_runs if cell.n_runs > 1 else None))
            diff = cmp.compare(cell.entry(), ref.entry()) if ref is not None and row[0] != REFERENCE else None
            out.append(MISSING if diff is None else Cell(mean=diff.mean, half_width=diff.half_width, n=diff.n,
                                                         bold=diff.excludes_zero()))
        mine = full[(full["method"] == row[0]) & (full["backbone"] == row[1])]
        for d in datasets:
            sel = _newest_weights(mine[mine["dataset"] == d]) if first[row[:2]] == row else mine.iloc[:0]
            out.append(MISSING if sel.empty else _full_top1(sel))
        fs_mine = fs[(fs["method"] == row[0]) & (fs["backbone"] == row[1])] if not fs.empty else fs
        out += _cost_cells(_newest(fs_mine) if not fs_mine.empty else _newest(mine))
        table.rows.append(((_label(*row, kinds=kinds, show_backbone=show_bb, show_sha=show_sha),), out))
    return table
