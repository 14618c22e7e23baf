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

from zeroi2v.utils.errors import ArgumentParser, UserError, json_object
from zeroi2v.settings.defaults import AMP, LOADERS
from zeroi2v.utils.io import check_dir
from zeroi2v.methods.table import METHODS

EPISODE_FIELDS = ("ways", "shots", "queries", "episodes")  # fixed by an --episodes-file


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "toy"
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
    methods: tuple[str, ...] = METHODS
    out: str | None = None  # None -> runs/fewshot-<dataset>
    resume: bool = False
    episodes_file: str | None = None
    epochs: int | None = None  # None -> the dataset's adaptation epochs (toy 30, real data 10)
    batch_size: int | None = None  # None -> min(recipe global batch, its batch per GPU x processes) (toy: 8)
    accum: int | None = None  # None -> recipe global batch / batch_size (toy, no recipe: 1)
    lr: float | None = None  # None -> the recipe's at the global batch (toy 2e-3, originals 3e-4)
    num_workers: int | None = None  # None -> 0 on toy (frames kept decoded), else min(8, cores - 1)
    loader: str | None = None  # None -> the dataset's: uint8+fast on real data, float32 on toy
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu
    amp: str = "auto"  # auto: bf16 on CUDA where supported, else fp16; none on CPU
    on_error: str = "error"
    cache_dir: str | None = None  # None -> $ZEROI2V_CACHE or ~/.cache/zeroi2v
    verify_cache: bool = False  # also hash every test video's bytes before reusing its cached features
    tensorboard: bool = False  # also TensorBoard events of the adaptation in <out>/<method>/tensorboard
    wandb: str | None = None  # also log the adaptation to this Weights & Biases project


def _ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers") from None


