"""Episode files validated against the split (one line naming the file
line), non-UTF-8 / non-JSON / hostile lines refused, 1-way refused, --out a directory refused."""
import json

import pytest

from episodes import episode_set
from episodes.__main__ import main
from episodes.sampler import EpisodeSampler
from episodes.splits import SplitEntry
from zeroi2v.utils.errors import UserError

TEST = [SplitEntry(f"c{c}/v{j}.mp4", c, f"c{c}") for c in range(4) for j in range(4)]
BASE = [SplitEntry(f"b{c}/v{j}.mp4", c, f"b{c}") for c in range(2) for j in range(4)]


def _good(n=3):
    return episode_set.sample_episode_set(TEST, ways=2, shots=2, queries=1, episodes=n, seed=0)


def _file(tmp_path, episodes, *, blank_first=False):
    p = tmp_path / "eps.jsonl"
    text = "".join(json.dumps(e) + "\n" for e in episodes)
    p.write_text(("\n" if blank_first else "") + text)
    return p


def _check(tmp_path, episodes, match, *, blank_first=False):
    p = _file(tmp_path, episodes, blank_first=blank_first)
    with pytest.raises(UserError, match=match) as e:
        episode_set.validate_episode_set(episode_set.read_episode_set(p), TEST, source=str(p))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_good_file_passes(tmp_path):
    p = _file(tmp_path, _good())
    episode_set.validate_episode_set(episode_set.read_episode_set(p), TEST, source=str(p))


def test_rotated_support_rows_name_the_line(tmp_path):
    eps = _good()
    eps[1]["support"] = eps[1]["support"][1:] + eps[1]["support"][:1]
    msg = _check(tmp_path, eps, "belongs to", blank_first=True)
    assert msg.startswith(f"{tmp_path / 'eps.jsonl'}:3: video ")  # line 3: a blank line first


def test_class_not_in_split(tmp_path):
    eps = _good()
    eps[0]["classes"][0] = "nonexistent"
    _check(tmp_path, eps, r"eps.jsonl:1: class 'nonexistent' is not a class of the split")


def test_base_class_video_in_test_episode(tmp_path):
    eps = _good()
    eps[2]["query"][0] = ["b0/v0.mp4"]
    _check(tmp_path, eps, r"eps.jsonl:3: video 'b0/v0.mp4' is not in the split")


def test_mixed_shot_counts_across_episodes(tmp_path):
    eps = _good() + [dict(episode_set.sample_episode_set(TEST, ways=2, shots=1, queries=1, episodes=1, seed=9)[0],
                          index=3)]
    _check(tmp_path, eps, r"eps.jsonl:4: 2 ways, 1 shots, 1 queries, but the first episode has 2, 2, 1")


@pytest.mark.parametrize("mutate,match", [
    (lambda e: e.update(support=[[], []]), "empty 'support' list"),
    (lambda e: e.update(query=[[], []]), "empty 'query' list"),
    (lambda e: e.update(classes="c0"), "'classes' must be a list"),
    (lambda e: e.update(classes=[0, 1]), "'classes' must be a list"),
    (lambda e: e.update(index="0"), "'index' must be an integer"),
    (lambda e: e.update(index=True), "'index' must be an integer"),
    (lambda e: e.update(support=[[1, 2], [3, 4]]), "'support' needs one list per class"),
    (lambda e: e.update(query=[["c0/v0.mp4"], ["c1/v0.mp4"]]), "appears twice"),
    (lambda e: e.update(classes=["c0", "c0"]), "listed twice"),
    (lambda e: e.update(classes=["c0"], support=[["c0/v0.mp4"]], query=[["c0/v1.mp4"]]), "at least 2 ways"),
])
def test_bad_types_and_shapes(tmp_path, mutate, match):
    eps = _good(1)
    eps[0]["support"] = [["c0/v0.mp4", "c0/v1.mp4"], ["c1/v0.mp4", "c1/v1.mp4"]]
    eps[0]["query"] = [["c0/v2.mp4"], ["c1/v2.mp4"]]
    eps[0]["classes"] = ["c0", "c1"]
    mutate(eps[0])
    _check(tmp_path, eps, match)


@pytest.mark.parametrize("content,match", [
    (b'{"classes": ["\xff\xfe"]}\n', r"eps.jsonl:1: not UTF-8"),
    (b"\n\n[" * 1 + b"[" * 200000 + b"]" * 200001 + b"\n", r"eps.jsonl:3: not an episode \(nested too deeply\)"),
    (b"1" * 5000 + b"\n", r"eps.jsonl:1: not JSON"),
    (b"{nope\n", r"eps.jsonl:1: not JSON"),
])
def test_hostile_bytes_are_one_line(tmp_path, content, match):
    p = tmp_path / "eps.jsonl"
    p.write_bytes(content)
    with pytest.raises(UserError, match=match):
        episode_set.read_episode_set(p)


def test_directory_is_named(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        episode_set.read_episode_set(tmp_path)


def test_one_way_refused():
    with pytest.raises(UserError, match="ways=1: a 1-way episode is 100 % accurate"):
        EpisodeSampler([0, 0, 1, 1], ways=1, shots=1, queries=1)


def test_cli_one_way_and_out_directory(tmp_path, capsys):
    assert main(["sample", "--dataset", "hmdb51", "--ways", "1", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ways=1: a 1-way episode") and err.count("\n") == 1
    assert main(["sample", "--dataset", "hmdb51", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {tmp_path} is a directory") and err.count("\n") == 1
    (tmp_path / "file").write_text("x")
    assert main(["sample", "--dataset", "hmdb51", "--out", str(tmp_path / "file" / "x.jsonl")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
