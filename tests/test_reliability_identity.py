"""Identity and consistency checks: one video under one name, each episode once, records that agree
with their per-episode arrays, data in a record's identity, resume keys on list contents, features
that are finite, feature caches that know what they were computed for."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zeroi2v.utils.errors import UserError


# ---------------------------------------------------------------- list paths in one spelling


def write_lists(root: Path, lists: dict[str, list[str]]) -> Path:
    for name, rows in lists.items():
        (root / f"{name}.txt").write_text("\n".join(rows) + "\n")
    return root


def touch_videos(root: Path, names: list[str]) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(n.encode())


@pytest.mark.parametrize("spelling", ["videos/./a/a0.mp4", "videos//a/a0.mp4", "videos/b/../a/a0.mp4",
                                      "./videos/a/a0.mp4"])
def test_list_ids_are_normalised(tmp_path, spelling):
    from zeroi2v.data import BadData, listfile

    touch_videos(tmp_path, ["videos/a/a0.mp4"])
    write_lists(tmp_path, {"train": [f"{spelling} a"]})
    [item] = listfile.read_list(tmp_path, tmp_path / "train.txt", bad=BadData("error"))
    assert item.video_id == "videos/a/a0.mp4" and item.path == tmp_path / "videos/a/a0.mp4"


def test_same_video_under_two_spellings_is_listed_twice(tmp_path):
    from episodes.splits import load_list_split

    touch_videos(tmp_path, ["videos/a/a0.mp4", "videos/a/a1.mp4"])
    write_lists(tmp_path, {"train": ["videos/a/a0.mp4 a", "videos/./a/a0.mp4 a", "videos/a/a1.mp4 a"]})
    with pytest.raises(UserError, match="'videos/a/a0.mp4' is listed 2 times"):
        load_list_split(tmp_path, "train")


def test_a_test_video_spelled_otherwise_in_train_is_a_leak(tmp_path):
    from episodes.splits import check_fewshot_splits, load_list_split

    names = [f"videos/{c}/{c}{i}.mp4" for c in "abcd" for i in range(2)]
    touch_videos(tmp_path, names)
    write_lists(tmp_path, {"train": ["videos/a/a0.mp4 a", "videos/a/a1.mp4 a", "videos//c/c0.mp4 a"],
                           "val": ["videos/b/b0.mp4 b", "videos/b/b1.mp4 b"],
                           "test": ["videos/c/c0.mp4 c", "videos/c/c1.mp4 c", "videos/d/d0.mp4 d"]})
    splits = {s: load_list_split(tmp_path, s) for s in ("train", "val", "test")}
    with pytest.raises(UserError, match="'videos/c/c0.mp4' is in both the train and the test split"):
        check_fewshot_splits(splits, source="list")


def test_check_duplicate_and_overlap_use_normalised_ids():
    from types import SimpleNamespace as NS

    from zeroi2v.data.check import duplicate_problems

    items = [NS(video_id="videos/a.mp4"), NS(video_id="videos//a.mp4"), NS(video_id="videos/./a.mp4")]
    assert duplicate_problems("train", items) == ["video videos/a.mp4 is listed 3 times in the train list(s); "
                                                  "list each video once"]


@pytest.fixture(scope="module")
def list_data(tmp_path_factory):
    from list_fixtures import make_list_dataset

    return make_list_dataset(tmp_path_factory.mktemp("mine") / "mine", split=(2, 2, 2), videos_per_class=2,
                             frames=4, size=16, shared_classes=False)


def test_check_content_finds_byte_identical_files(list_data, tmp_path, capsys):
    from fewshot.data.__main__ import main

    root = Path(shutil.copytree(list_data, tmp_path / "copy"))
    test_rows = (root / "test.txt").read_text().splitlines()
    victim = test_rows[0].split()[0]
    shutil.copy(root / victim, root / "videos" / "renamed.mp4")
    train = (root / "train.txt").read_text().splitlines()
    cls = train[0].split()[1]
    (root / "train.txt").write_text("\n".join(train + [f"videos/renamed.mp4 {cls}"]) + "\n")
    assert main(["check", "--dataset", "list", "--data-root", str(root), "--fewshot"]) == 0  # names differ
    capsys.readouterr()
    assert main(["check", "--dataset", "list", "--data-root", str(root), "--fewshot", "--content"]) == 2
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if "identical bytes" in x]
    assert victim in line and "videos/renamed.mp4" in line and "in the train and the test list (a leak)" in line
    assert main(["check", "--dataset", "list", "--data-root", str(list_data), "--fewshot", "--content"]) == 0


# ---------------------------------------------------------------- each episode once


def _episode_file(tmp_path, n=6, copies=1, renumber=False):
    from episodes import splits
    from episodes.episode_set import sample_episode_set

    eps = sample_episode_set(splits.load_split("hmdb51", "test"), 5, 1, 1, n, 0) * copies
    if renumber:
        eps = [dict(e, index=i) for i, e in enumerate(eps)]
    path = tmp_path / "F.jsonl"
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in eps))
    return path, eps


def test_episode_file_concatenated_twice_is_refused(tmp_path):
    from episodes.episode_set import read_episode_set

    path, _ = _episode_file(tmp_path, copies=2)
    with pytest.raises(UserError, match=r"F.jsonl:7: episode index 0 again \(first at 1\)"):
        read_episode_set(path)


def test_renumbered_repeat_is_refused(tmp_path):
    from episodes.episode_set import read_episode_set

    path, _ = _episode_file(tmp_path, copies=3, renumber=True)
    with pytest.raises(UserError, match="its 18 episodes are the first 6 repeated 3 times"):
        read_episode_set(path)


def test_duplicate_index_refused_by_validate_too(tmp_path):
    from episodes import splits
    from episodes.episode_set import validate_episode_set

    _, eps = _episode_file(tmp_path)
    eps[3] = dict(eps[3], index=1)
    with pytest.raises(UserError, match="episode index 1 again"):
        validate_episode_set(eps, splits.load_split("hmdb51", "test"), source="mine")


def test_an_equal_episode_under_another_index_is_kept(tmp_path):
    """The sampler draws with replacement: one repeated draw is a valid set."""
    from episodes.episode_set import read_episode_set

    _, eps = _episode_file(tmp_path, n=4)
    eps = eps + [dict(eps[1], index=4)]
    path = tmp_path / "G.jsonl"
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in eps))
    assert len(read_episode_set(path)) == 5


# ---------------------------------------------------------------- a few-shot run on your own list dataset

TINY_VIT = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4}


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A 3/3/3-class list dataset and tiny ViT image weights (timm safetensors) for it."""
    import timm
    import torch
    from safetensors.torch import save_file

    from list_fixtures import make_list_dataset

    base = tmp_path_factory.mktemp("own")
    root = make_list_dataset(base / "data", split=(3, 3, 3), videos_per_class=6, frames=4, size=32)
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **TINY_VIT)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(base / "vit.safetensors"))
    return root, base / "vit.safetensors"


