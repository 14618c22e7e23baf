"""The recipe of a few-shot run: which one, what it fills, and the adaptation settings it gives.

`--recipe NAME` (default: the original config of the dataset and backbone,
`zeroi2v.settings.recipes.default_recipe`; "toy" on toy) runs as few-shot adaptation runs it
(`zeroi2v.settings.recipes.fewshot_recipe`: its own epoch count and one centre test view; the toy demo also
its own batch and warm-up). Everything else is the recipe's: backbone, frames, sampling, STDHA,
adapter and head settings, label smoothing, augmentation (RandAugment, crop, flip with the SSv2
label map, RandomErasing), AdamW with its decay rule, warm-up from its start factor, per-epoch
cosine, the lr multiplier and the global batch through gradient accumulation with the recipe's lr
scaling. The protocol itself trains on the base classes only and keeps the epoch with the best
val-episode accuracy (fewshot/adapt.py). `--recipe none`, or a dataset without a recipe (list; ViT-L
on HMDB51/UCF101), keeps the dataset's row of zeroi2v.settings.defaults.
"""
from __future__ import annotations

import os

from zeroi2v.settings.datasets import find
from zeroi2v.settings.defaults import defaults_for
from zeroi2v.utils.errors import UserError
from zeroi2v.settings.recipes import Recipe, batch_plan, default_recipe, fewshot_recipe, get_recipe, warmup_for


def recipe_name(dataset: str, backbone: str | None, given: str | None) -> str | None:
    """The resolved --recipe: the given name ("none" kept), or the dataset's and backbone's default
    (None where there is none); a recipe of another dataset is one line."""
    if given is None:
        return default_recipe(dataset, backbone)
    if given == "none":
        return given
    r = get_recipe(given)
    if dataset != "list" and r.dataset != find(dataset).name:
        raise UserError(f"--recipe {given} is for {r.dataset} videos, not {dataset}; pick a recipe of "
                        f"{find(dataset).name} (--list-recipes) or --recipe none")
    return given


def run_recipe(name: str | None) -> Recipe | None:
    """The recipe few-shot adaptation runs (FEWSHOT_CHANGES applied), or None (the defaults row)."""
    return None if name in (None, "none") else fewshot_recipe(get_recipe(name))


def fill(cfg, *, dataset: str, name: str | None) -> dict:
    """The RunConfig fields the recipe (or the defaults row) fills where the flag was not given."""
    r, d = run_recipe(name), defaults_for(dataset)
    epochs = cfg.epochs or (r.epochs if r else d.adapt_epochs)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's; the few-shot batch is global, split over ranks
    per_rank = min(r.batch_per_gpu, max(1, r.global_batch // world)) if r else None
    batch = cfg.batch_size or (world * per_rank if r else d.adapt_batch_size)
    if r is None:
        accum, lr = cfg.accum or 1, cfg.lr or d.lr
    else:
        accum, lr, _ = batch_plan(r, batch_size=batch, accum=cfg.accum, lr=cfg.lr)
    return dict(frames=cfg.frames or (r.frames if r else d.frames), stdha=cfg.stdha or (r.stdha if r else d.stdha),
                epochs=epochs, batch_size=batch, accum=accum, lr=lr)


def view_settings(cfg) -> dict:
    """ViewConfig fields of training and test clips: the recipe's sampling (K400: dense 8x16) and its few-shot
    test views (1 clip x centre crop); without a recipe uniform sampling, one view."""
    r = run_recipe(cfg.recipe)
    if r is None:
        return dict(sampling="uniform", interval=None, num_clips=1, num_crops=1)
    return dict(sampling=r.sampling, interval=r.interval, num_clips=r.test_clips, num_crops=r.test_crops)


def adaptation(cfg, class_names: list[str]) -> tuple[dict, dict]:
    """(model kwargs, AdaptConfig kwargs) of the adapted methods; `class_names` of the base classes
    in label order (SSv2 recipes flip with the left/right label swap)."""
    from zeroi2v import data

    r, d = run_recipe(cfg.recipe), defaults_for(cfg.dataset)
    common = dict(keep_decoded=d.keep_decoded, select=d.select)
    if r is None:  # the defaults row: the suite's earlier adaptation settings
        model = dict(adapter_scale=d.adapter_scale, adapter_dropout=d.adapter_dropout, head_dropout=d.head_dropout)
        flip_map = tuple(data.flip_label_map(class_names)) if d.flip and find(cfg.dataset).flip_label_map else None
        return model, dict(common, flip=0.5 if d.flip else 0.0, flip_map=flip_map, crop_area=d.crop_scale,
                           warmup_epochs=d.adapt_warmup_epochs, weight_decay=d.weight_decay)
    model = dict(adapter_ratio=r.adapter_ratio, adapter_scale=r.adapter_scale, adapter_dropout=r.adapter_dropout,
                 head_dropout=r.head_dropout)
    flip_map = tuple(data.flip_label_map(class_names)) if r.flip_label_map and r.flip > 0 else None
    return model, dict(
        common, weight_decay=r.weight_decay, warmup_epochs=warmup_for(r, cfg.epochs), label_smoothing=r.label_smoothing,
        bias_decay=r.bias_decay, warmup_start=r.warmup_start, schedule=r.trainer_schedule,
        backbone_lr_mult=r.backbone_lr_mult, **dict(r.augmentation_kwargs(), flip_map=flip_map))


def summary(cfg, model_kw: dict, adapt_kw: dict) -> str:
    """One line: the recipe and every adaptation setting it resolved to."""
    fields = dict(recipe=cfg.recipe, backbone=cfg.backbone, frames=cfg.frames, stdha=cfg.stdha, epochs=cfg.epochs,
                  batch_size=cfg.batch_size, accum=cfg.accum, global_batch=cfg.batch_size * cfg.accum, lr=cfg.lr,
                  **model_kw, **{k: v for k, v in adapt_kw.items() if k != "flip_map"},
                  flip_label_map=adapt_kw.get("flip_map") is not None)
    return ", ".join(f"{k}={v}" for k, v in fields.items())
