"""pytorchvideo-semantics RandAugment (the original recipes'): op table, per-layer probability, magnitude
sampling, each op against the torchvision call pytorchvideo makes, frame consistency, determinism."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zeroi2v.data import randaugment as RA

# Transcribed from facebookresearch/pytorchvideo, pytorchvideo/transforms/rand_augment.py
# (_TRANSFORM_RANDAUG_MAX_PARAMS) and pytorchvideo/transforms/augmentations.py (_LEVEL_TO_ARG):
# op: (level -> argument function, (base, range))
PYTORCHVIDEO_TABLE = {
    "AdjustBrightness": ("_increasing_randomly_negate_to_arg", (1, 0.9)),
    "AdjustContrast": ("_increasing_randomly_negate_to_arg", (1, 0.9)),
    "AdjustSaturation": ("_increasing_randomly_negate_to_arg", (1, 0.9)),
    "AdjustSharpness": ("_increasing_randomly_negate_to_arg", (1, 0.9)),
    "AutoContrast": (None, None),
    "Equalize": (None, None),
    "Invert": (None, None),
    "Rotate": ("_increasing_randomly_negate_to_arg", (0, 30)),
    "Posterize": ("_decreasing_int_to_arg", (4, 4)),
    "Solarize": ("_decreasing_to_arg", (1, 1)),
    "ShearX": ("_increasing_randomly_negate_to_arg", (0, 0.3)),
    "ShearY": ("_increasing_randomly_negate_to_arg", (0, 0.3)),
    "TranslateX": ("_increasing_randomly_negate_to_arg", (0, 0.45)),
    "TranslateY": ("_increasing_randomly_negate_to_arg", (0, 0.45)),
}
RULES = {"_increasing_randomly_negate_to_arg": "signed", "_decreasing_int_to_arg": "decreasing_int",
         "_decreasing_to_arg": "decreasing", None: None}
# pytorchvideo/transforms/augmentations.py: _AUGMENTATION_MAX_LEVEL = 10, TRANSFORM_DEFAULT_HPARAS fill (0.5,)*3;
# rand_augment.py: SAMPLING_RANDAUG_DEFAULT_HPARAS sampling_std 0.5, RandAugment(prob=0.5, sampling_type="gaussian")


def smooth_clip(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (shape[0], shape[1], shape[2] // 4 + 1, shape[3] // 4 + 1), dtype=torch.uint8, generator=g)
    return torch.nn.functional.interpolate(x.float(), size=shape[-2:], mode="bilinear").round().clamp(0, 255).to(torch.uint8)


def test_op_table_is_pytorchvideos():
    assert list(RA.OPS) == list(PYTORCHVIDEO_TABLE)  # the same 14 ops (the sampler draws by index)
    for name, (fn, params) in PYTORCHVIDEO_TABLE.items():
        rule, base, span = RA.OPS[name]
        assert rule == RULES[fn], name
        if params is not None:
            assert (base, span) == params, name
    assert RA.MAX_LEVEL == 10 and RA.FILL == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("level, expected", [
    (7.0, {"AdjustBrightness": 1.63, "Rotate": 21.0, "ShearX": 0.21, "TranslateY": 0.315, "Posterize": 2,
           "Solarize": 0.3, "Invert": None}),
    (10.0, {"AdjustSharpness": 1.9, "Rotate": 30.0, "ShearY": 0.3, "TranslateX": 0.45, "Posterize": 0,
            "Solarize": 0.0, "Equalize": None}),
    (7.6, {"Posterize": 1}),  # 4 - int(3.04)
])
def test_level_to_argument(level, expected):
    for name, value in expected.items():
        arg = RA.op_argument(name, level)
        assert arg == pytest.approx(value) if value is not None else arg is None, name
        if RA.OPS[name][0] == "signed":
            assert RA.op_argument(name, level, negate=True) == pytest.approx(2 * RA.OPS[name][1] - value)
    assert isinstance(RA.op_argument("Posterize", 7.0), int)


def test_plan_statistics_match_pytorchvideos_sampler():
    """4 distinct ops per clip, each applied with p 0.5 (about 2 ops per clip), level ~ N(7, 0.5), sign a coin flip."""
    applied, counts, levels, negative = [], dict.fromkeys(RA.OPS, 0), [], []
    for seed in range(3000):
        plan = RA.randaugment_plan(np.random.default_rng(seed), magnitude=7, num_layers=4)
        names = [n for n, _ in plan]
        assert len(set(names)) == len(names) <= 4  # drawn without replacement
        applied.append(len(plan))
        for name, arg in plan:
            counts[name] += 1
            rule, base, span = RA.OPS[name]
            if rule == "signed":
                levels.append(abs(arg - base) / span * 10)
                negative.append(arg < base)
    assert abs(np.mean(applied) - 2.0) < 0.06  # binomial(4, 0.5): sd of the mean 0.018
    expected = 3000 * 4 / 14 * 0.5  # every op equally likely
    assert all(abs(c - expected) < 0.2 * expected for c in counts.values()), counts
    assert abs(np.mean(levels) - 7.0) < 0.03 and abs(np.std(levels) - 0.5) < 0.03
    assert abs(np.mean(negative) - 0.5) < 0.03


def test_level_is_clipped_to_0_10():
    levels = []
    for seed in range(400):
        for name, arg in RA.randaugment_plan(np.random.default_rng(seed), magnitude=10, num_layers=14):
            if name == "Rotate":
                levels.append(abs(arg) / 3)
    assert max(levels) == 10.0 and min(levels) > 8  # N(10, 0.5) clipped at 10: about half exactly 10
    assert 0.35 < np.mean(np.array(levels) == 10.0) < 0.65


def _pytorchvideo_reference(video, name, factor):
    """The call pytorchvideo's augmentations.py makes for each op (torchvision's v1 API, F_t.affine raw matrices)."""
    import torchvision.transforms.functional as F
    from torchvision.transforms.functional import InterpolationMode

    F_t = pytest.importorskip("torchvision.transforms._functional_tensor")  # pytorchvideo's `functional_tensor`
    fill = [0.5, 0.5, 0.5]
    H, W = video.size(-2), video.size(-1)
    calls = {
        "AdjustBrightness": lambda: F.adjust_brightness(video, factor),
        "AdjustContrast": lambda: F.adjust_contrast(video, factor),
        "AdjustSaturation": lambda: F.adjust_saturation(video, factor),
        "AdjustSharpness": lambda: F.adjust_sharpness(video, factor),
        "AutoContrast": lambda: F.autocontrast(video),
        "Equalize": lambda: F.equalize(video),
        "Invert": lambda: F.invert(video),
        "Rotate": lambda: F.rotate(video, factor, fill=fill, interpolation=InterpolationMode.BILINEAR),
        "Posterize": lambda: video if factor >= 8 else F.posterize(video, factor),
        "Solarize": lambda: F.solarize(video, factor),
        "ShearX": lambda: F_t.affine(video, [1, factor, H * factor / 2, 0, 1, 0], fill=fill, interpolation="bilinear"),
        "ShearY": lambda: F_t.affine(video, [1, 0, 0, factor, 1, W * factor / 2], fill=fill, interpolation="bilinear"),
        "TranslateX": lambda: F_t.affine(video, [1, 0, factor * W, 0, 1, 0], fill=fill, interpolation="bilinear"),
        "TranslateY": lambda: F_t.affine(video, [1, 0, 0, 0, 1, factor * H], fill=fill, interpolation="bilinear"),
    }
    return calls[name]()


@pytest.mark.parametrize("name", RA.OP_NAMES)
def test_each_op_equals_the_call_pytorchvideo_makes(name):
    """Bit for bit, except the shears: v2 builds their matrix from atan(f) (within one grey level, at the border)."""
    rng = np.random.default_rng(1)
    for shape in [(3, 3, 37, 53), (2, 3, 48, 40)]:
        clip = smooth_clip(shape, seed=shape[-1])
        for k in range(12):
            level = float(np.clip(rng.normal(7, 0.5), 0, 10))
            arg = RA.op_argument(name, level, negate=bool(k % 2))
            ours, ref = RA.apply_op(clip, name, arg), _pytorchvideo_reference(clip, name, arg)
            assert ours.dtype == torch.uint8 and ours.shape == clip.shape
            if name in ("ShearX", "ShearY"):
                diff = (ours.int() - ref.int()).abs()
                assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3, (name, arg)
            else:
                assert torch.equal(ours, ref), (name, arg)


def test_solarize_inverts_every_nonzero_pixel_like_the_original():
    """pytorchvideo's threshold 1 - level/10 is meant for [0, 1] images; on the uint8 clip it inverts all pixels >= 1."""
    clip = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16)
    out = RA.apply_op(clip, "Solarize", RA.op_argument("Solarize", 7.0))
    expected = torch.where(clip >= 1, 255 - clip, clip)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("name", RA.OP_NAMES)
