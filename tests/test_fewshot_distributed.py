"""`torchrun --nproc_per_node 2 -m fewshot.run` (gloo, CPU) gives what one process gives."""
import json
import os
import shutil
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
    args = ["--dataset", "toy", "--data-root", str(toy), "--timm-kwargs", TINY_VIT, "--frames", "4", "--ways", "3", "--shots", "1,2",
            "--episodes", "40", "--batch-size", "4", "--out", str(out), "--cache-dir", str(cache), *extra]
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
              if nproc > 1 else [sys.executable])
    p = subprocess.run([*launch, "-m", "fewshot.run", *args], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def records(out):
    recs = [json.loads(p.read_text()) for p in sorted((Path(out) / "records").glob("*.json"))]
    return {(r["method"], r["shots"], r["protocol"]): r for r in recs}


@pytest.fixture(scope="module")
def runs(toy, tmp_path_factory):
    """The same command in one process and under torchrun with two (own cache dirs; the image
    pre-training of the toy ViT is shared, so nothing else is cached for the second run)."""
    base = tmp_path_factory.mktemp("runs")
    extra = ("--methods", "frozen,zeroi2v", "--epochs", "2")
    one = run(toy, base / "one", base / "c1", *extra)
    shutil.copytree(base / "c1" / "pretrained", base / "c2" / "pretrained")
    two = run(toy, base / "two", base / "c2", *extra, nproc=2)
    return base, one, two


def compare(base, one, two, method):
    out1, out2 = base / "one", base / "two"
    r1 = {k: v for k, v in records(out1).items() if k[0] == method}
    r2 = {k: v for k, v in records(out2).items() if k[0] == method}
    assert set(r1) == set(r2) and r1
    for key, a in r1.items():
        b = r2[key]
        assert b["world_size"] == 2 and a["world_size"] == 1
        assert a["episode_set_hash"] == b["episode_set_hash"]
        assert np.array_equal(np.load(out1 / a["episode_accuracies"]), np.load(out2 / b["episode_accuracies"])), key
        assert a["accuracy"] == b["accuracy"]
        # each test video embedded exactly once across the two ranks, counted in the records
        assert b["embedded"] == a["embedded"] == 18 and b["embed_cached"] == 0 == a["embed_cached"]


def rows(table, method_label):
    return [line.replace("**", "") for line in table.splitlines() if line.startswith(f"| {method_label} |")]


def test_two_processes_embed_each_video_once_and_give_the_same_results(runs):
    from fewshot.embed import read_cache

    base, one, two = runs
    compare(base, one, two, "frozen")
    assert rows(one, "Frozen image model") == rows(two, "Frozen image model") != []
    rec = next(r for k, r in records(base / "two").items() if k[0] == "frozen")
    cached, problem = read_cache(Path(rec["feature_cache"]))  # rank 0 wrote the one cache file, whole
    assert problem is None and len(cached) == rec["embedded"]


def test_two_processes_adapt_to_the_same_merged_model(runs):
    from safetensors.torch import load_file

    base, one, two = runs
    a = load_file(base / "one" / "zeroi2v" / "merged.safetensors")
    b = load_file(base / "two" / "zeroi2v" / "merged.safetensors")
    assert a.keys() == b.keys()
    # the 2 ranks' half-batch gradients, averaged by DDP, are the 1-process mean over the same global
    # batch: equal to float rounding (here 1.5e-8). AdamW's first steps divide a gradient by
    # (|g| + 1e-8), so a trainable whose gradient is rounding-sized could move further; not here.
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    compare(base, one, two, "zeroi2v")
    assert one.replace(str(base / "one"), "X") == two.replace(str(base / "two"), "X")
