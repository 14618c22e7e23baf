"""Listed paths cannot leave the root, non-UTF-8 / truncated / hostile
annotation and data files are one-line errors naming the file (and line), and `fewshot.data check`
reports what a run would reject."""
from __future__ import annotations

import json
import shutil

import pytest

import video_fixtures as V
from fewshot.data.__main__ import main as data_main
from list_fixtures import make_list_dataset
from zeroi2v import data
from zeroi2v.data import toy
from zeroi2v.utils.errors import UserError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return V.make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")


@pytest.fixture
def copy(tiny, tmp_path):
    return shutil.copytree(tiny, tmp_path / "copy")


# ---------------------------------------------------------------- paths leave the root

@pytest.mark.parametrize("line", ["../../../etc/passwd 0", "/etc/passwd 0", "a/../../x.mp4 0",
                                  "..\\..\\x.mp4 0"])
def test_list_reader_refuses_escaping_paths(tmp_path, line):
    root = V.make_list_tree(tmp_path / "list")
    (root / "train.txt").write_text("clips/cat/a 1.mp4 0\n" + line + "\n")
    with pytest.raises(UserError, match=r"train.txt:2: path .* leaves the dataset root") as e:
        data.list_videos("list", root, "train")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="leaves the dataset root"):  # not a skippable bad item
        data.list_videos("list", root, "train", on_error="skip")


def test_ucf_style_list_refuses_class_dir_escape(copy):
    lists = copy / "ucfTrainTestlist" / "trainlist01.txt"
    lists.write_text(lists.read_text() + "move_left/../../../../etc/passwd 1\n")
    for reader in ("toy", "ucf101"):
        with pytest.raises(UserError, match=r"trainlist01.txt:13: path 'move_left/../../../../etc/passwd' leaves"):
            data.list_videos(reader, copy, "train")


def test_hmdb51_and_ssv2_refuse_escapes(tmp_path):
    root = V.make_hmdb51_tree(tmp_path / "hmdb")
    split = next((root / "testTrainMulti_7030_splits").glob("*_test_split1.txt"))
    split.write_text(split.read_text() + "../../../etc/passwd 1\n")
    with pytest.raises(UserError, match="leaves the dataset root"):
        data.list_videos("hmdb51", root, "train")
    root = V.make_ssv2_tree(tmp_path / "ssv2")
    path = root / "labels" / "train.json"
    entries = json.loads(path.read_text())
    entries.append({**entries[0], "id": "../../../../etc/passwd"})
    path.write_text(json.dumps(entries))
    with pytest.raises(UserError, match=r"train.json:entry \d+: path '../../../../etc/passwd.webm' leaves"):
        data.list_videos("ssv2", root, "train")


# ---------------------------------------------------------------- bytes and files

def test_non_utf8_list_and_split_files_name_the_line(copy, tmp_path):
    lists = copy / "ucfTrainTestlist" / "trainlist01.txt"
    lists.write_bytes(lists.read_bytes() + b"move_left/caf\xe9.mp4 1\n")
    with pytest.raises(UserError, match=r"trainlist01.txt:13: not UTF-8 text \(byte 0xe9\)"):
        data.list_videos("toy", copy, "train")
    from episodes import splits

    split = copy / "splits" / "test.txt"
    split.write_bytes(b"\xff\xfe" + split.read_bytes())
    with pytest.raises(UserError, match=r"splits/test.txt:1: not UTF-8"):
        splits.load_split("toy", "test", root=copy)
    root = V.make_list_tree(tmp_path / "list")
    (root / "classes.txt").write_bytes(b"cat\nd\x80g\n")
    with pytest.raises(UserError, match=r"classes.txt:2: not UTF-8"):
        data.list_videos("list", root, "train")


@pytest.mark.parametrize("content", [b"\xff\xfe{", b"[" * 100000 + b"]" * 100000, b"[1, 2]", b'{"format": 3}'])
def test_bad_toy_json_is_not_a_toy_dataset(copy, content):
    (copy / "toy.json").write_bytes(content)
    with pytest.raises(UserError, match="is not a finished toy dataset"):
        data.list_videos("toy", copy, "train")


