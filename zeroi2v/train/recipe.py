"""Recipes: an original ZeroI2V config (zeroi2v.settings.recipes) as the defaults of a zeroi2v.train run.

`--recipe NAME` (default: the recipe of --dataset and --backbone, `zeroi2v.settings.recipes.default_recipe`:
the original config of that dataset for ViT-B, or ViT-L when the backbone name says "large"; the
demo recipe "toy" on toy; `--recipe none` or a dataset without one -- list, ViT-L on HMDB51/UCF101 --
keeps zeroi2v.settings.defaults' row) fills every flag left unset: dataset, backbone, frames, sampling,
STDHA, adapter and head settings, label smoothing, augmentation, optimiser, warm-up, epochs, batch
per process, test views. A flag given on the command line overrides its field.

Global batch: an original recipe trained 8 GPUs x its batch per GPU x its accumulation (`global_batch`: 32,
64 or 128). Unless --accum is
given, gradient accumulation makes up the difference: accum = global batch / (--batch-size x
processes). Where the recipe scales lr linearly with the global batch (`lr_scaling="linear"`),
lr = recipe lr x global batch / (accumulation x base batch) -- both printed.
"""
from __future__ import annotations

import argparse

from zeroi2v.training import distributed as D
from zeroi2v.utils.errors import UserError
from zeroi2v.training.trainer import log_main

