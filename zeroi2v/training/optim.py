"""Optimiser and lr schedule, built from `zeroi2v.settings.training.TrainSettings` alone.

AdamW with parameter groups: decay on weights; no decay on norms and embeddings (and, unless
`bias_decay`, on biases and other 1-d parameters); `backbone_lr_mult` scales the lr of every
trainable parameter but the classifier head.

Two schedules (`TrainSettings.schedule`):
- "cosine" (this suite's, the toy demo's): linear warm-up over round(warmup_epochs x steps per
  epoch) optimizer steps (from (step+1)/warmup, or from `warmup_start`), then cosine per optimizer
  step down to `min_lr_ratio`.
- "cosine_epoch" (the original configs'): mmengine's chain of LinearLR(start_factor, by_epoch,
  begin=0, end=warmup_epochs, convert_to_iter_based=True) and CosineAnnealingLR(T_max=epochs,
  eta_min, by_epoch, begin=0, end=epochs) -- MCG-NJU/ZeroI2V
  configs/recognition/vit_zero_clip/CLIP-B_k400_8x16x1.py, `param_scheduler` (the same in every
  original config). Both start at epoch 0 and multiply: at iteration i of epoch e,
  lr = base x L(i) x C(e), L(i) = s + (1 - s) min(i, W) / W with W = int(warmup_epochs x
  iterations per epoch) - 1 (mmengine converts `end` to iterations with int() and LinearLR runs
  over end - begin - 1 steps), C(e) = eta + (1 - eta)(1 + cos(pi e / epochs)) / 2. One of our
  optimizer steps is `iters_per_step` of the original's iterations (its accumulative_counts); the
  optimizer steps at the group's last iteration, so step j uses i = (j + 1) iters_per_step - 1.
  Checked against mmengine's own schedulers in tests/test_optim.py.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from zeroi2v.settings.training import TrainSettings


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


def build_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW over `param_groups` with the settings' lr, betas, decay rule and backbone multiplier."""
    s = settings
    return torch.optim.AdamW(param_groups(model, s.weight_decay, bias_decay=s.bias_decay,
                                          backbone_lr_mult=s.backbone_lr_mult, lr=s.lr), lr=s.lr, betas=s.betas)


def lr_factor(settings: TrainSettings, *, steps_per_epoch: int):
    """step (0-based optimizer step) -> lr / base lr, the closed form of the settings' schedule."""
    s, spe = settings, steps_per_epoch
    total = spe * s.epochs
    if s.schedule == "cosine_epoch":
        a = s.iters_per_step
        w = int(s.warmup_epochs * spe * a) - 1  # LinearLR's iterations (mmengine: int(end x epoch length) - 1)

        def factor(step: int) -> float:
            i = (step + 1) * a - 1  # the original's iteration of this optimizer step
            warm = 1.0 if w < 1 else s.warmup_start + (1 - s.warmup_start) * min(i, w) / w
            e = min(step // spe, s.epochs)
            cos = s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * e / s.epochs))
            return warm * cos

        return factor
    warmup = round(s.warmup_epochs * spe)

    def factor(step: int) -> float:
        if step < warmup:
            if s.warmup_start > 0:
                return s.warmup_start + (1 - s.warmup_start) * step / warmup
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def schedule(optimizer: torch.optim.Optimizer, settings: TrainSettings, *,
             steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The settings' schedule on `optimizer`, stepped once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(settings, steps_per_epoch=steps_per_epoch))


def lr_trace(recipe, *, epochs: int | None = None, steps_per_epoch: int, settings: TrainSettings | None = None
             ) -> list[float]:
    """The head's lr at every optimizer step of a run (epochs x steps_per_epoch values), exactly as the
    trainer applies it: `recipe.train_settings(epochs=...)` (or `settings`) through the same LambdaLR."""
    s = settings if settings is not None else recipe.train_settings(epochs=epochs)
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=s.lr)
    sched = schedule(opt, s, steps_per_epoch=steps_per_epoch)
    out = []
    for _ in range(s.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
