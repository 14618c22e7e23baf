"""The suite's main job: `python -m fewshot.run --dataset ssv2 --shots 5`.

For each method (frozen image model; ZeroI2V adapters without STDHA; full ZeroI2V):
  a. adapt on the base split (val split selects the epoch)       fewshot/adapt.py
  b. merge the adapters, check merged == unmerged on a real batch  zeroi2v/merge.py
  c. embed every test video once per view, cached by model hash    fewshot/embed.py
  d. evaluate the same episode set with each protocol              fewshot/protocols.py
  e. write one result record per (dataset, ways, shots, protocol, method)   results/records.py
With no arguments it runs on the generated toy motion dataset with a tiny ViT image-pretrained on
toy frames, in a few minutes on a laptop CPU.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from zeroi2v.errors import ArgumentParser, UserError, cli

log = logging.getLogger("fewshot")

METHODS = ("frozen", "zeroi2v_no_stdha", "zeroi2v")
REAL_BACKBONE = "vit_base_patch16_clip_224"


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "toy"
    shots: tuple[int, ...] = (1, 5)
    ways: int = 5
    queries: int = 1
    episodes: int = 10_000
    seed: int = 0
    backbone: str = ""  # "" -> the tiny toy ViT on toy, ViT-B/16 CLIP otherwise
    timm_kwargs: dict = field(default_factory=dict)
    pretrained: str | None = None
    data_root: str | None = None
    frames: int = 8
    size: int = 0  # 0 -> the backbone's input size
    stdha: str = ""  # "" -> "ssv2" on SSv2 (±1 and ±2), "default" (±1) elsewhere
    protocols: tuple[str, ...] = ("prototype", "finetune")
    methods: tuple[str, ...] = METHODS
    out: str = ""  # "" -> runs/fewshot-<dataset>
    resume: bool = False
    episodes_file: str | None = None
    epochs: int = 0  # 0 -> 30 on toy, 10 on real data
    batch_size: int = 8
    lr: float = 0.0  # 0 -> 2e-3 on toy, 3e-4 (the original recipe) on real data
    num_workers: int = 0
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu
    on_error: str = "error"
    cache_dir: str | None = None


def _ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers") from None


def _json_dict(s: str) -> dict:
    import json

    try:
        d = json.loads(s)
    except json.JSONDecodeError:
        d = None
    if not isinstance(d, dict):
        raise argparse.ArgumentTypeError(f"{s!r} is not a JSON object like '{{\"img_size\": 64}}'")
    return d


def _names(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> RunConfig:
    p = ArgumentParser(prog="python -m fewshot.run", description=__doc__.split("\n")[0])
    d = RunConfig()
    p.add_argument("--dataset", default=d.dataset, help="toy|ssv2_full|ssv2_small|hmdb51|ucf101|kinetics100 (ssv2 = ssv2_full)")
    p.add_argument("--shots", type=_ints, default=d.shots, help="K, or a list like 1,5")
    p.add_argument("--ways", type=int, default=d.ways)
    p.add_argument("--queries", type=int, default=d.queries)
    p.add_argument("--episodes", type=int, default=d.episodes)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--backbone", default=d.backbone, help="timm ViT name (default: tiny toy ViT / vit_base_patch16_clip_224)")
    p.add_argument("--timm-kwargs", type=_json_dict, default=d.timm_kwargs,
                   help='JSON of timm.create_model arguments, e.g. \'{"img_size": 112}\'')
    p.add_argument("--pretrained", default=d.pretrained, help="local image weights: OpenAI CLIP .pt, timm .pth/.safetensors")
    p.add_argument("--data-root", default=d.data_root)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--stdha", default=d.stdha, help="default | ssv2 | '-1:1,1:1' (offset:heads)")
    p.add_argument("--protocols", type=_names, default=d.protocols)
    p.add_argument("--methods", type=_names, default=d.methods, help=",".join(METHODS))
    p.add_argument("--out", default=d.out)
    p.add_argument("--resume", action="store_true", help="continue finished and interrupted stages in --out")
    p.add_argument("--episodes-file", default=d.episodes_file, help="evaluate this episode set (python -m episodes sample)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--device", default=d.device, help="auto (GPU if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--on-error", choices=("error", "skip"), default=d.on_error, help="unreadable/missing videos")
    p.add_argument("--cache-dir", default=d.cache_dir, help="feature and weight cache (default $ZEROI2V_CACHE or ~/.cache/zeroi2v)")
    a = p.parse_args(argv)
    return resolve(RunConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(RunConfig)
                                if hasattr(a, f.name)}))


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill dataset-dependent defaults and validate; the result is what gets saved and recorded."""
    from zeroi2v.toyvit import TOY_BACKBONE, TOY_VIT
    from episodes.protocols import PROTOCOLS
    from .splitdata import canonical_dataset

    dataset = canonical_dataset(cfg.dataset)
    toy = dataset == "toy"
    for name in ("ways", "queries", "episodes", "frames"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name} must be a positive integer, got {getattr(cfg, name)}")
    if not cfg.shots or min(cfg.shots) < 1:
        raise UserError(f"--shots must be positive integers, got {','.join(map(str, cfg.shots)) or 'nothing'}")
    if cfg.epochs < 0 or cfg.batch_size < 1 or cfg.num_workers < 0 or cfg.lr < 0:
        raise UserError("--epochs, --lr and --num-workers cannot be negative, --batch-size must be positive")
    bad = [m for m in cfg.methods if m not in METHODS] + [p for p in cfg.protocols if p not in PROTOCOLS]
    if bad or not cfg.methods or not cfg.protocols:
        raise UserError(f"unknown method/protocol {bad[0] if bad else '(none given)'}; methods: "
                        f"{','.join(METHODS)}; protocols: {','.join(PROTOCOLS)}")
    from zeroi2v.distributed import pick_device

    backbone = cfg.backbone or (TOY_BACKBONE if toy else REAL_BACKBONE)
    return dataclasses.replace(
        cfg, dataset=dataset, backbone=backbone,
        timm_kwargs=cfg.timm_kwargs or (dict(TOY_VIT) if toy and not cfg.backbone else {}),
        stdha=cfg.stdha or ("ssv2" if dataset.startswith("ssv2") else "default"),
        out=cfg.out or f"runs/fewshot-{dataset}", epochs=cfg.epochs or (30 if toy else 10),
        lr=cfg.lr or (2e-3 if toy else 3e-4), device=str(pick_device(cfg.device)))


def setup_logging(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    log.handlers.clear()
    for h in (logging.StreamHandler(sys.stderr), logging.FileHandler(out / "run.log")):
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False


@cli
def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    from .pipeline import run

    setup_logging(Path(cfg.out))
    t0 = time.perf_counter()
    table = run(cfg)
    print(table)
    log.info("done in %.0f s; records in %s/records (python -m results %s)", time.perf_counter() - t0, cfg.out, cfg.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
