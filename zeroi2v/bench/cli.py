"""Efficiency benchmark: ZeroI2V costs exactly what the image model costs -- measured.

    python -m zeroi2v.bench [--backbone vit_base_patch16_clip_224] [--frames 8] [--batch 1]
                            [--device cpu|cuda] [--repeats N] [--out F.json] [--no-episodes] [--no-data]

Four models see the same input (B, 3, T, H, W), in one process, under `torch.inference_mode`:

- plain: the timm image ViT applied per frame, CLS features averaged over T;
- merged: ZeroI2V (STDHA + temporal embedding) after `merge_adapters`, adapters random non-zero;
- unmerged: the same model before merging (linear adapters still separate modules);
- aim: an AIM-style peer (`zeroi2v.aim`): GELU bottleneck adapters + a temporal attention that
  reuses each block's frozen attention weights -- adapters that cannot be merged.

Weights are random (timing does not depend on them; nothing is downloaded). Per model: parameters,
new parameters (vs plain), FLOPs per view (one clip of T frames, `torch.utils.flop_counter`: 2 per
multiply-add, matmuls/convolutions/attention only), latency (median and interquartile range of
`--repeats` timed passes, interleaved plain, merged, unmerged, aim, plain, ... after warm-up
passes), throughput (batch / median latency, videos/s), peak memory of one forward (bytes
allocated during the forward above what was allocated before it: weights excluded; on CUDA
`torch.cuda.max_memory_allocated`, on CPU the running sum of the PyTorch CPU allocator's
allocations and frees recorded by `torch.profiler(profile_memory=True)`, so allocations outside
PyTorch's allocator, e.g. oneDNN scratch space, are not seen), and ratios against plain.

Also: episode evaluation time (10 000 five-way five-shot episodes from a synthetic feature cache,
prototype and fine-tune protocols of `episodes.protocols`) and data-loader throughput (decoded
clips/s of `zeroi2v.data.VideoClipDataset` on the toy videos with 0, 1 and 2 workers).

Writes JSON (schema "zeroi2v-bench/1", docs/CONTRACTS.md) with `--out`, and a Markdown table to stdout.
"""
from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the CPU memory profiler's GPU probe is noise on a CPU machine
import torch  # noqa: E402
from torch import nn  # noqa: E402

from zeroi2v.errors import ArgumentParser, UserError, cli

SCHEMA = "zeroi2v-bench/1"
MODELS = ("plain", "merged", "unmerged", "aim")
# ZeroI2V paper (Li et al. 2023), ViT-B/16, 8 frames x 3 views: 422 "GFLOPs" (fvcore: multiply-adds).
PAPER_GFLOPS_3VIEWS = 422.0
PAPER_VIEWS = 3
AIM_PAPER_FLOPS_OVERHEAD = 0.44  # AIM ViT-B/16 8 frames: 202 vs 140 GFLOPs per view (AIM paper)
EPISODE_TARGETS_S = dict(prototype=1.0, finetune=30.0)  # seconds per 10 000 episodes (2 CPU cores)


@dataclass(frozen=True)
class BenchConfig:
    backbone: str = "vit_base_patch16_clip_224"
    frames: int = 8
    batch: int = 1
    device: str = "cpu"
    repeats: int = 10
    warmup: int = 1
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    seed: int = 0
    timm_kwargs: dict = field(default_factory=dict)  # e.g. {"img_size": 32, "patch_size": 8} for a tiny model
    adapter_std: float = 0.02  # std of the random (non-zero) adapter weights
    memory: bool = True
    # episode evaluation
    episodes: bool = True
    episode_count: int = 10_000
    ways: int = 5
    shots: int = 5
    queries: int = 1
    feature_dim: int = 768
    episode_classes: int = 24
    videos_per_class: int = 40
    class_separation: float = 0.2  # features = separation * class centre + N(0, I): accuracy well above chance
    finetune_steps: int | None = None  # None: the protocol's default
    episode_repeats: int = 3  # timed runs of the prototype protocol (median reported); fine-tune runs once
    # data loading
    data: bool = True
    data_clips: int = 48
    data_workers: tuple[int, ...] = (0, 1, 2)
    data_size: int | None = None  # None: the backbone's input size
    data_root: str | None = None  # toy dataset root; None: zeroi2v.data.ensure_toy's default
    out: str | None = None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- machine
