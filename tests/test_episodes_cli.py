"""`python -m episodes sample|allway`: outputs, byte-identical reruns, one-line errors with exit 2."""
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import zeroi2v
from episodes import episode_set
from episodes.__main__ import main
from zeroi2v.utils.io import sha256_file

REPO = Path(__file__).resolve().parents[1]


def test_sample_writes_set_and_meta(tmp_path, capsys):
    out = tmp_path / "F.jsonl"
    argv = ["sample", "--dataset", "hmdb51", "--split", "test", "--ways", "5", "--shots", "1",
            "--queries", "1", "--episodes", "200", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    first = out.read_bytes()
    assert main(argv) == 0
    assert out.read_bytes() == first and first.count(b"\n") == 200
    digest = sha256_file(out)
    printed = capsys.readouterr().out
    assert str(out) in printed and "200 episodes" in printed and digest in printed
    meta = json.loads((tmp_path / "F.meta.json").read_text())
    assert meta["episode_set_hash"] == digest == episode_set.episode_set_hash(episode_set.read_episode_set(out))
    assert (meta["dataset"], meta["split"], meta["ways"], meta["episodes"]) == ("hmdb51", "test", 5, 200)


def test_sample_toy_with_data_root(tmp_path):
    (tmp_path / "toy" / "splits").mkdir(parents=True)
    lines = [f"test{c}//videos/cls{c}/v{j}.mp4" for c in range(5) for j in range(4)]
    (tmp_path / "toy" / "splits" / "test.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "toy.jsonl"
    assert main(["sample", "--dataset", "toy", "--data-root", str(tmp_path / "toy"), "--shots", "2",
                 "--queries", "2", "--episodes", "10", "--out", str(out)]) == 0
    eps = episode_set.read_episode_set(out)
    assert len(eps) == 10 and sorted(eps[0]["classes"]) == [f"cls{c}" for c in range(5)]


@pytest.mark.parametrize("args,message", [
    (["--dataset", "hmdb51", "--ways", "30"], "error: ways=30 exceeds the 10 classes of hmdb51 test; use ways <= 10"),
    (["--dataset", "hmdb51", "--shots", "100", "--queries", "5"], "error: shots+queries=105 exceeds the 103 videos"),
    (["--dataset", "ucf101", "--shots", "0"], "error: shots=0 must be a positive integer"),
    (["--dataset", "ucf101", "--episodes", "-5"], "error: episodes=-5 must be a positive integer"),
    (["--dataset", "imagenet", "--ways", "5"], "error: unknown dataset 'imagenet'"),
    (["--dataset", "ucf101", "--split", "dev"], "error: argument --split: invalid choice: 'dev'"),
])
def test_sample_errors_exit_2_one_line(tmp_path, capsys, args, message):
    assert main(["sample", *args, "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_acceptance_subprocess(tmp_path):
    """`python -m episodes sample` of 10 000 episodes (timed) and `--ways 30` on HMDB51 test in a real process."""
    out = tmp_path / "F.jsonl"
    cmd = [sys.executable, "-m", "episodes", "sample", "--dataset", "ssv2_full", "--split", "test",
           "--ways", "5", "--shots", "5", "--queries", "1", "--episodes", "10000", "--seed", "0",
           "--episodes-file", str(out)]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert len(out.read_bytes().splitlines()) == 10_000
    assert elapsed < 15  # <= 5 s on an idle machine; generous here, the CPU is shared
    bad = subprocess.run([sys.executable, "-m", "episodes", "sample", "--dataset", "hmdb51", "--split",
                          "test", "--ways", "30", "--out", str(tmp_path / "y.jsonl")],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: ways=30 exceeds the 10 classes of hmdb51 test; use ways <= 10\n"


@pytest.fixture
def fake_data(monkeypatch, tmp_path):
    """A stand-in for zeroi2v.data (list_videos over an in-memory official training list)."""
    Item = types.SimpleNamespace
    videos = [Item(video_id=f"C{c}/v_{j}.avi", label=c, class_name=f"C{c}") for c in range(4) for j in range(20)]
    videos += [Item(video_id="Few/v_0.avi", label=4, class_name="Few")]
    calls = []

    def list_videos(dataset, root, split, *, fold=1, on_error="error"):
        calls.append((dataset, Path(root), split, fold))
        return [v for v in videos if v.label < 4] if dataset == "ucf101" else videos

    mod = types.ModuleType("zeroi2v.data")
    mod.READERS = ("toy", "ssv2", "hmdb51", "ucf101", "kinetics", "list")
    mod.resolve_root = lambda dataset, data_root: Path(data_root or tmp_path)
    mod.list_videos = list_videos
    monkeypatch.setitem(sys.modules, "zeroi2v.data", mod)
    monkeypatch.setattr(zeroi2v, "data", mod, raising=False)
    return calls


def test_allway_cli(tmp_path, capsys, fake_data):
    out = tmp_path / "lists"
    argv = ["allway", "--dataset", "ucf101", "--data-root", str(tmp_path), "--shots", "2,4,8,16",
            "--folds", "3", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    assert fake_data == [("ucf101", tmp_path, "train", 1)]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"ucf101_k{k}_fold{f}.txt" for k in (2, 4, 8, 16) for f in (1, 2, 3))
    from episodes.allway import read_allway_list
    rows = read_allway_list(out / "ucf101_k8_fold2.txt")
    assert len(rows) == 32 and {label for _, label in rows} == {0, 1, 2, 3}
    before = {n: (out / n).read_bytes() for n in names}
    assert main(argv) == 0
    assert {n: (out / n).read_bytes() for n in names} == before
    assert "wrote" in capsys.readouterr().out


def test_allway_cli_errors(tmp_path, capsys, fake_data):
    assert main(["allway", "--dataset", "hmdb51", "--shots", "2", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: class 'Few' has only 1 training videos, fewer than K=2; use --shots <= 1\n"
    assert main(["allway", "--dataset", "ucf", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: unknown dataset 'ucf'")


@pytest.mark.parametrize("argv,message", [
    (["sample", "--dataset", "hmdb51", "--ways", "five", "--out", "x"], "error: argument --ways: invalid int value: 'five'"),
    (["sample", "--dataset", "hmdb51"], "error: --episodes-file FILE.jsonl is required"),
    (["allway", "--dataset", "ucf101", "--shots", "2,x", "--out", "d"], "error: argument --shots: '2,x' is not a comma-separated"),
    (["frobnicate"], "error: argument command: invalid choice"),
])
def test_argument_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_old_spellings_work_one_release_with_a_note(tmp_path, capsys):
    """`sample --out F` (now --episodes-file) and `allway --list-fold` (now --fold) still run, with one note each."""
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    common = ["sample", "--dataset", "hmdb51", "--ways", "3", "--shots", "1", "--episodes", "20"]
    assert main([*common, "--episodes-file", str(new)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main([*common, "--out", str(old)]) == 0
    assert capsys.readouterr().err == "note: --out is deprecated; use --episodes-file\n"
    assert old.read_bytes() == new.read_bytes()


def test_allway_list_fold_is_the_fold(tmp_path, capsys, fake_data):
    assert main(["allway", "--dataset", "ucf101", "--data-root", str(tmp_path), "--shots", "2", "--list-fold", "2",
                 "--out", str(tmp_path / "l")]) == 0
    assert fake_data == [("ucf101", tmp_path, "train", 2)]
    assert "note: --list-fold is deprecated; use --fold" in capsys.readouterr().err
