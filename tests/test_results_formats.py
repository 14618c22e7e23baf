"""Markdown, CSV and LaTeX (booktabs) renderings of a known table."""
import csv
import io
import re
import shutil
import subprocess

import pytest

from results.formats import (cell_text, latex_escape, render, render_all, to_csv, to_latex,
                             to_markdown)
from results.tables import Cell, Table


def _table():
    return Table(
        name="fewshot", title="Few-shot 100% top_1",
        row_header=["Method"],
        columns=[("ssv2_small", "5-way", "1-shot"), ("ssv2_small", "5-way", "5-shot"),
                 ("hmdb51", "5-way", "1-shot")],
        rows=[(("Frozen_model",), [Cell(60.0, 1.2345, 100), Cell(70.0, 1.0, 100), Cell()]),
              (("ZeroI2V",), [Cell(65.0, 1.0, 100, bold=True), Cell(71.0, None, 1),
                              Cell(text="a|b & c")])],
        footnotes=["Bold: significant at 95% (paired); 1.96·std/sqrt(n)."])


def test_cell_text():
    assert cell_text(Cell(60.0, 1.2345)) == "60.0 ± 1.2"
    assert cell_text(Cell(60.0, 1.2345), decimals=2) == "60.00 ± 1.23"
    assert cell_text(Cell(60.0, None, 1)) == "60.0 (n=1)"
    assert cell_text(Cell()) == "–"
    assert cell_text(Cell(text="8x3")) == "8x3"


def test_markdown():
    md = to_markdown(_table())
    lines = md.splitlines()
    assert lines[0] == "### Few-shot 100% top_1"
    assert lines[2] == ("| Method | ssv2_small 5-way 1-shot | ssv2_small 5-way 5-shot | "
                        "hmdb51 5-way 1-shot |")
    assert lines[3] == "|---|:---:|:---:|:---:|"
    assert lines[4] == "| Frozen_model | 60.0 ± 1.2 | 70.0 ± 1.0 | – |"
    assert lines[5] == "| ZeroI2V | **65.0 ± 1.0** | 71.0 (n=1) | a\\|b & c |"
    assert all(l.count("|") - l.count("\\|") == 5 for l in lines[2:6])
    assert lines[-1].startswith("*Note:* Bold")


def test_csv_is_long_and_numeric():
    rows = list(csv.DictReader(io.StringIO(to_csv(_table()))))
    assert len(rows) == 6
    first = rows[0]
    assert first["table"] == "fewshot" and first["row"] == "Frozen_model"
    assert first["column"] == "ssv2_small / 5-way / 1-shot"
    assert float(first["mean"]) == 60.0 and float(first["ci95_half_width"]) == 1.2345
    assert float(first["ci95_low"]) == pytest.approx(58.7655)
    assert float(first["ci95_high"]) == pytest.approx(61.2345)
    assert first["n"] == "100" and first["best"] == "0"
    assert rows[3]["best"] == "1"
    assert rows[4]["ci95_half_width"] == "" and rows[4]["n"] == "1"
    assert rows[2]["mean"] == "" and rows[5]["text"] == "a|b & c"


def _strip_escapes(s):
    return re.sub(r"\\[{}&%$#_]", "", s)


def check_tabular(tex: str) -> int:
    """Assert `tex` is a well-formed booktabs tabular; return the number of body rows."""
    body = _strip_escapes(tex)
    depth = 0
    for ch in body:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "unbalanced braces"
    assert depth == 0, "unbalanced braces"
    assert body.count(r"\begin{tabular}") == body.count(r"\end{tabular}") == 1
    assert body.count(r"\begin{table}") == body.count(r"\end{table}") == 1
    spec = re.search(r"\\begin\{tabular\}\{([lcr]+)\}", tex).group(1)
    inner = tex.split(r"\toprule")[1].split(r"\bottomrule")[0]
    assert r"\midrule" in inner
    n_rows = 0
    for line in inner.splitlines():
        if not line.strip().endswith(r"\\"):
            assert line.strip() in ("", r"\midrule") or line.strip().startswith(r"\cmidrule")
            continue
        cells = re.split(r"(?<!\\)&", line.strip()[:-2])
        width = 0
        for c in cells:
            m = re.match(r"\s*\\multicolumn\{(\d+)\}", c)
            width += int(m.group(1)) if m else 1
        assert width == len(spec), f"row has {width} columns, tabular has {len(spec)}: {line}"
        n_rows += 1
    return n_rows


def test_latex_booktabs_wellformed_and_escaped():
    tex = to_latex(_table())
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\begin{tabular}{lccc}" in tex
    assert check_tabular(tex) == 3 + 2            # 3 header rows + 2 body rows
    assert r"\multicolumn{2}{c}{ssv2\_small}" in tex and r"\cmidrule(lr){2-3}" in tex
    assert r"\textbf{65.0 $\pm$ 1.0}" in tex
    assert r"Frozen\_model & 60.0 $\pm$ 1.2 & 70.0 $\pm$ 1.0 & -- \\" in tex
    assert r"a|b \& c" in tex
    assert r"\caption{Few-shot 100\% top\_1}" in tex
    assert "±" not in tex and "·" not in tex and "–" not in tex


def test_latex_escape():
    assert latex_escape("a_b%c&d#e$f{g}~^\\") == (
        r"a\_b\%c\&d\#e\$f\{g\}\textasciitilde{}\textasciicircum{}\textbackslash{}")


def test_render_all_and_dispatch():
    t = _table()
    assert render(t, "latex") == to_latex(t)
    both = render_all([t, t], "markdown")
    assert both.count("### Few-shot") == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    doc = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
           + to_latex(_table()) + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
