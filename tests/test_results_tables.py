"""Tables built from hand-made record sets with known means and intervals."""
import math

import numpy as np
import pytest
from scipy import stats

from results import records as rec
import record_fixtures as T
from results.load import read_records
from results.tables import build_tables, efficiency_table


def _tables(tmp_path, **kw):
    loaded = read_records(tmp_path, **kw)
    return {t.name: t for t in build_tables(loaded.records, loaded.bench)}


def _cell(table, row_label, col_prefix):
    for labels, cells in table.rows:
        if labels[-1] == row_label:
            for col, c in zip(table.columns, cells):
                if col[: len(col_prefix)] == tuple(col_prefix):
                    return c
    raise KeyError((row_label, col_prefix))


def _episodes(mean, n=300, seed=0, spread=10.0):
    x = np.random.default_rng(seed).normal(0, spread, n)
    return x - x.mean() + mean                  # exact mean


def test_fewshot_cells_and_significant_bold(tmp_path):
    base = _episodes(60.0)
    T.fewshot_from_episodes(tmp_path, base, method="frozen")
    T.fewshot_from_episodes(tmp_path, base + 5, method="zeroi2v")
    # a second column: records without per-episode data -> nothing bold however large the lead
    rec.write_record(tmp_path, T.fewshot_record(method="frozen", shots=5, accuracy=40.0, ci95=1.0))
    rec.write_record(tmp_path, T.fewshot_record(method="zeroi2v", shots=5, accuracy=90.0, ci95=1.0))
    t = _tables(tmp_path)["fewshot"]
    assert [r[0][0] for r in t.rows] == ["Frozen image model", "ZeroI2V"]   # METHODS order
    assert t.columns == [("toy", "5-way", "1-shot", "prototype"),
                         ("toy", "5-way", "5-shot", "prototype")]
    c = _cell(t, "Frozen image model", ("toy", "5-way", "1-shot"))
    assert c.mean == pytest.approx(60.0)
    assert c.half_width == pytest.approx(1.96 * base.std(ddof=1) / math.sqrt(300))
    assert c.n == 300 and not c.bold
    assert _cell(t, "ZeroI2V", ("toy", "5-way", "1-shot")).bold
    assert not _cell(t, "ZeroI2V", ("toy", "5-way", "5-shot")).bold
    assert "nothing is bold" in t.footnotes[0]


def test_fewshot_different_episode_sets_are_not_paired(tmp_path):
    base = _episodes(60.0)
    T.fewshot_from_episodes(tmp_path, base, method="frozen", episode_set_hash="A")
    T.fewshot_from_episodes(tmp_path, base + 30, method="zeroi2v", episode_set_hash="B")
    tabs = _tables(tmp_path)
    assert not _cell(tabs["fewshot"], "ZeroI2V", ("toy",)).bold
    assert "fewshot_paired" not in tabs


def test_paired_table_numbers(tmp_path):
    a = np.array([60.0, 80.0, 70.0, 90.0])
    b = np.array([50.0, 75.0, 70.0, 85.0])
    T.fewshot_from_episodes(tmp_path, b, method="frozen")
    T.fewshot_from_episodes(tmp_path, a, method="zeroi2v")
    t = _tables(tmp_path)["fewshot_paired"]
    assert len(t.rows) == 1
    labels, (diff, n, sig) = t.rows[0]
    assert labels == ("toy", "5", "1", "prototype", "ZeroI2V - Frozen image model")
    assert diff.mean == pytest.approx(5.0)
    assert diff.half_width == pytest.approx(1.96 * math.sqrt(50 / 3) / 2)
    assert n.text == "4" and sig.text == "yes"   # 5 ± 4.0 excludes 0


def test_missing_episode_file_warns_and_is_not_bold(tmp_path):
    base = _episodes(60.0)
    T.fewshot_from_episodes(tmp_path, base, method="frozen")
    T.fewshot_from_episodes(tmp_path, base + 10, method="zeroi2v")
    for f in (tmp_path / "episode_accuracies").glob("zeroi2v*"):
        f.unlink()
    with pytest.warns(UserWarning, match="no paired comparison"):
        t = _tables(tmp_path)["fewshot"]
    assert not _cell(t, "ZeroI2V", ("toy",)).bold


