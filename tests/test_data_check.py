"""`python -m fewshot.data check` / `make-toy`: counts, problems named by file, exit codes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import video_fixtures as V
from fewshot.data.__main__ import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return V.make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")


@pytest.fixture
def copy(tiny, tmp_path):
    return Path(shutil.copytree(tiny, tmp_path / "copy"))


def test_check_clean_toy_exit_0(tiny, capsys):
    assert main(["check", "--dataset", "toy", "--data-root", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "split train: 12 videos, 6 classes (2-2 per class), 0 problem(s)" in out
    assert "split test: 6 videos, 6 classes (1-1 per class)" in out
    assert "rotate_ccw" in out and "OK: 2 split(s), 18 videos, no problems" in out


@pytest.mark.parametrize("damage", ["truncate", "empty", "delete"])
def test_check_names_broken_file_exit_2(copy, capsys, damage):
    victim = copy / "videos" / "move_up" / "move_up_001.mp4"
    {"truncate": lambda: V.truncate(victim, keep=0.3), "empty": lambda: victim.write_bytes(b""),
     "delete": victim.unlink}[damage]()
    assert main(["check", "--dataset", "toy", "--data-root", str(copy)]) == 2
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    # a deleted file is also named by the episodic split file that lists it
    assert len(problems) == (2 if damage == "delete" else 1)
    assert all("move_up_001.mp4" in p for p in problems) and "FAILED:" in out


def test_check_malformed_annotation_exit_2(copy, capsys, tmp_path):
    lists = copy / "ucfTrainTestlist" / "trainlist01.txt"
    lists.write_text(lists.read_text() + "not/a/class.mp4 1\n")
    report = tmp_path / "report.json"
    assert main(["check", "--dataset", "toy", "--data-root", str(copy), "--json", str(report)]) == 2
    assert "trainlist01.txt:13" in capsys.readouterr().out
    import json

    assert json.loads(report.read_text())["status"] == 2


def test_check_other_reader_and_bad_root(tmp_path, capsys):
    root = V.make_hmdb51_tree(tmp_path / "hmdb")
    assert main(["check", "--dataset", "hmdb51", "--data-root", str(root), "--fold", "2"]) == 0
    assert "(fold 2)" in capsys.readouterr().out
    assert main(["check", "--dataset", "hmdb51", "--data-root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a directory" in err and len(err.strip().splitlines()) == 1


def test_make_toy_refuses_foreign_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    assert main(["make-toy", "--out", str(tmp_path / "x")]) == 2
    assert "not a toy dataset" in capsys.readouterr().err


def test_acceptance_as_module(tmp_path):
    """python -m fewshot.data make-toy ... then check: exit 0; after corrupting a file: named, exit 2."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "fewshot.data", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, cwd=tmp_path, timeout=120)
    made = run("make-toy", "--out", "toy-data", "--videos-per-class", "2", "--frames", "6", "--size", "32",
               "--images-per-class", "1", "--workers", "1")
    assert made.returncode == 0, made.stderr
    ok = run("check", "--dataset", "toy", "--data-root", "toy-data")
    assert ok.returncode == 0 and "32 classes" in ok.stdout
    V.truncate(tmp_path / "toy-data" / "videos" / "spiral_in" / "spiral_in_000.mp4", keep=0.5)
    bad = run("check", "--dataset", "toy", "--data-root", "toy-data")
    assert bad.returncode == 2 and "spiral_in_000.mp4" in bad.stdout and "Traceback" not in bad.stderr
