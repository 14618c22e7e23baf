"""Render `tables.Table` objects as Markdown, CSV or LaTeX (booktabs).

- Markdown: a pipe table under a `### title` heading; best entries in `**bold**`; notes below.
- CSV: long format, one line per cell -- table, row, column, mean, ci95_half_width, ci95_low,
  ci95_high, n, n_seeds, best, text -- so numbers stay machine-readable (no "±" strings to parse).
  n: episodes of a single run, or the runs a seed-aggregated cell averages (then n_seeds = n).
- LaTeX: a `table` float with a booktabs `tabular` (\\toprule/\\midrule/\\bottomrule), grouped
  column headers via \\multicolumn + \\cmidrule, `$\\pm$`, `\\textbf{}` for the best entry,
  special characters escaped. Needs `\\usepackage{booktabs}` in the preamble.
"""
from __future__ import annotations

import csv
import io
from typing import Callable, Sequence

from .tables import Cell, Table

FORMATS = ("markdown", "csv", "latex")
EXTENSIONS = {"markdown": "md", "csv": "csv", "latex": "tex"}


def cell_text(cell: Cell, *, decimals: int = 1, pm: str = "±", missing: str = "–") -> str:
    """`mean ± half-width`, `mean (n=1)`, the cell's text, or `missing`."""
    if cell.text is not None:
        return cell.text
    if cell.mean is None:
        return missing
    s = f"{cell.mean:.{decimals}f}"
    if cell.half_width is not None:
        s += f" {pm} {cell.half_width:.{decimals}f}"
    elif cell.n == 1:
        s += " (n=1)"
    if cell.n_seeds is not None:
        s += f" ({cell.n_seeds} seeds)"
    return s


# ----------------------------------------------------------------------------- Markdown

def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(table: Table, *, decimals: int = 1) -> str:
    header = [*table.row_header, *(" ".join(p for p in c if p) for c in table.columns)]
    lines = [f"### {table.title}", "",
             "| " + " | ".join(map(_md_escape, header)) + " |",
             "|" + "|".join(["---"] * len(table.row_header) + [":---:"] * len(table.columns)) + "|"]
    for labels, cells in table.rows:
        texts = []
        for c in cells:
            t = _md_escape(cell_text(c, decimals=decimals))
            texts.append(f"**{t}**" if c.bold else t)
        lines.append("| " + " | ".join([*map(_md_escape, labels), *texts]) + " |")
    lines.append("")
    lines += [f"*Note:* {_md_escape(n)}" for n in table.footnotes]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- CSV

CSV_FIELDS = ("table", "row", "column", "mean", "ci95_half_width", "ci95_low", "ci95_high", "n",
              "n_seeds", "best", "text")


def to_csv(table: Table, *, decimals: int = 1) -> str:
    """Long-format CSV (full precision numbers; `decimals` is unused, kept for a uniform API)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for labels, cells in table.rows:
        for col, c in zip(table.columns, cells):
            hw = c.half_width
            w.writerow([
                table.name, " / ".join(labels), " / ".join(col),
                "" if c.mean is None else repr(float(c.mean)),
                "" if hw is None else repr(float(hw)),
                "" if hw is None else repr(float(c.mean - hw)),
                "" if hw is None else repr(float(c.mean + hw)),
                "" if c.n is None else c.n,
                "" if c.n_seeds is None else c.n_seeds,
                int(c.bold),
                "" if c.text is None else c.text,
            ])
    return buf.getvalue()


# ----------------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "×": r"$\times$", "–": "--", "—": "---", "−": "$-$", "Δ": r"$\Delta$",
    "·": r"$\cdot$",
    "<": r"\textless{}", ">": r"\textgreater{}",
}


def latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))


def _groups(columns: Sequence[tuple[str, ...]], level: int) -> list[tuple[str, int, int]]:
    """Consecutive runs of columns sharing the header prefix up to `level`: (label, start, span)."""
    out: list[tuple[str, int, int]] = []
    for i, col in enumerate(columns):
        if out and columns[out[-1][1]][: level + 1] == col[: level + 1]:
            label, start, span = out[-1]
            out[-1] = (label, start, span + 1)
        else:
            out.append((col[level], i, 1))
    return out


def to_latex(table: Table, *, decimals: int = 1) -> str:
    n_rows_hdr, n_cols = len(table.row_header), len(table.columns)
    depth = max((len(c) for c in table.columns), default=1)
    columns = [tuple(c) + ("",) * (depth - len(c)) for c in table.columns]
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        r"\begin{tabular}{" + "l" * n_rows_hdr + "c" * n_cols + "}",
        r"\toprule",
    ]
    for level in range(depth - 1):
        groups = _groups(columns, level)
        cells = [""] * n_rows_hdr + [
            rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}" if span > 1
            else latex_escape(label) for label, _, span in groups]
        lines.append(" & ".join(cells) + r" \\")
        rules = [rf"\cmidrule(lr){{{n_rows_hdr + start + 1}-{n_rows_hdr + start + span}}}"
                 for label, start, span in groups if label and span > 1]
        if rules:
            lines.append(" ".join(rules))
    last = [latex_escape(h) for h in table.row_header] + [latex_escape(c[-1]) for c in columns]
    lines += [" & ".join(last) + r" \\", r"\midrule"]
    for labels, cells in table.rows:
        texts = []
        for c in cells:
            t = latex_escape(cell_text(c, decimals=decimals))
            texts.append(rf"\textbf{{{t}}}" if c.bold else t)
        lines.append(" & ".join([*map(latex_escape, labels), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    for note in table.footnotes:
        lines += [r"\par\smallskip", rf"{{\footnotesize {latex_escape(note)}\par}}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "markdown": to_markdown, "csv": to_csv, "latex": to_latex}


def render(table: Table, fmt: str, *, decimals: int = 1) -> str:
    return RENDERERS[fmt](table, decimals=decimals)


def render_all(tables: Sequence[Table], fmt: str, *, decimals: int = 1) -> str:
    """All tables in one document (blank line between; CSV keeps one header per table)."""
    return "\n".join(render(t, fmt, decimals=decimals) for t in tables)
