"""Model timing on one input: the plain image ViT, ZeroI2V merged and unmerged, and every other method of
`zeroi2v.methods` as it runs at inference (a row named after the method).

Weights are random (timing does not depend on them; nothing is downloaded). See `zeroi2v.bench.cli`
for what is measured and how (FLOPs through `zeroi2v.methods.cost.count_flops`, interleaved latency,
peak memory of one forward).
"""
from __future__ import annotations

import copy
import statistics
import sys
import time

import torch
from torch import nn

from zeroi2v.methods import all_methods, get_method
from zeroi2v.methods.cost import ImagePerFrame, count_flops, trained_params
from zeroi2v.utils.errors import UserError

from zeroi2v.bench.config import BenchConfig
from zeroi2v.bench.machine import log


# ----------------------------------------------------------------------------------------------- models
PerFrame = ImagePerFrame  # the plain image model on a video (zeroi2v.methods.cost)
TRAINED_NAMES = ("adapter", "temporal_embedding")  # what starts at zero in a fresh model: made non-zero


@torch.no_grad()
def randomize(model: nn.Module, *, names: tuple[str, ...], std: float, seed: int) -> nn.Module:
    """Random non-zero values for parameters whose name contains one of `names` (fresh adapters are identities)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if any(n in name for n in names):
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def build_models(cfg: BenchConfig) -> tuple[dict[str, nn.Module], dict[str, int], dict[str, str | None]]:
    """The models by row name, each one's trained-parameter count and its method (None: plain)."""
    import timm

    from zeroi2v.model.merge import merge_adapters

    torch.manual_seed(cfg.seed)
    try:
        vit = timm.create_model(cfg.backbone, pretrained=False, num_classes=0, **(cfg.timm_kwargs or {}))
    except (RuntimeError, TypeError) as e:
        raise UserError(f"cannot build timm model {cfg.backbone!r} with {cfg.timm_kwargs}: {e}; "
                        f"pass a timm ViT name (e.g. vit_base_patch16_clip_224) and valid --timm-kwargs")
    plain = PerFrame(vit)
    unmerged = get_method("zeroi2v").build(cfg.backbone, num_frames=cfg.frames, **(cfg.timm_kwargs or {}))
    # same image weights as plain; the adapters and temporal embedding random and non-zero
    missing, unexpected = unmerged.backbone.load_state_dict(vit.state_dict(), strict=False)
    assert not unexpected and all(".adapter_" in k for k in missing), (missing, unexpected)
    randomize(unmerged, names=TRAINED_NAMES, std=cfg.adapter_std, seed=cfg.seed + 1)
    models = dict(plain=plain, merged=merge_adapters(copy.deepcopy(unmerged)), unmerged=unmerged)
    trained = dict(plain=0, merged=trained_params(unmerged), unmerged=trained_params(unmerged))
    method = dict(plain=None, merged="zeroi2v", unmerged="zeroi2v")
    for i, m in enumerate(x for x in all_methods() if x.name != "zeroi2v"):  # each as it runs at inference
        torch.manual_seed(cfg.seed + 2 + i)
        built = m.build(cfg.backbone, num_frames=cfg.frames, **(cfg.timm_kwargs or {}))
        randomize(built, names=TRAINED_NAMES, std=cfg.adapter_std, seed=cfg.seed + 2 + i)
        trained[m.name], method[m.name] = trained_params(built), m.name
        models[m.name] = m.inference_model(built)[0]
    device = torch.device(cfg.device)
    return {k: m.eval().requires_grad_(False).to(device) for k, m in models.items()}, trained, method


# ----------------------------------------------------------------------------------------------- measures
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(model: nn.Module, x: torch.Tensor) -> float | None:
    """Peak bytes allocated during one forward above those allocated before it (MiB); see module doc."""
    device = x.device
    if device.type == "cuda":
        _sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            model(x)
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    try:
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            with torch.inference_mode():
                model(x)
        events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                  if e.name() == "[memory]" and e.device_type() == DeviceType.CPU]
    except Exception as e:  # profiler internals differ between torch versions: report no number, not a wrong one
        log(f"peak memory: CPU profiler unavailable ({e}); reporting null")
        return None
    current = peak = 0
    for _, nbytes in sorted(events):
        current += nbytes
        peak = max(peak, current)
    return peak / 2**20


