"""The peers table: methods x protocol/shots with accuracy, paired difference to ZeroI2V, cost columns."""
import numpy as np
import pytest

from results import records as rec
import record_fixtures as T
from results.load import read_records
from results.peers import fmt_count, peers_table
from results.tables import build_tables


def _episodes(mean, n=200, seed=0):
    x = np.random.default_rng(seed).normal(0, 10, n)
    return x - x.mean() + mean


def _write(run, method, means, **cost):
    for (shots, protocol), m in means.items():
        T.fewshot_from_episodes(run, _episodes(m, seed=shots), method=method, shots=shots, protocol=protocol, **cost)


COST = dict(aim=dict(inference_model="trained", params_trainable=11_000_000, params_new=10_700_000,
                     gflops_per_view=404.2, flops_ratio=1.438, latency_ratio=1.61),
            zeroi2v=dict(inference_model="merged", params_trainable=14_500_000, params_new=6144,
                         gflops_per_view=281.0, flops_ratio=1.0, latency_ratio=1.01))


def test_rows_columns_paired_differences_and_cost(tmp_path):
    run = tmp_path / "run"
    cols = {(1, "prototype"): 0, (5, "prototype"): 0}
    _write(run, "zeroi2v", {k: 60.0 + v for k, v in cols.items()}, **COST["zeroi2v"])
    _write(run, "aim", {(1, "prototype"): 58.0, (5, "prototype"): 63.0}, **COST["aim"])
    rec.write_record(run, T.full_record(method="aim", top1=80.0, top1_merged=None, top5_merged=None))
    rec.write_record(run, T.full_record(method="zeroi2v", top1=79.0, top1_merged=78.5))
    t = {x.name: x for x in build_tables(read_records(run).records)}["peers"]
    assert [r[0][0] for r in t.rows] == ["AIM", "ZeroI2V"]  # registry order
    heads = [" ".join(p for p in c if p) for c in t.columns]
    assert heads[:4] == ["toy 5-way 1-shot prototype acc", "toy 5-way 1-shot prototype Δ ZeroI2V",
                         "toy 5-way 5-shot prototype acc", "toy 5-way 5-shot prototype Δ ZeroI2V"]
    assert heads[4:] == ["toy full top-1 acc", "Cost inference", "Cost trained", "Cost added", "Cost GFLOPs/view",
                         "Cost FLOPs x image", "Cost latency x image"]
    aim, z = t.rows[0][1], t.rows[1][1]
    assert aim[0].mean == pytest.approx(58.0) and aim[1].mean == pytest.approx(-2.0)  # paired: 58 - 60, same episodes
    assert aim[1].half_width == pytest.approx(0.0, abs=1e-9) and aim[1].bold  # identical episode noise: CI 0
    assert aim[3].mean == pytest.approx(3.0) and z[1].mean is None  # ZeroI2V against itself: no entry
    assert aim[4].mean == 80.0 and z[4].mean == 78.5  # the model that ran at inference: merged for ZeroI2V
    assert [c.text for c in aim[5:]] == ["trained", "11.0M", "10.7M", "404", "1.44", "1.61"]
    assert [c.text for c in z[5:]] == ["merged", "14.5M", "6.1K", "281", "1.00", "1.01"]


def test_no_pairing_across_episode_sets_and_no_table_without_peers(tmp_path):
    run = tmp_path / "run"
    T.fewshot_from_episodes(run, _episodes(60.0), method="zeroi2v", episode_set_hash="a")
    T.fewshot_from_episodes(run, _episodes(50.0), method="frozen", episode_set_hash="a")
    assert peers_table(read_records(run).records) is None  # ZeroI2V's own rows only: the few-shot table has them
    T.fewshot_from_episodes(run, _episodes(55.0), method="st_adapter", episode_set_hash="b")
    t = peers_table(read_records(run).records)
    rows = {r[0][0]: r[1] for r in t.rows}
    assert rows["ST-Adapter"][1].mean is None  # another episode set: never paired
    assert rows["Frozen image model"][1].mean == pytest.approx(-10.0)
    assert rows["ST-Adapter"][2].text == "--"  # a record without cost fields


def test_parameter_counts_are_readable():
    assert [fmt_count(x) for x in (11_012_345, 4707, 128, 0, None)] == ["11.0M", "4.7K", "128", "0", "--"]
