"""zeroi2v.train: bad input is one line + exit 2 and changes nothing under --out; resume keys; crafted
checkpoints; disk full; divergence; metrics.csv/jsonl + TensorBoard; --config replay; list datasets."""
import errno
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train_fixtures
from train_fixtures import REPO, TINY_MODEL, toy_root  # noqa: F401 (toy_root: a fixture)
from zeroi2v.train import cli as train

tiny_args = functools.partial(train_fixtures.tiny_args, throughput=False)


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_exit_2(capsys, rc) -> str:
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def record(out):
    files = sorted((Path(out) / "records").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


@pytest.fixture(scope="module")
def done(toy_root, tmp_path_factory):
    """One finished 2-epoch run (with an evaluation after epoch 1 and TensorBoard if installed)."""
    out = tmp_path_factory.mktemp("done") / "run"
    tb = ["--tensorboard"] if _has_tensorboard() else []
    assert train.main(tiny_args(toy_root, out, "--epochs", "2", "--eval-every", "1", *tb)) == 0
    return out


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- bad input: one line, nothing changed


@pytest.mark.parametrize("extra, message", [
    (["--device", "foo"], "--device 'foo'"),
    (["--timm-kwargs", '{"depth": -1}'], "cannot build"),
    (["--model-kwargs", '{"depth": -1}'], "cannot build"),  # the old spelling, same check
    (["--timm-kwargs", "[1]"], "JSON object"),
    (["--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    (["--lr", "1e30"], "--lr 1e+30 must be a finite number"),
    (["--lr", "0"], "--lr 0.0"),
    (["--weight-decay", "1e9"], "--weight-decay 1000000000.0 must be a finite number in [0, 1]"),
    (["--clip-grad", "-1"], "--clip-grad -1.0"),
    (["--clip-grad", "nan"], "--clip-grad nan"),
    (["--min-lr-ratio", "2"], "--min-lr-ratio 2.0 must be a finite number in [0, 1]"),
    (["--warmup-epochs", "inf"], "argument --warmup-epochs: 'inf' is not a finite number"),
    (["--adapter-scale", "0"], "--adapter-scale"),
    (["--fold", "5"], "--fold 5: toy has fold(s) 1"),
    (["--split", "5"], "--fold 5: toy has fold(s) 1"),  # the old spelling: the same check, refused before its note
    (["--amp", "fp8"], "--amp"),
    (["--config", "/nonexistent/config.json"], "--config /nonexistent/config.json not found"),
] + ([] if _has_tensorboard() else [(["--tensorboard"], "pip install tensorboard")]))
def test_bad_option_is_one_line_and_changes_nothing(toy_root, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "1", *extra)))
    assert message in err
    assert snapshot(out) == before


def test_split_names_the_folds_of_hmdb(tmp_path, capsys):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    err = one_line_exit_2(capsys, train.main(["--dataset", "hmdb51", "--split", "5", "--pretrained", str(weights),
                                              "--out", str(tmp_path / "o")]))
    assert "--fold 5: hmdb51 has fold(s) 1, 2, 3" in err and not (tmp_path / "o").exists()


def test_out_pointing_at_a_file_and_pretrained_directory(toy_root, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep")
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, f)))
    assert "--out" in err and "is a file" in err and f.read_text() == "keep"
    args = tiny_args(toy_root, tmp_path / "o")
    args[args.index("none")] = str(tmp_path)
    assert "is a directory" in one_line_exit_2(capsys, train.main(args))


# ---------------------------------------------------------------- resume: identity, config, crafted files


@pytest.mark.parametrize("extra, key", [
    (["--stdha", "-1:1,1:1,-2:1"], "stdha="),  # a value starting with "-" is still the value
    (["--frames", "2"], "frames="),
    (["--lr", "1e-3"], "lr="),
    (["--adapter-scale", "0.5"], "adapter_scale="),
    (["--method", "zeroi2v_no_stdha"], "method="),
])
def test_resume_refuses_another_model_or_config(done, tmp_path, toy_root, capsys, extra, key):
    out = tmp_path / "run"
    shutil.copytree(done, out)
    before = snapshot(out)
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "2", "--resume", *extra)))
    assert key in err and "use a new --out or drop --resume" in err and str(out / "checkpoint.pt") in err
    assert snapshot(out) == before


