"""zeroi2v.training.optim: parameter groups (decay rules, backbone lr multiplier) and the warm-up + cosine schedule."""
import math

import pytest
import torch

from tests.tiny import tiny_model
import warnings

from zeroi2v.settings.recipes import RECIPES
from zeroi2v.settings.training import TrainSettings
from zeroi2v.training.optim import build_optimizer, lr_trace, param_groups, schedule


def names(model, group):
    ids = {id(p) for p in group["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_default_groups_no_decay_on_biases_norms_embeddings():
    m = tiny_model(num_classes=3)
    decay, no_decay = param_groups(m, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(not n.endswith("bias") and "norm" not in n and "embedding" not in n for n in names(m, decay))
    assert "head.bias" in names(m, no_decay) and "temporal_embedding" in names(m, no_decay)


def test_bias_decay_and_backbone_lr_mult():
    m = tiny_model(num_classes=3)
    groups = param_groups(m, 0.05, bias_decay=True, backbone_lr_mult=0.1, lr=1e-3)
    decayed = set().union(*(names(m, g) for g in groups if g["weight_decay"] > 0))
    assert "head.bias" in decayed and not any("norm" in n or "embedding" in n for n in decayed)
    scaled = set().union(*(names(m, g) for g in groups if g.get("lr") == pytest.approx(1e-4)))
    assert scaled and not any(n.startswith("head.") for n in scaled)
    assert {n for n, p in m.named_parameters() if p.requires_grad} == set().union(*(names(m, g) for g in groups))
    opt = build_optimizer(m, TrainSettings(epochs=1, batch_size=1, lr=1e-3, backbone_lr_mult=0.1))
    assert sorted({g["lr"] for g in opt.param_groups}) == pytest.approx([1e-4, 1e-3])


def lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


def sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def test_per_step_cosine_is_the_suites_schedule_unchanged():
    """The toy demo's schedule: (step+1)/warmup, then cosine per optimizer step (the former warmup_cosine)."""
    s = TrainSettings(epochs=6, batch_size=1, lr=1.0, warmup_epochs=2, schedule="cosine")
    got = lrs(schedule(sgd(), s, steps_per_epoch=4), 24)
    old = [(i + 1) / 8 if i < 8 else 0.5 * (1 + math.cos(math.pi * min(1.0, (i - 8) / 16))) for i in range(24)]
    assert got == old  # bit for bit
    s01 = TrainSettings(epochs=6, batch_size=1, lr=1.0, warmup_epochs=2, warmup_start=0.1)
    assert lrs(schedule(sgd(), s01, steps_per_epoch=4), 5)[4] == pytest.approx(0.1 + 0.9 * 4 / 8)


def closed_form(base, i, *, w, epoch, epochs, start=0.1):
    """The original chain as the brief states it: base x L(i) x C(e)."""
    return base * (start + (1 - start) * min(i, w) / w) * (1 + math.cos(math.pi * epoch / epochs)) / 2


@pytest.mark.parametrize("name", ["clip_b16_k400_8x16x1", "clip_b16_ssv2_u16", "clip_l14_k400_32x4x1"])
@pytest.mark.parametrize("spe", [2, 3, 7, 50])
def test_lr_trace_is_the_originals_closed_form(name, spe):
    r = RECIPES[name]
    s = r.train_settings()
    a = r.accumulation
    w = int(2.5 * spe * a) - 1
    got = lr_trace(r, epochs=r.epochs, steps_per_epoch=spe)
    want = [closed_form(s.lr, (j + 1) * a - 1, w=w, epoch=j // spe, epochs=r.epochs) for j in range(r.epochs * spe)]
    assert len(got) == r.epochs * spe and max(abs(x - y) for x, y in zip(got, want)) < 1e-15 * s.lr * 10
    assert got[0] == pytest.approx(s.lr * (0.1 + 0.9 * (a - 1) / w))  # the cosine is 1 in epoch 0, the warm-up at 0.1
    # the cosine already decays during the warm-up (both from epoch 0): epoch 1 of 40 = C(1) x L
    assert got[spe] == pytest.approx(closed_form(s.lr, (spe + 1) * a - 1, w=w, epoch=1, epochs=r.epochs))


@pytest.mark.parametrize("name", ["clip_b16_k400_8x16x1", "clip_l14_k400_32x4x1", "clip_l14_ssv2_u32"])
@pytest.mark.parametrize("spe,epochs", [(2, 4), (3, 40), (7, 10), (10, 40)])
def test_lr_trace_matches_mmengines_own_schedulers(name, spe, epochs):
    """mmengine's LinearLR (convert_to_iter_based) and CosineAnnealingLR (by_epoch), chained as the
    configs' param_scheduler, stepped as its ParamSchedulerHook does; our optimizer step j is the
    original's iteration (j + 1) x accumulative_counts - 1 (OptimWrapper steps on a group's last)."""
    sched = pytest.importorskip("mmengine.optim.scheduler")
    r = RECIPES[name]
    s = r.train_settings(epochs=epochs)
    a = r.accumulation
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=s.lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mmengine warns that no optimizer.step() ran
        lin = sched.LinearLR.build_iter_from_epoch(opt, start_factor=r.warmup_start, by_epoch=True, begin=0,
                                                   end=s.warmup_epochs, epoch_length=spe * a)
        cos = sched.CosineAnnealingLR(opt, T_max=epochs, eta_min=r.min_lr, by_epoch=True, begin=0, end=epochs)
        ref = []
        for _ in range(epochs):
            for it in range(spe * a):
                if (it + 1) % a == 0:
                    ref.append(opt.param_groups[0]["lr"])
                lin.step()
            cos.step()
    got = lr_trace(r, epochs=epochs, steps_per_epoch=spe)
    assert len(got) == len(ref) and max(abs(x - y) for x, y in zip(got, ref)) <= 1e-15


def test_the_trainer_applies_lr_trace(tmp_path):
    """lr_trace is the head's lr at every optimizer step of the one trainer (the optimizer's own record)."""
    import dataclasses

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from zeroi2v.training.trainer import fit

    r = dataclasses.replace(RECIPES["clip_l14_k400_32x4x1"], epochs=4)
    s = dataclasses.replace(r.train_settings(epochs=4), progress=False, keep="last")  # 2 clips x 16 accum

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            return torch.zeros(1, 3, 4, 32, 32), i % 3

    seen = []
    handle = register_optimizer_step_pre_hook(lambda opt, *_: seen.append(opt.param_groups[0]["lr"]))
    try:
        fit(tiny_model(num_classes=3), Clips(), s, out_dir=tmp_path, device="cpu", identity={}, log=lambda _: None)
    finally:
        handle.remove()
    assert s.accum == 16 and s.iters_per_step == 2
    assert seen == lr_trace(r, epochs=4, steps_per_epoch=2)  # 2 steps of 16 x 2 clips per epoch
