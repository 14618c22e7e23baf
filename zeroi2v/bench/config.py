"""Benchmark settings (`BenchConfig`, None = "not set") and the command line that fills them.

The suite's shared flags (zeroi2v.settings.flags): `--batch-size`, `--num-workers`, `--timm-kwargs`,
`--device`, `--decoder`, `--json`, `--out` (a folder: the report goes to <out>/bench.json); the old
spellings (`--batch`, `--data-workers`, `--model-kwargs`, `--out FILE.json`) keep working for one
release with a note. The checks run in `zeroi2v.bench.checks`, called by the command (cli.parse_args).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from pathlib import Path

from zeroi2v.settings import flags
from zeroi2v.utils.errors import ArgumentParser, UserError

FIXTURE_KINDS = ("ssv2", "kinetics", "hmdb")


@dataclass(frozen=True)
class BenchConfig:
    backbone: str = "vit_base_patch16_clip_224"
    frames: int = 8
    batch_size: int = 1
    device: str = "auto"
    repeats: int = 10
    warmup: int = 1
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    seed: int = 0
    timm_kwargs: dict | None = None  # e.g. {"img_size": 32, "patch_size": 8} for a tiny model
    adapter_std: float = 0.02  # std of the random (non-zero) adapter weights
    memory: bool = True
    models: bool = True  # the model timing section (off with --data: data sections only)
    # episode evaluation
    episodes: bool = True
    episode_count: int = 10_000
    ways: int = 5
    shots: int = 5
    queries: int = 1
    feature_dim: int = 768
    episode_classes: int = 24
    videos_per_class: int = 40
    class_separation: float = 0.2  # features = separation * class centre + N(0, I): accuracy well above chance
    finetune_steps: int | None = None  # None: the protocol's default
    episode_repeats: int = 3  # timed runs of the prototype protocol (median reported); fine-tune runs once
    # data loading: toy videos through DataLoader
    data: bool = True
    data_clips: int = 48
    num_workers: tuple[int, ...] = (0, 1, 2)
    data_size: int | None = None  # None: the backbone's input size
    data_root: str | None = None  # toy dataset root; None: zeroi2v.data.ensure_toy's default
    # data path: dataset-shaped generated videos, loader vs raw decode of the same frames
    data_path: bool = True
    fixture_kinds: tuple[str, ...] = FIXTURE_KINDS
    fixture_scale: str = "full"  # "full" (shaped like the datasets) | "tiny" (tests)
    fixture_videos: int = 4  # videos per kind
    fixture_root: str | None = None  # None: the user cache (~/.cache/zeroi2v/fixtures)
    path_clips: int = 48  # clips per measurement (cycled over the videos, each cycle a new epoch's draws)
    decoder: str = "auto"
    out: str | None = None  # a folder: the report goes to <out>/bench.json
    json: str | None = None  # the report file


def _int_list(s: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers (e.g. 0,1,2)")
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{s!r}: give one or more non-negative integers (e.g. 0,1,2)")
    return values


def _kinds(s: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in s.split(",") if k.strip())
    bad = [k for k in kinds if k not in FIXTURE_KINDS]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(f"{s!r}: use a comma-separated subset of {','.join(FIXTURE_KINDS)}")
    return kinds


def build_parser(doc: str = "") -> ArgumentParser:
    d = BenchConfig()
    p = ArgumentParser(prog="python -m zeroi2v.bench", description=doc,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model")
    flags.add(g, "backbone", help=f"timm ViT name; random weights, never downloaded (default: {d.backbone})")
    flags.add(g, "frames", help=f"frames per clip (default: {d.frames})")
    flags.add(g, "timm_kwargs")
    g.add_argument("--adapter-std", type=float, default=None,
                   help=f"std of the random non-zero adapter weights (default: {d.adapter_std})")
    g = p.add_argument_group("timing")
    flags.add(g, "batch_size", help=f"videos per forward pass, in this one process (default: {d.batch_size})")
    g.add_argument("--repeats", type=int, default=None, help=f"timed forwards per model, interleaved (default: "
                                                             f"{d.repeats})")
    g.add_argument("--warmup", type=int, default=None, help=f"untimed rounds before timing (default: {d.warmup})")
    flags.add(g, "seed")
    g.add_argument("--no-memory", dest="memory", action="store_false", default=None, help="skip the peak-memory pass")
    g.add_argument("--data", dest="data_only", action="store_true",
                   help="data sections only (toy loader + data path); the model is timed once for workers/GPU")
    flags.add_group(p, "device", "device", "threads")
    g = p.add_argument_group("episode evaluation")
    g.add_argument("--no-episodes", dest="run_episodes", action="store_false", default=None,
                   help="skip the episode evaluation")
    for dest in ("episodes", "ways", "queries"):
        flags.add(g, dest)
    flags.add(g, "shots", help=f"K support videos per class: one value (default: {d.shots})")
    g.add_argument("--feature-dim", type=int, default=None, help=f"feature size (default: {d.feature_dim})")
    g.add_argument("--episode-classes", type=int, default=None, help=f"classes of the synthetic cache (default: "
                                                                     f"{d.episode_classes})")
    g.add_argument("--videos-per-class", type=int, default=None, help=f"videos per class of the synthetic cache "
                                                                      f"(default: {d.videos_per_class})")
    g.add_argument("--finetune-steps", type=int, default=None, help="fine-tune protocol steps (default: the "
                                                                    "protocol's)")
    g.add_argument("--episode-repeats", type=int, default=None,
                   help=f"timed runs of the prototype protocol (median); fine-tuning is timed once (default: "
                        f"{d.episode_repeats})")
    g = p.add_argument_group("data loading (toy videos)")
    g.add_argument("--no-data", dest="data", action="store_false", default=None, help="skip both data sections")
    g.add_argument("--data-clips", type=int, default=None, help=f"clips decoded per worker setting (default: "
                                                                f"{d.data_clips})")
    flags.add(g, "num_workers", type=_int_list,
              help=f"DataLoader worker counts to measure, comma-separated (default: "
                   f"{','.join(map(str, d.num_workers))})")
    g.add_argument("--data-size", type=int, default=None, help="frame size (default: the backbone's input size)")
    flags.add(g, "data_root")
    g = p.add_argument_group("data path (dataset-shaped generated videos: loader vs raw decode)")
    g.add_argument("--no-data-path", dest="data_path", action="store_false", default=None,
                   help="skip the data-path section")
    g.add_argument("--fixture-kinds", type=_kinds, default=None,
                   help=f"comma-separated (default: {','.join(d.fixture_kinds)})")
    g.add_argument("--fixture-scale", choices=("full", "tiny"), default=None,
                   help="full: shaped like the datasets; tiny: a few small frames, for tests (default: full)")
    g.add_argument("--fixture-videos", type=int, default=None, help=f"videos per kind (default: {d.fixture_videos})")
    g.add_argument("--fixture-root", default=None,
                   help="where the generated videos are cached (default: ~/.cache/zeroi2v/fixtures)")
    g.add_argument("--path-clips", type=int, default=None, help=f"clips per measurement (default: {d.path_clips})")
    flags.add(g, "decoder")
    g = p.add_argument_group("output")
    flags.add(g, "out", help="folder the report is written into, as <out>/bench.json; an existing non-empty one "
                             "is refused (default: none, Markdown on stdout only)")
    flags.add(g, "json")
    return p


def config_from(args: dict) -> BenchConfig:
    """The BenchConfig of parsed flags: unset (None) flags keep the BenchConfig default; `--out FILE.json` (the old
    spelling of --json) is read as --json with a note."""
    a = {k: v for k, v in args.items() if v is not None}
    if "episodes" in a:  # --episodes N: the count; --no-episodes: the section
        a["episode_count"] = a.pop("episodes")
    if "run_episodes" in a:
        a["episodes"] = a.pop("run_episodes")
    if a.pop("data_only", False):
        a.update(models=False, episodes=False, data=True)
    if "shots" in a:
        if len(a["shots"]) != 1:
            raise UserError(f"--shots {','.join(map(str, a['shots'])) or '(none)'}: the benchmark times one K")
        a["shots"] = a["shots"][0]
    out = a.get("out")
    if out is not None and str(out).endswith(".json") and not Path(out).expanduser().is_dir():
        flags.note("--out FILE.json is deprecated; use --json FILE.json (--out is a folder)")
        a["json"], a["out"] = a.get("json") or out, None
    return BenchConfig(**a)
