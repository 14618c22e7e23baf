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
colour ops repeat v1's float arithmetic in place, one float copy per op (Sharpness with the box-sum blur of
`augment._blur13`, ~10x faster than v1's convolution), the others give torchvision.transforms.v2.functional's values
bit for bit (the shears, built by v2 from an angle, within one grey level of v1 at a few border pixels) by cheaper
means: `_warp` (Rotate/Shear/Translate), `_equalize`, `_solarize`; tests compare each with the v2 call.
`augment_crop`: a plan, then a crop, computing only the pixels the crop needs (the same values; the dataset's
RandAugment -> random resized crop order).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from zeroi2v.data.stages import stage

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
STATS_OPS = ("AdjustContrast", "AutoContrast", "Equalize")  # frame-wide statistics of their input
WARP_OPS = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
Box = tuple[int, int, int, int]  # (top, left, bottom, right) of a frame: rows top..bottom-1, columns left..right-1


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


def _float(clip: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in the standard layout, whatever the input's (the ops run ~1.6x faster on it than on the
    resize's channels-last output; the conversion is a pass over the pixels either way)."""
    return clip.to(torch.float32, memory_format=torch.contiguous_format)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float32 -> uint8 as torchvision v1's `_blend` ends: clamped to 0-255, truncated."""
    return x.clamp_(0, 255).to(torch.uint8)


def _blend(f: torch.Tensor, other: torch.Tensor | None, ratio: float) -> torch.Tensor:
    """torchvision v1's `_blend` on uint8, the same arithmetic, the image already float32 (`f`, modified in place,
    as `other`): ratio * image + (1 - ratio) * other, truncated to uint8."""
    f.mul_(float(ratio))
    if other is not None:  # None: brightness, a blend with zeros
        f.add_(other.mul_(1.0 - float(ratio)))
    return _to_uint8(f)


def _grayscale(f: torch.Tensor) -> torch.Tensor:
    """torchvision v1's uint8 `rgb_to_grayscale` from the clip (float32, or uint8: each channel is promoted to
    float32 as it is multiplied, the same products): (..., 3, H, W) -> (..., 1, H, W) float32 holding v1's
    truncated uint8 values (0.2989 r + 0.587 g + 0.114 b < 255, so trunc is v1's cast)."""
    r, g, b = f.unbind(dim=-3)
    gray = r.mul(0.2989)
    gray.add_(g.mul(0.587)).add_(b.mul(0.114))  # v1's (0.2989 r + 0.587 g) + 0.114 b, in float32
    return gray.trunc_().unsqueeze(-3).contiguous()  # (the layout of v1's, for the same mean)


def _sharpness(clip: torch.Tensor, ratio: float) -> torch.Tensor:
    """v1's `adjust_sharpness` on uint8 (H, W > 2): the blend with the "degenerate" image, whose interior is the
    rounded blur (`augment._blur13`: integers, exact in float32) and whose border is the image's own."""
    from zeroi2v.data.augment import _blur13

    f = _float(clip)  # (..., C, H, W)
    keep = 1.0 - float(ratio)
    blur = _blur13(f).mul_(keep)  # (..., C, H-2, W-2)
    top, bottom, left, right = f[..., :1, :] * keep, f[..., -1:, :] * keep, f[..., 1:-1, :1] * keep, f[..., 1:-1, -1:] * keep
    f.mul_(float(ratio))
    f[..., 1:-1, 1:-1].add_(blur)
    f[..., :1, :].add_(top)
    f[..., -1:, :].add_(bottom)
    f[..., 1:-1, :1].add_(left)
    f[..., 1:-1, -1:].add_(right)
    return _to_uint8(f)


def _autocontrast(image: torch.Tensor, part: torch.Tensor | None = None) -> torch.Tensor:
    """torchvision v1's `autocontrast` on uint8 (per frame and channel), the same arithmetic in place; v1's clamp
    is dropped: (x - lo) * 255 / (hi - lo) lies in [0, 256) for lo <= x <= hi, where it changes no truncation.
    `part`: a crop of `image` (None: all of it), the pixels returned, with `image`'s min/max."""
    part = image if part is None else part
    lo = image.amin(dim=(-2, -1), keepdim=True).to(torch.float32)
    hi = image.amax(dim=(-2, -1), keepdim=True).to(torch.float32)
    scale = 255.0 / (hi - lo)
    flat = ~torch.isfinite(scale)
    lo[flat], scale[flat] = 0.0, 1.0
    return _float(part).sub_(lo).mul_(scale).to(torch.uint8)


def _equalize(image: torch.Tensor, part: torch.Tensor | None = None) -> torch.Tensor:
    """v2's `equalize` on uint8 (..., H, W) (PIL's LUT per frame and channel), the same integer arithmetic: the
    histograms counted on the uint8 planes (one bincount each), the LUTs applied with one index_select (v2: scatter_add/gather).
    `part`: a crop of `image` (None: all of it), the pixels returned, with `image`'s histograms."""
    if image.numel() == 0:
        return image if part is None else part
    h, w = image.shape[-2:]
    planes = image.numel() // (h * w)
    flat = image.contiguous().view(planes, h * w)  # uint8: counted as is (no int32 copy of the frame)
    hist = torch.stack([torch.bincount(plane, minlength=256) for plane in flat])  # (P, 256)
    cum = hist.cumsum(dim=-1)
    step = (h * w - hist.gather(-1, cum.argmax(dim=-1, keepdim=True))).div_(255, rounding_mode="floor")  # (P, 1)
    lut = cum[:, :-1].add(step // 2).div_(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255).to(torch.uint8)
    lut = torch.cat([lut.new_zeros(planes, 1), lut], dim=-1)  # (P, 256); lut[0] = 0
    lut = torch.where(step.ne(0), lut, torch.arange(256, dtype=torch.uint8))  # step 0: the plane as is
    part = image if part is None else part
    index = part.to(torch.int32, memory_format=torch.contiguous_format).view(planes, -1)
    index.add_(torch.arange(0, planes * 256, 256, dtype=torch.int32).unsqueeze(1))  # plane p, value v -> 256 p + v
    return lut.view(-1).index_select(0, index.view(-1)).view(part.shape)


def _solarize(clip: torch.Tensor, threshold: float) -> torch.Tensor:
    """v2's `solarize` (pixels >= threshold inverted) with the threshold rounded up to an integer: a uint8
    comparison instead of a float32 one, the same pixels (whether v2 compares in float32 or float64)."""
    from torchvision.transforms.v2 import functional as F

    level = math.ceil(threshold)
    if level != math.ceil(float(np.float32(threshold))) or not 0 <= threshold <= 255:
        return F.solarize(clip, threshold)
    if level <= 0:
        return clip.bitwise_not()
    # 255 where clip >= level, else 0 (uint8 arithmetic, no bool mask); x ^ 255 = 255 - x
    flip = clip.clamp(min=level - 1).sub_(level - 1).clamp_(max=1) if level > 1 else clip.clamp(max=1)
    flip.mul_(255)
    return clip.bitwise_xor(flip)


def _warp(clip: torch.Tensor, matrix: list[float], *, frame: tuple[int, int] | None = None,
          in_box: Box | None = None, out_box: Box | None = None) -> torch.Tensor:
    """v2's bilinear `_apply_grid_transform` with fill 0.5 on uint8 (..., C, H, W), the same values, cheaper.

    v2 samples a ones channel beside the image (the mask m), blends (x - 0.5) m + 0.5 and rounds. Here the mask
    is sampled once (the grid, hence m, is the same for every frame), the image in one grid_sample of all frames
    and channels together, only over the output rows/columns with m > 0 (elsewhere x = 0 and m = 0: round(0.5)
    is 0), and the blend only where 0 < m < 1 (m == 1: (x - 0.5) + 0.5 rounds like x: exact for x >= 0.25,
    both round to 0 below).
    Region form: `clip` holds the `in_box` of an H x W `frame` (None: the whole frame), the output is `out_box`
    of the result; every output pixel samples only its own 4 neighbours, so `in_box` must hold those
    (`_need`) -- the rest of the H x W input buffer is left unset, never read.
    """
    from torch.nn.functional import grid_sample
    from torchvision.transforms.v2.functional._geometry import _affine_grid

    h, w = clip.shape[-2:] if frame is None else frame
    it, il, ib, ir = (0, 0, h, w) if in_box is None else in_box
    t, l, b, r = (0, 0, h, w) if out_box is None else out_box
    out = torch.zeros((*clip.shape[:-2], b - t, r - l), dtype=torch.uint8)
    if out.numel() == 0:
        return out
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    grid = _affine_grid(theta, w=w, h=h, ow=w, oh=h)  # (1, H, W, 2)
    sample = dict(mode="bilinear", padding_mode="zeros", align_corners=False)
    grid = grid[:, t:b, l:r]  # (1, b-t, r-l, 2); grid_sample's value at a point depends on that point alone
    mask = grid_sample(torch.ones(1, 1, h, w), grid, **sample)[0, 0]  # (b-t, r-l)
    seen = mask.ne(0)
    rows, cols = seen.any(1).nonzero()[:, 0], seen.any(0).nonzero()[:, 0]
    if rows.numel() == 0:
        return out
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (it, il, ib, ir) == (0, 0, h, w):
        x = clip.to(torch.float32, memory_format=torch.contiguous_format).view(1, -1, h, w)  # (1, N*C, H, W)
    else:  # the H x W buffer grid_sample normalises by, holding the input box (the only pixels read: left unset)
        x = torch.empty(1, clip[..., 0, 0].numel(), h, w)
        x.view(*clip.shape[:-2], h, w)[..., it:ib, il:ir].copy_(clip)  # one pass from any layout
    y = grid_sample(x, grid[:, r0:r1, c0:c1], **sample)[0]  # (N*C, h', w')
    m = mask[r0:r1, c0:c1].reshape(-1)
    edge = (seen[r0:r1, c0:c1].reshape(-1) & m.ne(1)).nonzero()[:, 0]  # where 0 < m < 1 (or m > 1)
    flat = y.view(y.shape[0], -1)
    flat.index_copy_(1, edge, flat.index_select(1, edge).sub_(0.5).mul_(m[edge]).add_(0.5))
    out.view(-1, b - t, r - l)[:, r0:r1, c0:c1].copy_(y.round_())
    return out


def _affine_matrix(name: str, arg: float, h: int, w: int) -> list[float] | None:
    """The inverse matrix v2's `rotate`/`affine` builds for a Rotate/Shear/Translate op (centre-based); None for
    a Rotate by a multiple of 90 degrees (v2's own fast path).

    pytorchvideo's inverse matrices: ShearX [1, f, H f/2; 0, 1, 0], ShearY [1, 0, 0; f, 1, W f/2],
    TranslateX [1, 0, f W; 0, 1, 0], TranslateY [1, 0, 0; 0, 1, f H] (centre-based pixel coordinates);
    v2's affine builds the same matrix from a shear angle atan(f) and a translation of minus the offset.
    """
    from torchvision.transforms.v2.functional._geometry import _get_inverse_affine_matrix

    if name == "Rotate":
        angle = arg % 360  # v2's rotate: fast paths at multiples of 90 degrees, else the matrix of -angle
        return None if angle % 90 == 0 else _get_inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    translate, shear = {
        "ShearX": ([-h * arg / 2, 0.0], [math.degrees(math.atan(arg)), 0.0]),
        "ShearY": ([0.0, -w * arg / 2], [0.0, math.degrees(math.atan(arg))]),
        "TranslateX": ([-arg * w, 0.0], [0.0, 0.0]),
        "TranslateY": ([0.0, -arg * h], [0.0, 0.0]),
    }[name]
    return _get_inverse_affine_matrix([0.0, 0.0], 0.0, [float(t) for t in translate], 1.0, shear)


def apply_op(clip: torch.Tensor, name: str, arg: float | int | None) -> torch.Tensor:
    """One op on a uint8 (..., C, H, W) tensor, the same for every leading index (frame).

    Colour ops reproduce the arithmetic of torchvision's v1 functional API (what pytorchvideo calls) exactly; the
    rest give torchvision.transforms.v2.functional's values (ShearX/Y within one grey level of v1 at the border):
    Rotate/Shear/Translate through `_warp`, v2's grid transform without its redundant work.
    Contrast and AutoContrast use per-frame statistics, as the original does.
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    h, w = clip.shape[-2:]
    if name in ("AdjustContrast", "AutoContrast"):  # frame-wide statistics: ~20x faster on the standard layout
        clip = clip.contiguous()
    if name == "AdjustBrightness":
        return _blend(_float(clip), None, arg)
    if name in ("AdjustContrast", "AdjustSaturation"):
        f = _float(clip)
        gray = _grayscale(f)  # (..., 1, H, W)
        return _blend(f, gray.mean(dim=(-3, -2, -1), keepdim=True) if name == "AdjustContrast" else gray, arg)
    if name == "AdjustSharpness":
        return clip if h <= 2 or w <= 2 else _sharpness(clip, arg)
    if name == "AutoContrast":
        return _autocontrast(clip)
    if name == "Equalize":
        return _equalize(clip)
    if name == "Invert":
        return F.invert(clip)
    if name == "Posterize":
        return clip if arg >= 8 else F.posterize(clip, int(arg))
    if name == "Solarize":
        return _solarize(clip, arg)
    if name in WARP_OPS:
        matrix = _affine_matrix(name, arg, h, w)
        if matrix is None:
            return F.rotate(clip, arg, interpolation=InterpolationMode.BILINEAR, fill=FILL)
        return _warp(clip, matrix)
    raise ValueError(f"unknown RandAugment op {name!r}; use one of {', '.join(OP_NAMES)}")


def _need(name: str, arg: float | int | None, box: Box, h: int, w: int) -> Box:
    """The box of op `name`'s input that its output `box` depends on (H x W frames)."""
    t, l, b, r = box
    if name in STATS_OPS or (name == "Rotate" and _affine_matrix(name, arg, h, w) is None):
        return 0, 0, h, w
    if name == "AdjustSharpness" and h > 2 and w > 2:  # the 3x3 blur: a 1-pixel margin
        return max(t - 1, 0), max(l - 1, 0), min(b + 1, h), min(r + 1, w)
    if name not in WARP_OPS:
        return box  # pointwise
    a, bx, c, d, e, f = _affine_matrix(name, arg, h, w)  # output pixel (x, y) samples input (ix, iy):
    xs, ys = [l - (w - 1) / 2, r - 1 - (w - 1) / 2], [t - (h - 1) / 2, b - 1 - (h - 1) / 2]  # centre-based corners
    ix = [a * x + bx * y + c + (w - 1) / 2 for x in xs for y in ys]  # affine: the extremes at the corners
    iy = [d * x + e * y + f + (h - 1) / 2 for x in xs for y in ys]
    # bilinear reads floor(i) and floor(i) + 1; one more pixel each side for float32's rounding of the grid
    l, r = max(math.floor(min(ix)) - 1, 0), min(math.floor(max(ix)) + 3, w)
    t, b = max(math.floor(min(iy)) - 1, 0), min(math.floor(max(iy)) + 3, h)
    return (t, l, b, r) if t < b and l < r else (0, 0, 1, 1)  # all outside: the output is fill (any input)


def _apply_region(clip: torch.Tensor, name: str, arg: float | int | None, frame: tuple[int, int], in_box: Box,
                  out_box: Box) -> torch.Tensor:
    """Op `name` on the `in_box` of an H x W `frame` (`clip`, (..., C, bh, bw)) -> its output's `out_box`."""
    h, w = frame
    t, l, b, r = out_box[0] - in_box[0], out_box[1] - in_box[1], out_box[2] - in_box[0], out_box[3] - in_box[1]
    matrix = _affine_matrix(name, arg, h, w) if name in WARP_OPS else None
    if matrix is not None:
        return _warp(clip, matrix, frame=frame, in_box=in_box, out_box=out_box)
    if name in ("AdjustContrast", "AutoContrast"):  # frame-wide statistics: ~20x faster on the standard layout
        clip = clip.contiguous()
    if name == "AdjustContrast":  # the mean grey of the whole frame (in_box is the frame), from its uint8 pixels
        return _blend(_float(clip[..., t:b, l:r]), _grayscale(clip).mean(dim=(-3, -2, -1), keepdim=True), arg)
    if name == "AutoContrast":
        return _autocontrast(clip, clip[..., t:b, l:r])
    if name == "Equalize":
        return _equalize(clip, clip[..., t:b, l:r])
    if name == "AdjustSharpness" and h > 2 and w > 2:  # the frame's border pixels are at in_box's border
        return _sharpness(clip, arg)[..., t:b, l:r]
    return apply_op(clip, name, arg)[..., t:b, l:r]  # pointwise (in_box = out_box), or Rotate by 90 k (full)


def augment_crop(clip: torch.Tensor, plan: list[tuple[str, float | int | None]], box: tuple[int, int, int, int], *,
                 region: bool = True) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, h, w): the `plan`'s ops on the clip, then the crop `box` (top, left, h, w).

    region=True computes only what the crop needs, the same values: walking the plan backwards from the crop,
    each op's output box gives the input box it reads (`_need`: the same box for pointwise ops, a 1-pixel margin
    for Sharpness, the whole frame for frame-wide statistics, the affine pre-image for warps), and each op then
    runs on its input box only. region=False: every op on the whole frame, then the crop.
    """
    top, left, bh, bw = box
    if not region:
        for name, arg in plan:
            with stage(f"randaugment.{name}"):
                clip = apply_op(clip, name, arg)
        return clip[..., top : top + bh, left : left + bw]
    h, w = clip.shape[-2:]
    boxes = [(top, left, top + bh, left + bw)]  # boxes[i]: the input box of op i (the last: the crop)
    for name, arg in reversed(plan):
        boxes.insert(0, _need(name, arg, boxes[0], h, w))
    t, l, b, r = boxes[0]
    clip = clip[..., t:b, l:r]
    for (name, arg), in_box, out_box in zip(plan, boxes, boxes[1:]):
        with stage(f"randaugment.{name}"):
            clip = _apply_region(clip, name, arg, (h, w), in_box, out_box)
    return clip


def pytorchvideo_plan(clip: torch.Tensor, *, magnitude: float, num_layers: int, rng: np.random.Generator,
                      prob: float = 0.5, sampling_std: float = 0.5) -> list[tuple[str, float | int | None]]:
    """The checked plan of `rand_augment_pytorchvideo` for `clip` (the same draws from `rng`)."""
    if clip.dtype != torch.uint8:
        raise TypeError(f"RandAugment expects a uint8 clip (the original's input), got {clip.dtype}")
    if not 0 <= magnitude <= MAX_LEVEL:
        raise ValueError(f"RandAugment magnitude {magnitude}: use 0-10 (pytorchvideo's scale)")
    return randaugment_plan(rng, magnitude=magnitude, num_layers=num_layers, prob=prob, sampling_std=sampling_std)


def rand_augment_pytorchvideo(clip: torch.Tensor, *, magnitude: float, num_layers: int, rng: np.random.Generator,
                              prob: float = 0.5, sampling_std: float = 0.5) -> torch.Tensor:
    """(T, C, H, W) uint8 -> (T, C, H, W) uint8: pytorchvideo's RandAugment, the same ops on every frame."""
    for name, arg in pytorchvideo_plan(clip, magnitude=magnitude, num_layers=num_layers, rng=rng, prob=prob,
                                       sampling_std=sampling_std):
        with stage(f"randaugment.{name}"):
            clip = apply_op(clip, name, arg)
    return clip
