"""Stage a: adapt ZeroI2V on the base (train) classes, select the epoch on val few-shot accuracy.

Adaptation is training: it runs through the one trainer (`zeroi2v.trainer.fit`) -- same engine,
checkpoint format, resume rule and per-epoch metrics as `zeroi2v.train`. What is few-shot specific
is the epoch-end hook: the val split (classes disjoint from the base classes, as in every few-shot
benchmark) is embedded and scored with the prototype protocol on a fixed set of val episodes, and
the best epoch's trainables are kept (`select="val"`; "last" keeps the last epoch).
`<out>/last.pt` is written atomically every epoch, so an interrupted run continues with --resume
and ends with the same weights; a checkpoint of another model (backbone, timm kwargs, frames,
STDHA offsets, pretrained weights, method) or another adaptation config is refused in one line.
Under torchrun (process group initialised by the program) adaptation is data-parallel and rank 0
writes. Per-epoch metrics: `<out>/metrics.csv` and `<out>/metrics.jsonl`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from episodes.protocols import episode_indices, mean_ci95, prototype_from_table, similarity_table
from zeroi2v.checkpoint_state import disk_errors
from zeroi2v.defaults import defaults_for
from zeroi2v.errors import UserError

from .embed import ViewConfig, batch_features

log = logging.getLogger("fewshot")
_REAL = defaults_for("hmdb51")


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = _REAL.adapt_epochs
    batch_size: int = _REAL.adapt_batch_size
    lr: float = _REAL.lr
    weight_decay: float = _REAL.weight_decay
    warmup_epochs: float = _REAL.adapt_warmup_epochs
    label_smoothing: float = 0.0
    select: str = "val"  # "val": the epoch with the best val few-shot accuracy; "last": the last epoch
    val_episodes: int = 1000
    ways: int = 5
    shots: int = 5
    num_workers: int = 0
    seed: int = 0
    keep_decoded: bool = False  # small datasets (toy): decode every video once and keep it in memory
    flip: bool = True  # horizontal flip (with flip_map for direction-labelled classes)
    flip_map: tuple[int, ...] | None = None
    crop_scale: tuple[float, float] = _REAL.crop_scale


def val_accuracy(model, loader, row_of: dict[str, int], val_episodes, *, device) -> float:
    """Prototype accuracy (%) of the current model on the fixed val episodes."""
    feats = torch.cat(list(batch_features(model, loader, device=device, desc="val embed")))
    sup, qry = episode_indices(row_of, val_episodes)
    return mean_ci95(prototype_from_table(similarity_table(feats), sup, qry))[0]


def model_identity(model) -> dict:
    """What the model itself says it is (used when the caller gives no identity)."""
    return dict(backbone=getattr(model, "backbone_name", None), timm_kwargs=getattr(model, "timm_kwargs", None),
                frames=getattr(model, "num_frames", None), stdha=list(getattr(model, "stdha_offsets", []) or []),
                adapters=getattr(model, "adapter_config", None), num_classes=getattr(model, "num_classes", None))


def adapt(model, *, train_items, val_items, val_episodes, view: ViewConfig, cfg: AdaptConfig, out_dir: Path,
          device: str = "cpu", resume: bool = False, identity: dict | None = None, on_error: str = "error",
          amp: str = "auto", tracker=None) -> dict:
    """Train `model` in place; load the kept epoch's trainables into it; return the trainer's state.

    identity: the model's identity for the resume key (backbone, timm_kwargs, frames, stdha offsets,
    pretrained_sha256, method); the model's own description and frozen-weight fingerprint are always
    added. on_error: "skip" replaces unreadable base/val videos by the next readable one (logged).
    """
    from zeroi2v import data
    from zeroi2v.trainer import FitConfig, fit

    if cfg.select not in ("val", "last"):
        raise UserError(f"select {cfg.select!r}: use val or last")
    out_dir = Path(out_dir)
    with disk_errors(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    torch.manual_seed(cfg.seed)
    ds = data.VideoClipDataset(train_items, num_frames=view.num_frames, size=view.size, train=True,
                               mean=view.mean, std=view.std, seed=cfg.seed, flip=cfg.flip,
                               flip_map=list(cfg.flip_map) if cfg.flip_map else None, scale=cfg.crop_scale,
                               keep_decoded=cfg.keep_decoded, on_error=on_error)
    if len(ds) < cfg.batch_size:
        raise UserError(f"batch size {cfg.batch_size} is larger than the {len(ds)} base-class videos; "
                        f"lower --batch-size")
    val_ds = data.VideoClipDataset(val_items, num_frames=view.num_frames, size=view.size, train=False,
                                   mean=view.mean, std=view.std, keep_decoded=cfg.keep_decoded, on_error=on_error)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    val_rows = {it.video_id: r for r, it in enumerate(val_items)}
    metric = f"val_{cfg.ways}w{cfg.shots}s_prototype_acc"

    def score_val(epoch: int, m) -> dict:
        return dict(val_metric=val_accuracy(m, val_loader, val_rows, val_episodes, device=device),
                    val_metric_name=metric)

    fcfg = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                     warmup_epochs=cfg.warmup_epochs, label_smoothing=cfg.label_smoothing, amp=amp, seed=cfg.seed,
                     num_workers=cfg.num_workers, data_order="generator",
                     select="max" if cfg.select == "val" else "last", progress=True)
    ident = dict(model_identity(model), **(identity or {}),
                 adapt=dict(val_episodes=cfg.val_episodes, ways=cfg.ways, shots=cfg.shots,
                            keep_decoded=cfg.keep_decoded, flip=cfg.flip, flip_map=cfg.flip_map,
                            crop_scale=cfg.crop_scale, train_videos=len(train_items), val_videos=len(val_items)))
    from zeroi2v.tracking import Tracker

    tracker = tracker if tracker is not None else Tracker(out_dir)  # <out>/<method>/metrics.csv, .jsonl
    state = fit(model, ds, fcfg, out_dir=out_dir, device=device, identity=ident, resume=resume,
                checkpoint_name="last.pt", on_epoch_end=score_val, tracker=tracker, log=log.info)
    skipped = len(ds.skipped) + len(val_ds.skipped)
    if skipped:
        log.warning("adaptation skipped %d unreadable video reads in this process (--on-error skip)", skipped)
    kept = state["history"][state["best_epoch"] - 1]
    log.info("adaptation done: kept epoch %d (%s; val acc %.2f%%)", state["best_epoch"],
             "best val" if cfg.select == "val" else "last", kept["val_metric"])
    return state