# recipe field -> parser dest, filled when the flag was not given
_FILL = {"backbone": "backbone", "frames": "frames", "sampling": "sampling", "interval": "interval",
         "stdha": "stdha", "adapter_scale": "adapter_scale", "adapter_dropout": "adapter_dropout",
         "head_dropout": "head_dropout", "label_smoothing": "label_smoothing", "weight_decay": "weight_decay",
         "warmup_epochs": "warmup_epochs", "epochs": "epochs", "batch_per_gpu": "batch_size", "size": "size",
         "test_views": "test_views", "bias_decay": "bias_decay", "backbone_lr_mult": "backbone_lr_mult",
         "warmup_start": "warmup_start", "erasing": "erasing", "randaugment": "randaugment",
         "crop_area": "crop_area", "crop_ratio": "crop_ratio", "short_side": "short_side", "flip": "flip",
         "erasing_mode": "erasing_mode"}


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The recipe fields only zeroi2v.train sets from the command line (the shared ones: zeroi2v.settings.flags)."""
    a = p.add_argument
    r = "default: the recipe's"
    a("--bias-decay", action="store_true", default=None, help=f"weight decay on biases too ({r}; originals: yes)")
    a("--backbone-lr-mult", type=float, default=None, help=f"lr multiplier of all but the head ({r}, else 1)")
    a("--erasing", type=float, default=None, help=f"RandomErasing probability in training ({r}, else 0)")
    a("--randaugment", default=None, help=f"MAGNITUDE,LAYERS (e.g. 7,4; same ops on every frame) or none ({r})")
    a("--crop-area", default=None, help=f"LO,HI area fraction of the random resized crop ({r}, else per dataset)")
    a("--crop-ratio", default=None, help=f"LO,HI aspect ratio of the random resized crop ({r}, else 0.75,1.333)")
    a("--short-side", type=int, default=None, help=f"resize training clips to this short side first (0: no; {r})")
    a("--flip", type=float, default=None, help=f"horizontal flip probability ({r}, else 0.5; toy 0)")
    a("--keep", default=None, choices=("best", "last"), help="the epoch tested: best (validated every epoch on the "
                                                            f"test split, as the originals' save_best) or last ({r}: "
                                                            "originals best, toy last; no recipe: last)")


def _pair(name: str, value, cast=float):
    if value is None or value in ("none", ""):
        return None
    if isinstance(value, (list, tuple)):
        return tuple(cast(x) for x in value)
    try:
        lo, hi = (cast(x) for x in str(value).split(","))
    except ValueError:
        raise UserError(f"--{name} {value!r} is not two comma-separated numbers, e.g. 7,4") from None
    return lo, hi


def _randaugment(value) -> tuple[int, int] | None:
    ra = _pair("randaugment", value, int)
    if ra is not None and not (0 <= ra[0] <= 10 and ra[1] >= 1):
        raise UserError(f"--randaugment {value!r}: magnitude 0..10, layers >= 1")
    return ra


def _area(name: str, value) -> tuple[float, float] | None:
    pair = _pair(name, value)
    if pair is not None and not (0 < pair[0] <= pair[1] <= (1 if name == "crop-area" else 10)):
        raise UserError(f"--{name} {value!r}: need 0 < LO <= HI{' <= 1' if name == 'crop-area' else ''}")
    return pair


def resolve_recipe(args: argparse.Namespace):
    """The Recipe this run starts from, or None."""
    from zeroi2v.settings.recipes import default_recipe, get_recipe

    name = args.recipe
    if name is None and args.dataset is not None:
        name = default_recipe(args.dataset, args.backbone)
    return None if name in (None, "none") else get_recipe(name)


def apply_recipe(args: argparse.Namespace) -> dict:
    """Fill unset args from the recipe (in place); return the TrainConfig fields a recipe or its flags set."""
    from zeroi2v.settings.recipes import batch_plan, warmup_for

    r = resolve_recipe(args)
    if r is not None:
        if args.dataset is None:
            args.dataset = r.dataset
        elif args.dataset not in (r.dataset, "list"):
            raise UserError(f"--recipe {r.name} is for --dataset {r.dataset}, not {args.dataset}; pick a recipe "
                            f"of {args.dataset} (--list-recipes)")
        if args.epochs is not None and args.warmup_epochs is None:  # a shorter run: warm-up min(2.5, epochs/4)
            args.warmup_epochs = warmup_for(r, args.epochs)
        for field, dest in _FILL.items():
            if getattr(args, dest, None) is None:
                setattr(args, dest, getattr(r, field))
        if args.schedule is None:  # the original configs: LinearLR, then per-epoch cosine
            args.schedule = r.trainer_schedule
        if args.keep is None:
            args.keep = r.keep
        if args.amp is None:
            args.amp = r.amp
        args.accum, args.lr, lines = batch_plan(r, batch_size=args.batch_size, processes=D.get_world_size(),
                                                accum=args.accum, lr=args.lr)
        for line in lines:
            log_main(line)
    short = args.short_side
    if (args.schedule or "cosine") not in ("cosine", "cosine_epoch"):
        raise UserError(f"--schedule {args.schedule!r}: use cosine or cosine_epoch")
    if args.erasing_mode not in (None, "const", "rand"):
        raise UserError(f"--erasing-mode {args.erasing_mode!r}: use const or rand")
    return dict(schedule=args.schedule or "cosine", erasing_mode=args.erasing_mode,
                randaugment_after_flip=bool(r and r.randaugment_after_flip), recipe=r.name if r else None,
                bias_decay=bool(args.bias_decay),
                backbone_lr_mult=1.0 if args.backbone_lr_mult is None else args.backbone_lr_mult,
                warmup_start=args.warmup_start or 0.0, erasing=args.erasing or 0.0,
                randaugment=_randaugment(args.randaugment), crop_area=_area("crop-area", args.crop_area),
                crop_ratio=_area("crop-ratio", args.crop_ratio), short_side=short if short else None,
                flip=None if args.flip is None else float(args.flip), keep=args.keep or "last")


def recipe_of(cfg):
    """The Recipe a resolved run started from, or None (`--recipe none`, or a dataset without one)."""
    from zeroi2v.settings.recipes import get_recipe

    return get_recipe(cfg.recipe) if cfg.recipe else None


def init_of(cfg) -> str:
    """The head and adapter init of a run (zeroi2v.create_model): its recipe's, else nn.Linear's defaults."""
    r = recipe_of(cfg)
    return r.init if r else "torch"


def train_settings(cfg):
    """The one trainer's `TrainSettings` of a resolved zeroi2v.train run: every field the recipe filled or
    a flag overrode (TrainConfig), in the "sampler" data order."""
    from zeroi2v.settings.training import TrainSettings

    return TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                         warmup_epochs=cfg.warmup_epochs, min_lr_ratio=cfg.min_lr_ratio, accum=cfg.accum,
                         label_smoothing=cfg.label_smoothing, clip_grad=cfg.clip_grad, amp=cfg.amp, seed=cfg.seed,
                         num_workers=cfg.num_workers, data_order="sampler", keep=cfg.keep, log_every=cfg.log_every,
                         progress=cfg.progress, bias_decay=cfg.bias_decay, backbone_lr_mult=cfg.backbone_lr_mult,
                         warmup_start=cfg.warmup_start, schedule=cfg.schedule,
                         iters_per_step=recipe_of(cfg).accumulation if cfg.recipe else 1)


def recipe_summary(cfg) -> str:
    """One line: the resolved recipe fields of this run."""
    keys = ("recipe", "backbone", "frames", "sampling", "interval", "stdha", "adapter_scale", "adapter_dropout",
            "head_dropout", "label_smoothing", "randaugment", "randaugment_after_flip", "crop_area", "crop_ratio",
            "short_side", "flip", "erasing", "erasing_mode", "lr", "weight_decay", "bias_decay", "warmup_epochs",
            "warmup_start", "schedule", "epochs", "batch_size", "accum", "backbone_lr_mult", "amp", "keep",
            "test_views")
    return ", ".join(f"{k}={getattr(cfg, k)}" for k in keys)
