"""Embed videos once with a (merged) model and cache the features on disk.

A cache file holds the view-averaged features of one model on one dataset under one sampling
config: `<cache>/features/<model hash>/<dataset>-<view hash>.pt` (the `zeroi2v.data.feature_cache` format:
key, ids, identities, features (N, D)). The model hash covers every
tensor of the model plus its STDHA offsets and frame count, so a different model can never be
served stale features; the file itself records that key (`cache_key`: model hash, dataset, view),
so a cache file copied or renamed into another model's folder is reported and recomputed. Each row
is also keyed by its video's identity -- path relative to the data root, size and mtime (the
make/rsync convention) -- so a replaced, repaired or regenerated video (another --data-root,
another toy seed) is re-embedded and an unchanged one never is. `verify=True` (`--verify-cache`)
also hashes every video's bytes: a video edited in place with its size and mtime kept is
re-embedded (rows embedded so keep their hash; a run without the flag still reuses them). A
truncated or foreign cache file is warned about and recomputed. The file is rewritten atomically
every `save_every` videos, so an interrupted embedding resumes.

Features that are not finite (a NaN or inf from a broken checkpoint or settings) stop the run
with one line, before anything is cached. A video that cannot be decoded is an error, or
(`on_error="skip"`) gets NO features: it is left
out of the returned rows and of the cache, and the caller drops the episodes that need it.
Under torchrun the videos to embed are sharded across ranks and gathered (each embedded once in
total); only rank 0 writes the cache.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from zeroi2v.training import distributed as D
from zeroi2v.data import feature_cache
from zeroi2v.training.engine import to_input
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import sha256_json
from zeroi2v.training.trainer import amp_dtype

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class ViewConfig:
    """How a video becomes model input at test time (part of the cache key)."""

    num_frames: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_clips: int = 1
    num_crops: int = 1
    sampling: str = "uniform"
    interval: int | None = None
    loader: str = "float32"  # zeroi2v.settings.defaults.LOADERS: "uint8+fast" resizes in uint8 (within one grey level)
    decoder: str = "auto"  # zeroi2v.data.decode ("auto" enters the key as its per-format rule, decode.AUTO_RULE)

    def dataset_kwargs(self) -> dict:
        """The VideoClipDataset keyword arguments of this view (test mode; besides items)."""
        from zeroi2v.settings.defaults import LOADERS

        return dict(num_frames=self.num_frames, size=self.size, train=False, mean=self.mean, std=self.std,
                    num_clips=self.num_clips, num_crops=self.num_crops, sampling=self.sampling,
                    interval=self.interval, decoder=self.decoder, **LOADERS[self.loader])

    def key(self) -> str:
        d = asdict(self)
        if d["decoder"] == "auto":  # what "auto" picks per file (earlier caches: decord for every format)
            from zeroi2v.data.decode import AUTO_RULE

            d["decoder"] = AUTO_RULE
        return sha256_json(d)[:12]


def model_hash(model: torch.nn.Module) -> str:
    """Content hash of a model: every state-dict tensor (name, dtype, shape, bytes) and its STDHA spec."""
    h = hashlib.sha256()
    h.update(repr((getattr(model, "backbone_name", ""), getattr(model, "num_frames", 0),
                   getattr(model, "stdha_offsets", []))).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_path(cache_root: Path, model_key: str, dataset: str, view: ViewConfig) -> Path:
    return Path(cache_root) / "features" / model_key[:16] / f"{dataset}-{view.key()}.pt"


def cache_key(model_key: str, dataset: str, view: ViewConfig) -> dict:
    """What a cache file's features were computed for; stored in the file and checked on load."""
    return dict(model=model_key, dataset=dataset, view=view.key())


HASHED = "|sha256:"


def video_identity(path: Path, root: Path | None, *, content: bool = False) -> str:
    """`relative/path|size|mtime_ns`: changes whenever the file is replaced or rewritten; with
    `content` also `|sha256:<hex>` of its bytes (changes when it is edited in place)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}|missing"
    try:
        rel = path.resolve().relative_to(Path(root).resolve()).as_posix() if root is not None else str(path)
    except ValueError:
        rel = str(path.resolve())
    ident = f"{rel}|{st.st_size}|{st.st_mtime_ns}"
    if content:
        from zeroi2v.utils.io import sha256_file

        try:
            ident += HASHED + sha256_file(path)
        except OSError:
            return f"{path}|unreadable"
    return ident


def cached_row_valid(cached: str | None, ident: str) -> bool:
    """A cached row serves a video of identity `ident`: equal, or (`ident` unhashed) equal once the
    row's content hash is set aside."""
    if cached is None:
        return False
    return cached == ident or (HASHED not in ident and cached.split(HASHED)[0] == ident)


