"""The stages of a few-shot run, in order; `run(cfg)` returns the printed table (see run.py).

    prepare                   every check on the inputs; nothing written           -> Plan
    commit                    config.json, run.log, the sampled episode sets       (first write)
    per method, METHOD_STAGES:
      adapt     model, base/val videos -> trained adapters  resume: <out>/<method>/checkpoint.pt, keyed on
                                                              `Plan.resume_identity` (settings, model,
                                                              the train/val list contents)
      merge     adapted model -> merged model (export)      rewritten each run (cheap, deterministic)
      embed     model, test videos -> features (M, D)       <cache>/features/<model hash>/..., keyed on
                                                              `fewshot.embed.cache_key` + per-video identity
      evaluate  features, episode sets -> records           none: records are written anew each run
    table     the records written -> markdown               (`fewshot.evaluate.run_table`)

Each stage is one function `stage(plan, state)` reading and filling a `MethodState`. Under torchrun
every rank adapts (data-parallel, through fewshot.adapt) and embeds its shard of the test videos;
rank 0 writes the export, the cache, the records and the table.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zeroi2v.settings.runfolder import check_run_folder, is_nonempty_dir
from zeroi2v.training import distributed as D
from zeroi2v.training.engine import to_input
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_json, sha256_file, sha256_json
from zeroi2v.utils.validate import check_frame_size
from zeroi2v.model.toyvit import PretrainConfig, cache_dir, pretrain_toy_vit
from zeroi2v.training.tracking import Tracker
from zeroi2v.methods.table import method_model_kwargs

from . import recipe as R
from .adapt import AdaptConfig, adapt, check_adapt_resume
from .embed import ViewConfig, cache_key, cache_path, embed_videos, model_hash
from .evaluate import EpisodeSet, MethodResult, episode_sets, evaluate_method, run_table, write_episode_sets
from .splitdata import FewShotData, load_fewshot_data

log = logging.getLogger("fewshot")


def check_weights(cfg) -> None:
    if cfg.pretrained and Path(cfg.pretrained).is_dir():
        raise UserError(f"pretrained weights {cfg.pretrained} is a directory; pass the weights file inside it")
    if cfg.pretrained and not Path(cfg.pretrained).is_file():
        raise UserError(f"pretrained weights {cfg.pretrained} not found; pass --pretrained with a local "
                        f"file (OpenAI CLIP ViT-B-16.pt, or a timm .pth/.safetensors of {cfg.backbone})")
    if not cfg.pretrained and cfg.dataset not in ("toy", "toy_time"):
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
    import zeroi2v

    torch.manual_seed(cfg.seed)
    return zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, num_classes=num_classes,
                                pretrained=pretrained, **method_model_kwargs(method, cfg.stdha), **model_kw,
                                **cfg.timm_kwargs)


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


def list_contents(items: list) -> str:
    """sha256 of a list's contents (video id, label, class): swapping two labels changes it."""
    return sha256_json(sorted([it.video_id, int(it.label), str(it.class_name)] for it in items))


def data_fields(fs: FewShotData) -> dict:
    """The record fields naming this run's data (`results.records.data_fields`): the generated toy
    set by its settings, any other by its root and the contents of its three splits."""
    from results.records import data_fields as fields
    from zeroi2v.data.toy import KINDS, read_meta

    meta = read_meta(fs.root, fs.dataset) if fs.dataset in KINDS else None
    lists = {split: [(e.video_id, e.class_key) for e in entries] for split, entries in fs.splits.items()}
    return fields(fs.root, lists, generated=meta["config"] if meta else None)


