"""Records are the same measurement only when every identity field
agrees; seeds are aggregated (never dropped); ties are broken by content; hostile files skipped."""
import contextlib
import json
import math

import numpy as np
import pytest
from scipy import stats

import record_fixtures as T
from results import records as rec
from results.__main__ import main
from results.load import IDENTITY_KEYS, RecordWarning, read_records
from results.tables import build_tables


def _fewshot(tmp_path):
    loaded = read_records(tmp_path)
    return {t.name: t for t in build_tables(loaded.records)}["fewshot"], loaded


def test_identity_fields_are_the_documented_ones():
    assert set(IDENTITY_KEYS["fewshot"]) == {
        "kind", "dataset", "method", "backbone", "protocol", "ways", "shots", "queries",
        "n_episodes", "episode_set_hash", "seed", "pretrained_sha256", "recipe", "data_sha256", "data_seed",
        "model_sha256", "settings_sha256"}
    for keys in IDENTITY_KEYS.values():
        assert "seed" in keys and "world_size" not in keys


def test_two_seeds_are_one_row_with_n_seeds_2(tmp_path, capsys):
    rec.write_record(tmp_path, T.fewshot_record(seed=0, accuracy=50.0, episode_set_hash="s0"))
    rec.write_record(tmp_path, T.fewshot_record(seed=1, accuracy=60.0, episode_set_hash="s1"))
    t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 2 and loaded.superseded == []
    assert len(t.rows) == 1 and len(t.columns) == 1
    c = t.rows[0][1][0]
    assert c.mean == pytest.approx(55.0) and c.n_seeds == 2 and c.n == 2
    assert c.half_width == pytest.approx(stats.t.ppf(0.975, 1) * math.sqrt(50) / math.sqrt(2))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "55.0 ± " in out and "(2 seeds)" in out


def test_600_seeds_are_600_records(tmp_path):
    rng = np.random.default_rng(0)
    acc = rng.uniform(40, 60, 600)
    for seed, a in enumerate(acc):
        rec.write_record(tmp_path, T.fewshot_record(seed=seed, accuracy=float(a),
                                                    episode_set_hash=f"h{seed}"))
    t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 600 and not loaded.superseded
    c = t.rows[0][1][0]
    assert c.n_seeds == 600 and c.mean == pytest.approx(acc.mean())


def test_same_measurement_newest_wins_and_world_size_is_not_identity(tmp_path):
    old = T.fewshot_record(accuracy=50.0, created="2024-01-01T00:00:00+00:00", world_size=1)
    new = T.fewshot_record(accuracy=70.0, created="2024-06-01T00:00:00+00:00", world_size=8)
    p_old = rec.write_record(tmp_path, old)
    rec.write_record(tmp_path, new)
    with pytest.warns(RecordWarning, match="newer record"):
        loaded = read_records(tmp_path)
    assert loaded.superseded == [p_old] and list(loaded.records["accuracy"]) == [70.0]


@pytest.mark.parametrize("field,values", [
    ("pretrained_sha256", ("a" * 64, "b" * 64)), ("queries", (1, 5)), ("n_episodes", (100, 200)),
    ("episode_set_hash", ("A", "B"))])
def test_other_settings_are_kept_apart(tmp_path, field, values):
    for v, acc in zip(values, (50.0, 70.0)):
        rec.write_record(tmp_path, T.fewshot_record(accuracy=acc, **{field: v}))
    with pytest.warns(RecordWarning, match="same seed") if field == "episode_set_hash" else contextlib.nullcontext():
        t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 2 and not loaded.superseded
    cells = [c for _, cs in t.rows for c in cs if c.mean is not None]
    if field == "episode_set_hash":  # same seed, other episodes: two runs averaged, said so
        assert len(cells) == 1 and cells[0].mean == pytest.approx(60.0)
    else:  # another model or another evaluation setting: never one cell
        assert sorted(c.mean for c in cells) == [50.0, 70.0]
    if field == "pretrained_sha256":
        assert [r[0][0] for r in t.rows] == ["ZeroI2V [weights aaaaaaaa]", "ZeroI2V [weights bbbbbbbb]"]
    if field == "queries":
        assert [c[-1] for c in t.columns] == ["1-query", "5-query"]