@dataclass
class EmbedStats:
    embedded: int = 0  # videos run through the model in this call (all ranks together)
    cached: int = 0  # videos served from the cache
    skipped: list[str] = field(default_factory=list)  # ids of unreadable videos (no features)
    cache_discarded: str | None = None  # why an existing cache file was not used


def read_cache(path: Path | None, key: dict | None = None) -> tuple[dict[str, tuple[str, torch.Tensor]], str | None]:
    """{video id: (identity, feature)} of a cache file; ({}, reason) for a missing/truncated/foreign one
    (with `key`: also one computed for another model, dataset or view)."""
    if path is None or not path.exists():
        return {}, None
    try:
        ids, idents, feats = feature_cache.load(path, key=key)
    except feature_cache.ForeignCache as e:
        log.warning("feature cache %s was %s, not for this model and view; recomputing it", path, e)
        return {}, f"foreign: {e}"
    except Exception as e:  # noqa: BLE001 -- any unreadable file is recomputed, never trusted
        reason = f"{e.__class__.__name__}: {' '.join(str(e).split())[:120]}"
        log.warning("feature cache %s is truncated or not a feature cache (%s); recomputing it", path, reason)
        return {}, reason
    return {i: (ident, f) for i, ident, f in zip(ids, idents, feats)}, None


