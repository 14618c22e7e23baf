"""The few-shot runner's configuration: `RunConfig`, its command line and how unset fields resolve.

"Not set" is None everywhere; `resolve` fills every None from the dataset's row of
`zeroi2v.settings.defaults` (or the rule named in the flag's help) and validates, so the resolved config
is what `config.json` and every record store. `--config FILE` replays a saved `config.json`;
flags given beside it override single fields.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from zeroi2v.utils import validate as V
from zeroi2v.settings import flags
from zeroi2v.utils.errors import ArgumentParser, UserError
from zeroi2v.settings.defaults import AMP
from zeroi2v.settings.runfolder import default_run_folder
from zeroi2v.utils.io import check_dir
from zeroi2v.methods import DEFAULT_METHODS, METHODS

EPISODE_FIELDS = ("ways", "shots", "queries", "episodes")  # fixed by an --episodes-file


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "toy_time"  # the demo: the time-only toy (hue order; docs/demo.md); "toy": the motion toy
    shots: tuple[int, ...] | None = None  # None -> (1, 5), or the --episodes-file's
    ways: int | None = None  # None -> 5, or the --episodes-file's
    queries: int | None = None  # None -> 1, or the --episodes-file's
    episodes: int | None = None  # None -> 10,000, or the --episodes-file's
    seed: int = 0
    seeds: tuple[int, ...] | None = None  # several seeds: each its own toy data and run, one table
    backbone: str | None = None  # None -> the tiny toy ViT on toy, ViT-B/16 CLIP otherwise
    timm_kwargs: dict | None = None  # None -> the toy ViT's on toy, {} otherwise
    pretrained: str | None = None  # None -> (toy only) the tiny ViT image-pretrained on toy frames
    data_root: str | None = None  # None -> $ZEROI2V_<DATASET>_ROOT (toy: the generated toy set)
    frames: int | None = None  # None -> the dataset's default (8)
    size: int | None = None  # None -> the backbone's input size
    stdha: str | None = None  # None -> "ssv2" on SSv2 (±1 and ±2), "default" (±1) elsewhere
    recipe: str | None = None  # None -> the dataset's and backbone's original config ("toy" on toy); "none"
    protocols: tuple[str, ...] = ("prototype", "finetune")
    methods: tuple[str, ...] = DEFAULT_METHODS
    out: str | None = None  # None -> runs/fewshot-<dataset>-<time> (zeroi2v.settings.runfolder)
    resume: bool = False
    episodes_file: str | None = None
    epochs: int | None = None  # None -> the dataset's adaptation epochs (toy 30, real data 10)
    batch_size: int | None = None  # None -> min(recipe global batch, its batch per GPU x processes) (toy: 8)
    accum: int | None = None  # None -> recipe global batch / batch_size (toy, no recipe: 1)
    lr: float | None = None  # None -> the recipe's at the global batch (toy 2e-3, originals 3e-4)
    num_workers: int | None = None  # None -> 0 on toy (frames kept decoded), else min(8, cores - 1)
    loader: str | None = None  # None -> the dataset's: uint8+fast on real data, float32 on toy
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu
    amp: str = "auto"  # auto: fp16 + loss scaling on CUDA (the originals' AmpOptimWrapper); fp32 on CPU
    on_error: str = "error"
    decoder: str = "auto"  # zeroi2v.data.decode: auto = per file the fastest measured
    cache_dir: str | None = None  # None -> $ZEROI2V_CACHE or ~/.cache/zeroi2v
    verify_cache: bool = False  # also hash every test video's bytes before reusing its cached features
    tensorboard: bool = False  # also TensorBoard events of the adaptation in <out>/<method>/tensorboard
    wandb: str | None = None  # also log the adaptation to this Weights & Biases project


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m fewshot.run", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Few-shot video recognition benchmark: adapt, merge, embed, evaluate episodes.",
                       epilog="Unset flags take the recipe's values (fewshot/recipe.py, --list-recipes: few-shot "
                              "adaptation runs a recipe with its own epochs, 10 (toy 30), and one centre test view) "
                              "or the dataset's defaults (zeroi2v/settings/datasets.py); --dataset defaults to toy_time, "
                              "the generated time-only demo set (toy: the earlier motion toy). The resolved values are saved in "
                              "<out>/config.json and in every record.",
                       argument_default=argparse.SUPPRESS)  # only flags actually given reach the namespace
    flags.add_group(p, "data", "dataset", "data_root", "frames", "size", "loader", "on_error", "decoder")
    g = flags.add_group(p, "model", "recipe", "backbone", "timm_kwargs", "pretrained", "methods", "stdha")
    flags.add(g, "list_recipes", action=_ListRecipes, nargs=0)
    g = flags.add_group(p, "training", "shots", "ways", "queries", "episodes", "episodes_file", "seed", "seeds",
                        "epochs", "batch_size", "accum", "lr")
    g.add_argument("--protocols", type=flags.names, help="evaluation protocols, comma-separated: prototype,finetune "
                                                         "(default: both)")
    flags.add_group(p, "device", "device", "amp", "num_workers")
    g = flags.add_group(p, "output", "out", "resume", "config", "cache_dir", "tensorboard", "wandb")
    g.add_argument("--verify-cache", action="store_true", help="also hash every test video's bytes before reusing its "
                                                               "cached features (default: off: a video is re-embedded "
                                                               "when its path, size or mtime changes, the make/rsync "
                                                               "convention)")
    return p


class _ListRecipes(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from zeroi2v.settings.recipes import FEWSHOT_CHANGES, recipe_summary_markdown, recipe_table_markdown

        print(recipe_summary_markdown())
        print(recipe_table_markdown())
        print("fewshot.run changes: " + "; ".join(f"{k}: {v}" for k, v in FEWSHOT_CHANGES.items()))
        parser.exit()


def parse_args(argv: list[str] | None = None) -> RunConfig:
    flags.NOTES.clear()
    given = vars(build_parser().parse_args(argv))
    base = load_config_file(given.pop("config")) if "config" in given else {}
    cfg = resolve(RunConfig(**{**base, **given}), given=set(given))
    flags.emit_notes()  # old spellings: one note each, once the settings are accepted
    return cfg


def load_config_file(path: str) -> dict:
    """The fields of a saved config.json (lists back to tuples); unknown keys are an error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--config {path}: no such file; pass the config.json a run saved in its --out")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise UserError(f"--config {path}: not a JSON config ({e.__class__.__name__}); pass a run's config.json") from None
    if isinstance(d, dict) and "schema_version" in d and isinstance(d.get("config"), dict):
        d = d["config"]  # a result record: replay the run that wrote it
    if not isinstance(d, dict):
        raise UserError(f"--config {path}: expected a JSON object of RunConfig fields")
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise UserError(f"--config {path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    if "recipe" not in d:  # a run from before recipes and --loader: replay it as it ran
        d.update(recipe="none", accum=d.get("accum") or 1, loader=d.get("loader") or "float32")
    d = V.check_config_fields(RunConfig, d, where=f"--config {path}")  # "ways": "5" -> one line
    for k in ("shots", "seeds", "protocols", "methods"):
        if isinstance(d.get(k), list):
            d[k] = tuple(d[k])
    return d


def check_device(device: str) -> str:
    import os

    import torch

    from zeroi2v.training.distributed import pick_device

    if device not in (None, "auto"):
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise UserError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    return str(pick_device(device, int(os.environ.get("LOCAL_RANK", "0"))))


def _episode_file_values(path: str) -> dict:
    from episodes.episode_set import describe_episode_set, read_episode_set

    d = describe_episode_set(read_episode_set(path))
    return dict(ways=d["ways"], shots=(d["shots"],), queries=d["queries"], episodes=d["episodes"])


def resolve(cfg: RunConfig, *, given: set[str] = frozenset()) -> RunConfig:
    """Fill every None from the dataset defaults and validate; the result is what gets saved and recorded.
    (An existing non-empty --out without --resume is refused once every check has passed: fewshot.pipeline.)"""
    from episodes.protocols import PROTOCOLS
    from zeroi2v.settings import defaults as zd

    from .splitdata import canonical_dataset

    dataset = canonical_dataset(cfg.dataset)
    d = zd.defaults_for(dataset)
    toy = dataset in zd.TOY_DATASETS
    fill = dict(ways=5, shots=(1, 5), queries=1, episodes=10_000)
    if cfg.episodes_file is not None:
        from_file = _episode_file_values(cfg.episodes_file)
        clash = [k for k in EPISODE_FIELDS if getattr(cfg, k) is not None and getattr(cfg, k) != from_file[k]]
        if clash:
            k = clash[0]
            raise UserError(f"--{k} {_show(getattr(cfg, k))} given beside --episodes-file {cfg.episodes_file}, whose "
                            f"episodes have "
                            f"{k} {_show(from_file[k])}; the file fixes {', '.join(EPISODE_FIELDS)}: drop the flag")
        fill = from_file
    cfg = dataclasses.replace(cfg, **{k: fill[k] for k in EPISODE_FIELDS if getattr(cfg, k) is None})
    for name in ("queries", "episodes"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name} must be a positive integer, got {getattr(cfg, name)}")
    if cfg.ways < 2:
        raise UserError(f"--ways must be at least 2 (got {cfg.ways}): with fewer classes every episode is 100 %")
    if not cfg.shots or min(cfg.shots) < 1:
        raise UserError(f"--shots must be positive integers, got {','.join(map(str, cfg.shots)) or 'nothing'}")
    if cfg.seeds is not None and (not cfg.seeds or min(cfg.seeds) < 0 or len(set(cfg.seeds)) != len(cfg.seeds)):
        raise UserError(f"--seeds must be distinct non-negative integers, got {','.join(map(str, cfg.seeds)) or 'nothing'}")
    if cfg.seeds is not None and "seed" in given:
        raise UserError("--seed and --seeds given together; pass one of them")
    if cfg.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {cfg.seed}")
    for seed in cfg.seeds or ():
        V.check_seed("--seeds", seed)
    V.check_bounds(seed=cfg.seed, episodes=cfg.episodes, frames=cfg.frames, size=cfg.size)
    V.check_timm_kwargs("--timm-kwargs", cfg.timm_kwargs)
    for name in ("frames", "size", "batch_size", "accum"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(cfg, name)}")
    if cfg.epochs is not None and cfg.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {cfg.epochs}; leave it out for the dataset's default, "
                        f"or use --methods frozen for the unadapted model")
    if cfg.lr is not None and not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise UserError(f"--lr must be a finite number > 0, got {cfg.lr}; leave it out for the dataset's default")
    if cfg.num_workers is not None and cfg.num_workers < 0:
        raise UserError(f"--num-workers cannot be negative, got {cfg.num_workers}")
    bad = [m for m in cfg.methods if m not in METHODS] + [p for p in cfg.protocols if p not in PROTOCOLS]
    if bad or not cfg.methods or not cfg.protocols:
        raise UserError(f"unknown method/protocol {bad[0] if bad else '(none given)'}; methods: "
                        f"{','.join(METHODS)}; protocols: {','.join(PROTOCOLS)}")
    if cfg.amp not in AMP or cfg.on_error not in flags.ON_ERROR or cfg.decoder not in flags.DECODERS:
        raise UserError(f"--amp {cfg.amp!r} / --on-error {cfg.on_error!r} / --decoder {cfg.decoder!r}: use "
                        f"{'|'.join(AMP)} / {'|'.join(flags.ON_ERROR)} / {'|'.join(flags.DECODERS)}")
    from zeroi2v.training.tracking import require_tensorboard, require_wandb

    if cfg.tensorboard:
        require_tensorboard()  # a missing optional package: one line before anything runs
    if cfg.wandb:
        require_wandb()
    out = cfg.out or default_run_folder("fewshot", dataset)
    check_dir("--out", out)
    check_dir("--cache-dir", cfg.cache_dir)
    from zeroi2v.settings.recipes import get_recipe

    from .recipe import fill, recipe_name

    name = recipe_name(dataset, cfg.backbone, cfg.recipe)
    backbone = cfg.backbone or (get_recipe(name).backbone if name not in (None, "none") else
                                zd.default_backbone(dataset))
    return dataclasses.replace(
        cfg, dataset=dataset, backbone=backbone, recipe=name,
        timm_kwargs=dict(cfg.timm_kwargs) if cfg.timm_kwargs is not None else (
            dict(zd.TOY_VIT) if toy and not cfg.backbone else {}),
        out=out, **fill(cfg, dataset=dataset, name=name),
        loader=cfg.loader or d.loader,
        num_workers=cfg.num_workers if cfg.num_workers is not None else (
            0 if d.keep_decoded else zd.default_num_workers()),
        device=check_device(cfg.device))


def _show(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
