"""`python -m results`: stdout tables, --format, --out files, bad records, no records."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from results import records as rec
import record_fixtures as T
from results.__main__ import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runs(tmp_path):
    """A few-shot demo-like run plus a toy full-supervised run, one bad record, one bench file."""
    root = tmp_path / "runs"
    base = np.random.default_rng(0).uniform(30, 90, 100)
    for m, delta in (("frozen", 0.0), ("zeroi2v_no_stdha", 3.0), ("zeroi2v", 6.0)):
        T.fewshot_from_episodes(root / "fewshot_demo", base + delta, method=m)
    rec.write_record(root / "full_toy", T.full_record(top1=80.0, views="1x1"))
    (root / "fewshot_demo" / "records" / "broken.json").write_text('{"schema_version": 1')
    bench = {"schema": "zeroi2v-bench/1", "machine": "ci", "device": "cpu", "backbone": "vit",
             "frames": 4, "batch": 1, "models": [{"name": "merged", "params": 5_000_000,
                                                  "new_params": 0, "gflops": 1.5}]}
    (root / "bench_cpu.json").write_text(json.dumps(bench))
    return root


def test_markdown_to_stdout(runs, capsys):
    assert main([str(runs)]) == 0
    out, err = capsys.readouterr()
    assert "### Episodic few-shot accuracy (%)" in out and "### Full-supervised results" in out
    assert "### Inference efficiency (benchmark)" in out
    zero_row = next(l for l in out.splitlines() if l.startswith("| ZeroI2V |"))
    assert "**" in zero_row and " ± " in zero_row
    assert "broken.json" in err and "4 record(s) read, 1 skipped" in err
    assert "1 benchmark file(s)" in err


def test_latex_to_stdout(runs, capsys):
    assert main([str(runs), "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert out.count(r"\toprule") == out.count(r"\bottomrule") >= 3
    assert r"$\pm$" in out and "±" not in out
    from tests.test_results_formats import check_tabular

    for chunk in out.split("% requires")[1:]:
        check_tabular(chunk)


def test_out_writes_every_format_and_plots(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("fewshot", "fewshot_paired", "full", "efficiency"):
        for ext in ("md", "csv", "tex"):
            assert f"{stem}.{ext}" in names
    assert {"fewshot_toy.png", "fewshot_toy.svg"} <= names
    assert not [n for n in names if n.startswith(".")]
    assert "wrote" in capsys.readouterr().err


def test_out_single_format_no_plots(runs, tmp_path):
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out), "--format", "csv", "--no-plots"]) == 0
    assert sorted(p.suffix for p in out.iterdir()) == [".csv"] * 4


def test_no_records_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: no result records under {tmp_path / 'empty'}; run python -m "
                       "fewshot.run or python -m zeroi2v.train first")


def test_missing_dir_and_plots_without_out(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    assert main([str(tmp_path / "r"), "--plots"]) == 2
    assert "--plots needs --out" in capsys.readouterr().err


def test_python_m_results_subprocess(runs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "results", str(runs)], capture_output=True,
                       text=True, cwd=REPO, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| ZeroI2V |" in r.stdout and "Traceback" not in r.stderr