def fs_args(root, weights, out, cache, *extra):
    return ["--dataset", "list", "--data-root", str(root), "--pretrained", str(weights), "--backbone",
            "vit_tiny_patch16_224", "--timm-kwargs", json.dumps(TINY_VIT), "--frames", "2", "--ways", "3",
            "--shots", "1", "--episodes", "6", "--epochs", "1", "--batch-size", "3", "--out", str(out),
            "--cache-dir", str(cache), *extra]


def records_of(out):
    return [json.loads(p.read_text()) for p in sorted((Path(out) / "records").glob("*.json"))]


def test_resume_refuses_an_adaptation_trained_on_other_labels(own, tmp_path, capsys):
    from fewshot import run as fsrun

    root = Path(shutil.copytree(own[0], tmp_path / "data"))
    out, cache = tmp_path / "run", tmp_path / "cache"
    assert fsrun.main(fs_args(root, own[1], out, cache, "--methods", "zeroi2v_no_stdha")) == 0
    rows = (root / "train.txt").read_text().splitlines()
    (a, la), (b, lb) = rows[0].split(), rows[-1].split()
    assert la != lb
    rows[0], rows[-1] = f"{a} {lb}", f"{b} {la}"  # two train labels swapped: same counts, other contents
    (root / "train.txt").write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    assert fsrun.main(fs_args(root, own[1], out, cache, "--methods", "zeroi2v_no_stdha", "--resume")) == 2
    err = capsys.readouterr().err
    assert "was written with lists=" in err and "use a new --out or drop --resume" in err


