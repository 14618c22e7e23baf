"""fewshot.run on bad input and odd settings: skipped videos, refused flags, this run's table, --config, --seeds."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fewshot import run as fsrun
from fewshot.config import build_parser
from zeroi2v.data import ToyConfig, make_toy

TINY_VIT = '{"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4}'
TOY = ToyConfig(num_classes=9, class_split=(3, 3, 3), videos_per_class=6, test_per_class=2, frames=8, size=32,
                images_per_class=4)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy(tmp_path_factory.mktemp("toy") / "data", TOY)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def argv(toy, out, cache, *extra, episodes=("--ways", "3", "--shots", "1", "--episodes", "30")):
    return ["--dataset", "toy", "--data-root", str(toy), "--timm-kwargs", TINY_VIT, "--frames", "4", *episodes, "--methods", "frozen",
            "--batch-size", "3", "--out", str(out), "--cache-dir", str(cache), *extra]


def records(out):
    return [json.loads(p.read_text()) for p in sorted((Path(out) / "records").glob("*.json"))]


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_mtime_ns, p.read_bytes()) for p in d.rglob("*") if p.is_file()}


def test_a_corrupt_test_video_is_skipped_and_its_episodes_dropped_and_counted(toy, tmp_path, cache):
    from fewshot.splitdata import load_fewshot_data

    data = tmp_path / "data"
    shutil.copytree(toy, data)
    fs = load_fewshot_data("toy", str(data))
    bad = fs.items[fs.splits["test"][0].video_id]
    bad.path.write_bytes(os.urandom(5000))
    out = tmp_path / "run"
    assert fsrun.main(argv(data, out, tmp_path / "c", "--on-error", "skip")) == 0
    eps = [json.loads(line) for line in next((out / "episodes").glob("*seed0.jsonl")).read_text().splitlines()]
    needing = sum(any(bad.video_id in c for c in ep["support"] + ep["query"]) for ep in eps)
    assert 0 < needing < 30
    for r in records(out):
        assert r["videos_skipped"] == 1 and r["skipped_videos"] == [bad.video_id]
        assert r["episodes_skipped"] == needing and r["n_episodes"] == 30 - needing == r["episodes_sampled"] - needing
        assert len(np.load(out / r["episode_accuracies"])) == 30 - needing
        kept = [json.loads(line) for line in Path(r["episode_set"]).read_text().splitlines()]
        assert len(kept) == 30 - needing and all(bad.video_id not in json.dumps(ep) for ep in kept)
        from fewshot.embed import read_cache

        assert bad.video_id not in read_cache(Path(r["feature_cache"]))[0]


def _episode_file(toy, path, ways=3, shots=2):
    from episodes.episode_set import sample_episode_set, write_episode_set
    from episodes.splits import load_split

    write_episode_set(path, sample_episode_set(load_split("toy", "test", root=toy), ways, shots, 1, 20, 7))
    return path


def _foreign_class_file(toy, path):
    lines = _episode_file(toy, path).read_text().splitlines()
    ep = json.loads(lines[3])
    ep["classes"][0] = "not_a_toy_class"
    lines[3] = json.dumps(ep, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("case, extra, message", [
    ("ways1", ["--ways", "1"], "--ways must be at least 2"),
    ("ways-file", ["--ways", "4"], "--ways 4 given beside --episodes-file"),
    ("shots-file", ["--shots", "5"], "--shots 5 given beside --episodes-file"),
    ("bad-file", [], "not_a_toy_class"),
    ("device", ["--device", "foo"], "--device 'foo' is not a device"),
    ("out-file", [], "is a file, not a directory"),
    ("cache-file", [], "is a file, not a directory"),
    ("epochs0", ["--epochs", "0"], "--epochs must be at least 1"),
    ("lr-nan", ["--lr", "nan"], "not a finite number"),
    ("seed-seeds", ["--seed", "1", "--seeds", "0,1"], "--seed and --seeds given together"),
    ("ways-split", ["--ways", "7"], "ways"),
    ("amp", ["--amp", "fp8"], "--amp"),
])
def test_refused_runs_are_one_line_exit_2_and_change_nothing_under_out(case, extra, message, toy, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's file\n")
    cache = tmp_path / "cache"
    episodes = ("--ways", "3", "--shots", "1", "--episodes", "30")
    if case in ("ways-file", "shots-file", "bad-file"):
        make = _foreign_class_file if case == "bad-file" else _episode_file
        episodes = ("--episodes-file", str(make(toy, tmp_path / "set.jsonl")))
    if case == "ways-split":
        episodes = ()
    target = out
    if case == "out-file":
        target = out / "earlier.txt"
    if case == "cache-file":
        cache = out / "earlier.txt"
    before = snapshot(out)
    assert fsrun.main(argv(toy, target, cache, *extra, episodes=episodes)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("error: "), err
    assert snapshot(out) == before
    assert not cache.exists() or cache.is_file()


def test_flags_equal_to_the_episode_file_are_accepted_and_the_file_values_recorded(toy, tmp_path, cache):
    path = _episode_file(toy, tmp_path / "set.jsonl", ways=3, shots=2)
    assert fsrun.main(argv(toy, tmp_path / "run", cache, "--ways", "3",
                           episodes=("--episodes-file", str(path)))) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["ways"], cfg["shots"], cfg["queries"], cfg["episodes"]) == (3, [2], 1, 20)


def test_the_printed_table_has_only_this_runs_records_and_config_replays(toy, tmp_path, cache, capsys):
    out = tmp_path / "run"
    assert fsrun.main(argv(toy, out, cache, episodes=("--ways", "3", "--shots", "1", "--episodes", "30"))) == 0
    first = capsys.readouterr().out
    assert "1-shot" in first
    # into an earlier run's folder only with --resume (the same adaptation, other episodes)
    assert fsrun.main(argv(toy, out, cache, episodes=("--ways", "3", "--shots", "2", "--episodes", "20"))) == 2
    assert "pass --resume to continue that run" in capsys.readouterr().err
    assert fsrun.main(argv(toy, out, cache, "--resume", episodes=("--ways", "3", "--shots", "2", "--episodes", "20"))) == 0
    second = capsys.readouterr().out
    assert "3-way 2-shot" in second and "1-shot" not in second
    # --config replays the second run; a flag beside it overrides one field
    replay = tmp_path / "replay"
    assert fsrun.main(["--config", str(out / "config.json"), "--out", str(replay)]) == 0
    assert capsys.readouterr().out == second.replace(str(out), str(replay))
    a = {(r["shots"], r["protocol"]): r["accuracy"] for r in records(out) if r["shots"] == 2}
    b = {(r["shots"], r["protocol"]): r["accuracy"] for r in records(replay)}
    assert a == b
    cfg = json.loads((replay / "config.json").read_text())
    assert cfg == {**json.loads((out / "config.json").read_text()), "out": str(replay)}
    assert fsrun.main(["--config", str(out / "config.json"), "--out", str(tmp_path / "r3"), "--episodes", "10"]) == 0
    assert {r["n_episodes"] for r in records(tmp_path / "r3")} == {10}
    record = next(p for p in sorted((replay / "records").glob("*.json")))  # a table row, regenerated from its record
    assert fsrun.main(["--config", str(record), "--out", str(tmp_path / "r4")]) == 0
    assert {(r["shots"], r["protocol"]): r["accuracy"] for r in records(tmp_path / "r4")} == b


def test_seeds_run_each_seed_on_its_own_toy_data_and_table_the_mean_over_seeds(toy, tmp_path, cache, monkeypatch,
                                                                                capsys):
    import fewshot.seeds as seeds
    from results.compare import t_interval

    roots = {}

    def tiny_toy_for_seed(seed, dataset="toy"):
        assert dataset == "toy"
        roots[seed] = make_toy(tmp_path / f"toy-seed{seed}", ToyConfig(**{**TOY.__dict__, "seed": seed}))
        return roots[seed]

    monkeypatch.setattr(seeds, "toy_root_for_seed", tiny_toy_for_seed)
    args = argv(toy, tmp_path / "run", cache, "--seeds", "0,1")
    args = ["--dataset", "toy", *args[4:]]  # no --data-root: every seed generates its own toy data
    assert fsrun.main(args) == 0
    table = capsys.readouterr().out
    assert "mean over 2 seeds (0, 1)" in table
    accs = {}
    for seed in (0, 1):
        recs = records(tmp_path / "run" / f"seed{seed}")
        assert {r["seed"] for r in recs} == {seed}
        assert {r["config"]["data_root"] for r in recs} == {str(roots[seed])}
        accs[seed] = {r["protocol"]: r["accuracy"] for r in recs}
    assert (roots[0] / "toy.json").read_text() != (roots[1] / "toy.json").read_text()
    for protocol in ("prototype", "finetune"):
        iv = t_interval([accs[0][protocol], accs[1][protocol]])
        assert f"{iv.mean:.1f} ± {iv.half_width:.1f}" in table
    assert (tmp_path / "run" / "table.md").read_text() in table  # the printed table, saved


def test_help_shows_every_default():
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help" or action.help == "==SUPPRESS==":
            continue
        assert "(default:" in action.help, action.option_strings
