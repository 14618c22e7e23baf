"""Intervals, paired differences and the significance rule, against hand-computed numbers."""
import math

import numpy as np
import pytest
from scipy import stats

from results import compare as cmp


def test_t_interval_by_hand():
    x = [58.0, 60.0, 62.0]                      # mean 60, s = 2
    iv = cmp.t_interval(x)
    assert iv.mean == pytest.approx(60.0)
    assert iv.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3))
    assert iv.half_width == pytest.approx(4.968275, abs=1e-5)
    assert iv.n == 3 and iv.low == pytest.approx(60 - 4.968275, abs=1e-5)


def test_t_interval_single_value_has_no_interval():
    iv = cmp.t_interval([71.5])
    assert (iv.mean, iv.half_width, iv.n, iv.low) == (71.5, None, 1, None)
    assert not iv.excludes_zero()
    with pytest.raises(ValueError):
        cmp.t_interval([])


def test_paired_difference_by_hand():
    a = np.array([60.0, 80.0, 70.0, 90.0])
    b = np.array([50.0, 75.0, 70.0, 85.0])      # d = 10, 5, 0, 5 -> mean 5, s = sqrt(50/3)
    d = cmp.paired_difference(a, b)
    assert d.mean == pytest.approx(5.0)
    assert d.half_width == pytest.approx(1.96 * math.sqrt(50 / 3) / 2)
    assert d.n == 4
    with pytest.raises(ValueError):
        cmp.paired_difference(a, b[:3])


def _entry(key, acc, h="h"):
    acc = np.asarray(acc, dtype=float)
    return cmp.Entry(key=key, mean=float(acc.mean()), episode_set_hash=h,
                     load_episodes=lambda: acc)


def test_significant_best_requires_paired_win_against_all():
    rng = np.random.default_rng(0)
    base = rng.uniform(20, 80, 400)
    a = _entry("a", base + 5)                  # clearly better, paired
    b = _entry("b", base)
    c = _entry("c", base - 1)
    assert cmp.significant_best([b, a, c]) == 1
    # a tiny lead that the paired CI cannot resolve
    noisy = _entry("n", base + rng.normal(0.05, 10, 400))
    assert cmp.significant_best([b, noisy]) is None


def test_significant_best_never_pairs_different_episode_sets():
    rng = np.random.default_rng(1)
    base = rng.uniform(20, 80, 400)
    a = _entry("a", base + 20, h="h1")
    b = _entry("b", base, h="h2")               # huge lead, but other episodes: never paired
    assert cmp.compare(a, b) is None
    assert cmp.significant_best([a, b]) is None


def test_significant_best_without_episode_data_marks_nothing():
    a = cmp.Entry("a", 90.0, "h")
    b = cmp.Entry("b", 10.0, "h")
    assert cmp.significant_best([a, b]) is None
    assert cmp.significant_best([a]) is None   # nothing to compare with


def test_significant_best_tie_marks_nothing():
    x = np.array([50.0, 60.0, 70.0])
    assert cmp.significant_best([_entry("a", x), _entry("b", x[::-1])]) is None