@dataclass
class Plan:
    """Everything `prepare` checked and resolved; read by every stage, changed by none."""

    cfg: object  # RunConfig, with size filled from the model
    out: Path
    fs: FewShotData
    sets: list[EpisodeSet]
    train_items: list
    val_items: list
    test_items: list
    n_base: int
    model_kw: dict  # adapted methods' model kwargs (recipe)
    acfg: AdaptConfig
    val_eps: list  # val episodes selecting the adaptation epoch
    view: ViewConfig
    clip_key: dict  # the view settings in resume keys and records
    data: dict  # record fields naming the data (`data_fields`)
    lists: dict  # sha256 of the train / val list contents (resume key)
    cache_root: Path
    summary: str | None = None  # the adaptation settings in one line (logged by `commit`)
    pretrained: str | None = None  # filled by `commit` (toy: the cached tiny ViT)
    pretrained_sha: str | None = None
    generated_weights: str | None = None  # toy ViT: sha256 of its training settings without the seed

    def resume_identity(self, method: str, **model_known) -> dict:
        """The resume key of `method`'s adaptation: the settings, the train/val list contents, plus
        what the built model adds (`model_known`)."""
        cfg = self.cfg
        return dict(backbone=cfg.backbone, timm_kwargs=cfg.timm_kwargs, frames=cfg.frames, method=method,
                    head_dropout=self.model_kw["head_dropout"], **self.clip_key, lists=self.lists, **model_known)


@dataclass
class MethodState:
    """What the stages of one method hand on: the model, then its features, then its records."""

    method: str
    model: torch.nn.Module
    params: dict
    adapters: dict | None = None
    diff: dict | None = None
    seconds: dict = field(default_factory=dict)
    trained: dict | None = None  # the trainer's state after adaptation (kept epoch, precision, learning check)
    result: MethodResult | None = None
    written: list = field(default_factory=list)

    @property
    def adapted(self) -> bool:
        return self.method != "frozen"


def prepare(cfg) -> Plan:
    """Every check before the first write: data, weights, model settings, episodes (one line each)."""
    import zeroi2v
    from episodes.episode_set import sample_episode_set

    out = Path(cfg.out)
    fs = load_fewshot_data(cfg.dataset, cfg.data_root, on_error=cfg.on_error)
    check_weights(cfg)
    probe = probe_model(cfg)
    sets = episode_sets(cfg, fs, out)
    train_items, val_items = labelled(fs, "train"), labelled(fs, "val")
    test_items = [fs.items[e.video_id] for e in fs.splits["test"]]
    n_base = len({it.label for it in train_items})
    model_kw, adapt_kw = R.adaptation(cfg, [n for _, n in sorted({(it.label, it.class_name) for it in train_items})])
    acfg = AdaptConfig(ways=min(cfg.ways, len({it.label for it in val_items})), **adapt_kw)
    adapted_methods = [m for m in cfg.methods if m != "frozen"]
    val_eps = sample_episode_set(fs.splits["val"], acfg.ways, acfg.shots, 1, acfg.val_episodes, cfg.seed + 1,
                                 source=f"{cfg.dataset} val") if adapted_methods else []  # select the epoch
    dc = zeroi2v.data_config(probe)
    cfg = dataclasses.replace(cfg, size=cfg.size or probe.backbone.patch_embed.img_size[0])  # the model's size
    check_frame_size("--size", cfg.size, probe.backbone)  # a multiple of the patch, the model's input size
    view = ViewConfig(num_frames=cfg.frames, size=cfg.size, mean=dc["mean"], std=dc["std"], loader=cfg.loader,
                      decoder=cfg.decoder, **R.view_settings(cfg))
    plan = Plan(cfg=cfg, out=out, fs=fs, sets=sets, train_items=train_items, val_items=val_items,
                test_items=test_items, n_base=n_base, model_kw=model_kw, acfg=acfg, val_eps=val_eps, view=view,
                clip_key=dict(size=view.size, sampling=view.sampling, interval=view.interval, loader=cfg.loader),
                data=data_fields(fs), lists=dict(train=list_contents(train_items), val=list_contents(val_items)),
                cache_root=Path(cfg.cache_dir) if cfg.cache_dir else cache_dir())
    if adapted_methods and cfg.batch_size % D.get_world_size():
        raise UserError(f"--batch-size {cfg.batch_size} is the global adaptation batch: it must be divisible by "
                        f"the {D.get_world_size()} processes; pass a multiple of {D.get_world_size()}")
    if cfg.resume:  # an unreadable or foreign adaptation checkpoint: one line, nothing under --out rewritten
        for method in adapted_methods:
            check_adapt_resume(out / method, cfg=acfg, train_items=train_items, val_items=val_items,
                               identity=plan.resume_identity(method))
    # every check passed: an earlier run's folder is not written into (rank 0 looks, before any rank writes)
    check_run_folder(out, resume=cfg.resume, nonempty=D.broadcast_object(is_nonempty_dir(out)))
    if adapted_methods:
        plan.summary = R.summary(cfg, model_kw, adapt_kw)
    return plan


