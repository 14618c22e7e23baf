"""python -m zeroi2v.train on a tiny toy dataset: end to end, all-way K-shot, bad values,
resume after SIGKILL (bit-exact), and 2-process torchrun DDP vs a single process.
(Bad input, resume keys, disk full, tracking, --config and list datasets: tests/test_train_checks.py.)"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train_fixtures import REPO, TINY_MODEL, tiny_args, toy_root  # noqa: F401 (toy_root: a fixture)
from zeroi2v.train import cli as train


def read_record(out):
    from results.records import validate

    files = sorted((Path(out) / "records").glob("*.json"))
    assert len(files) == 1, files
    return validate(json.loads(files[0].read_text()))


def env():
    e = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")])
    return e


# the same command with every optimizer step slowed by 0.4 s (a test-side wrapper: no hook in the product)
SLOW_STEPS = """
import sys, time
import zeroi2v.training.engine as engine
real = engine.train_one_epoch
def slow(*a, on_step=None, **k):
    def step(s):
        on_step(s)
        time.sleep(0.4)
    return real(*a, on_step=step, **k)
engine.train_one_epoch = slow
from zeroi2v.train.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_cli(args, *, extra_env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "zeroi2v.train", *args], cwd=REPO, env={**env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=timeout)


def trainables(out):
    return torch.load(Path(out) / "checkpoint.pt", map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- end to end


def test_train_eval_merge_eval_export(toy_root, tmp_path):
    import zeroi2v

    out = tmp_path / "run"
    assert train.main(tiny_args(toy_root, out, "--epochs", "2", "--test-views", "1x3", "--eval-every", "1")) == 0
    rec = read_record(out)
    assert rec["kind"] == rec["protocol"] == "full" and rec["dataset"] == "toy" and rec["method"] == "zeroi2v"
    assert rec["views"] == "1x3" and rec["n_test"] == 8 and rec["world_size"] == 1
    assert abs(rec["top1"] - rec["top1_merged"]) <= 100 / 8 and abs(rec["top5"] - rec["top5_merged"]) <= 100 / 8
    assert rec["merge_max_rel_diff"] < 1e-5 and rec["merge_max_prob_diff"] < 1e-5
    assert rec["params_new"] == 4 * 32  # the temporal embedding (T x D); head and backbone as the image model
    assert rec["params_trainable"] > 0 and rec["gflops_per_view"] > 0 and rec["throughput"] > 0
    assert rec["stdha"] == [-1, 1, 0, 0] and rec["adapters"]["placements"]
    assert set(rec["stage_seconds"]) >= {"train", "eval", "merge", "eval_merged", "export"}
    cfg = json.loads((out / "config.json").read_text())
    # toy recipe (zeroi2v.settings.defaults, shared with the few-shot demo): no dropout, a higher rate, adapter scale 1
    assert cfg["size"] == 32 and cfg["lr"] == 2e-3 and cfg["weight_decay"] == 0.05 and cfg["head_dropout"] == 0.0
    assert cfg["adapter_scale"] == 1.0
    ck = trainables(out)
    assert ck["epoch"] == 2 and ck["step"] == 8 and len(ck["history"]) == 2
    assert "top1" in ck["history"][0]  # --eval-every 1 evaluated after epoch 1
    # the export reloads as a plain (adapter-free) model equal to the trained one
    # frozen weights come from the seeded init: rebuild them the same way
    torch.manual_seed(0)
    ref = zeroi2v.create_model("vit_tiny_patch16_224", num_frames=4, num_classes=4, img_size=32, patch_size=8,
                               embed_dim=32, depth=2, num_heads=4, adapter_scale=1.0)
    ref.load_state_dict(ck["model"], strict=False)
    reloaded = zeroi2v.create_model("vit_tiny_patch16_224", num_frames=4, num_classes=4, adapters=None,
                                    pretrained=str(out / "merged.safetensors"))
    x = torch.randn(2, 3, 4, 32, 32)
    diff = zeroi2v.check_merge(ref, reloaded, x)
    assert diff["max_rel"] < 1e-5


def test_kshot_allway_multiview_default_toy_weights(toy_root, tmp_path, monkeypatch):
    from episodes.allway import allway_subsets, write_allway_lists
    from zeroi2v import data

    items = data.list_videos("toy", toy_root, "train")
    lists = tmp_path / "allway"
    write_allway_lists(lists, "toy", allway_subsets([(v.video_id, v.label) for v in items], (2,), folds=2))
    out = tmp_path / "k2"
    args = tiny_args(toy_root, out, "--epochs", "1", "--batch-size", "2", "--train-subset", "kshot:2:2",
                     "--allway-dir", lists, "--test-views", "2x3", "--method", "zeroi2v_no_stdha", "--no-throughput",
                     "--label-smoothing", "0.1", "--accum", "2")
    args.remove("none"), args.remove("--pretrained")  # toy default: the image ViT pre-trained on toy frames
    monkeypatch.setenv("ZEROI2V_CACHE", str(tmp_path / "cache"))
    assert train.main(args) == 0
    rec = read_record(out)
    assert rec["pretrained"].startswith(str(tmp_path / "cache" / "pretrained"))
    assert rec["kind"] == rec["protocol"] == "kshot-allway" and rec["shots"] == 2 and rec["fold"] == 2
    assert rec["views"] == "2x3" and rec["method"] == "zeroi2v_no_stdha" and rec["stdha"] == [0, 0, 0, 0]
    assert rec["throughput"] is None
    assert json.loads((out / "config.json").read_text())["train_videos"] == 8
    # a missing list is a one-line error naming where it looked
    with pytest.raises(train.UserError, match="toy_k4_fold1.txt"):
        train.run(train.build_parser().parse_args(tiny_args(toy_root, tmp_path / "k4", "--train-subset",
                                                            "kshot:4:1", "--allway-dir", lists)),
                  train.D.init_distributed("cpu"))


def test_real_dataset_path_with_pretrained_weights(toy_root, tmp_path):
    """The toy is laid out like UCF101, so the ucf101 reader, --pretrained and the 1x3 default run on it."""
    import timm

    from zeroi2v.utils.io import sha256_file

    torch.manual_seed(1)
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **json.loads(TINY_MODEL))
    weights = tmp_path / "tiny.pth"
    torch.save(vit.state_dict(), weights)
    out = tmp_path / "ucf"
    args = tiny_args(toy_root, out, "--epochs", "1", "--size", "32", "--pretrained", weights,
                     "--backbone", "vit_tiny_patch16_224", "--no-throughput")
    args[args.index("toy")] = "ucf101"
    assert train.main(args) == 0
    rec = read_record(out)
    assert rec["dataset"] == "ucf101" and rec["views"] == "1x3" and rec["top1"] == rec["top1_merged"]
    assert rec["pretrained_sha256"] == sha256_file(weights)
    cfg = json.loads((out / "config.json").read_text())  # real datasets: the original recipe
    assert cfg["lr"] == 3e-4 and cfg["head_dropout"] == 0.5 and cfg["adapter_dropout"] == 0.1
    ck = trainables(out)
    # the frozen weights are the checkpoint's: patch embedding untouched by training
    import zeroi2v

    loaded = zeroi2v.create_model("vit_tiny_patch16_224", num_frames=4, num_classes=4, adapters=None,
                                  pretrained=str(out / "merged.safetensors"))
    assert torch.equal(loaded.backbone.patch_embed.proj.weight, vit.patch_embed.proj.weight)
    assert cfg["num_workers"] >= 1


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "-1"], "--epochs -1 must be >= 1"),
    (["--batch-size", "100"], "larger than the 16 training videos"),
    (["--test-views", "1x2"], "--test-views"),
    (["--train-subset", "kshot:x:1"], "kshot:K:FOLD"),
    (["--method", "aim"], "unknown method"),
    (["--lr", "nan"], "--lr"),
    (["--epochs", "two"], "invalid int value"),
])
def test_bad_values_exit_2_with_one_line(toy_root, tmp_path, capsys, extra, message):
    assert train.main(tiny_args(toy_root, tmp_path / "bad", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err


def test_unknown_dataset_and_missing_weights_or_data(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZEROI2V_UCF101_ROOT", raising=False)
    assert train.main(["--dataset", "k700", "--out", str(tmp_path / "a")]) == 2
    assert "unknown dataset 'k700'" in capsys.readouterr().err
    assert train.main(["--dataset", "toy", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert train.main(["--dataset", "ucf101", "--out", str(tmp_path / "b")]) == 2
    assert "--pretrained" in capsys.readouterr().err
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert train.main(["--dataset", "ucf101", "--pretrained", str(weights), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "--data-root" in err and "ZEROI2V_UCF101_ROOT" in err and err.count("\n") == 1


def test_cli_exit_code_and_existing_checkpoint(toy_root, tmp_path):
    r = run_cli(tiny_args(toy_root, tmp_path / "neg", "--epochs", "-3"))
    assert r.returncode == 2 and r.stderr.strip().startswith("error: --epochs -3") and r.stderr.count("\n") == 1
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "checkpoint.pt").write_bytes(b"")
    r = run_cli(tiny_args(toy_root, tmp_path / "old", "--epochs", "1"))
    assert r.returncode == 2 and "--resume" in r.stderr


# ---------------------------------------------------------------- resume after SIGKILL


def test_resume_after_sigkill_matches_uninterrupted_run(toy_root, tmp_path):
    common = ["--epochs", "3", "--deterministic", "--log-every", "1", "--no-throughput"]
    full = tmp_path / "full"
    r = run_cli(tiny_args(toy_root, full, *common))
    assert r.returncode == 0, r.stderr

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_STEPS, *tiny_args(toy_root, killed, *common)],
                            cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 180
        for line in proc.stdout:  # wait until epoch 2 is under way (epoch 1 is checkpointed)
            if line.startswith("[train] epoch 2 step 1/"):
                break
            assert time.time() < deadline
        else:
            pytest.fail("the run ended before epoch 2 started")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert trainables(killed)["epoch"] == 1  # killed mid-epoch 2
    assert not (killed / "records").exists()

    r = run_cli(tiny_args(toy_root, killed, *common, "--resume"))
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout and "1 epoch(s) done" in r.stdout
    a, b = trainables(full), trainables(killed)
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"]
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    ra, rb = read_record(full), read_record(killed)
    assert (ra["top1"], ra["top5"], ra["top1_merged"]) == (rb["top1"], rb["top5"], rb["top1_merged"])
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


# ---------------------------------------------------------------- torchrun DDP


def test_torchrun_two_processes_match_one(toy_root, tmp_path):
    # no dropout: the only randomness left is data order and augmentation, both from (seed, epoch[, index])
    common = ["--epochs", "2", "--head-dropout", "0", "--adapter-dropout", "0", "--no-throughput", "--lr", "1e-3"]
    single = tmp_path / "single"
    r = run_cli(tiny_args(toy_root, single, *common))  # batch 4 in one process
    assert r.returncode == 0, r.stderr
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "zeroi2v.train", *tiny_args(toy_root, ddp, *common)]
    # --batch-size is global: the same 4 videos per step, 2 on each process
    r = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote record") == 1  # rank 0 only
    rs, rd = read_record(single), read_record(ddp)
    assert rd["world_size"] == 2 and rd["n_test"] == rs["n_test"] == 8
    for key in ("top1", "top5", "top1_merged", "top5_merged"):
        assert abs(rs[key] - rd[key]) <= 100 / 8, key  # at most one video flips
    a, b = trainables(single), trainables(ddp)
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-5, rtol=1e-4), k
    for ha, hb in zip(a["history"], b["history"]):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)
