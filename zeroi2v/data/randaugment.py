"""pytorchvideo's video RandAugment -- the original recipes' `PytorchVideoWrapper(op='RandAugment', magnitude=7,
num_layers=4)` -- on a uint8 clip (T, C, H, W): every frame gets the same ops with the same arguments.

Semantics, as in pytorchvideo (transforms/rand_augment.py, augmentations.py, transforms.py `OpSampler`) called by
mmaction2's wrapper (which hands it the clip as a uint8 (T, C, H, W) tensor):
- `num_layers` *distinct* ops drawn uniformly from the 14 of `OPS` (`torch.multinomial`, no replacement);
- each drawn op applied with probability `prob` (0.5): with 4 layers, 2 ops run on average;
- its level ~ N(magnitude, 0.5) clipped to [0, 10] ("gaussian" sampling, `sampling_std` 0.5), mapped to the op's
  argument by the rules of `OPS` (e.g. Rotate: +-level/10 * 30 degrees, the sign a coin flip);
- geometric ops are bilinear with fill 0.5 on the 0-255 scale of the uint8 input, i.e. black after rounding;
  ShearX/ShearY shear about the top-left corner (pytorchvideo adds a translation of size * factor / 2);
- Solarize's threshold 1 - level/10 is on the 0-255 scale too, so it inverts every pixel >= 1 (kept as is).
Random draws come from the sample's numpy generator (reproducible from (seed, epoch, index)), not torch's.
Each op gives the values of the torchvision call pytorchvideo makes (v1 API; tests compare them op by op): the
colour ops repeat v1's float arithmetic in place (Sharpness with the box-sum blur of `augment.blurred_uint8`, ~10x
faster than v1's convolution), the others are torchvision.transforms.v2.functional's (bit-identical; the shears,
built by v2 from an angle, within one grey level at a few border pixels).
"""
from __future__ import annotations

import math

import numpy as np
import torch

MAX_LEVEL = 10  # pytorchvideo's _AUGMENTATION_MAX_LEVEL
FILL = [0.5, 0.5, 0.5]  # pytorchvideo's TRANSFORM_DEFAULT_HPARAS["fill"], in the input's units (uint8 here)

# op -> (level rule, base, range): pytorchvideo's _LEVEL_TO_ARG and _TRANSFORM_RANDAUG_MAX_PARAMS
#   "signed":     base +- level/10 * range (sign: a coin flip)
#   "decreasing": base - level/10 * range;  "decreasing_int": base - int(level/10 * range);  None: no argument
OPS: dict[str, tuple[str | None, float, float]] = {
    "AdjustBrightness": ("signed", 1.0, 0.9),
    "AdjustContrast": ("signed", 1.0, 0.9),
    "AdjustSaturation": ("signed", 1.0, 0.9),
    "AdjustSharpness": ("signed", 1.0, 0.9),
    "AutoContrast": (None, 0.0, 0.0),
    "Equalize": (None, 0.0, 0.0),
    "Invert": (None, 0.0, 0.0),
    "Rotate": ("signed", 0.0, 30.0),
    "Posterize": ("decreasing_int", 4, 4),
    "Solarize": ("decreasing", 1.0, 1.0),
    "ShearX": ("signed", 0.0, 0.3),
    "ShearY": ("signed", 0.0, 0.3),
    "TranslateX": ("signed", 0.0, 0.45),
    "TranslateY": ("signed", 0.0, 0.45),
}
OP_NAMES = tuple(OPS)


def op_argument(name: str, level: float, negate: bool = False) -> float | int | None:
    """The argument op `name` gets at `level` (0-10); `negate` flips the sign of the "signed" ops."""
    rule, base, span = OPS[name]
    if rule is None:
        return None
    amount = level / MAX_LEVEL * span
    if rule == "signed":
        return base + (-amount if negate else amount)
    if rule == "decreasing_int":
        return int(base - int(amount))
    return base - amount


def randaugment_plan(rng: np.random.Generator, *, magnitude: float, num_layers: int, prob: float = 0.5,
                     sampling_std: float = 0.5) -> list[tuple[str, float | int | None]]:
    """The ops one clip gets, in order, with their arguments (only the layers that fire)."""
    if not 1 <= num_layers <= len(OPS):
        raise ValueError(f"RandAugment num_layers={num_layers}: use 1-{len(OPS)} (distinct ops)")
    names = [OP_NAMES[i] for i in rng.choice(len(OPS), size=int(num_layers), replace=False)]
    plan = []
    for name in names:
        if rng.random() >= prob:
            continue
        level = min(MAX_LEVEL, max(0.0, float(rng.normal(magnitude, sampling_std))))
        negate = OPS[name][0] == "signed" and bool(rng.random() <= 0.5)  # pytorchvideo keeps the sign when rand > 0.5
        plan.append((name, op_argument(name, level, negate)))
    return plan