def test_resume_with_more_epochs_keeps_the_warmup_and_refuses_another_explicit_one(done, tmp_path, toy_root,
                                                                                   capsys):
    """--epochs may change on resume: the default warm-up (min(2.5, epochs/4)) is the checkpoint's, not
    the new --epochs'; an explicit other --warmup-epochs is refused in one line."""
    out = tmp_path / "run"
    shutil.copytree(done, out)
    before = snapshot(out)
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "3", "--resume",
                                                       "--warmup-epochs", "0.75")))
    assert "warmup_epochs=0.5, this run has warmup_epochs=0.75" in err and snapshot(out) == before
    assert train.main(tiny_args(toy_root, out, "--epochs", "3", "--resume")) == 0
    log = capsys.readouterr().out
    assert "keeping the checkpoint's warm-up of 0.5 epoch(s)" in log
    assert "checkpoint was for 2 epochs, now 3: the cosine schedule is stretched" in log
    assert "2 epoch(s) done" in log and "epoch 3/3" in log
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["epochs"] == 3 and cfg["warmup_epochs"] == 0.5


def test_resume_refuses_other_pretrained_weights(toy_root, tmp_path, capsys):
    import timm

    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **json.loads(TINY_MODEL))
        paths.append(tmp_path / f"w{seed}.pth")
        torch.save(vit.state_dict(), paths[-1])
    out = tmp_path / "run"
    args = tiny_args(toy_root, out, "--epochs", "1")
    args[args.index("none")] = str(paths[0])
    assert train.main(args) == 0
    capsys.readouterr()
    args[args.index(str(paths[0]))] = str(paths[1])
    err = one_line_exit_2(capsys, train.main(args + ["--resume", "--epochs", "2"]))
    assert "pretrained_sha256=" in err and "drop --resume" in err


def test_crafted_pickle_checkpoint_is_refused_not_executed(toy_root, tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    out = tmp_path / "run"
    out.mkdir()
    torch.save({"format": "zeroi2v-train-state/2", "epoch": 1, "payload": Evil()}, out / "checkpoint.pt")
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "1", "--resume")))
    assert "cannot read training state" in err and not marker.exists()


def test_a_checkpoint_loads_with_weights_only_and_holds_rng_as_tensors(done):
    ck = torch.load(done / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["format"] == "zeroi2v-train-state/2" and ck["epoch"] == 2 and ck["step"] == 8
    rng = ck["rng"][0]
    assert isinstance(rng["torch"], torch.Tensor) and isinstance(rng["numpy"]["keys"], torch.Tensor)
    assert ck["identity"]["stdha"] == [-1, 1, 0, 0] and ck["identity"]["frames"] == 4
    assert ck["config"]["lr"] == 2e-3 and "frozen_fingerprint" in ck["identity"]


# ---------------------------------------------------------------- failures during a run


def test_diverging_run_stops_with_one_line_naming_epoch_and_loss(toy_root, tmp_path, capsys, monkeypatch):
    import torch.nn.functional as F

    real, calls = F.cross_entropy, {"n": 0}

    def nan_in_epoch_2(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * float("nan") if calls["n"] > 4 else loss  # 4 batches per epoch

    monkeypatch.setattr(F, "cross_entropy", nan_in_epoch_2)
    out = tmp_path / "run"
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "3")))
    assert "training diverged at epoch 2: loss nan" in err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_disk_full_during_checkpoint_keeps_the_previous_one(toy_root, tmp_path, capsys, monkeypatch):
    real, calls = Path.write_bytes, {"n": 0}

    def full_on_second_checkpoint(self, data):
        if self.name.startswith(".checkpoint.pt."):  # the temp file of an atomic write
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_on_second_checkpoint)
    out = tmp_path / "run"
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "2")))
    assert str(out / "checkpoint.pt") in err and "no space left" in err
    monkeypatch.undo()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_disk_full_during_record_write(toy_root, tmp_path, capsys, monkeypatch):
    import results.records

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.records, "write_record", full)
    out = tmp_path / "run"
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, out, "--epochs", "1")))
    assert str(out / "records") in err and "no space left" in err


