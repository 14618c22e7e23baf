"""`torchrun --nproc_per_node 2 -m fewshot.run` (gloo, CPU) gives what one process gives."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zeroi2v.data import ToyConfig, make_toy

TINY_VIT = '{"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4}'


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy(tmp_path_factory.mktemp("toy") / "data",
                    ToyConfig(num_classes=9, class_split=(3, 3, 3), videos_per_class=6, test_per_class=2, frames=8,
                              size=32, images_per_class=4))


def run(toy, out, cache, *extra, nproc=1):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEROI2V_", "RANK", "WORLD_SIZE", "LOCAL_"))}
    env.update(ZEROI2V_CACHE=str(cache), OMP_NUM_THREADS="1")
    args = ["--data-root", str(toy), "--timm-kwargs", TINY_VIT, "--frames", "4", "--ways", "3", "--shots", "1,2",
            "--episodes", "40", "--batch-size", "4", "--out", str(out), "--cache-dir", str(cache), *extra]
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
              if nproc > 1 else [sys.executable])
    p = subprocess.run([*launch, "-m", "fewshot.run", *args], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def records(out):
    recs = [json.loads(p.read_text()) for p in sorted((Path(out) / "records").glob("*.json"))]
    return {(r["method"], r["shots"], r["protocol"]): r for r in recs}


def compare(one, two, out1, out2):
    r1, r2 = records(out1), records(out2)
    assert set(r1) == set(r2) and r1
    for key, a in r1.items():
        b = r2[key]
        assert b["world_size"] == 2 and a["world_size"] == 1
        assert a["episode_set_hash"] == b["episode_set_hash"]
        assert np.array_equal(np.load(Path(out1) / a["episode_accuracies"]),
                              np.load(Path(out2) / b["episode_accuracies"])), key
        assert a["accuracy"] == b["accuracy"]
    # each test video embedded exactly once across the two ranks, counted in the records
    for key, b in r2.items():
        assert b["embedded"] == r1[key]["embedded"] == 18 and b["embed_cached"] == 0 == r1[key]["embed_cached"]
    strip = lambda s: s.replace(str(out1), "X").replace(str(out2), "X")  # noqa: E731
    assert strip(one) == strip(two)


def test_two_processes_embed_each_video_once_and_print_the_same_table(toy, tmp_path):
    one = run(toy, tmp_path / "one", tmp_path / "c1", "--methods", "frozen")
    two = run(toy, tmp_path / "two", tmp_path / "c2", "--methods", "frozen", nproc=2)
    compare(one, two, tmp_path / "one", tmp_path / "two")
    # rank 0 wrote the one cache file, whole
    from fewshot.embed import read_cache

    rec = next(iter(records(tmp_path / "two").values()))
    rows, problem = read_cache(Path(rec["feature_cache"]))
    assert problem is None and len(rows) == rec["embedded"]


@pytest.mark.xfail(strict=False, reason="needs the one trainer to shard the 1-process data order over ranks "
                                        "(data_order='generator' under DDP; requested from zeroi2v.trainer's owner)")
def test_two_processes_adapt_to_the_same_merged_model(toy, tmp_path):
    from safetensors.torch import load_file

    one = run(toy, tmp_path / "one", tmp_path / "c1", "--methods", "zeroi2v", "--epochs", "2")
    two = run(toy, tmp_path / "two", tmp_path / "c2", "--methods", "zeroi2v", "--epochs", "2", nproc=2)
    a = load_file(tmp_path / "one" / "zeroi2v" / "merged.safetensors")
    b = load_file(tmp_path / "two" / "zeroi2v" / "merged.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    compare(one, two, tmp_path / "one", tmp_path / "two")
