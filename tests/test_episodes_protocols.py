import math

import torch

from episodes.protocols import (FinetuneConfig, episode_indices, episode_tensors, evaluate, evaluate_table,
                               finetune_accuracy, finetune_primal, mean_ci95, prototype_accuracy, similarity_table)


def test_prototype_on_hand_made_features_with_known_accuracy():
    # 2 episodes, 2 ways, 1 shot, 2 queries, D=2. Class 0 points along x, class 1 along y.
    support = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]] * 2)  # (2, 2, 1, 2)
    query = torch.tensor([
        [[[2.0, 0.1], [1.0, 0.5]], [[0.1, 3.0], [0.2, 1.0]]],  # all 4 right
        [[[0.1, 1.0], [1.0, 0.2]], [[0.0, 1.0], [5.0, 1.0]]],  # class-0 query 1 wrong, class-1 query 2 wrong
    ])
    assert prototype_accuracy(support, query).tolist() == [1.0, 0.5]


def test_prototype_uses_cosine_not_euclidean_distance():
    support = torch.tensor([[[[10.0, 0.0]], [[0.0, 0.1]]]])
    query = torch.tensor([[[[1.0, 0.1]], [[0.1, 1.0]]]])  # near in angle, far in length from class 0's
    assert prototype_accuracy(support, query).item() == 1.0


def separable(E=16, W=5, K=3, Q=4, D=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(E, W, 1, D, generator=g) * 3
    return (centres + torch.randn(E, W, K, D, generator=g) * 0.3,
            centres + torch.randn(E, W, Q, D, generator=g) * 0.3)


def test_finetune_reaches_100_percent_on_linearly_separable_features():
    support, query = separable()
    acc = finetune_accuracy(support, query, FinetuneConfig(steps=50))
    assert acc.shape == (16,) and acc.min().item() == 1.0


def test_batched_finetune_equals_a_per_episode_loop():
    g = torch.Generator().manual_seed(1)
    support, query = torch.randn(6, 5, 2, 16, generator=g), torch.randn(6, 5, 3, 16, generator=g)
    cfg = FinetuneConfig(steps=30, chunk=4)  # two chunks of different size, too
    batched = finetune_accuracy(support, query, cfg)
    looped = torch.cat([finetune_accuracy(support[i:i + 1], query[i:i + 1], cfg) for i in range(6)])
    assert torch.equal(batched, looped)
    assert 0.0 < batched.mean().item() < 1.0  # random features: not trivially all right or wrong


def test_dual_form_equals_an_explicit_d_by_w_classifier():
    g = torch.Generator().manual_seed(2)
    support, query = torch.randn(5, 5, 3, 24, generator=g), torch.randn(5, 5, 4, 24, generator=g)
    cfg = FinetuneConfig(steps=40)
    assert torch.equal(finetune_accuracy(support, query, cfg), finetune_primal(support, query, cfg))


def test_ci95_formula():
    acc = torch.tensor([1.0, 0.0, 1.0, 1.0])
    mean, ci, std = mean_ci95(acc)
    assert mean == 75.0
    assert math.isclose(std, 50.0)
    assert math.isclose(ci, 1.96 * 50.0 / 2.0)


def test_episode_tensors_gathers_rows_by_video_id():
    feats = torch.arange(12.0).view(6, 2)
    row_of = {f"v{i}": i for i in range(6)}
    eps = [{"support": [["v0", "v1"], ["v2", "v3"]], "query": [["v4"], ["v5"]]}]
    s, q = episode_tensors(feats, row_of, eps)
    assert s.shape == (1, 2, 2, 2) and q.shape == (1, 2, 1, 2)
    assert s[0, 1, 0].tolist() == [4.0, 5.0] and q[0, 1, 0].tolist() == [10.0, 11.0]


def test_similarity_table_form_equals_gathered_embeddings():
    """Fast (N x N table + indices) vs reference (gathered (E, W, K, D) tensors), both protocols."""
    from episodes.episode_set import sample_episode_set
    from episodes.splits import SplitEntry

    g = torch.Generator().manual_seed(3)
    centres = torch.randn(8, 1, 24, generator=g)
    feats = (centres + 0.8 * torch.randn(8, 10, 24, generator=g)).reshape(80, 24)  # 8 classes x 10 videos
    entries = [SplitEntry(f"v{i}", i // 10, f"c{i // 10}") for i in range(80)]
    eps = sample_episode_set(entries, 5, 3, 2, 200, 0)
    row_of = {f"v{i}": i for i in range(80)}
    support, query = episode_tensors(feats, row_of, eps)
    sup, qry = episode_indices(row_of, eps)
    sim = similarity_table(feats)
    for protocol in ("prototype", "finetune"):
        ref, fast = evaluate(protocol, support, query), evaluate_table(protocol, sim, sup, qry)
        assert (ref != fast).float().mean() <= 0.01, protocol  # float ties aside, the same predictions
        assert abs(ref.mean().item() - fast.mean().item()) < 0.005
        assert 0.3 < fast.mean().item() < 1.0
