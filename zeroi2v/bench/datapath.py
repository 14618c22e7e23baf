"""The data path against its limit: loader clips/s vs raw decode of the same frames, per fixture kind.

For each kind of generated video (`zeroi2v.data.fixtures`: SSv2-, Kinetics-, HMDB-shaped) and each
transform (train: random uniform sampling + the recipe's augmentation; test: uniform sampling, 3
crops), in this one process with one torch thread (what a DataLoader worker gets):

- loader: `VideoClipDataset.__getitem__` (open, decode, transform, normalise) per clip; the train
  transform is the augmentation of the recipe of the dataset the kind imitates (`KIND_RECIPES`: SSv2's
  crop -> flip -> RandAugment -> RandomErasing, the others' RandAugment -> crop -> flip), with the bench's
  frames and uniform sampling;
- raw: decord alone on the same file and the same frame indices (open + one get_batch): the physical
  limit of CPU decoding for that access pattern;

timed clip by clip, alternating raw and loaders on the same clip, in CPU time of this process (what a
worker does with a core to itself; wall-clock figures beside them). ratio = loader clips/s / raw
clips/s (target >= 0.8). Each row carries its `stages` (CPU ms per clip of each loader stage,
`zeroi2v.data.stages`: open, decode, resize, every RandAugment op, crop + resize, flip, erasing, stack,
normalize, "other" = the rest of `__getitem__`; collate = DataLoader's default_collate of a batch of 8,
per clip, timed apart), and each kind a `decoders` table: every installed backend decoding the same
train frames (open + one read per clip, CPU ms per clip, frames equal to decord's or not). Workers per accelerator = the model's views/s (measured in this run, on
the device and model named in the section) / the views/s one worker delivers (loader clips/s x views
per clip): a CPU device makes it a CPU-derived figure, and the section says so.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch


from zeroi2v.settings.datasets import fixture_recipes
from zeroi2v.settings.defaults import LOADERS

from zeroi2v.bench.config import BenchConfig
from zeroi2v.bench.machine import log

TARGET_RATIO = 0.8


VARIANTS = LOADERS  # the loader variants measured: zeroi2v.settings.defaults.LOADERS (--loader of every command)


# the recipe whose training augmentation each fixture kind's train transform uses (zeroi2v.settings.recipes)
KIND_RECIPES = fixture_recipes()  # the dataset records' `fixture` kinds


def train_augmentation(kind: str, size: int) -> tuple[str, dict]:
    """(recipe name, its training augmentation for `size`): `Recipe.train_data_kwargs()` without its frames and
    sampling (the bench's own, so the raw decode reads the same frames), the short side scaled by size / 224."""
    from zeroi2v.settings.recipes import get_recipe

    name = KIND_RECIPES[kind]
    recipe = get_recipe(name)
    aug = recipe.augmentation_kwargs()
    if aug["short_side"] is not None:
        aug["short_side"] = int(round(aug["short_side"] * size / recipe.size))
    return name, aug


def _datasets(cfg: BenchConfig, paths: list[Path], *, size: int, mean, std, variant: str, train_aug: dict) -> dict:
    """{"train": dataset, "test": dataset} for one loader variant; `train_aug`: the train augmentation kwargs."""
    from zeroi2v.data import VideoClipDataset, VideoItem

    items = [VideoItem(video_id=p.name, path=p, label=0, class_name="c") for p in paths]
    common = dict(num_frames=cfg.frames, size=size, mean=mean, std=std, decoder=cfg.decoder, **VARIANTS[variant])
    return dict(train=VideoClipDataset(items, train=True, **train_aug, **common),
                test=VideoClipDataset(items, train=False, num_crops=3, **common))


def raw_decoder() -> str:
    """decord (the reference: one get_batch of the wanted frames) where installed, else PyAV."""
    from zeroi2v.data.decode import decoder_problem

    return "decord" if decoder_problem("decord") is None else "pyav"


def _raw(path: Path, indices, decoder: str) -> None:
    from zeroi2v.data.decode import open_video, read_frames

    vr = open_video(path, decoder=decoder, num_threads=1)
    read_frames(vr, indices, path=path)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _stage_table(rec, n_clips: int, cpu: float, collate_s: float) -> dict[str, float]:
    """{stage: CPU ms per clip}, largest first, then "other" (the loader's time outside the stages) and "collate"."""
    table = {k: v * 1e3 / n_clips for k, v in sorted(rec.seconds.items(), key=lambda kv: -kv[1])}
    table["other"] = max(0.0, cpu - sum(rec.seconds.values())) * 1e3 / n_clips
    table["collate"] = collate_s * 1e3
    return table


def _collate_s(video: torch.Tensor, batch: int = 8, repeats: int = 5) -> float:
    """CPU seconds per clip of DataLoader's default_collate stacking `batch` such clips."""
    from torch.utils.data import default_collate

    samples = [(video.clone(), 0) for _ in range(batch)]
    default_collate(samples)
    c0 = time.process_time()
    for _ in range(repeats):
        default_collate(samples)
    return (time.process_time() - c0) / (repeats * batch)


def measure(loaders: dict, n_clips: int) -> dict[str, dict]:
    """Per clip 0..n_clips-1 (cycled over the videos, one epoch per cycle: every clip its own random draw --
    frames, crop, RandAugment plan -- as in training): raw decode, then each loader on the same clip.

    All loaders share the sampling settings, so the raw frame indices are the same for all of them.
    Rates and ratios use this process's CPU time (all its threads): what one worker process does with a
    core to itself, unaffected by other load on the machine; wall-clock figures are kept beside them.
    Returns one result per loader name.
    """
    from zeroi2v.data.decode import open_video
    from zeroi2v.data.stages import Recorder, recording

    first = next(iter(loaders.values()))
    recs = {name: Recorder() for name in loaders}
    raw = raw_decoder()
    lengths: dict = {}
    raw_t: list[tuple[float, float]] = []
    load_t: dict[str, list[tuple[float, float]]] = {name: [] for name in loaders}
    last: dict[str, torch.Tensor] = {}
    for k in range(n_clips + 1):  # clip 0 twice: the first pass warms the page cache and imports
        i, epoch = k % len(first), max(0, k - 1) // len(first)  # clip 0 and its warm-up pass: the same draw
        path = first.items[i].path
        if path not in lengths:
            lengths[path] = len(open_video(path, decoder=raw))
        idx = first.frame_indices(i, lengths[path], epoch).reshape(-1)
        w0, c0 = _clock()
        _raw(path, idx, raw)
        w1, c1 = _clock()
        if k:
            raw_t.append((w1 - w0, c1 - c0))
        for name, ds in loaders.items():
            with recording() as rec:
                w0, c0 = _clock()
                last[name], _ = ds[(epoch, i)]
                w1, c1 = _clock()
            if k:
                load_t[name].append((w1 - w0, c1 - c0))
                recs[name].add(rec)
    raw_wall, raw_cpu = (sum(t[j] for t in raw_t) for j in (0, 1))
    out = {}
    for name, times in load_t.items():
        video = last[name]
        wall, cpu = (sum(t[j] for t in times) for j in (0, 1))
        out[name] = dict(clips=n_clips, views_per_clip=int(video.shape[0]), clip_shape=list(video.shape),
                         dtype=str(video.dtype).replace("torch.", ""), raw_clips_per_s=n_clips / raw_cpu,
                         loader_clips_per_s=n_clips / cpu, ratio=raw_cpu / cpu,
                         ratio_median_paired=statistics.median(r[1] / t[1] for r, t in zip(raw_t, times)),
                         wall_raw_clips_per_s=n_clips / raw_wall, wall_loader_clips_per_s=n_clips / wall,
                         wall_ratio=raw_wall / wall, meets_target=raw_cpu / cpu >= TARGET_RATIO,
                         raw_ms_per_clip=raw_cpu * 1e3 / n_clips,
                         stages=_stage_table(recs[name], n_clips, cpu, _collate_s(video)))
    return out


def installed_decoders() -> list[str]:
    from zeroi2v.data.decode import decoder_problem

    return [d for d in ("decord", "pyav", "torchcodec") if decoder_problem(d) is None]


def compare_decoders(ds, n_clips: int) -> dict[str, dict]:
    """Every installed backend on the same frames (`ds`'s draws, clip by clip, backends interleaved): CPU ms per
    clip of open + one read, wall ms beside it, and whether its frames equal decord's on every clip."""
    from zeroi2v.data.decode import open_video, read_frames

    names = installed_decoders()
    times = {d: [0.0, 0.0] for d in names}
    equal = {d: True for d in names}
    lengths: dict = {}
    for k in range(n_clips + 1):  # clip 0 twice: the first pass warms the page cache and each backend
        i, epoch = k % len(ds), max(0, k - 1) // len(ds)
        path = ds.items[i].path
        if path not in lengths:
            lengths[path] = len(open_video(path, decoder=names[0]))
        idx = ds.frame_indices(i, lengths[path], epoch).reshape(-1)
        ref = None
        for d in names:
            w0, c0 = _clock()
            frames = read_frames(open_video(path, decoder=d, num_threads=1), idx, path=path)
            w1, c1 = _clock()
            if k:
                times[d][0] += w1 - w0
                times[d][1] += c1 - c0
            ref = frames if ref is None else ref
            equal[d] = equal[d] and frames.shape == ref.shape and bool((frames == ref).all())
    fastest = min(names, key=lambda d: times[d][1])
    return {d: dict(cpu_ms_per_clip=times[d][1] * 1e3 / n_clips, wall_ms_per_clip=times[d][0] * 1e3 / n_clips,
                    clips_per_s=n_clips / times[d][1], frames_equal_to=names[0] if d != names[0] else None,
                    frames_equal=equal[d], fastest=d == fastest) for d in names}


def bench_data_path(cfg: BenchConfig, *, size: int, mean, std, model: dict) -> dict:
    from zeroi2v.data import fixtures
    from zeroi2v.data.decode import resolve_decoder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a DataLoader worker's setting
    rows = []
    augmentation: dict[str, dict] = {}  # kind -> the recipe named and its train augmentation kwargs
    decoders: dict[str, dict] = {}  # kind -> backend -> raw decode of the train frames
    loader_decoders: dict[str, str] = {}  # kind -> the backend the loader's --decoder resolves to for its files
    try:
        for kind in cfg.fixture_kinds:
            spec = fixtures.get_spec(kind, cfg.fixture_scale)
            log(f"data path: {cfg.fixture_videos} {kind}-like videos ({spec.suffix} {spec.codec} "
                f"{spec.width}x{spec.height} {spec.fps} fps, {cfg.fixture_scale})")
            paths = fixtures.fixture_set(cfg.fixture_root, kind, videos=cfg.fixture_videos, scale=cfg.fixture_scale,
                                         seed=cfg.seed)
            loader_decoders[kind] = resolve_decoder(cfg.decoder, paths[0])  # what the loader opens this kind with
            recipe, train_aug = train_augmentation(kind, size)
            augmentation[kind] = dict(recipe=recipe, **train_aug)
            sets = {v: _datasets(cfg, paths, size=size, mean=mean, std=std, variant=v, train_aug=train_aug)
                    for v in VARIANTS}
            decoders[kind] = compare_decoders(sets[next(iter(VARIANTS))]["train"], cfg.path_clips)
            log("  decoders (CPU ms per clip, train frames): " + ", ".join(
                f"{d} {t['cpu_ms_per_clip']:.1f}" for d, t in decoders[kind].items()))
            for mode in ("train", "test"):
                for out, r in measure({v: sets[v][mode] for v in VARIANTS}, cfg.path_clips).items():
                    views = r["loader_clips_per_s"] * r["views_per_clip"]  # one worker's views/s
                    r.update(kind=kind, mode=mode, variant=out, views_per_s_per_worker=views,
                             workers_per_device=model["clips_per_s"] / views,
                             recipe=recipe if mode == "train" else None)  # test: the bench's own 3-crop transform
                    named = f" ({recipe})" if r["recipe"] else ""
                    log(f"  {kind} {mode}{named} ({out}): loader {r['loader_clips_per_s']:.2f} clips/s, raw decode "
                        f"{r['raw_clips_per_s']:.2f} clips/s, ratio {r['ratio']:.2f}")
                    rows.append(r)
    finally:
        torch.set_num_threads(threads)
    specs = {k: asdict(fixtures.get_spec(k, cfg.fixture_scale)) for k in cfg.fixture_kinds}
    derived = "CPU-derived" if model["device"].startswith("cpu") else f"measured on {model['device']}"
    return dict(frames=cfg.frames, size=size, decoder=cfg.decoder, raw_decoder=raw_decoder(), torch_threads=1,
                scale=cfg.fixture_scale, videos_per_kind=cfg.fixture_videos, fixtures=specs, target_ratio=TARGET_RATIO, rows=rows,
                train_augmentation=augmentation, decoders=decoders, loader_decoders=loader_decoders,
                model=model, workers_note=f"worker processes per device for the model's {model['forward']} "
                f"throughput ({derived}: {model['clips_per_s']:.2f} views/s on {model['device']})")