def test_records_name_their_data(own, tmp_path):
    from fewshot import run as fsrun

    out = tmp_path / "run"
    assert fsrun.main(fs_args(own[0], own[1], out, tmp_path / "cache", "--methods", "frozen")) == 0
    other = Path(shutil.copytree(own[0], tmp_path / "copy"))
    assert fsrun.main(fs_args(other, own[1], tmp_path / "run2", tmp_path / "cache", "--methods", "frozen")) == 0
    r1, r2 = records_of(out)[0], records_of(tmp_path / "run2")[0]
    assert r1["data_root"] == str(own[0]) and r2["data_root"] == str(other)
    assert r1["data_sha256"] != r2["data_sha256"]  # another copy: another data set until shown equal
    assert r1["model_sha256"] == r2["model_sha256"] and r1["settings_sha256"] == r2["settings_sha256"]
    assert "features_constant" not in r1


def test_nan_weights_stop_with_one_line_and_cache_nothing(own, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from fewshot import run as fsrun

    state = load_file(str(own[1]))
    state["norm.weight"] = state["norm.weight"] * float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    capsys.readouterr()
    assert fsrun.main(fs_args(own[0], tmp_path / "nan.safetensors", tmp_path / "run", tmp_path / "cache",
                              "--methods", "frozen")) == 2
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert "non-finite (NaN/inf) features" in line and "Traceback" not in err
    assert not list((tmp_path / "cache" / "features").rglob("*.pt"))
    assert not (tmp_path / "run" / "records").exists()


def test_constant_features_warn_and_mark_the_record(own, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from fewshot import run as fsrun

    state = load_file(str(own[1]))
    state["norm.weight"].zero_()
    state["norm.bias"].zero_()  # every feature is 0: the model ignores its input
    save_file(state, str(tmp_path / "zero.safetensors"))
    assert fsrun.main(fs_args(own[0], tmp_path / "zero.safetensors", tmp_path / "run", tmp_path / "cache",
                              "--methods", "frozen")) == 0
    assert "every test video has the same features" in capsys.readouterr().err
    recs = records_of(tmp_path / "run")
    assert recs and all(r["features_constant"] is True for r in recs)


def test_a_cache_file_copied_into_another_models_folder_is_recomputed(own, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    from fewshot import run as fsrun

    cache = tmp_path / "cache"
    assert fsrun.main(fs_args(own[0], own[1], tmp_path / "a", cache, "--methods", "frozen")) == 0
    state = load_file(str(own[1]))
    state["norm.bias"] += 0.5
    save_file(state, str(tmp_path / "other.safetensors"))
    assert fsrun.main(fs_args(own[0], tmp_path / "other.safetensors", tmp_path / "b", cache, "--methods",
                              "frozen")) == 0
    files = {p.parent.name: p for p in (cache / "features").rglob("*.pt")}
    assert len(files) == 2
    (a_dir, a_file), (b_dir, b_file) = sorted(files.items(), key=lambda kv: kv[1].stat().st_mtime_ns)
    ref = records_of(tmp_path / "b")
    shutil.copy(a_file, b_file)  # model A's features under model B's name
    capsys.readouterr()
    assert fsrun.main(fs_args(own[0], tmp_path / "other.safetensors", tmp_path / "c", cache, "--methods",
                              "frozen")) == 0
    assert "was computed for another model" in capsys.readouterr().err
    got = records_of(tmp_path / "c")
    assert [r["accuracy"] for r in got] == [r["accuracy"] for r in ref] and all(r["embed_cached"] == 0 for r in got)
    ids, _, feats = __import__("zeroi2v.data.feature_cache", fromlist=["load"]).load(b_file)
    assert torch.isfinite(feats).all()


def test_verify_cache_re_embeds_a_video_edited_in_place(own, tmp_path):
    import os

    from fewshot import run as fsrun

    root = Path(shutil.copytree(own[0], tmp_path / "data"))
    cache = tmp_path / "cache"
    assert fsrun.main(fs_args(root, own[1], tmp_path / "a", cache, "--methods", "frozen")) == 0
    test_rows = (root / "test.txt").read_text().splitlines()
    victim, donor = root / test_rows[0].split()[0], root / test_rows[-1].split()[0]
    st = victim.stat()
    data = donor.read_bytes()[: st.st_size].ljust(st.st_size, b"\0")
    victim.write_bytes(data)  # other bytes, same size ...
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and mtime kept
    assert fsrun.main(fs_args(root, own[1], tmp_path / "b", cache, "--methods", "frozen", "--on-error", "skip")) == 0
    assert {r["embed_cached"] for r in records_of(tmp_path / "b")} == {len(test_rows)}  # the make/rsync default
    assert fsrun.main(fs_args(root, own[1], tmp_path / "c", cache, "--methods", "frozen", "--on-error", "skip",
                              "--verify-cache")) == 0
    got = records_of(tmp_path / "c")
    assert {r["embedded"] + r["videos_skipped"] for r in got} == {len(test_rows)}  # every row hashed anew once
    assert fsrun.main(fs_args(root, own[1], tmp_path / "d", cache, "--methods", "frozen", "--on-error", "skip",
                              "--verify-cache")) == 0
    again = records_of(tmp_path / "d")
    assert {r["embedded"] for r in again} == {0}  # verified rows keep their hash: nothing to redo


def test_supervised_records_name_their_data(own, tmp_path):
    """zeroi2v.train on a list dataset (classes shared by train and test): the record's data identity
    is that of the root and its lists; another copy of the data is another identity."""
    from list_fixtures import make_list_dataset
    from zeroi2v.train.cli import main as train_main

    root = make_list_dataset(tmp_path / "shared", split=(3, 0, 0), videos_per_class=4, frames=4, size=32,
                             shared_classes=True)
    argv = ["--dataset", "list", "--frames", "2", "--size", "32", "--batch-size", "2", "--epochs", "1", "--timm-kwargs",
            json.dumps(TINY_VIT), "--backbone", "vit_tiny_patch16_224", "--no-progress", "--no-throughput",
            "--pretrained", str(own[1])]
    copy = Path(shutil.copytree(root, tmp_path / "copy"))
    assert train_main([*argv, "--data-root", str(root), "--out", str(tmp_path / "a")]) == 0
    assert train_main([*argv, "--data-root", str(copy), "--out", str(tmp_path / "b")]) == 0
    [ra], [rb] = records_of(tmp_path / "a"), records_of(tmp_path / "b")
    assert ra["data_root"] == str(root) and len(ra["data_sha256"]) == 64 and ra["data_sha256"] != rb["data_sha256"]


# ---------------------------------------------------------------- the same refusals through the commands


@pytest.mark.parametrize("how", ["concatenated", "renumbered"])
def test_fewshot_run_refuses_a_doubled_episode_file_in_one_line(own, tmp_path, capsys, how):
    from fewshot import run as fsrun

    out = tmp_path / "run"
    assert fsrun.main(fs_args(own[0], own[1], out, tmp_path / "cache", "--methods", "frozen")) == 0
    [eps_file] = (out / "episodes").glob("*.jsonl")
    lines = eps_file.read_text().splitlines()
    doubled = lines + lines
    if how == "renumbered":
        doubled = [json.dumps(dict(json.loads(x), index=i), sort_keys=True) for i, x in enumerate(doubled)]
    (tmp_path / "twice.jsonl").write_text("\n".join(doubled) + "\n")
    argv = [a for a in fs_args(own[0], own[1], tmp_path / "run2", tmp_path / "cache", "--methods", "frozen")]
    for flag in ("--shots", "--episodes", "--ways"):
        i = argv.index(flag)
        del argv[i:i + 2]
    capsys.readouterr()
    assert fsrun.main([*argv, "--episodes-file", str(tmp_path / "twice.jsonl")]) == 2
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert ("episode index 0 again" if how == "concatenated" else "the first 6 repeated 2 times") in line
    assert "Traceback" not in err and not (tmp_path / "run2" / "records").exists()


def test_fewshot_run_refuses_a_test_video_spelled_into_train(own, tmp_path, capsys):
    from fewshot import run as fsrun

    root = Path(shutil.copytree(own[0], tmp_path / "data"))
    test_video = (root / "test.txt").read_text().splitlines()[0].split()[0]
    train = (root / "train.txt").read_text().splitlines()
    label = train[0].split()[1]
    sneaky = test_video.replace("videos/", "videos/./", 1)
    (root / "train.txt").write_text("\n".join(train + [f"{sneaky} {label}"]) + "\n")
    capsys.readouterr()
    assert fsrun.main(fs_args(root, own[1], tmp_path / "run", tmp_path / "cache", "--methods", "frozen")) == 2
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert f"video {test_video!r} is in both the train and the test split" in line
    assert not (tmp_path / "run").exists()
