"""Every method end to end through both programs on the toy: fewshot.run (same episodes, records with
cost and what ran at inference) and zeroi2v.train (merged where the method merges)."""
import json
from pathlib import Path

import pytest

from train_fixtures import tiny_args, toy_root  # noqa: F401  (module fixture)
from fewshot_fixtures import TINY_VIT, make_fewshot_toy
from zeroi2v.methods import METHODS


@pytest.fixture(scope="module")
def fewshot_toy(tmp_path_factory):
    return make_fewshot_toy(tmp_path_factory)


def test_fewshot_run_every_method_on_the_same_episodes(fewshot_toy, tmp_path):
    from fewshot import run as fsrun

    out = tmp_path / "run"
    assert fsrun.main(["--dataset", "toy", "--data-root", str(fewshot_toy), "--timm-kwargs", TINY_VIT, "--frames", "4", "--ways", "3",
                       "--shots", "1", "--episodes", "20", "--epochs", "1", "--batch-size", "3", "--out", str(out),
                       "--cache-dir", str(tmp_path / "cache"), "--methods", ",".join(METHODS)]) == 0
    recs = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    by = {(r["method"], r["protocol"]): r for r in recs}
    assert set(by) == {(m, p) for m in METHODS for p in ("prototype", "finetune")}
    assert len({r["episode_set_hash"] for r in recs}) == 1  # one episode set for every method
    what = {m: by[(m, "prototype")]["inference_model"] for m in METHODS}
    assert what == dict(frozen="image", full_finetune="trained", aim="trained", st_adapter="trained",
                        zeroi2v_no_stdha="merged", zeroi2v="merged")
    for r in recs:
        assert {"params_total", "params_trainable", "params_new", "gflops_per_view", "flops_ratio",
                "latency_ratio"} <= set(r)
    r = {m: by[(m, "prototype")] for m in METHODS}
    assert r["frozen"]["params_trainable"] == 0 and r["frozen"]["params_new"] == 0
    assert r["zeroi2v"]["flops_ratio"] == r["frozen"]["flops_ratio"] == 1.0  # merged: the image model's cost
    assert r["aim"]["flops_ratio"] > 1.2 and r["st_adapter"]["flops_ratio"] > 1.0
    assert r["full_finetune"]["adaptation"]["train"]["backbone_lr_mult"] == 0.1  # backbone at 0.1x the head's lr
    assert r["zeroi2v"]["adaptation"]["train"]["backbone_lr_mult"] == 1.0
    assert (out / "zeroi2v" / "merged.safetensors").is_file() and not (out / "aim" / "merged.safetensors").exists()


@pytest.mark.parametrize("method", ["full_finetune", "aim", "st_adapter", "frozen"])
def test_zeroi2v_train_every_method(method, toy_root, tmp_path):  # noqa: F811
    from zeroi2v.train.cli import main

    out = tmp_path / method
    assert main(tiny_args(toy_root, out, "--epochs", "1", "--method", method)) == 0
    rec = json.loads(next((out / "records").glob("*.json")).read_text())
    mergeable = method == "frozen"
    assert rec["method"] == method and rec["inference_model"] == ("merged" if mergeable else "trained")
    assert (rec["top1_merged"] is not None) == mergeable and (out / "merged.safetensors").is_file() == mergeable
    assert rec["flops_ratio"] >= 0.99 and rec["latency_ratio"] > 0 and rec["params_trainable"] > 0
    cfg = json.loads(Path(out / "config.json").read_text())
    assert cfg["backbone_lr_mult"] == (0.1 if method == "full_finetune" else 1.0) and cfg["stdha"] == "none"
