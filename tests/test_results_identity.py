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
        "n_episodes", "episode_set_hash", "seed", "pretrained_sha256", "recipe"}
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