def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import timm

    info = dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                timm=timm.__version__, python=platform.python_version(), platform=platform.platform(),
                gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    try:
        info["cores_available"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def machine_string(info: dict) -> str:
    s = f"{info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads)"
    if info.get("gpu"):
        s = f"{info['gpu']}; {s}"
    return f"{s}, torch {info['torch']}, timm {info['timm']}, {info['platform']}"


# ----------------------------------------------------------------------------------------------- models
class PerFrame(nn.Module):
    """The plain image model on a video: (B, C, T, H, W) -> per-frame features, mean over T, (B, D)."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        return self.vit(x.transpose(1, 2).reshape(B * T, C, H, W)).view(B, T, -1).mean(1)  # (B, D)


@torch.no_grad()
def randomize(model: nn.Module, *, names: tuple[str, ...], std: float, seed: int) -> nn.Module:
    """Random non-zero values for parameters whose name contains one of `names` (fresh adapters are identities)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if any(n in name for n in names):
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def build_models(cfg: BenchConfig) -> dict[str, nn.Module]:
    import timm

    from zeroi2v.aim import create_aim_model
    from zeroi2v.merge import merge_adapters
    from zeroi2v.model import create_model

    torch.manual_seed(cfg.seed)
    try:
        vit = timm.create_model(cfg.backbone, pretrained=False, num_classes=0, **cfg.timm_kwargs)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"cannot build timm model {cfg.backbone!r} with {cfg.timm_kwargs}: {e}; "
                        f"pass a timm ViT name (e.g. vit_base_patch16_clip_224) and valid --timm-kwargs")
    plain = PerFrame(vit)
    unmerged = create_model(cfg.backbone, num_frames=cfg.frames, **cfg.timm_kwargs)
    # same image weights as plain; the adapters and temporal embedding random and non-zero
    missing, unexpected = unmerged.backbone.load_state_dict(vit.state_dict(), strict=False)
    assert not unexpected and all(".adapter_" in k for k in missing), (missing, unexpected)
    randomize(unmerged, names=(".adapter_", "temporal_embedding"), std=cfg.adapter_std, seed=cfg.seed + 1)
    merged = merge_adapters(copy.deepcopy(unmerged))
    aim = create_aim_model(cfg.backbone, num_frames=cfg.frames, **cfg.timm_kwargs)
    randomize(aim, names=("_adapter.", "temporal_embedding"), std=cfg.adapter_std, seed=cfg.seed + 2)
    models = dict(plain=plain, merged=merged, unmerged=unmerged, aim=aim)
    device = torch.device(cfg.device)
    return {k: m.eval().requires_grad_(False).to(device) for k, m in models.items()}


