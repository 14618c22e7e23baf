"""easyfsl / learn2learn-style bridge: our cached features and episode sets in easyfsl's classifiers."""
import pytest
import torch

from episodes import protocols
from episodes.episode_set import sample_episode_set
from episodes.interop import (EpisodicCollate, MetaDatasetView, TaskBatchSampler, easyfsl_accuracies,
                              features_dataset, labels_to_indices, read_feature_cache)
from episodes.splits import SplitEntry
from zeroi2v.utils.errors import UserError

easyfsl = pytest.importorskip("easyfsl")
from easyfsl.methods import PrototypicalNetworks, SimpleShot  # noqa: E402
from easyfsl.samplers import TaskSampler  # noqa: E402

CLASSES, PER_CLASS, DIM = 8, 12, 16


def cached_features(tmp_path, seed=0):
    """A feature cache file as fewshot's embedding step writes it (`zeroi2v.data.feature_cache.save`):
    class-structured noisy features, rows sorted by id."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(CLASSES, DIM, generator=g)
    ids = sorted(f"class{c}/v{i:02d}.mp4" for c in range(CLASSES) for i in range(PER_CLASS))
    feats = torch.stack([centres[int(v[5])] + 1.5 * torch.randn(DIM, generator=g) for v in ids])
    path = tmp_path / "toy-abc.pt"
    from zeroi2v.data import feature_cache

    feature_cache.save(path, {v: (f"{v}|1|1", f) for v, f in zip(ids, feats)}, key={"model": "abc"})
    return path


def episode_set(ids, shots, episodes=60, seed=0):
    entries = [SplitEntry(video_id=v, label=int(v[5]), class_key=v.split("/")[0]) for v in ids]
    return sample_episode_set(entries, ways=5, shots=shots, queries=3, episodes=episodes, seed=seed)


def ours(feats, ids, eps):
    sup, qry = protocols.episode_indices({v: r for r, v in enumerate(ids)}, eps)
    return protocols.evaluate_table("prototype", protocols.similarity_table(feats), sup, qry)


@pytest.mark.parametrize("shots", [1, 5])
def test_easyfsl_simpleshot_equals_our_prototype_protocol_per_episode(tmp_path, shots):
    ids, feats = read_feature_cache(cached_features(tmp_path))
    eps = episode_set(ids, shots)
    acc = easyfsl_accuracies(SimpleShot(feature_normalization=2), feats, ids, eps)
    torch.testing.assert_close(acc, ours(feats, ids, eps), rtol=0, atol=0)
    assert 0.3 < acc.mean() < 1.0  # informative episodes, not all right or all wrong


def test_easyfsl_prototypical_networks_equals_our_protocol_on_one_shot_only(tmp_path):
    ids, feats = read_feature_cache(cached_features(tmp_path))
    one = episode_set(ids, shots=1)
    torch.testing.assert_close(easyfsl_accuracies(PrototypicalNetworks(feature_normalization=2), feats, ids, one),
                               ours(feats, ids, one), rtol=0, atol=0)
    # 5-shot: euclidean distance to the un-normalised mean is another classifier (documented)
    five = episode_set(ids, shots=5, episodes=200)
    proto = easyfsl_accuracies(PrototypicalNetworks(feature_normalization=2), feats, ids, five)
    assert (proto - ours(feats, ids, five)).abs().max() > 0


def easyfsl_collate(ways, shots, queries):
    """easyfsl's own episodic_collate_fn (its TaskSampler cannot be constructed on this torch)."""
    ts = TaskSampler.__new__(TaskSampler)
    ts.n_way, ts.n_shot, ts.n_query = ways, shots, queries
    return ts.episodic_collate_fn


def test_features_dataset_task_sampler_and_episodic_collate(tmp_path):
    ids, feats = read_feature_cache(cached_features(tmp_path))
    ds, row_of = features_dataset(feats, ids, lambda v: v.split("/")[0])
    assert ds.class_names == [f"class{c}" for c in range(CLASSES)] and ds.get_labels()[row_of["class3/v05.mp4"]] == 3
    assert torch.equal(ds[row_of["class3/v05.mp4"]][0], feats[ids.index("class3/v05.mp4")])
    sampler = TaskBatchSampler(ds, ways=5, shots=2, queries=3, tasks=4, seed=1)
    assert list(sampler) == list(TaskBatchSampler(ds.get_labels(), ways=5, shots=2, queries=3, tasks=4, seed=1))
    ours_batches = list(torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=sampler.episodic_collate_fn))
    theirs = list(torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=easyfsl_collate(5, 2, 3)))
    assert len(ours_batches) == 4
    for (xs, ys, xq, yq, cls), (txs, tys, txq, tyq, tcls) in zip(ours_batches, theirs):
        assert xs.shape == (10, DIM) and xq.shape == (15, DIM) and len(set(cls)) == 5
        assert ys.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and yq.tolist() == [w for w in range(5) for _ in range(3)]
        assert torch.equal(xs, txs) and torch.equal(xq, txq)  # the same samples in the same order
        assert [cls[y] for y in ys.tolist() + yq.tolist()] == [tcls[y] for y in tys.tolist() + tyq.tolist()]
        assert all(ds.get_labels()[row_of[ids[feats.tolist().index(x.tolist())]]] == cls[y]
                   for x, y in zip(xs, ys.tolist()))
    with pytest.raises(ValueError, match="mixes labels"):
        EpisodicCollate(2, 1, 1)([(torch.zeros(2), 0), (torch.zeros(2), 1), (torch.zeros(2), 1), (torch.zeros(2), 1)])
    with pytest.raises(UserError, match="need 9 classes with 5 samples; 8 have them"):
        TaskBatchSampler(ds, ways=9, shots=2, queries=3, tasks=1)


def test_meta_dataset_view_has_learn2learn_attributes(tmp_path):
    ids, feats = read_feature_cache(cached_features(tmp_path))
    ds, _ = features_dataset(feats, ids, lambda v: v.split("/")[0])
    view = MetaDatasetView(ds)
    assert view.labels == list(range(CLASSES)) and len(view) == CLASSES * PER_CLASS
    assert view.labels_to_indices[2] == list(range(2 * PER_CLASS, 3 * PER_CLASS))
    assert all(view.indices_to_labels[i] == ds.get_labels()[i] for i in range(len(view)))
    assert labels_to_indices([1, 0, 1]) == {1: [0, 2], 0: [1]}
    assert MetaDatasetView(list("abc"), labels=[0, 1, 0]).labels_to_indices == {0: [0, 2], 1: [1]}


def test_video_dataset_labels_feed_the_meta_view():
    from types import SimpleNamespace

    from zeroi2v.data.dataset import VideoClipDataset


    ds = SimpleNamespace(items=[SimpleNamespace(label=y) for y in (2, 0, 2)])
    labels = VideoClipDataset.get_labels(ds)
    assert labels_to_indices(labels) == {2: [0, 2], 0: [1]}


def test_bad_feature_cache_and_unknown_video_are_one_line_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="is not a feature cache"):
        read_feature_cache(tmp_path / "junk.pt")
    ids, feats = read_feature_cache(cached_features(tmp_path))
    with pytest.raises(UserError, match="episode 0: video 'class0/v00.mp4' has no cached features"):
        easyfsl_accuracies(SimpleShot(), feats[1:], ids[1:], [{"index": 0, "support": [[ids[0]]], "query": [[ids[1]]]}])
