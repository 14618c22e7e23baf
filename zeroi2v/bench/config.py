"""Benchmark settings (`BenchConfig`, None = "not set") and the command line that fills them.

One flag per concept across the suite: `--batch-size`, `--num-workers`, `--timm-kwargs`; the old
spellings (`--batch`, `--data-workers`, `--model-kwargs`) stay as hidden aliases for one release.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from zeroi2v.utils.errors import ArgumentParser, json_object

FIXTURE_KINDS = ("ssv2", "kinetics", "hmdb")


@dataclass(frozen=True)
class BenchConfig:
    backbone: str = "vit_base_patch16_clip_224"
    frames: int = 8
    batch_size: int = 1
    device: str = "cpu"
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
    decoder: str = "decord"
    out: str | None = None


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


def _alias(p: argparse._ActionsContainer, flag: str, dest: str, **kw) -> None:
    """An old spelling of a flag: accepted, hidden from --help."""
    p.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kw)


def build_parser(doc: str) -> ArgumentParser:
    d = BenchConfig()
    p = ArgumentParser(prog="python -m zeroi2v.bench", description=doc,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backbone", default=d.backbone, help="timm ViT name (random weights, never downloaded)")
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="videos per forward")
    _alias(p, "--batch", "batch_size", type=int)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:N or auto (cuda when available)")
    p.add_argument("--repeats", type=int, default=d.repeats, help="timed forwards per model (interleaved)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed rounds before timing")
    p.add_argument("--threads", type=int, default=d.threads, help="torch intra-op threads (default: torch's)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--timm-kwargs", type=json_object, default=d.timm_kwargs,
                   help="JSON object of extra timm.create_model arguments")
    _alias(p, "--model-kwargs", "timm_kwargs", type=json_object)
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory pass")
    p.add_argument("--data", dest="data_only", action="store_true",
                   help="data sections only (toy loader + data path); the model is timed once for workers/GPU")
    g = p.add_argument_group("episode evaluation")
    g.add_argument("--no-episodes", dest="episodes", action="store_false")
    g.add_argument("--episodes", dest="episode_count", type=int, default=d.episode_count, help="number of episodes")
    g.add_argument("--ways", type=int, default=d.ways)
    g.add_argument("--shots", type=int, default=d.shots)
    g.add_argument("--queries", type=int, default=d.queries, help="queries per class")
    g.add_argument("--feature-dim", type=int, default=d.feature_dim)
    g.add_argument("--episode-classes", type=int, default=d.episode_classes)
    g.add_argument("--videos-per-class", type=int, default=d.videos_per_class)
    g.add_argument("--finetune-steps", type=int, default=d.finetune_steps, help="default: the protocol's")
    g.add_argument("--episode-repeats", type=int, default=d.episode_repeats,
                   help="timed runs of the prototype protocol (median); fine-tuning is timed once")
    g = p.add_argument_group("data loading (toy videos)")
    g.add_argument("--no-data", dest="data", action="store_false", help="skip both data sections")
    g.add_argument("--data-clips", type=int, default=d.data_clips, help="clips decoded per worker setting")
    g.add_argument("--num-workers", type=_int_list, default=d.num_workers,
                   help="comma-separated DataLoader worker counts")
    _alias(g, "--data-workers", "num_workers", type=_int_list)
    g.add_argument("--data-size", type=int, default=d.data_size, help="frame size (default: the backbone's input size)")
    g.add_argument("--data-root", default=d.data_root, help="toy dataset root (default: the shared toy cache)")
    g = p.add_argument_group("data path (dataset-shaped generated videos: loader vs raw decode)")
    g.add_argument("--no-data-path", dest="data_path", action="store_false")
    g.add_argument("--fixture-kinds", type=_kinds, default=d.fixture_kinds, help="comma-separated")
    g.add_argument("--fixture-scale", choices=("full", "tiny"), default=d.fixture_scale,
                   help="full: shaped like the datasets; tiny: a few small frames (tests)")
    g.add_argument("--fixture-videos", type=int, default=d.fixture_videos, help="videos per kind")
    g.add_argument("--fixture-root", default=d.fixture_root,
                   help="where the generated videos are cached (default: ~/.cache/zeroi2v/fixtures)")
    g.add_argument("--path-clips", type=int, default=d.path_clips, help="clips per measurement")
    g.add_argument("--decoder", default=d.decoder, help="decord | pyav | torchcodec")
    p.add_argument("--out", default=d.out, help="write the JSON report here (atomically)")
    return p


def parse_args(argv: list[str] | None = None, *, doc: str = "") -> BenchConfig:
    a = vars(build_parser(doc).parse_args(argv))
    if a.pop("data_only"):
        a.update(models=False, episodes=False, data=True)
    from zeroi2v.bench.checks import check_config  # here, not at the top: checks imports BenchConfig from this module

    return check_config(BenchConfig(**a))  # refused here, before any work: see checks.py
