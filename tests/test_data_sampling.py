"""Frame-index sampling: mmaction2 1.x UniformSample / SampleFrames against transcriptions of their
formulas over many video lengths (open-mmlab/mmaction2 mmaction/datasets/transforms/loading.py), and the
properties of this suite's TSN sampler (shape, sorted, in range, deterministic in test mode, short videos)."""
from __future__ import annotations

import numpy as np
import pytest

from zeroi2v.data.sampling import dense_indices, sample_indices, tsn_indices, uniform_indices

CASES = [(n, t, v) for n in (1, 3, 8, 16, 17, 100, 301) for t in (1, 4, 8, 16) for v in (1, 2, 3)]


@pytest.mark.parametrize("train", [True, False])
def test_tsn_shape_sorted_in_range(train):
    rng = np.random.default_rng(0)
    for n, t, v in CASES:
        idx = tsn_indices(n, t, train=train, rng=rng, num_clips=v)
        assert idx.shape == (v, t) and idx.dtype == np.int64
        assert idx.min() >= 0 and idx.max() <= n - 1
        assert (np.diff(idx, axis=1) >= 0).all()
        if n >= t:  # one frame from each segment: strictly increasing
            assert (np.diff(idx, axis=1) > 0).all()


def test_tsn_test_mode_is_centre_and_deterministic():
    idx = tsn_indices(80, 8, train=False)
    assert idx.tolist() == [[5, 15, 25, 35, 45, 55, 65, 75]]  # centres of 10-frame segments
    assert np.array_equal(tsn_indices(80, 8, train=False), idx)
    three = tsn_indices(90, 3, train=False, num_clips=3)  # segments of 30: points at 5, 15, 25
    assert three.tolist() == [[5, 35, 65], [15, 45, 75], [25, 55, 85]]


def test_tsn_train_random_within_segments():
    draws = np.stack([tsn_indices(80, 8, train=True, rng=np.random.default_rng(s))[0] for s in range(200)])
    segment = np.arange(8) * 10
    assert ((draws >= segment) & (draws < segment + 10)).all()
    assert len({tuple(d) for d in draws}) > 150  # really random
    assert set(draws[:, 0]) == set(range(10))  # every position of a segment gets used


def test_tsn_short_video_repeats_frames():
    idx = tsn_indices(3, 8, train=False)[0]
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("train", [True, False])
def test_dense_interval_and_range(train):
    rng = np.random.default_rng(1)
    for n in (128, 200, 1000):
        idx = dense_indices(n, 8, interval=16, train=train, rng=rng, num_clips=4)  # Kinetics "8x16"
        assert idx.shape == (4, 8)
        assert (np.diff(idx, axis=1) == 16).all()
        assert idx.min() >= 0 and idx.max() <= n - 1


def test_dense_test_clips_spread_and_deterministic():
    a = dense_indices(1000, 8, interval=16, train=False, num_clips=3)
    assert np.array_equal(a, dense_indices(1000, 8, interval=16, train=False, num_clips=3))
    starts = a[:, 0]
    assert (np.diff(starts) > 200).all()  # evenly over the 1000 - 113 possible starts
    centre = dense_indices(1000, 8, interval=16, train=False)[0, 0]
    assert centre == (1000 - 113) // 2


