"""Reusable training and evaluation loops (full-supervised training and base-class adaptation).

A loader yields `(video, label)` or `(video, label, index)` batches with video of shape
(B, V, C, T, H, W): V views per video (V = clips x crops at test time, usually 1 in training).
Both loops work unchanged single-process and under torchrun (a DistributedDataParallel model in
training; evaluation runs the plain module on each rank's shard and gathers the per-video scores
with their dataset indices, so the duplicates DistributedSampler pads in are counted once).
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zeroi2v.training import distributed as D
from zeroi2v.utils.errors import UserError


class TrainingDiverged(UserError):
    """The training loss became non-finite (nan/inf): one line naming the epoch and the loss."""


# ---------------------------------------------------------------- views and accuracy


def parse_views(views: str | int | tuple[int, int]) -> tuple[int, int]:
    """'2x3' -> (clips=2, crops=3); an int V -> (V, 1)."""
    if isinstance(views, tuple):
        clips, crops = views
    elif isinstance(views, int):
        clips, crops = views, 1
    else:
        try:
            clips, crops = (int(p) for p in str(views).lower().split("x"))
        except ValueError:
            raise ValueError(f"views {views!r} is not CLIPSxCROPS, e.g. 1x3 or 2x3") from None
    if clips < 1 or crops < 1 or crops not in (1, 3):
        raise ValueError(f"views {views!r}: clips must be >= 1 and crops 1 or 3")
    return int(clips), int(crops)


def topk_correct(probs: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """{k: number of rows whose label is among the k highest scores}; k is capped at the class count."""
    probs, labels = torch.as_tensor(probs), torch.as_tensor(labels).long()
    if probs.shape[0] == 0:
        return {k: 0 for k in ks}
    kmax = min(max(ks), probs.shape[1])
    top = probs.topk(kmax, dim=1).indices  # (N, kmax)
    hit = top == labels[:, None]  # (N, kmax)
    return {k: int(hit[:, : min(k, kmax)].any(1).sum()) for k in ks}


def video_probs(scores: torch.Tensor, *, from_logits: bool = True) -> torch.Tensor:
    """(N, V, K) per-view scores -> (N, K) per-video probabilities: softmax per view, mean over V."""
    scores = torch.as_tensor(scores).float()
    if scores.ndim != 3:
        raise ValueError(f"scores must be (N, V, K), got shape {tuple(scores.shape)}")
    probs = scores.softmax(-1) if from_logits else scores
    return probs.mean(1)


# ---------------------------------------------------------------- training


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if len(batch) == 3:
        return batch[0], batch[1], batch[2]
    return batch[0], batch[1], None


def to_input(video: torch.Tensor, device: torch.device | str, norm=None) -> torch.Tensor:
    """A loader's clips (B, V, C, T, H, W) on `device`, as the model's float input: uint8 clips (a
    dataset's `input_norm` = (mean, std)) are normalised there -- 4x less to copy than float32 and no
    float work on the loader's workers; float clips are already normalised."""
    video = video.to(device, non_blocking=True)
    if video.dtype != torch.uint8:
        return video
    if norm is None:
        raise ValueError("uint8 clips need their (mean, std): pass the dataset's input_norm")
    from zeroi2v.data.transforms import normalize

    return normalize(video, norm[0], norm[1], channel_dim=-4)  # (..., C, T, H, W) float32


def loader_norm(loader, norm=None):
    """`norm`, or the `input_norm` of the loader's dataset (None: it gives normalised clips)."""
    return norm if norm is not None else getattr(getattr(loader, "dataset", None), "input_norm", None)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):
    if amp_dtype is None or amp_dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def _progress(iterable, *, total: int | None, desc: str, enabled: bool):
    if not enabled or not D.is_main():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, scheduler=None, *,
                    device: torch.device | str, accum: int = 1, amp_dtype: torch.dtype | None = None,
                    label_smoothing: float = 0.0, epoch: int = 0, scaler=None, clip_grad: float | None = None,
                    progress: bool = True, on_step: Callable[[int], None] | None = None,
                    input_norm=None) -> dict[str, float]:
    """One pass over `loader` with gradient accumulation; the scheduler steps once per optimizer step.

    Every `accum` micro-batches (and at the epoch's end, for the remainder) the gradients are
    applied; each micro-batch's loss is divided by the size of its accumulation group, so a group
    gives the mean-loss gradient of its micro-batches. Under DDP the gradient all-reduce runs only on
    a group's last micro-batch (`no_sync`). Multi-view batches (V > 1) are trained as B*V clips.
    Returns loss (mean per clip), acc (top-1 %, dropout on), clips, steps, seconds, lr —
    all-reduced over ranks. `on_step(global_step)` runs after each optimizer step. `input_norm`:
    the (mean, std) of uint8 clips (`to_input`; default: the loader's dataset's `input_norm`).
    """
    if accum < 1:
        raise ValueError(f"accum must be >= 1, got {accum}")
    device = torch.device(device)
    model.train()
    n_batches = len(loader)
    if n_batches == 0:
        raise ValueError("the training loader is empty (batch larger than the data?)")
    if scaler is None and amp_dtype == torch.float16 and device.type == "cuda":
        scaler = torch.amp.GradScaler("cuda")
    input_norm = loader_norm(loader, input_norm)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    loss_sum = correct = clips = 0.0
    steps = 0
    t0 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    bar = _progress(loader, total=n_batches, desc=f"train epoch {epoch}", enabled=progress)
    for i, batch in enumerate(bar):
        video, label, _ = _split_batch(batch)
        B, V = video.shape[:2]
        video = to_input(video, device, input_norm).flatten(0, 1)  # (B*V, C, T, H, W)
        label = label.to(device, non_blocking=True).long().repeat_interleave(V)  # (B*V,)
        group_start = (i // accum) * accum
        group_size = min(accum, n_batches - group_start)
        last_in_group = i == group_start + group_size - 1
        sync = contextlib.nullcontext() if last_in_group or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with _autocast(device, amp_dtype):
                logits = model(video)  # (B*V, K)
                loss = F.cross_entropy(logits.float(), label, label_smoothing=label_smoothing)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch}: loss {loss.item()} (batch {i + 1} of "
                                       f"{n_batches}); lower --lr or pass --clip-grad")
            scaled = loss / group_size
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        loss_sum += loss.item() * label.numel()
        correct += (logits.detach().argmax(1) == label).sum().item()
        clips += label.numel()
        if last_in_group:
            if scaler is not None:
                scaler.unscale_(optimizer)
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(params, clip_grad)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if scheduler is not None:
                scheduler.step()
            steps += 1
            if on_step is not None:
                on_step(steps)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss_sum / clips:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
    tot = D.all_reduce_sum([loss_sum, correct, clips]).tolist()
    return dict(loss=tot[0] / max(tot[2], 1), acc=100.0 * tot[1] / max(tot[2], 1), clips=int(tot[2]),
                steps=steps, seconds=time.perf_counter() - t0, lr=optimizer.param_groups[0]["lr"], epoch=epoch)


