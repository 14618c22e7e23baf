"""Full-supervised (and all-way K-shot) training and evaluation of ZeroI2V.

    python -m zeroi2v.train --dataset toy --epochs 2
    python -m zeroi2v.train --dataset ucf101 --split 1 --data-root R --pretrained ViT-B-16.pt --out runs/ucf
    torchrun --nproc_per_node 8 -m zeroi2v.train --dataset k400 --data-root R --pretrained F --out runs/k400
    python -m zeroi2v.train --dataset hmdb51 ... --train-subset kshot:2:1 --allway-dir lists/   # all-way K-shot

Toy (the default demo data, generated on first use): the few-shot demo's tiny ViT (patch 16, dim 96,
depth 4, 6 heads) image-pretrained on toy frames (`zeroi2v.toyvit`, cached; --pretrained none for
random init) on the toy's 64 px frames, 8 frames, 1x1 test view, lr 2e-3 without dropout, 20 epochs --
about 1.5 minutes on 2 CPU cores.
Real datasets: vit_base_patch16_clip_224 at 224 px, 8 frames, and --pretrained is required.

Recipe (original defaults): AdamW lr 3e-4, weight decay 0.05 (none on norms, biases, embeddings),
linear warm-up then cosine, head dropout 0.5, optional label smoothing, bf16/fp16 autocast on CUDA,
gradient accumulation (--accum). Batch size and lr are per optimizer step as given (no scaling).
Each epoch rank 0 writes <out>/checkpoint.pt atomically (trainable weights, optimiser, scheduler,
RNG states of every rank, epoch, step); --resume continues from it. After training the model is
evaluated with --test-views (clips x crops, softmax averaged per video), merged, evaluated again,
exported to <out>/merged.safetensors, and a result record is written to <out>/records/.
Under torchrun (gloo on CPU, nccl on GPU) data are sharded with DistributedSampler, metrics are
all-reduced and evaluation de-duplicates the padded videos; logs and files come from rank 0.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeroi2v import distributed as D
from zeroi2v import engine
from zeroi2v.errors import ArgumentParser, UserError, cli
from zeroi2v.io import atomic_torch_save, atomic_write_json, sha256_file

DATASETS = {"toy": "toy", "hmdb51": "hmdb51", "ucf101": "ucf101", "ssv2": "ssv2", "k400": "kinetics"}
METHODS = ("zeroi2v", "zeroi2v_no_stdha", "frozen")
TOY_BACKBONE = "vit_tiny_patch16_224"


def toy_model_kwargs() -> dict:
    """The few-shot demo's tiny ViT (zeroi2v.toyvit.TOY_VIT) less img_size, which follows the toy's frames."""
    from zeroi2v.toyvit import TOY_VIT

    return {k: v for k, v in TOY_VIT.items() if k != "img_size"}
TOY_PRETRAINED = "toy-image-vit"  # default weights on toy: zeroi2v.toyvit's tiny ViT trained on toy frames
REAL_BACKBONE = "vit_base_patch16_clip_224"
# per dataset: views (clips x crops), frames, size, epochs, batch, sampling, interval, test split, stdha
DEFAULTS: dict[str, dict[str, Any]] = {
    "toy": dict(views="1x1", frames=8, size=None, epochs=20, batch=16, sampling="uniform", interval=None,
                test="test", stdha="default"),
    "hmdb51": dict(views="1x3", frames=8, size=224, epochs=30, batch=8, sampling="uniform", interval=None,
                   test="test", stdha="default"),
    "ucf101": dict(views="1x3", frames=8, size=224, epochs=30, batch=8, sampling="uniform", interval=None,
                   test="test", stdha="default"),
    "ssv2": dict(views="2x3", frames=8, size=224, epochs=50, batch=8, sampling="uniform", interval=None,
                 test="val", stdha="ssv2"),
    "k400": dict(views="1x3", frames=8, size=224, epochs=30, batch=8, sampling="dense", interval=16,
                 test="val", stdha="default"),
}
CKPT_FORMAT = "zeroi2v-train-ckpt/1"
STEP_DELAY_ENV = "ZEROI2V_TRAIN_STEP_DELAY"  # testing aid: seconds to sleep after each optimizer step
# settings a resumed run must share with its checkpoint
RESUME_KEYS = ("dataset", "split", "backbone", "pretrained", "frames", "size", "model_kwargs", "method", "stdha",
               "batch_size", "accum", "lr", "weight_decay", "label_smoothing", "head_dropout", "adapter_dropout",
               "sampling", "interval", "train_subset", "seed", "amp")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    out: str
    data_root: str | None = None
    split: int = 1
    backbone: str = REAL_BACKBONE
    pretrained: str | None = None
    frames: int = 8
    size: int = 224
    model_kwargs: dict = field(default_factory=dict)
    method: str = "zeroi2v"
    stdha: str = "default"
    epochs: int = 30
    batch_size: int = 8
    eval_batch_size: int = 8
    accum: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 2.5
    min_lr_ratio: float = 0.0
    label_smoothing: float = 0.0
    head_dropout: float = 0.5
    adapter_dropout: float = 0.1
    clip_grad: float | None = None
    amp: str = "auto"
    sampling: str = "uniform"
    interval: int | None = None
    test_views: str = "1x3"
    train_subset: str | None = None
    allway_dir: str | None = None
    seed: int = 0
    deterministic: bool = False
    workers: int = 0
    threads: int | None = None
    device: str = "auto"
    resume: bool = False
    eval_every: int = 0
    log_every: int = 0
    throughput: bool = True
    on_error: str = "error"
    progress: bool = True

    @property
    def reader(self) -> str:
        return DATASETS[self.dataset]

    @property
    def kshot(self) -> tuple[int, int] | None:
        return parse_subset(self.train_subset) if self.train_subset else None

    @property
    def protocol(self) -> str:
        return "kshot-allway" if self.train_subset else "full"


def parse_subset(text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != "kshot" or not parts[1].isdigit() or not parts[2].isdigit():
        raise UserError(f"--train-subset {text!r} is not kshot:K:FOLD (e.g. kshot:2:1)")
    k, fold = int(parts[1]), int(parts[2])
    if k < 1 or fold < 1:
        raise UserError(f"--train-subset {text!r}: K and FOLD must be >= 1")
    return k, fold


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m zeroi2v.train", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--dataset", required=True, help=f"one of {', '.join(DATASETS)}")
    a("--data-root", default=None, help="dataset root (else $ZEROI2V_<READER>_ROOT; toy: generated cache)")
    a("--split", type=int, default=1, help="official train/test fold (HMDB51/UCF101: 1..3)")
    a("--backbone", default=None, help=f"timm ViT name (toy: {TOY_BACKBONE} made tiny; else {REAL_BACKBONE})")
    a("--pretrained", default=None, help="local image-model checkpoint (.pth/.safetensors/OpenAI CLIP .pt); "
                                         "required except on toy, where the default is the tiny ViT image-"
                                         "pretrained on toy frames (cached) and 'none' means random init")
    a("--frames", type=int, default=None, help="frames per clip (default 8)")
    a("--size", type=int, default=None, help="input size in px (default 224; toy: its frame size)")
    a("--model-kwargs", default=None, help="JSON of extra timm arguments, e.g. "
                                           "'{\"embed_dim\": 32, \"depth\": 2, \"num_heads\": 4}'")
    a("--method", default="zeroi2v", help=f"one of {', '.join(METHODS)}")
    a("--stdha", default=None, help="STDHA spec: default, ssv2, none or '-1:1,1:1' (default per dataset)")
    a("--epochs", type=int, default=None)
    a("--batch-size", type=int, default=None, help="clips per process per micro-batch")
    a("--eval-batch-size", type=int, default=None, help="videos per process in evaluation (default --batch-size)")
    a("--accum", type=int, default=1, help="micro-batches per optimizer step")
    a("--lr", type=float, default=None, help="peak learning rate (default 3e-4, the original recipe; toy 2e-3)")
    a("--weight-decay", type=float, default=0.05)
    a("--warmup-epochs", type=float, default=None, help="linear warm-up length (default min(2.5, epochs/4))")
    a("--min-lr-ratio", type=float, default=0.0, help="cosine floor as a fraction of --lr")
    a("--label-smoothing", type=float, default=0.0)
    a("--head-dropout", type=float, default=None, help="default 0.5 (toy 0: the tiny demo model)")
    a("--adapter-dropout", type=float, default=None, help="default 0.1 (toy 0)")
    a("--clip-grad", type=float, default=None, help="max gradient norm (default: no clipping)")
    a("--amp", default="auto", help="auto (bf16 on CUDA if supported, else fp16; none on CPU), bf16, fp16, none")
    a("--sampling", default=None, help="uniform (TSN segments) or dense (default per dataset; k400: dense)")
    a("--interval", type=int, default=None, help="frame interval for dense sampling (k400 default 16)")
    a("--test-views", default=None, help="CLIPSxCROPS, e.g. 1x3 (default per dataset: toy 1x1, ssv2 2x3, else 1x3)")
    a("--train-subset", default=None, help="kshot:K:FOLD trains on the all-way K-shot list <reader>_k<K>_fold<F>.txt")
    a("--allway-dir", default=None, help="folder of all-way lists (default $ZEROI2V_ALLWAY_DIR or <data root>/allway)")
    a("--seed", type=int, default=0)
    a("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True) and no cudnn autotune")
    a("--workers", type=int, default=None,
      help="DataLoader workers per process (default: toy 0, else min(8, cores per process - 1))")
    a("--device", default="auto", help="auto, cpu, cuda")
    a("--threads", type=int, default=None,
      help="CPU intra-op threads (default: toy 1 -- a tiny model gains nothing from more and OpenMP "
           "spin-waits badly on a busy machine; else torch's default)")
    a("--out", default=None, help="run folder (default runs/full/<dataset>_<method>_<time>)")
    a("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    a("--eval-every", type=int, default=0, help="also evaluate every N epochs (0: only at the end)")
    a("--log-every", type=int, default=0, help="print a line every N optimizer steps (0: progress bar only)")
    a("--no-throughput", action="store_true", help="skip the throughput measurement")
    a("--on-error", default="error", help="bad videos: error (stop) or skip")
    a("--no-progress", action="store_true", help="no progress bars")
    return p


def default_workers() -> int:
    """8 DataLoader workers per process, fewer when the machine has fewer cores per process."""
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, per_process - 1))


def toy_frame_size(data_root: str | None) -> int:
    """The toy dataset's frame size (generating the dataset on first use)."""
    from zeroi2v import data
    from zeroi2v.data.toy import require

    return int(require(data.resolve_root("toy", data_root))["config"]["size"])


