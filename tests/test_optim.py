"""zeroi2v.training.optim: parameter groups (decay rules, backbone lr multiplier) and the warm-up + cosine schedule."""
import math

import pytest
import torch

from tests.tiny import tiny_model
from zeroi2v.training.optim import build_optimizer, param_groups, warmup_cosine


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
    opt = build_optimizer(m, lr=1e-3, backbone_lr_mult=0.1)
    assert sorted({g["lr"] for g in opt.param_groups}) == pytest.approx([1e-4, 1e-3])


def lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


def test_warmup_from_a_start_factor_then_per_epoch_cosine():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    # 4 steps per epoch, warm-up 2 epochs (8 steps) from 0.1x, 6 epochs in all
    got = lrs(warmup_cosine(opt, warmup_steps=8, total_steps=24, warmup_start=0.1, steps_per_epoch=4), 24)
    assert got[0] == pytest.approx(0.1) and got[4] == pytest.approx(0.1 + 0.9 * 4 / 8)
    assert got[8:12] == pytest.approx([1.0] * 4)  # epoch 3: the cosine's first value
    assert got[12:16] == pytest.approx([0.5 * (1 + math.cos(math.pi * 1 / 4))] * 4)  # constant within an epoch
    per_step = lrs(warmup_cosine(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), warmup_steps=8,
                                 total_steps=24), 24)
    assert per_step[0] == pytest.approx(1 / 8) and per_step[13] != per_step[14]
