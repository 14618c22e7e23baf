"""zeroi2v.train's settings: the `TrainConfig` dataclass, the command line, `--config` replay, checks.

Every flag left unset is None and takes its value from the dataset's row of `zeroi2v.settings.defaults`.
`--config FILE` replays the `config.json` of an earlier run (or the `config` of one of its records);
flags given beside it override single fields. Every value is checked here, before anything is
written: a bad one is one `error: ...` line and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from zeroi2v.settings import flags
from zeroi2v.settings.datasets import find
from zeroi2v.settings.defaults import AMP, TOY_BACKBONE, TOY_PRETRAINED, TOY_VIT, default_num_workers
from zeroi2v.settings.defaults import TOY_DATASETS
from zeroi2v.utils import validate as V
from zeroi2v.utils.errors import ArgumentParser, UserError
from zeroi2v.methods import METHODS, OPTIM_FIELDS, check_method, get_method, method_train_fields


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A resolved run (`resolve_config`). The fields without a default are the dataset's row of
    zeroi2v.settings.defaults (or values derived from it), so no per-dataset default lives here."""

    dataset: str
    out: str
    data_root: str | None = None
    split: int = 1
    backbone: str
    pretrained: str | None = None
    frames: int
    size: int
    timm_kwargs: dict = field(default_factory=dict)
    method: str = "zeroi2v"
    stdha: str
    epochs: int
    batch_size: int  # videos per forward pass on each process (--batch-per-process; --batch-size / processes)
    eval_batch_size: int  # likewise, per process
    accum: int = 1
    lr: float
    weight_decay: float
    warmup_epochs: float
    min_lr_ratio: float = 0.0
    label_smoothing: float = 0.0
    head_dropout: float
    adapter_dropout: float
    adapter_scale: float
    clip_grad: float | None = None
    amp: str = "auto"
    sampling: str
    interval: int | None
    test_views: str
    train_subset: str | None = None
    allway_dir: str | None = None
    seed: int = 0
    deterministic: bool = False
    num_workers: int
    loader: str  # zeroi2v.settings.defaults.LOADERS: the row's (real data uint8+fast, toy float32)
    threads: int | None = None
    device: str = "auto"
    resume: bool = False
    eval_every: int = 0
    log_every: int = 0
    throughput: bool = True
    on_error: str = "error"
    decoder: str = "auto"  # zeroi2v.data.decode: auto = per file the fastest measured
    progress: bool = True
    tensorboard: bool = False
    wandb: str | None = None
    # set by --recipe (zeroi2v.train.recipe) or their own flags; None: the dataset's default
    recipe: str | None = None
    bias_decay: bool = False
    backbone_lr_mult: float = 1.0
    warmup_start: float = 0.0
    schedule: str = "cosine"
    randaugment: tuple[int, int] | None = None
    crop_area: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] | None = None
    erasing: float = 0.0
    erasing_mode: str | None = None  # "const" (grey 128; None = this) | "rand"
    randaugment_after_flip: bool = False  # the original SSv2 order: crop -> flip -> RandAugment
    short_side: int | None = None
    flip: float | None = None
    keep: str = "last"  # the tested epoch: "best" (validated each epoch) | "last"

    @property
    def reader(self) -> str:
        return find(self.dataset).reader

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


def toy_model_kwargs() -> dict:
    """The few-shot demo's tiny ViT (zeroi2v.settings.defaults.TOY_VIT) less img_size, which follows the toy's frames."""
    return {k: v for k, v in TOY_VIT.items() if k != "img_size"}