def test_equal_created_tie_broken_by_content_not_file_name(tmp_path):
    when = "2024-01-01T00:00:00+00:00"
    a = rec.write_record(tmp_path, T.fewshot_record(accuracy=50.0, created=when))
    b = rec.write_record(tmp_path, T.fewshot_record(accuracy=70.0, created=when))
    with pytest.warns(RecordWarning):
        first = read_records(tmp_path).records["accuracy"].tolist()
    # swap the (random) file names: the same record must win
    tmp = a.with_name("swap.json")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    for name in ("zzz.json", "aaa.json"):
        a.rename(a.with_name(name))
        a = a.with_name(name)
        with pytest.warns(RecordWarning):
            assert read_records(tmp_path).records["accuracy"].tolist() == first


def test_seed_aggregated_cells_are_paired_seed_by_seed(tmp_path):
    for seed, base in enumerate((50.0, 55.0, 60.0)):
        for m, d in (("frozen", 0.0), ("zeroi2v", 5.0 + 0.1 * seed)):
            rec.write_record(tmp_path, T.fewshot_record(method=m, seed=seed, accuracy=base + d,
                                                        episode_set_hash=f"h{seed}"))
    loaded = read_records(tmp_path)
    tabs = {t.name: t for t in build_tables(loaded.records)}
    zero = next(cs for labels, cs in tabs["fewshot"].rows if labels[0] == "ZeroI2V")[0]
    assert zero.bold and zero.n_seeds == 3
    labels, (diff, n, sig) = tabs["fewshot_paired"].rows[0]
    d = np.array([5.0, 5.1, 5.2])
    assert diff.mean == pytest.approx(5.1)
    assert diff.half_width == pytest.approx(stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3))
    assert n.text == "3 seeds" and sig.text == "yes"


def test_deeply_nested_record_is_skipped_with_a_warning(tmp_path, capsys):
    good = rec.write_record(tmp_path, T.fewshot_record())
    nested = good.parent / "nested.json"
    nested.write_text("[" * 200000 + "]" * 200000)
    bench = tmp_path / "bench_nested.json"
    bench.write_text("[" * 200000 + "]" * 200000)
    with pytest.warns(RecordWarning, match="nested.json"):
        loaded = read_records(tmp_path)
    assert loaded.n_read == 1 and [s.path.name for s in loaded.skipped] == ["nested.json"]
    assert main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: skipping" in err and "nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize("field,value", [("ways", 10**20), ("seed", 2**70), ("shots", True),
                                         ("accuracy", float("nan")), ("created", 5)])
def test_hostile_field_values(tmp_path, field, value, capsys):
    good = rec.write_record(tmp_path, T.fewshot_record())
    bad = good.parent / "bad.json"
    bad.write_text(json.dumps({**T.fewshot_record(), field: value}))
    assert main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if field != "created":  # an odd timestamp is still a record (ordered first)
        assert "warning: skipping" in err and "bad.json" in err


