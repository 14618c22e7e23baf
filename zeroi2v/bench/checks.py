"""Up-front refusal of bad benchmark settings: everything a run would trip over later is checked
before any work (no model built, nothing timed, nothing written), each as a one-line `UserError`.

Order: the cheap checks first (numbers, episode settings, `--out`), then the device, then the
backbone (name, then a dry build of every benchmarked model on the meta device: no memory, no
weights, well under a second even for ViT-L), then the decoder.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from zeroi2v.settings.runfolder import check_run_folder
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import check_dir, check_file

from zeroi2v.bench.config import BenchConfig

POSITIVE = ("frames", "batch_size", "repeats", "episode_repeats", "episode_count", "shots", "queries", "feature_dim",
            "episode_classes", "videos_per_class", "data_clips", "fixture_videos", "path_clips")
OPTIONAL_POSITIVE = ("threads", "data_size", "finetune_steps")  # None = not set


def _flag(name: str) -> str:
    return "--episodes" if name == "episode_count" else f"--{name.replace('_', '-')}"


def check_numbers(cfg: BenchConfig) -> None:
    for name in POSITIVE:
        if getattr(cfg, name) < 1:
            raise UserError(f"{_flag(name)}={getattr(cfg, name)} must be >= 1")
    for name in OPTIONAL_POSITIVE:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise UserError(f"{_flag(name)}={value} must be >= 1 (leave it out for the default)")
    if cfg.warmup < 0:
        raise UserError(f"--warmup={cfg.warmup} must be >= 0")


def check_episodes(cfg: BenchConfig) -> None:
    """An episode needs >= 2 classes, each with shots + queries distinct videos of the synthetic cache."""
    if cfg.ways < 2:
        raise UserError(f"--ways={cfg.ways} must be >= 2 (an episode tells classes apart)")
    if not cfg.episodes:
        return
    if cfg.ways > cfg.episode_classes:
        raise UserError(f"--ways={cfg.ways} exceeds --episode-classes ({cfg.episode_classes}); "
                        f"lower --ways or raise --episode-classes")
    if cfg.shots + cfg.queries > cfg.videos_per_class:
        raise UserError(f"--shots + --queries ({cfg.shots + cfg.queries}) exceeds --videos-per-class "
                        f"({cfg.videos_per_class}); raise --videos-per-class")


def check_out(out: str | None, json_file: str | None = None) -> None:
    """--json names a file the report can be written to (not a directory, not under a file, in a writable folder);
    --out a folder that is new or empty."""
    check_file("--json", json_file, example="bench.json", writable=True)
    check_dir("--out", out)
    check_run_folder(out, resume=False, fix="choose another --out (or an empty folder)")
    if out is not None:
        check_file("--out", str(Path(out) / "bench.json"), example="bench.json", writable=True)


def check_device(device: str) -> str:
    """The device as torch names it (cuda -> cuda:0); one line for a bad name or a GPU that is not there."""
    from zeroi2v.training.distributed import pick_device

    return str(pick_device(device))


def check_models(cfg: BenchConfig) -> None:
    """The backbone name, then every model the run builds, built on the meta device (no memory, no weights)."""
    import torch

    from zeroi2v.methods.aim import create_aim_model
    from zeroi2v.model.backbones import check_backbone_name
    from zeroi2v.model.video import create_model
    from zeroi2v.methods.table import method_model_kwargs

    check_backbone_name(cfg.backbone)
    kwargs = cfg.timm_kwargs or {}
    try:
        with torch.device("meta"):
            create_model(cfg.backbone, num_frames=cfg.frames, **method_model_kwargs("zeroi2v", "default"), **kwargs)
            if cfg.models:
                create_aim_model(cfg.backbone, num_frames=cfg.frames, **kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError, KeyError) as e:
        raise UserError(f"cannot build {cfg.backbone!r} x {cfg.frames} frames with --timm-kwargs {kwargs}: "
                        f"{type(e).__name__}: {e}; pass a supported timm ViT name and valid --timm-kwargs") from None


def check_config(cfg: BenchConfig) -> BenchConfig:
    """All checks, cheapest first; returns the config with the device resolved (e.g. cuda -> cuda:0)."""
    check_numbers(cfg)
    check_episodes(cfg)
    check_out(cfg.out, cfg.json)
    cfg = replace(cfg, device=check_device(cfg.device))
    check_models(cfg)
    if cfg.data:  # an unavailable --decoder fails now, not after the model timing
        from zeroi2v.data.decode import resolve_decoder

        resolve_decoder(cfg.decoder)
    return cfg