def test_a_clip_of_copies_stays_copies_through_every_op(name):
    frame = smooth_clip((1, 3, 30, 41), seed=3)[0]
    frame[:, :4] = 0  # a dark band: AutoContrast/Equalize have something to stretch
    clip = frame.expand(5, -1, -1, -1).contiguous()  # (T, C, H, W): T copies
    out = RA.apply_op(clip, name, RA.op_argument(name, 7.0))
    assert all(torch.equal(out[0], out[t]) for t in range(1, 5)), name
    assert not torch.equal(out, clip) or name == "AutoContrast", name  # every op changes something here


def test_rand_augment_frame_consistent_seeded_and_active():
    frame = smooth_clip((1, 3, 40, 56), seed=5)[0]
    clip = frame.expand(6, -1, -1, -1).contiguous()
    changed = 0
    for seed in range(40):
        out = RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        assert out.shape == clip.shape and out.dtype == torch.uint8
        assert all(torch.equal(out[0], out[t]) for t in range(1, 6)), seed
        again = RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        assert torch.equal(out, again)  # determined by the generator alone
        changed += not torch.equal(out, clip)
    assert changed >= 30  # P(no op fires) = 1/16 per clip
    before = torch.random.get_rng_state()
    RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(0))
    assert torch.equal(before, torch.random.get_rng_state())  # torch's global RNG is not used


