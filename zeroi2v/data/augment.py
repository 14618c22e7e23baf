"""Clip-consistent training augmentation on uint8 clips (T, C, H, W): every frame gets the same ops.

- `rand_augment`: torchvision's RandAugment semantics (`randaugment_impl="torchvision"`): v2.RandAugment applied
  once to the whole clip tensor (v2 treats the leading T as a batch and draws one set of ops for it): 4 ops
  always applied, drawn with replacement from 14 (Identity included), fixed magnitude bin, nearest interpolation.
  The original recipes use pytorchvideo's semantics instead: `randaugment.rand_augment_pytorchvideo`.
- `random_erasing`: mmaction2's RandomErasing (the original recipes' `RandomErasing(erase_prob=0.25[, mode])`):
  with probability p one rectangle, in the same place in every frame, filled with grey 128 ("const") or
  uniform random pixels ("rand", drawn per frame as the original does).

torchvision's Sharpness op (a depthwise 3x3 convolution in float32: ~60 ms on 8 frames at 256x455, ten
times any other op) is computed here with integer box sums instead -- the same values bit for bit (the
blur is k/13 before rounding, never a tie, so float and integer rounding agree); tests compare with
torchvision's ops.

Randomness is reproducible per sample: `rand_augment` runs under a forked torch RNG seeded from the
sample's numpy generator, `random_erasing` draws from that generator directly.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch


def _blur13(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) float32 integers -> (..., H-2, W-2): the 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded.

    Box sums of integers are exact in float32 (at most 13 * 255), and s / 13 is never within 1/26 of a
    rounding tie, so `round(s / 13)` equals torchvision's rounded depthwise convolution exactly.
    """
    rows = x[..., :, :-2] + x[..., :, 1:-1]  # (..., H, W-2) horizontal 3-sums
    rows += x[..., :, 2:]
    s = rows[..., :-2, :] + rows[..., 1:-1, :]  # (..., H-2, W-2) 3x3 sums
    s += rows[..., 2:, :]
    return s.add_(x[..., 1:-1, 1:-1], alpha=4.0).div_(13.0).round_()


def sharpness_uint8(image: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision v2's `adjust_sharpness` for uint8 (..., C, H, W), bit for bit, without the depthwise convolution."""
    if image.shape[-1] <= 2 or image.shape[-2] <= 2 or image.numel() == 0:
        return image
    out = image.to(torch.float32, copy=True)
    view = out[..., 1:-1, 1:-1]
    s = _blur13(out)
    view.add_(s.sub_(view), alpha=1.0 - factor)  # torchvision v2's blend, same order
    return out.clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=8)
def _rand_augment_op(num_ops: int, magnitude: int):
    """torchvision's RandAugment with the uint8 Sharpness kernel above (same ops, same draws, same values)."""
    from torchvision.transforms import v2

    class ClipRandAugment(v2.RandAugment):
        def _apply_image_or_video_transform(self, image, transform_id, magnitude, interpolation, fill):
            if transform_id == "Sharpness" and isinstance(image, torch.Tensor) and image.dtype == torch.uint8:
                return sharpness_uint8(image, 1.0 + magnitude)
            return super()._apply_image_or_video_transform(image, transform_id, magnitude, interpolation, fill)

    return ClipRandAugment(num_ops=num_ops, magnitude=magnitude, num_magnitude_bins=11)


def rand_augment(clip: torch.Tensor, *, magnitude: int, num_layers: int, rng: np.random.Generator) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, H, W) uint8, `num_layers` random ops of strength `magnitude`/10, same for all frames."""
    if not 0 <= magnitude <= 10:
        raise ValueError(f"RandAugment magnitude {magnitude}: use 0-10 (pytorchvideo's scale)")
    op = _rand_augment_op(int(num_layers), int(magnitude))
    seed = int(rng.integers(0, 2**63 - 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return op(clip)


ERASING_MODES = ("const", "rand")


def erasing_box(height: int, width: int, *, rng: np.random.Generator, area: tuple[float, float] = (0.02, 1 / 3),
                aspect: tuple[float, float] = (0.3, 10 / 3)) -> tuple[int, int, int, int]:
    """(top, left, h, w) as mmaction2's RandomErasing draws it: one try, log-uniform aspect h/w, clamped."""
    log_aspect = np.log(np.array(aspect, dtype=np.float32))
    ratio = float(np.exp(rng.uniform(*log_aspect)))
    target = height * width * rng.uniform(*area)
    h = min(int(round(math.sqrt(target * ratio))), height)
    w = min(int(round(math.sqrt(target / ratio))), width)
    top = int(rng.integers(0, height - h)) if height > h else 0
    left = int(rng.integers(0, width - w)) if width > w else 0
    return top, left, h, w


def random_erasing(clip: torch.Tensor, *, p: float, rng: np.random.Generator, mode: str = "const",
                   fill: Sequence[int] = (128, 128, 128)) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, H, W) uint8: mmaction2's RandomErasing, one rectangle, the same in every frame.

    With probability p: area 2-33 % of the frame, aspect 0.3-3.33; "const" fills it with `fill` (128 grey),
    "rand" with uniform random pixels 0-255 drawn per frame, as the original (which fills frame by frame).
    """
    if mode not in ERASING_MODES:
        raise ValueError(f"erasing mode {mode!r}: use one of {', '.join(ERASING_MODES)}")
    if p <= 0 or rng.random() > p:
        return clip
    top, left, h, w = erasing_box(*clip.shape[-2:], rng=rng)
    out = clip.clone()
    if mode == "const":
        out[..., top : top + h, left : left + w] = torch.tensor(fill, dtype=torch.uint8).view(-1, 1, 1)
    else:
        noise = rng.uniform(0, 256, (clip.shape[0], h, w, clip.shape[-3])).astype(np.uint8)  # (T, h, w, C)
        out[..., top : top + h, left : left + w] = torch.from_numpy(noise).permute(0, 3, 1, 2)
    return out
