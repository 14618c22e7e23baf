"""fewshot.config: unset is None, resolved from zeroi2v.settings.defaults; one flag per concept; --config files."""
import dataclasses
import json

import pytest

from fewshot.config import RunConfig, build_parser, parse_args
from zeroi2v.settings import defaults as zd
from zeroi2v.utils.errors import UserError
from zeroi2v.settings.recipes import RECIPES, fewshot_recipe


def test_unset_fields_are_none_and_resolve_from_the_recipe(tmp_path):
    raw = RunConfig()
    assert all(getattr(raw, k) is None for k in ("ways", "shots", "backbone", "timm_kwargs", "frames", "size", "recipe",
                                                 "stdha", "out", "epochs", "batch_size", "accum", "lr", "num_workers"))
    toy = parse_args(["--dataset", "toy", "--out", str(tmp_path / "a")])  # the earlier demo: the toy, by name
    t = fewshot_recipe(RECIPES["toy"])  # the demo's numbers: 30 epochs, batch 8, lr 2e-3, 8 frames, ±1
    assert (toy.recipe, toy.epochs, toy.lr, toy.batch_size, toy.accum, toy.frames, toy.stdha) == (
        "toy", 30, 2e-3, 8, 1, 8, "-1:1,1:1") == ("toy", t.epochs, t.lr, t.batch_per_gpu, 1, t.frames, t.stdha)
    assert (toy.ways, toy.shots, toy.queries, toy.episodes) == (5, (1, 5), 1, 10_000)
    assert toy.backbone == zd.TOY_BACKBONE and toy.timm_kwargs == zd.TOY_VIT and toy.num_workers == 0
    assert toy.size is None  # the backbone's input size, filled when the model is built
    # the default demo, the time-only toy: its defaults row (no recipe), the tiny ViT too
    demo, row = parse_args(["--out", str(tmp_path / "a2")]), zd.defaults_for("toy_time")
    assert (demo.dataset, demo.recipe, demo.epochs, demo.lr, demo.batch_size, demo.frames, demo.stdha) == (
        "toy_time", None, row.adapt_epochs, row.lr, row.adapt_batch_size, row.frames, row.stdha)
    assert demo.backbone == zd.TOY_BACKBONE and demo.timm_kwargs == zd.TOY_VIT and demo.num_workers == 0
    ssv2 = parse_args(["--dataset", "ssv2", "--out", str(tmp_path / "b")])
    # clip_b16_ssv2_u16: 16 frames, ±1 ±2, batch 4 per GPU reaching the global 32 (4 x 8 GPUs) by accumulation,
    # lr 3e-4 (no scaling)
    assert (ssv2.dataset, ssv2.recipe, ssv2.frames, ssv2.stdha, ssv2.epochs, ssv2.batch_size, ssv2.accum, ssv2.lr) == (
        "ssv2_full", "clip_b16_ssv2_u16", 16, "-1:1,1:1,-2:1,2:1", 10, 4, 8, 3e-4)
    assert ssv2.backbone == "vit_base_patch16_clip_quickgelu_224" and ssv2.timm_kwargs == {}
    assert ssv2.num_workers == zd.default_num_workers()
    k400 = parse_args(["--dataset", "kinetics100", "--out", str(tmp_path / "c")])
    assert (k400.recipe, k400.batch_size, k400.accum, k400.lr) == ("clip_b16_k400_8x16x1", 8, 8, 3e-4)
    # K400's lr scales linearly with the global batch: 3e-4 x 16 x 1 / 64
    assert parse_args(["--dataset", "kinetics100", "--accum", "1", "--batch-size", "16", "--out",
                       str(tmp_path / "c")]).lr == pytest.approx(3e-4 * 16 / 64)
    hmdb = parse_args(["--dataset", "hmdb51", "--out", str(tmp_path / "d")])
    assert (hmdb.recipe, hmdb.batch_size, hmdb.accum, hmdb.frames, hmdb.stdha) == ("clip_b16_hmdb51_u8", 16, 8, 8,
                                                                                   "-1:1,1:1")
    large = parse_args(["--dataset", "ssv2_small", "--backbone", "vit_large_patch14_clip_quickgelu_224", "--out",
                        str(tmp_path / "e")])
    assert (large.recipe, large.frames, large.batch_size, large.accum) == ("clip_l14_ssv2_u32", 32, 2, 16)
    assert large.lr == pytest.approx(1.5e-4)  # auto_scale_lr: 3e-4 x (8 x 2) / 32
    # no recipe for your own videos, or with --recipe none: the dataset's defaults row
    for argv in (["--dataset", "list"], ["--dataset", "hmdb51", "--recipe", "none"]):
        d = zd.defaults_for(argv[1])
        c = parse_args([*argv, "--out", str(tmp_path / "f")])
        assert (c.recipe in (None, "none"), c.frames, c.stdha, c.epochs, c.batch_size, c.accum, c.lr) == (
            True, d.frames, d.stdha, d.adapt_epochs, d.adapt_batch_size, 1, d.lr)
        assert c.backbone == zd.REAL_BACKBONE