def commit(plan: Plan) -> None:
    """The run's first writes (rank 0): config.json, run.log, the sampled episode sets; then the
    image weights (toy: the tiny ViT, trained once and cached)."""
    from .logs import attach_log_file

    cfg = plan.cfg
    if D.is_main():
        attach_log_file(plan.out)
        atomic_write_json(plan.out / "config.json", dataclasses.asdict(cfg))
        log.info("config: %s", plan.out / "config.json")
        write_episode_sets(plan.sets)
    if plan.summary:
        log.info("adaptation (recipe %s): %s", cfg.recipe, plan.summary)
    plan.pretrained = resolve_pretrained(cfg, plan.fs, mean=plan.view.mean, std=plan.view.std,
                                         cache_root=plan.cache_root)
    plan.pretrained_sha = sha256_file(plan.pretrained)
    if not cfg.pretrained:  # the toy ViT, trained per seed: one model drawn anew, like the toy data
        pcfg = {k: v for k, v in dataclasses.asdict(PretrainConfig(backbone=cfg.backbone,
                                                                   timm_kwargs=dict(cfg.timm_kwargs))).items()
                if k != "seed"}
        plan.generated_weights = sha256_json(dict(toy_vit=pcfg, data=plan.data["data_sha256"]))


def adapt_stage(plan: Plan, s: MethodState) -> None:
    """Train the adapters on the base classes (epoch chosen on val episodes). Resume key:
    `plan.resume_identity` + the model's STDHA offsets and the image weights' sha256."""
    if not s.adapted:
        return
    cfg, out, t = plan.cfg, plan.out, time.perf_counter()
    log.info("[%s] stage a: adapting on %d base-class videos (%d classes), %d epochs", s.method,
             len(plan.train_items), plan.n_base, cfg.epochs)
    tracker = Tracker(out / s.method, tensorboard=cfg.tensorboard, wandb_project=cfg.wandb,
                      run_name=f"{out.name}-{s.method}", config=dataclasses.asdict(cfg))  # metrics.csv too
    try:
        s.trained = adapt(s.model, train_items=plan.train_items, val_items=plan.val_items, val_episodes=plan.val_eps,
              view=plan.view, cfg=plan.acfg, out_dir=out / s.method, device=cfg.device, resume=cfg.resume,
              identity=plan.resume_identity(s.method, stdha=list(s.model.stdha_offsets),
                                            pretrained_sha256=plan.pretrained_sha),
              on_error=cfg.on_error, amp=cfg.amp, tracker=tracker)
    finally:
        tracker.close()
    s.seconds["adapt"] = time.perf_counter() - t


def merge_stage(plan: Plan, s: MethodState) -> None:
    """Fold the adapters into the image weights (rank 0 writes <out>/<method>/merged.safetensors;
    every rank reads it back) and check merged == unmerged on two readable test clips."""
    import zeroi2v

    if not s.adapted:
        return
    cfg, t = plan.cfg, time.perf_counter()
    model = s.model.eval()
    export = plan.out / s.method / "merged.safetensors"
    if D.is_main():
        zeroi2v.save_merged(model, export)  # folds a copy, checks it, writes it: what follows uses the file
    D.barrier()
    merged = zeroi2v.create_model(cfg.backbone, num_frames=cfg.frames, num_classes=plan.n_base, adapters=None,
                                  pretrained=str(export), **cfg.timm_kwargs).to(cfg.device).eval()
    clips, norm = _check_clips(plan.test_items, plan.view, n=2)
    batch = to_input(torch.utils.data.default_collate(clips), cfg.device, norm)  # (2, V, C, T, H, W)
    s.diff = zeroi2v.check_merge(model, merged, batch.flatten(0, 1))
    log.info("[%s] stage b: merged and exported to %s; max |merged - unmerged| = %.2e (relative %.2e) "
             "on 2 test clips", s.method, export, s.diff["max_abs"], s.diff["max_rel"])
    s.model = merged
    s.seconds["merge"] = time.perf_counter() - t