@pytest.mark.parametrize("damage", ["truncate", "zeros", "npy", "missing"])
def test_damaged_frames_npz_is_one_line(copy, damage):
    npz = copy / "frames.npz"
    raw = npz.read_bytes()
    if damage == "truncate":
        npz.write_bytes(raw[: len(raw) // 2])
    elif damage == "zeros":
        npz.write_bytes(b"\0" * 200)
    elif damage == "npy":
        import numpy as np

        with open(npz, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        npz.unlink()
    for load in (data.load_toy_frames, data.load_toy_geometry):
        with pytest.raises(UserError, match="frames.npz") as e:
            load(copy)
        assert "\n" not in str(e.value) and "make-toy" in str(e.value)


def test_kinetics_csv_nan_time_and_nul_byte(tmp_path):
    root = V.make_kinetics_tree(tmp_path / "k")
    csv = root / "train.csv"
    csv.write_text(csv.read_text() + "abseiling,zzzzzzzzzzz,nan,inf,train\n")
    with pytest.raises(UserError, match=r"train.csv:\d+: malformed row"):
        data.list_videos("kinetics", root, "train")
    csv.write_bytes(csv.read_bytes() + b"abseiling,\0\0,1,2,train\n")
    with pytest.raises(UserError, match="train.csv"):
        data.list_videos("kinetics", root, "train")


# ---------------------------------------------------------------- check reports it all

def _problems(capsys):
    out = capsys.readouterr().out
    return out, [line for line in out.splitlines() if line.startswith("PROBLEM")]


def test_check_reports_duplicates_and_train_test_overlap(copy, capsys):
    train = copy / "ucfTrainTestlist" / "trainlist01.txt"
    lines = train.read_text().splitlines()
    test_line = (copy / "ucfTrainTestlist" / "testlist01.txt").read_text().splitlines()[0]
    train.write_text("\n".join(lines + [lines[0], test_line + " 1"]) + "\n")
    assert data_main(["check", "--dataset", "toy", "--data-root", str(copy)]) == 2
    out, problems = _problems(capsys)
    assert any("move_left/move_left_000.mp4 is listed 2 times in the train" in p for p in problems)
    assert any("in both the train and the test list (first: move_left/move_left_002.mp4)" in p for p in problems)


def test_check_reports_bad_episodic_splits(copy, capsys):
    (copy / "splits" / "val.txt").write_text("")
    test = copy / "splits" / "test.txt"
    first = test.read_text().splitlines()[0]
    test.write_text(test.read_text() + first + "\n")
    assert data_main(["check", "--dataset", "toy", "--data-root", str(copy)]) == 2
    out, problems = _problems(capsys)
    assert any("val.txt: episodic split lists no videos" in p for p in problems)
    assert any("is listed again (already in this file)" in p for p in problems)


def test_check_reports_non_utf8_and_escaping_lines(copy, capsys):
    (copy / "splits" / "train.txt").write_bytes(b"\xff\n")
    lists = copy / "ucfTrainTestlist" / "testlist01.txt"
    lists.write_text(lists.read_text() + "move_left/../../../x.mp4\n")
    assert data_main(["check", "--dataset", "toy", "--data-root", str(copy)]) == 2
    out, problems = _problems(capsys)
    assert any("splits/train.txt:1: not UTF-8" in p for p in problems)
    assert any("testlist01.txt:7: path 'move_left/../../../x.mp4' leaves the dataset root" in p for p in problems)


def test_check_list_dataset_fewshot(tmp_path, capsys):
    root = make_list_dataset(tmp_path / "mine", split=(3, 2, 3), videos_per_class=2, frames=4, size=16)
    assert data_main(["check", "--dataset", "list", "--data-root", str(root), "--fewshot"]) == 0
    out = capsys.readouterr().out
    assert "split train: 6 videos, 3 classes" in out and "split test: 6 videos, 3 classes" in out
    with open(root / "test.txt", "a") as f:
        f.write("videos/move_left/move_left_0.mp4 move_left\n")
    assert data_main(["check", "--dataset", "list", "--data-root", str(root), "--fewshot"]) == 2
    out, problems = _problems(capsys)
    assert any("class 'move_left' (and 0 more) is in both the train and the test split" in p for p in problems)
    assert any("1 video(s) are in both the train and the test list" in p for p in problems)
