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
