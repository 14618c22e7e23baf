"""Transforms on uint8 clips: shapes, crop bounds, flip + the SSv2 label-flip map, normalisation stats."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import video_fixtures as V
from zeroi2v.data import transforms as T


def clip(t=4, h=24, w=40):
    return torch.arange(t * 3 * h * w, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(t, 3, h, w)


def test_resize_short_keeps_aspect():
    out = T.resize_short(clip(h=24, w=40), 12)
    assert out.shape == (4, 3, 12, 20) and out.dtype == torch.uint8
    assert T.resize_short(clip(h=40, w=24), 12).shape == (4, 3, 20, 12)
    flat = torch.full((2, 3, 10, 30), 77, dtype=torch.uint8)
    assert (T.resize_short(flat, 20) == 77).all()  # constant stays constant


def test_center_and_three_crop():
    x = clip(h=24, w=40)
    c = T.center_crop(x, 24)
    assert c.shape == (4, 3, 24, 24) and torch.equal(c, x[..., :, 8:32])
    crops = T.three_crop(x, 24)
    assert [tuple(k.shape) for k in crops] == [(4, 3, 24, 24)] * 3
    assert torch.equal(crops[0], x[..., :24]) and torch.equal(crops[2], x[..., 16:]) and torch.equal(crops[1], c)
    tall = T.three_crop(clip(h=40, w=24), 24)
    assert torch.equal(tall[2], clip(h=40, w=24)[..., 16:, :])
    with pytest.raises(ValueError, match="smaller"):
        T.center_crop(x, 30)


def test_random_resized_crop_bounds():
    for seed in range(300):
        rng = np.random.default_rng(seed)
        h, w = int(rng.integers(8, 64)), int(rng.integers(8, 64))
        top, left, ch, cw = T.random_resized_crop_box(h, w, rng=rng, scale=(0.08, 1.0))
        assert 0 <= top and top + ch <= h and 0 < ch
        assert 0 <= left and left + cw <= w and 0 < cw
    out = T.random_resized_crop(clip(), 16, rng=np.random.default_rng(0))
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.uint8
    a = T.random_resized_crop(clip(), 16, rng=np.random.default_rng(5))
    assert torch.equal(a, T.random_resized_crop(clip(), 16, rng=np.random.default_rng(5)))  # seeded


def test_hflip_mirrors_motion():
    x = torch.from_numpy(V.moving_square(frames=6, size=32)).permute(0, 3, 1, 2)  # square moves right
    f = T.hflip(x)
    cols = lambda v: v[:, 0].float().sum(1).argmax(-1)  # noqa: E731  bright column per frame
    assert (cols(x).diff() >= 0).all() and (cols(f).diff() <= 0).all()  # now it moves left
    assert torch.equal(T.hflip(f), x)


def test_normalize_numbers():
    x = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    out = T.normalize(x, (0.5, 0.5, 0.5), (0.5, 0.25, 0.5))
    assert out.dtype == torch.float32
    assert out[0, :, 0, 0].tolist() == pytest.approx([-1.0, 2.0, (128 / 255 - 0.5) / 0.5], abs=1e-6)


def test_flip_map_on_real_ssv2_names():
    names = V.SSV2_CLASSES
    m = T.flip_label_map(names)
    by = dict(zip(names, (names[j] if j >= 0 else None for j in m)))
    assert by["Pushing something from left to right"] == "Pushing something from right to left"
    assert by["Pushing something from right to left"] == "Pushing something from left to right"
    assert by["Pulling something from left to right"] == "Pulling something from right to left"
    assert by["Turning the camera left while filming something"] == "Turning the camera right while filming something"
    assert by["Turning the camera right while filming something"] == "Turning the camera left while filming something"
    for same in ("Approaching something with your camera", "Moving something up",
                 "Moving away from something with your camera", "Putting something on a surface"):
        assert by[same] == same  # directional but not horizontal, or undirected: label kept
    assert sum(j != i for i, j in enumerate(m)) == 6  # exactly the six left/right classes swap
    assert all(m[m[i]] == i for i in range(len(m)))  # an involution


def test_flip_map_partnerless_direction_is_never_flipped():
    m = T.flip_label_map(["Pushing something from left to right", "Holding something", "Leftovers in a bowl"])
    assert m == [-1, 1, 2]  # no right-to-left partner -> never flip; "Leftovers" is not a direction


def test_flip_map_on_toy_names():
    from zeroi2v.data.toy import MOTIONS

    names = list(MOTIONS)
    m = T.flip_label_map(names)
    flipped = {names[i]: names[j] for i, j in enumerate(m) if j != i}
    assert flipped["move_left"] == "move_right" and flipped["rotate_cw"] == "rotate_ccw"
    assert flipped["orbit_ccw"] == "orbit_cw" and flipped["move_up_left"] == "move_up_right"
    assert flipped["roll_right"] == "roll_left" and flipped["zigzag_left"] == "zigzag_right"
    assert "move_up" not in flipped and "grow" not in flipped and min(m) >= 0


def test_backbone_mean_std_clip_vs_imagenet():
    clip_mean, clip_std = T.backbone_mean_std("vit_base_patch16_clip_224.openai")
    assert clip_mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert clip_std == pytest.approx((0.26862954, 0.26130258, 0.27577711))
    inet_mean, inet_std = T.backbone_mean_std("deit_tiny_patch16_224")
    assert inet_mean == pytest.approx((0.485, 0.456, 0.406)) and inet_std == pytest.approx((0.229, 0.224, 0.225))
    from zeroi2v.utils.errors import UserError

    with pytest.raises(UserError, match="unknown backbone"):
        T.backbone_mean_std("no_such_model_xyz")


def test_normalize_matches_the_three_expression_form_on_any_layout():
    import torch as _t

    from zeroi2v.data import transforms as TT

    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    x = _t.randint(0, 256, (2, 5, 3, 6, 7), dtype=_t.uint8)  # (V, T, C, H, W)
    ref = (x.float() / 255.0 - _t.tensor(mean).view(-1, 1, 1)) / _t.tensor(std).view(-1, 1, 1)
    assert _t.equal(TT.normalize(x, mean, std), ref)
    moved = TT.normalize(x.permute(0, 2, 1, 3, 4), mean, std, channel_dim=1)  # (V, C, T, H, W) view
    assert moved.is_contiguous() and _t.equal(moved, ref.permute(0, 2, 1, 3, 4))
    f = x.float()
    before = f.clone()
    TT.normalize(f, mean, std)
    assert _t.equal(f, before)  # a float input is not modified in place


def test_resize_is_layout_independent_and_fast_within_one_level():
    import torch as _t

    from zeroi2v.data import transforms as TT

    hwc = _t.randint(0, 256, (3, 30, 41, 3), dtype=_t.uint8)
    view = TT.to_tchw(hwc)  # decoded frames arrive as this non-contiguous view
    ref = TT.resize(view.contiguous(), (17, 23))
    assert _t.equal(TT.resize(view, (17, 23)), ref)
    fast = TT.resize(view, (17, 23), fast=True)
    assert fast.dtype == _t.uint8 and fast.shape == ref.shape and (fast.int() - ref.int()).abs().max() <= 1
    # channels_last=True: the same values, the kernel's channels-last layout kept (no copy); float: unchanged
    kept = TT.resize(view, (17, 23), fast=True, channels_last=True)
    assert _t.equal(kept, fast) and kept.is_contiguous(memory_format=_t.channels_last) and fast.is_contiguous()
    assert TT.resize(view, (17, 23), channels_last=True).is_contiguous()


def test_random_resized_crop_is_its_box_then_resized_crop():
    clip = torch.randint(0, 256, (2, 3, 40, 57), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    for seed in range(10):
        out = T.random_resized_crop(clip, 16, rng=np.random.default_rng(seed), scale=(0.08, 1.0))
        box = T.random_resized_crop_box(40, 57, rng=np.random.default_rng(seed), scale=(0.08, 1.0))
        top, left, h, w = box
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 57
        assert torch.equal(out, T.resized_crop(clip, box, 16))
        assert torch.equal(out, T.resize(clip[..., top : top + h, left : left + w], (16, 16)))
