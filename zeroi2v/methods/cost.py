"""What a method costs at inference, measured the same way for every method and program.

    cost = inference_cost(deployed, trained_params=n, num_frames=T, size=S, device="cpu")

- params_total: parameters of the model that runs at inference (merged where the method merges);
- params_trainable: parameters the method trained (given: the trained model's, before merging);
- params_new: parameters added at inference over the image model with the same head
  (`ImagePerFrame`: the timm ViT per frame, mean over time);
- gflops_per_view: torch.utils.flop_counter FLOPs (`count_flops`, the one FLOP count of the suite) of one view (1, 3, T, S, S) / 1e9 (a multiply-add is
  2 FLOPs; the papers' fvcore "GFLOPs" are multiply-adds: half of this);
- flops_ratio and latency_ratio to the image model: FLOPs of one view; latency the median over
  interleaved timed forwards (image, method, image, method, ...) of a batch, after warm-up.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn


class ImagePerFrame(nn.Module):
    """The plain image model on a video: (B, C, T, H, W) -> per-frame features, mean over T, [head]."""

    def __init__(self, vit: nn.Module, head: nn.Module | None = None) -> None:
        super().__init__()
        self.vit = vit  # timm ViT, num_classes=0
        self.head = head if head is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        feats = self.vit(x.transpose(1, 2).reshape(B * T, C, H, W)).view(B, T, -1).mean(1)  # (B, D)
        return self.head(feats)


def image_model(model: nn.Module) -> ImagePerFrame:
    """The timm image model `model` was built from (random weights), with a head of the same size:
    the parameters of timm's image classifier, its head applied once to the mean over frames."""
    import timm

    vit = timm.create_model(model.backbone_name, pretrained=False, num_classes=0, **getattr(model, "timm_kwargs", {}))
    head = getattr(model, "head", None)
    return ImagePerFrame(vit, nn.Linear(head.in_features, head.out_features) if isinstance(head, nn.Linear) else None)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def trained_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _attention_formulas() -> dict:
    """Formulas for attention kernels torch's flop counter does not know: on CPU,
    `scaled_dot_product_attention` runs `_scaled_dot_product_flash_attention_for_cpu`, which torch 2.14's
    registry lacks, so ViT attention (QK^T and AV, ~11.4 GFLOPs of ViT-B/16 8x224) would silently count 0.
    Counted as the registry counts the other SDPA kernels (`sdpa_flop_count`)."""
    from torch.utils.flop_counter import flop_registry, sdpa_flop_count

    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is None or op in flop_registry or op.default in flop_registry:
        return {}
    return {op: lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(q, k, v)}


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass on `x` (eval mode, no grad), counted by torch.utils.flop_counter
    (matmuls, convolutions, attention on every device; a multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_attention_formulas()) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def flops_per_view(model: nn.Module, *, num_frames: int, size: int, device="cpu") -> int:
    return count_flops(model, torch.zeros(1, 3, num_frames, size, size, device=device))


@torch.no_grad()
def latency_ratio(model: nn.Module, image: nn.Module, *, num_frames: int, size: int, device="cpu", batch: int = 1,
                  warmup: int = 2, repeats: int = 5, max_repeats: int = 50, budget_s: float = 2.0) -> float:
    """Median over interleaved rounds of (model seconds / image-model seconds) on one batch: at least
    `repeats` rounds, more (up to `max_repeats`) while the rounds took less than `budget_s` in all."""
    device = torch.device(device)
    x = torch.randn(batch, 3, num_frames, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    modes = model.training, image.training
    model.eval(), image.eval()

    def seconds(m) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        m(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    try:
        for _ in range(warmup):
            seconds(image), seconds(model)
        ratios, t0 = [], time.perf_counter()
        while len(ratios) < repeats or (len(ratios) < max_repeats and time.perf_counter() - t0 < budget_s):
            ti = seconds(image)
            ratios.append(seconds(model) / ti)
    finally:
        model.train(modes[0]), image.train(modes[1])
    return statistics.median(ratios)


def inference_cost(deployed: nn.Module, *, trained_params: int, num_frames: int, size: int, device="cpu",
                   latency: bool = True, batch: int = 1, repeats: int = 5, budget_s: float = 2.0) -> dict:
    """The cost fields of a record (module docstring); latency_ratio None with latency=False."""
    image = image_model(deployed).to(device)
    flops, image_flops = (flops_per_view(m, num_frames=num_frames, size=size, device=device)
                          for m in (deployed, image))
    total = n_params(deployed)
    return dict(params_total=total, params_trainable=int(trained_params), params_new=total - n_params(image),
                gflops_per_view=flops / 1e9, image_gflops_per_view=image_flops / 1e9,
                flops_ratio=flops / image_flops,
                latency_ratio=(latency_ratio(deployed, image, num_frames=num_frames, size=size, device=device,
                                             batch=batch, repeats=repeats, budget_s=budget_s) if latency else None))
