"""Optimiser and schedule: AdamW with parameter groups, linear warm-up then cosine decay.

Defaults are this suite's historical recipe (no decay on norms, biases, embeddings; warm-up from 0).
The original ZeroI2V configs (zeroi2v.settings.recipes) decay biases too (`bias_decay=True`), start the
warm-up at 0.1x (`warmup_start=0.1`, mmengine LinearLR) and give ViT-L's backbone 0.1x the lr
(`backbone_lr_mult=0.1`: every trainable parameter but the classifier head).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, *, bias_decay: bool = False,
                 backbone_lr_mult: float = 1.0, lr: float | None = None) -> list[dict]:
    """Trainable parameters in up to four groups: (decay | no decay) x (head | backbone at lr x mult)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if bias_decay:
            skip = "embedding" in name or "norm" in name or (p.ndim <= 1 and not name.endswith("bias"))
        else:
            skip = p.ndim <= 1 or "embedding" in name or "norm" in name or name.endswith("bias")
        scaled = backbone_lr_mult != 1.0 and not name.startswith(("head.", "module.head."))
        groups.setdefault((skip, scaled), []).append(p)
    out = []
    for (skip, scaled) in ((False, False), (True, False), (False, True), (True, True)):
        if (skip, scaled) not in groups and scaled:
            continue
        g = dict(params=groups.get((skip, scaled), []), weight_decay=0.0 if skip else weight_decay)
        if scaled and lr is not None:
            g["lr"] = lr * backbone_lr_mult
        out.append(g)
    return out


def build_optimizer(model: nn.Module, *, lr: float = 3e-4, weight_decay: float = 0.05, bias_decay: bool = False,
                    backbone_lr_mult: float = 1.0, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, weight_decay, bias_decay=bias_decay,
                                          backbone_lr_mult=backbone_lr_mult, lr=lr), lr=lr, betas=betas)


def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                  min_ratio: float = 0.0, warmup_start: float = 0.0,
                  steps_per_epoch: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """lr factor: linear warm-up over warmup_steps (from (step+1)/warmup_steps, or from `warmup_start`
    when > 0, as mmengine's LinearLR), then cosine down to min_ratio at total_steps -- per optimizer
    step, or, with `steps_per_epoch`, per epoch (mmengine's epoch-based CosineAnnealingLR after an
    iteration-based warm-up: constant within an epoch, starting at the first whole epoch after it)."""
    if steps_per_epoch:
        warmup_epochs = warmup_steps / steps_per_epoch
        epochs = total_steps / steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup_steps:
            if warmup_start > 0:
                return warmup_start + (1 - warmup_start) * step / warmup_steps
            return (step + 1) / warmup_steps
        if steps_per_epoch:
            progress = min(1.0, max(0.0, step // steps_per_epoch - warmup_epochs) / max(1e-9, epochs - warmup_epochs))
        else:
            progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