# ---------------------------------------------------------------- evaluation


def _sampler_indices(loader) -> list[int] | None:
    sampler = getattr(loader, "sampler", None)
    if sampler is None or getattr(sampler, "shuffle", False):
        return None
    if isinstance(sampler, torch.utils.data.RandomSampler):
        return None
    try:
        return [int(i) for i in sampler]
    except TypeError:
        return None


@torch.no_grad()
def evaluate(model: nn.Module, loader, *, device: torch.device | str, views: str | int | tuple | None = None,
             amp_dtype: torch.dtype | None = None, progress: bool = True, desc: str = "eval",
             return_scores: bool = False, input_norm=None) -> dict[str, Any]:
    """Top-1/top-5 (%) over the loader's videos: softmax per view, averaged over the V views.

    Batches are (video (B, V, C, T, H, W), label[, index]). Indices (from the batch, else from a
    non-shuffling sampler, else the running position) identify videos across ranks: the gathered
    per-video probabilities are de-duplicated by index before counting, so the padding of
    DistributedSampler never counts a video twice. `views` ('1x3', 3, (1, 3)) is checked against V;
    `input_norm`: the (mean, std) of uint8 clips (`to_input`; default: the loader's dataset's).
    Returns top1, top5, n (videos), views, seconds, videos_per_s (+ probs, labels, indices when
    return_scores, on every rank).
    """
    device = torch.device(device)
    model = unwrap(model)
    was_training = model.training
    model.eval()
    expect_v = None if views is None else math.prod(parse_views(views))
    fallback = _sampler_indices(loader)
    input_norm = loader_norm(loader, input_norm)
    probs_l, labels_l, index_l = [], [], []
    pos, t0 = 0, time.perf_counter()
    try:
        for batch in _progress(loader, total=len(loader), desc=desc, enabled=progress):
            video, label, index = _split_batch(batch)
            B, V = video.shape[:2]
            if expect_v is not None and V != expect_v:
                raise ValueError(f"loader gives {V} views per video, expected {expect_v} ({views})")
            if index is None:
                index = torch.as_tensor(fallback[pos:pos + B]) if fallback is not None else torch.arange(pos, pos + B)
            pos += B
            with _autocast(device, amp_dtype):
                logits = model(to_input(video, device, input_norm).flatten(0, 1))  # (B*V, K)
            probs_l.append(video_probs(logits.float().view(B, V, -1)).cpu())  # (B, K)
            labels_l.append(torch.as_tensor(label).long().cpu())
            index_l.append(torch.as_tensor(index).long().cpu())
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - t0
    probs = torch.cat(probs_l) if probs_l else torch.zeros(0, 0)
    labels = torch.cat(labels_l) if labels_l else torch.zeros(0, dtype=torch.long)
    indices = torch.cat(index_l) if index_l else torch.zeros(0, dtype=torch.long)
    if D.get_world_size() > 1:
        parts = D.all_gather_object((probs.numpy(), labels.numpy(), indices.numpy()))
        parts = [p for p in parts if len(p[2])]
        probs = torch.from_numpy(np.concatenate([p[0] for p in parts])) if parts else probs
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts])) if parts else labels
        indices = torch.from_numpy(np.concatenate([p[2] for p in parts])) if parts else indices
        seconds = max(D.all_gather_object(seconds))
    # dedupe by dataset index (first occurrence), in index order
    uniq, first = np.unique(indices.numpy(), return_index=True)
    probs, labels, indices = probs[first], labels[first], indices[first]
    n = len(uniq)
    c = topk_correct(probs, labels) if n else {1: 0, 5: 0}
    out = dict(top1=100.0 * c[1] / max(n, 1), top5=100.0 * c[5] / max(n, 1), n=n,
               views=views if isinstance(views, str) or views is None else "x".join(map(str, parse_views(views))),
               seconds=seconds, videos_per_s=n / seconds if seconds > 0 else float("nan"))
    if return_scores:
        out.update(probs=probs, labels=labels, indices=indices)
    return out


