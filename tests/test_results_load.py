"""Reading records: recursion, bad files skipped with a warning, duplicates, benchmark files."""
import json
from pathlib import Path

import pytest

from results import records as rec
import record_fixtures as T
from results.load import RecordWarning, read_records


def test_reads_recursively_and_skips_bad_files(tmp_path):
    good = [rec.write_record(tmp_path / "a", T.fewshot_record(method=m))
            for m in ("frozen", "zeroi2v")]
    rec.write_record(tmp_path / "deep" / "b" / "c", T.full_record())
    bad_dir = tmp_path / "a" / "records"
    (bad_dir / "truncated.json").write_text(good[0].read_text()[:40])
    (bad_dir / "list.json").write_text("[1, 2]")
    (bad_dir / "old.json").write_text(json.dumps({**T.full_record(), "schema_version": 0}))
    (bad_dir / "partial.json").write_text(json.dumps({**T.full_record(), "top1": None}))
    (bad_dir / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "a" / "not_records.json").write_text("{}")        # outside records/: ignored
    with pytest.warns(RecordWarning) as caught:
        loaded = read_records(tmp_path)
    assert loaded.n_read == 3
    names = sorted(s.path.name for s in loaded.skipped)
    assert names == ["binary.json", "list.json", "old.json", "partial.json", "truncated.json"]
    for s in loaded.skipped:
        assert any(str(s.path) in str(w.message) for w in caught)
    assert set(loaded.records["kind"]) == {"fewshot", "full"}
    assert "_path" in loaded.records.columns


def test_several_run_dirs_and_a_single_file(tmp_path):
    p1 = rec.write_record(tmp_path / "r1", T.fewshot_record())
    rec.write_record(tmp_path / "r2", T.full_record())
    assert read_records(tmp_path / "r1", tmp_path / "r2").n_read == 2
    assert read_records(p1).n_read == 1


def test_duplicates_keep_newest_and_warn(tmp_path):
    old = T.fewshot_record(accuracy=50.0, created="2024-01-01T00:00:00+00:00")
    new = T.fewshot_record(accuracy=70.0, created="2024-06-01T00:00:00+00:00")
    p_old = rec.write_record(tmp_path, old)
    rec.write_record(tmp_path, new)
    rec.write_record(tmp_path, T.fewshot_record(shots=5))      # another cell: kept
    with pytest.warns(RecordWarning, match="newer record"):
        loaded = read_records(tmp_path)
    assert loaded.n_read == 2 and loaded.superseded == [p_old]
    one_shot = loaded.records[loaded.records["shots"] == 1]
    assert list(one_shot["accuracy"]) == [70.0]


def test_allway_folds_and_full_seeds_are_not_duplicates(tmp_path):
    for fold in (1, 2, 3):
        rec.write_record(tmp_path, T.allway_record(fold=fold))
    for seed in (0, 1):
        rec.write_record(tmp_path, T.full_record(seed=seed))
    assert read_records(tmp_path).n_read == 5


def test_bench_files_discovered_and_explicit(tmp_path):
    doc = {"schema": "zeroi2v-bench/1", "models": [{"name": "plain"}]}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "bench_a.json").write_text(json.dumps(doc))
    (tmp_path / "run" / "bench_other.json").write_text(json.dumps({"schema": "x"}))
    explicit = tmp_path / "elsewhere.json"
    explicit.write_text(json.dumps(doc))
    loaded = read_records(tmp_path / "run", bench_files=[explicit])
    assert len(loaded.bench) == 2 and loaded.records.empty
    wrong = tmp_path / "wrong.json"
    wrong.write_text("{}")
    with pytest.warns(RecordWarning, match="wrong.json"):
        loaded = read_records(tmp_path / "run", bench_files=[wrong])
    assert len(loaded.bench) == 1 and loaded.skipped[0].path == wrong


def test_bench_schema_2_and_data_only_documents(tmp_path):
    """zeroi2v.bench writes schema /2 (with a data_path section); `--data` alone has no model timing."""
    full = {"schema": "zeroi2v-bench/2", "models": [{"name": "plain"}], "data_path": {}}
    data_only = {"schema": "zeroi2v-bench/2", "models": None, "data_path": {"kinds": []}}
    bad_v1 = {"schema": "zeroi2v-bench/1", "models": None}
    for name, doc in (("bench_full", full), ("bench_data", data_only), ("bench_bad", bad_v1)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    loaded = read_records(tmp_path)
    assert sorted(Path(d["_path"]).name for d in loaded.bench) == ["bench_data.json", "bench_full.json"]
    from results.tables import efficiency_table

    table = efficiency_table(loaded.bench)
    assert table is not None and len(table.rows) == 1  # the data-only document adds no model row


@pytest.mark.parametrize("edit,reason", [
    ({"accuracy": 99.0}, "accuracy=99.0 contradicts its 30 per-episode accuracies"),
    ({"n_episodes": 1_000_000}, "30 episode accuracies, record says n_episodes=1000000"),
    ({"ci95": 0.01}, "ci95=0.01 contradicts"),
    ({"std": 0.5}, "std=0.5 contradicts"),
])
def test_record_contradicting_its_episode_array_is_skipped(tmp_path, edit, reason):
    import numpy as np

    acc = np.random.default_rng(0).choice([0.0, 20.0, 40.0, 60.0, 80.0, 100.0], size=30)
    good = T.fewshot_from_episodes(tmp_path / "good", acc, method="frozen")
    bad = T.fewshot_from_episodes(tmp_path / "bad", acc, method="zeroi2v")
    bad.write_text(json.dumps({**json.loads(bad.read_text()), **edit}))
    with pytest.warns(RecordWarning, match="skipping .*" + reason.replace("(", r"\(")):
        loaded = read_records(tmp_path)
    assert list(loaded.records["_path"]) == [str(good)]
    assert [s.path for s in loaded.skipped] == [bad] and reason in loaded.skipped[0].reason


def test_record_agreeing_with_its_episode_array_is_read(tmp_path):
    import numpy as np
    import warnings

    T.fewshot_from_episodes(tmp_path, np.array([20.0, 40.0, 100.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_records(tmp_path).n_read == 1
