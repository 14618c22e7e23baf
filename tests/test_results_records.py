"""Record schema: validation, writing, per-episode accuracies, concurrent writers."""
import json
import multiprocessing as mp

import numpy as np
import pytest

from results import records as rec
import record_fixtures as T
from results.load import read_records


def test_valid_records_pass():
    for r in (T.fewshot_record(), T.full_record(), T.allway_record()):
        assert rec.validate(r) is r


@pytest.mark.parametrize("change, match", [
    ({"schema_version": 99}, "schema_version"),
    ({"kind": "other"}, "kind"),
    ({"accuracy": None}, "missing"),
    ({"accuracy": "60"}, "percentage"),
    ({"accuracy": 160.0}, "percentage"),
    ({"ci95": float("nan")}, "percentage"),
    ({"ways": 0}, "integer"),
    ({"shots": 1.5}, "integer"),
    ({"ways": True}, "integer"),
    ({"seed": "0"}, "seed"),
    ({"dataset": ""}, "string"),
    ({"episode_accuracies": "../x.npy"}, "relative"),
    ({"episode_accuracies": "/abs/x.npy"}, "relative"),
])
def test_invalid_records_raise(change, match):
    r = {**T.fewshot_record(), **change}
    with pytest.raises(rec.RecordError, match=match):
        rec.validate(r)


def test_validate_rejects_non_dict():
    with pytest.raises(rec.RecordError):
        rec.validate([1, 2])


def test_write_record_roundtrip_and_numpy_scalars(tmp_path):
    r = T.fewshot_record(ways=np.int64(5), accuracy=np.float32(61.5), params_total=np.int64(7))
    p = rec.write_record(tmp_path, r)
    assert p.parent == tmp_path / "records" and p.name.startswith("fewshot-toy-zeroi2v-5w1s")
    back = json.loads(p.read_text())
    assert back["ways"] == 5 and back["params_total"] == 7 and back["accuracy"] == 61.5
    assert rec.validate(back)
    p2 = rec.write_record(tmp_path, r)
    assert p2 != p and len(list(rec.iter_record_files(tmp_path))) == 2


def test_episode_accuracies_roundtrip(tmp_path):
    acc = np.array([40.0, 60.0, 80.0, 100.0])
    rel = rec.save_episode_accuracies(tmp_path, "zeroi2v/5w1s", acc)
    assert rel.startswith("episode_accuracies/") and rel.endswith(".npy") and "/" not in rel[19:]
    assert (tmp_path / rel).is_file()
    r = T.fewshot_record(n_episodes=4, episode_accuracies=rel)
    path = rec.write_record(tmp_path, r)
    # relative to the run dir = parent of the record file's directory
    assert rec.episode_accuracies_path(path, r) == (tmp_path / rel).resolve()
    np.testing.assert_array_equal(rec.load_episode_accuracies(path, r), acc)
    assert rec.save_episode_accuracies(tmp_path, "zeroi2v/5w1s", acc) != rel  # never overwrites


def test_episode_accuracies_errors(tmp_path):
    rel = rec.save_episode_accuracies(tmp_path, "m", np.ones(3))
    r = T.fewshot_record(n_episodes=5, episode_accuracies=rel)
    path = rec.write_record(tmp_path, r)
    with pytest.raises(rec.RecordError, match="n_episodes=5"):
        rec.load_episode_accuracies(path, r)
    with pytest.raises(rec.RecordError, match="no episode_accuracies"):
        rec.load_episode_accuracies(path, T.fewshot_record())
    with pytest.raises(rec.RecordError, match="cannot read"):
        rec.load_episode_accuracies(path, {**r, "episode_accuracies": "missing.npy"})
    with pytest.raises(rec.RecordError):
        rec.save_episode_accuracies(tmp_path, "m", [])


def _writer(args):
    run_dir, worker, count = args
    for i in range(count):
        rec.write_record(run_dir, T.fewshot_record(seed=worker * 1000 + i, accuracy=float(i)))
    return count


def test_parallel_writers_lose_nothing(tmp_path):
    workers, each = 4, 25
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        assert sum(pool.map(_writer, [(str(tmp_path), w, each) for w in range(workers)])) == 100
    files = list(rec.iter_record_files(tmp_path))
    assert len(files) == workers * each
    loaded = read_records(tmp_path, deduplicate=False)
    assert len(loaded.records) == workers * each and not loaded.skipped
    expected = sorted(w * 1000 + i for w in range(4) for i in range(25))
    assert sorted(loaded.records["seed"]) == expected
    assert not list((tmp_path / "records").glob(".*"))  # no temp files left behind


def test_write_without_hard_links(tmp_path, monkeypatch):
    def no_link(*a, **k):
        raise PermissionError("no hard links on this filesystem")

    monkeypatch.setattr(rec.os, "link", no_link)
    paths = {rec.write_record(tmp_path, T.fewshot_record()) for _ in range(3)}
    assert len(paths) == 3
    assert all(rec.validate(json.loads(p.read_text())) for p in paths)
    rel = rec.save_episode_accuracies(tmp_path, "m", [1.0, 2.0])
    np.testing.assert_array_equal(np.load(tmp_path / rel), [1.0, 2.0])
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]
