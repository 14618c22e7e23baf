"""The one trainer: full-supervised training (`zeroi2v.train`) and few-shot adaptation (`fewshot`).

    state = fit(model, train_dataset, FitConfig(epochs=30, batch_size=8, lr=3e-4), out_dir=out,
                device=dev, identity=dict(backbone=..., pretrained_sha256=...), resume=True,
                on_epoch_end=score_val)

Per epoch: the loader's order is set from (seed, epoch) (`data_order`), one pass of
`zeroi2v.training.engine.train_one_epoch` (AdamW, linear warm-up then cosine, gradient accumulation,
autocast), the `on_epoch_end(epoch, model)` hook (e.g. val accuracy: its `val_metric` can select
the kept epoch, `keep="best"`), then `<out>/<checkpoint_name>` is written atomically (the
`zeroi2v.training.checkpoint_state` format: trainables, optimiser, scheduler, scaler, every rank's RNG
states, history, best epoch) and `<out>/metrics.csv`/`.jsonl` (`zeroi2v.training.tracking`).

Resume: with `resume=True` and a checkpoint present, the run continues bit-exactly from it --
after `check_resume` confirmed the same model identity (`identity` + the frozen-weight fingerprint)
and the same training config (all fields but `epochs`, `num_workers`, `log_every`, `progress`).

Under torchrun (a process group initialised by the program) the model is wrapped in
DistributedDataParallel, data are sharded (DistributedSampler, or the "generator" order's global
batches split over ranks), metrics are all-reduced, and only rank 0 writes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch

from zeroi2v.training import distributed as D
from zeroi2v.training import engine
from zeroi2v.training.checkpoint_state import (check_resume, frozen_fingerprint, load_state, rng_state, save_state, set_rng_state,
                               trainable_state)
from zeroi2v.settings.training import AMP, TrainSettings
from zeroi2v.utils.errors import UserError
from zeroi2v.training.optim import build_optimizer, schedule

FitConfig = TrainSettings  # the trainer's name for its settings (zeroi2v.settings.training)


def amp_dtype(amp: str, device: torch.device | str) -> torch.dtype | None:
    """Autocast dtype of an `--amp` mode on a device. On CUDA: auto and fp16 = float16 with loss scaling
    (the original recipes' AmpOptimWrapper, mmengine's default dtype float16: MCG-NJU/ZeroI2V
    configs/recognition/vit_zero_clip/*.py `optim_wrapper.type='GradMonitorAmpOptimWrapper'`), bf16
    only when asked, none = float32. Elsewhere (CPU): None, float32, whatever the mode."""
    if amp not in AMP:
        raise UserError(f"--amp {amp!r}: use one of {', '.join(AMP)}")
    if torch.device(device).type != "cuda" or amp == "none":
        return None
    return torch.bfloat16 if amp == "bf16" else torch.float16


def precision_name(dtype: torch.dtype | None) -> str:
    """What a run's records say ran: "fp16" (with loss scaling), "bf16" or "fp32"."""
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")


def seed_worker(worker_id: int) -> None:
    import random

    import numpy as np

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def generator_batches(n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0,
                      world_size: int = 1) -> list[list[int]]:
    """The "generator" data order: this rank's index batches of one epoch.

    One global order for any number of processes: the permutation of a generator seeded
    seed*1000+epoch, the last partial global batch dropped, and rank r taking the r-th of
    `world_size` equal slices of every global batch. DDP's gradient mean over ranks of per-rank
    mean losses is then the one-process mean loss of the same global batch. The permutation comes
    after two int64 draws from the generator: the order the former one-process loader,
    `DataLoader(shuffle=True, drop_last=True, generator=g)`, had under the tqdm.auto progress bar
    (which iterates it twice: two worker base seeds drawn before the permutation), so earlier
    few-shot runs keep their numbers.
    """
    if batch_size % world_size:
        raise UserError(f"batch size {batch_size} is not divisible by the {world_size} processes; use a batch "
                        f"size that is a multiple of {world_size}")
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    for _ in range(2):  # the former loader's two base-seed draws (see above)
        torch.empty((), dtype=torch.int64).random_(generator=g)
    perm = torch.randperm(n, generator=g)[: n // batch_size * batch_size]  # (n_batches * B,)
    m = batch_size // world_size  # per-rank micro-batch
    return perm.view(-1, world_size, m)[:, rank].tolist()  # (n_batches, m)


class _EpochKeys(torch.utils.data.Sampler):
    """The indices of `sampler`, each as the key (epoch, index): the epoch travels with the index, so
    (persistent) DataLoader workers key augmentation by (seed, epoch, index) without `set_epoch`."""

    def __init__(self, sampler) -> None:
        self.sampler, self.epoch = sampler, 0

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        return ((self.epoch, i) for i in self.sampler)


class _GeneratorBatches(torch.utils.data.Sampler):
    """The "generator" order's index batches of the current `epoch` (`generator_batches`), keyed as
    (epoch, index) when `keyed`."""

    def __init__(self, n: int, cfg: FitConfig, *, keyed: bool) -> None:
        self.n, self.cfg, self.keyed, self.epoch = n, cfg, keyed, 0

    def __len__(self) -> int:
        return self.n // self.cfg.batch_size

    def __iter__(self):
        batches = generator_batches(self.n, self.cfg.batch_size, seed=self.cfg.seed, epoch=self.epoch,
                                    rank=D.get_rank(), world_size=D.get_world_size())
        return iter([[(self.epoch, i) for i in b] for b in batches] if self.keyed else batches)


class EpochLoader:
    """The one training DataLoader, ordered each epoch by (seed, epoch) as `cfg.data_order` says.

    A dataset with `epoch_keyed = True` (VideoClipDataset) gets (epoch, index) keys and persistent
    workers (num_workers > 0); any other dataset gets plain indices, and `set_epoch(epoch)` when it has
    one (then its workers are not persistent, so they see the epoch)."""

    def __init__(self, dataset, cfg: FitConfig, device: torch.device) -> None:
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        if cfg.data_order not in ("sampler", "generator"):
            raise ValueError(f"data_order {cfg.data_order!r}: use sampler or generator")
        self.dataset, self.cfg = dataset, cfg
        self.keyed = bool(getattr(dataset, "epoch_keyed", False))
        persistent = cfg.num_workers > 0 and (self.keyed or not hasattr(dataset, "set_epoch"))
        kw = dict(num_workers=cfg.num_workers, pin_memory=device.type == "cuda", persistent_workers=persistent)
        self.sampler = None
        if cfg.data_order == "sampler":
            self.sampler = DistributedSampler(dataset, num_replicas=D.get_world_size(), rank=D.get_rank(),
                                              shuffle=True, seed=cfg.seed, drop_last=False)
            self.order = _EpochKeys(self.sampler) if self.keyed else None
            self.loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=self.order or self.sampler,
                                     generator=torch.Generator(), worker_init_fn=seed_worker, **kw)
        else:
            if cfg.batch_size % D.get_world_size():
                generator_batches(0, cfg.batch_size, seed=0, epoch=0, world_size=D.get_world_size())  # the one line
            self.order = _GeneratorBatches(len(dataset), cfg, keyed=self.keyed)
            self.loader = DataLoader(dataset, batch_sampler=self.order, generator=torch.Generator(), **kw)

    def __len__(self) -> int:
        return len(self.loader)

    def for_epoch(self, epoch: int):
        """epoch: 0-based. Sets the augmentation epoch, the data order and the worker seeds."""
        if not self.keyed and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)  # augmentation from (seed, epoch, index)
        if self.order is not None:
            self.order.epoch = epoch  # (epoch, index) keys; the generator order's batches
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)  # data order from (seed, epoch)
            self.loader.generator.manual_seed(self.cfg.seed + epoch)  # worker seeds from (seed, epoch)
        else:
            self.loader.generator.manual_seed(self.cfg.seed * 1000 + epoch)
        return self.loader


def _restore(ck: dict, *, model, optimizer, scheduler, scaler, seed: int, log) -> None:
    """Load a checked checkpoint's trainables, optimiser, scheduler, scaler and this rank's RNG states."""
    missing = [k for k, p in model.named_parameters() if p.requires_grad and k not in ck["model"]]
    if missing:
        raise KeyError(f"no trainable weight {missing[0]}")
    model.load_state_dict(ck["model"], strict=False)
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    if scaler is not None and ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    rank = D.get_rank()
    if ck.get("world_size") == D.get_world_size():
        set_rng_state(ck["rng"][rank])
    else:
        log(f"checkpoint was written by {ck.get('world_size')} processes, now {D.get_world_size()}: RNG states "
            f"restored from rank 0 only (results will not match an uninterrupted run bit for bit)")
        set_rng_state(ck["rng"][0])
        torch.manual_seed(seed + 1000 * ck["epoch"] + rank)


def resume_key(cfg: TrainSettings) -> dict[str, Any]:
    """The training settings a resumed run must share with its checkpoint."""
    return cfg.resume_key()


def precheck_resume(path: str | Path, cfg: FitConfig, *, identity: dict[str, Any] | None = None,
                    ck: dict | None = None) -> dict | None:
    """Read (unless `ck`, its loaded state, is given) and check a resume checkpoint before any work (None
    when there is none): the same one line as `fit` for an unreadable file, another training config, or
    another value of a key of the (partial) `identity` known so far -- `fit` checks the whole identity
    again once the model exists."""
    path = Path(path)
    if ck is None:
        if not path.is_file():
            return None
        ck = load_state(path)
    old = ck.get("identity") if isinstance(ck.get("identity"), dict) else {}
    known = dict(identity or {})
    check_resume(path, ck, identity={**known, **{k: v for k, v in old.items() if k not in known}},
                 config=resume_key(cfg))
    return ck


def log_main(msg: str) -> None:
    """Print one `[train]` line from rank 0 (the trainer's and zeroi2v.train's log)."""
    if D.is_main():
        print(f"[train] {msg}", flush=True)


def _learning(model, state: dict) -> dict | None:
    """The binomial check of the kept epoch's train accuracy (zeroi2v.training.learned); None without a
    classifier head or a count of training clips."""
    from zeroi2v.training.learned import learning_check

    head = getattr(engine.unwrap(model), "head", None)
    if not isinstance(head, torch.nn.Linear) or head.out_features < 2 or state["best_epoch"] is None:
        return None
    row = state["history"][state["best_epoch"] - 1]
    if not row.get("train_clips"):
        return None
    return dict(learning_check(train_acc=row["train_acc"], clips=row["train_clips"], num_classes=head.out_features,
                               epoch=state["best_epoch"]), epoch=state["best_epoch"])


def fit(model: torch.nn.Module, train_dataset, cfg: FitConfig, *, out_dir: str | Path, device: torch.device | str,
        identity: dict[str, Any], resume: bool = False, checkpoint_name: str = "checkpoint.pt",
        on_start: Callable[[dict], None] | None = None,
        on_epoch_end: Callable[[int, torch.nn.Module], dict | None] | None = None,
        tracker=None, log: Callable[[str], None] = log_main) -> dict[str, Any]:
    """Train `model` (already on `device`) in place; returns epoch, step, history, best_epoch, best_metric.

    `on_start(state)` runs once the checkpoint (if resuming) was checked and loaded, before the first
    epoch: the place for the caller's first writes, so a refused resume changes no file.
    `on_epoch_end(epoch, model)` (epoch 1-based, the plain module) may return a dict merged into the
    epoch's history row, e.g. dict(val_metric=..., val_metric_name=...). With keep="best" the epoch
    with the highest val_metric is written to <out_dir>/best.pt (the first of equal ones) and loaded
    into `model` at the end; the best-so-far epoch and metric travel in the checkpoint, so a resumed
    run keeps the same one. The returned state's `precision` says what ran (fp16/bf16/fp32).
    """
    device = torch.device(device)
    out_dir = Path(out_dir)
    ckpt_path, best_path = out_dir / checkpoint_name, out_dir / "best.pt"
    loader = EpochLoader(train_dataset, cfg, device)
    if len(loader) == 0:
        raise ValueError("the training loader is empty (batch larger than the data?)")
    steps_per_epoch = math.ceil(len(loader) / cfg.accum)
    optimizer = build_optimizer(model, cfg)
    scheduler = schedule(optimizer, cfg, steps_per_epoch=steps_per_epoch)
    dtype = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    identity = dict(identity, frozen_fingerprint=frozen_fingerprint(model))
    config = resume_key(cfg)

    state: dict[str, Any] = dict(epoch=0, step=0, history=[], best_epoch=None, best_metric=None)
    if resume and ckpt_path.is_file():
        ck = load_state(ckpt_path)
        check_resume(ckpt_path, ck, identity=identity, config=config)
        try:
            _restore(ck, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, seed=cfg.seed, log=log)
            state = {k: ck[k] for k in state}
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
            raise UserError(f"{ckpt_path} is incomplete or damaged ({type(e).__name__}: {str(e)[:100]}); use a new "
                            f"--out or drop --resume") from None
        state["history"] = list(state["history"])
        if ck.get("epochs") != cfg.epochs:
            log(f"checkpoint was for {ck.get('epochs')} epochs, now {cfg.epochs}: the cosine schedule is stretched")
        log(f"resumed from {ckpt_path}: {state['epoch']} epoch(s) done, step {state['step']}")
    else:
        if resume:
            log(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")
        torch.manual_seed(cfg.seed + D.get_rank())  # dropout differs per rank; data order comes from the loader

    if on_start is not None:
        on_start(state)
    train_model = model
    if D.get_world_size() > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device] if device.type == "cuda" else None)
    for epoch in range(state["epoch"], cfg.epochs):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        def on_step(s: int, epoch=epoch) -> None:
            if cfg.log_every and s % cfg.log_every == 0:
                log(f"epoch {epoch + 1} step {s}/{steps_per_epoch} lr {optimizer.param_groups[0]['lr']:.3e}")

        stats = engine.train_one_epoch(train_model, loader.for_epoch(epoch), optimizer, scheduler, device=device,
                                       accum=cfg.accum, amp_dtype=dtype, label_smoothing=cfg.label_smoothing,
                                       epoch=epoch + 1, scaler=scaler, clip_grad=cfg.clip_grad,
                                       progress=cfg.progress, on_step=on_step)
        state["step"] += stats["steps"]
        peak = (max(D.all_gather_object(torch.cuda.max_memory_allocated(device) / 2**20))
                if device.type == "cuda" else None)
        row = dict(epoch=epoch + 1, step=state["step"], lr=stats["lr"], train_loss=stats["loss"],
                   train_acc=stats["acc"], train_clips=stats["clips"], val_metric=None, val_metric_name=None, seconds=stats["seconds"],
                   throughput=stats["clips"] / stats["seconds"] if stats["seconds"] > 0 else None, peak_mem_mb=peak)
        if on_epoch_end is not None:
            row.update(on_epoch_end(epoch + 1, model) or {})
        state["history"].append(row)
        val = (f" | {row['val_metric_name'] or 'val'} {row['val_metric']:.2f}" if row["val_metric"] is not None else "")
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} train top-1 {row['train_acc']:.2f}% "
            f"lr {row['lr']:.2e} ({row['seconds']:.1f} s){val}")
        if cfg.keep == "best":
            if row["val_metric"] is None:
                raise ValueError("keep='best' needs on_epoch_end to return a val_metric")
            if state["best_metric"] is None or row["val_metric"] > state["best_metric"]:
                state.update(best_metric=row["val_metric"], best_epoch=epoch + 1)
                if D.is_main():
                    save_state(best_path, dict(model=trainable_state(model), epoch=epoch + 1,
                                               val_metric=row["val_metric"]))
        else:
            state.update(best_metric=row["val_metric"], best_epoch=epoch + 1)
        state["epoch"] = epoch + 1
        rngs = D.all_gather_object(rng_state())
        if D.is_main():
            save_state(ckpt_path, dict(state, model=trainable_state(model), optimizer=optimizer.state_dict(),
                                       scheduler=scheduler.state_dict(),
                                       scaler=scaler.state_dict() if scaler is not None else None, rng=rngs,
                                       world_size=D.get_world_size(), identity=identity, config=config,
                                       epochs=cfg.epochs))
            log(f"wrote checkpoint {ckpt_path} (epoch {epoch + 1}, step {state['step']})")
            if tracker is not None:
                tracker.log_epoch(state["history"])
        D.barrier()
    state["precision"] = precision_name(dtype)
    state["learning"] = _learning(model, state)
    if state["learning"] and state["learning"]["warning"]:
        log(state["learning"]["warning"])
    if cfg.keep == "best" and state["best_epoch"] is not None and state["best_epoch"] != state["epoch"]:
        model.load_state_dict(load_state(best_path)["model"], strict=False)
        log(f"kept epoch {state['best_epoch']} (best val_metric {state['best_metric']:.4g}); read {best_path}")
    return state
