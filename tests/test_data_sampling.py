"""Frame-index sampling properties: shape, sorted, in range, deterministic in test mode, short videos."""
from __future__ import annotations

import numpy as np
import pytest

from zeroi2v.data.sampling import dense_indices, sample_indices, uniform_indices

CASES = [(n, t, v) for n in (1, 3, 8, 16, 17, 100, 301) for t in (1, 4, 8, 16) for v in (1, 2, 3)]


@pytest.mark.parametrize("train", [True, False])
def test_uniform_shape_sorted_in_range(train):
    rng = np.random.default_rng(0)
    for n, t, v in CASES:
        idx = uniform_indices(n, t, train=train, rng=rng, num_clips=v)
        assert idx.shape == (v, t) and idx.dtype == np.int64
        assert idx.min() >= 0 and idx.max() <= n - 1
        assert (np.diff(idx, axis=1) >= 0).all()
        if n >= t:  # one frame from each segment: strictly increasing
            assert (np.diff(idx, axis=1) > 0).all()


def test_uniform_test_mode_is_centre_and_deterministic():
    idx = uniform_indices(80, 8, train=False)
    assert idx.tolist() == [[5, 15, 25, 35, 45, 55, 65, 75]]  # centres of 10-frame segments
    assert np.array_equal(uniform_indices(80, 8, train=False), idx)
    three = uniform_indices(90, 3, train=False, num_clips=3)  # segments of 30: points at 5, 15, 25
    assert three.tolist() == [[5, 35, 65], [15, 45, 75], [25, 55, 85]]


def test_uniform_train_random_within_segments():
    draws = np.stack([uniform_indices(80, 8, train=True, rng=np.random.default_rng(s))[0] for s in range(200)])
    segment = np.arange(8) * 10
    assert ((draws >= segment) & (draws < segment + 10)).all()
    assert len({tuple(d) for d in draws}) > 150  # really random
    assert set(draws[:, 0]) == set(range(10))  # every position of a segment gets used


def test_uniform_short_video_repeats_frames():
    idx = uniform_indices(3, 8, train=False)[0]
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
    assert abs(centre - (1000 - 113) / 2) <= 1


def test_dense_short_video_repeat_and_loop():
    rep = dense_indices(20, 8, interval=4, train=False, short="repeat")[0]
    assert rep.tolist() == [0, 4, 8, 12, 16, 19, 19, 19]  # repeat the last frame, sorted
    loop = dense_indices(20, 8, interval=4, train=False, short="loop")[0]
    assert loop.tolist() == [0, 4, 8, 12, 16, 0, 4, 8]  # wrap to the start
    assert dense_indices(1, 4, interval=2, train=True, rng=np.random.default_rng(0)).tolist() == [[0, 0, 0, 0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="0 frames"):
        uniform_indices(0, 8, train=False)
    with pytest.raises(ValueError, match="interval"):
        sample_indices(100, 8, sampling="dense", train=False)
    with pytest.raises(ValueError, match="sampling"):
        sample_indices(100, 8, sampling="random", train=False)
