"""Frame-consistent training augmentation: RandAugment, RandomErasing, short-side resize, crop options."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data import augment as A
from zeroi2v.data import transforms as T
from zeroi2v.errors import UserError

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


def test_random_erasing_same_box_and_noise_in_every_frame():
    clip = torch.full((5, 3, 32, 32), 7, dtype=torch.uint8)
    out = A.random_erasing(clip, p=1.0, rng=np.random.default_rng(1), mean=MEAN, std=STD)
    assert all(torch.equal(out[0], out[t]) for t in range(1, 5))
    erased = (out[0] != 7).any(0)
    frac = erased.float().mean().item()
    assert 0.02 * 0.5 < frac <= 1 / 3 + 0.05  # one rectangle of 2-33 % of the frame (some noise pixels may round to 7)
    assert torch.equal(A.random_erasing(clip, p=0.0, rng=np.random.default_rng(1), mean=MEAN, std=STD), clip)


def test_dataset_train_augmentation_is_frame_consistent(still_items):
    """T exact copies of one picture (given as the kept decoded frames: a lossy codec would make the copies
    differ) stay T exact copies through short side, RandAugment, crop, flip and erasing."""
    ds = data.VideoClipDataset(still_items, num_frames=6, size=24, train=True, mean=MEAN, std=STD,
                               keep_decoded=True, **RECIPE)
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
