"""End to end: a very small toy few-shot run through every stage, cache reuse, resume, CLI errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fewshot import run as fsrun
from fewshot_fixtures import TINY_VIT, make_fewshot_toy
from zeroi2v.methods import DEFAULT_METHODS as METHODS


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_fewshot_toy(tmp_path_factory)


EPISODE_FLAGS = ("--ways", "3", "--shots", "1,2", "--episodes", "30")


def args(toy, out, cache, *extra, episode_flags=EPISODE_FLAGS):
    return ["--dataset", "toy", "--data-root", str(toy), "--timm-kwargs", TINY_VIT, "--frames", "4", *episode_flags,
            "--epochs", "2", "--batch-size", "3", "--out", str(out), "--cache-dir", str(cache), *extra]


def records(out):
    recs = [json.loads(p.read_text()) for p in sorted((Path(out) / "records").glob("*.json"))]
    return {(r["method"], r["shots"], r["protocol"]): r for r in recs}


@pytest.fixture(scope="module")
def reference(toy, tmp_path_factory):
    base = tmp_path_factory.mktemp("ref")
    assert fsrun.main(args(toy, base / "run", base / "cache")) == 0
    return base


def test_end_to_end_writes_a_record_per_method_shots_and_protocol(reference, capsys):
    recs = records(reference / "run")
    assert set(recs) == {(m, k, p) for m in METHODS for k in (1, 2) for p in ("prototype", "finetune")}
    for (method, shots, protocol), r in recs.items():
        assert r["ways"] == 3 and r["n_episodes"] == 30 and 0 <= r["accuracy"] <= 100
        acc = __import__("numpy").load(reference / "run" / r["episode_accuracies"])
        assert len(acc) == 30 and abs(acc.mean() - r["accuracy"]) < 1e-9
        assert abs(r["ci95"] - 1.96 * acc.std(ddof=1) / 30**0.5) < 1e-9
        if method == "frozen":
            assert r["merge_max_abs_diff"] is None and r["params_trainable"] == 0
        else:
            assert r["merge_max_rel_diff"] <= 1e-5
            assert (reference / "run" / method / "merged.safetensors").is_file()
        assert r["stdha"] == ([-1, 1, 0, 0] if method == "zeroi2v" else [0, 0, 0, 0])
    # every method is evaluated on the same episode set for a given shot count
    for shots in (1, 2):
        assert len({r["episode_set_hash"] for (m, k, p), r in recs.items() if k == shots}) == 1
    assert json.loads((reference / "run" / "config.json").read_text())["dataset"] == "toy"


def test_second_run_embeds_nothing_and_resume_skips_finished_stages(toy, reference, monkeypatch):
    import zeroi2v.training.engine as engine

    def no_training(*a, **k):
        raise AssertionError("a finished adaptation was trained again on --resume")

    monkeypatch.setattr(engine, "train_one_epoch", no_training)
    out = reference / "run"
    before = set((out / "records").glob("*.json"))
    assert fsrun.main(args(toy, out, reference / "cache", "--resume")) == 0
    new = [json.loads(p.read_text()) for p in set((out / "records").glob("*.json")) - before]
    assert len(new) == 12
    assert sum(r["embedded"] for r in new) == 0
    n_test = len((toy / "splits" / "test.txt").read_text().splitlines())
    assert all(r["embed_cached"] == n_test for r in new)


def test_resume_after_an_interruption_gives_the_same_records(toy, reference, tmp_path, monkeypatch):
    import zeroi2v.training.engine as engine

    real = engine.train_one_epoch
    calls = {"n": 0}

    def dies_in_second_epoch(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the run were stopped during epoch 1
        return real(*a, **k)

    monkeypatch.setattr(engine, "train_one_epoch", dies_in_second_epoch)
    assert fsrun.main(args(toy, tmp_path / "run", tmp_path / "cache", "--methods", "zeroi2v")) == 130
    assert (tmp_path / "run" / "zeroi2v" / "checkpoint.pt").is_file()
    monkeypatch.setattr(engine, "train_one_epoch", real)
    assert fsrun.main(args(toy, tmp_path / "run", tmp_path / "cache", "--methods", "zeroi2v", "--resume")) == 0
    ref, got = records(reference / "run"), records(tmp_path / "run")
    for key, r in got.items():
        assert r["accuracy"] == ref[key]["accuracy"], key


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "ssv2", "--shots", "5"], "no ssv2 data root"),
    (["--dataset", "ssv2", "--pretrained", __file__], "no ssv2 data root"),
    (["--dataset", "hmdb51", "--pretrained", "/nope/ViT-B-16.pt"], "no hmdb51 data root"),
    (["--dataset", "nope"], "unknown few-shot dataset"),
    (["--ways", "0"], "--ways must be at least 2"),
    (["--ways", "1"], "--ways must be at least 2"),
    (["--methods", "frozen,magic"], "unknown method/protocol magic"),
    (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--ways", "-1"], "--"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROI2V_")}
    env["ZEROI2V_CACHE"] = str(tmp_path)
    p = subprocess.run([sys.executable, "-m", "fewshot.run", *argv, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


@pytest.mark.parametrize("extra, message", [
    ([], "list needs image weights"),
    (["--pretrained", "/nope/ViT-B-16.pt"], "pretrained weights /nope/ViT-B-16.pt not found"),
    (["--pretrained", "DIR"], "is a directory"),
])
def test_missing_weights_on_real_data_are_one_line_errors(extra, message, tmp_path, capsys):
    from list_fixtures import make_list_dataset

    root = make_list_dataset(tmp_path / "mine", split=(3, 3, 3), videos_per_class=3)
    extra = [str(tmp_path) if x == "DIR" else x for x in extra]
    out = tmp_path / "out"
    assert fsrun.main(["--dataset", "list", "--data-root", str(root), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_impossible_ways_for_the_split_is_a_one_line_error(toy, tmp_path, capsys):
    assert fsrun.main(args(toy, tmp_path / "o", tmp_path / "c", "--ways", "7", "--methods", "frozen")) == 2
    assert "ways" in capsys.readouterr().err


def test_a_given_episode_set_is_evaluated_as_is(toy, tmp_path):
    from episodes.episode_set import episode_set_hash, sample_episode_set, write_episode_set
    from episodes.splits import load_split

    eps = sample_episode_set(load_split("toy", "test", root=toy), 3, 2, 1, 25, 7)
    path = tmp_path / "set.jsonl"
    write_episode_set(path, eps)
    assert fsrun.main(args(toy, tmp_path / "run", tmp_path / "cache", "--methods", "frozen",
                           "--episodes-file", str(path), episode_flags=())) == 0
    recs = records(tmp_path / "run")
    assert set(recs) == {("frozen", 2, "prototype"), ("frozen", 2, "finetune")}
    assert all(r["episode_set_hash"] == episode_set_hash(eps) and r["n_episodes"] == 25 for r in recs.values())


def test_a_refused_resume_changes_nothing_under_out(toy, reference, tmp_path, capsys):
    """--resume with another adaptation setting, or a damaged checkpoint: one line, exit 2, before
    config.json, run.log or the episode files are rewritten."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference / "run", out)

    def snapshot():
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()}

    before = snapshot()
    assert fsrun.main(args(toy, out, reference / "cache", "--resume", "--lr", "0.5")) == 2
    assert "was written with lr=" in capsys.readouterr().err
    assert snapshot() == before
    (out / "zeroi2v" / "checkpoint.pt").write_bytes(b"\0" * 64)
    before = snapshot()
    assert fsrun.main(args(toy, out, reference / "cache", "--resume")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read training state" in err[0] and "checkpoint.pt" in err[0]
    assert snapshot() == before


def test_tensorboard_and_wandb_flags_reach_the_adaptation_tracker(toy, reference, tmp_path, capsys):
    """The same flag names as zeroi2v.train: --tensorboard events and metrics.csv in <out>/<method>/."""
    pytest.importorskip("tensorboard")
    import csv

    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert fsrun.main(args(toy, out, reference / "cache", "--methods", "zeroi2v", "--protocols", "prototype",
                           "--tensorboard")) == 0
    acc = EventAccumulator(str(out / "zeroi2v" / "tensorboard"))
    acc.Reload()
    history = torch.load(out / "zeroi2v" / "checkpoint.pt", weights_only=True)["history"]
    loss = acc.Scalars("train_loss")
    assert [e.step for e in loss] == [1, 2]
    assert [e.value for e in loss] == pytest.approx([h["train_loss"] for h in history], rel=1e-6)
    assert [e.step for e in acc.Scalars("val/val_3w5s_prototype_acc")] == [1, 2]
    rows = list(csv.DictReader((out / "zeroi2v" / "metrics.csv").open()))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in history]
    assert json.loads((out / "config.json").read_text())["tensorboard"] is True
    try:
        import wandb  # noqa: F401
    except ImportError:
        capsys.readouterr()
        assert fsrun.main(args(toy, tmp_path / "w", reference / "cache", "--wandb", "proj")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "pip install wandb" in err[0] and not (tmp_path / "w").exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused_first(toy, reference, tmp_path, capsys,
                                                                         monkeypatch):
    from zeroi2v.training import distributed

    monkeypatch.setattr(distributed, "get_world_size", lambda: 2)  # as under torchrun --nproc_per_node 2
    out = tmp_path / "run"
    assert fsrun.main(args(toy, out, reference / "cache", "--methods", "zeroi2v")) == 2  # --batch-size 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch-size 3" in err[0] and "divisible by the 2 processes" in err[0]
    assert not out.exists()