def _blend(image: torch.Tensor, other: torch.Tensor | None, ratio: float) -> torch.Tensor:
    """torchvision v1's `_blend` on uint8, the same arithmetic: ratio * image + (1 - ratio) * other, truncated."""
    out = image.to(torch.float32).mul_(float(ratio))
    if other is not None:  # None: brightness, a blend with zeros
        out.add_(other.to(torch.float32).mul_(1.0 - float(ratio)))
    return out.clamp_(0, 255).to(torch.uint8)


def _grayscale(image: torch.Tensor) -> torch.Tensor:
    """torchvision v1's uint8 `rgb_to_grayscale`: (..., 3, H, W) -> (..., 1, H, W), truncated."""
    r, g, b = image.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(-3)


def _autocontrast(image: torch.Tensor) -> torch.Tensor:
    """torchvision v1's `autocontrast` on uint8 (per frame and channel), the same arithmetic in place."""
    lo = image.amin(dim=(-2, -1), keepdim=True).to(torch.float32)
    hi = image.amax(dim=(-2, -1), keepdim=True).to(torch.float32)
    scale = 255.0 / (hi - lo)
    flat = ~torch.isfinite(scale)
    lo[flat], scale[flat] = 0.0, 1.0
    return image.to(torch.float32).sub_(lo).mul_(scale).clamp_(0, 255).to(torch.uint8)


def apply_op(clip: torch.Tensor, name: str, arg: float | int | None) -> torch.Tensor:
    """One op on a uint8 (..., C, H, W) tensor, the same for every leading index (frame).

    Colour ops reproduce the arithmetic of torchvision's v1 functional API (what pytorchvideo calls) exactly; the
    rest are torchvision.transforms.v2.functional's (the same values; ShearX/Y within one grey level at the border).
    Contrast and AutoContrast use per-frame statistics, as the original does.
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    from .augment import blurred_uint8

    bilinear = InterpolationMode.BILINEAR
    h, w = clip.shape[-2:]
    if name == "AdjustBrightness":
        return _blend(clip, None, arg)
    if name == "AdjustContrast":
        return _blend(clip, _grayscale(clip).to(torch.float32).mean(dim=(-3, -2, -1), keepdim=True), arg)
    if name == "AdjustSaturation":
        return _blend(clip, _grayscale(clip), arg)
    if name == "AdjustSharpness":
        return clip if h <= 2 or w <= 2 else _blend(clip, blurred_uint8(clip), arg)
    if name == "AutoContrast":
        return _autocontrast(clip)
    if name == "Equalize":
        return F.equalize(clip)
    if name == "Invert":
        return F.invert(clip)
    if name == "Posterize":
        return clip if arg >= 8 else F.posterize(clip, int(arg))
    if name == "Solarize":
        return F.solarize(clip, arg)
    if name == "Rotate":
        return F.rotate(clip, arg, interpolation=bilinear, fill=FILL)
    # pytorchvideo's inverse matrices: ShearX [1, f, H f/2; 0, 1, 0], ShearY [1, 0, 0; f, 1, W f/2],
    # TranslateX [1, 0, f W; 0, 1, 0], TranslateY [1, 0, 0; 0, 1, f H] (centre-based pixel coordinates);
    # v2's affine builds the same matrix from a shear angle atan(f) and a translation of minus the offset
    if name == "ShearX":
        return F.affine(clip, angle=0.0, translate=[-h * arg / 2, 0.0], scale=1.0,
                        shear=[math.degrees(math.atan(arg)), 0.0], interpolation=bilinear, fill=FILL)
    if name == "ShearY":
        return F.affine(clip, angle=0.0, translate=[0.0, -w * arg / 2], scale=1.0,
                        shear=[0.0, math.degrees(math.atan(arg))], interpolation=bilinear, fill=FILL)
    if name == "TranslateX":
        return F.affine(clip, angle=0.0, translate=[-arg * w, 0.0], scale=1.0, shear=[0.0, 0.0],
                        interpolation=bilinear, fill=FILL)
    if name == "TranslateY":
        return F.affine(clip, angle=0.0, translate=[0.0, -arg * h], scale=1.0, shear=[0.0, 0.0],
                        interpolation=bilinear, fill=FILL)
    raise ValueError(f"unknown RandAugment op {name!r}; use one of {', '.join(OP_NAMES)}")


def rand_augment_pytorchvideo(clip: torch.Tensor, *, magnitude: float, num_layers: int, rng: np.random.Generator,
                              prob: float = 0.5, sampling_std: float = 0.5) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, H, W) uint8: pytorchvideo's RandAugment, the same ops on every frame."""
    if clip.dtype != torch.uint8:
        raise TypeError(f"RandAugment expects a uint8 clip (the original's input), got {clip.dtype}")
    if not 0 <= magnitude <= MAX_LEVEL:
        raise ValueError(f"RandAugment magnitude {magnitude}: use 0-10 (pytorchvideo's scale)")
    for name, arg in randaugment_plan(rng, magnitude=magnitude, num_layers=num_layers, prob=prob,
                                      sampling_std=sampling_std):
        clip = apply_op(clip, name, arg)
    return clip