def resolve_config(args: argparse.Namespace, *, out: str) -> TrainConfig:
    """Fill per-dataset defaults and check every value; UserError on a bad one."""
    if args.dataset not in DATASETS:
        raise UserError(f"unknown dataset {args.dataset!r}; use one of {', '.join(DATASETS)}")
    d = DEFAULTS[args.dataset]
    toy = args.dataset == "toy"
    # the tiny toy model learns only without dropout and at a higher rate (the few-shot demo's recipe,
    # fewshot/pipeline.py): 20 epochs reach ~12 % top-1 on the 32 toy classes (chance 3 %)
    args.lr = args.lr if args.lr is not None else (2e-3 if toy else 3e-4)
    args.head_dropout = args.head_dropout if args.head_dropout is not None else (0.0 if toy else 0.5)
    args.adapter_dropout = args.adapter_dropout if args.adapter_dropout is not None else (0.0 if toy else 0.1)
    if args.method not in METHODS:
        raise UserError(f"unknown method {args.method!r}; use one of {', '.join(METHODS)}")
    try:
        extra = json.loads(args.model_kwargs) if args.model_kwargs else {}
    except json.JSONDecodeError as e:
        raise UserError(f"--model-kwargs is not valid JSON ({e.msg}); e.g. '{{\"depth\": 2}}'") from None
    if not isinstance(extra, dict):
        raise UserError("--model-kwargs must be a JSON object, e.g. '{\"depth\": 2}'")
    backbone = args.backbone or (TOY_BACKBONE if toy else REAL_BACKBONE)
    model_kwargs = {**(toy_model_kwargs() if toy and backbone == TOY_BACKBONE else {}), **extra}
    epochs = d["epochs"] if args.epochs is None else args.epochs
    batch = d["batch"] if args.batch_size is None else args.batch_size
    for name, value, lo in (("--epochs", epochs, 1), ("--batch-size", batch, 1), ("--accum", args.accum, 1),
                            ("--frames", args.frames, 1), ("--size", args.size, 8), ("--split", args.split, 1),
                            ("--eval-batch-size", args.eval_batch_size, 1), ("--workers", args.workers, 0),
                            ("--eval-every", args.eval_every, 0), ("--log-every", args.log_every, 0),
                            ("--interval", args.interval, 1), ("--threads", args.threads, 1)):
        if value is not None and value < lo:
            raise UserError(f"{name} {value} must be >= {lo}")
    for name, value in (("--lr", args.lr), ("--weight-decay", args.weight_decay),
                        ("--warmup-epochs", args.warmup_epochs), ("--min-lr-ratio", args.min_lr_ratio)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise UserError(f"{name} {value} must be a finite number >= 0")
    if args.lr <= 0:
        raise UserError(f"--lr {args.lr} must be > 0")
    for name, value in (("--label-smoothing", args.label_smoothing), ("--head-dropout", args.head_dropout),
                        ("--adapter-dropout", args.adapter_dropout)):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{name} {value} must be in [0, 1)")
    if args.amp not in ("auto", "bf16", "fp16", "none"):
        raise UserError(f"--amp {args.amp!r}: use auto, bf16, fp16 or none")
    if args.on_error not in ("error", "skip"):
        raise UserError(f"--on-error {args.on_error!r}: use error or skip")
    sampling = args.sampling or d["sampling"]
    if sampling not in ("uniform", "dense"):
        raise UserError(f"--sampling {sampling!r}: use uniform or dense")
    interval = args.interval if args.interval is not None else (d["interval"] if sampling == "dense" else None)
    if sampling == "dense" and interval is None:
        raise UserError("--sampling dense needs --interval (e.g. 16 for 8x16)")
    views = args.test_views or d["views"]
    try:
        engine.parse_views(views)
    except ValueError as e:
        raise UserError(f"--test-views: {e}") from None
    views = "x".join(map(str, engine.parse_views(views)))
    if args.train_subset:
        parse_subset(args.train_subset)
    if (args.pretrained is None or args.pretrained == "none") and not toy:
        raise UserError(f"--dataset {args.dataset} needs image weights: pass --pretrained FILE (a local "
                        f"{backbone} checkpoint, e.g. OpenAI CLIP ViT-B-16.pt); nothing is downloaded")
    if args.pretrained is None:
        pretrained = TOY_PRETRAINED
    elif args.pretrained == "none":
        pretrained = None
    elif not Path(args.pretrained).expanduser().is_file():
        raise UserError(f"--pretrained {args.pretrained} not found; pass a local checkpoint file")
    else:
        pretrained = str(Path(args.pretrained).expanduser().resolve())
    stdha = args.stdha or d["stdha"]
    if args.method in ("zeroi2v_no_stdha", "frozen"):
        stdha = "none"
    warmup = args.warmup_epochs if args.warmup_epochs is not None else min(2.5, epochs / 4)
    size = args.size or d["size"] or toy_frame_size(args.data_root)
    return TrainConfig(
        dataset=args.dataset, out=out, data_root=args.data_root, split=args.split, backbone=backbone,
        pretrained=pretrained,
        frames=args.frames or d["frames"], size=size, model_kwargs=model_kwargs,
        method=args.method, stdha=stdha, epochs=epochs, batch_size=batch,
        eval_batch_size=args.eval_batch_size or batch, accum=args.accum, lr=args.lr,
        weight_decay=args.weight_decay, warmup_epochs=warmup, min_lr_ratio=args.min_lr_ratio,
        label_smoothing=args.label_smoothing, head_dropout=args.head_dropout,
        adapter_dropout=args.adapter_dropout, clip_grad=args.clip_grad, amp=args.amp, sampling=sampling,
        interval=interval, test_views=views, train_subset=args.train_subset, allway_dir=args.allway_dir,
        seed=args.seed, deterministic=args.deterministic,
        workers=args.workers if args.workers is not None else (0 if toy else default_workers()),
        threads=args.threads if args.threads is not None else (1 if toy else None), device=args.device,
        resume=args.resume, eval_every=args.eval_every, log_every=args.log_every,
        throughput=not args.no_throughput, on_error=args.on_error, progress=not args.no_progress)


# ---------------------------------------------------------------- helpers


def log(msg: str) -> None:
    if D.is_main():
        print(f"[train] {msg}", flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or cfg.amp == "none":
        return None
    if cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def frozen_fingerprint(model: torch.nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.detach().double().abs().sum().item() for p in model.parameters() if not p.requires_grad))


class Indexed(torch.utils.data.Dataset):
    """(video, label, index): the index identifies a video across ranks in evaluation."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        video, label = self.ds[i]
        return video, label, i


def _seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


# ---------------------------------------------------------------- data


def load_items(cfg: TrainConfig):
    """(train items, test items, class names, data root)."""
    from zeroi2v import data

    root = data.resolve_root(cfg.reader, cfg.data_root)
    train = data.list_videos(cfg.reader, root, "train", fold=cfg.split, on_error=cfg.on_error)
    test = data.list_videos(cfg.reader, root, DEFAULTS[cfg.dataset]["test"], fold=cfg.split, on_error=cfg.on_error)
    log(f"read {len(train)} train / {len(test)} {DEFAULTS[cfg.dataset]['test']} videos of {cfg.dataset} "
        f"(fold {cfg.split}) from {root}")
    num_classes = 1 + max(v.label for v in train + test)
    names = [""] * num_classes
    for v in train + test:
        names[v.label] = v.class_name
    if cfg.kshot:
        train = kshot_items(cfg, root, train)
    return train, test, names, root


def kshot_items(cfg: TrainConfig, root: Path, train: list) -> list:
    from episodes.allway import allway_filename, read_allway_list

    k, fold = cfg.kshot
    folder = Path(cfg.allway_dir or os.environ.get("ZEROI2V_ALLWAY_DIR") or Path(root) / "allway").expanduser()
    candidates = [folder / allway_filename(name, k, fold) for name in dict.fromkeys((cfg.reader, cfg.dataset))]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise UserError(f"all-way list not found (looked for {', '.join(map(str, candidates))}); create it with "
                        f"`python -m episodes allway --dataset {cfg.reader} --data-root {root} --out DIR` and "
                        f"pass --allway-dir DIR")
    by_id = {v.video_id: v for v in train}
    rows = read_allway_list(path)
    items = []
    for video_id, label in rows:
        item = by_id.get(video_id)
        if item is None:
            raise UserError(f"{path}: video {video_id!r} is not in the {cfg.dataset} training list (fold {cfg.split}); "
                            f"regenerate the all-way lists for this dataset root and fold")
        if item.label != label:
            raise UserError(f"{path}: video {video_id!r} has label {label}, the dataset says {item.label}; "
                            f"regenerate the all-way lists")
        items.append(item)
    log(f"read all-way {k}-shot fold {fold} list {path}: {len(items)} videos, "
        f"{len({v.label for v in items})} classes")
    return items


def build_loaders(cfg: TrainConfig, train_items, test_items, class_names, mean, std, info: D.DistInfo):
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    from zeroi2v import data

    common = dict(num_frames=cfg.frames, size=cfg.size, mean=mean, std=std, sampling=cfg.sampling,
                  interval=cfg.interval, on_error=cfg.on_error, seed=cfg.seed)
    flip_map = data.flip_label_map(class_names) if cfg.dataset == "ssv2" else None
    toy = cfg.dataset == "toy"  # toy classes are directions (left/right, cw/ccw): never mirror them
    train_ds = data.VideoClipDataset(train_items, train=True, flip_map=flip_map, flip=not toy, keep_decoded=toy,
                                     scale=(0.6, 1.0) if toy else (0.25, 1.0), **common)
    clips, crops = engine.parse_views(cfg.test_views)
    test_ds = data.VideoClipDataset(test_items, train=False, num_clips=clips, num_crops=crops, **common)
    train_sampler = DistributedSampler(train_ds, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                       seed=cfg.seed, drop_last=False)
    test_sampler = DistributedSampler(test_ds, num_replicas=info.world_size, rank=info.rank, shuffle=False)
    kw = dict(num_workers=cfg.workers, pin_memory=info.device.type == "cuda", worker_init_fn=_seed_worker)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=train_sampler, drop_last=False,
                              generator=torch.Generator().manual_seed(cfg.seed), **kw)
    test_loader = DataLoader(Indexed(test_ds), batch_size=cfg.eval_batch_size, sampler=test_sampler,
                             generator=torch.Generator().manual_seed(cfg.seed), **kw)
    return train_ds, train_loader, test_loader


# ---------------------------------------------------------------- model


def toy_pretrained(cfg: TrainConfig, info: D.DistInfo) -> str:
    """The tiny image ViT pre-trained on toy frames (zeroi2v.toyvit, the few-shot demo's backbone),
    trained once by rank 0 and cached by a hash of its settings."""
    import timm

    from zeroi2v import data
    from zeroi2v.toyvit import PretrainConfig, pretrain_toy_vit

    root = data.resolve_root("toy", cfg.data_root)
    kwargs = {**cfg.model_kwargs, "img_size": cfg.model_kwargs.get("img_size", cfg.size)}
    dc = timm.data.resolve_data_config({}, model=timm.create_model(cfg.backbone, pretrained=False, num_classes=0,
                                                                   **kwargs))
    pcfg = PretrainConfig(backbone=cfg.backbone, timm_kwargs=kwargs, seed=cfg.seed)
    if info.is_main:
        path = pretrain_toy_vit(root, pcfg, mean=dc["mean"], std=dc["std"])
    D.barrier()
    if not info.is_main:
        path = pretrain_toy_vit(root, pcfg, mean=dc["mean"], std=dc["std"])  # cached by rank 0
    log(f"image weights: {path} ({cfg.backbone} pre-trained on toy frames, cached; --pretrained none for random init)")
    return str(path)


def build_model(cfg: TrainConfig, num_classes: int):
    from zeroi2v.model import create_model

    frozen = cfg.method == "frozen"
    kwargs = dict(cfg.model_kwargs)
    kwargs.setdefault("img_size", cfg.size)
    torch.manual_seed(cfg.seed)  # adapter init: same in every process and on resume
    try:
        model = create_model(cfg.backbone, num_frames=cfg.frames, num_classes=num_classes, pretrained=cfg.pretrained,
                             stdha=None if cfg.stdha == "none" else cfg.stdha, adapters=None if frozen else
                             ("qkv_in", "proj_out", "fc1_in", "fc2_out"), adapter_dropout=cfg.adapter_dropout,
                             temporal_embedding=not frozen, head_dropout=cfg.head_dropout, **kwargs)
    except (ValueError, TypeError, RuntimeError) as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"cannot build {cfg.backbone} with {kwargs} (stdha {cfg.stdha}): "
                        f"{str(e).splitlines()[0][:200]}; check --backbone/--model-kwargs/--stdha") from None
    return model


def plain_params(cfg: TrainConfig, model, num_classes: int) -> int:
    """Parameters of the plain timm image classifier (same classes) the merged model is compared with."""
    import timm

    vit = timm.create_model(cfg.backbone, pretrained=False, num_classes=num_classes,
                            **getattr(model, "timm_kwargs", {}))
    return sum(p.numel() for p in vit.parameters())


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, *, model, optimizer, scheduler, scaler, epoch: int, step: int, cfg: TrainConfig,
                    history: list, fingerprint: float) -> None:
    """Gather every rank's RNG state; rank 0 writes atomically."""
    rngs = D.all_gather_object(rng_state())
    if D.is_main():
        atomic_torch_save(dict(format=CKPT_FORMAT, epoch=epoch, step=step, model=trainable_state(model),
                               optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                               scaler=scaler.state_dict() if scaler is not None else None, rng=rngs,
                               world_size=D.get_world_size(), config=dataclasses.asdict(cfg), history=history,
                               frozen_fingerprint=fingerprint), path)
        log(f"wrote checkpoint {path} (epoch {epoch}, step {step})")
    D.barrier()


def load_checkpoint(path: Path, cfg: TrainConfig, *, model, optimizer, scheduler, scaler, fingerprint: float) -> dict:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read checkpoint {path} ({type(e).__name__}); remove it to start over") from None
    if not isinstance(ck, dict) or ck.get("format") != CKPT_FORMAT:
        raise UserError(f"{path} is not a zeroi2v.train checkpoint; remove it or choose another --out")
    old = ck["config"]
    for key in RESUME_KEYS:
        if old.get(key) != getattr(cfg, key):
            raise UserError(f"{path} was written with {key}={old.get(key)!r}, this run has {getattr(cfg, key)!r}; "
                            f"resume with the same settings or use another --out")
    if not math.isclose(ck["frozen_fingerprint"], fingerprint, rel_tol=1e-9):
        raise UserError(f"{path}: the frozen backbone weights differ from the checkpoint's run; "
                        f"use the same --pretrained and --seed")
    missing = set(trainable_state(model)) - set(ck["model"])
    if missing:
        raise UserError(f"{path} lacks trainable weight {sorted(missing)[0]}; it is from another model")
    model.load_state_dict(ck["model"], strict=False)
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    if scaler is not None and ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    rank = D.get_rank()
    if ck.get("world_size") == D.get_world_size():
        set_rng_state(ck["rng"][rank])
    else:
        log(f"checkpoint was written by {ck.get('world_size')} processes, now {D.get_world_size()}: "
            f"RNG states restored from rank 0 only (results will not match an uninterrupted run bit for bit)")
        set_rng_state(ck["rng"][0])
        torch.manual_seed(cfg.seed + 1000 * ck["epoch"] + rank)
    if old.get("epochs") != cfg.epochs:
        log(f"checkpoint was for {old.get('epochs')} epochs, now {cfg.epochs}: the cosine schedule is stretched")
    return ck


# ---------------------------------------------------------------- the run


def default_out(dataset: str, method: str) -> str:
    return str(Path("runs") / "full" / f"{dataset}_{method}_{time.strftime('%Y%m%d-%H%M%S')}")


@cli
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    info = D.init_distributed(args.device)
    try:
        return run(args, info)
    finally:
        D.cleanup()


def run(args: argparse.Namespace, info: D.DistInfo) -> int:
    if args.resume and not args.out:
        raise UserError("--resume needs --out DIR, the folder of the run to continue")
    out = D.broadcast_object(args.out or default_out(args.dataset, args.method))
    if args.dataset == "toy" and info.world_size > 1:  # rank 0 generates the toy data first, if needed
        if info.is_main:
            from zeroi2v import data

            data.resolve_root("toy", args.data_root)
        D.barrier()
    cfg = resolve_config(args, out=out)
    out = Path(cfg.out)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if info.device.type == "cpu" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise UserError(f"{ckpt_path} exists; pass --resume to continue that run or choose another --out")
    if cfg.pretrained == TOY_PRETRAINED:
        cfg = dataclasses.replace(cfg, pretrained=toy_pretrained(cfg, info))
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    train_items, test_items, class_names, root = load_items(cfg)
    num_classes = len(class_names)
    if cfg.batch_size * info.world_size > len(train_items):
        raise UserError(f"--batch-size {cfg.batch_size} x {info.world_size} process(es) is larger than the "
                        f"{len(train_items)} training videos; lower --batch-size")

    seed_everything(cfg.seed)  # same initial weights on every rank and every (resumed) run
    model = build_model(cfg, num_classes)
    from zeroi2v.model import count_params, data_config

    dc = data_config(model)
    model.to(info.device)
    fingerprint = frozen_fingerprint(model)
    params = count_params(model)
    log(f"model {cfg.backbone} {cfg.model_kwargs or ''} method {cfg.method}, {cfg.frames}x{cfg.size}px, "
        f"STDHA offsets {model.stdha_offsets}, {num_classes} classes; params {params['total']:,} "
        f"(trainable {params['trainable']:,}); weights {cfg.pretrained or 'random init (no --pretrained)'}")
    train_ds, train_loader, test_loader = build_loaders(cfg, train_items, test_items, class_names,
                                                        dc["mean"], dc["std"], info)
    from zeroi2v.optim import build_optimizer, warmup_cosine

    optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.accum)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    scheduler = warmup_cosine(optimizer, warmup_steps=warmup_steps, total_steps=total_steps,
                              min_ratio=cfg.min_lr_ratio)
    dtype = amp_dtype(cfg, info.device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    start_epoch, step, history = 0, 0, []
    if cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, cfg, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                             fingerprint=fingerprint)
        start_epoch, step, history = ck["epoch"], ck["step"], list(ck.get("history", []))
        log(f"resumed from {ckpt_path}: {start_epoch} epoch(s) done, step {step}")
    else:
        if cfg.resume:
            log(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")
        torch.manual_seed(cfg.seed + info.rank)  # dropout differs per rank; data order comes from the sampler
    if D.is_main():
        atomic_write_json(out / "config.json", dict(dataclasses.asdict(cfg), world_size=info.world_size,
                                                    num_classes=num_classes, data_root=str(root),
                                                    train_videos=len(train_items), test_videos=len(test_items)))
        log(f"wrote {out / 'config.json'}")

    train_model = model
    if info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[info.device] if info.device.type == "cuda" else None)
    delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)

    t_train = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        train_loader.sampler.set_epoch(epoch)  # data order from (seed, epoch)
        train_ds.set_epoch(epoch)  # augmentation from (seed, epoch, index)
        train_loader.generator.manual_seed(cfg.seed + epoch)  # worker seeds from (seed, epoch)

        def on_step(s: int, epoch=epoch) -> None:
            if cfg.log_every and s % cfg.log_every == 0:
                log(f"epoch {epoch + 1} step {s}/{steps_per_epoch} lr {optimizer.param_groups[0]['lr']:.3e}")
            if delay:
                time.sleep(delay)

        stats = engine.train_one_epoch(train_model, train_loader, optimizer, scheduler, device=info.device,
                                       accum=cfg.accum, amp_dtype=dtype, label_smoothing=cfg.label_smoothing,
                                       epoch=epoch + 1, scaler=scaler, clip_grad=cfg.clip_grad,
                                       progress=cfg.progress, on_step=on_step)
        step += stats["steps"]
        row = dict(epoch=epoch + 1, step=step, loss=stats["loss"], train_acc=stats["acc"], lr=stats["lr"],
                   seconds=stats["seconds"])
        if cfg.eval_every and (epoch + 1) % cfg.eval_every == 0 and epoch + 1 < cfg.epochs:
            ev = engine.evaluate(model, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                                 progress=cfg.progress, desc=f"eval epoch {epoch + 1}")
            row.update(top1=ev["top1"], top5=ev["top5"])
        history.append(row)
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {stats['loss']:.4f} train top-1 {stats['acc']:.2f}% "
            f"lr {stats['lr']:.2e} ({stats['seconds']:.1f} s)"
            + (f" | test top-1 {row['top1']:.2f}%" if "top1" in row else ""))
        save_checkpoint(ckpt_path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                        epoch=epoch + 1, step=step, cfg=cfg, history=history, fingerprint=fingerprint)
    stages["train"] = time.perf_counter() - t_train

    # ------------------------------------------------------------ evaluate, merge, evaluate, export
    t = time.perf_counter()
    res = engine.evaluate(model, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                          progress=cfg.progress, desc="eval", return_scores=True)
    stages["eval"] = time.perf_counter() - t
    log(f"test ({cfg.test_views} views, {res['n']} videos): top-1 {res['top1']:.2f}% top-5 {res['top5']:.2f}%")

    from zeroi2v.merge import check_merge, merge_adapters, random_batch, save_merged

    t = time.perf_counter()
    model.eval()
    merged = merge_adapters(copy.deepcopy(model))
    diff = check_merge(model, merged, random_batch(model))
    stages["merge"] = time.perf_counter() - t
    t = time.perf_counter()
    res_m = engine.evaluate(merged, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                            progress=cfg.progress, desc="eval merged", return_scores=True)
    stages["eval_merged"] = time.perf_counter() - t
    prob_diff = float((res["probs"] - res_m["probs"]).abs().max()) if res["n"] else 0.0
    log(f"merged model: top-1 {res_m['top1']:.2f}% top-5 {res_m['top5']:.2f}% (max |output diff| "
        f"{diff['max_abs']:.2e}, relative {diff['max_rel']:.2e}; max test probability diff {prob_diff:.2e})")

    if D.is_main():
        t = time.perf_counter()
        export = out / "merged.safetensors"
        save_merged(model, export)
        stages["export"] = time.perf_counter() - t
        log(f"wrote merged model {export}")
        t = time.perf_counter()
        gflops = engine.gflops_per_view(merged, num_frames=cfg.frames, size=cfg.size, device=info.device)
        tput = (engine.throughput(merged, num_frames=cfg.frames, size=cfg.size, batch=cfg.eval_batch_size,
                                  device=info.device, amp_dtype=dtype) if cfg.throughput else None)
        merged_total = count_params(merged)["total"]
        plain_total = plain_params(cfg, model, num_classes)
        stages["cost"] = time.perf_counter() - t
        stages["total"] = time.perf_counter() - t0
        log(f"cost: {gflops:.3f} GFLOPs per view ({gflops / 2:.3f} GMACs), params {merged_total:,} merged "
            f"(+{merged_total - plain_total:,} over the plain image model)"
            + (f", throughput {tput:.1f} views/s" if tput else ""))
        write_results(cfg, out, res=res, res_m=res_m, diff=diff, prob_diff=prob_diff, model=model, params=params,
                      merged_total=merged_total, plain_total=plain_total, gflops=gflops, tput=tput,
                      stages=stages, history=history, info=info, num_classes=num_classes)
    D.barrier()
    return 0