def embed_stage(plan: Plan, s: MethodState) -> None:
    """Features of every test video (cached by model content hash, dataset and view; rows by video
    identity, `--verify-cache`: by content hash too)."""
    cfg, t = plan.cfg, time.perf_counter()
    s.model.head = torch.nn.Identity()  # features only: episodes never see the base-class head
    key = model_hash(s.model)
    path = cache_path(plan.cache_root, key, cfg.dataset, plan.view)
    feats, row_of, stats = embed_videos(s.model, plan.test_items, plan.view, path=path, root=plan.fs.root,
                                        device=cfg.device, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                        on_error=cfg.on_error, amp=cfg.amp, desc=f"[{s.method}] embed test",
                                        key=cache_key(key, cfg.dataset, plan.view), verify=cfg.verify_cache)
    s.seconds["embed"] = time.perf_counter() - t
    adapted, params = s.adapted, s.params
    info = dict(stdha=s.model.stdha_offsets, adapters=s.adapters,
                params_total=params["total"], params_trainable=params["trainable"] if adapted else 0,
                merge_max_abs_diff=s.diff and s.diff["max_abs"], merge_max_rel_diff=s.diff and s.diff["max_rel"],
                world_size=D.get_world_size(), **R.trained_fields(plan.acfg, s.trained),
                adaptation=dict(dataclasses.asdict(plan.acfg), **plan.model_kw, **plan.clip_key) if adapted else None)
    s.result = MethodResult(s.method, feats, row_of, info, s.seconds, stats, str(path))


def evaluate_stage(plan: Plan, s: MethodState) -> None:
    """Every protocol on every episode set -> one record each (rank 0)."""
    if not D.is_main():
        return
    s.written = evaluate_method(plan.cfg, plan.out, plan.sets, s.result, pretrained=plan.pretrained,
                                pretrained_sha=plan.pretrained_sha, identity=record_identity(plan, s))


METHOD_STAGES = (adapt_stage, merge_stage, embed_stage, evaluate_stage)


def record_identity(plan: Plan, s: MethodState) -> dict:
    """The identity fields of `s`'s records: the data, the model, the settings (without the seed)."""
    cfg = plan.cfg
    model = dict(backbone=cfg.backbone, timm_kwargs=cfg.timm_kwargs, frames=cfg.frames,
                 stdha=list(s.model.stdha_offsets), adapters=s.adapters,
                 weights=plan.generated_weights or plan.pretrained_sha)
    adaptation = s.result.model_info["adaptation"]
    settings = dict(view=dataclasses.asdict(plan.view),
                    adaptation={k: v for k, v in (adaptation or {}).items() if k not in ("seed", "num_workers")}
                    if s.adapted else None)
    generated = {"pretrained_generated": plan.generated_weights} if plan.generated_weights else {}
    return dict(plan.data, model_sha256=sha256_json(model), settings_sha256=sha256_json(settings), **generated)


def run(cfg) -> str:
    """Run every stage; the markdown table of this run's records (rank 0; "" on the other ranks)."""
    written = run_stages(cfg)
    return run_table(written) if D.is_main() else ""


def run_stages(cfg) -> list[tuple[Path, dict]]:
    """prepare -> commit -> METHOD_STAGES per method; the (path, record) pairs written (rank 0)."""
    import zeroi2v

    plan = prepare(cfg)
    commit(plan)
    written = []
    for method in plan.cfg.methods:
        adapted = method != "frozen"
        model = build_model(plan.cfg, method, num_classes=plan.n_base if adapted else 0, pretrained=plan.pretrained,
                            **(plan.model_kw if adapted else {}))
        s = MethodState(method, model, zeroi2v.count_params(model),
                        adapters=dict(model.adapter_config) if adapted else None)  # (merged away below)
        for stage in METHOD_STAGES:
            stage(plan, s)
        written += s.written
    return written


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