def test_rand_augment_applies_the_plan_in_order():
    clip = smooth_clip((2, 3, 32, 40), seed=7)
    for seed in range(10):
        plan = RA.randaugment_plan(np.random.default_rng(seed), magnitude=7, num_layers=4)
        expected = clip
        for name, arg in plan:
            expected = RA.apply_op(expected, name, arg)
        out = RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        assert torch.equal(out, expected)


def test_bad_arguments():
    clip = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="magnitude"):
        RA.rand_augment_pytorchvideo(clip, magnitude=11, num_layers=2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="distinct"):
        RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=15, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="uint8"):
        RA.rand_augment_pytorchvideo(clip.float(), magnitude=7, num_layers=2, rng=np.random.default_rng(0))
    assert math.isclose(RA.op_argument("Rotate", 0.0), 0.0)


def _v2_reference(video, name, arg):
    """The torchvision v2 calls the geometric/Equalize/Solarize ops were written with (before `_warp`, `_equalize`
    and `_solarize` replaced them); the rewrites must give exactly these values."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    h, w, bilinear, fill = video.shape[-2], video.shape[-1], InterpolationMode.BILINEAR, [0.5, 0.5, 0.5]
    affine = dict(angle=0.0, scale=1.0, interpolation=bilinear, fill=fill)
    calls = {
        "Rotate": lambda: F.rotate(video, arg, interpolation=bilinear, fill=fill),
        "ShearX": lambda: F.affine(video, translate=[-h * arg / 2, 0.0], shear=[math.degrees(math.atan(arg)), 0.0], **affine),
        "ShearY": lambda: F.affine(video, translate=[0.0, -w * arg / 2], shear=[0.0, math.degrees(math.atan(arg))], **affine),
        "TranslateX": lambda: F.affine(video, translate=[-arg * w, 0.0], shear=[0.0, 0.0], **affine),
        "TranslateY": lambda: F.affine(video, translate=[0.0, -arg * h], shear=[0.0, 0.0], **affine),
        "Equalize": lambda: F.equalize(video),
        "Solarize": lambda: F.solarize(video, arg),
    }
    return calls[name]()


def _test_clips():
    g = torch.Generator().manual_seed(11)
    noise = torch.randint(0, 256, (3, 3, 61, 97), dtype=torch.uint8, generator=g)
    smooth = smooth_clip((2, 3, 64, 90), seed=4)
    smooth[..., :6, :] = 0
    flat = torch.full((2, 3, 9, 13), 77, dtype=torch.uint8)  # a constant plane: Equalize leaves it as is
    flat[1, 2, :3] = 200
    return [noise, smooth, smooth[..., 3:-2, 5:], flat, torch.randint(0, 256, (2, 2, 3, 11, 7), dtype=torch.uint8, generator=g)]


@pytest.mark.parametrize("name", ["Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"])
def test_geometric_ops_equal_v2s_affine_bit_for_bit(name):
    """`_warp` (one grid_sample for all frames, mask once, blend only at the border) = v2's rotate/affine exactly,
    at the recipe's levels, at multiples of 90 degrees and for shifts that move the image (partly) out of frame."""
    rng = np.random.default_rng(2)
    extra = {"Rotate": [0.0, 90.0, -90.0, 180.0, 360.0, 45.0, -30.0]}.get(name, [0.0, 0.5, -1.0, 2.5])
    for clip in _test_clips():
        args = [RA.op_argument(name, float(np.clip(rng.normal(7, 2), 0, 10)), negate=bool(k % 2)) for k in range(8)]
        for arg in args + extra:
            ours = RA.apply_op(clip, name, arg)
            assert ours.dtype == torch.uint8 and ours.shape == clip.shape
            assert torch.equal(ours, _v2_reference(clip, name, arg)), (name, arg, tuple(clip.shape))


