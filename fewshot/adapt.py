"""Stage a: adapt ZeroI2V on the base (train) classes, select the epoch on val few-shot accuracy.

Adaptation is training: it runs through the one trainer (`zeroi2v.training.trainer.fit`) -- same engine,
checkpoint format, resume rule and per-epoch metrics as `zeroi2v.train`. What is few-shot specific
is the epoch-end hook: the val split (classes disjoint from the base classes, as in every few-shot
benchmark) is embedded and scored with the prototype protocol on a fixed set of val episodes, and
the best epoch's trainables are kept (`keep="best"`; "last" keeps the last epoch).
`<out>/checkpoint.pt` is written atomically every epoch, so an interrupted run continues with --resume
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
from zeroi2v.settings.defaults import DatasetDefaults
from zeroi2v.settings.training import TrainSettings
from zeroi2v.training.checkpoint_state import disk_errors
from zeroi2v.utils.errors import UserError

from .embed import ViewConfig, readable_features

log = logging.getLogger("fewshot")
_REAL = DatasetDefaults()  # the real-data row


@dataclass(frozen=True)
class AdaptConfig:
    """One adaptation: the one trainer's settings (`train`, its recipe's: fewshot/recipe.py), the
    augmentation of its recipe, and the few-shot protocol's own settings (val episodes). `train.keep`
    "best" keeps the epoch with the best val few-shot accuracy, "last" the last epoch; `train.batch_size`
    is the global micro-batch (split over torchrun processes)."""

    train: TrainSettings = TrainSettings(epochs=_REAL.adapt_epochs, batch_size=_REAL.adapt_batch_size, lr=_REAL.lr,
                                         weight_decay=_REAL.weight_decay, warmup_epochs=_REAL.adapt_warmup_epochs,
                                         keep=_REAL.adapt_keep, data_order="generator")
    val_episodes: int = 1000
    ways: int = 5
    shots: int = 5
    keep_decoded: bool = False  # small datasets (toy): decode every video once and keep it in memory
    # training clips (zeroi2v.data.VideoClipDataset): flip probability (flip_map: left/right classes swapped)
    flip: float = 0.5
    flip_map: tuple[int, ...] | None = None
    crop_area: tuple[float, float] = _REAL.crop_area
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    short_side: int | None = None
    randaugment: tuple[int, int] | None = None  # (magnitude, layers)
    randaugment_after_flip: bool = False
    erasing: float = 0.0
    erasing_mode: str | None = None

    def train_data_kwargs(self) -> dict:
        """The augmentation keyword arguments of the training VideoClipDataset."""
        return dict(flip=self.flip, flip_map=list(self.flip_map) if self.flip_map else None, crop_area=self.crop_area,
                    crop_ratio=self.crop_ratio, short_side=self.short_side, randaugment=self.randaugment,
                    randaugment_after_flip=self.randaugment_after_flip, erasing=self.erasing,
                    erasing_mode=self.erasing_mode, keep_decoded=self.keep_decoded)


def val_accuracy(model, val_ds, val_episodes, *, device, batch_size: int, num_workers: int = 0,
                 on_error: str = "error", amp: str = "auto", report=None) -> float:
    """Prototype accuracy (%) of the current model on the fixed val episodes. An unreadable val video
    (on_error="skip") gets no features and the episodes that need it are dropped, as for the test
    episodes (fewshot.evaluate.answerable); `report(skipped_ids, dropped)` hears of them."""
    from .evaluate import answerable

    feats, rows, bad = readable_features(model, val_ds, batch_size=batch_size, num_workers=num_workers,
                                         device=device, amp=amp, on_error=on_error, desc="val embed")
    row_of = {val_ds.items[k].video_id: r for r, k in enumerate(rows)}
    episodes, dropped = answerable(list(val_episodes), row_of)
    skipped = [val_ds.items[k].video_id for k in sorted(bad)]
    if report is not None and bad:
        report(skipped, dropped)
    if not episodes:
        raise UserError(f"every one of the {len(val_episodes)} val episodes needs one of the {len(skipped)} "
                        f"unreadable val videos (first: {skipped[0]}); fix the videos")
    sup, qry = episode_indices(row_of, episodes)
    return mean_ci95(prototype_from_table(similarity_table(feats), sup, qry))[0]


def model_identity(model) -> dict:
    """What the model itself says it is (used when the caller gives no identity)."""
    return dict(backbone=getattr(model, "backbone_name", None), timm_kwargs=getattr(model, "timm_kwargs", None),
                frames=getattr(model, "num_frames", None), stdha=list(getattr(model, "stdha_offsets", []) or []),
                adapters=getattr(model, "adapter_config", None), num_classes=getattr(model, "num_classes", None))


def fit_config(cfg: AdaptConfig) -> TrainSettings:
    """The one trainer's settings of an adaptation: `cfg.train` (few-shot order: "generator")."""
    if cfg.train.data_order != "generator":
        raise ValueError("few-shot adaptation trains in the 'generator' data order (one global order)")
    return cfg.train


