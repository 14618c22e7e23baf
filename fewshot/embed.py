"""Embed videos once with a (merged) model and cache the features on disk.

A cache file holds the view-averaged features of one model on one dataset under one sampling
config: `<cache>/features/<model hash>/<dataset>-<view hash>.pt` = {"ids": [...], "features": (N, D)}.
The model hash covers every tensor of the model plus its STDHA offsets and frame count, so a
different model can never be served stale features; a second run embeds nothing. The file is
rewritten atomically every `save_every` videos, so an interrupted embedding resumes.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from zeroi2v.io import atomic_torch_save, sha256_json

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

    def key(self) -> str:
        return sha256_json(asdict(self))[:12]


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


@dataclass
class EmbedStats:
    embedded: int = 0  # videos run through the model in this call
    cached: int = 0  # videos served from the cache


@torch.inference_mode()
def embed_videos(model: torch.nn.Module, items: list, view: ViewConfig, *, path: Path | None, device: str = "cpu",
                 batch_size: int = 8, num_workers: int = 0, on_error: str = "error", save_every: int = 256,
                 desc: str = "embed") -> tuple[torch.Tensor, dict[str, int], EmbedStats]:
    """Features (N, D) of `items` (order of `items`), their row index by video id, and what was computed.

    `path` None: no cache (e.g. validation features of a model still being trained)."""
    from zeroi2v import data

    stats = EmbedStats()
    cache: dict[str, torch.Tensor] = {}
    if path is not None and path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cache = dict(zip(blob["ids"], blob["features"]))
    todo = [it for it in items if it.video_id not in cache]
    stats.cached = len(items) - len(todo)
    if todo:
        log.info("%s: embedding %d videos (%d cached) -> %s", desc, len(todo), stats.cached, path or "memory")
        ds = data.VideoClipDataset(todo, num_frames=view.num_frames, size=view.size, train=False, mean=view.mean,
                                   std=view.std, num_clips=view.num_clips, num_crops=view.num_crops,
                                   sampling=view.sampling, interval=view.interval, on_error=on_error)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False)
        done, since_save = 0, 0
        for feats in batch_features(model, loader, device=device, desc=desc):
            for it, f in zip(todo[done:done + len(feats)], feats):
                cache[it.video_id] = f.clone()
            done += len(feats)
            since_save += len(feats)
            stats.embedded += len(feats)
            if path is not None and since_save >= save_every:
                _save(path, cache)
                since_save = 0
        if path is not None:
            _save(path, cache)
    else:
        log.info("%s: all %d videos cached in %s", desc, len(items), path)
    ids = [it.video_id for it in items]
    return torch.stack([cache[i] for i in ids]), {v: r for r, v in enumerate(ids)}, stats


@torch.inference_mode()
def batch_features(model: torch.nn.Module, loader, *, device: str = "cpu", desc: str = "embed"):
    """Yield view-averaged features (B, D) per batch of (video (B, V, C, T, H, W), label) in eval mode."""
    model.eval().to(device)
    cuda = str(device).startswith("cuda")
    for batch in tqdm(loader, desc=desc, unit="batch"):
        video = batch[0]
        B, V = video.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            feats = model.forward_features(video.to(device).flatten(0, 1))  # (B*V, D)
        yield feats.float().view(B, V, -1).mean(1).cpu()  # average the views


def _save(path: Path, cache: dict[str, torch.Tensor]) -> None:
    ids = sorted(cache)
    atomic_torch_save({"ids": ids, "features": torch.stack([cache[i] for i in ids])}, path)
