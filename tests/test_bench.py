"""The efficiency benchmark runs end to end in a tiny configuration and writes valid JSON (no timing asserts)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import BACKBONE, TINY
from video_fixtures import make_tiny_toy
from zeroi2v.bench import cli as bench

TINY_ARGS = ["--backbone", BACKBONE, "--timm-kwargs", json.dumps(TINY), "--frames", "4", "--batch-size", "2",
             "--repeats", "3", "--warmup", "1"]
PATH_ARGS = ["--fixture-scale", "tiny", "--fixture-videos", "2", "--path-clips", "2"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fixtures")


def test_tiny_benchmark_writes_valid_json(tmp_path, toy_root, fixture_root, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(TINY_ARGS + ["--episodes", "300", "--feature-dim", "32", "--finetune-steps", "5",
                                 "--data-root", str(toy_root), "--data-clips", "4", "--num-workers", "0,1",
                                 "--fixture-root", str(fixture_root), "--fixture-kinds", "hmdb", *PATH_ARGS,
                                 "--json", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "zeroi2v-bench/2"
    assert isinstance(report["machine"], str) and report["device"] in ("cpu", "cuda:0")  # --device auto
    assert (report["backbone"], report["frames"], report["batch"]) == (BACKBONE, 4, 2)
    rows = {r["name"]: r for r in report["models"]}
    assert list(rows) == ["plain", "merged", "unmerged", "frozen", "full_finetune", "aim", "st_adapter",
                          "zeroi2v_no_stdha"]  # every method of zeroi2v.methods, as it runs at inference
    assert [rows[n]["method"] for n in ("plain", "merged", "unmerged", "aim")] == [None, "zeroi2v", "zeroi2v", "aim"]
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
    assert rows["aim"]["new_params"] > 0 and rows["st_adapter"]["flops_ratio"] > 1.0
    assert rows["frozen"]["flops_ratio"] == rows["full_finetune"]["flops_ratio"] == 1.0
    assert rows["full_finetune"]["trainable_params"] == rows["full_finetune"]["params"]  # every weight trains
    assert 0 < rows["aim"]["trainable_params"] < rows["aim"]["params"] and rows["plain"]["trainable_params"] == 0
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
    # data path: loader vs raw decode per kind x transform x output; workers derived from the merged model
    dp = report["data_path"]
    assert {(r["kind"], r["mode"], r["variant"]) for r in dp["rows"]} == {
        ("hmdb", m, o) for m in ("train", "test") for o in ("float32", "uint8", "uint8+fast")}
    merged = rows["merged"]["throughput"]
    for r in dp["rows"]:
        assert r["loader_clips_per_s"] > 0 and r["raw_clips_per_s"] > 0 and r["clips"] == 2
        assert r["ratio"] == pytest.approx(r["loader_clips_per_s"] / r["raw_clips_per_s"])
        assert r["views_per_clip"] == (3 if r["mode"] == "test" else 1)
        assert r["clip_shape"] == [r["views_per_clip"], 3, 4, 32, 32]
        assert r["dtype"] == r["variant"].split("+")[0]
        assert r["workers_per_device"] == pytest.approx(merged / (r["loader_clips_per_s"] * r["views_per_clip"]))
    assert dp["model"]["clips_per_s"] == merged and "CPU-derived" in dp["workers_note"]
    # train rows use the augmentation of the recipe of the imitated dataset (HMDB51's), with the bench's frames
    assert {r["recipe"] for r in dp["rows"] if r["mode"] == "train"} == {"clip_b16_hmdb51_u8"}
    assert {r["recipe"] for r in dp["rows"] if r["mode"] == "test"} == {None}
    aug = dp["train_augmentation"]["hmdb"]
    assert aug["recipe"] == "clip_b16_hmdb51_u8" and aug["short_side"] == round(256 * 32 / 224)
    assert aug["randaugment"] == [7, 4] and aug["randaugment_after_flip"] is False and aug["erasing"] == 0.0
    assert dp["fixtures"]["hmdb"]["codec"] == "mpeg4" and dp["fixtures"]["hmdb"]["suffix"] == ".avi"
    # per-stage CPU ms per clip: the loader's stages add up to its time per clip ("other" = the rest)
    for r in dp["rows"]:
        st = r["stages"]
        assert {"open", "decode", "resize_short", "stack", "other", "collate"} <= set(st)
        assert all(v >= 0 for v in st.values()) and r["raw_ms_per_clip"] > 0
        in_loader = sum(v for k, v in st.items() if k != "collate")
        assert in_loader == pytest.approx(1e3 / r["loader_clips_per_s"], rel=1e-6)
        assert ("normalize" in st) == (r["variant"] == "float32")
        assert ("crop_resize" in st) == (r["mode"] == "train")
    # every installed backend on the same frames, decord's frames the reference
    dec = dp["decoders"]["hmdb"]
    assert "pyav" in dec and sum(t["fastest"] for t in dec.values()) == 1
    assert dec["pyav"]["frames_equal"] and all(t["cpu_ms_per_clip"] > 0 for t in dec.values())
    # --decoder auto opens the HMDB-like avi files with PyAV (decode.PYAV_FIRST), and the report says so
    assert dp["loader_decoders"] == {"hmdb": "pyav"}
    # Markdown table on stdout
    text = capsys.readouterr().out
    assert "| model |" in text and "| merged |" in text and "| aim |" in text
    assert "| hmdb | test (3 views) | uint8+fast |" in text and "decoder auto (per kind: hmdb pyav)" in text
    assert "| hmdb | train (1 view, clip_b16_hmdb51_u8) | uint8+fast |" in text
    assert "| kind | transform | raw | loader | open | sample | decode | close |" in text and "| hmdb | train |" in text
    assert "| kind | decord | pyav" in text and "| hmdb | " in text.split("Decoders on the same train frames")[1]


def test_data_only_mode_and_old_flag_spellings(tmp_path, toy_root, fixture_root):
    """--data: only the data sections (the merged model timed once for workers/device); --batch and
    --data-workers still work as hidden aliases."""
    out = tmp_path / "d.json"
    rc = bench.main(["--backbone", BACKBONE, "--model-kwargs", json.dumps(TINY), "--frames", "4", "--batch", "2",
                     "--repeats", "1", "--data", "--data-root", str(toy_root), "--data-clips", "2",
                     "--data-workers", "0", "--fixture-root", str(fixture_root), "--fixture-kinds", "ssv2,kinetics",
                     *PATH_ARGS, "--json", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["models"] is None and report["episodes"] is None and report["batch"] == 2
    assert [r["num_workers"] for r in report["data"]["runs"]] == [0]
    assert {r["kind"] for r in report["data_path"]["rows"]} == {"ssv2", "kinetics"}
    recipes = {r["kind"]: r["recipe"] for r in report["data_path"]["rows"] if r["mode"] == "train"}
    assert recipes == {"ssv2": "clip_b16_ssv2_u16", "kinetics": "clip_b16_k400_8x16x1"}
    ssv2 = report["data_path"]["train_augmentation"]["ssv2"]  # crop -> flip -> RandAugment -> RandomErasing 0.25
    assert ssv2["randaugment_after_flip"] is True and ssv2["erasing"] == 0.25
    assert report["data_path"]["model"]["clips_per_s"] > 0
    assert report["config"]["timm_kwargs"] == TINY and report["config"]["fixture_videos"] == 2


def test_help_shows_one_spelling_per_flag():
    text = bench_help()
    assert "--batch-size" in text and "--num-workers" in text and "--timm-kwargs" in text
    assert "--batch " not in text and "--data-workers" not in text and "--model-kwargs" not in text


def bench_help() -> str:
    from zeroi2v.bench.config import build_parser

    return build_parser("bench").format_help()


def test_module_entry_point_is_unchanged():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "zeroi2v.bench", "--help"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0 and "--fixture-kinds" in r.stdout


def test_count_flops_exists_once():
    """The benchmark uses the one FLOP counter (zeroi2v.methods.cost, also engine.count_flops; no second copy)."""
    import zeroi2v.bench.models as models
    from zeroi2v.training import engine

    assert models.count_flops is engine.count_flops
    root = Path(__file__).resolve().parents[1]
    defs = [p for p in (root / "zeroi2v").rglob("*.py") if "def count_flops(" in p.read_text()]
    assert [p.name for p in defs] == ["cost.py"]


def test_sections_can_be_switched_off(tmp_path):
    out = tmp_path / "b.json"
    assert bench.main(TINY_ARGS + ["--repeats", "1", "--no-episodes", "--no-data", "--no-memory", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["episodes"] is None and report["data"] is None and report["data_path"] is None
    assert all(r["peak_mem_mb"] is None and r["latency_ms_iqr"] == 0 for r in report["models"])


def test_bad_arguments_are_user_errors(capsys):
    assert bench.main(TINY_ARGS + ["--repeats", "0", "--no-episodes", "--no-data"]) == 2
    assert "--repeats=0" in capsys.readouterr().err
    assert bench.main(["--backbone", "no_such_vit", "--no-episodes", "--no-data"]) == 2
    assert "no_such_vit" in capsys.readouterr().err
    assert bench.main(TINY_ARGS + ["--fixture-kinds", "ucf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "ssv2,kinetics,hmdb" in err and err.count("\n") == 1
    assert bench.main(TINY_ARGS + ["--decoder", "nvdec"]) == 2  # refused before any timing
    assert "argument --decoder: invalid choice: 'nvdec'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, expect", [
    (["--backbone", "not_a_model_xyz"], "unknown timm model 'not_a_model_xyz'"),
    (["--backbone", "swin_tiny_patch4_window7_224"], "(Swin) is not supported"),
    (["--timm-kwargs", json.dumps({**TINY, "embed_dim": 30})], "dim should be divisible by num_heads"),
    (["--timm-kwargs", json.dumps({**TINY, "bogus": 1})], "bogus"),
    (["--device", "foo"], "--device 'foo' is not a device"),
    (["--device", "meta"], "--device 'meta': use auto, cpu, cuda or cuda:N"),
    (["--ways", "1"], "--ways=1 must be >= 2"),
    (["--ways", "0"], "--ways=0 must be >= 2"),
    (["--ways", "25"], "--ways=25 exceeds --episode-classes (24)"),
    (["--shots", "0"], "--shots=0 must be >= 1"),
    (["--queries", "0"], "--queries=0 must be >= 1"),
    (["--episodes", "0"], "--episodes=0 must be >= 1"),
    (["--shots", "30", "--queries", "11"], "exceeds --videos-per-class (40)"),
    (["--threads", "0"], "--threads=0 must be >= 1"),
    (["--data-size", "-1"], "--data-size=-1 must be >= 1"),
    (["--json", "{tmp}"], "is a directory; give a file name such as"),
    (["--json", "{tmp}/"], "is a directory"),
    (["--json", "{tmp}/plain.txt/bench.json"], "plain.txt is a file, not a directory"),
    (["--out", "{tmp}"], "is a directory that already holds files (an earlier run's); choose another --out"),
    (["--out", "{tmp}/plain.txt/bench.json"], "plain.txt is a file, not a directory"),  # the old spelling of --json
])
def test_bad_input_is_refused_before_any_work(extra, expect, tmp_path, capsys, monkeypatch):
    """One `error:` line, exit 2, within seconds: no model built or timed ('building models' never logged),
    nothing written."""
    import time

    (tmp_path / "plain.txt").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.setattr(bench, "bench_models", lambda cfg: pytest.fail("started the model timing"))
    t0 = time.perf_counter()
    rc = bench.main([a.replace("{tmp}", str(tmp_path)) for a in extra] + ["--no-data"])
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert expect in err and "building models" not in err
    assert seconds < 5, f"refused after {seconds:.1f} s"
    assert sorted(tmp_path.rglob("*")) == before


def test_out_in_a_read_only_folder_is_refused(tmp_path, capsys, monkeypatch):
    """The writability check itself (root ignores folder permissions, so the answer is faked)."""
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(ro) and mode & os.W_OK
                        else real_access(p, mode, *a, **k))
    assert bench.main(["--json", str(ro / "b.json"), "--no-data"]) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and err.count("\n") == 1 and not any(ro.iterdir())


def test_checks_resolve_the_device_and_accept_good_settings(tmp_path):
    from zeroi2v.bench.cli import parse_args

    cfg = parse_args(TINY_ARGS + ["--device", "auto", "--json", str(tmp_path / "new" / "b.json"), "--no-data"])
    assert cfg.device in ("cpu", "cuda:0") and cfg.json == str(tmp_path / "new" / "b.json") and cfg.out is None
    assert not (tmp_path / "new").exists()  # checking --out creates nothing