# ---------------------------------------------------------------- command line


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m zeroi2v.train", description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="Unset flags take the recipe's values (--recipe, --list-recipes), else the dataset's "
                              "defaults row (zeroi2v/settings/datasets.py); the resolved values are printed and saved "
                              "in <out>/config.json.")
    g = flags.add_group(p, "data", "dataset", "data_root", "fold", "decoder", "on_error", "loader", "frames", "size",
                        "sampling", "interval", "test_views")
    g.add_argument("--train-subset", default=None, help="kshot:K:FOLD trains on the all-way K-shot list "
                                                       "<reader>_k<K>_fold<F>.txt (default: the full train split)")
    g.add_argument("--allway-dir", default=None, help="folder of all-way lists (default: $ZEROI2V_ALLWAY_DIR or "
                                                     "<data root>/allway)")
    flags.add_group(p, "model", "recipe", "list_recipes", "backbone", "timm_kwargs", "pretrained", "methods", "stdha",
                    "adapter_scale", "adapter_dropout", "head_dropout")
    g = flags.add_group(p, "training", "epochs", "batch_size", "accum", "lr", "weight_decay", "warmup_epochs",
                        "warmup_start", "schedule", "label_smoothing", "erasing_mode", "seed")
    a = g.add_argument
    a("--batch-per-process", type=int, default=None,
      help="videos per forward pass on each process, instead of --batch-size (global) (default: the recipe's batch "
           "per GPU)")
    a("--eval-batch-size", type=int, default=None, help="videos per forward pass in evaluation on each process "
                                                        "(default: the training batch per process)")
    a("--min-lr-ratio", type=float, default=None, help="cosine floor as a fraction of --lr, in [0, 1] (default: 0)")
    a("--clip-grad", type=float, default=None, help="max gradient norm > 0 (default: no clipping)")
    a("--deterministic", action="store_true", default=None,
      help="torch.use_deterministic_algorithms(True) and no cudnn autotune")
    from zeroi2v.train.recipe import add_recipe_args

    add_recipe_args(g)
    flags.add_group(p, "device", "device", "amp", "num_workers", "threads")
    g = flags.add_group(p, "output", "out", "resume", "config", "tensorboard", "wandb")
    a = g.add_argument
    a("--eval-every", type=int, default=None, help="also evaluate every N epochs (default: 0, only at the end)")
    a("--log-every", type=int, default=None, help="print a line every N optimizer steps (default: 0, the progress "
                                                  "bar only)")
    a("--no-throughput", action="store_true", default=None, help="skip the throughput measurement")
    a("--no-progress", action="store_true", default=None, help="no progress bars")
    return p


# config.json field -> parser dest (old spellings too); booleans stored inverted
# (config.json stores the batch per process: it replays as --batch-per-process)
_RENAMED = {"model_kwargs": "timm_kwargs", "workers": "num_workers", "split": "fold", "method": "methods",
            "batch_size": "batch_per_process"}
_INVERTED = {"throughput": "no_throughput", "progress": "no_progress"}
_NOT_REPLAYED = {"resume", "config", "list_recipes"}
_EXTRA = {*_RENAMED, *_INVERTED, *_NOT_REPLAYED, "world_size", "num_classes", "train_videos", "test_videos"}


def replay_values(path: str) -> dict:
    """Parser values from a saved config.json (or a record whose `config` it is)."""
    p = Path(path).expanduser()
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--config {path} not found; pass the config.json of an earlier run") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise UserError(f"--config {path} is not a readable JSON file ({type(e).__name__}); pass a run's "
                        f"config.json") from None
    if isinstance(obj, dict) and isinstance(obj.get("config"), dict) and "kind" in obj:
        obj = obj["config"]  # a result record: its config
    if not isinstance(obj, dict) or "dataset" not in obj:
        raise UserError(f"--config {path} is not a zeroi2v.train config.json (no 'dataset'); pass a run's config.json")
    obj = V.check_config_fields(TrainConfig, obj, where=f"--config {path}", also=_EXTRA)  # fewshot.run's, "epochs": "5"
    dests = {a.dest for a in build_parser()._actions}
    out = {}
    for key, value in obj.items():
        key = _RENAMED.get(key, key)
        if key in _NOT_REPLAYED:
            continue
        if key in _INVERTED:
            out[_INVERTED[key]] = not value
        elif key == "timm_kwargs":
            out[key] = json.loads(value) if isinstance(value, str) else value
        elif key == "methods":
            out[key] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        elif key in ("pretrained", "recipe"):
            out[key] = "none" if value is None else value
        elif key in dests:
            out[key] = value
    return out


