"""fewshot.config: unset is None, resolved from zeroi2v.defaults; one flag per concept; --config files."""
import dataclasses
import json

import pytest

from fewshot.config import RunConfig, build_parser, parse_args
from zeroi2v import defaults as zd
from zeroi2v.errors import UserError


def test_unset_fields_are_none_and_resolve_from_the_defaults_table(tmp_path):
    raw = RunConfig()
    assert all(getattr(raw, k) is None for k in ("ways", "shots", "backbone", "timm_kwargs", "frames", "size",
                                                 "stdha", "out", "epochs", "batch_size", "lr", "num_workers"))
    toy = parse_args(["--out", str(tmp_path / "a")])
    d = zd.defaults_for("toy")
    assert (toy.epochs, toy.lr, toy.batch_size, toy.frames, toy.stdha) == (d.adapt_epochs, d.lr, d.adapt_batch_size,
                                                                          d.frames, d.stdha)
    assert (toy.ways, toy.shots, toy.queries, toy.episodes) == (5, (1, 5), 1, 10_000)
    assert toy.backbone == zd.TOY_BACKBONE and toy.timm_kwargs == zd.TOY_VIT and toy.num_workers == 0
    assert toy.size is None  # the backbone's input size, filled when the model is built
    ssv2 = parse_args(["--dataset", "ssv2", "--out", str(tmp_path / "b")])
    s = zd.defaults_for("ssv2_full")
    assert (ssv2.dataset, ssv2.stdha, ssv2.epochs, ssv2.lr) == ("ssv2_full", "ssv2", s.adapt_epochs, s.lr)
    assert ssv2.backbone == zd.REAL_BACKBONE and ssv2.timm_kwargs == {}
    assert ssv2.num_workers == zd.default_num_workers()


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
