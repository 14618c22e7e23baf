"""One zeroi2v.train run: data, model, the one trainer (`zeroi2v.training.trainer.fit`), then evaluate/merge/export."""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import torch

from zeroi2v.training import distributed as D
from zeroi2v.training import engine
from zeroi2v.training.checkpoint_state import disk_errors, seed_everything
from zeroi2v.settings.defaults import TOY_PRETRAINED
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_json, sha256_file, sha256_json
from zeroi2v.methods import get_method

from zeroi2v.train.config import TrainConfig, resolve_config
from zeroi2v.train.data import build_datasets, load_items, log
from zeroi2v.train.export import evaluate_merge_export

MODEL_ERRORS = (ValueError, TypeError, RuntimeError, IndexError, KeyError, AssertionError, AttributeError,
                ZeroDivisionError)


def default_out(dataset: str, method: str) -> str:
    return str(Path("runs") / "full" / f"{dataset}_{method}_{time.strftime('%Y%m%d-%H%M%S')}")


def build_model(cfg: TrainConfig, num_classes: int, *, pretrained: str | None = None):
    kwargs = dict(cfg.timm_kwargs)
    kwargs.setdefault("img_size", cfg.size)
    torch.manual_seed(cfg.seed)  # adapter init: same in every process and on resume
    try:
        model = get_method(cfg.method).build(
            cfg.backbone, num_frames=cfg.frames, num_classes=num_classes, pretrained=pretrained,
            adapter_dropout=cfg.adapter_dropout, adapter_scale=cfg.adapter_scale, head_dropout=cfg.head_dropout,
            stdha=None if cfg.stdha == "none" else cfg.stdha, dataset=cfg.dataset, **kwargs)
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

    root = data.resolve_root("toy", cfg.data_root)
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
    from zeroi2v.training.trainer import FitConfig

    return FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                     warmup_epochs=cfg.warmup_epochs, min_lr_ratio=cfg.min_lr_ratio, accum=cfg.accum,
                     label_smoothing=cfg.label_smoothing, clip_grad=cfg.clip_grad, amp=cfg.amp, seed=cfg.seed,
                     num_workers=cfg.num_workers, data_order="sampler", select="last", log_every=cfg.log_every,
                     progress=cfg.progress, bias_decay=cfg.bias_decay, backbone_lr_mult=cfg.backbone_lr_mult,
                     warmup_start=cfg.warmup_start, schedule=cfg.schedule)


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


def run(args: argparse.Namespace, info: D.DistInfo) -> int:
    if args.resume and not args.out:
        raise UserError("--resume needs --out DIR, the folder of the run to continue")
    out = D.broadcast_object(args.out or default_out(args.dataset or "run", args.method or "zeroi2v"))
    if args.dataset == "toy" and info.world_size > 1:  # rank 0 generates the toy data first, if needed
        if info.is_main:
            from zeroi2v import data

            data.resolve_root("toy", args.data_root)
        D.barrier()
    warmup_given = args.warmup_epochs is not None  # on the command line or replayed by --config
    cfg = resolve_config(args, out=out)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise UserError(f"{ckpt_path} exists; pass --resume to continue that run or choose another --out")
    pretrained_sha = None  # sha256 of --pretrained, hashed once (a CLIP file is ~600 MB)
    if cfg.resume and ckpt_path.is_file():  # an unreadable checkpoint or other settings: one line before any work
        from zeroi2v.training.checkpoint_state import load_state
        from zeroi2v.training.trainer import precheck_resume

        ck = load_state(ckpt_path)
        if not warmup_given:
            cfg = keep_checkpoint_warmup(cfg, ck)
        early = config_identity(cfg)
        if cfg.pretrained and cfg.pretrained != TOY_PRETRAINED:
            early["pretrained_sha256"] = pretrained_sha = sha256_file(cfg.pretrained)
        precheck_resume(ckpt_path, fit_config(cfg), identity=early, ck=ck)
    if cfg.recipe:
        from zeroi2v.train.recipe import recipe_summary

        log(f"recipe {cfg.recipe} resolved: {recipe_summary(cfg)}")
    build_model(cfg, 2)  # a bad --backbone/--timm-kwargs/--stdha fails here, before anything is trained or written
    from zeroi2v.training.tracking import Tracker, require_tensorboard, require_wandb

    if cfg.tensorboard:
        require_tensorboard()  # a missing optional package: one line before anything runs
    if cfg.wandb:
        require_wandb()
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
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    train_items, test_items, class_names, root = load_items(cfg)
    num_classes = len(class_names)
    if cfg.batch_size * info.world_size > len(train_items):
        raise UserError(f"--batch-size {cfg.batch_size} x {info.world_size} process(es) is larger than the "
                        f"{len(train_items)} training videos; lower --batch-size")

    seed_everything(cfg.seed)  # same initial weights on every rank and every (resumed) run
    model = build_model(cfg, num_classes, pretrained=cfg.pretrained)
    from zeroi2v.model.video import count_params, data_config

    dc = data_config(model)
    model.to(info.device)
    params = count_params(model)
    if pretrained_sha is None and cfg.pretrained:
        pretrained_sha = sha256_file(cfg.pretrained)
    log(f"model {cfg.backbone} {cfg.timm_kwargs or ''} method {cfg.method}, {cfg.frames}x{cfg.size}px, "
        f"STDHA offsets {model.stdha_offsets}, {num_classes} classes; params {params['total']:,} "
        f"(trainable {params['trainable']:,}); weights {cfg.pretrained or 'random init (no --pretrained)'}")
    train_ds, test_loader = build_datasets(cfg, train_items, test_items, class_names, dc["mean"], dc["std"], info)
    fcfg = fit_config(cfg)
    from zeroi2v.training.trainer import amp_dtype, fit

    dtype = amp_dtype(cfg.amp, info.device)

    def on_start(state: dict) -> None:  # after the resume check: a refused run writes nothing
        if D.is_main():
            with disk_errors(out / "config.json"):
                atomic_write_json(out / "config.json", dict(dataclasses.asdict(cfg), world_size=info.world_size,
                                                            num_classes=num_classes, data_root=str(root),
                                                            train_videos=len(train_items),
                                                            test_videos=len(test_items)))
            log(f"wrote {out / 'config.json'}")

    def on_epoch_end(epoch: int, m) -> dict | None:
        if not cfg.eval_every or epoch % cfg.eval_every or epoch >= cfg.epochs:
            return None
        ev = engine.evaluate(m, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                             progress=cfg.progress, desc=f"eval epoch {epoch}")
        return dict(top1=ev["top1"], top5=ev["top5"], val_metric=ev["top1"], val_metric_name="test_top1")

    t_train = time.perf_counter()
    tracker = Tracker(out, tensorboard=cfg.tensorboard, wandb_project=cfg.wandb, run_name=out.name,
                      config=dataclasses.asdict(cfg))  # writes nothing before the first epoch's metrics
    try:
        state = fit(model, train_ds, fcfg, out_dir=out, device=info.device, resume=cfg.resume, tracker=tracker,
                    identity=identity(cfg, model, pretrained_sha256=pretrained_sha, train_items=train_items,
                                      num_classes=num_classes), on_start=on_start, on_epoch_end=on_epoch_end,
                    log=log)
    finally:
        tracker.close()
    stages["train"] = time.perf_counter() - t_train
    evaluate_merge_export(cfg, out, model=model, test_loader=test_loader, info=info, dtype=dtype, params=params,
                          num_classes=num_classes, history=state["history"], stages=stages, t0=t0,
                          pretrained_sha256=pretrained_sha)
    D.barrier()
    return 0
