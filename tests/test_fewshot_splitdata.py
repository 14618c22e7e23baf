from fewshot.splitdata import canonical_dataset
from zeroi2v.data.hmdb51 import locate_unlisted as locate_unlisted_hmdb51

import pytest

from zeroi2v.utils.errors import UserError


def test_aliases_and_unknown_datasets():
    assert canonical_dataset("ssv2") == "ssv2_full"
    assert canonical_dataset("hmdb51") == "hmdb51"
    with pytest.raises(UserError, match="unknown few-shot dataset"):
        canonical_dataset("hmdb52")


def test_hmdb51_clips_unused_by_every_fold_are_found_in_the_video_folder(tmp_path):
    (tmp_path / "videos" / "fencing").mkdir(parents=True)
    (tmp_path / "videos" / "fencing" / "a.avi").write_bytes(b"x")
    found = locate_unlisted_hmdb51(tmp_path, {"fencing/a.avi", "fencing/missing.avi"})
    assert set(found) == {"fencing/a.avi"}
    item = found["fencing/a.avi"]
    assert item.path == tmp_path / "videos" / "fencing" / "a.avi" and item.class_name == "fencing"


# ---------------------------------------------------------------- list datasets (your own base / val / novel lists)

import json  # noqa: E402

from list_fixtures import make_list_dataset  # noqa: E402

from episodes import splits as ep_splits  # noqa: E402
from episodes.__main__ import main as episodes_main  # noqa: E402
from fewshot.splitdata import load_fewshot_data  # noqa: E402


@pytest.fixture(scope="module")
def mine(tmp_path_factory):
    return make_list_dataset(tmp_path_factory.mktemp("list") / "mine")


def test_list_dataset_is_base_val_novel(mine):
    fs = load_fewshot_data("list", str(mine), ways=5, shots=1, queries=1)
    counts = {s: (len(e), len({x.class_key for x in e})) for s, e in fs.splits.items()}
    assert counts == {"train": (80, 10), "val": (32, 4), "test": (48, 6)}
    assert [x.class_key for x in fs.splits["test"]][::8] == [
        "bounce_horizontal", "bounce_vertical", "move_up_left", "move_down_right", "move_up_right",
        "move_down_left"]
    e = fs.splits["train"][0]
    assert e.video_id == "videos/move_left/move_left_0.mp4" and e.class_key == "move_left"
    assert fs.items[e.video_id].path == mine / e.video_id


def test_integer_labels_with_classes_txt_equal_names(tmp_path, mine):
    idx = make_list_dataset(tmp_path / "idx", labels="index", videos_per_class=2)
    fs = load_fewshot_data("list", str(idx))
    by_name = load_fewshot_data("list", str(mine))
    assert [e.class_key for e in fs.splits["test"]][::2] == [e.class_key for e in by_name.splits["test"]][::8]


def test_shared_class_and_too_small_splits_are_one_line(tmp_path, mine):
    import shutil

    root = tmp_path / "shared"
    shutil.copytree(mine, root)
    with open(root / "test.txt", "a") as f:
        f.write("videos/move_left/move_left_3.mp4 move_left\n")
    with pytest.raises(UserError, match="class 'move_left' is in both the train and the test split"):
        load_fewshot_data("list", str(root))
    with pytest.raises(UserError, match=r"test \(novel\) split has 6 classes, fewer than ways=7"):
        load_fewshot_data("list", str(mine), ways=7, shots=1, queries=1)
    with pytest.raises(UserError, match=r"class 'bounce_horizontal' has 8 videos, fewer than shots\+queries=9"):
        load_fewshot_data("list", str(mine), ways=4, shots=[1, 8], queries=1)


def test_episodes_sample_and_allway_on_a_list_dataset(tmp_path, mine, capsys):
    out = tmp_path / "eps.jsonl"
    assert episodes_main(["sample", "--dataset", "list", "--data-root", str(mine), "--ways", "5",
                          "--shots", "2", "--queries", "1", "--episodes", "20", "--out", str(out)]) == 0
    from episodes.episode_set import read_episode_set, validate_episode_set

    eps = read_episode_set(out)
    validate_episode_set(eps, ep_splits.load_split("list", "test", root=mine), source=str(out))
    assert len(eps) == 20 and json.loads((tmp_path / "eps.meta.json").read_text())["dataset"] == "list"
    assert episodes_main(["allway", "--dataset", "list", "--data-root", str(mine), "--shots", "2",
                          "--folds", "1", "--out", str(tmp_path / "aw")]) == 0
    rows = (tmp_path / "aw" / "list_k2_fold1.txt").read_text().splitlines()
    assert len(rows) == 20  # 2 per base class, 10 base classes
    assert episodes_main(["sample", "--dataset", "list", "--data-root", str(mine), "--ways", "7",
                          "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "ways=7 exceeds the 6 classes" in capsys.readouterr().err


def test_list_paths_may_not_leave_the_root(tmp_path, mine):
    import shutil

    root = tmp_path / "evil"
    shutil.copytree(mine, root)
    (root / "test.txt").write_text("../../../etc/passwd move_left\n")
    with pytest.raises(UserError, match=r"test.txt:1: path '../../../etc/passwd' leaves the dataset root"):
        ep_splits.load_split("list", "test", root=root)
    (root / "test.txt").write_text("/etc/passwd move_left\n")
    with pytest.raises(UserError, match=r"test.txt:1: path '/etc/passwd' leaves the dataset root"):
        ep_splits.load_split("list", "test", root=root)


def test_list_split_labels_are_local_to_the_split(mine):
    """Like the shipped splits: label = class index within the split (0..classes-1), so a head
    over the base classes has exactly that many outputs."""
    for split, n in (("train", 10), ("val", 4), ("test", 6)):
        entries = ep_splits.load_split("list", split, root=mine)
        assert sorted({e.label for e in entries}) == list(range(n))
        assert len({(e.label, e.class_key) for e in entries}) == n