def adapt_key(cfg: AdaptConfig, train_items, val_items) -> dict:
    return dict(val_episodes=cfg.val_episodes, ways=cfg.ways, shots=cfg.shots, **cfg.train_data_kwargs(),
                train_videos=len(train_items), val_videos=len(val_items))


def checkpoint_name(out_dir: Path) -> str:
    """The method folder's training state: checkpoint.pt (every program's name), or the last.pt of a run
    written before the names were the same (kept so such a run still resumes)."""
    from zeroi2v.settings.runfolder import CHECKPOINT

    old = Path(out_dir) / "last.pt"
    return "last.pt" if old.is_file() and not (Path(out_dir) / CHECKPOINT).exists() else CHECKPOINT


def check_adapt_resume(out_dir: Path, *, cfg: AdaptConfig, identity: dict, train_items,
                       val_items) -> None:
    """--resume pre-flight (before the run writes anything): <out_dir>/checkpoint.pt, when present, must be
    readable and of the same adaptation config and of the `identity` keys known before the model is
    built (backbone, timm kwargs, frames, method); one line otherwise. adapt() checks it all again."""
    from zeroi2v.training.trainer import precheck_resume

    precheck_resume(Path(out_dir) / checkpoint_name(out_dir), fit_config(cfg),
                    identity=dict(identity, adapt=adapt_key(cfg, train_items, val_items)))


def adapt(model, *, train_items, val_items, val_episodes, view: ViewConfig, cfg: AdaptConfig, out_dir: Path,
          device: str = "cpu", resume: bool = False, identity: dict | None = None, on_error: str = "error",
          amp: str = "auto", tracker=None) -> dict:
    """Train `model` in place; load the kept epoch's trainables into it; return the trainer's state.

    identity: the model's identity for the resume key (backbone, timm_kwargs, frames, stdha offsets,
    pretrained_sha256, method); the model's own description and frozen-weight fingerprint are always
    added. on_error "skip": an unreadable base video is replaced by the next readable one in training
    (logged); an unreadable val video gets no features and the val episodes needing it are dropped
    (logged; counted in the returned state's `val_skipped`).
    """
    from zeroi2v import data
    from zeroi2v.training.trainer import fit

    t = fit_config(cfg)
    out_dir = Path(out_dir)
    with disk_errors(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    torch.manual_seed(t.seed)
    ds = data.VideoClipDataset(train_items, **dict(view.dataset_kwargs(), train=True), seed=t.seed,
                               on_error=on_error, **cfg.train_data_kwargs())
    if len(ds) < t.batch_size * t.accum:
        raise UserError(f"a global batch of {t.batch_size} x {t.accum} accum is larger than the {len(ds)} "
                        f"base-class videos; lower --batch-size or --accum")
    val_ds = data.VideoClipDataset(val_items, **view.dataset_kwargs(), keep_decoded=cfg.keep_decoded,
                                   on_error=on_error)
    metric = f"val_{cfg.ways}w{cfg.shots}s_prototype_acc"
    val_skips: dict = {}

    def report(skipped: list[str], dropped: int) -> None:
        if val_skips.get("last") != (skipped, dropped):
            log.warning("val: %d unreadable video(s) skipped (no features; first: %s); dropped %d of %d val "
                        "episodes that need one, the epoch is selected on the %d kept", len(skipped), skipped[0],
                        dropped, len(val_episodes), len(val_episodes) - dropped)
        val_skips.update(last=(skipped, dropped), videos=len(skipped), episodes_dropped=dropped)

    def score_val(epoch: int, m) -> dict:
        return dict(val_metric=val_accuracy(m, val_ds, val_episodes, device=device, batch_size=t.batch_size,
                                            num_workers=t.num_workers, on_error=on_error, amp=amp, report=report),
                    val_metric_name=metric)

    ident = dict(model_identity(model), **(identity or {}), adapt=adapt_key(cfg, train_items, val_items))
    from zeroi2v.training.tracking import Tracker

    tracker = tracker if tracker is not None else Tracker(out_dir)  # <out>/<method>/metrics.csv, .jsonl
    state = fit(model, ds, t, out_dir=out_dir, device=device, identity=ident, resume=resume,
                checkpoint_name=checkpoint_name(out_dir), on_epoch_end=score_val, tracker=tracker, log=log.info)
    if ds.skipped:
        log.warning("adaptation skipped %d unreadable base-video reads in this process (--on-error skip)",
                    len(ds.skipped))
    state["val_skipped"] = dict(videos=val_skips.get("videos", 0),
                                episodes_dropped=val_skips.get("episodes_dropped", 0))
    kept = state["history"][state["best_epoch"] - 1]
    log.info("adaptation done: kept epoch %d (%s; val acc %.2f%%)", state["best_epoch"],
             "best val" if t.keep == "best" else "last", kept["val_metric"])
    return state