def time_interleaved(models: dict[str, nn.Module], x: torch.Tensor, *, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per forward of each model: warm-up passes, then rounds A B C D A B C D ..."""
    from tqdm import tqdm

    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in tqdm(range(warmup), desc="warm-up", unit="round", file=sys.stderr, disable=warmup == 0):
            for m in models.values():
                m(x)
        _sync(x.device)
        for _ in tqdm(range(repeats), desc="timing", unit="round", file=sys.stderr):
            for name, m in models.items():
                _sync(x.device)
                t0 = time.perf_counter()
                m(x)
                _sync(x.device)
                times[name].append(time.perf_counter() - t0)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def bench_models(cfg: BenchConfig) -> tuple[list[dict], dict, dict]:
    """Per-model rows, checks (merge exactness, parameter identity), and the backbone's timm data config."""
    from zeroi2v.model.merge import check_merge
    from zeroi2v.model.video import count_params

    device = torch.device(cfg.device)
    log(f"building models: {cfg.backbone} {cfg.timm_kwargs or ''} x {cfg.frames} frames, random weights, {device}")
    models, trained, method = build_models(cfg)
    H, W = models["merged"].backbone.patch_embed.img_size
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.batch_size, 3, cfg.frames, H, W, generator=g).to(device)  # (B, C, T, H, W)
    view = x[:1]  # one view: one clip of T frames

    diff = check_merge(models["unmerged"], models["merged"], x)
    params = {k: count_params(m)["total"] for k, m in models.items()}
    td = cfg.frames * models["merged"].embed_dim
    checks = dict(merge_max_abs=diff["max_abs"], merge_max_rel=diff["max_rel"], temporal_embedding_params=td,
                  merged_params_equal_plain_plus_TD=params["merged"] == params["plain"] + td)

    log("counting FLOPs (one view)")
    flops = {k: count_flops(m, view) for k, m in models.items()}
    mem = {k: (peak_memory_mb(m, x) if cfg.memory else None) for k, m in models.items()}
    log(f"timing: {cfg.warmup} warm-up + {cfg.repeats} interleaved rounds of {len(models)} models, batch {cfg.batch_size}")
    times = time_interleaved(models, x, repeats=cfg.repeats, warmup=cfg.warmup)

    plain_q = quartiles(times["plain"])
    rows = []
    for name, m in models.items():
        q1, med, q3 = quartiles(times[name])
        paired = statistics.median(t / p for t, p in zip(times[name], times["plain"]))
        rows.append(dict(
            name=name, method=method[name], params=params[name], new_params=params[name] - params["plain"],
            trainable_params=trained[name],
            flops=flops[name], gflops=flops[name] / 1e9, gmacs=flops[name] / 2e9,
            latency_ms_median=med * 1e3, latency_ms_iqr=(q3 - q1) * 1e3, latency_ms_q1=q1 * 1e3, latency_ms_q3=q3 * 1e3,
            latency_ms_all=[t * 1e3 for t in times[name]],
            throughput=cfg.batch_size / med, peak_mem_mb=mem[name],
            weights_mb=sum(p.numel() * p.element_size() for p in m.parameters()) / 2**20,
            latency_ratio=med / plain_q[1], latency_ratio_paired=paired,
            flops_ratio=flops[name] / flops["plain"],
        ))
    return rows, checks, clip_config(models["merged"], H)


def clip_config(model: nn.Module, size: int) -> dict:
    """The (mean, std, size) a clip for this ZeroI2V model is normalised and cropped with: the backbone's
    pretrained statistics (`zeroi2v.model.video.data_config`) at the model's own input size."""
    from zeroi2v.model.video import data_config

    dc = data_config(model)
    return dict(mean=dc["mean"], std=dc["std"], size=int(size))


def time_merged(cfg: BenchConfig) -> tuple[dict, dict]:
    """Only the merged ZeroI2V model (the deployed one): clips/s over `repeats` forwards, and its data config.

    Used by `--data` (data sections only) to turn loader clips/s into worker processes per accelerator.
    """
    from zeroi2v.model.merge import merge_adapters

    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    log(f"timing the merged model alone: {cfg.backbone} {cfg.timm_kwargs or ''} x {cfg.frames} frames, {device}")
    model = get_method("zeroi2v").build(cfg.backbone, num_frames=cfg.frames, **(cfg.timm_kwargs or {}))
    randomize(model, names=TRAINED_NAMES, std=cfg.adapter_std, seed=cfg.seed + 1)
    model = merge_adapters(model).eval().requires_grad_(False).to(device)
    H, W = model.backbone.patch_embed.img_size
    x = torch.randn(cfg.batch_size, 3, cfg.frames, H, W, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    times = time_interleaved(dict(merged=model), x, repeats=cfg.repeats, warmup=cfg.warmup)["merged"]
    med = statistics.median(times)
    return dict(name="merged", latency_ms_median=med * 1e3, throughput=cfg.batch_size / med), clip_config(model, H)
