"""The stages of a few-shot run, in order; `run(cfg)` returns the printed table (see run.py).

Every check on the inputs (weights, data, episode sets, impossible ways) runs before anything is
written under --out; `commit` is the first write. Under torchrun every rank adapts (data-parallel,
through fewshot.adapt) and embeds its shard of the test videos; rank 0 writes the export, the
cache, the records and the table.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import torch

from zeroi2v.training import distributed as D
from zeroi2v.training.engine import to_input
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_json, sha256_file
from zeroi2v.model.toyvit import PretrainConfig, cache_dir, pretrain_toy_vit
from zeroi2v.training.tracking import Tracker
from zeroi2v.methods import get_method, method_optim

from . import recipe as R
from .adapt import AdaptConfig, adapt, check_adapt_resume
from .embed import ViewConfig, cache_path, embed_videos, model_hash
from .evaluate import MethodResult, episode_sets, evaluate_method, run_table, write_episode_sets
from .splitdata import FewShotData, load_fewshot_data

log = logging.getLogger("fewshot")


def check_weights(cfg) -> None:
    if cfg.pretrained and Path(cfg.pretrained).is_dir():
        raise UserError(f"pretrained weights {cfg.pretrained} is a directory; pass the weights file inside it")
    if cfg.pretrained and not Path(cfg.pretrained).is_file():
        raise UserError(f"pretrained weights {cfg.pretrained} not found; pass --pretrained with a local "
                        f"file (OpenAI CLIP ViT-B-16.pt, or a timm .pth/.safetensors of {cfg.backbone})")
    if not cfg.pretrained and cfg.dataset != "toy":
        raise UserError(f"{cfg.dataset} needs image weights for {cfg.backbone}: pass --pretrained FILE (e.g. "
                        f"OpenAI CLIP ViT-B-16.pt or a timm .safetensors); nothing is downloaded")


def resolve_pretrained(cfg, fs: FewShotData, *, mean, std, cache_root: Path) -> str:
    """The image weights (checked by `check_weights` first): --pretrained, or (toy) the tiny ViT
    pre-trained on toy frames (rank 0 trains it once; the others read its cached file)."""
    if cfg.pretrained:
        return cfg.pretrained
    pcfg = PretrainConfig(backbone=cfg.backbone, timm_kwargs=dict(cfg.timm_kwargs), seed=cfg.seed)
    if not D.is_main():
        D.barrier()
    path = str(pretrain_toy_vit(fs.root, pcfg, mean=mean, std=std, cache_root=cache_root))
    if D.is_main():
        D.barrier()
    return path


def build_model(cfg, method: str, *, num_classes: int = 0, pretrained: str | None, **model_kw):
    torch.manual_seed(cfg.seed)
    return get_method(method).build(cfg.backbone, num_frames=cfg.frames, num_classes=num_classes,
                                    pretrained=pretrained, stdha=cfg.stdha, dataset=cfg.dataset, **model_kw,
                                    **cfg.timm_kwargs)


def method_adapt_config(cfg, acfg: AdaptConfig, method: str) -> AdaptConfig:
    """The adaptation settings of `method`: the run's, with the method's optimiser fields
    (zeroi2v.methods: its paper's values on an original recipe; relative ones everywhere)."""
    default_lr = R.fill(dataclasses.replace(cfg, lr=None), dataset=cfg.dataset, name=cfg.recipe)["lr"]
    given = {"lr"} if cfg.lr != default_lr else set()  # an --lr other than the recipe's wins
    return dataclasses.replace(acfg, **method_optim(method, recipe=cfg.recipe, given=given,
                                                    global_batch=acfg.batch_size * acfg.accum))


def probe_model(cfg):
    """The image model with the run's backbone, timm kwargs, STDHA and --pretrained weights: each flag
    checked before anything is written (a bad value is one line naming the flags)."""
    import zeroi2v

    try:
        return zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, adapters=None, stdha=cfg.stdha,
                                    pretrained=cfg.pretrained, **cfg.timm_kwargs)
    except (ValueError, TypeError, RuntimeError, AssertionError) as e:  # timm / STDHA refusing the settings
        raise UserError(f"cannot build {cfg.backbone} with --timm-kwargs {cfg.timm_kwargs} --stdha {cfg.stdha} "
                        f"--frames {cfg.frames}: {e.__class__.__name__}: {e}; fix these flags") from None


def labelled(fs: FewShotData, split: str) -> list:
    """The split's videos with their split-local class index as label."""
    return [dataclasses.replace(fs.items[e.video_id], label=e.label) for e in fs.splits[split]]