def test_file_size_limit_in_a_subprocess_is_one_line(toy_root, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = " ".join(f"'{a}'" for a in [sys.executable, "-m", "zeroi2v.train", *tiny_args(toy_root, out, "--epochs", "1")])
    r = subprocess.run(["bash", "-c", f"ulimit -f 16; exec {cmd}"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no space left" in r.stderr, r.stderr[-2000:]
    assert not (out / "checkpoint.pt").exists() and not [p for p in out.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------- tracking


def test_metrics_csv_and_jsonl(done):
    import csv

    from zeroi2v.training.tracking import COLUMNS

    rows = list(csv.DictReader((done / "metrics.csv").open()))
    assert tuple(rows[0]) == COLUMNS and [r["epoch"] for r in rows] == ["1", "2"]
    assert [r["step"] for r in rows] == ["4", "8"]
    assert rows[0]["val_metric_name"] == "test_top1" and 0 <= float(rows[0]["val_metric"]) <= 100
    assert rows[1]["val_metric"] == "" and rows[1]["peak_mem_mb"] == ""  # not measured (CPU; no eval at the end)
    lines = [json.loads(x) for x in (done / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and lines[1]["val_metric"] is None
    ck = torch.load(done / "checkpoint.pt", weights_only=True)
    for row, h in zip(lines, ck["history"]):
        assert row["train_loss"] == h["train_loss"] and row["lr"] == h["lr"] and row["throughput"] > 0
    assert float(rows[1]["train_loss"]) == lines[1]["train_loss"]


def test_tensorboard_events(done):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(done / "tensorboard"))
    acc.Reload()
    loss = acc.Scalars("train_loss")
    assert [e.step for e in loss] == [1, 2]
    ck = torch.load(done / "checkpoint.pt", weights_only=True)
    assert loss[1].value == pytest.approx(ck["history"][1]["train_loss"], rel=1e-6)
    assert [e.step for e in acc.Scalars("val/test_top1")] == [1]


def test_wandb_missing_is_one_line(toy_root, tmp_path, capsys):
    try:
        import wandb  # noqa: F401
        pytest.skip("wandb is installed")
    except ImportError:
        pass
    err = one_line_exit_2(capsys, train.main(tiny_args(toy_root, tmp_path / "o", "--wandb", "proj")))
    assert "pip install wandb" in err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------- --config replay, aliases


def test_config_replay_gives_the_same_run_and_flags_override(done, tmp_path):
    again = tmp_path / "again"
    assert train.main(["--config", str(done / "config.json"), "--out", str(again)]) == 0
    a, b = json.loads((done / "config.json").read_text()), json.loads((again / "config.json").read_text())
    assert {k: v for k, v in a.items() if k != "out"} == {k: v for k, v in b.items() if k != "out"}
    ra, rb = record(done), record(again)
    assert (ra["top1"], ra["top5"], ra["top1_merged"]) == (rb["top1"], rb["top5"], rb["top1_merged"])
    args = train.parse_args(["--config", str(done / "config.json"), "--epochs", "5", "--lr", "1e-3"])
    assert args.epochs == 5 and args.lr == 1e-3 and args.dataset == "toy" and args.frames == 4
    args = train.parse_args(["--config", str(next((done / "records").glob("*.json")))])  # a record's config
    assert args.frames == 4 and args.no_throughput is True


def test_old_flag_spellings_are_hidden_aliases():
    from zeroi2v.settings import flags

    args = train.parse_args(["--dataset", "toy", "--workers", "3", "--model-kwargs", '{"depth": 2}', "--split", "2",
                             "--method", "frozen", "--batch", "4"])
    assert args.num_workers == 3 and args.timm_kwargs == {"depth": 2}  # parsed by zeroi2v.utils.errors.json_object
    assert args.fold == 2 and args.methods == ("frozen",) and args.batch_size == 4
    assert flags.NOTES == ["note: --workers is deprecated; use --num-workers",
                           "note: --model-kwargs is deprecated; use --timm-kwargs",
                           "note: --split is deprecated; use --fold", "note: --method is deprecated; use --methods",
                           "note: --batch is deprecated; use --batch-size"]
    text = train.build_parser().format_help()
    assert "--num-workers" in text and "--timm-kwargs" in text and "--fold" in text and "--methods" in text
    assert "--workers" not in text and "--model-kwargs" not in text and "--split" not in text


# ---------------------------------------------------------------- your own videos: --dataset list


def test_list_dataset(toy_root, tmp_path, capsys):
    root = tmp_path / "mine"
    shutil.copytree(toy_root / "videos", root / "clips")
    names = [line.split()[1] for line in (toy_root / "ucfTrainTestlist" / "classInd.txt").read_text().splitlines()]
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    for split, src in (("train", "trainlist01.txt"), ("test", "testlist01.txt")):
        lines = [line.split()[0] for line in (toy_root / "ucfTrainTestlist" / src).read_text().splitlines()]
        (root / f"{split}.txt").write_text("".join(f"clips/{p} {names.index(p.split('/')[0])}\n" for p in lines))
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **json.loads(TINY_MODEL))
    torch.save(vit.state_dict(), tmp_path / "w.pth")
    out = tmp_path / "run"
    args = tiny_args(root, out, "--epochs", "1", "--size", "32", "--backbone", "vit_tiny_patch16_224",
                     "--test-views", "1x1")
    args[1], args[args.index("none")] = "list", str(tmp_path / "w.pth")
    assert train.main(args) == 0
    rec = record(out)
    assert rec["dataset"] == "list" and rec["n_test"] == 8 and rec["num_classes"] == 4
    assert (out / "metrics.csv").is_file()
    # a few-shot layout (test classes disjoint from train) would score 0 % by construction: refused
    first = names[0]
    (root / "train.txt").write_text("".join(line + "\n" for line in (root / "train.txt").read_text().splitlines()
                                            if not line.startswith(f"clips/{first}/")))
    refused = tmp_path / "refused"
    args = tiny_args(root, refused, "--epochs", "1", "--size", "32", "--backbone", "vit_tiny_patch16_224")
    args[1], args[args.index("none")] = "list", str(tmp_path / "w.pth")
    capsys.readouterr()
    err = one_line_exit_2(capsys, train.main(args))
    assert f"never appear in its train list (first: '{first}')" in err and "fewshot.run" in err
    assert not any(refused.rglob("*")) if refused.exists() else True  # nothing written by a refused run


# ---------------------------------------------------------------- --recipe, --list-recipes


def test_list_recipes(capsys):
    assert train.main(["--list-recipes"]) == 0
    out = capsys.readouterr().out
    assert "clip_b16_k400_8x16x1" in out and "clip_l14_ssv2_u32" in out


def test_recipe_fills_unset_flags_scales_lr_and_is_recorded(toy_root, tmp_path, capsys):
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **json.loads(TINY_MODEL))
    torch.save(vit.state_dict(), tmp_path / "w.pth")
    out = tmp_path / "run"
    args = tiny_args(toy_root, out, "--epochs", "1", "--size", "32", "--backbone", "vit_tiny_patch16_224",
                     "--recipe", "clip_b16_k400_8x16x1", "--test-views", "1x1")
    args[args.index("none")] = str(tmp_path / "w.pth")
    args[1] = "ucf101"  # the toy is laid out like UCF101
    err = one_line_exit_2(capsys, train.main(args))
    assert "--recipe clip_b16_k400_8x16x1 is for --dataset k400, not ucf101" in err
    args[args.index("clip_b16_k400_8x16x1")] = "clip_b16_ucf101_u8"
    assert train.main(args + ["--accum", "2"]) == 0
    text = capsys.readouterr().out
    assert "recipe clip_b16_ucf101_u8 resolved:" in text
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == "clip_b16_ucf101_u8" and cfg["bias_decay"] is True and cfg["warmup_start"] == 0.1
    assert cfg["randaugment"] == [7, 4] and cfg["crop_area"] == [0.08, 1.0] and cfg["short_side"] == 256
    assert cfg["epochs"] == 1 and cfg["frames"] == 4 and cfg["batch_size"] == 4 and cfg["accum"] == 2  # flags win
    assert cfg["lr"] == 3e-4 and cfg["label_smoothing"] == 0.0 and cfg["stdha"] == "-1:1,1:1"  # no lr scaling
    assert record(out)["recipe"] == "clip_b16_ucf101_u8"


def test_recipe_linear_lr_scaling_is_printed(capsys):
    from zeroi2v.train.recipe import apply_recipe

    args = train.parse_args(["--recipe", "clip_b16_k400_8x16x1", "--batch-size", "8", "--accum", "2"])
    fields = apply_recipe(args)
    assert args.dataset == "k400" and args.lr == pytest.approx(3e-4 * 16 / 64) and fields["backbone_lr_mult"] == 1.0
    assert "lr 0.0003 x global batch 16 (8 x 2 accum x 1 process(es)) / (1 x base 64) = 7.5e-05" in capsys.readouterr().out
    args = train.parse_args(["--recipe", "clip_l14_k400_8x16x1"])
    assert apply_recipe(args)["backbone_lr_mult"] == 0.1 and args.frames == 8 and args.sampling == "dense"


def test_default_recipe_per_dataset_makes_up_the_global_batch(capsys):
    from zeroi2v.train.recipe import apply_recipe

    args = train.parse_args(["--dataset", "k400", "--batch-size", "8"])
    fields = apply_recipe(args)
    assert fields["recipe"] == "clip_b16_k400_8x16x1" and args.accum == 8 and args.lr == pytest.approx(3e-4)
    assert fields["schedule"] == "cosine_epoch" and fields["warmup_start"] == 0.1 and fields["bias_decay"] is True
    assert "global batch 64 = 8 x 1 process(es) x --accum 8" in capsys.readouterr().out
    args = train.parse_args(["--dataset", "ssv2", "--backbone", "vit_large_patch14_clip_quickgelu_224"])
    assert apply_recipe(args)["recipe"] == "clip_l14_ssv2_u32" and args.frames == 32
    args = train.parse_args(["--dataset", "hmdb51", "--recipe", "none"])
    assert apply_recipe(args)["recipe"] is None and args.frames is None  # zeroi2v.settings.defaults' row fills it later
    assert apply_recipe(train.parse_args(["--dataset", "list"]))["recipe"] is None


def test_toy_recipe_equals_the_toy_defaults_row():
    from zeroi2v.settings.defaults import defaults_for

    from zeroi2v.train.recipe import apply_recipe

    d = defaults_for("toy")
    args = train.parse_args(["--dataset", "toy"])
    fields = apply_recipe(args)
    assert fields["recipe"] == "toy"
    assert (args.epochs, args.batch_size, args.lr, args.head_dropout, args.adapter_dropout, args.adapter_scale,
            args.test_views, fields["flip"], fields["crop_area"], args.sampling) == \
           (d.epochs, d.batch_size, d.lr, d.head_dropout, d.adapter_dropout, d.adapter_scale, d.test_views,
            float(d.flip), d.crop_area, d.sampling)
    assert fields["bias_decay"] is False and fields["warmup_start"] == 0.0 and fields["randaugment"] is None
    assert fields["schedule"] == "cosine"


def test_train_datasets_and_their_defaults_come_from_the_dataset_records():
    """One source: zeroi2v.train's datasets and readers are the records of zeroi2v.settings.datasets, and no
    per-dataset default has a second value in TrainConfig."""
    import dataclasses

    from zeroi2v import data
    from zeroi2v.settings.datasets import RECORDS
    from zeroi2v.settings.defaults import DatasetDefaults
    from zeroi2v.train.config import TrainConfig

    readers = {name: r.reader for name, r in RECORDS.items()}
    assert readers["k400"] == "kinetics" and all(readers[n] == n for n in readers if n != "k400")
    assert all(reader in data.READERS for reader in readers.values())
    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    shared = [f.name for f in dataclasses.fields(DatasetDefaults) if f.name in train_fields]
    assert {"frames", "epochs", "lr", "weight_decay", "warmup_epochs", "head_dropout", "adapter_dropout",
            "adapter_scale", "sampling", "test_views", "stdha"} <= set(shared)
    for name in shared:
        f = train_fields[name]
        # no default, or None (unset: the row's value)
        assert f.default in (dataclasses.MISSING, None) and f.default_factory is dataclasses.MISSING, name
