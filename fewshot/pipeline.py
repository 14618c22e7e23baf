"""The stages of a few-shot run, in order; `run(cfg)` returns the printed table (see run.py)."""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from pathlib import Path

import torch

from episodes.episode_set import (describe_episode_set, read_episode_set, sample_episode_set,
                                  write_episode_set)
from results import records as rec
from zeroi2v.errors import UserError
from zeroi2v.io import atomic_write_json, sha256_file

from .adapt import AdaptConfig, adapt
from .embed import ViewConfig, cache_path, embed_videos, model_hash
from zeroi2v.toyvit import PretrainConfig, cache_dir, pretrain_toy_vit
from episodes.protocols import episode_indices, evaluate_table, mean_ci95, similarity_table
from .splitdata import FewShotData, load_fewshot_data

log = logging.getLogger("fewshot")


def check_weights(cfg) -> None:
    if cfg.pretrained and not Path(cfg.pretrained).is_file():
        raise UserError(f"pretrained weights {cfg.pretrained} not found; pass --pretrained with a local "
                        f"file (OpenAI CLIP ViT-B-16.pt, or a timm .pth/.safetensors of {cfg.backbone})")
    if not cfg.pretrained and cfg.dataset != "toy":
        raise UserError(f"{cfg.dataset} needs image weights for {cfg.backbone}: pass --pretrained FILE (e.g. "
                        f"OpenAI CLIP ViT-B-16.pt or a timm .safetensors); nothing is downloaded")


def resolve_pretrained(cfg, fs: FewShotData, *, mean, std, cache_root: Path) -> str:
    """The image weights (checked by `check_weights` first): --pretrained, or (toy) the tiny ViT
    pre-trained on toy frames."""
    if cfg.pretrained:
        return cfg.pretrained
    pcfg = PretrainConfig(backbone=cfg.backbone, timm_kwargs=dict(cfg.timm_kwargs), seed=cfg.seed)
    return str(pretrain_toy_vit(fs.root, pcfg, mean=mean, std=std, cache_root=cache_root))


def build_model(cfg, method: str, *, num_classes: int = 0, pretrained: str | None, **model_kw):
    import zeroi2v

    kinds = {"frozen": dict(stdha=None, adapters=None, temporal_embedding=False),
             "zeroi2v_no_stdha": dict(stdha=None), "zeroi2v": dict(stdha=cfg.stdha)}
    torch.manual_seed(cfg.seed)
    return zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, num_classes=num_classes,
                                pretrained=pretrained, **kinds[method], **model_kw, **cfg.timm_kwargs)


def episode_sets(cfg, fs: FewShotData, out: Path) -> list[tuple[list[dict], dict, str]]:
    """(episodes, description, file) per shot count: the given --episodes-file, or sampled and written."""
    if cfg.episodes_file:
        eps = read_episode_set(cfg.episodes_file)
        desc = describe_episode_set(eps)
        missing = {v for ep in eps for c in ep["support"] + ep["query"] for v in c} - set(fs.items)
        if missing:
            raise UserError(f"{cfg.episodes_file} names {len(missing)} videos not in {cfg.dataset} under "
                            f"{fs.root} (first: {sorted(missing)[0]}); sample it for this dataset")
        return [(eps, desc, cfg.episodes_file)]
    sets = []
    for shots in cfg.shots:
        path = out / "episodes" / f"{cfg.dataset}-test-{cfg.ways}w{shots}s{cfg.queries}q-{cfg.episodes}-seed{cfg.seed}.jsonl"
        eps = sample_episode_set(fs.splits["test"], cfg.ways, shots, cfg.queries, cfg.episodes, cfg.seed,
                                 source=f"{cfg.dataset} test")
        write_episode_set(path, eps)
        sets.append((eps, describe_episode_set(eps), str(path)))
        log.info("episode set: %d %d-way %d-shot episodes, hash %s -> %s", len(eps), cfg.ways, shots,
                 sets[-1][1]["hash"][:12], path)
    return sets


