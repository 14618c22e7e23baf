"""Shipped few-shot splits: counts, video-id resolution, toy splits, errors."""
from pathlib import Path

import pytest

from episodes import splits
from zeroi2v.utils.errors import UserError

# (classes, videos) for train/val/test, from the papers that introduced the splits
EXPECTED = {
    "ssv2_full": ((64, 67013), (12, 1926), (24, 2857)),
    "ssv2_small": ((64, 6400), (12, 1200), (24, 2400)),
    "kinetics100": ((64, 6400), (12, 1200), (24, 2400)),
    "hmdb51": ((31, 4280), (10, 1194), (10, 1292)),
    "ucf101": ((70, 9154), (10, 1421), (21, 2745)),
}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_shipped_split_counts(dataset):
    all_ids, all_keys = set(), set()
    for split, (n_classes, n_videos) in zip(splits.SPLITS, EXPECTED[dataset]):
        entries = splits.load_split(dataset, split)
        labels = {e.label for e in entries}
        assert len(entries) == n_videos
        assert labels == set(range(n_classes))
        assert len({e.class_key for e in entries}) == n_classes
        ids = {e.video_id for e in entries}
        assert len(ids) == n_videos  # unique within a split
        assert not ids & all_ids  # and disjoint across splits
        keys = {e.class_key for e in entries}
        assert not keys & all_keys
        all_ids |= ids
        all_keys |= keys


def test_license_and_notice_shipped():
    assert "Apache License" in (splits.SPLITS_DIR / "LICENSE-Apache-2.0.txt").read_text()
    assert "CLIP-FSAR" in (splits.SPLITS_DIR / "NOTICE.md").read_text()


def test_first_entries_resolve_to_reader_ids():
    assert splits.load_split("ssv2_full", "train")[0] == splits.SplitEntry("78687", 8, "train:8")
    h = splits.load_split("hmdb51", "test")[0]
    assert h.video_id == "fencing/1899_Hamlet__the_Fencing_Scene_with_Laertes_fencing_f_cm_np2_le_med_0.avi"
    assert (h.label, h.class_key) == (0, "fencing")
    u = splits.load_split("ucf101", "train")[0]
    assert u == splits.SplitEntry("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0, "ApplyEyeMakeup")
    k = splits.load_split("kinetics100", "train")[0]
    assert k == splits.SplitEntry("-VtLx-mcPds", 0, "air_drumming")
    assert splits.load_split("kinetics100", "val")[0] == splits.SplitEntry("-514AQUrSow", 0, "baking_cookies")
    assert all(len(e.video_id) == 11 for s in splits.SPLITS for e in splits.load_split("kinetics100", s))


@pytest.mark.parametrize("dataset,video,expected", [
    ("ssv2_small", "51958", ("51958", None)),
    ("hmdb51", "/videos/fencing/x.avi", ("fencing/x.avi", "fencing")),
    ("ucf101", "/videos/YoYo/v_YoYo_g25_c05.avi", ("YoYo/v_YoYo_g25_c05.avi", "YoYo")),
    ("kinetics100", "/train_256/air_drumming/a_b-c_000_d_000012_000022.mp4", ("a_b-c_000_d", "air_drumming")),
    ("kinetics100", "/train_256/x/_123456_7890_000001_000011.mp4", ("_123456_7890", "x")),
    ("kinetics100", "/val_256/busking/5Jk0ucrM4P8.mkv", ("5Jk0ucrM4P8", "busking")),
    ("toy", "/videos/class_3/v007.mp4", ("class_3/v007.mp4", "class_3")),
])
def test_resolve_video(dataset, video, expected):
    assert splits.resolve_video(dataset, video) == expected


def _write_toy(root: Path, n_classes=4, per_class=6) -> Path:
    (root / "splits").mkdir(parents=True)
    for split, offset in (("train", 0), ("val", 10), ("test", 20)):
        lines = [f"{split}{c}//videos/toy{offset + c}/v{j:03d}.mp4" for c in range(n_classes) for j in range(per_class)]
        (root / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_toy_split_from_root(tmp_path):
    root = _write_toy(tmp_path / "toy")
    entries = splits.load_split("toy", "test", root=root)
    assert len(entries) == 24
    assert entries[0] == splits.SplitEntry("toy20/v000.mp4", 0, "toy20")
    assert {e.label for e in entries} == {0, 1, 2, 3}


def test_ssv2_labels_supplied():
    e = splits.load_split("ssv2_full", "train", video_labels={"78687": "Pushing something"})
    assert e[0].class_key == "Pushing something"
    assert e[1].class_key == "train:50"


@pytest.mark.parametrize("dataset,split,match", [
    ("imagenet", "test", "unknown dataset 'imagenet'"),
    ("hmdb51", "valid", "unknown split 'valid'"),
])
def test_unknown_dataset_or_split(dataset, split, match):
    with pytest.raises(UserError, match=match):
        splits.load_split(dataset, split)


@pytest.mark.parametrize("lines,match", [
    (["train0//videos/a/x.avi"], "expected 'test<class index>/<video>'"),  # wrong split prefix
    (["test0/x.avi"], "no '<class>/<file>' part"),
    (["test0//videos/a/x.avi", "test0//videos/b/y.avi"], "class index 0 is both 'a' and 'b'"),
    (["test0//videos/a/x.avi", "test1//videos/a/x.avi"], "listed twice"),
    ([""], "empty"),
])
def test_bad_split_lines(lines, match):
    with pytest.raises(UserError, match=match) as e:
        splits.parse_split_lines(lines, dataset="hmdb51", split="test")
    assert "\n" not in str(e.value)


def test_missing_toy_split(tmp_path):
    with pytest.raises(UserError, match="toy split .* not found"):
        splits.load_split("toy", "train", root=tmp_path)


def test_every_spelling_of_a_dataset_reads_the_same_split():
    """Aliases come from the dataset records: ssv2 means ssv2_full, kinetics/k400 mean kinetics100."""
    assert splits.load_split("ssv2", "test") == splits.load_split("ssv2_full", "test")
    assert splits.load_split("k400", "val") == splits.load_split("kinetics", "val") == splits.load_split("kinetics100", "val")
    assert splits.fewshot_dataset("ssv2_small") == "ssv2_small" and splits.rooted("toy") and not splits.rooted("ucf101")
