"""Efficiency benchmark: ZeroI2V costs exactly what the image model costs -- measured.

    python -m zeroi2v.bench [--backbone vit_base_patch16_clip_224] [--frames 8] [--batch-size 1]
                            [--device auto|cpu|cuda] [--repeats N] [--json F.json] [--no-episodes] [--no-data]
    python -m zeroi2v.bench --data       # data sections only (toy loader + dataset-shaped data path)

Four models see the same input (B, 3, T, H, W), in one process, under `torch.inference_mode`:

- plain: the timm image ViT applied per frame, CLS features averaged over T;
- merged: ZeroI2V (STDHA + temporal embedding) after `merge_adapters`, adapters random non-zero;
- unmerged: the same model before merging (linear adapters still separate modules);
- aim: an AIM-style peer (`zeroi2v.methods.aim`): GELU bottleneck adapters + a temporal attention that
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
clips/s of `zeroi2v.data.VideoClipDataset` on the toy videos with 0, 1 and 2 workers), and the data path
against its limit (`datapath.py`): on generated videos shaped like SSv2, Kinetics and HMDB, the
train and test transforms' clips/s in one worker process vs the raw decode rate of the same frame
indices, and the worker processes one accelerator needs at the measured model throughput.

Writes JSON (schema "zeroi2v-bench/2": /1 plus the `data_path` section) with `--json F` (or into a folder,
`--out D`: D/bench.json), and Markdown to
stdout. Modules: config (settings + flags), checks (bad settings refused before any work), machine,
models, episodes, loader, datapath, report.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import asdict

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the CPU memory profiler's GPU probe is noise on a CPU machine
import torch  # noqa: E402

from zeroi2v.utils.errors import UserError, cli  # noqa: E402

from zeroi2v.settings import flags  # noqa: E402

from zeroi2v.bench.checks import check_config  # noqa: E402
from zeroi2v.bench.config import BenchConfig, build_parser, config_from  # noqa: E402
from zeroi2v.bench.datapath import bench_data_path  # noqa: E402
from zeroi2v.bench.episodes import bench_episodes  # noqa: E402
from zeroi2v.bench.loader import bench_data  # noqa: E402
from zeroi2v.bench.machine import log, machine_info, machine_string  # noqa: E402
from zeroi2v.bench.models import bench_models, time_merged  # noqa: E402
from zeroi2v.bench.report import markdown, paper_comparison  # noqa: E402

SCHEMA = "zeroi2v-bench/2"
MEMORY_METHOD = dict(
    cuda="torch.cuda.max_memory_allocated minus allocated before the forward",
    cpu="peak running sum of PyTorch CPU allocator allocations/frees during the forward "
        "(torch.profiler profile_memory; weights excluded; non-PyTorch allocations unseen)")


def run(cfg: BenchConfig) -> dict:
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda requested but CUDA is not available; use --device cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    info = machine_info(device)
    report = dict(schema=SCHEMA, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  machine=machine_string(info), machine_info=info, device=str(device), backbone=cfg.backbone,
                  frames=cfg.frames, batch=cfg.batch_size, repeats=cfg.repeats, warmup=cfg.warmup, models=None,
                  checks=None, paper=None, episodes=None, data=None, data_path=None, config=asdict(cfg),
                  memory_method=MEMORY_METHOD["cuda" if device.type == "cuda" else "cpu"] if cfg.memory else None)
    if cfg.models:
        rows, checks, data_cfg = bench_models(cfg)
        report.update(models=rows, checks=checks, paper=paper_comparison(rows, cfg))
        merged = next(r for r in rows if r["name"] == "merged")
    elif cfg.data:
        merged, data_cfg = time_merged(cfg)
    if cfg.episodes:
        report["episodes"] = bench_episodes(cfg)
    if cfg.data:
        size, mean, std = cfg.data_size or data_cfg["size"], data_cfg["mean"], data_cfg["std"]
        report["data"] = bench_data(cfg, size=size, mean=mean, std=std)
        if cfg.data_path:
            model = dict(backbone=cfg.backbone, timm_kwargs=cfg.timm_kwargs, frames=cfg.frames, device=str(device),
                         clips_per_s=merged["throughput"], forward="inference, merged model, batch "
                         f"{cfg.batch_size}")
            report["data_path"] = bench_data_path(cfg, size=size, mean=mean, std=std, model=model)
    return report


def parse_args(argv: list[str] | None = None, *, doc: str = "") -> BenchConfig:
    """The checked BenchConfig of a command line: every bad setting is refused here, before any work (checks.py)."""
    flags.NOTES.clear()
    cfg = check_config(config_from(vars(build_parser(doc).parse_args(argv))))
    flags.emit_notes()
    return cfg


@cli
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights: nothing is ever downloaded
    cfg = parse_args(argv, doc=__doc__.split("\n")[0])
    report = run(cfg)
    print(markdown(report))
    from zeroi2v.utils.io import atomic_write_json

    for path in (cfg.json, cfg.out and os.path.join(cfg.out, "bench.json")):
        if path:
            atomic_write_json(path, report)
            log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
