"""Episode sets as data: JSONL round trip, byte-identical writes, hashes, DataLoader determinism, views."""
import json

import pytest
import torch
from torch.utils.data import DataLoader

from episodes import episode_set, splits
from episodes.views import TaskView
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import sha256_file

HMDB_TEST_10 = "190341f886c2234b5d826dd1981f7ad464d4d1c345d2805f3dee1038a1720ba3"


@pytest.fixture(scope="module")
def hmdb_test():
    return splits.load_split("hmdb51", "test")


def test_pinned_hash_hmdb51_test(hmdb_test):
    eps = episode_set.sample_episode_set(hmdb_test, 5, 1, 1, 10, 0)
    assert episode_set.episode_set_hash(eps) == HMDB_TEST_10
    assert eps[0]["classes"] == ["pick", "kick_ball", "kick", "smoke", "run"]
    assert eps[0]["query"][0] == ["pick/ThreeStories_pick_u_cm_np1_ri_med_3.avi"]


def test_episode_content(hmdb_test):
    cls_of = {e.video_id: e.class_key for e in hmdb_test}
    eps = episode_set.sample_episode_set(hmdb_test, ways=5, shots=5, queries=2, episodes=100, seed=1)
    assert [e["index"] for e in eps] == list(range(100))
    for e in eps:
        assert len(e["classes"]) == 5 and len(set(e["classes"])) == 5
        assert [len(v) for v in e["support"]] == [5] * 5 and [len(v) for v in e["query"]] == [2] * 5
        for key, sup, qry in zip(e["classes"], e["support"], e["query"]):
            assert {cls_of[v] for v in sup + qry} == {key}
            assert not set(sup) & set(qry)


def test_write_read_roundtrip_byte_identical(tmp_path, hmdb_test):
    eps = episode_set.sample_episode_set(hmdb_test, 5, 5, 1, 300, 0)
    h1 = episode_set.write_episode_set(tmp_path / "a.jsonl", eps)
    h2 = episode_set.write_episode_set(tmp_path / "b.jsonl",
                                       episode_set.sample_episode_set(hmdb_test, 5, 5, 1, 300, 0))
    a, b = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
    assert a == b and h1 == h2 == sha256_file(tmp_path / "a.jsonl") == episode_set.episode_set_hash(eps)
    assert a.count(b"\n") == 300 and a.startswith(b'{"classes":[')
    assert episode_set.read_episode_set(tmp_path / "a.jsonl") == eps
    assert episode_set.describe_episode_set(eps) == {"episodes": 300, "ways": 5, "shots": 5,
                                                     "queries": 1, "hash": h1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]  # no temp files left


def test_hash_changes_with_content(hmdb_test):
    a = episode_set.sample_episode_set(hmdb_test, 5, 1, 1, 10, 0)
    b = episode_set.sample_episode_set(hmdb_test, 5, 1, 1, 10, 1)
    assert episode_set.episode_set_hash(a) != episode_set.episode_set_hash(b)
    assert episode_set.episode_set_hash(a[:9]) != episode_set.episode_set_hash(a)


def test_prefix_property(hmdb_test):
    """The first 10 episodes of a 1000-episode set are the 10-episode set (episode i is fixed)."""
    assert episode_set.sample_episode_set(hmdb_test, 5, 1, 1, 1000, 0)[:10] == \
        episode_set.sample_episode_set(hmdb_test, 5, 1, 1, 10, 0)


@pytest.mark.parametrize("line,match", [
    ("not json", "not JSON"),
    ('{"index":0}', "expected an object with keys"),
    ('{"classes":["a","b"],"index":0,"query":[["x"]],"support":[["y"]]}', "one list per class"),
    ('{"classes":["a","b"],"index":0,"query":[["x"],["y"]],"support":[["x"],["z"]]}', "appears twice"),
    ('{"classes":["a"],"index":0,"query":[["x"]],"support":[["y"]]}', "at least 2 ways"),
    ('{"classes":["a","b"],"index":0,"query":[["x"],["z"]],"support":[["y"],["w","v"]]}', "same number"),
])
def test_read_rejects_bad_files(tmp_path, line, match):
    p = tmp_path / "bad.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(UserError, match=match):
        episode_set.read_episode_set(p)


def test_read_missing_or_empty(tmp_path):
    with pytest.raises(UserError, match="not found"):
        episode_set.read_episode_set(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(UserError, match="empty"):
        episode_set.read_episode_set(tmp_path / "e.jsonl")


def _identity(batch):
    return batch


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_workers_give_same_episodes(hmdb_test, num_workers):
    view = episode_set.LazyEpisodeSet(hmdb_test, ways=5, shots=5, queries=1, episodes=64, seed=0)
    loader = DataLoader(view, batch_size=None, num_workers=num_workers, collate_fn=_identity)
    got = list(loader)
    assert got == episode_set.sample_episode_set(hmdb_test, 5, 5, 1, 64, 0)
    assert episode_set.episode_set_hash(got) == episode_set.episode_set_hash(
        episode_set.sample_episode_set(hmdb_test, 5, 5, 1, 64, 0))


def test_task_view_support_query_batches(hmdb_test):
    eps = episode_set.sample_episode_set(hmdb_test, 3, 2, 4, 5, 0)
    feats = {e.video_id: torch.full((2,), float(i)) for i, e in enumerate(hmdb_test)}
    tasks = TaskView(eps, load=feats.__getitem__, collate=torch.stack, label_fn=torch.tensor)
    assert len(tasks) == 5
    (xs, ys), (xq, yq) = tasks[1]
    assert xs.shape == (6, 2) and xq.shape == (12, 2)
    assert ys.tolist() == [0, 0, 1, 1, 2, 2] and yq.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(xs[0], feats[eps[1]["support"][0][0]])
    (ids, labels), _ = next(iter(TaskView(eps)))
    assert ids == [v for vs in eps[0]["support"] for v in vs] and labels == [0, 0, 1, 1, 2, 2]


def test_sampling_10000_is_fast(tmp_path):
    import time

    entries = splits.load_split("ssv2_full", "test")
    t = time.process_time()  # this process's CPU time: other jobs on the machine do not count
    eps = episode_set.sample_episode_set(entries, 5, 5, 1, 10_000, 0)
    episode_set.write_episode_set(tmp_path / "F.jsonl", eps)
    assert time.process_time() - t < 5.0
    assert json.loads((tmp_path / "F.jsonl").read_text().splitlines()[-1])["index"] == 9999
