"""Stage a: adapt ZeroI2V on the base (train) classes, select the epoch on val few-shot accuracy.

Trains adapters, temporal embedding, final norm and a head over the base classes with
cross-entropy (`zeroi2v.engine.train_one_epoch`). After every epoch the val split -- whose
classes are disjoint from the base classes, as in every few-shot benchmark -- is embedded and
scored with the prototype protocol on a fixed set of val episodes; the best epoch's trainables
are kept. `last.pt` (trainables, optimiser, scheduler, RNG states, epoch, history) is written
atomically every epoch, so an interrupted run continues with --resume and ends with the same
weights.
"""
from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zeroi2v.io import atomic_torch_save, sha256_json

from .embed import ViewConfig, batch_features
from episodes.protocols import episode_indices, mean_ci95, prototype_from_table, similarity_table

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
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
    crop_scale: tuple[float, float] = (0.25, 1.0)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def rng_state() -> dict:
    return dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def val_accuracy(model, loader, row_of: dict[str, int], val_episodes, *, device) -> float:
    """Prototype accuracy (%) of the current model on the fixed val episodes."""
    feats = torch.cat(list(batch_features(model, loader, device=device, desc="val embed")))
    sup, qry = episode_indices(row_of, val_episodes)
    return mean_ci95(prototype_from_table(similarity_table(feats), sup, qry))[0]


def adapt(model, *, train_items, val_items, val_episodes, view: ViewConfig, cfg: AdaptConfig, out_dir: Path,
          device: str = "cpu", resume: bool = False) -> dict:
    """Train `model` in place; load the best epoch's trainables into it; return the history."""
    from zeroi2v import data
    from zeroi2v.engine import train_one_epoch
    from zeroi2v.optim import build_optimizer, warmup_cosine

    out_dir.mkdir(parents=True, exist_ok=True)
    key = sha256_json(dataclasses.asdict(cfg))
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    model.to(device)
    torch.manual_seed(cfg.seed)
    ds = data.VideoClipDataset(train_items, num_frames=view.num_frames, size=view.size, train=True,
                               mean=view.mean, std=view.std, seed=cfg.seed, flip=cfg.flip,
                               flip_map=list(cfg.flip_map) if cfg.flip_map else None, scale=cfg.crop_scale,
                               keep_decoded=cfg.keep_decoded)
    if len(ds) < cfg.batch_size:
        from zeroi2v.errors import UserError
        raise UserError(f"batch size {cfg.batch_size} is larger than the {len(ds)} base-class videos; "
                        f"lower --batch-size")
    val_ds = data.VideoClipDataset(val_items, num_frames=view.num_frames, size=view.size, train=False,
                                   mean=view.mean, std=view.std, keep_decoded=cfg.keep_decoded)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    val_rows = {it.video_id: r for r, it in enumerate(val_items)}
    steps_per_epoch = len(ds) // cfg.batch_size
    optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = warmup_cosine(optimizer, warmup_steps=int(cfg.warmup_epochs * steps_per_epoch),
                              total_steps=cfg.epochs * steps_per_epoch)
    state = dict(epoch=0, history=[], best_acc=-1.0, best_epoch=-1)
    if resume and last_path.is_file():
        ckpt = torch.load(last_path, map_location="cpu", weights_only=False)
        if ckpt["key"] == key:
            model.load_state_dict(ckpt["trainables"], strict=False)
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"])
            state = ckpt["state"]
            log.info("resumed adaptation from %s after epoch %d", last_path, state["epoch"])
        else:
            log.warning("%s was written with another configuration; adapting from scratch", last_path)
    for epoch in range(state["epoch"], cfg.epochs):
        ds.set_epoch(epoch)
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # data order from (seed, epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                             generator=g, num_workers=cfg.num_workers)
        stats = train_one_epoch(model, loader, optimizer, scheduler, device=device, epoch=epoch,
                                label_smoothing=cfg.label_smoothing,
                                amp_dtype=torch.bfloat16 if str(device).startswith("cuda") else None)
        acc = val_accuracy(model, val_loader, val_rows, val_episodes, device=device)
        log.info("epoch %d: train loss %.3f, train acc %.1f%%, val %d-way %d-shot prototype acc %.2f%%",
                 epoch, stats["loss"], stats["acc"], cfg.ways, cfg.shots, acc)
        state["history"].append(dict(epoch=epoch, loss=stats["loss"], train_acc=stats["acc"], val_acc=acc))
        if acc > state["best_acc"] or cfg.select == "last":
            state.update(best_acc=acc, best_epoch=epoch)
            atomic_torch_save(trainable_state(model), best_path)
        state["epoch"] = epoch + 1
        atomic_torch_save(dict(key=key, trainables=trainable_state(model), optimizer=optimizer.state_dict(),
                               scheduler=scheduler.state_dict(), rng=rng_state(), state=state), last_path)
    model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True), strict=False)
    log.info("adaptation done: kept epoch %d (%s; val acc %.2f%%); read %s", state["best_epoch"],
             "best val" if cfg.select == "val" else "last", state["history"][state["best_epoch"]]["val_acc"], best_path)
    return state