# ----------------------------------------------------------------------------------------------- measures
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x)
    return int(fc.get_total_flops())


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
    import timm

    from zeroi2v.merge import check_merge
    from zeroi2v.model import count_params

    device = torch.device(cfg.device)
    log(f"building models: {cfg.backbone} {cfg.timm_kwargs or ''} x {cfg.frames} frames, random weights, {device}")
    models = build_models(cfg)
    H, W = models["merged"].backbone.patch_embed.img_size
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.batch, 3, cfg.frames, H, W, generator=g).to(device)  # (B, C, T, H, W)
    view = x[:1]  # one view: one clip of T frames

    diff = check_merge(models["unmerged"], models["merged"], x)
    params = {k: count_params(m)["total"] for k, m in models.items()}
    td = cfg.frames * models["merged"].embed_dim
    checks = dict(merge_max_abs=diff["max_abs"], merge_max_rel=diff["max_rel"], temporal_embedding_params=td,
                  merged_params_equal_plain_plus_TD=params["merged"] == params["plain"] + td)

    log("counting FLOPs (one view)")
    flops = {k: count_flops(m, view) for k, m in models.items()}
    mem = {k: (peak_memory_mb(m, x) if cfg.memory else None) for k, m in models.items()}
    log(f"timing: {cfg.warmup} warm-up + {cfg.repeats} interleaved rounds of {len(models)} models, batch {cfg.batch}")
    times = time_interleaved(models, x, repeats=cfg.repeats, warmup=cfg.warmup)

    plain_q = quartiles(times["plain"])
    rows = []
    for name, m in models.items():
        q1, med, q3 = quartiles(times[name])
        paired = statistics.median(t / p for t, p in zip(times[name], times["plain"]))
        rows.append(dict(
            name=name, params=params[name], new_params=params[name] - params["plain"],
            trainable_params=count_params(m)["trainable"] if name != "plain" else 0,
            flops=flops[name], gflops=flops[name] / 1e9, gmacs=flops[name] / 2e9,
            latency_ms_median=med * 1e3, latency_ms_iqr=(q3 - q1) * 1e3, latency_ms_q1=q1 * 1e3, latency_ms_q3=q3 * 1e3,
            latency_ms_all=[t * 1e3 for t in times[name]],
            throughput=cfg.batch / med, peak_mem_mb=mem[name],
            weights_mb=sum(p.numel() * p.element_size() for p in m.parameters()) / 2**20,
            latency_ratio=med / plain_q[1], latency_ratio_paired=paired,
            flops_ratio=flops[name] / flops["plain"],
        ))
    dc = timm.data.resolve_data_config({}, model=models["plain"].vit)
    return rows, checks, dict(mean=tuple(dc["mean"]), std=tuple(dc["std"]), size=int(H))  # the model's own size


# ----------------------------------------------------------------------------------------------- episodes
def bench_episodes(cfg: BenchConfig) -> dict:
    """Seconds to evaluate `episode_count` episodes from a cached feature table, per protocol."""
    from episodes.episode_set import sample_episode_set
    from episodes.splits import SplitEntry
    from episodes import protocols

    C, n, D = cfg.episode_classes, cfg.videos_per_class, cfg.feature_dim
    g = torch.Generator().manual_seed(cfg.seed)
    centres = torch.randn(C, D, generator=g)
    features = cfg.class_separation * centres.repeat_interleave(n, 0) + torch.randn(C * n, D, generator=g)  # (C*n, D)
    entries = [SplitEntry(video_id=f"class{c:03d}/video{i:04d}.mp4", label=c, class_key=f"class{c:03d}")
               for c in range(C) for i in range(n)]
    row_of = {e.video_id: r for r, e in enumerate(entries)}
    log(f"episodes: sampling {cfg.episode_count} {cfg.ways}-way {cfg.shots}-shot {cfg.queries}-query episodes "
        f"from a synthetic cache of {C} classes x {n} videos x {D} dims")
    t0 = time.perf_counter()
    eps = sample_episode_set(entries, cfg.ways, cfg.shots, cfg.queries, episodes=cfg.episode_count, seed=cfg.seed,
                             source="the synthetic feature cache")
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    sup, qry = protocols.episode_indices(row_of, eps)  # (E, W, K), (E, W, Q) rows of the feature table
    t_gather = time.perf_counter() - t0

    out = dict(episodes=cfg.episode_count, ways=cfg.ways, shots=cfg.shots, queries=cfg.queries, dim=D,
               cache=dict(classes=C, videos_per_class=n, class_separation=cfg.class_separation, synthetic=True),
               torch_threads=torch.get_num_threads(), sample_s=t_sample, gather_s=t_gather, protocols={})
    # issue 8 targets for 10 000 episodes on 2 cores, scaled to the number of episodes run
    targets = {k: v * cfg.episode_count / 10_000 for k, v in EPISODE_TARGETS_S.items()}
    for name in protocols.PROTOCOLS:
        kwargs, settings = {}, {}
        if name == "finetune":
            ft = protocols.FinetuneConfig()
            if cfg.finetune_steps is not None:
                from dataclasses import replace
                ft = replace(ft, steps=cfg.finetune_steps)
            kwargs["finetune"], settings = ft, asdict(ft)
        reps = cfg.episode_repeats if name == "prototype" else 1  # fine-tuning takes seconds: timed once
        log(f"episodes: {name} protocol on {cfg.episode_count} episodes" + (f", {reps} runs" if reps > 1 else ""))
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter()  # includes the (N, N) similarity table both protocols run on
            acc = protocols.evaluate_table(name, protocols.similarity_table(features), sup, qry, **kwargs)
            runs.append(time.perf_counter() - t0)
        seconds = statistics.median(runs)
        mean, ci, _ = protocols.mean_ci95(acc)
        out["protocols"][name] = dict(seconds=seconds, runs_s=runs, episodes_per_s=cfg.episode_count / seconds,
                                      accuracy=mean, ci95=ci, target_s=targets.get(name),
                                      meets_target=(seconds <= targets[name]) if name in targets else None,
                                      settings=settings)
    return out