def test_two_recipes_are_two_measurements_labelled_by_recipe(tmp_path):
    """Runs of two recipes (e.g. u8 and u32 frames) are never one superseding the other, nor seeds of one cell."""
    for recipe, acc in (("clip_b16_hmdb51_u8", 50.0), ("clip_b16_hmdb51_u32", 60.0)):
        rec.write_record(tmp_path, T.fewshot_record(accuracy=acc, recipe=recipe))
        rec.write_record(tmp_path, T.full_record(top1=acc + 20, recipe=recipe, views="1x3"))
    loaded = read_records(tmp_path)
    assert loaded.n_read == 4 and loaded.superseded == []
    tables = {t.name: t for t in build_tables(loaded.records)}
    fs = tables["fewshot"]
    assert len(fs.columns) == 2 and all("recipe clip_b16_hmdb51_u" in " ".join(map(str, c)) for c in fs.columns)
    assert sorted(c.mean for c in fs.rows[0][1]) == [50.0, 60.0] and all(c.n_seeds in (None, 1) for c in fs.rows[0][1])
    full = tables["full"]
    labels = sorted(row[0][1] for row in full.rows)
    assert len(labels) == 2 and labels[0].endswith("[recipe clip_b16_hmdb51_u32]")
    assert sorted(row[1][0].mean for row in full.rows) == [70.0, 80.0]


def _data(name):
    return rec.data_fields(f"/data/{name}", {"test": [(f"videos/{name}/a.mp4", "a")]})


