"""fewshot.adapt through the one trainer: metrics per epoch, the resume key covers the model's identity
(a changed STDHA, frames or pretrained weights is one line, not silently reused adapters), and
--on-error skip reaches the adaptation datasets."""
import dataclasses
import shutil

import pytest
import torch

import zeroi2v
from episodes.episode_set import sample_episode_set
from fewshot.adapt import AdaptConfig, adapt
from fewshot.embed import ViewConfig
from fewshot.splitdata import load_fewshot_data
from zeroi2v.data import ToyConfig, make_toy
from zeroi2v.settings.training import TrainSettings
from zeroi2v.utils.errors import UserError

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4)
VIEW = ViewConfig(num_frames=4, size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
CFG = AdaptConfig(train=TrainSettings(epochs=1, batch_size=3, lr=1e-3, keep="last", data_order="generator"),
                  val_episodes=5, ways=3, shots=1, flip=False)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "data"
    make_toy(root, ToyConfig(num_classes=9, class_split=(3, 3, 3), videos_per_class=4, test_per_class=1,
                             frames=8, size=32, images_per_class=1))
    return root


def inputs(root, on_error="error"):
    fs = load_fewshot_data("toy", str(root), on_error=on_error)
    lab = lambda split: [dataclasses.replace(fs.items[e.video_id], label=e.label) for e in fs.splits[split]]
    val_eps = sample_episode_set(fs.splits["val"], 3, 1, 1, 5, 1, source="toy val")
    return dict(train_items=lab("train"), val_items=lab("val"), val_episodes=val_eps, view=VIEW)


def model(stdha="default", seed=0):
    torch.manual_seed(seed)
    return zeroi2v.create_model("vit_tiny_patch16_224", num_frames=4, num_classes=3, stdha=stdha, **TINY)


def test_metrics_and_resume_key(toy, tmp_path):
    out = tmp_path / "zeroi2v"
    state = adapt(model(), **inputs(toy), cfg=CFG, out_dir=out, identity=dict(pretrained_sha256="a" * 64))
    assert state["epoch"] == 1
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,lr,train_loss") and len(lines) == 2 and "val_3w1s_prototype_acc" in lines[1]
    before = (out / "checkpoint.pt").read_bytes()
    for kwargs, key in ((dict(m=model(stdha="-1:1,1:1,-2:1")), "stdha="),
                        (dict(identity=dict(pretrained_sha256="b" * 64)), "pretrained_sha256="),
                        (dict(m=model(seed=5)), "frozen_fingerprint="),
                        (dict(cfg=dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, lr=2e-3))), "lr=")):
        with pytest.raises(UserError, match=key) as e:
            adapt(kwargs.get("m") or model(), **inputs(toy), cfg=kwargs.get("cfg", CFG), out_dir=out, resume=True,
                  identity=kwargs.get("identity", dict(pretrained_sha256="a" * 64)))
        assert "use a new --out or drop --resume" in str(e.value)
    assert (out / "checkpoint.pt").read_bytes() == before
    # the same model and config resume (nothing left to train: same weights back)
    m = model()
    again = adapt(m, **inputs(toy), cfg=CFG, out_dir=out, resume=True, identity=dict(pretrained_sha256="a" * 64))
    assert again["history"] == state["history"]


def test_on_error_skip_reaches_the_adaptation_datasets(toy, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(toy, root)
    items = inputs(root)
    bad = items["train_items"][0].path
    bad.write_bytes(b"\0" * 100)  # a corrupt base-class video
    with pytest.raises(UserError, match="on-error skip"):
        adapt(model(), **items, cfg=CFG, out_dir=tmp_path / "a")
    state = adapt(model(), **items, cfg=CFG, out_dir=tmp_path / "b", on_error="skip")
    assert state["epoch"] == 1


def test_an_unreadable_val_video_is_skipped_and_its_episodes_dropped(toy, tmp_path, caplog):
    """--on-error skip: the val video gets no features (not the next video's), the val episodes that
    need it are dropped and counted; the val metric is the prototype accuracy on the kept ones."""
    from episodes.protocols import episode_indices, mean_ci95, prototype_from_table, similarity_table
    from fewshot.embed import _features
    from fewshot.evaluate import answerable
    from zeroi2v import data

    root = tmp_path / "data"
    shutil.copytree(toy, root)
    items = inputs(root)
    bad = items["val_items"][0]
    bad.path.write_bytes(b"\0" * 100)
    with pytest.raises(UserError, match="on-error skip"):
        adapt(model(), **items, cfg=CFG, out_dir=tmp_path / "a")
    m = model()
    with caplog.at_level("WARNING", logger="fewshot"):
        state = adapt(m, **items, cfg=CFG, out_dir=tmp_path / "b", on_error="skip")
    kept, dropped = answerable(items["val_episodes"], {it.video_id: 0 for it in items["val_items"][1:]})
    assert 0 < dropped < len(items["val_episodes"])
    assert state["val_skipped"] == dict(videos=1, episodes_dropped=dropped)
    assert f"dropped {dropped} of {len(items['val_episodes'])} val episodes" in caplog.text
    # the oracle: the adapted model's features of the readable val videos, prototype accuracy on `kept`
    good = items["val_items"][1:]
    ds = data.VideoClipDataset(good, num_frames=4, size=32, train=False, mean=VIEW.mean, std=VIEW.std)
    with torch.no_grad():
        feats = _features(m.eval(), torch.stack([ds[i][0] for i in range(len(good))]), device="cpu", dtype=None)
    sup, qry = episode_indices({it.video_id: r for r, it in enumerate(good)}, kept)
    expect = mean_ci95(prototype_from_table(similarity_table(feats), sup, qry))[0]
    assert state["history"][-1]["val_metric"] == pytest.approx(expect, abs=1e-9)


DDP_CFG = dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, batch_size=4))  # a global batch: 2 clips per rank

DDP_SCRIPT = """
import json, sys
import torch
sys.path.insert(0, sys.argv[2])
from test_fewshot_adapt import DDP_CFG, inputs, model
from fewshot.adapt import adapt
from zeroi2v.training import distributed as D

info = D.init_distributed("cpu")
state = adapt(model(), **inputs(sys.argv[1]), cfg=DDP_CFG, out_dir=__import__("pathlib").Path(sys.argv[3]))
with open(f"{sys.argv[3]}.history{info.rank}.json", "w") as f:  # one file per rank (prints interleave)
    json.dump([h["train_loss"] for h in state["history"]], f)
D.cleanup()
"""


def test_adaptation_under_torchrun_is_data_parallel(toy, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "--no-python", sys.executable, "-c", DDP_SCRIPT, str(toy),
                        str(repo / "tests"), str(tmp_path / "out")], env=env, capture_output=True, text=True,
                       timeout=300, cwd=repo)
    assert r.returncode == 0, r.stderr[-3000:]
    h0, h1 = (json.loads((tmp_path / f"out.history{rank}.json").read_text()) for rank in (0, 1))
    assert len(h0) == 1 and h0 == h1  # the loss is all-reduced: the same on both ranks
    ck = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)
    n = len(inputs(toy)["train_items"])  # the 1-process global batches, each split over the 2 ranks
    assert ck["world_size"] == 2 and len(ck["rng"]) == 2 and ck["step"] == n // DDP_CFG.train.batch_size
