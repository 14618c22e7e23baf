"""The recipe of a few-shot run: which one, what it fills, and the adaptation settings it gives.

`--recipe NAME` (default: the original config of the dataset and backbone,
`zeroi2v.settings.recipes.default_recipe`; "toy" on toy) runs as few-shot adaptation runs it
(`zeroi2v.settings.recipes.fewshot_recipe`: its own epoch count and one centre test view; the toy demo also
its own batch and warm-up). Everything else is the recipe's: backbone, frames, sampling, STDHA,
adapter and head settings, label smoothing, augmentation (RandAugment, crop, flip with the SSv2
label map, RandomErasing), AdamW with its decay rule, warm-up from its start factor, per-epoch
cosine, the lr multiplier and the global batch through gradient accumulation with the recipe's lr
scaling, all in one `TrainSettings` (`train_settings`). The protocol itself trains on the base
classes only and keeps the epoch with the best val-episode accuracy (FEWSHOT_CHANGES' keep="best";
fewshot/adapt.py). `--recipe none`, or a dataset without a recipe (list; ViT-L
on HMDB51/UCF101), keeps the dataset's row of zeroi2v.settings.defaults.
"""
from __future__ import annotations

import dataclasses
import os

from zeroi2v.settings.datasets import find
from zeroi2v.settings.defaults import defaults_for
from zeroi2v.settings.recipes import Recipe, batch_plan, default_recipe, fewshot_recipe, get_recipe
from zeroi2v.settings.training import TrainSettings
from zeroi2v.utils.errors import UserError


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
    test views (1 clip x centre crop); without a recipe the dataset row's sampling, one view."""
    r = run_recipe(cfg.recipe)
    if r is None:
        d = defaults_for(cfg.dataset)
        return dict(sampling=d.sampling, interval=d.interval if d.sampling == "dense" else None, num_clips=1,
                    num_crops=1)
    return dict(sampling=r.sampling, interval=r.interval, num_clips=r.test_clips, num_crops=r.test_crops)


def train_settings(cfg):
    """The adaptation's `zeroi2v.settings.training.TrainSettings`: the run recipe's
    (`Recipe.train_settings`, FEWSHOT_CHANGES applied) or, without one, the dataset's defaults row;
    then the run's resolved flags (epochs, global batch, accumulation, lr, precision, seed, workers)
    and the few-shot protocol's data order, each one field changed with `dataclasses.replace`."""
    r, d = run_recipe(cfg.recipe), defaults_for(cfg.dataset)
    if r is not None:
        base = r.train_settings(epochs=cfg.epochs, batch_size=cfg.batch_size, accum=cfg.accum, lr=cfg.lr)
    else:
        base = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, accum=cfg.accum,
                             weight_decay=d.weight_decay, warmup_epochs=d.adapt_warmup_epochs, keep=d.adapt_keep)
    # "generator": one global order for any number of processes (the few-shot batch is global)
    return dataclasses.replace(base, amp=cfg.amp, seed=cfg.seed, num_workers=cfg.num_workers, data_order="generator")


def adaptation(cfg, class_names: list[str]) -> tuple[dict, dict]:
    """(model kwargs, AdaptConfig kwargs) of the adapted methods; `class_names` of the base classes
    in label order (SSv2 recipes flip with the left/right label swap)."""
    from zeroi2v import data

    r, d = run_recipe(cfg.recipe), defaults_for(cfg.dataset)
    common = dict(keep_decoded=d.keep_decoded, train=train_settings(cfg))
    if r is None:  # the defaults row: the suite's earlier adaptation settings
        model = dict(adapter_scale=d.adapter_scale, adapter_dropout=d.adapter_dropout, head_dropout=d.head_dropout)
        flip_map = tuple(data.flip_label_map(class_names)) if d.flip and find(cfg.dataset).flip_label_map else None
        return model, dict(common, flip=0.5 if d.flip else 0.0, flip_map=flip_map, crop_area=d.crop_area)
    model = dict(adapter_ratio=r.adapter_ratio, adapter_scale=r.adapter_scale, adapter_dropout=r.adapter_dropout,
                 head_dropout=r.head_dropout, init=r.init)
    flip_map = tuple(data.flip_label_map(class_names)) if r.flip_label_map and r.flip > 0 else None
    return model, dict(common, **dict(r.augmentation_kwargs(), flip_map=flip_map))


def summary(cfg, model_kw: dict, adapt_kw: dict) -> str:
    """One line: the recipe and every adaptation setting it resolved to."""
    t = adapt_kw["train"]
    fields = dict(recipe=cfg.recipe, backbone=cfg.backbone, frames=cfg.frames, stdha=cfg.stdha, epochs=t.epochs,
                  batch_size=t.batch_size, accum=t.accum, global_batch=t.batch_size * t.accum, lr=t.lr,
                  **{k: v for k, v in dataclasses.asdict(t).items() if k not in ("epochs", "batch_size", "accum", "lr")},
                  **model_kw, **{k: v for k, v in adapt_kw.items() if k not in ("flip_map", "train")},
                  flip_label_map=adapt_kw.get("flip_map") is not None)
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def trained_fields(acfg, state: dict | None) -> dict:
    """Record fields of what adaptation did (None for an unadapted method): the kept epoch and its rule,
    the precision that ran, the learning check's warning (None when the kept epoch beat chance)."""
    if state is None:
        return dict(keep=None, tested_epoch=None, precision=None, learning_warning=None)
    learning = state.get("learning") or {}
    return dict(keep=acfg.train.keep, tested_epoch=state["best_epoch"], precision=state.get("precision"),
                learning_warning=learning.get("warning"))