def recipe(dataset: str, train_items: list) -> tuple[dict, dict]:
    """Per-dataset (model, adaptation) settings beyond the command line.

    Real data: the original recipe (adapter scale 0.5, adapter dropout 0.1, head dropout 0.5),
    flips with SSv2's left/right label swap, the epoch selected on val few-shot accuracy.
    Toy: the tiny demo model learns faster with adapter scale 1 and no dropout; no flips (left/right
    and cw/ccw are classes); frames kept decoded; the last epoch is kept, because the toy's six val
    classes (small up/down moves, shakes, a squash) stay at chance for every method and epoch
    (measured), so selecting on them would pick an epoch at random.
    """
    if dataset == "toy":
        return (dict(adapter_scale=1.0, adapter_dropout=0.0, head_dropout=0.0),
                dict(flip=False, crop_scale=(0.6, 1.0), keep_decoded=True, select="last"))
    model = dict(adapter_scale=0.5, adapter_dropout=0.1, head_dropout=0.5)
    if dataset.startswith("ssv2"):
        from zeroi2v import data

        names = [n for _, n in sorted({(it.label, it.class_name) for it in train_items})]
        return model, dict(flip_map=tuple(data.flip_label_map(names)))
    return model, {}


def labelled(fs: FewShotData, split: str) -> list:
    """The split's videos with their split-local class index as label."""
    return [dataclasses.replace(fs.items[e.video_id], label=e.label) for e in fs.splits[split]]