def test_recipe_batch_follows_the_processes_and_recipes_of_other_datasets_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")  # torchrun: the few-shot batch is global
    c = parse_args(["--dataset", "ssv2", "--out", str(tmp_path)])
    assert (c.batch_size, c.accum) == (32, 1)  # 8 GPUs x 4 = 32: the original's
    assert parse_args(["--out", str(tmp_path)]).batch_size == 8  # the toy's global batch stays 8
    for world in range(1, 9):  # the default batch always splits over the processes
        monkeypatch.setenv("WORLD_SIZE", str(world))
        for dataset in ("toy", "ssv2", "kinetics100", "hmdb51", "ucf101"):
            c = parse_args(["--dataset", dataset, "--out", str(tmp_path)])
            got = c.batch_size * c.accum  # the toy never accumulates: at most its batch of 8
            want = {"ssv2": 32, "kinetics100": 64, "hmdb51": 128, "ucf101": 128}.get(dataset)
            near = got <= 8 if dataset == "toy" else abs(got - want) <= c.batch_size / 2
            assert c.batch_size % world == 0 and near, (world, dataset, c.batch_size, c.accum)
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(UserError, match="clip_b16_k400_8x16x1 is for k400 videos, not hmdb51"):
        parse_args(["--dataset", "hmdb51", "--recipe", "clip_b16_k400_8x16x1", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="unknown recipe"):
        parse_args(["--recipe", "nope", "--out", str(tmp_path)])


def test_list_recipes_prints_the_table_and_the_fewshot_changes(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--list-recipes"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "clip_b16_ssv2_u16" in out and "fewshot.run changes: original: {'epochs': 10" in out


def test_explicit_values_win_and_old_spellings_are_hidden_aliases(tmp_path):
    cfg = parse_args(["--size", "48", "--batch", "3", "--workers", "2", "--epochs", "1", "--lr", "0.5",
                      "--amp", "none", "--timm-kwargs", "{}", "--out", str(tmp_path)])
    assert (cfg.size, cfg.batch_size, cfg.num_workers, cfg.epochs, cfg.lr, cfg.amp) == (48, 3, 2, 1, 0.5, "none")
    assert cfg.timm_kwargs == {}  # an explicit {} is not "unset"
    helptext = build_parser().format_help()
    assert "--batch-size" in helptext and "--num-workers" in helptext and "--timm-kwargs" in helptext
    assert "--batch " not in helptext and "--workers" not in helptext


def test_config_file_round_trip_and_override(tmp_path):
    cfg = parse_args(["--ways", "3", "--shots", "2", "--seed", "4", "--out", str(tmp_path / "o")])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dataclasses.asdict(cfg)))
    assert parse_args(["--config", str(path)]) == cfg
    assert parse_args(["--config", str(path), "--ways", "4"]) == dataclasses.replace(cfg, ways=4)
    path.write_text(json.dumps({**dataclasses.asdict(cfg), "magic": 1}))
    with pytest.raises(UserError, match="unknown field"):
        parse_args(["--config", str(path)])
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(UserError, match="not a JSON config"):
        parse_args(["--config", str(path)])


def test_a_config_from_before_recipes_replays_as_it_ran(tmp_path):
    cfg = dataclasses.asdict(parse_args(["--dataset", "hmdb51", "--out", str(tmp_path / "o")]))
    for k in ("recipe", "accum", "loader"):
        del cfg[k]  # what config.json held before recipes and --loader
    cfg["batch_size"], cfg["frames"], cfg["stdha"], cfg["lr"], cfg["epochs"] = 8, 8, "default", 3e-4, 10
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    old = parse_args(["--config", str(path)])
    assert (old.recipe, old.accum, old.loader, old.batch_size) == ("none", 1, "float32", 8)