# ----------------------------------------------------------------------------------------------- data
def bench_data(cfg: BenchConfig, *, size: int, mean, std) -> dict:
    """Decoded clips/s of the toy videos through VideoClipDataset + DataLoader, per worker count."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from zeroi2v import data

    root = data.ensure_toy(cfg.data_root)
    items = [it for split in ("train", "test") for it in data.list_videos("toy", root, split)]
    if not items:
        raise UserError(f"no toy videos under {root}; delete it to regenerate the toy dataset")
    items = (items * math.ceil(cfg.data_clips / len(items)))[:cfg.data_clips]
    ds = data.VideoClipDataset(items, num_frames=cfg.frames, size=size, train=False, mean=mean, std=std)
    runs = []
    for workers in cfg.data_workers:
        loader = DataLoader(ds, batch_size=1, shuffle=False, num_workers=workers)
        t0 = time.perf_counter()
        first, n, shape = None, 0, None
        for video, _ in tqdm(loader, desc=f"data ({workers} workers)", unit="clip", file=sys.stderr):
            n += video.shape[0]
            shape = list(video.shape[1:])
            if first is None:
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        steady = (n - 1) / (total - first) if n > 1 and total > first else None
        runs.append(dict(num_workers=workers, clips=n, seconds=total, clips_per_s=n / total, first_clip_s=first,
                         steady_clips_per_s=steady))
    return dict(dataset="toy", root=str(root), distinct_videos=len(set(i.video_id for i in items)), frames=cfg.frames,
                size=size, clip_shape=shape, batch_size=1, runs=runs)


# ----------------------------------------------------------------------------------------------- report
def paper_comparison(rows: list[dict], cfg: BenchConfig) -> dict:
    merged = next(r for r in rows if r["name"] == "merged")
    ours = merged["gmacs"] * PAPER_VIEWS
    aim = next((r for r in rows if r["name"] == "aim"), None)
    return dict(paper_gflops_3views=PAPER_GFLOPS_3VIEWS, ours_gmacs_3views=ours,
                ours_gflops_3views=merged["gflops"] * PAPER_VIEWS,
                ratio_to_paper=ours / PAPER_GFLOPS_3VIEWS,
                comparable=cfg.backbone.startswith("vit_base_patch16") and cfg.frames == 8 and not cfg.timm_kwargs,
                note="papers count a multiply-add as one FLOP (fvcore); torch.utils.flop_counter counts two: "
                     "compare the paper with gmacs",
                aim_flops_overhead=(aim["flops_ratio"] - 1) if aim else None,
                aim_latency_overhead=(aim["latency_ratio"] - 1) if aim else None,
                aim_paper_flops_overhead=AIM_PAPER_FLOPS_OVERHEAD)


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if abs(n) >= 1e5 else f"{n:,}"


def markdown(report: dict) -> str:
    lines = [f"**{report['backbone']}**, {report['frames']} frames, batch {report['batch']}, {report['device']}, "
             f"{report['repeats']} interleaved repeats (median, IQR) — {report['machine']}", "",
             "| model | params | new params | GFLOPs/view | FLOPs × plain | latency ms (IQR) | latency × plain "
             "| videos/s | peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        mem = "–" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}"
        lines.append(f"| {r['name']} | {_fmt_params(r['params'])} | {_fmt_params(r['new_params'])} | {r['gflops']:.1f} "
                     f"| {r['flops_ratio']:.3f} | {r['latency_ms_median']:.1f} ({r['latency_ms_iqr']:.1f}) "
                     f"| {r['latency_ratio']:.3f} (paired {r['latency_ratio_paired']:.3f}) | {r['throughput']:.2f} | {mem} |")
    c, p = report["checks"], report["paper"]
    lines += ["", f"- merged vs unmerged: max abs diff {c['merge_max_abs']:.2e}, max rel diff {c['merge_max_rel']:.2e}; "
                  f"merged params = plain + T·D ({c['temporal_embedding_params']:,}): "
                  f"{c['merged_params_equal_plain_plus_TD']}",
              f"- FLOPs per {PAPER_VIEWS} views: {p['ours_gmacs_3views']:.1f} GMACs ({p['ours_gflops_3views']:.1f} GFLOPs "
              f"counting 2 per multiply-add) vs the paper's {p['paper_gflops_3views']:.0f} GFLOPs (multiply-adds)"
              + ("" if p["comparable"] else " — not comparable for this configuration")]
    if p["aim_flops_overhead"] is not None:
        lines.append(f"- AIM-style peer overhead: FLOPs {p['aim_flops_overhead']:+.1%} "
                     f"(AIM paper {p['aim_paper_flops_overhead']:+.0%}), "
                     f"latency {p['aim_latency_overhead']:+.1%}")
    if report.get("episodes"):
        e = report["episodes"]
        lines += ["", f"Episode evaluation: {e['episodes']:,} {e['ways']}-way {e['shots']}-shot "
                      f"{e['queries']}-query episodes, {e['dim']}-d synthetic cached features "
                      f"({e['torch_threads']} threads); sampling {e['sample_s']:.2f} s, "
                      f"gather {e['gather_s']:.2f} s", "",
                  "| protocol | seconds | episodes/s | target | accuracy % |", "|---|---:|---:|---:|---:|"]
        for name, r in e["protocols"].items():
            target = "" if r["target_s"] is None else f"≤ {r['target_s']:g} s {'✓' if r['meets_target'] else '✗'}"
            lines.append(f"| {name} | {r['seconds']:.2f} | {r['episodes_per_s']:,.0f} | {target} "
                         f"| {r['accuracy']:.1f} ± {r['ci95']:.1f} |")
    if report.get("data"):
        d = report["data"]
        lines += ["", f"Data loading: toy videos, {d['frames']} frames at {d['size']}², batch 1, "
                      f"{d['runs'][0]['clips']} clips", "",
                  "| workers | clips/s | steady clips/s | first clip s |", "|---:|---:|---:|---:|"]
        for r in d["runs"]:
            steady = "–" if r["steady_clips_per_s"] is None else f"{r['steady_clips_per_s']:.1f}"
            lines.append(f"| {r['num_workers']} | {r['clips_per_s']:.1f} | {steady} | {r['first_clip_s']:.2f} |")
    return "\n".join(lines)


def run(cfg: BenchConfig) -> dict:
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda requested but CUDA is not available; use --device cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    info = machine_info(device)
    rows, checks, data_cfg = bench_models(cfg)
    report = dict(schema=SCHEMA, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  machine=machine_string(info), machine_info=info, device=str(device), backbone=cfg.backbone,
                  frames=cfg.frames, batch=cfg.batch, repeats=cfg.repeats, warmup=cfg.warmup, models=rows,
                  checks=checks, paper=paper_comparison(rows, cfg), episodes=None, data=None, config=asdict(cfg),
                  memory_method=("torch.cuda.max_memory_allocated minus allocated before the forward" if device.type == "cuda"
                                 else "peak running sum of PyTorch CPU allocator allocations/frees during the forward "
                                      "(torch.profiler profile_memory; weights excluded; non-PyTorch allocations unseen)")
                  if cfg.memory else None)
    if cfg.episodes:
        report["episodes"] = bench_episodes(cfg)
    if cfg.data:
        report["data"] = bench_data(cfg, size=cfg.data_size or data_cfg["size"], mean=data_cfg["mean"], std=data_cfg["std"])
    return report


# ----------------------------------------------------------------------------------------------- CLI
def _int_list(s: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers (e.g. 0,1,2)")
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{s!r}: give one or more non-negative integers (e.g. 0,1,2)")
    return values


def _json_dict(s: str) -> dict:
    try:
        value = json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}); e.g. '{{\"img_size\": 32, \"patch_size\": 8}}'")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"img_size\": 32}'")
    return value


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    d = BenchConfig()
    p = ArgumentParser(prog="python -m zeroi2v.bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backbone", default=d.backbone, help="timm ViT name (random weights, never downloaded)")
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--batch", type=int, default=d.batch, help="videos per forward")
    p.add_argument("--device", default=d.device, help="cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=int, default=d.repeats, help="timed forwards per model (interleaved)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed rounds before timing")
    p.add_argument("--threads", type=int, default=d.threads, help="torch intra-op threads (default: torch's)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--timm-kwargs", type=_json_dict, default={}, help="JSON object of extra timm.create_model arguments")
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory pass")
    g = p.add_argument_group("episode evaluation")
    g.add_argument("--no-episodes", dest="episodes", action="store_false")
    g.add_argument("--episodes", dest="episode_count", type=int, default=d.episode_count, help="number of episodes")
    g.add_argument("--ways", type=int, default=d.ways)
    g.add_argument("--shots", type=int, default=d.shots)
    g.add_argument("--queries", type=int, default=d.queries, help="queries per class")
    g.add_argument("--feature-dim", type=int, default=d.feature_dim)
    g.add_argument("--episode-classes", type=int, default=d.episode_classes)
    g.add_argument("--videos-per-class", type=int, default=d.videos_per_class)
    g.add_argument("--finetune-steps", type=int, default=d.finetune_steps, help="default: the protocol's")
    g.add_argument("--episode-repeats", type=int, default=d.episode_repeats,
                   help="timed runs of the prototype protocol (median); fine-tuning is timed once")
    g = p.add_argument_group("data loading")
    g.add_argument("--no-data", dest="data", action="store_false")
    g.add_argument("--data-clips", type=int, default=d.data_clips, help="clips decoded per worker setting")
    g.add_argument("--data-workers", type=_int_list, default=d.data_workers, help="comma-separated DataLoader worker counts")
    g.add_argument("--data-size", type=int, default=d.data_size, help="frame size (default: the backbone's input size)")
    g.add_argument("--data-root", default=d.data_root, help="toy dataset root (default: the shared toy cache)")
    p.add_argument("--out", default=d.out, help="write the JSON report here (atomically)")
    a = vars(p.parse_args(argv))
    cfg = BenchConfig(**a)
    for name in ("frames", "batch", "repeats", "episode_repeats", "episode_count", "ways", "shots", "queries", "feature_dim",
                 "episode_classes", "videos_per_class", "data_clips"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}={getattr(cfg, name)} must be >= 1")
    if cfg.warmup < 0:
        raise UserError(f"--warmup={cfg.warmup} must be >= 0")
    if cfg.finetune_steps is not None and cfg.finetune_steps < 1:
        raise UserError(f"--finetune-steps={cfg.finetune_steps} must be >= 1")
    if cfg.episodes and cfg.shots + cfg.queries > cfg.videos_per_class:
        raise UserError(f"--shots + --queries ({cfg.shots + cfg.queries}) exceeds --videos-per-class "
                        f"({cfg.videos_per_class}); raise --videos-per-class")
    return cfg


@cli
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights: nothing is ever downloaded
    cfg = parse_args(argv)
    report = run(cfg)
    print(markdown(report))
    if cfg.out:
        from zeroi2v.io import atomic_write_json

        atomic_write_json(cfg.out, report)
        log(f"wrote {cfg.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
