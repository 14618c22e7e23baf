"""Frame-consistent training augmentation: RandAugment, RandomErasing, short-side resize, crop options."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data import augment as A
from zeroi2v.data import randaugment as RA
from zeroi2v.data import transforms as T
from zeroi2v.utils.errors import UserError

MEAN, STD = (0.48, 0.46, 0.41), (0.27, 0.26, 0.28)
RECIPE = dict(randaugment=(7, 4), crop_area=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), erasing=1.0, short_side=40, flip=0.5)


@pytest.fixture(scope="module")
def still_items(tmp_path_factory):
    """Videos whose frames are all the same picture (lossless enough: identical decoded frames)."""
    root = tmp_path_factory.mktemp("still")
    rng = np.random.default_rng(0)
    out = []
    for k in range(3):
        frame = rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8)  # no 48 px width (decord copy quirk)
        frame = np.kron(frame[::4, ::4], np.ones((4, 4, 1), np.uint8))  # blocky: survives the codec
        path = V.write_video(root / f"s{k}.mp4", np.repeat(frame[None], 10, axis=0))
        out.append(data.VideoItem(video_id=path.name, path=path, label=k, class_name=f"c{k}"))
    return out


def test_clip_of_copies_stays_copies_through_rand_augment():
    frame = torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)
    clip = frame.expand(6, -1, -1, -1).contiguous()  # (T, C, H, W), T copies
    for seed in range(20):
        out = A.rand_augment(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        assert out.shape == clip.shape and out.dtype == torch.uint8
        assert all(torch.equal(out[0], out[t]) for t in range(1, 6))
    changed = [not torch.equal(A.rand_augment(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(s)), clip)
               for s in range(20)]
    assert sum(changed) >= 15  # the ops do something


def test_random_erasing_const_is_one_grey_box_in_every_frame():
    """mmaction2's RandomErasing (mode "const", its default): one rectangle of 128 grey, the same in every frame."""
    frame = torch.randint(0, 100, (3, 32, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clip = frame.expand(5, -1, -1, -1).contiguous()  # T copies
    fractions = []
    for seed in range(200):
        out = A.random_erasing(clip, p=1.0, rng=np.random.default_rng(seed))
        assert all(torch.equal(out[0], out[t]) for t in range(1, 5))
        erased = (out[0] != clip[0]).any(0)  # (H, W): the frame is < 100, the box 128
        rows, cols = erased.any(1).nonzero()[:, 0], erased.any(0).nonzero()[:, 0]
        box = out[0][:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert (box == 128).all() and int(erased.sum()) == box[0].numel()  # one filled rectangle
        fractions.append(erased.float().mean().item())
    assert 0.015 < min(fractions) and max(fractions) <= 1 / 3 + 0.02  # area 2-33 % of the frame
    assert abs(np.mean(fractions) - (0.02 + 1 / 3) / 2) < 0.03  # uniform area
    assert torch.equal(A.random_erasing(clip, p=0.0, rng=np.random.default_rng(1)), clip)


def test_random_erasing_probability_and_box_law():
    """erase_prob honoured; the box as mmaction2's random_patch draws it (one try, clamped, top < H - h)."""
    clip = torch.zeros(2, 3, 24, 30, dtype=torch.uint8)
    hits = sum(not torch.equal(A.random_erasing(clip, p=0.25, rng=np.random.default_rng(s)), clip) for s in range(800))
    assert abs(hits / 800 - 0.25) < 0.05
    aspects = []
    for seed in range(500):
        top, left, h, w = A.erasing_box(24, 30, rng=np.random.default_rng(seed))
        assert 0 < h <= 24 and 0 < w <= 30 and (top < 24 - h or top == 0) and (left < 30 - w or left == 0)
        aspects.append(math.log(h / w))
    assert abs(np.mean(aspects)) < 0.15  # log-uniform over (0.3, 10/3): symmetric around 0


def test_random_erasing_rand_mode_noise_is_drawn_per_frame_like_the_original():
    """mode "rand": the same rectangle in every frame, uniform 0-255 pixels drawn frame by frame (mmaction2 fills
    each frame with its own `np.random.uniform(0, 256, (h, w, 3))`); pixels outside the box are untouched."""
    clip = torch.full((4, 3, 40, 40), 7, dtype=torch.uint8)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        out = A.random_erasing(clip, p=1.0, rng=rng, mode="rand")
        top, left, h, w = A.erasing_box(40, 40, rng=_after_coin(seed))
        inside = torch.zeros(40, 40, dtype=torch.bool)
        inside[top : top + h, left : left + w] = True
        assert (out[..., ~inside] == 7).all()  # outside the box: untouched in every frame
        if h * w >= 16:
            assert not torch.equal(out[0][:, inside], out[1][:, inside])  # fresh noise per frame
    big = A.random_erasing(torch.zeros(8, 3, 200, 200, dtype=torch.uint8), p=1.0, rng=np.random.default_rng(3), mode="rand")
    values = big[big != 0].float()
    assert abs(values.mean().item() - 128) < 3 and values.max() == 255  # uniform over 0-255
    with pytest.raises(ValueError, match="const, rand"):
        A.random_erasing(clip, p=1.0, rng=np.random.default_rng(0), mode="gauss")


def _after_coin(seed):
    rng = np.random.default_rng(seed)
    rng.random()  # the erase_prob coin
    return rng


@pytest.mark.parametrize("variant", [{}, {"randaugment_after_flip": True}, {"randaugment_impl": "torchvision"}])
def test_dataset_train_augmentation_is_frame_consistent(still_items, variant):
    """T exact copies of one picture (given as the kept decoded frames: a lossy codec would make the copies
    differ) stay T exact copies through short side, RandAugment, crop, flip and erasing."""
    ds = data.VideoClipDataset(still_items, num_frames=6, size=24, train=True, mean=MEAN, std=STD,
                               keep_decoded=True, **RECIPE, **variant)
    rng = np.random.default_rng(5)
    for i in range(len(ds)):
        frame = torch.from_numpy(rng.integers(0, 256, size=(30, 44, 3), dtype=np.uint8))
        ds._decoded[i] = frame.expand(10, -1, -1, -1)  # (N, H, W, C): 10 identical frames
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            for out in (ds[i][0],):
                assert out.shape == (1, 3, 6, 24, 24)
                clip = out[0]  # (C, T, H, W)
                assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(1, 6)), (epoch, i)


def test_dataset_augmentation_is_seeded_per_sample(still_items):
    kw = dict(num_frames=4, size=24, train=True, mean=MEAN, std=STD, **RECIPE)
    a, b, c = (data.VideoClipDataset(still_items, seed=s, **kw) for s in (3, 3, 4))
    torch.manual_seed(123)  # the global torch RNG does not matter: each sample forks its own
    first = [a[i][0] for i in range(3)]
    torch.manual_seed(999)
    assert all(torch.equal(x, b[i][0]) for i, x in enumerate(first))
    assert any(not torch.equal(x, c[i][0]) for i, x in enumerate(first))
    a.set_epoch(1)
    assert any(not torch.equal(x, a[i][0]) for i, x in enumerate(first))
    before = torch.random.get_rng_state()
    b[0]
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's RNG stream is untouched


def test_defaults_are_the_old_pipeline(still_items):
    """Oracle: the default train sample is exactly crop (area 0.25-1) + flip 0.5, normalised (no extra RNG draws)."""
    ds = data.VideoClipDataset(still_items, num_frames=4, size=24, train=True, mean=MEAN, std=STD, seed=7)
    for i in range(3):
        rng = ds._rng(i)
        vr = data.decode.open_video(still_items[i].path)
        idx = data.sample_indices(len(vr), 4, sampling="uniform", train=True, rng=rng)
        clip = T.to_tchw(torch.from_numpy(data.decode.read_frames(vr, idx.reshape(-1))))
        flip = rng.random() < 0.5
        v = T.random_resized_crop(clip, 24, rng=rng, scale=(0.25, 1.0))
        v = T.hflip(v) if flip else v
        expected = ((v.float() / 255.0 - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(STD).view(-1, 1, 1))
        assert torch.equal(ds[i][0], expected[None].permute(0, 2, 1, 3, 4))


def test_uint8_output_normalised_later_equals_float_output(still_items):
    kw = dict(num_frames=4, size=24, mean=MEAN, std=STD, seed=1)
    for train in (True, False):
        f = data.VideoClipDataset(still_items, train=train, **kw)
        u = data.VideoClipDataset(still_items, train=train, normalize=False, **kw)
        x, y = f[0][0], u[0][0]
        assert y.dtype == torch.uint8
        batch = y[None]  # (B, V, C, T, H, W) as a DataLoader stacks it
        assert torch.equal(T.normalize(batch, MEAN, STD, channel_dim=2)[0], x)


def test_fast_resize_within_one_grey_level(still_items):
    kw = dict(num_frames=4, size=24, mean=MEAN, std=STD, train=False, normalize=False)
    a = data.VideoClipDataset(still_items, **kw)[1][0].int()
    b = data.VideoClipDataset(still_items, fast_resize=True, **kw)[1][0].int()
    assert (a - b).abs().max() <= 1


def test_bad_augmentation_settings_are_user_errors(still_items):
    kw = dict(num_frames=4, size=24, train=True, mean=MEAN, std=STD)
    with pytest.raises(UserError, match="magnitude 0-10"):
        data.VideoClipDataset(still_items, randaugment=(12, 2), **kw)
    with pytest.raises(UserError, match="probabilities"):
        data.VideoClipDataset(still_items, erasing=1.5, **kw)
    with pytest.raises(UserError, match="erasing_mode='noise'; use one of const, rand"):
        data.VideoClipDataset(still_items, erasing=0.25, erasing_mode="noise", **kw)
    with pytest.raises(UserError, match="randaugment_impl='timm'"):
        data.VideoClipDataset(still_items, randaugment=(7, 4), randaugment_impl="timm", **kw)
    with pytest.raises(UserError, match="1-14 distinct ops"):
        data.VideoClipDataset(still_items, randaugment=(7, 15), **kw)


@pytest.mark.parametrize("after_flip", [False, True])
def test_train_pipeline_order_oracle(still_items, after_flip):
    """Oracle for the whole train transform, in the original's order: K400/HMDB/UCF: short side -> RandAugment ->
    crop -> flip -> erasing; SSv2 (`randaugment_after_flip`): short side -> crop -> flip -> RandAugment -> erasing."""
    kw = dict(num_frames=4, size=24, train=True, mean=MEAN, std=STD, seed=11, normalize=False, short_side=32,
              randaugment=(7, 4), crop_area=(0.08, 1.0), flip=0.5, erasing=0.5, erasing_mode="rand")
    ds = data.VideoClipDataset(still_items, randaugment_after_flip=after_flip, **kw)
    for epoch, i in [(0, 0), (0, 1), (1, 2), (2, 0), (3, 1)]:
        ds.set_epoch(epoch)
        rng = ds._rng(i)
        vr = data.decode.open_video(still_items[i].path)
        idx = data.sample_indices(len(vr), 4, sampling="uniform", train=True, rng=rng)
        clip = T.resize_short(T.to_tchw(torch.from_numpy(data.decode.read_frames(vr, idx.reshape(-1)))), 32)
        flip = rng.random() < 0.5
        if not after_flip:
            clip = RA.rand_augment_pytorchvideo(clip, magnitude=7, num_layers=4, rng=rng)
        v = T.random_resized_crop(clip, 24, rng=rng, scale=(0.08, 1.0))
        v = T.hflip(v) if flip else v
        if after_flip:
            v = RA.rand_augment_pytorchvideo(v, magnitude=7, num_layers=4, rng=rng)
        v = A.random_erasing(v, p=0.5, rng=rng, mode="rand")
        assert torch.equal(ds[i][0], v[None].permute(0, 2, 1, 3, 4)), (epoch, i)


def test_every_recipe_configures_the_dataset(still_items):
    """`Recipe.train_data_kwargs()` / `test_data_kwargs()` are dataset options, for every recipe."""
    from zeroi2v.settings.recipes import RECIPES

    for name, r in RECIPES.items():
        kw = r.train_data_kwargs()
        assert kw["erasing_mode"] == r.erasing_mode and kw["randaugment_after_flip"] == r.randaugment_after_flip
        kw["num_frames"], kw["short_side"] = 4, None if r.short_side is None else 32
        ds = data.VideoClipDataset(still_items, size=24, train=True, mean=MEAN, std=STD, **kw)
        assert ds[0][0].shape == (1, 3, 4, 24, 24), name
        tkw = r.test_data_kwargs()
        tkw["num_frames"], tkw["short_side"] = 4, tkw["short_side"] and 28
        test = data.VideoClipDataset(still_items, size=24, train=False, mean=MEAN, std=STD, **tkw)
        assert test[0][0].shape == (r.test_clips * r.test_crops, 3, 4, 24, 24), name


def test_uint8_sharpness_is_torchvisions_bit_for_bit():
    from torchvision.transforms.v2 import functional as TF

    g = torch.Generator().manual_seed(0)
    for shape in [(4, 3, 17, 23), (3, 5, 4), (2, 3, 3, 3)]:
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        for factor in (0.1, 1.0, 1.7, 1.9):
            assert torch.equal(A.sharpness_uint8(x, factor), TF.adjust_sharpness(x, factor))


def test_rand_augment_equals_torchvisions_with_the_same_draws():
    from torchvision.transforms import v2

    clip = torch.randint(0, 256, (3, 3, 30, 41), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for seed in range(30):
        ours = A.rand_augment(clip, magnitude=7, num_layers=4, rng=np.random.default_rng(seed))
        torch_seed = int(np.random.default_rng(seed).integers(0, 2**63 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            ref = v2.RandAugment(num_ops=4, magnitude=7, num_magnitude_bins=11)(clip)
        assert torch.equal(ours, ref), seed


def test_test_mode_is_the_old_pipeline(still_items):
    """Oracle for the test transform: float resize of the short side, three crops, the three-expression normalise."""
    ds = data.VideoClipDataset(still_items, num_frames=4, size=24, train=False, mean=MEAN, std=STD, num_crops=3)
    m, s = torch.tensor(MEAN).view(-1, 1, 1), torch.tensor(STD).view(-1, 1, 1)
    for i in range(3):
        vr = data.decode.open_video(still_items[i].path)
        idx = data.sample_indices(len(vr), 4, sampling="uniform", train=False)
        clip = T.to_tchw(torch.from_numpy(data.decode.read_frames(vr, idx.reshape(-1))))  # strided view
        h, w = clip.shape[-2:]
        size = (max(24, round(h * 24 / min(h, w))), max(24, round(w * 24 / min(h, w))))
        resized = torch.nn.functional.interpolate(clip.float(), size=size, mode="bilinear", align_corners=False,
                                                  antialias=True).round_().clamp_(0, 255).to(torch.uint8)
        views = torch.stack(T.three_crop(resized, 24))  # (3, T, C, H, W)
        expected = ((views.float() / 255.0 - m) / s).permute(0, 2, 1, 3, 4)
        assert torch.equal(ds[i][0], expected)


def test_test_short_side_resizes_before_the_crops(still_items):
    kw = dict(num_frames=4, size=24, train=False, mean=MEAN, std=STD, normalize=False)
    big = data.VideoClipDataset(still_items, short_side=48, **kw)[0][0]  # (1, C, T, 24, 24): centre of a 48-short-side frame
    frames = torch.from_numpy(data.decode.read_frames(data.decode.open_video(still_items[0].path),
                                                     data.sample_indices(10, 4, sampling="uniform", train=False)[0]))
    expected = T.center_crop(T.resize_short(T.to_tchw(frames), 48), 24)  # (T, C, 24, 24)
    assert torch.equal(big[0].permute(1, 0, 2, 3), expected)
    assert torch.equal(data.VideoClipDataset(still_items, short_side=24, **kw)[0][0],
                       data.VideoClipDataset(still_items, **kw)[0][0])
    with pytest.raises(UserError, match="short_side=16"):
        data.VideoClipDataset(still_items, short_side=16, **kw)
