"""VideoClipDataset: output shapes and values, one get_batch per sample, determinism, pickling, bad videos."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch

import video_fixtures as V
from zeroi2v import data
from zeroi2v.utils.errors import UserError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    out = []
    for k, (frames, size) in enumerate([(12, 40), (5, 32), (9, 48)]):  # one video shorter than T=8
        path = V.write_video(root / f"v{k}.mp4", V.moving_square(frames=frames, size=size, seed=k))
        out.append(data.VideoItem(video_id=f"v{k}.mp4", path=path, label=k, class_name=f"c{k}"))
    return out


@pytest.fixture
def count_get_batch(monkeypatch):
    decord = pytest.importorskip("decord")  # where decord has no wheel, PyAV decodes (tests/test_data_decoders.py)
    calls = []
    original = decord.VideoReader.get_batch

    def counting(self, indices):
        calls.append(list(indices))
        return original(self, indices)

    monkeypatch.setattr(decord.VideoReader, "get_batch", counting)
    return calls


def test_train_shapes_and_normalisation(items, count_get_batch):
    ds = data.VideoClipDataset(items, num_frames=8, size=24, train=True, mean=MEAN, std=STD)
    for i in range(len(ds)):
        video, label = ds[i]
        assert video.shape == (1, 3, 8, 24, 24) and video.dtype == torch.float32
        assert label == i
        assert float(video.min()) >= (0 - 0.5) / 0.25 - 1e-5 and float(video.max()) <= (1 - 0.5) / 0.25 + 1e-5
    assert len(count_get_batch) == 3  # one decord call per sample


def test_multiview_test_shapes_one_call(items, count_get_batch):
    ds = data.VideoClipDataset(items, num_frames=4, size=32, train=False, mean=MEAN, std=STD, num_clips=2, num_crops=3)
    video, _ = ds[0]
    assert video.shape == (6, 3, 4, 32, 32)  # V = 2 clips x 3 crops
    assert len(count_get_batch) == 1 and len(count_get_batch[0]) == 8  # all clips' indices in one call


def test_dense_sampling_short_video(items):
    ds = data.VideoClipDataset(items, num_frames=4, size=16, train=False, mean=MEAN, std=STD, sampling="dense", interval=3)
    assert ds[1][0].shape == (1, 3, 4, 16, 16)  # 5-frame video, span 10: repeats the last frame


def test_test_mode_deterministic_train_mode_seeded(items):
    kw = dict(num_frames=8, size=24, mean=MEAN, std=STD)
    test = data.VideoClipDataset(items, train=False, **kw)
    assert torch.equal(test[0][0], test[0][0])
    a = data.VideoClipDataset(items, train=True, seed=3, **kw)
    b = data.VideoClipDataset(items, train=True, seed=3, **kw)
    assert torch.equal(a[0][0], b[0][0])
    c = data.VideoClipDataset(items, train=True, seed=4, **kw)
    assert any(not torch.equal(a[i][0], c[i][0]) for i in range(3))


def test_flip_map_changes_label_with_mirror(items):
    # flip_map: label 0 <-> 1, label 2 never flips
    labels = {0: set(), 2: set()}
    for seed in range(12):
        ds = data.VideoClipDataset(items, num_frames=4, size=24, train=True, mean=MEAN, std=STD, flip_map=[1, 0, -1],
                                   seed=seed, scale=(1.0, 1.0))
        for i in (0, 2):
            labels[i].add(ds[i][1])
    assert labels[0] == {0, 1} and labels[2] == {2}


def test_pickles_for_workers(items):
    ds = data.VideoClipDataset(items, num_frames=4, size=16, train=False, mean=MEAN, std=STD)
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[2][0], ds[2][0])
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=1)
    batch, labels = next(iter(loader))
    assert batch.shape == (3, 1, 3, 4, 16, 16) and labels.tolist() == [0, 1, 2]


def test_bad_video_error_and_skip(tmp_path, items, caplog):
    broken = V.truncate(V.write_test_video(tmp_path / "broken.mp4", frames=8), keep=0.3)
    bad_items = [data.VideoItem("broken.mp4", broken, 5, "c5"), items[0]]
    ds = data.VideoClipDataset(bad_items, num_frames=4, size=16, train=False, mean=MEAN, std=STD)
    with pytest.raises(UserError, match="broken.mp4: corrupt or truncated"):
        ds[0]
    ds = data.VideoClipDataset(bad_items, num_frames=4, size=16, train=False, mean=MEAN, std=STD, on_error="skip")
    with caplog.at_level(logging.WARNING, logger="zeroi2v.data"):
        video, label = ds[0]
    assert label == 0 and video.shape == (1, 3, 4, 16, 16)  # the next readable video
    assert ds.skipped == [str(broken)] and any("broken.mp4" in r.getMessage() for r in caplog.records)


def test_bad_configuration_is_user_error(items):
    with pytest.raises(UserError, match="interval"):
        data.VideoClipDataset(items, num_frames=4, size=16, train=False, mean=MEAN, std=STD, sampling="dense")
    with pytest.raises(UserError, match="empty"):
        data.VideoClipDataset([], num_frames=4, size=16, train=False, mean=MEAN, std=STD)
    with pytest.raises(UserError, match="num_crops"):
        data.VideoClipDataset(items, num_frames=4, size=16, train=False, mean=MEAN, std=STD, num_crops=2)


def test_flip_produces_mirrored_frames(items):
    ds_flip = data.VideoClipDataset(items[:1], num_frames=4, size=40, train=True, mean=MEAN, std=STD, scale=(1.0, 1.0))
    ds_test = data.VideoClipDataset(items[:1], num_frames=4, size=40, train=False, mean=MEAN, std=STD)
    ref = ds_test[0][0][0, 0]  # (T, H, W) red channel of the test clip
    mirrored = 0
    for seed in range(10):
        ds_flip.seed = seed
        v = ds_flip[0][0][0, 0]
        cols = v.sum(1).argmax(-1)  # brightest column per frame
        mirrored += bool((cols.diff() <= 0).all() and (cols.diff() < 0).any())
    assert 0 < mirrored < 10 and np.isfinite(ref.numpy()).all()


def test_keep_decoded_gives_the_same_samples_and_decodes_each_video_once(items, count_get_batch):
    kw = dict(num_frames=8, size=24, train=True, mean=MEAN, std=STD, seed=3)
    plain = data.VideoClipDataset(items, **kw)
    kept = data.VideoClipDataset(items, keep_decoded=True, **kw)
    for epoch in range(2):
        plain.set_epoch(epoch)
        kept.set_epoch(epoch)
        for i in range(len(items)):
            a, b = plain[i], kept[i]
            assert a[1] == b[1] and torch.equal(a[0], b[0])
    assert len(count_get_batch) == 2 * len(items) + len(items)  # plain: every call; kept: once per video


def test_get_labels_lists_item_labels_without_decoding(items, count_get_batch):
    ds = data.VideoClipDataset(items, num_frames=4, size=16, train=False, mean=MEAN, std=STD)
    assert ds.get_labels() == [0, 1, 2]
    assert all(type(x) is int for x in ds.get_labels())
    assert count_get_batch == []  # labels come from the item list, nothing is decoded


@pytest.mark.parametrize("fast", [False, True])
def test_randaugment_on_the_crop_region_equals_the_whole_frame_order(items, fast):
    """Train order short side -> RandAugment -> random resized crop -> flip: RandAugment computed on the crop's
    region only gives the values of RandAugment on the whole frame, then the crop (same draws, same order)."""
    from zeroi2v.data import randaugment as RA
    from zeroi2v.data import transforms as T
    from zeroi2v.data.decode import open_video, read_frames

    kw = dict(num_frames=4, size=24, train=True, mean=MEAN, std=STD, normalize=False, randaugment=(9, 14),
              crop_area=(0.08, 1.0), short_side=36, flip=0.0, fast_resize=fast, keep_decoded=True)
    region, whole = data.VideoClipDataset(items, **kw), data.VideoClipDataset(items, **kw)
    whole.region_randaugment = False
    for epoch in range(6):
        for i, item in enumerate(items):
            a, b = region[(epoch, i)], whole[(epoch, i)]
            assert a[0].shape == (1, 3, 4, 24, 24) and a[0].dtype == torch.uint8
            assert a[1] == b[1] and torch.equal(a[0], b[0]), (epoch, i)
            rng = region._rng(i, epoch)  # the reference: the whole-frame functions, in the original order
            vr = open_video(item.path, decoder=region.decoder)
            idx = data.sample_indices(len(vr), 4, sampling="uniform", train=True, rng=rng)
            frames = torch.from_numpy(read_frames(vr, idx.reshape(-1), path=item.path))  # (T, H, W, C)
            clip = T.resize_short(T.to_tchw(frames), 36, fast=fast)
            clip = RA.rand_augment_pytorchvideo(clip, magnitude=9, num_layers=14, rng=rng)
            ref = T.random_resized_crop(clip, 24, rng=rng, scale=(0.08, 1.0), fast=fast)  # (T, C, 24, 24)
            assert torch.equal(a[0][0].permute(1, 0, 2, 3), ref), (epoch, i)
