"""The one trainer (zeroi2v.training.trainer) and its checkpoint format (zeroi2v.training.checkpoint_state), on a tiny
linear model: exact resume, epoch selection by the hook's metric, weights_only loading, resume keys."""
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from zeroi2v.training import checkpoint_state as cs
from zeroi2v.utils.errors import UserError
from zeroi2v.training.trainer import FitConfig, fit


class Clips(torch.utils.data.Dataset):
    """12 (video (V=1, C=1, T=2, H=2, W=2), label) pairs, 3 classes."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(12, 1, 1, 2, 2, 2, generator=g)
        self.y = torch.arange(12) % 3
        self.epochs = []

    def __len__(self):
        return 12

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.drop = nn.Dropout(0.3)  # consumes the global RNG: resume must restore it
        self.fc = nn.Linear(8, 3)

    def forward(self, x):  # (B, C, T, H, W)
        return self.fc(self.drop(self.frozen(x.flatten(1))))


CFG = FitConfig(epochs=4, batch_size=4, lr=0.05, warmup_epochs=1, progress=False)


def test_rng_state_roundtrips_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    cs.save_state(tmp_path / "s.pt", dict(rng=[cs.rng_state()]))
    expect = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    cs.set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"][0])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expect


def test_resume_is_exact_and_keep_best_keeps_the_best_epoch(tmp_path):
    cfg = FitConfig(**{**CFG.__dict__, "keep": "best"})
    metric = iter([0.5, 0.9, 0.7, 0.8] * 2)
    full = Net()
    s_full = fit(full, Clips(), cfg, out_dir=tmp_path / "a", device="cpu", identity=dict(name="net"),
                 on_epoch_end=lambda e, m: dict(val_metric=next(metric), val_metric_name="m"),
                 log=lambda m: None)

    metric = iter([0.5, 0.9, 0.7, 0.8])
    part, ds = Net(), Clips()
    with pytest.raises(KeyboardInterrupt):
        def stop(e, m):
            if e == 3:
                raise KeyboardInterrupt
            return dict(val_metric=next(metric), val_metric_name="m")
        fit(part, ds, cfg, out_dir=tmp_path / "b", device="cpu", identity=dict(name="net"), on_epoch_end=stop,
            log=lambda m: None)
    again = Net()
    s_part = fit(again, Clips(), cfg, out_dir=tmp_path / "b", device="cpu", identity=dict(name="net"), resume=True,
                 on_epoch_end=lambda e, m: dict(val_metric=next(metric), val_metric_name="m"), log=lambda m: None)
    assert [h["train_loss"] for h in s_full["history"]] == [h["train_loss"] for h in s_part["history"]]
    assert torch.equal(full.fc.weight, again.fc.weight)
    # kept: epoch 2 (metric 0.9), loaded into the model
    assert s_full["best_epoch"] == 2 and s_full["best_metric"] == 0.9
    # the best-so-far epoch (2, before the interruption at 3) survives the resume, and so do its weights
    assert (s_part["best_epoch"], s_part["best_metric"]) == (2, 0.9)
    assert (tmp_path / "b" / "best.pt").read_bytes() == (tmp_path / "a" / "best.pt").read_bytes()
    best = torch.load(tmp_path / "a" / "best.pt", weights_only=True)["model"]
    assert torch.equal(full.fc.weight, best["fc.weight"])
    last = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    assert not torch.equal(last["fc.weight"], best["fc.weight"])
    assert (tmp_path / "a" / "metrics.csv").is_file() is False  # no tracker given: nothing but checkpoints


def test_resume_refuses_another_identity_config_or_frozen_weights(tmp_path):
    fit(Net(), Clips(), CFG, out_dir=tmp_path, device="cpu", identity=dict(frames=4), log=lambda m: None)
    with pytest.raises(UserError, match=r"frames=4, this run has frames=8; use a new --out or drop --resume"):
        fit(Net(), Clips(), CFG, out_dir=tmp_path, device="cpu", identity=dict(frames=8), resume=True)
    with pytest.raises(UserError, match=r"was written with lr=0.05, this run has lr=0.1"):
        fit(Net(), Clips(), FitConfig(**{**CFG.__dict__, "lr": 0.1}), out_dir=tmp_path, device="cpu",
            identity=dict(frames=4), resume=True)
    other = Net()
    with torch.no_grad():
        other.frozen.weight.add_(1.0)
    with pytest.raises(UserError, match="frozen_fingerprint"):
        fit(other, Clips(), CFG, out_dir=tmp_path, device="cpu", identity=dict(frames=4), resume=True)
    # more epochs is allowed (the schedule stretches)
    state = fit(Net(), Clips(), FitConfig(**{**CFG.__dict__, "epochs": 5}), out_dir=tmp_path, device="cpu",
                identity=dict(frames=4), resume=True, log=lambda m: None)
    assert state["epoch"] == 5


def test_crafted_pickle_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": cs.FORMAT, "x": Evil()}, tmp_path / "last.pt")
    with pytest.raises(UserError, match="cannot read training state"):
        cs.load_state(tmp_path / "last.pt")
    assert not marker.exists()
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(UserError, match="cannot read training state"):
        cs.load_state(tmp_path / "empty.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a zeroi2v-train-state/2 checkpoint"):
        cs.load_state(tmp_path / "other.pt")


def test_generator_order_drops_the_last_partial_batch(tmp_path):
    ds = Clips()
    cfg = FitConfig(epochs=2, batch_size=5, lr=0.01, data_order="generator", progress=False)
    state = fit(Net(), ds, cfg, out_dir=tmp_path, device="cpu", identity={}, log=lambda m: None)
    assert state["step"] == 2 * (12 // 5) and ds.epochs == [0, 1]


def test_a_damaged_checkpoint_is_one_line(tmp_path):
    fit(Net(), Clips(), CFG, out_dir=tmp_path, device="cpu", identity={}, log=lambda m: None)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ck["model"]["fc.weight"], ck["format"]
    cs.save_state(tmp_path / "checkpoint.pt", ck)
    with pytest.raises(UserError, match="incomplete or damaged .*fc.weight"):
        fit(Net(), Clips(), CFG, out_dir=tmp_path, device="cpu", identity={}, resume=True)


def test_generator_order_is_the_shuffling_loaders_and_shards_its_global_batches():
    """One process: the order of DataLoader(shuffle=True, drop_last=True, generator=seed*1000+epoch)
    iterated a second time (as the tqdm.auto progress bar did: the former few-shot order); two
    ranks: the two halves of each of those global batches."""
    from torch.utils.data import DataLoader

    from zeroi2v.training.trainer import generator_batches

    for n, b, seed, epoch in [(12, 4, 0, 0), (30, 6, 3, 1), (101, 8, 1, 7)]:
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        loader = DataLoader(list(range(n)), batch_size=b, shuffle=True, drop_last=True, generator=g)
        iter(loader)  # tqdm.auto's constructor: one base-seed draw
        old = [x.tolist() for x in loader]
        assert generator_batches(n, b, seed=seed, epoch=epoch) == old
        halves = [generator_batches(n, b, seed=seed, epoch=epoch, rank=r, world_size=2) for r in range(2)]
        assert [h0 + h1 for h0, h1 in zip(*halves)] == old and all(len(x) == b // 2 for x in halves[0])
    with pytest.raises(UserError, match="batch size 5 is not divisible by the 2 processes"):
        generator_batches(12, 5, seed=0, epoch=0, world_size=2)


class NoDropNet(Net):
    def __init__(self):
        super().__init__()
        self.drop = nn.Identity()


GEN = FitConfig(epochs=3, batch_size=4, lr=0.05, warmup_epochs=1, data_order="generator", progress=False)


def _ddp_worker(rank, world, port, out_dir):
    from zeroi2v.training import distributed as D

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    D.init_distributed("cpu")
    try:
        model = NoDropNet()
        state = fit(model, Clips(), GEN, out_dir=out_dir, device="cpu", identity={}, log=lambda m: None)
        torch.save(dict(w=model.fc.weight.detach(), b=model.fc.bias.detach(),
                        loss=[h["train_loss"] for h in state["history"]]), f"{out_dir}/rank{rank}.pt")
    finally:
        D.cleanup()


def test_two_processes_with_the_generator_order_train_the_one_process_model(tmp_path):
    import socket

    import torch.multiprocessing as mp

    one = NoDropNet()
    s1 = fit(one, Clips(), GEN, out_dir=tmp_path / "one", device="cpu", identity={}, log=lambda m: None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "two").mkdir()
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "two")), nprocs=2, join=True)
    for r in range(2):
        two = torch.load(tmp_path / "two" / f"rank{r}.pt", weights_only=True)
        assert (two["w"] - one.fc.weight).abs().max().item() <= 1e-6
        assert (two["b"] - one.fc.bias).abs().max().item() <= 1e-6
        assert two["loss"] == pytest.approx([h["train_loss"] for h in s1["history"]], abs=1e-6)
    assert not torch.equal(one.fc.weight, NoDropNet().fc.weight)  # it trained


@pytest.mark.parametrize("order", ["sampler", "generator"])
def test_persistent_workers_give_the_main_process_batches(tmp_path, order):
    """(epoch, index) keys reach persistent workers: 2 workers give the num_workers=0 batches bit for bit,
    and epoch 1's augmentation differs from epoch 0's."""
    import video_fixtures as V
    from zeroi2v import data
    from zeroi2v.training.trainer import EpochLoader

    items = [data.VideoItem(video_id=f"v{k}", label=k % 2, class_name=str(k % 2),
                            path=V.write_video(tmp_path / f"v{k}.mp4", V.moving_square(frames=8, size=24, seed=k)))
             for k in range(4)]
    ds = data.VideoClipDataset(items, num_frames=2, size=16, train=True, mean=(0.5,) * 3, std=(0.25,) * 3,
                               keep_decoded=True, normalize=False)

    def batches(workers):
        cfg = FitConfig(epochs=2, batch_size=2, lr=0.1, num_workers=workers, data_order=order, progress=False)
        loader = EpochLoader(ds, cfg, torch.device("cpu"))
        assert loader.loader.persistent_workers == (workers > 0)
        return [[(x.clone(), y.clone()) for x, y in loader.for_epoch(e)] for e in range(2)]

    main, workers = batches(0), batches(2)
    for e in range(2):
        assert len(main[e]) == len(workers[e]) == 2
        for (x0, y0), (x1, y1) in zip(main[e], workers[e]):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(main[0], main[1]))
    key = ds[(1, 3)][0]
    ds.set_epoch(1)  # a (epoch, index) key is the index after set_epoch(epoch)
    assert torch.equal(key, ds[3][0]) and not torch.equal(key, ds[(0, 3)][0])


def test_precision_follows_the_mode_on_cuda_and_is_fp32_on_cpu():
    """On CUDA auto and fp16 are float16 (+ GradScaler in the engine, the original's AmpOptimWrapper), bf16 only
    when asked; on CPU float32 whatever the mode. The trainer's state says which ran."""
    from zeroi2v.training.trainer import amp_dtype, precision_name

    assert [amp_dtype(m, "cuda") for m in ("auto", "fp16", "bf16", "none")] == [torch.float16, torch.float16,
                                                                               torch.bfloat16, None]
    assert [amp_dtype(m, "cpu") for m in ("auto", "fp16", "bf16", "none")] == [None] * 4
    assert [precision_name(d) for d in (torch.float16, torch.bfloat16, None)] == ["fp16", "bf16", "fp32"]


def test_learning_check_is_a_binomial_test_against_chance(tmp_path):
    import math

    from zeroi2v.training.learned import binomial_sf, learning_check

    # exact tail against the sum of binomial terms
    n, p = 30, 0.25
    want = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(12, n + 1))
    assert binomial_sf(12, n, p) == pytest.approx(want, rel=1e-12)
    assert learning_check(train_acc=25.0, clips=400, num_classes=4, epoch=3)["warning"].startswith(
        "warning: the kept epoch 3 is not clearly above chance")
    ok = learning_check(train_acc=40.0, clips=400, num_classes=4, epoch=3)
    assert ok["learned"] and ok["warning"] is None and ok["p_value"] < 1e-9
    state = fit(Net(), Clips(), CFG, out_dir=tmp_path / "a", device="cpu", identity={}, log=lambda _: None)
    assert state["precision"] == "fp32" and state["learning"] is None  # no classifier head to count classes of

    class HeadNet(Net):
        def __init__(self):
            super().__init__()
            self.head = self.fc

    lines = []
    state = fit(HeadNet(), Clips(), FitConfig(**{**CFG.__dict__, "lr": 1e-9}), out_dir=tmp_path / "b", device="cpu",
                identity={}, log=lines.append)
    chk = state["learning"]
    assert chk["clips"] == 12 and chk["chance"] == pytest.approx(100 / 3) and chk["epoch"] == 4
    assert not chk["learned"] and chk["warning"] in lines  # lr 1e-9: nothing learned, one line said so


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_auto_runs_fp16_with_loss_scaling(tmp_path):
    """On CUDA the default precision is the originals': float16 autocast with a GradScaler (AmpOptimWrapper)."""
    class HeadNet(Net):
        def __init__(self):
            super().__init__()
            self.head = self.fc

    m = HeadNet().cuda()
    state = fit(m, Clips(), CFG, out_dir=tmp_path, device="cuda", identity={}, log=lambda _: None)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["precision"] == "fp16" and ck["scaler"] is not None and ck["scaler"]["scale"] > 0
