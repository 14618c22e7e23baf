"""Clip-consistent training augmentation on uint8 clips (T, C, H, W): every frame gets the same ops.

- `rand_augment`: torchvision.transforms.v2.RandAugment applied once to the whole clip tensor (v2 treats
  the leading T as a batch of images and draws one set of ops and magnitudes for it: the frame-consistent
  video RandAugment of pytorchvideo's wrapper). `magnitude` is on pytorchvideo's 0-10 scale (the
  original configs' `magnitude=7`): 11 magnitude bins, so 7 -> 70 % of each op's range.
- `random_erasing`: with probability p, one rectangle (area 2-33 % of the frame, aspect 0.3-3.3, as in
  timm/mmaction) is replaced by per-pixel Gaussian noise in normalised units ("rand" mode), the same
  rectangle and the same noise in every frame.

torchvision's Sharpness op (a depthwise 3x3 convolution in float32: ~60 ms on 8 frames at 256x455, ten
times any other op) is computed here with integer box sums instead -- the same values bit for bit (the
blur is k/13 before rounding, never a tie, so float and integer rounding agree); tests compare with
torchvision's RandAugment.

Randomness is reproducible per sample: `rand_augment` runs under a forked torch RNG seeded from the
sample's numpy generator, `random_erasing` draws from that generator directly.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch


def sharpness_uint8(image: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's `adjust_sharpness` for uint8 (..., C, H, W), bit for bit, without the depthwise convolution.

    Box sums of integers are exact in float32 (at most 13 * 255), and s / 13 is never within 1/26 of a
    rounding tie, so `round(s / 13)` equals torchvision's rounded convolution exactly.
    """
    if image.shape[-1] <= 2 or image.shape[-2] <= 2 or image.numel() == 0:
        return image
    out = image.to(torch.float32, copy=True)
    rows = out[..., :, :-2] + out[..., :, 1:-1]  # (..., H, W-2) horizontal 3-sums
    rows += out[..., :, 2:]
    s = rows[..., :-2, :] + rows[..., 1:-1, :]  # (..., H-2, W-2) 3x3 sums
    s += rows[..., 2:, :]
    view = out[..., 1:-1, 1:-1]
    s.add_(view, alpha=4.0).div_(13.0).round_()  # kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded
    view.add_(s.sub_(view), alpha=1.0 - factor)  # torchvision's blend, same order
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


def erasing_box(height: int, width: int, *, rng: np.random.Generator, area: tuple[float, float] = (0.02, 1 / 3),
                ratio: tuple[float, float] = (0.3, 1 / 0.3)) -> tuple[int, int, int, int] | None:
    """(top, left, h, w) of a random rectangle, or None when 10 tries do not fit (nothing erased)."""
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = height * width * rng.uniform(*area)
        aspect = math.exp(rng.uniform(*log_ratio))
        h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < h < height and 0 < w < width:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    return None


def random_erasing(clip: torch.Tensor, *, p: float, rng: np.random.Generator, mean: Sequence[float],
                   std: Sequence[float]) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, H, W) uint8: with probability p one rectangle of Gaussian noise, same in all frames.

    The noise is N(0, 1) in normalised units (x / 255 - mean) / std, written back as uint8 pixels
    (rounded, clipped to 0-255), so the clip can still be normalised on the worker or on the accelerator.
    """
    if p <= 0 or rng.random() >= p:
        return clip
    box = erasing_box(*clip.shape[-2:], rng=rng)
    if box is None:
        return clip
    top, left, h, w = box
    C = clip.shape[-3]
    z = rng.standard_normal((C, h, w)).astype(np.float32)  # (C, h, w), shared by every frame
    m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, np.float32).reshape(-1, 1, 1)
    fill = torch.from_numpy(np.clip(np.rint((m + s * z) * 255.0), 0, 255).astype(np.uint8))
    out = clip.clone()
    out[..., top : top + h, left : left + w] = fill
    return out