def write_results(cfg: TrainConfig, out: Path, *, res, res_m, diff, prob_diff, model, params, merged_total,
                  plain_total, gflops, tput, stages, history, info, num_classes) -> None:
    from results.records import new_record, write_record

    fields = dict(dataset=cfg.dataset, method=cfg.method, backbone=cfg.backbone, seed=cfg.seed,
                  protocol=cfg.protocol, top1=res["top1"], top5=res["top5"], top1_merged=res_m["top1"],
                  top5_merged=res_m["top5"], views=cfg.test_views, n_test=res["n"], num_classes=num_classes,
                  gflops_per_view=gflops, gmacs_per_view=gflops / 2, params_total=merged_total,
                  params_total_unmerged=params["total"], params_trainable=params["trainable"],
                  params_new=merged_total - plain_total, throughput=tput, eval_videos_per_s=res["videos_per_s"],
                  merge_max_abs_diff=diff["max_abs"], merge_max_rel_diff=diff["max_rel"],
                  merge_max_prob_diff=prob_diff, stage_seconds=stages, world_size=info.world_size,
                  config=dataclasses.asdict(cfg), pretrained=cfg.pretrained,
                  pretrained_sha256=sha256_file(cfg.pretrained) if cfg.pretrained else None,
                  stdha=model.stdha_offsets, adapters=model.adapter_config if cfg.method != "frozen" else None)
    if cfg.kshot:
        fields.update(shots=cfg.kshot[0], fold=cfg.kshot[1])
    path = write_record(out, new_record(cfg.protocol, **fields))
    atomic_write_json(out / "metrics.json", dict(fields, history=history, record=str(path)))
    log(f"wrote record {path} and {out / 'metrics.json'}")


if __name__ == "__main__":
    sys.exit(main())