# ---------------------------------------------------------------- cost


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass on `x`, counted by torch.utils.flop_counter (a multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def gflops_per_view(model: nn.Module, *, num_frames: int, size: int, device: torch.device | str = "cpu",
                    macs: bool = False) -> float:
    """GFLOPs of one view (1, 3, T, H, W), torch.utils.flop_counter's count (a multiply-add = 2 FLOPs,
    as in `zeroi2v.bench`). With macs=True a multiply-add counts once: the fvcore convention of the
    ZeroI2V/AIM papers' "GFLOPs" (ViT-B/16, 8x224: ~140 per view)."""
    x = torch.zeros(1, 3, num_frames, size, size, device=device)
    flops = count_flops(model, x)
    return flops / (2 if macs else 1) / 1e9


@torch.no_grad()
def throughput(model: nn.Module, *, num_frames: int, size: int, batch: int = 1, device: torch.device | str = "cpu",
               warmup: int = 2, iters: int = 5, amp_dtype: torch.dtype | None = None) -> float:
    """Views (clips) per second of inference on a random batch (B, 3, T, H, W), after warm-up."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    x = torch.randn(batch, 3, num_frames, size, size, device=device)
    try:
        for _ in range(warmup):
            with _autocast(device, amp_dtype):
                model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            with _autocast(device, amp_dtype):
                model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
    finally:
        model.train(was_training)
    return batch * iters / dt