class _Clips(torch.utils.data.Dataset):
    """(video, position) of a VideoClipDataset, or (None, position, reason) for an unreadable video:
    no substitution by the next video, so a feature always belongs to the video it is stored under."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        from zeroi2v.data.decode import VideoError

        try:
            return self.ds.load(i)[0], i, None
        except VideoError as e:
            return None, i, str(e)


def _collate(batch):
    ok = [b for b in batch if b[0] is not None]
    video = torch.utils.data.default_collate([b[0] for b in ok]) if ok else None  # (B, V, C, T, H, W)
    return video, [b[1] for b in ok], [(b[1], b[2]) for b in batch if b[0] is None]


def loader_kwargs(num_workers: int, device) -> dict:
    return dict(num_workers=num_workers, pin_memory=str(device).startswith("cuda"),
                persistent_workers=num_workers > 0)


@torch.inference_mode()
def embed_videos(model: torch.nn.Module, items: list, view: ViewConfig, *, path: Path | None, root: Path | None = None,
                 device: str = "cpu", batch_size: int = 8, num_workers: int = 0, on_error: str = "error",
                 amp: str = "auto", save_every: int = 256, key: dict | None = None, verify: bool = False,
                 desc: str = "embed") -> tuple[torch.Tensor, dict[str, int], EmbedStats]:
    """Features (M, D) of the readable `items` (in their order), their row index by video id, and what
    was computed. Unreadable videos (on_error="skip") have no row.

    `path` None: no cache (e.g. validation features of a model still being trained). `key`: what the
    cache file must have been computed for (`cache_key`; default: this model's hash and the view).
    `verify`: also compare every video's content hash with the cached row's."""
    from zeroi2v import data

    stats = EmbedStats()
    rank, world = D.get_rank(), D.get_world_size()
    if path is not None and key is None:
        key = cache_key(model_hash(model), "", view)
    cache, stats.cache_discarded = read_cache(path, key) if rank == 0 else ({}, None)
    ident = {it.video_id: video_identity(it.path, root, content=verify) for it in items} if rank == 0 else {}
    todo_pos = [k for k, it in enumerate(items)
                if not cached_row_valid(cache.get(it.video_id, (None,))[0], ident[it.video_id])] if rank == 0 else None
    todo_pos = D.broadcast_object(todo_pos)  # rank 0's view of the cache decides for every rank
    stats.cached = len(items) - len(todo_pos)
    mine = todo_pos[rank::world]  # (each video embedded by exactly one rank)
    got: dict[int, torch.Tensor] = {}
    bad: dict[int, str] = {}
    nonfinite: list[int] = []
    if todo_pos:
        log.info("%s: embedding %d videos (%d cached)%s -> %s", desc, len(todo_pos), stats.cached,
                 f" over {world} ranks" if world > 1 else "", path or "memory")
    if mine:
        todo = [items[k] for k in mine]
        ds = data.VideoClipDataset(todo, on_error=on_error, **view.dataset_kwargs())
        loader = torch.utils.data.DataLoader(_Clips(ds), batch_size=batch_size, shuffle=False, collate_fn=_collate,
                                             **loader_kwargs(num_workers, device))
        model.eval().to(device)
        dtype = amp_dtype(amp, device)
        since_save = 0
        for video, pos, failed in tqdm(loader, desc=desc, unit="batch", disable=rank != 0):
            for j, reason in failed:
                bad[mine[j]] = reason
                if on_error == "skip":
                    log.warning("skipping %s: %s (no features; episodes that need it are dropped)",
                                todo[j].path, reason)
            if bad and on_error == "error":
                break  # every rank reaches the gather below, then all raise the same error
            if video is None:
                continue
            feats = _features(model, video, device=device, dtype=dtype, norm=ds.input_norm)  # (B, D)
            finite = torch.isfinite(feats).all(1)
            if not bool(finite.all()):
                nonfinite += [mine[j] for j, ok in zip(pos, finite.tolist()) if not ok]
                break  # every rank reaches the gather below, then all raise the same error
            for j, f in zip(pos, feats):
                got[mine[j]] = f.clone()
                if rank == 0:
                    cache[todo[j].video_id] = (ident[todo[j].video_id], got[mine[j]])
            since_save += len(pos)
            if path is not None and rank == 0 and since_save >= save_every:
                feature_cache.save(path, cache, key=key)
                since_save = 0
    for part_got, part_bad, part_nan in D.all_gather_object((got, bad, nonfinite)) if world > 1 else \
            [(got, bad, nonfinite)]:
        got.update(part_got)
        bad.update(part_bad)
        nonfinite = sorted(set(nonfinite) | set(part_nan))
    if nonfinite:
        raise UserError(f"the model gives non-finite (NaN/inf) features for {items[nonfinite[0]].path}: its weights "
                        "or settings are broken (a NaN checkpoint, NaN in --timm-kwargs, an overflowing --amp); "
                        "no such feature was cached; check --pretrained, --timm-kwargs and --amp")
    if bad and on_error == "error":
        k = min(bad)
        raise UserError(f"{items[k].path}: {bad[k]}; fix or remove the video, or pass --on-error skip")
    stats.embedded = len(got)
    stats.skipped = [items[k].video_id for k in sorted(bad)]
    if rank == 0:
        for k, f in got.items():
            cache[items[k].video_id] = (ident[items[k].video_id], f)
        for k in bad:  # a stale row of a now unreadable video is dropped, never kept under its id
            cache.pop(items[k].video_id, None)
        if path is not None and (todo_pos or stats.cache_discarded):
            feature_cache.save(path, cache, key=key)
    if not todo_pos:
        log.info("%s: all %d videos cached in %s", desc, len(items), path)
    if stats.skipped:
        log.warning("%s: %d unreadable video(s) skipped, no features stored for them (first: %s)", desc,
                    len(stats.skipped), stats.skipped[0])
    if rank != 0:  # only rank 0 holds the cached rows; the other ranks never evaluate
        return torch.empty(0), {}, stats
    rows = [k for k in range(len(items)) if k not in bad]
    ids = [items[k].video_id for k in rows]
    feats = torch.stack([got[k] if k in got else cache[ids[r]][1] for r, k in enumerate(rows)])  # (M, D)
    if not bool(torch.isfinite(feats).all()):  # rows served from a cache file written by something else
        raise UserError(f"feature cache {path} holds non-finite (NaN/inf) features; delete it and rerun")
    return feats, {v: r for r, v in enumerate(ids)}, stats


def _features(model, video: torch.Tensor, *, device, dtype, norm=None) -> torch.Tensor:
    """View-averaged features (B, D) of video (B, V, C, T, H, W) (uint8: normalised on `device` with `norm`)."""
    B, V = video.shape[:2]
    with torch.autocast("cuda", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        feats = model.forward_features(to_input(video, device, norm).flatten(0, 1))  # (B*V, D)
    return feats.float().view(B, V, -1).mean(1).cpu()  # average the views


@torch.inference_mode()
def readable_features(model: torch.nn.Module, ds, *, batch_size: int, num_workers: int = 0, device: str = "cpu",
                      amp: str = "auto", on_error: str = "error",
                      desc: str = "embed") -> tuple[torch.Tensor, list[int], dict[int, str]]:
    """Features (M, D) of the readable videos of VideoClipDataset `ds` (no cache, this process only),
    their positions in `ds`, and {position: reason} of the unreadable ones: no substitution by the
    next video (`_Clips`); on_error="error" raises on the first unreadable one."""
    loader = torch.utils.data.DataLoader(_Clips(ds), batch_size=batch_size, shuffle=False, collate_fn=_collate,
                                         **loader_kwargs(num_workers, device))
    model.eval().to(device)
    dtype = amp_dtype(amp, device)
    feats, rows, bad = [], [], {}
    for video, pos, failed in tqdm(loader, desc=desc, unit="batch", disable=not D.is_main()):
        for j, reason in failed:
            if on_error == "error":
                raise UserError(f"{ds.items[j].path}: {reason}; fix or remove the video, or pass --on-error skip")
            bad[j] = reason
        if video is not None:
            feats.append(_features(model, video, device=device, dtype=dtype, norm=ds.input_norm))
            rows += pos
    return (torch.cat(feats) if feats else torch.empty(0, 0)), rows, bad