def commit(cfg, out: Path, sets) -> None:
    """The run's first writes (rank 0): config.json, run.log, the sampled episode sets."""
    from .logs import attach_log_file

    if not D.is_main():
        return
    attach_log_file(out)
    atomic_write_json(out / "config.json", dataclasses.asdict(cfg))
    log.info("config: %s", out / "config.json")
    write_episode_sets(sets)


def run(cfg) -> str:
    """Run every stage; the markdown table of this run's records (rank 0; "" on the other ranks)."""
    written = run_stages(cfg)
    return run_table(written) if D.is_main() else ""


def run_stages(cfg) -> list[tuple[Path, dict]]:
    """Run every stage; the (path, record) pairs written (rank 0; [] on the other ranks)."""
    import zeroi2v
    from episodes.episode_set import sample_episode_set

    out = Path(cfg.out)
    # every check before the first write: data, weights, model settings, episodes (one line each)
    fs = load_fewshot_data(cfg.dataset, cfg.data_root, on_error=cfg.on_error)
    check_weights(cfg)
    probe = probe_model(cfg)
    sets = episode_sets(cfg, fs, out)
    train_items, val_items = labelled(fs, "train"), labelled(fs, "val")
    test_items = [fs.items[e.video_id] for e in fs.splits["test"]]
    n_base = len({it.label for it in train_items})
    model_kw, adapt_kw = R.adaptation(cfg, [n for _, n in sorted({(it.label, it.class_name) for it in train_items})])
    acfg = AdaptConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, accum=cfg.accum, lr=cfg.lr,
                       num_workers=cfg.num_workers, seed=cfg.seed,
                       ways=min(cfg.ways, len({it.label for it in val_items})), **adapt_kw)
    adapted_methods = [m for m in cfg.methods if get_method(m).adapts]
    val_eps = sample_episode_set(fs.splits["val"], acfg.ways, acfg.shots, 1, acfg.val_episodes, cfg.seed + 1,
                                 source=f"{cfg.dataset} val") if adapted_methods else []  # select the epoch
    dc = zeroi2v.data_config(probe)
    cfg = dataclasses.replace(cfg, size=cfg.size or probe.backbone.patch_embed.img_size[0])  # the model's size
    view = ViewConfig(num_frames=cfg.frames, size=cfg.size, mean=dc["mean"], std=dc["std"], loader=cfg.loader,
                      **R.view_settings(cfg))
    clip_key = dict(size=view.size, sampling=view.sampling, interval=view.interval, loader=cfg.loader)

    def identity(method: str, **model_known) -> dict:
        """The resume key of `method`'s adaptation: the settings, plus what the built model adds."""
        return dict(backbone=cfg.backbone, timm_kwargs=cfg.timm_kwargs, frames=cfg.frames, method=method,
                    head_dropout=model_kw["head_dropout"], **clip_key, **model_known)

    if adapted_methods and cfg.batch_size % D.get_world_size():
        raise UserError(f"--batch-size {cfg.batch_size} is the global adaptation batch: it must be divisible by "
                        f"the {D.get_world_size()} processes; pass a multiple of {D.get_world_size()}")
    if cfg.resume:  # an unreadable or foreign adaptation checkpoint: one line, nothing under --out rewritten
        for method in adapted_methods:
            check_adapt_resume(out / method, cfg=method_adapt_config(cfg, acfg, method), amp=cfg.amp,
                               train_items=train_items, val_items=val_items, identity=identity(method))
    commit(cfg, out, sets)  # every check passed: the first write under --out
    if adapted_methods:
        log.info("adaptation (recipe %s): %s", cfg.recipe, R.summary(cfg, model_kw, adapt_kw))
    cache_root = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir()
    pretrained = resolve_pretrained(cfg, fs, mean=dc["mean"], std=dc["std"], cache_root=cache_root)
    pretrained_sha = sha256_file(pretrained)

    written = []
    for method in cfg.methods:
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        spec = get_method(method)
        adapted = spec.adapts
        model = build_model(cfg, method, num_classes=n_base if adapted else 0, pretrained=pretrained,
                            **(model_kw if adapted else {}))
        params = zeroi2v.count_params(model)
        macfg = method_adapt_config(cfg, acfg, method) if adapted else acfg
        adapters = dict(model.adapter_config) if adapted else None  # the trained adapters (merged away below)
        diff = None
        if adapted:
            log.info("[%s] stage a: adapting on %d base-class videos (%d classes), %d epochs", method,
                     len(train_items), n_base, cfg.epochs)
            tracker = Tracker(out / method, tensorboard=cfg.tensorboard, wandb_project=cfg.wandb,
                              run_name=f"{out.name}-{method}", config=dataclasses.asdict(cfg))  # metrics.csv too
            try:
                adapt(model, train_items=train_items, val_items=val_items, val_episodes=val_eps, view=view,
                      cfg=macfg, out_dir=out / method, device=cfg.device, resume=cfg.resume,
                      identity=identity(method, stdha=list(model.stdha_offsets), pretrained_sha256=pretrained_sha),
                      on_error=cfg.on_error, amp=cfg.amp, tracker=tracker)
            finally:
                tracker.close()
            seconds["adapt"] = time.perf_counter() - t
            t = time.perf_counter()
            if spec.mergeable:
                model, diff = merge_stage(cfg, model, method, out, view, test_items, n_base)
                seconds["merge"] = time.perf_counter() - t
        t = time.perf_counter()
        model.head = torch.nn.Identity()  # features only: episodes never see the base-class head
        path = cache_path(cache_root, model_hash(model), cfg.dataset, view)
        feats, row_of, stats = embed_videos(model, test_items, view, path=path, root=fs.root, device=cfg.device,
                                            batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                            on_error=cfg.on_error, amp=cfg.amp, desc=f"[{method}] embed test")
        seconds["embed"] = time.perf_counter() - t
        if not D.is_main():
            continue  # evaluation and records: rank 0
        cost = inference_cost(model, params["trainable"] if adapted else 0, cfg, spec)
        info = dict(stdha=model.stdha_offsets, adapters=adapters, **cost,
                    merge_max_abs_diff=diff and diff["max_abs"], merge_max_rel_diff=diff and diff["max_rel"],
                    world_size=D.get_world_size(),
                    adaptation=dict(dataclasses.asdict(macfg), **model_kw, **clip_key) if adapted else None)
        result = MethodResult(method, feats, row_of, info, seconds, stats, str(path))
        written += evaluate_method(cfg, out, sets, result, pretrained=pretrained, pretrained_sha=pretrained_sha)
    return written


