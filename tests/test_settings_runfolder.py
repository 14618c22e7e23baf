"""The run-folder convention: a rerun never writes into an earlier run's folder unless told (--resume / --overwrite)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from zeroi2v.settings.runfolder import check_run_folder, default_run_folder
from zeroi2v.utils.errors import UserError

TINY_VIT = '{"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4}'


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_default_folders_are_per_program_dataset_and_time():
    assert default_run_folder("fewshot", "toy", stamp="20260101-120000") == str(Path("runs/fewshot-toy-20260101-120000"))
    assert default_run_folder("train", "k400").startswith(str(Path("runs/train-k400-")))


def test_only_a_new_or_empty_folder_or_resume_is_accepted(tmp_path):
    check_run_folder(tmp_path / "new", resume=False)
    (tmp_path / "empty").mkdir()
    check_run_folder(tmp_path / "empty", resume=False)
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="holds files .*pass --resume to continue that run, or choose another --out"):
        check_run_folder(tmp_path / "empty", resume=False)
    check_run_folder(tmp_path / "empty", resume=True)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from zeroi2v.data import ToyConfig, make_toy

    root = tmp_path_factory.mktemp("toy") / "data"
    make_toy(root, ToyConfig(num_classes=6, class_split=(2, 2, 2), videos_per_class=4, test_per_class=1, frames=8,
                             size=32, images_per_class=2), workers=1)
    return root


def test_fewshot_run_twice_into_one_out_stops_the_second_and_keeps_the_first(toy, tmp_path, capsys):
    from fewshot import run as fsrun

    out = tmp_path / "run"
    argv = ["--dataset", "toy", "--data-root", str(toy), "--timm-kwargs", TINY_VIT, "--frames", "4", "--ways", "2", "--shots", "1",
            "--episodes", "5", "--methods", "frozen", "--protocols", "prototype", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    assert fsrun.main(argv) == 0
    before = snapshot(out)
    assert json.loads((out / "config.json").read_text())["episodes"] == 5
    capsys.readouterr()
    assert fsrun.main([*argv[:-4], "--episodes", "7", *argv[-4:]]) == 2  # another setting, same folder
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --out {out} is a directory that already holds files (an earlier run's); pass --resume "
                   f"to continue that run, or choose another --out"]
    assert snapshot(out) == before  # the first run's config.json, records and weights untouched


def test_zeroi2v_train_into_a_non_empty_out_stops_before_writing(toy, tmp_path, capsys):
    from zeroi2v.train import cli as train

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"lr": 0.002}')
    before = snapshot(out)
    rc = train.main(["--dataset", "toy", "--data-root", str(toy), "--frames", "4", "--epochs", "1", "--batch-size",
                     "2", "--timm-kwargs", TINY_VIT, "--pretrained", "none", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: --out {out} is a directory that already holds files")
    assert snapshot(out) == before


def test_results_out_into_a_non_empty_folder_needs_overwrite(tmp_path, capsys):
    import record_fixtures as T
    from results import records as rec
    from results.__main__ import main

    rec.write_record(tmp_path / "runs", T.fewshot_record(method="frozen"))
    report = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(report), "--no-plots"]) == 0
    before = snapshot(report)
    capsys.readouterr()
    assert main([str(tmp_path / "runs"), "--out", str(report), "--no-plots"]) == 2
    assert "pass --overwrite to replace that report" in capsys.readouterr().err and snapshot(report) == before
    assert main([str(tmp_path / "runs"), "--out", str(report), "--no-plots", "--overwrite"]) == 0