def test_allway_t_interval_and_single_fold(tmp_path):
    for fold, top1 in zip((1, 2, 3), (58.0, 60.0, 62.0)):
        rec.write_record(tmp_path, T.allway_record(shots=4, fold=fold, top1=top1))
    rec.write_record(tmp_path, T.allway_record(shots=8, fold=1, top1=70.0))
    rec.write_record(tmp_path, T.full_record(top1=85.0, seed=0))
    rec.write_record(tmp_path, T.full_record(top1=87.0, seed=1))
    t = _tables(tmp_path)["allway"]
    assert t.columns == [("toy", "K=4"), ("toy", "K=8"), ("toy", "full")]
    k4 = _cell(t, "ZeroI2V", ("toy", "K=4"))
    assert k4.mean == pytest.approx(60.0) and k4.n == 3
    assert k4.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3))
    k8 = _cell(t, "ZeroI2V", ("toy", "K=8"))
    assert (k8.mean, k8.half_width, k8.n) == (70.0, None, 1)
    full = _cell(t, "ZeroI2V", ("toy", "full"))
    assert full.mean == pytest.approx(86.0)
    assert full.half_width == pytest.approx(stats.t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))


def test_full_table(tmp_path):
    rec.write_record(tmp_path, T.full_record(top1=80.0, top5=95.0, top1_merged=79.9,
                                             views="8x3", gflops_per_view=17.6,
                                             params_total=86_200_000, params_new=0))
    rec.write_record(tmp_path, T.full_record(method="frozen", top1=70.0, dataset="ucf101"))
    t = _tables(tmp_path)["full"]
    assert [r[0] for r in t.rows] == [("toy", "ZeroI2V"), ("ucf101", "Frozen image model")]
    cells = dict(zip((c[0] for c in t.columns), t.rows[0][1]))
    assert cells["Top-1"].mean == 80.0 and cells["Top-1"].half_width is None
    assert cells["Top-1 merged"].mean == pytest.approx(79.9)
    assert cells["Views"].text == "8x3" and cells["GFLOPs/view"].text == "17.6"
    assert cells["Params (M)"].text == "86.2" and cells["New params (M)"].text == "0"
    assert cells["Seeds"].text == "1"
    assert "GFLOPs/view" in [c[0] for c in t.columns]
    assert cells["Top-5"].mean == 95.0


def test_efficiency_table():
    doc = {"schema": "zeroi2v-bench/1", "machine": "m", "device": "cpu", "backbone": "vit",
           "frames": 8, "batch": 1, "_path": "/x/bench.json",
           "models": [{"name": "merged", "params": 86_000_000, "new_params": 0, "gflops": 180.0,
                       "latency_ms_median": 12.5, "latency_ms_iqr": 0.4, "throughput": 80.0,
                       "peak_mem_mb": None, "latency_ratio": 1.0, "flops_ratio": 1.0}]}
    t = efficiency_table([doc])
    labels, cells = t.rows[0]
    assert labels == ("vit", "cpu", "merged")
    texts = [c.text for c in cells]
    assert texts == ["86.0", "0", "180", "12.5 (IQR 0.40)", "80.0", "--", "1.00", "1.00"]
    assert efficiency_table([]) is None


def test_mixed_kinds_keep_integer_headers(tmp_path):
    rec.write_record(tmp_path, T.fewshot_record(ways=5, shots=1))
    rec.write_record(tmp_path, T.full_record())
    t = _tables(tmp_path)["fewshot"]
    assert t.columns == [("toy", "5-way", "1-shot", "prototype")]


def test_multiple_backbones_are_separate_rows(tmp_path):
    rec.write_record(tmp_path, T.fewshot_record(backbone="vit_b16", accuracy=60.0))
    rec.write_record(tmp_path, T.fewshot_record(backbone="vit_l14", accuracy=70.0))
    t = _tables(tmp_path)["fewshot"]
    assert [r[0][0] for r in t.rows] == ["ZeroI2V (vit_b16)", "ZeroI2V (vit_l14)"]


def test_rows_that_learned_nothing_are_marked_and_the_tested_epoch_is_a_footnote(tmp_path):
    warn = "warning: the kept epoch 3 is not clearly above chance"
    rec.write_record(tmp_path, T.fewshot_record(method="frozen", accuracy=40.0))
    rec.write_record(tmp_path, T.fewshot_record(method="zeroi2v", accuracy=41.0, learning_warning=warn))
    rec.write_record(tmp_path, T.full_record(method="zeroi2v", keep="best", tested_epoch=7, config=dict(epochs=40),
                                             learning_warning=None))
    t = _tables(tmp_path)
    labels = [labels[-1] for labels, _ in t["fewshot"].rows]
    assert sum(label.endswith(" (!)") for label in labels) == 1 and len(labels) == 2  # only the warned method
    assert any("not clearly above chance" in f for f in t["fewshot"].footnotes)
    full = t["full"]
    assert not any(labels[-1].endswith(" (!)") for labels, _ in full.rows)
    assert any("epoch 7 of 40 (best)" in f for f in full.footnotes)
