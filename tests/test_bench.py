"""The efficiency benchmark runs end to end in a tiny configuration and writes valid JSON (no timing asserts)."""
import json

import pytest

from tiny import BACKBONE, TINY
from video_fixtures import make_tiny_toy
from zeroi2v.bench import cli as bench

TINY_ARGS = ["--backbone", BACKBONE, "--timm-kwargs", json.dumps(TINY), "--frames", "4", "--batch", "2",
             "--repeats", "3", "--warmup", "1"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")


def test_tiny_benchmark_writes_valid_json(tmp_path, toy_root, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(TINY_ARGS + ["--episodes", "300", "--feature-dim", "32", "--finetune-steps", "5",
                                 "--data-root", str(toy_root), "--data-clips", "4", "--data-workers", "0,1",
                                 "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "zeroi2v-bench/1"
    assert isinstance(report["machine"], str) and report["device"] == "cpu"
    assert (report["backbone"], report["frames"], report["batch"]) == (BACKBONE, 4, 2)
    rows = {r["name"]: r for r in report["models"]}
    assert list(rows) == ["plain", "merged", "unmerged", "aim"]
    keys = {"params", "new_params", "gflops", "latency_ms_median", "latency_ms_iqr", "throughput", "peak_mem_mb",
            "latency_ratio", "flops_ratio"}
    for r in rows.values():
        assert keys <= set(r)
        assert r["latency_ms_median"] > 0 and r["latency_ms_iqr"] >= 0 and r["throughput"] > 0
        assert len(r["latency_ms_all"]) == 3
        assert r["peak_mem_mb"] is None or r["peak_mem_mb"] >= 0
    # the claim, in numbers that do not depend on timing
    assert rows["plain"]["flops_ratio"] == rows["merged"]["flops_ratio"] == 1.0
    assert rows["plain"]["latency_ratio"] == 1.0
    D = TINY["embed_dim"]
    assert rows["merged"]["new_params"] == 4 * D
    assert report["checks"]["merged_params_equal_plain_plus_TD"] is True
    assert report["checks"]["merge_max_rel"] < 1e-5
    assert rows["unmerged"]["flops_ratio"] > 1.0 and rows["aim"]["flops_ratio"] > 1.0
    assert rows["aim"]["new_params"] > 0
    # episodes and data sections
    ep = report["episodes"]
    assert ep["episodes"] == 300 and set(ep["protocols"]) == {"prototype", "finetune"}
    for p in ep["protocols"].values():
        assert p["seconds"] > 0 and 0 <= p["accuracy"] <= 100
    assert ep["protocols"]["prototype"]["accuracy"] > 30  # above 5-way chance: the features carry their classes
    runs = report["data"]["runs"]
    assert [r["num_workers"] for r in runs] == [0, 1]
    assert all(r["clips"] == 4 and r["clips_per_s"] > 0 for r in runs)
    assert report["data"]["clip_shape"] == [1, 3, 4, 32, 32]
    # Markdown table on stdout
    text = capsys.readouterr().out
    assert "| model |" in text and "| merged |" in text and "| aim |" in text


def test_sections_can_be_switched_off(tmp_path):
    out = tmp_path / "b.json"
    assert bench.main(TINY_ARGS + ["--repeats", "1", "--no-episodes", "--no-data", "--no-memory", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["episodes"] is None and report["data"] is None
    assert all(r["peak_mem_mb"] is None and r["latency_ms_iqr"] == 0 for r in report["models"])


def test_bad_arguments_are_user_errors(capsys):
    assert bench.main(TINY_ARGS + ["--repeats", "0", "--no-episodes", "--no-data"]) == 2
    assert "--repeats=0" in capsys.readouterr().err
    assert bench.main(["--backbone", "no_such_vit", "--no-episodes", "--no-data"]) == 2
    assert "no_such_vit" in capsys.readouterr().err