def parse_args(argv: list[str] | None, description: str | None = None) -> argparse.Namespace:
    """Flags, over --config's values, over None."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # `--stdha -1:1,1:1`: an offset spec is the value, not an option
        if argv[i] == "--stdha" and argv[i + 1].startswith("-") and ":" in argv[i + 1]:
            argv[i:i + 2] = [f"--stdha={argv[i + 1]}", ""]
    argv = [a for a in argv if a != ""]
    flags.NOTES.clear()
    parser = build_parser(description)
    args = parser.parse_args(argv)
    if args.config:
        explicit = build_parser(description)
        for action in explicit._actions:
            action.default = argparse.SUPPRESS
        given = vars(explicit.parse_args(argv))
        for key, value in replay_values(args.config).items():
            if key == "batch_per_process" and "batch_size" in given:
                continue  # the global --batch-size given beside --config replaces the saved batch
            if key not in given:
                setattr(args, key, value)
    return args


# ---------------------------------------------------------------- resolution and checks


def batch_per_process(args: argparse.Namespace) -> int | None:
    """The per-process micro-batch of --batch-size (global: split evenly over the processes) or --batch-per-process;
    None when neither is given (the recipe's batch per GPU, or the dataset's row, fills it)."""
    from zeroi2v.training import distributed as D

    given = getattr(args, "batch_per_process", None)
    if args.batch_size is not None and given is not None:
        raise UserError(f"--batch-size {args.batch_size} and --batch-per-process {given} given together; pass one "
                        f"(--batch-size is the global batch, --batch-per-process each process's)")
    if args.batch_size is None:
        return given
    world = D.get_world_size()
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size} must be >= 1")
    if args.batch_size % world:
        raise UserError(f"--batch-size {args.batch_size} (global) must be a positive multiple of the {world} "
                        f"process(es); pass a multiple, or --batch-per-process")
    return args.batch_size // world


def _check_range(name: str, value, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > lo if lo_open else value >= lo) \
        and value <= hi
    if not ok:
        raise UserError(f"{name} {value} must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}]")


def _folds(dataset: str) -> tuple[int, ...]:
    from zeroi2v import data

    return tuple(data.get_reader(dataset).folds)


def resolve_config(args: argparse.Namespace, *, out: str) -> TrainConfig:
    """Fill per-dataset defaults and check every value; UserError on a bad one."""
    from zeroi2v.train.recipe import apply_recipe
    given = {k for k in OPTIM_FIELDS if getattr(args, k, None) is not None}  # before the recipe fills them
    if args.dataset is not None:
        args.dataset = find(args.dataset).name  # any spelling (zeroi2v.settings.datasets) -> the dataset's name
    args.batch_size = batch_per_process(args)  # from here on the per-process micro-batch (what the recipe fills)
    recipe_fields = apply_recipe(args)
    if args.dataset is None:
        raise UserError("--dataset is required (or --config FILE or --recipe NAME); e.g. --dataset toy")
    record = find(args.dataset)
    d = record.defaults
    toy = args.dataset in TOY_DATASETS
    pick = (lambda v, default: default if v is None else v)
    methods = args.methods or ("zeroi2v",)
    if len(methods) != 1:
        raise UserError(f"--methods {','.join(methods)}: one method per run; pass one of {','.join(METHODS)}")
    method = check_method(methods[0])
    extra = dict(V.check_timm_kwargs("--timm-kwargs", args.timm_kwargs))  # no NaN, no num_classes
    backbone = args.backbone or record.backbone
    timm_kwargs = {**(toy_model_kwargs() if toy and backbone == TOY_BACKBONE else {}), **extra}
    epochs, batch = pick(args.epochs, d.epochs), pick(args.batch_size, d.batch_size)
    accum, split = pick(args.accum, 1), pick(args.fold, 1)
    for name, value, lo in (("--epochs", epochs, 1), ("--batch-size", batch, 1), ("--accum", accum, 1),
                            ("--frames", args.frames, 1), ("--size", args.size, 8), ("--fold", split, 1),
                            ("--eval-batch-size", args.eval_batch_size, 1), ("--num-workers", args.num_workers, 0),
                            ("--eval-every", args.eval_every, 0), ("--log-every", args.log_every, 0),
                            ("--interval", args.interval, 1), ("--threads", args.threads, 1)):
        if value is not None and value < lo:
            raise UserError(f"{name} {value} must be >= {lo}")
    folds = _folds(args.dataset)
    if split not in folds:
        raise UserError(f"--fold {split}: {args.dataset} has fold(s) {', '.join(map(str, folds))}; "
                        f"pass --fold with one of them")
    lr = pick(args.lr, d.lr)
    _check_range("--lr", lr, 0.0, 1.0, lo_open=True)
    weight_decay = pick(args.weight_decay, d.weight_decay)
    _check_range("--weight-decay", weight_decay, 0.0, 1.0)
    warmup = args.warmup_epochs if args.warmup_epochs is not None else min(d.warmup_epochs, epochs / 4)
    _check_range("--warmup-epochs", warmup, 0.0, float(epochs))
    min_lr_ratio = pick(args.min_lr_ratio, 0.0)
    _check_range("--min-lr-ratio", min_lr_ratio, 0.0, 1.0)
    _check_range("--clip-grad", args.clip_grad, 0.0, 1e6, lo_open=True)
    _check_range("--backbone-lr-mult", recipe_fields["backbone_lr_mult"], 0.0, 10.0, lo_open=True)
    _check_range("--warmup-start", recipe_fields["warmup_start"], 0.0, 1.0)
    _check_range("--erasing", recipe_fields["erasing"], 0.0, 1.0)
    _check_range("--flip", recipe_fields["flip"], 0.0, 1.0)
    _check_range("--short-side", recipe_fields["short_side"], 8, 4096)
    adapter_scale = pick(args.adapter_scale, d.adapter_scale)
    _check_range("--adapter-scale", adapter_scale, 0.0, 100.0, lo_open=True)
    label_smoothing = pick(args.label_smoothing, 0.0)
    head_dropout, adapter_dropout = pick(args.head_dropout, d.head_dropout), pick(args.adapter_dropout,
                                                                                   d.adapter_dropout)
    for name, value in (("--label-smoothing", label_smoothing), ("--head-dropout", head_dropout),
                        ("--adapter-dropout", adapter_dropout)):
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise UserError(f"{name} {value} must be in [0, 1)")
    amp = pick(args.amp, "auto")
    if amp not in AMP:
        raise UserError(f"--amp {amp!r}: use auto, bf16, fp16 or none")
    on_error = pick(args.on_error, "error")
    if on_error not in ("error", "skip"):
        raise UserError(f"--on-error {on_error!r}: use error or skip")
    sampling = args.sampling or d.sampling
    if sampling not in ("uniform", "dense", "tsn"):
        raise UserError(f"--sampling {sampling!r}: use uniform, dense or tsn")
    interval = args.interval if args.interval is not None else (d.interval if sampling == "dense" else None)
    if sampling == "dense" and interval is None:
        raise UserError("--sampling dense needs --interval (e.g. 16 for 8x16)")
    views = _views(args.test_views or d.test_views)
    if args.train_subset:
        parse_subset(args.train_subset)
    elif args.allway_dir:
        raise UserError(f"--allway-dir {args.allway_dir} is read only with --train-subset kshot:K:FOLD; pass "
                        f"--train-subset or drop --allway-dir")
    pretrained = _pretrained(args.pretrained, toy=toy, dataset=args.dataset, backbone=backbone)
    stdha = (args.stdha or d.stdha) if get_method(method).uses_stdha else "none"
    lr, weight_decay = method_train_fields(method, recipe_fields, lr, weight_decay, batch * accum, given)  # its paper's
    out_path = Path(out).expanduser()
    if out_path.exists() and not out_path.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder for the run (it is created if missing)")
    size = args.size or V.input_size(timm_kwargs) or d.size or toy_frame_size(args.data_root, args.dataset)  # the model's size
    V.check_bounds(size=size, frames=args.frames, seed=args.seed)
    return TrainConfig(
        dataset=args.dataset, out=out, data_root=args.data_root, split=split, backbone=backbone,
        pretrained=pretrained, frames=args.frames or d.frames, size=size, timm_kwargs=timm_kwargs,
        method=method, stdha=stdha, epochs=epochs, batch_size=batch, eval_batch_size=args.eval_batch_size or batch,
        accum=accum, lr=lr, weight_decay=weight_decay, warmup_epochs=warmup, min_lr_ratio=min_lr_ratio,
        label_smoothing=label_smoothing, head_dropout=head_dropout, adapter_dropout=adapter_dropout,
        adapter_scale=adapter_scale, clip_grad=args.clip_grad, amp=amp, sampling=sampling, interval=interval,
        test_views=views, train_subset=args.train_subset, allway_dir=args.allway_dir, seed=pick(args.seed, 0),
        deterministic=bool(args.deterministic),
        num_workers=args.num_workers if args.num_workers is not None else (0 if toy else default_num_workers()),
        loader=args.loader or d.loader,
        threads=args.threads if args.threads is not None else (1 if toy else None), device=pick(args.device, "auto"),
        resume=bool(args.resume), eval_every=pick(args.eval_every, 0), log_every=pick(args.log_every, 0),
        throughput=not args.no_throughput, on_error=on_error, decoder=args.decoder or "auto", progress=not args.no_progress,
        tensorboard=bool(args.tensorboard), wandb=args.wandb, **recipe_fields)


def _views(views: str) -> str:
    from zeroi2v.training import engine

    try:
        return "x".join(map(str, engine.parse_views(views)))
    except ValueError as e:
        raise UserError(f"--test-views: {e}") from None


def _pretrained(value: str | None, *, toy: bool, dataset: str, backbone: str) -> str | None:
    if (value is None or value == "none") and not toy:
        raise UserError(f"--dataset {dataset} needs image weights: pass --pretrained FILE (a local "
                        f"{backbone} checkpoint, e.g. OpenAI CLIP ViT-B-16.pt); nothing is downloaded")
    if value is None or value == TOY_PRETRAINED:
        return TOY_PRETRAINED
    if value == "none":
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise UserError(f"--pretrained {value} is a directory; pass the checkpoint file inside it")
    if not path.is_file():
        raise UserError(f"--pretrained {value} not found; pass a local checkpoint file")
    return str(path.resolve())


def toy_frame_size(data_root: str | None, dataset: str = "toy") -> int:
    """The toy dataset's frame size (generating the dataset on first use)."""
    from zeroi2v import data
    from zeroi2v.data.toy import require

    return int(require(data.resolve_root(dataset, data_root), dataset)["config"]["size"])