def _names(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def _finite(s: str) -> float:
    try:
        x = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{s!r} is not a finite number")
    return x


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m fewshot.run", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Few-shot video recognition benchmark: adapt, merge, embed, evaluate episodes.",
                       epilog="Unset flags take the recipe's values (fewshot/recipe.py, --list-recipes) or the dataset's "
                              "defaults (zeroi2v/settings/defaults.py); the resolved values are saved in <out>/config.json "
                              "and in every record.",
                       argument_default=argparse.SUPPRESS)  # only flags actually given reach the namespace
    a = p.add_argument
    a("--config", metavar="FILE", help="replay a run's saved config.json (or the run of a result record); flags "
                                       "given beside it override single fields (default: none)")
    a("--dataset", help="toy|ssv2_full|ssv2_small|hmdb51|ucf101|kinetics100|list (ssv2 = ssv2_full) "
                        "(default: toy, the generated demo set)")
    a("--shots", type=_ints, help="K, or a list like 1,5 (default: 1,5)")
    a("--ways", type=int, help="N classes per episode, at least 2 (default: 5)")
    a("--queries", type=int, help="query videos per class (default: 1)")
    a("--episodes", type=int, help="test episodes per shot count (default: 10000)")
    a("--seed", type=int, help="episodes, adaptation and model initialisation (default: 0)")
    a("--seeds", type=_ints, help="several seeds, e.g. 0,1,2: each seed gets its own toy data (toy seed = run "
                                  "seed) and run under <out>/seed<S>; the table shows the mean over seeds ± the "
                                  "95%% t-interval across seeds (default: none = the single --seed)")
    a("--recipe", help="adapt with this recipe (see --list-recipes; few-shot changes: fewshot/recipe.py) or none "
                       "(the dataset's row of zeroi2v/settings/defaults.py) (default: the original config of the dataset and "
                       "backbone, toy on toy)")
    a("--list-recipes", action=_ListRecipes, nargs=0, help="print the recipe table and the few-shot changes, and exit (default: off)")
    a("--backbone", help="timm ViT name (default: the recipe's: vit_tiny_patch16_224 as the toy ViT on toy, "
                         "vit_base_patch16_clip_quickgelu_224 (OpenAI CLIP) for ViT-B recipes)")
    a("--timm-kwargs", type=json_object,
      help='JSON of timm.create_model arguments, e.g. \'{"img_size": 112}\' (default: the toy ViT\'s on toy '
           'with the default backbone, {} otherwise)')
    a("--pretrained", help="local image weights: OpenAI CLIP .pt, timm .pth/.safetensors (default: on toy the "
                           "tiny ViT image-pretrained on toy frames, cached; required on real data)")
    a("--data-root", help="dataset root (default: $ZEROI2V_<DATASET>_ROOT; toy: the generated set in the cache)")
    a("--frames", type=int, help="frames per clip (default: the recipe's: 16 on SSv2, 8 elsewhere)")
    a("--size", type=int, help="frame size in pixels (default: the backbone's input size)")
    a("--stdha", help="default | ssv2 | '-1:1,1:1' (offset:heads) (default: the recipe's: ±1 and ±2 on SSv2, ±1 "
                      "elsewhere)")
    a("--protocols", type=_names, help="prototype,finetune (default: both)")
    a("--methods", type=_names, help=f"{','.join(METHODS)} (default: all three)")
    a("--out", help="run directory (default: runs/fewshot-<dataset>)")
    a("--resume", action="store_true", help="continue finished and interrupted stages in --out (default: off)")
    a("--episodes-file", help="evaluate this episode set (python -m episodes sample); it fixes ways, shots, "
                              "queries and episodes (default: sample them)")
    a("--epochs", type=int, help="adaptation epochs, at least 1 (0 is refused: --methods frozen evaluates the "
                                 "unadapted model) (default: the few-shot recipe's: 30 on toy, 10 on real data)")
    a("--batch-size", type=int, help="adaptation micro-batch and embedding batch; under torchrun the adaptation "
                                     "batch is global, split evenly over the processes (default: the recipe's batch "
                                     "per GPU x processes, at most its global batch; toy 8)")
    a("--accum", type=int, help="micro-batches per optimizer step (default: the recipe's global batch / "
                                "--batch-size, e.g. 64 / 4 = 16 on SSv2; toy 1)")
    a("--batch", dest="batch_size", type=int, help=argparse.SUPPRESS)  # old spelling (zeroi2v.train)
    a("--lr", type=_finite, help="adaptation peak learning rate, > 0 (0 is refused) (default: the recipe's at the "
                                 "global batch: 2e-3 on toy, 3e-4 for the originals at 64)")
    a("--num-workers", type=int, help="DataLoader worker processes; 0 loads in the main process (default: 0 on "
                                      "toy, whose frames are kept decoded in memory; min(8, cores per process - 1) "
                                      "otherwise)")
    a("--workers", dest="num_workers", type=int, help=argparse.SUPPRESS)  # old spelling (zeroi2v.train)
    a("--loader", choices=tuple(LOADERS), help="what loader workers hand over: float32 (normalised on the worker), "
                                              "uint8 (normalised on the device; same numbers) or uint8+fast (and "
                                              "resized in uint8, within one grey level: the fast path) (default: "
                                              "uint8+fast on real data, float32 on toy)")
    a("--device", help="auto (GPU if available), cpu, cuda, cuda:1, ... (default: auto)")
    a("--amp", choices=AMP, help="mixed precision on CUDA: auto = bf16 where supported, else fp16; none on CPU "
                                 "(default: auto)")
    a("--on-error", choices=("error", "skip"), help="unreadable/missing videos: stop, or skip them (no "
                                                    "features; episodes needing them are dropped) (default: error)")
    a("--cache-dir", help="feature and weight cache (default: $ZEROI2V_CACHE or ~/.cache/zeroi2v)")
    a("--verify-cache", action="store_true", help="also hash every test video's bytes before reusing its cached "
                                                  "features (default: off: a video is re-embedded when its path, "
                                                  "size or mtime changes, the make/rsync convention)")
    a("--tensorboard", action="store_true", help="also write the adaptation's per-epoch metrics as TensorBoard "
                                                 "events to <out>/<method>/tensorboard (needs tensorboard) (default: off)")
    a("--wandb", metavar="PROJECT", help="also log the adaptation's per-epoch metrics to this Weights & Biases "
                                         "project (needs wandb; offline unless WANDB_MODE or an API key says so) "
                                         "(default: none)")
    return p


class _ListRecipes(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from zeroi2v.settings.recipes import FEWSHOT_CHANGES, recipe_table_markdown

        print(recipe_table_markdown())
        print("fewshot.run changes: " + "; ".join(f"{k}: {v}" for k, v in FEWSHOT_CHANGES.items()))
        parser.exit()


def parse_args(argv: list[str] | None = None) -> RunConfig:
    given = vars(build_parser().parse_args(argv))
    base = load_config_file(given.pop("config")) if "config" in given else {}
    return resolve(RunConfig(**{**base, **given}), given=set(given))


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
    """Fill every None from the dataset defaults and validate; the result is what gets saved and recorded."""
    from episodes.protocols import PROTOCOLS
    from zeroi2v.settings import defaults as zd

    from .splitdata import canonical_dataset

    dataset = canonical_dataset(cfg.dataset)
    d = zd.defaults_for(dataset)
    toy = dataset == "toy"
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
    if cfg.amp not in AMP or cfg.on_error not in ("error", "skip"):
        raise UserError(f"--amp {cfg.amp!r} / --on-error {cfg.on_error!r}: use {'|'.join(AMP)} / error|skip")
    from zeroi2v.training.tracking import require_tensorboard, require_wandb

    if cfg.tensorboard:
        require_tensorboard()  # a missing optional package: one line before anything runs
    if cfg.wandb:
        require_wandb()
    out = cfg.out or f"runs/fewshot-{dataset}"
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