def run(cfg) -> str:
    import zeroi2v
    from results.formats import render
    from results.load import RecordWarning, read_records
    from results.tables import fewshot_table

    out = Path(cfg.out)
    check_weights(cfg)  # missing weights or data: one line before anything is logged or written
    fs = load_fewshot_data(cfg.dataset, cfg.data_root, on_error=cfg.on_error)
    atomic_write_json(out / "config.json", dataclasses.asdict(cfg))
    log.info("config: %s", out / "config.json")
    cache_root = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir()
    probe = zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, adapters=None, **cfg.timm_kwargs)
    dc = zeroi2v.data_config(probe)
    size = cfg.size or probe.backbone.patch_embed.img_size[0]  # the model's input size, not the pretrained cfg's
    view = ViewConfig(num_frames=cfg.frames, size=size, mean=dc["mean"], std=dc["std"])
    pretrained = resolve_pretrained(cfg, fs, mean=dc["mean"], std=dc["std"], cache_root=cache_root)
    pretrained_sha = sha256_file(pretrained)
    sets = episode_sets(cfg, fs, out)
    train_items, val_items = labelled(fs, "train"), labelled(fs, "val")
    test_items = [fs.items[e.video_id] for e in fs.splits["test"]]
    n_base = len({it.label for it in train_items})
    model_kw, adapt_kw = recipe(cfg.dataset, train_items)
    acfg = AdaptConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, num_workers=cfg.num_workers,
                       seed=cfg.seed, ways=min(cfg.ways, len({it.label for it in val_items})), **adapt_kw)
    val_eps = sample_episode_set(fs.splits["val"], acfg.ways, acfg.shots, 1, acfg.val_episodes, cfg.seed + 1,
                                 source=f"{cfg.dataset} val")  # the fixed val episodes that select the epoch

    for method in cfg.methods:
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        adapted = method != "frozen"
        model = build_model(cfg, method, num_classes=n_base if adapted else 0, pretrained=pretrained,
                            **(model_kw if adapted else {}))
        params = zeroi2v.count_params(model)
        diff = None
        if adapted:
            log.info("[%s] stage a: adapting on %d base-class videos (%d classes), %d epochs", method,
                     len(train_items), n_base, cfg.epochs)
            adapt(model, train_items=train_items, val_items=val_items, val_episodes=val_eps, view=view, cfg=acfg,
                  out_dir=out / method, device=cfg.device, resume=cfg.resume)
            seconds["adapt"] = time.perf_counter() - t
            t = time.perf_counter()
            model.eval()
            export = out / method / "merged.safetensors"
            zeroi2v.save_merged(model, export)  # folds a copy, checks it, writes it: what follows uses the file
            merged = zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, num_classes=n_base, adapters=None,
                                          pretrained=str(export), **cfg.timm_kwargs).to(cfg.device).eval()
            batch = torch.utils.data.default_collate([_test_clip(test_items[i], view) for i in range(2)])
            diff = zeroi2v.check_merge(model, merged, batch.flatten(0, 1).to(cfg.device))
            log.info("[%s] stage b: merged and exported to %s; max |merged - unmerged| = %.2e (relative %.2e) "
                     "on 2 test clips", method, export, diff["max_abs"], diff["max_rel"])
            model = merged
            seconds["merge"] = time.perf_counter() - t
        t = time.perf_counter()
        model.head = torch.nn.Identity()  # features only: episodes never see the base-class head
        path = cache_path(cache_root, model_hash(model), cfg.dataset, view)
        feats, row_of, stats = embed_videos(model, test_items, view, path=path, device=cfg.device,
                                            batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                            on_error=cfg.on_error, desc=f"[{method}] embed test")
        seconds["embed"] = time.perf_counter() - t
        sim = similarity_table(feats)  # (N, N) cosine similarities: all both protocols need
        for eps, desc, ep_file in sets:
            sup, qry = episode_indices(row_of, eps)  # (E, W, K), (E, W, Q) rows of `sim`
            for protocol in cfg.protocols:
                t = time.perf_counter()
                acc = evaluate_table(protocol, sim, sup, qry)
                seconds[f"eval_{protocol}"] = time.perf_counter() - t
                mean, ci, std = mean_ci95(acc)
                name = f"{cfg.dataset}-{method}-{desc['ways']}w{desc['shots']}s-{protocol}"
                rel = rec.save_episode_accuracies(out, name, acc.double().numpy() * 100)
                record = rec.new_record(
                    "fewshot", dataset=cfg.dataset, method=method, backbone=cfg.backbone, seed=cfg.seed,
                    ways=desc["ways"], shots=desc["shots"], queries=desc["queries"], protocol=protocol,
                    accuracy=mean, ci95=ci, std=std, n_episodes=len(eps), episode_set_hash=desc["hash"],
                    episode_set=ep_file, episode_accuracies=rel, pretrained=pretrained,
                    pretrained_sha256=pretrained_sha, stdha=model.stdha_offsets,
                    adapters=model.adapter_config if adapted else None, params_total=params["total"],
                    params_trainable=params["trainable"] if adapted else 0,
                    merge_max_abs_diff=diff and diff["max_abs"], merge_max_rel_diff=diff and diff["max_rel"],
                    stage_seconds=dict(seconds), embedded=stats.embedded, embed_cached=stats.cached,
                    feature_cache=str(path), config=dataclasses.asdict(cfg))
                written = rec.write_record(out, record)
                log.info("[%s] %d-shot %s: %.2f ± %.2f %% over %d episodes -> %s", method, desc["shots"], protocol,
                         mean, ci, len(eps), written)
    with warnings.catch_warnings():  # earlier runs' records in `out` are superseded by this run's
        warnings.simplefilter("ignore", RecordWarning)
        table = fewshot_table(read_records(out).records)
    return render(table, "markdown") if table is not None else "(no few-shot records)"


def _test_clip(item, view: ViewConfig) -> torch.Tensor:
    from zeroi2v import data

    ds = data.VideoClipDataset([item], num_frames=view.num_frames, size=view.size, train=False,
                               mean=view.mean, std=view.std, num_clips=view.num_clips, num_crops=view.num_crops)
    return ds[0][0]  # (V, C, T, H, W)
