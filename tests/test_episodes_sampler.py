"""EpisodeSampler: determinism, counts, disjointness, coverage, validation, a pinned hash."""
from collections import Counter

import numpy as np
import pytest

from episodes import splits
from episodes.sampler import Episode, EpisodeSampler
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import sha256_json


def _hmdb_test_labels():
    return [e.label for e in splits.load_split("hmdb51", "test")]


def test_pinned_small_case():
    labels = [i % 4 for i in range(20)]
    s = EpisodeSampler(labels, ways=3, shots=2, queries=1, seed=0)
    eps = [s.episode(i) for i in range(5)]
    assert eps[0] == Episode(index=0, classes=[3, 2, 1], support=[19, 11, 10, 18, 5, 17], query=[15, 6, 13])
    digest = sha256_json([[e.index, e.classes, e.support, e.query] for e in eps])
    assert digest == "79fdcd25793eecfb185a59a7eecf8d49cac5819ae4f2bc680e80424dd7c020a1"


def test_same_seed_same_episodes_any_order():
    labels = _hmdb_test_labels()
    a = EpisodeSampler(labels, ways=5, shots=5, queries=1, seed=3)
    b = EpisodeSampler(labels, ways=5, shots=5, queries=1, seed=3)
    forward = [a.episode(i) for i in range(50)]
    backward = [b.episode(i) for i in reversed(range(50))][::-1]
    assert forward == backward
    assert a.episode(7) == a.episode(7)
    other = EpisodeSampler(labels, ways=5, shots=5, queries=1, seed=4)
    assert sum(other.episode(i) == forward[i] for i in range(50)) == 0


@pytest.mark.parametrize("ways,shots,queries", [(5, 1, 1), (5, 5, 1), (3, 2, 4), (10, 1, 15)])
def test_counts_disjoint_and_classes_from_split(ways, shots, queries):
    labels = np.array(_hmdb_test_labels())
    s = EpisodeSampler(labels, ways=ways, shots=shots, queries=queries, seed=0, episodes=200)
    for i in range(200):
        e = s.episode(i)
        assert e.index == i
        assert len(e.classes) == len(set(e.classes)) == ways
        assert set(e.classes) <= set(range(10))
        assert len(e.support) == ways * shots and len(e.query) == ways * queries
        assert not set(e.support) & set(e.query)
        assert len(set(e.support + e.query)) == ways * (shots + queries)
        # class-major: block w of support/query belongs to classes[w]
        assert labels[e.support].tolist() == [c for c in e.classes for _ in range(shots)]
        assert labels[e.query].tolist() == [c for c in e.classes for _ in range(queries)]


def test_coverage_over_10000_episodes_within_binomial_bounds():
    labels = [e.label for e in splits.load_split("ssv2_full", "test")]  # 24 classes, 17..272 videos each
    s = EpisodeSampler(labels, ways=5, shots=1, queries=1, seed=0)
    counts = Counter(c for i in range(10_000) for c in s.episode(i).classes)
    assert set(counts) == set(range(24))
    n, p = 10_000, 5 / 24
    mean, sd = n * p, (n * p * (1 - p)) ** 0.5
    assert all(abs(k - mean) < 5 * sd for k in counts.values()), counts
    # videos: within a class every video is equally likely (smallest class, 17 videos)
    small = min(range(24), key=labels.count)
    vids = Counter(j for i in range(10_000) for j in s.episode(i).support + s.episode(i).query
                   if labels[j] == small)
    n_draws, p_v = counts[small] * 2, 1 / labels.count(small)
    assert len(vids) == labels.count(small)
    sd_v = (n_draws * p_v * (1 - p_v)) ** 0.5
    assert all(abs(k - n_draws * p_v) < 5 * sd_v for k in vids.values())


def test_batch_sampler_protocol():
    s = EpisodeSampler([0, 0, 1, 1, 2, 2], ways=2, shots=1, queries=1, seed=0, episodes=7)
    batches = list(s)
    assert len(s) == 7 and len(batches) == 7
    assert batches[2] == s.episode(2).support + s.episode(2).query


def test_non_contiguous_labels():
    s = EpisodeSampler([10, 10, 42, 42, 7, 7], ways=3, shots=1, queries=1)
    assert sorted(s.episode(0).classes) == [7, 10, 42]


@pytest.mark.parametrize("kwargs,match", [
    (dict(ways=11), "ways=11 exceeds the 10 classes of the split; use ways <= 10"),
    (dict(shots=100, queries=4), r"shots\+queries=104 exceeds the 103 videos of class \d+ in the split"),
    (dict(ways=0), "ways=0 must be a positive integer"),
    (dict(shots=-1), "shots=-1 must be a positive integer"),
    (dict(queries=0), "queries=0 must be a positive integer"),
    (dict(episodes=0), "episodes=0 must be a positive integer"),
    (dict(seed=-1), "seed=-1 must be a non-negative integer"),
])
def test_validation(kwargs, match):
    with pytest.raises(UserError, match=match):
        EpisodeSampler(_hmdb_test_labels(), **kwargs)