def test_equalize_and_solarize_equal_v2_bit_for_bit():
    for clip in _test_clips():
        assert torch.equal(RA.apply_op(clip, "Equalize", None), _v2_reference(clip, "Equalize", None))
        for threshold in [0.0, 1e-20, 0.3, 0.999, 1.0, 1.5, 127.5, 128.0, 254.2, 255.0]:
            assert torch.equal(RA.apply_op(clip, "Solarize", threshold), _v2_reference(clip, "Solarize", threshold)), threshold


@pytest.mark.parametrize("name", ["AdjustBrightness", "AdjustContrast", "AdjustSaturation", "AdjustSharpness",
                                  "AutoContrast", "Invert", "Posterize"])
def test_colour_ops_equal_v1_on_noise_and_views(name):
    """The in-place float rewrites against torchvision v1 on full-range noise and on non-contiguous views."""
    rng = np.random.default_rng(3)
    for clip in _test_clips()[:4]:
        for k in range(6):
            arg = RA.op_argument(name, float(np.clip(rng.normal(7, 2), 0, 10)), negate=bool(k % 2))
            assert torch.equal(RA.apply_op(clip, name, arg), _pytorchvideo_reference(clip, name, arg)), (name, arg)


@pytest.mark.parametrize("name", RA.OP_NAMES)
def test_ops_give_the_same_values_on_a_channels_last_clip(name):
    """The memory layout must not change a value (Contrast's float mean included, whose summation order follows
    the grayscale's layout): torch's uint8 resize kernel works in channels-last."""
    clip = torch.randint(0, 256, (3, 3, 45, 71), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    clip_cl = clip.contiguous(memory_format=torch.channels_last)
    rng = np.random.default_rng(6)
    for k in range(6):
        arg = RA.op_argument(name, float(np.clip(rng.normal(7, 2), 0, 10)), negate=bool(k % 2))
        assert torch.equal(RA.apply_op(clip_cl, name, arg), RA.apply_op(clip, name, arg)), (name, arg)


def _boxes(h, w, rng):
    """(top, left, h, w) crops: the whole frame, 1-pixel ones in the corners, ones touching each border, inside."""
    out = [(0, 0, h, w), (0, 0, 1, 1), (h - 1, w - 1, 1, 1), (0, w - 1, h, 1), (h - 1, 0, 1, w)]
    for k in range(8):
        bh, bw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        top = [0, h - bh, int(rng.integers(0, h - bh + 1))][k % 3]
        left = [w - bw, 0, int(rng.integers(0, w - bw + 1))][k % 3]
        out.append((top, left, bh, bw))
    return out


def _region_clips():
    g = torch.Generator().manual_seed(11)
    noise = torch.randint(0, 256, (2, 3, 40, 57), dtype=torch.uint8, generator=g)
    return [noise, smooth_clip((2, 3, 52, 36), seed=12), noise[..., 3:, :-4], noise[..., :3, :4]]


@pytest.mark.parametrize("name", RA.OP_NAMES)
def test_region_path_equals_whole_frame_for_every_op(name):
    """`augment_crop(region=True)` (each op on the box its output crop needs) = every op on the whole frame, then
    the crop -- bit for bit, for each op alone and after/before a warp and a statistics op, at boxes touching
    every border, 1-pixel boxes and the whole frame, at the recipe's levels and at the extremes."""
    rng = np.random.default_rng(13)
    extra = {"Rotate": [0.0, 90.0, -30.0, 30.0], "Posterize": [8, 0], "Solarize": [0.0, 1.0]}.get(name, [])
    for clip in _region_clips():
        args = [RA.op_argument(name, float(np.clip(rng.normal(7, 2), 0, 10)), negate=bool(k % 2)) for k in range(3)]
        for arg in args + extra:
            for plan in ([(name, arg)], [("ShearX", -0.25), (name, arg)], [(name, arg), ("Rotate", 21.0)],
                         [(name, arg), ("AdjustSharpness", 1.8), ("TranslateY", 0.3)], [(name, arg), ("Equalize", None)]):
                for box in _boxes(*clip.shape[-2:], rng):
                    whole = RA.augment_crop(clip, plan, box, region=False)
                    assert whole.shape[-2:] == box[2:]
                    assert torch.equal(RA.augment_crop(clip, plan, box), whole), (plan, box, tuple(clip.shape))


def test_region_path_equals_whole_frame_for_random_plans():
    """Recipe-drawn plans (m7 n4, and m9 with all 14 ops in random order) and random resized crops, 256-pixel frames."""
    from zeroi2v.data import transforms as T

    g = torch.Generator().manual_seed(14)
    clips = [torch.randint(0, 256, (2, 3, 256, 341), dtype=torch.uint8, generator=g), smooth_clip((2, 3, 340, 256), 15)]
    for seed in range(24):
        rng = np.random.default_rng(seed)
        clip = clips[seed % 2]
        plan = RA.randaugment_plan(rng, magnitude=7 if seed < 16 else 9, num_layers=4 if seed < 16 else 14,
                                   prob=0.5 if seed < 16 else 1.0)
        box = T.random_resized_crop_box(*clip.shape[-2:], rng=rng, scale=(0.08, 1.0))
        assert torch.equal(RA.augment_crop(clip, plan, box), RA.augment_crop(clip, plan, box, region=False)), plan


def test_rand_augment_equals_its_plan_applied_whole_frame():
    clip = smooth_clip((2, 3, 30, 44), seed=16)
    for seed in range(8):
        plan = RA.pytorchvideo_plan(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        out = RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        assert torch.equal(out, RA.augment_crop(clip, plan, (0, 0, 30, 44), region=False))


def test_region_path_on_the_resize_layout_equals_whole_frame_on_the_standard_layout():
    """The dataset hands the ops the uint8 resize's channels-last output as is (no copy first): every plan and crop
    gives the values of the whole-frame ops on the standard layout, then the crop -- over many recipe draws,
    with every op first (statistics ops on a channels-last frame included)."""
    from zeroi2v.data import transforms as T

    g = torch.Generator().manual_seed(21)
    frames = [torch.randint(0, 256, (2, 3, 60, 80), dtype=torch.uint8, generator=g), smooth_clip((2, 3, 70, 52), 22)]
    clips = [T.resize_short(f, 64, fast=True, channels_last=True) for f in frames]
    assert not clips[0].is_contiguous() and clips[0].is_contiguous(memory_format=torch.channels_last)
    plans = [[(name, RA.op_argument(name, 7.0, negate=True))] for name in RA.OP_NAMES]
    rng = np.random.default_rng(23)
    plans += [RA.randaugment_plan(rng, magnitude=7, num_layers=4) for _ in range(60)]
    for k, plan in enumerate(plans):
        clip = clips[k % 2]
        box = T.random_resized_crop_box(*clip.shape[-2:], rng=rng, scale=(0.08, 1.0))
        whole = RA.augment_crop(clip.contiguous(), plan, box, region=False)
        assert torch.equal(RA.augment_crop(clip, plan, box), whole), (plan, box)
        assert torch.equal(RA.augment_crop(clip, plan, box, region=False), whole), (plan, box)
