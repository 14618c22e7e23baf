"""Video transforms in plain torch on uint8 clips of shape (T, C, H, W).

Geometry (resize, crops, flip) stays uint8; `normalize` is the last step and returns float32 (on the
worker, or on the accelerator for uint8 batches: `normalize(batch.to(device), mean, std)`).
`resize` computes in float32 by default (the reference numbers); `fast=True` uses torch's uint8
antialiased kernel (about 5x faster, within one grey level of the float result).
Random choices take a `numpy.random.Generator` so a sample is reproducible from its seed.
The horizontal-flip label map is derived from the class names: a class naming a horizontal
direction (left/right, clockwise/counterclockwise, cw/ccw) maps to its mirrored partner, a class
naming a direction without a partner is never flipped (-1), every other class keeps its label.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# horizontal mirror swaps these words (whole words only; case is kept)
MIRROR_WORDS = {
    "left": "right", "right": "left",
    "leftwards": "rightwards", "rightwards": "leftwards",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise", "anticlockwise": "clockwise",
    "cw": "ccw", "ccw": "cw",
}  # fmt: skip


def to_tchw(video: torch.Tensor) -> torch.Tensor:
    """(T, H, W, C) -> (T, C, H, W) (no copy)."""
    return video.permute(0, 3, 1, 2)


def resize(video: torch.Tensor, size: tuple[int, int], *, fast: bool = False, channels_last: bool = False) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, h, w) uint8, bilinear with antialiasing. `channels_last` (fast only): the
    kernel's channels-last result as is (the same values, no copy to the standard layout)."""
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    if fast:  # uint8 kernel (vectorised for 3-channel channels-last input)
        x = video.contiguous(memory_format=torch.channels_last)
        out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return out if channels_last else out.contiguous()
    # float32 in the standard layout: decoded frames arrive as a (T, H, W, C) view, and interpolating that
    # layout is ~2x slower; the values are the same either way
    x = video.to(torch.float32, memory_format=torch.contiguous_format)
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the short side `size`, the aspect ratio kept."""
    scale = size / min(height, width)
    return max(size, round(height * scale)), max(size, round(width * scale))


def resize_short(video: torch.Tensor, size: int, *, fast: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Scale so the short side is `size`, keeping the aspect ratio. (T, C, H, W) -> (T, C, h, w)."""
    return resize(video, short_side_size(*video.shape[-2:], size), fast=fast, channels_last=channels_last)


def crop(video: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    return video[..., top : top + height, left : left + width]


def center_crop(video: torch.Tensor, size: int) -> torch.Tensor:
    """(T, C, H, W) -> (T, C, size, size) from the centre (H, W >= size)."""
    h, w = video.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"frame {h}x{w} is smaller than the crop {size}; resize first")
    return crop(video, (h - size) // 2, (w - size) // 2, size, size)


def three_crop(video: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Three (T, C, size, size) crops along the long side: start, centre, end (multi-view testing)."""
    h, w = video.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"frame {h}x{w} is smaller than the crop {size}; resize first")
    if w >= h:
        top = (h - size) // 2
        return [crop(video, top, left, size, size) for left in (0, (w - size) // 2, w - size)]
    left = (w - size) // 2
    return [crop(video, top, left, size, size) for top in (0, (h - size) // 2, h - size)]


def random_resized_crop_box(
    height: int,
    width: int,
    *,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop covering `scale` of the area with aspect in `ratio`; always in bounds."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    # fallback: the largest centred crop with an aspect inside `ratio`
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    video: torch.Tensor,
    size: int,
    *,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    fast: bool = False,
) -> torch.Tensor:
    """The same random crop on every frame, resized to (size, size). (T, C, H, W) -> (T, C, size, size).

    = `random_resized_crop_box` (the draw) then `resized_crop` (the crop and resize)."""
    box = random_resized_crop_box(*video.shape[-2:], rng=rng, scale=scale, ratio=ratio)
    return resized_crop(video, box, size, fast=fast)


def resized_crop(video: torch.Tensor, box: tuple[int, int, int, int], size: int, *, fast: bool = False) -> torch.Tensor:
    """The crop `box` (top, left, h, w) of every frame resized to (size, size). (T, C, H, W) -> (T, C, size, size)."""
    return resize(crop(video, *box), (size, size), fast=fast)


def hflip(video: torch.Tensor) -> torch.Tensor:
    """Mirror left-right. (T, C, H, W) -> (T, C, H, W)."""
    return video.flip(-1)


def normalize(video: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, channel_dim: int = -3) -> torch.Tensor:
    """uint8 (..., C, H, W) -> float32 (x / 255 - mean) / std, mean/std per channel in [0, 1] units.

    `channel_dim` names the channel axis (-3 for (..., C, H, W); 1 for (B, C, T, H, W) batches). One float
    copy, then in-place steps (the same arithmetic, in the same order, as the three-expression form).
    """
    shape = [1] * (video.dim() - (channel_dim % video.dim()))
    shape[0] = -1
    m = torch.tensor(mean, dtype=torch.float32, device=video.device).view(shape)
    s = torch.tensor(std, dtype=torch.float32, device=video.device).view(shape)
    out = video.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    # divide by a tensor on the clip's device: true division on CUDA too (a Python scalar becomes a reciprocal
    # multiply there, one ulp off for some values); on CPU the same values as dividing by 255.0
    return out.div_(torch.full((), 255.0, device=video.device)).sub_(m).div_(s)


def mirror_name(name: str) -> str:
    """The class name with horizontal directions swapped ("from left to right" -> "from right to left")."""
    parts = re.split(r"([A-Za-z]+)", name)
    out = []
    for p in parts:
        swap = MIRROR_WORDS.get(p.lower())
        if swap is None:
            out.append(p)
        elif p.isupper() and len(p) > 1:
            out.append(swap.upper())
        elif p[:1].isupper():
            out.append(swap[:1].upper() + swap[1:])
        else:
            out.append(swap)
    return "".join(out)


def flip_label_map(class_names: Sequence[str]) -> list[int]:
    """Label after a horizontal flip, per class: partner index, itself (no direction), or -1 (never flip).

    SSv2 example: "Pushing something from left to right" <-> "Pushing something from right to left";
    "Moving something up" keeps its label (vertical motion is unchanged by a mirror).
    """
    index = {n: i for i, n in enumerate(class_names)}
    lower = {n.lower(): i for i, n in enumerate(class_names)}
    out = []
    for i, name in enumerate(class_names):
        mirrored = mirror_name(name)
        if mirrored == name:
            out.append(i)
        else:
            out.append(index.get(mirrored, lower.get(mirrored.lower(), -1)))
    return out


def backbone_mean_std(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the backbone's timm pretrained config: CLIP stats for *clip* models, else its own."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(backbone, allow_unregistered=True)
    except Exception:
        cfg = None
    if cfg is None:
        base = backbone.split(".")[0]
        if base not in timm.list_models():
            from zeroi2v.utils.errors import UserError

            raise UserError(f"unknown backbone {backbone!r}; use a timm model name such as vit_base_patch16_clip_224.openai")
        cfg = timm.models.get_pretrained_cfg(base, allow_unregistered=True)
    return tuple(float(x) for x in cfg.mean), tuple(float(x) for x in cfg.std)