def test_dense_short_video_repeat_and_loop():
    rep = dense_indices(20, 8, interval=4, train=False, short="repeat")[0]
    assert rep.tolist() == [0, 4, 8, 12, 16, 19, 19, 19]  # repeat the last frame, sorted
    loop = dense_indices(20, 8, interval=4, train=False)[0]  # mmaction2's default: loop
    assert loop.tolist() == [0, 4, 8, 12, 16, 0, 4, 8]  # wrap to the start
    assert dense_indices(1, 4, interval=2, train=True, rng=np.random.default_rng(0)).tolist() == [[0, 0, 0, 0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="0 frames"):
        uniform_indices(0, 8, train=False)
    with pytest.raises(ValueError, match="interval"):
        sample_indices(100, 8, sampling="dense", train=False)
    with pytest.raises(ValueError, match="sampling"):
        sample_indices(100, 8, sampling="random", train=False)


# ---- transcriptions of the original formulas (mmaction2 1.x loading.py), written out loop by loop


def mm_uniform_test(n, clip_len, num_clips):
    """UniformSample._get_sample_clips, test_mode=True."""
    seg_size = float(n - 1) / clip_len
    duration = seg_size / (num_clips + 1)
    out = []
    for k in range(num_clips):
        out.append([int(np.round(seg_size * i)) + int(duration * (k + 1)) for i in range(clip_len)])
    return out


def mm_uniform_train_range(n, clip_len):
    """UniformSample._get_sample_clips, train: frame i from randint(start, end + 1)."""
    seg_size = float(n - 1) / clip_len
    return [(int(np.round(seg_size * i)), int(np.round(seg_size * (i + 1)))) for i in range(clip_len)]


def mm_sampleframes_test(n, clip_len, interval, num_clips):
    """SampleFrames._get_test_clips + transform (out_of_bound_opt='loop')."""
    ori_clip_len = (clip_len - 1) * interval + 1
    max_offset = max(n - ori_clip_len, 0)
    if num_clips > 1:
        offset_between = max_offset / float(num_clips - 1)
        offsets = [int(np.round(k * offset_between)) for k in range(num_clips)]
    else:
        offsets = [max_offset // 2]
    return [[(o + j * interval) % n for j in range(clip_len)] for o in offsets]


LENGTHS = list(range(1, 70)) + [97, 128, 129, 200, 255, 256, 300, 1000, 1001]


@pytest.mark.parametrize("clip_len", [1, 8, 16, 32])
@pytest.mark.parametrize("num_clips", [1, 2, 3])
def test_uniform_test_clips_are_mmaction2_uniformsample(clip_len, num_clips):
    for n in LENGTHS:
        got = uniform_indices(n, clip_len, train=False, num_clips=num_clips)
        assert got.tolist() == mm_uniform_test(n, clip_len, num_clips), n


@pytest.mark.parametrize("clip_len", [8, 16, 32])
def test_uniform_train_frames_lie_in_mmaction2_uniformsample_ranges(clip_len):
    rng = np.random.default_rng(0)
    for n in LENGTHS:
        ranges = mm_uniform_train_range(n, clip_len)
        draws = uniform_indices(n, clip_len, train=True, rng=rng, num_clips=400)  # (400, T) independent draws
        lo, hi = np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges])
        assert ((draws >= lo) & (draws <= hi)).all(), n
        if 3 * clip_len < n <= 5 * clip_len:  # ranges of ~4-6 frames: 400 draws reach both ends
            assert (draws.min(0) == lo).all() and (draws.max(0) == hi).all(), n  # both ends reachable


@pytest.mark.parametrize("clip_len,interval", [(8, 16), (32, 4), (8, 2)])
@pytest.mark.parametrize("num_clips", [1, 2, 3, 10])
def test_dense_test_clips_are_mmaction2_sampleframes(clip_len, interval, num_clips):
    for n in LENGTHS:
        got = dense_indices(n, clip_len, interval=interval, train=False, num_clips=num_clips)
        assert got.tolist() == mm_sampleframes_test(n, clip_len, interval, num_clips), n


def test_dense_train_offsets_are_sampleframes_range():
    """SampleFrames._get_train_clips (one clip): offset randint(n - clip_len x interval + 1), 0 when shorter."""
    rng = np.random.default_rng(0)
    for n in (50, 127, 128, 129, 200, 1000):
        starts = np.array([dense_indices(n, 8, interval=16, train=True, rng=rng)[0, 0] for _ in range(300)])
        top = max(n - 128, 0)
        assert starts.min() >= 0 and starts.max() <= top and (top == 0 or starts.max() >= top * 0.8)


def test_uniform_short_video_and_single_clip_values():
    assert uniform_indices(3, 8, train=False)[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]  # seg 0.25, + int(0.125)
    assert uniform_indices(80, 8, train=False)[0].tolist() == [4, 14, 24, 34, 44, 53, 63, 73]  # seg 9.875: round(49.375) + 4
