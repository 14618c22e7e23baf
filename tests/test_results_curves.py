"""Training curves from metrics.csv next to the accuracy plot."""
import numpy as np
import pytest

import record_fixtures as T
from results import records as rec
from results.__main__ import main
from results.curves import load_curves, read_metrics
from results.load import RecordWarning

HEADER = "epoch,step,lr,train_loss,train_acc,val_metric,val_metric_name,seconds,throughput,peak_mem_mb\n"


def _metrics(path, epochs=4, val=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{e},{10 * e},{1e-3 * 0.5 ** e},{2.0 / e},{20.0 * e},{(30.0 + 5 * e) if val else ''},"
            f"{'val_top1' if val else ''},{1.5},{100.0},{''}\n" for e in range(1, epochs + 1)]
    path.write_text(HEADER + "".join(rows))
    return path


def test_read_metrics_numbers(tmp_path):
    c = read_metrics(_metrics(tmp_path / "metrics.csv"), name="run")
    assert list(c.frame["epoch"]) == [1, 2, 3, 4]
    assert c.frame["train_loss"].tolist() == pytest.approx([2.0, 1.0, 2 / 3, 0.5])
    assert c.frame["val_metric"].tolist() == [35.0, 40.0, 45.0, 50.0]
    assert c.val_name == "val_top1" and c.frame["peak_mem_mb"].isna().all()


def test_results_draws_curves_next_to_accuracy_plot(tmp_path, capsys):
    runs = tmp_path / "runs"
    rng = np.random.default_rng(0)
    for m in ("frozen", "zeroi2v"):
        T.fewshot_from_episodes(runs / "fs", rng.uniform(40, 60, 50), method=m)
        _metrics(runs / "fs" / m / "metrics.csv", val=(m == "zeroi2v"))
    _metrics(runs / "train_toy" / "metrics.csv")
    (runs / "bad").mkdir()
    (runs / "bad" / "metrics.csv").write_bytes(b"\xff\xfe garbage")
    out = tmp_path / "report"
    assert main([str(runs), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    for stem in ("curves_runs_fs_frozen", "curves_runs_fs_zeroi2v", "curves_runs_train_toy", "fewshot_toy"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names, names
    png = (out / "curves_runs_fs_zeroi2v.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    svg = (out / "curves_runs_train_toy.svg").read_text()
    assert "<svg" in svg and "learning rate" in svg and "val_top1" in svg
    err = capsys.readouterr().err
    assert "warning: skipping" in err and "not UTF-8" in err
    assert "curves runs_train_toy: 4 epoch(s), last loss 0.5, val_top1 50" in err


def test_metrics_alone_are_enough_and_bad_files_warn(tmp_path, capsys):
    _metrics(tmp_path / "train" / "metrics.csv")
    assert main([str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / f"curves_{tmp_path.name}_train.png").is_file()
    for content, reason in (("a,b\n1,2\n", "missing column"), ("", "not a CSV"),
                            (HEADER, "no rows with an epoch")):
        (tmp_path / "x").mkdir(exist_ok=True)
        (tmp_path / "x" / "metrics.csv").write_text(content)
        with pytest.warns(RecordWarning, match=reason):
            assert len(load_curves(tmp_path)) == 1


def test_out_is_a_file_is_one_line(tmp_path, capsys):
    rec.write_record(tmp_path / "r", T.fewshot_record())
    (tmp_path / "f").write_text("x")
    assert main([str(tmp_path / "r"), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a directory" in err