def test_four_list_datasets_of_one_seed_are_four_cells_not_one(tmp_path, capsys):
    """Frozen runs on four different list datasets, all seed 0: four measurements, none dropped,
    never one cell with a t-interval over 'seeds'."""
    for i, name in enumerate("abcd"):
        rec.write_record(tmp_path / name, T.fewshot_record(dataset="list", method="frozen", accuracy=10.0 + 20 * i,
                                                           episode_set_hash=f"h{name}", **_data(name)))
    t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 4 and loaded.superseded == []
    cells = [c for _, cs in t.rows for c in cs if c.mean is not None]
    assert sorted(c.mean for c in cells) == [10.0, 30.0, 50.0, 70.0] and all(c.n_seeds is None for c in cells)
    assert len(t.columns) == 4 and all("data " in " ".join(map(str, c)) for c in t.columns)
    assert main([str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert " seeds)" not in captured.out and "a newer record" not in captured.err


def test_same_data_root_and_lists_is_one_identity_and_seeds_aggregate(tmp_path):
    a, b = _data("a"), _data("a")
    assert a == b and a["data_sha256"] != _data("b")["data_sha256"]
    assert rec.data_fields("/data/a", {"test": [("x", "c1"), ("y", "c2")]}) != \
        rec.data_fields("/data/a", {"test": [("x", "c2"), ("y", "c1")]})  # swapped labels: other data
    assert rec.data_fields("/data/a", {"test": [("x", "c1")]}) != rec.data_fields("/data/b", {"test": [("x", "c1")]})
    for seed in (0, 1):
        rec.write_record(tmp_path, T.fewshot_record(seed=seed, accuracy=50.0 + seed, episode_set_hash=f"s{seed}", **a))
    t, loaded = _fewshot(tmp_path)
    [cell] = [c for _, cs in t.rows for c in cs]
    assert cell.n_seeds == 2 and cell.mean == pytest.approx(50.5)


def test_generated_toy_sets_of_each_seed_aggregate_but_toy_seeds_are_kept_apart(tmp_path):
    toy = dict(videos_per_class=20, size=64)
    f0 = rec.data_fields("/c/toy", {}, generated={**toy, "seed": 0})
    f1 = rec.data_fields("/c/toy-seed1", {}, generated={**toy, "seed": 1})
    assert f0["data_sha256"] == f1["data_sha256"] and (f0["data_seed"], f1["data_seed"]) == (0, 1)
    assert rec.data_fields("/c/t", {}, generated={**toy, "size": 32, "seed": 0})["data_sha256"] != f0["data_sha256"]
    rec.write_record(tmp_path, T.fewshot_record(seed=0, accuracy=40.0, **f0))
    rec.write_record(tmp_path, T.fewshot_record(seed=0, accuracy=60.0, **f1))  # same run seed, other toy set
    with pytest.warns(RecordWarning, match="only 1 distinct seed"):
        _, loaded = _fewshot(tmp_path)
    assert loaded.superseded == [] and loaded.n_read == 2


def test_seeds_are_counted_from_the_seed_field(tmp_path):
    """Two records of seed 0 (two episode sets) and one of seed 1: two seeds, seed 0's episodes pooled."""
    acc = {"a": np.array([40.0, 60.0, 80.0, 20.0]), "b": np.array([60.0, 60.0, 100.0, 40.0]),
           "c": np.array([80.0, 60.0, 40.0, 100.0])}
    for (seed, h) in ((0, "a"), (0, "b"), (1, "c")):
        T.fewshot_from_episodes(tmp_path / f"{seed}{h}", acc[h], seed=seed, episode_set_hash=h)
    with pytest.warns(RecordWarning, match="3 records but only 2 distinct seed"):
        t, loaded = _fewshot(tmp_path)
    [cell] = [c for _, cs in t.rows for c in cs]
    seed0 = np.concatenate([acc["a"], acc["b"]]).mean()
    assert cell.n_seeds == 2 and cell.mean == pytest.approx((seed0 + acc["c"].mean()) / 2)
    only0 = tmp_path / "only0"
    for h in ("a", "b"):
        T.fewshot_from_episodes(only0 / h, acc[h], seed=0, episode_set_hash=h)
    with pytest.warns(RecordWarning, match="2 records but only 1 distinct seed"):
        t, _ = _fewshot(only0)
    [cell] = [c for _, cs in t.rows for c in cs]
    pooled = np.concatenate([acc["a"], acc["b"]])
    assert cell.n_seeds is None and cell.n == 8 and cell.mean == pytest.approx(pooled.mean())
    assert cell.half_width == pytest.approx(1.96 * pooled.std(ddof=1) / math.sqrt(8))


def test_other_settings_of_one_method_are_two_labelled_rows(tmp_path):
    for i, acc in enumerate((50.0, 70.0)):
        rec.write_record(tmp_path, T.fewshot_record(accuracy=acc, settings_sha256=f"{i}" * 64))
    t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 2 and loaded.superseded == []
    assert [r[0][0] for r in t.rows] == ["ZeroI2V [settings 00000000]", "ZeroI2V [settings 11111111]"]
    assert sorted(cs[0].mean for _, cs in t.rows) == [50.0, 70.0]


def test_full_records_of_other_data_are_two_rows(tmp_path):
    for name, top1 in (("a", 60.0), ("b", 80.0)):
        rec.write_record(tmp_path, T.full_record(dataset="list", top1=top1, **_data(name)))
    loaded = read_records(tmp_path)
    full = {t.name: t for t in build_tables(loaded.records)}["full"]
    assert loaded.superseded == [] and len(full.rows) == 2
    assert all("data " in row[0][1] for row in full.rows)


def test_per_seed_toy_weights_share_a_row(tmp_path):
    """The toy ViT is trained per seed (other file, other sha256): its seeds are one row, not one each."""
    for seed in (0, 1, 2):
        rec.write_record(tmp_path, T.fewshot_record(seed=seed, accuracy=50.0 + seed, episode_set_hash=f"s{seed}",
                                                    pretrained_sha256=f"{seed}" * 64, pretrained_generated="g" * 64))
    t, loaded = _fewshot(tmp_path)
    assert loaded.n_read == 3 and len(t.rows) == 1 and t.rows[0][0][0] == "ZeroI2V"
    assert t.rows[0][1][0].n_seeds == 3 and t.rows[0][1][0].mean == pytest.approx(51.0)
    rec.write_record(tmp_path, T.fewshot_record(seed=0, accuracy=10.0, episode_set_hash="s0",
                                                pretrained_sha256="f" * 64))  # a real weights file: its own row
    t, _ = _fewshot(tmp_path)
    assert sorted(r[0][0] for r in t.rows) == ["ZeroI2V [weights ffffffff]", "ZeroI2V [weights gggggggg]"]
