"""One zeroi2v.train run as stages, in order (`STAGES`, run by `run`):

    prepare  config, --out/--resume, checkpoint settings, model flags; nothing written  -> Run
    data     train/test videos, class names, the data identity of the record
    model    the video model on the device (seeded: same weights on every rank and resume)
    train    the one trainer (`zeroi2v.training.trainer.fit`); resume: <out>/checkpoint.pt keyed on
             `identity` (settings, model, train list contents); config.json once that check passed
    export   evaluate, merge, evaluate merged, export, cost, the record (`zeroi2v.train.export`)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zeroi2v.training import distributed as D
from zeroi2v.training import engine
from zeroi2v.training.checkpoint_state import disk_errors, seed_everything
from zeroi2v.settings import flags
from zeroi2v.settings.defaults import TOY_DATASETS, TOY_PRETRAINED
from zeroi2v.settings.runfolder import CHECKPOINT, check_run_folder, default_run_folder, is_nonempty_dir
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_json, check_dir, sha256_file, sha256_json
from zeroi2v.utils.validate import check_frame_size
from zeroi2v.methods.table import method_model_kwargs

from zeroi2v.train.config import TrainConfig, resolve_config
from zeroi2v.train.data import build_datasets, load_items, log
from zeroi2v.train.recipe import init_of
from zeroi2v.train.export import evaluate_merge_export

MODEL_ERRORS = (ValueError, TypeError, RuntimeError, IndexError, KeyError, AssertionError, AttributeError,
                ZeroDivisionError)


def build_model(cfg: TrainConfig, num_classes: int, *, pretrained: str | None = None):
    from zeroi2v.model.video import create_model

    kwargs = dict(cfg.timm_kwargs)
    kwargs.setdefault("img_size", cfg.size)
    torch.manual_seed(cfg.seed)  # adapter init: same in every process and on resume
    try:
        model = create_model(cfg.backbone, num_frames=cfg.frames, num_classes=num_classes, pretrained=pretrained,
                             adapter_dropout=cfg.adapter_dropout, adapter_scale=cfg.adapter_scale,
                             head_dropout=cfg.head_dropout, init=init_of(cfg),
                             **method_model_kwargs(cfg.method, None if cfg.stdha == "none" else cfg.stdha), **kwargs)
        if not len(model.backbone.blocks):
            raise ValueError("the backbone has no transformer blocks")
    except MODEL_ERRORS as e:
        if isinstance(e, UserError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"cannot build {cfg.backbone} with {kwargs} (stdha {cfg.stdha}): {first}; "
                        f"check --backbone/--timm-kwargs/--stdha") from None
    return model


def toy_pretrained(cfg: TrainConfig, info: D.DistInfo) -> str:
    """The tiny image ViT pre-trained on toy frames (zeroi2v.model.toyvit, the few-shot demo's backbone),
    trained once by rank 0 and cached by a hash of its settings."""
    import timm

    from zeroi2v import data
    from zeroi2v.model.toyvit import PretrainConfig, pretrain_toy_vit

    root = data.resolve_root(cfg.dataset, cfg.data_root)
    kwargs = {**cfg.timm_kwargs, "img_size": cfg.timm_kwargs.get("img_size", cfg.size)}
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


def fit_config(cfg: TrainConfig):
    from zeroi2v.train.recipe import train_settings

    return train_settings(cfg)


def keep_checkpoint_warmup(cfg: TrainConfig, ck: dict) -> TrainConfig:
    """A resumed run without --warmup-epochs keeps its checkpoint's warm-up: the default one follows
    --epochs (min(2.5, epochs/4)), and --epochs may change on resume."""
    old = ck.get("config", {}).get("warmup_epochs") if isinstance(ck.get("config"), dict) else None
    if not isinstance(old, (int, float)) or old == cfg.warmup_epochs:
        return cfg
    log(f"--resume: keeping the checkpoint's warm-up of {old:g} epoch(s) (this run's default would be "
        f"{cfg.warmup_epochs:g}; pass --warmup-epochs to choose)")
    return dataclasses.replace(cfg, warmup_epochs=float(old))


def config_identity(cfg: TrainConfig) -> dict:
    """The part of `identity` the settings alone give (checked before any work on --resume)."""
    return dict(dataset=cfg.dataset, split=cfg.split, backbone=cfg.backbone, timm_kwargs=dict(cfg.timm_kwargs),
                frames=cfg.frames, size=cfg.size, method=cfg.method, head_dropout=cfg.head_dropout,
                adapter_dropout=cfg.adapter_dropout, adapter_scale=cfg.adapter_scale, sampling=cfg.sampling,
                interval=cfg.interval, train_subset=cfg.train_subset, loader=cfg.loader)


def identity(cfg: TrainConfig, model, *, pretrained_sha256: str | None, train_items, num_classes: int) -> dict:
    """What produced the model and its training data: a resumed run must match all of it."""
    ident = config_identity(cfg)
    ident.update(stdha=list(model.stdha_offsets), pretrained_sha256=pretrained_sha256, num_classes=num_classes,
                 train_videos=sha256_json(sorted((v.video_id, v.label) for v in train_items)))
    return {k: ident[k] for k in ("dataset", "split", "backbone", "timm_kwargs", "frames", "size", "method", "stdha",
                                  "pretrained_sha256", "head_dropout", "adapter_dropout", "adapter_scale", "sampling",
                                  "interval", "train_subset", "loader", "num_classes", "train_videos")}  # named first


def trained_fields(cfg: TrainConfig, state: dict) -> dict:
    """Record fields of what training did: the tested epoch and its rule, the precision, the learning check."""
    learning = state.get("learning") or {}
    return dict(keep=cfg.keep, tested_epoch=state["best_epoch"], precision=state.get("precision"),
                learning_warning=learning.get("warning"),
                learning_check={k: v for k, v in learning.items() if k != "warning"} or None)


@dataclass
class Run:
    """What the stages of one supervised run hand on (filled in order; see `run`)."""

    cfg: TrainConfig
    info: D.DistInfo
    out: Path
    pretrained_sha: str | None = None  # sha256 of --pretrained, hashed once (a CLIP file is ~600 MB)
    t0: float = 0.0
    stages: dict = field(default_factory=dict)  # seconds per stage, in the record
    train_items: list = field(default_factory=list)
    test_items: list = field(default_factory=list)
    class_names: list = field(default_factory=list)
    root: Path | None = None
    data: dict = field(default_factory=dict)  # the record's data identity (results.records.data_fields)
    model: torch.nn.Module | None = None
    params: dict = field(default_factory=dict)
    dc: dict = field(default_factory=dict)  # the model's mean/std
    state: dict = field(default_factory=dict)  # the trainer's final state (history)
    test_loader: object = None
    dtype: object = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def prepare(args: argparse.Namespace, info: D.DistInfo) -> Run:
    """The resolved config and every check that needs no data: --out/--resume, the checkpoint's
    settings, the model flags, optional packages; nothing written (the toy ViT is cached)."""
    if args.resume and not args.out:
        raise UserError("--resume needs --out DIR, the folder of the run to continue")
    out = D.broadcast_object(args.out or default_run_folder("train", args.dataset))
    if args.dataset in TOY_DATASETS and info.world_size > 1:  # rank 0 generates the toy data first, if needed
        if info.is_main:
            from zeroi2v import data

            data.resolve_root(args.dataset, args.data_root)
        D.barrier()
    warmup_given = args.warmup_epochs is not None  # on the command line or replayed by --config
    cfg = resolve_config(args, out=out)
    r = Run(cfg=cfg, info=info, out=Path(cfg.out))
    ckpt_path = r.out / CHECKPOINT
    if ckpt_path.exists() and not cfg.resume:
        raise UserError(f"{ckpt_path} exists; pass --resume to continue that run or choose another --out")
    if cfg.resume and ckpt_path.is_file():  # an unreadable checkpoint or other settings: one line before any work
        from zeroi2v.training.checkpoint_state import load_state
        from zeroi2v.training.trainer import precheck_resume

        ck = load_state(ckpt_path)
        if not warmup_given:
            cfg = keep_checkpoint_warmup(cfg, ck)
        early = config_identity(cfg)
        if cfg.pretrained and cfg.pretrained != TOY_PRETRAINED:
            early["pretrained_sha256"] = r.pretrained_sha = sha256_file(cfg.pretrained)
        precheck_resume(ckpt_path, fit_config(cfg), identity=early, ck=ck)
    if cfg.recipe:
        from zeroi2v.train.recipe import recipe_summary

        log(f"recipe {cfg.recipe} resolved: {recipe_summary(cfg)}")
    probe = build_model(cfg, 2)  # a bad --backbone/--timm-kwargs/--stdha fails here, before anything is written
    check_frame_size("--size", cfg.size, probe.backbone)  # a multiple of the patch, the model's input size
    check_dir("--out", cfg.out)  # writable (a read-only folder: one line now, not after training)
    from zeroi2v.training.tracking import require_tensorboard, require_wandb

    if cfg.tensorboard:
        require_tensorboard()  # a missing optional package: one line before anything runs
    if cfg.wandb:
        require_wandb()
    # the settings are good: an earlier run's folder is not written into (rank 0 looks, before any rank writes)
    check_run_folder(out, resume=cfg.resume, nonempty=D.broadcast_object(is_nonempty_dir(out)))
    flags.emit_notes()  # old spellings: one note each, once the settings are accepted
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if info.device.type == "cpu" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.pretrained == TOY_PRETRAINED:
        cfg = dataclasses.replace(cfg, pretrained=toy_pretrained(cfg, info))
    r.cfg, r.t0 = cfg, time.perf_counter()
    return r


def data_stage(r: Run) -> None:
    """The train/test videos and class names; the data identity of the record."""
    from results.records import data_fields
    from zeroi2v.data.toy import read_meta

    r.train_items, r.test_items, r.class_names, r.root = load_items(r.cfg)
    if r.cfg.batch_size * r.info.world_size > len(r.train_items):
        raise UserError(f"--batch-size {r.cfg.batch_size} x {r.info.world_size} process(es) is larger than the "
                        f"{len(r.train_items)} training videos; lower --batch-size")
    meta = read_meta(r.root, r.cfg.dataset) if r.cfg.dataset in TOY_DATASETS else None
    r.data = data_fields(r.root, {"train": [(v.video_id, v.class_name) for v in r.train_items],
                                  "test": [(v.video_id, v.class_name) for v in r.test_items]},
                         generated=meta["config"] if meta else None)


def model_stage(r: Run) -> None:
    """The video model (same initial weights on every rank and every resumed run) on the device."""
    cfg = r.cfg
    seed_everything(cfg.seed)
    r.model = build_model(cfg, r.num_classes, pretrained=cfg.pretrained)
    from zeroi2v.model.video import count_params, data_config

    r.dc = data_config(r.model)
    r.model.to(r.info.device)
    r.params = count_params(r.model)
    if r.pretrained_sha is None and cfg.pretrained:
        r.pretrained_sha = sha256_file(cfg.pretrained)
    log(f"model {cfg.backbone} {cfg.timm_kwargs or ''} method {cfg.method}, {cfg.frames}x{cfg.size}px, "
        f"STDHA offsets {r.model.stdha_offsets}, {r.num_classes} classes; params {r.params['total']:,} "
        f"(trainable {r.params['trainable']:,}); weights {cfg.pretrained or 'random init (no --pretrained)'}")


def train_stage(r: Run) -> None:
    """The one trainer (`fit`); resume: <out>/checkpoint.pt, keyed on `identity` (settings, model,
    train list contents). config.json is written once the resume check passed."""
    cfg, info, out = r.cfg, r.info, r.out
    train_ds, r.test_loader = build_datasets(cfg, r.train_items, r.test_items, r.class_names, r.dc["mean"],
                                             r.dc["std"], info)
    fcfg = fit_config(cfg)
    from zeroi2v.training.tracking import Tracker
    from zeroi2v.training.trainer import amp_dtype, fit

    r.dtype = amp_dtype(cfg.amp, info.device)

    def on_start(state: dict) -> None:  # after the resume check: a refused run writes nothing
        if D.is_main():
            with disk_errors(out / "config.json"):
                atomic_write_json(out / "config.json", dict(dataclasses.asdict(cfg), world_size=info.world_size,
                                                            num_classes=r.num_classes, data_root=str(r.root),
                                                            train_videos=len(r.train_items),
                                                            test_videos=len(r.test_items)))
            log(f"wrote {out / 'config.json'}")

    def on_epoch_end(epoch: int, m) -> dict | None:  # --keep best: every epoch (the originals' save_best)
        periodic = cfg.eval_every and not epoch % cfg.eval_every and epoch < cfg.epochs
        if cfg.keep != "best" and not periodic:
            return None
        ev = engine.evaluate(m, r.test_loader, device=info.device, views=cfg.test_views, amp_dtype=r.dtype,
                             progress=cfg.progress, desc=f"eval epoch {epoch}")
        return dict(top1=ev["top1"], top5=ev["top5"], val_metric=ev["top1"], val_metric_name="test_top1")

    t_train = time.perf_counter()
    tracker = Tracker(out, tensorboard=cfg.tensorboard, wandb_project=cfg.wandb, run_name=out.name,
                      config=dataclasses.asdict(cfg))  # writes nothing before the first epoch's metrics
    try:
        r.state = fit(r.model, train_ds, fcfg, out_dir=out, device=info.device, resume=cfg.resume, tracker=tracker,
                      identity=identity(cfg, r.model, pretrained_sha256=r.pretrained_sha, train_items=r.train_items,
                                        num_classes=r.num_classes), on_start=on_start, on_epoch_end=on_epoch_end,
                      log=log)
    finally:
        tracker.close()
    r.stages["train"] = time.perf_counter() - t_train


def export_stage(r: Run) -> None:
    """Evaluate, merge, evaluate merged, export, cost, the record (`zeroi2v.train.export`)."""
    evaluate_merge_export(r.cfg, r.out, model=r.model, test_loader=r.test_loader, info=r.info, dtype=r.dtype,
                          params=r.params, num_classes=r.num_classes, history=r.state["history"], stages=r.stages,
                          t0=r.t0, pretrained_sha256=r.pretrained_sha, extra={**r.data, **trained_fields(r.cfg, r.state)})


STAGES = (data_stage, model_stage, train_stage, export_stage)


def run(args: argparse.Namespace, info: D.DistInfo) -> int:
    """prepare (checks, nothing written) -> data -> model -> train -> export."""
    r = prepare(args, info)
    for stage in STAGES:
        stage(r)
    D.barrier()
    return 0