def inference_cost(model, trained: int, cfg, spec) -> dict:
    """The record's cost fields of the features model that embeds the test videos (zeroi2v.methods.cost)."""
    from zeroi2v.methods.cost import inference_cost as measure

    what = "image" if not spec.adapts else ("merged" if spec.mergeable else "trained")
    return dict(measure(model, trained_params=trained, num_frames=cfg.frames, size=cfg.size, device=cfg.device),
                inference_model=what)


def merge_stage(cfg, model, method: str, out: Path, view: ViewConfig, test_items: list, n_base: int):
    """Fold the adapters into the image weights (rank 0 writes the export; every rank reads it back)
    and check merged == unmerged on two readable test clips; returns (merged model, differences)."""
    import zeroi2v

    model.eval()
    export = out / method / "merged.safetensors"
    if D.is_main():
        zeroi2v.save_merged(model, export)  # folds a copy, checks it, writes it: what follows uses the file
    D.barrier()
    merged = zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, num_classes=n_base, adapters=None,
                                  pretrained=str(export), **cfg.timm_kwargs).to(cfg.device).eval()
    clips, norm = _check_clips(test_items, view, n=2)
    batch = to_input(torch.utils.data.default_collate(clips), cfg.device, norm)  # (2, V, C, T, H, W)
    diff = zeroi2v.check_merge(model, merged, batch.flatten(0, 1))
    log.info("[%s] stage b: merged and exported to %s; max |merged - unmerged| = %.2e (relative %.2e) "
             "on 2 test clips", method, export, diff["max_abs"], diff["max_rel"])
    return merged, diff


def _check_clips(items: list, view: ViewConfig, *, n: int) -> tuple[list[torch.Tensor], tuple | None]:
    """The first `n` readable test clips (V, C, T, H, W) and their input_norm; unreadable videos are passed over."""
    from zeroi2v import data
    from zeroi2v.data.decode import VideoError

    ds = data.VideoClipDataset(items, **view.dataset_kwargs())
    clips = []
    for i in range(len(items)):
        try:
            clips.append(ds.load(i)[0])
        except VideoError:
            continue
        if len(clips) == n:
            return clips, ds.input_norm
    raise UserError("fewer than 2 readable test videos to check the merged model on; check the dataset "
                    "with python -m fewshot.data check")
