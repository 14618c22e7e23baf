"""Engine: multi-view aggregation, evaluation de-duplication, gradient accumulation, cost helpers."""
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zeroi2v.training import engine


# ---------------------------------------------------------------- aggregation on hand-made scores


def aggregate_views(scores, labels, *, from_logits=True):
    """Reference multi-view accuracy of (N, V, K) scores: per-view softmax, mean per video, top-1/top-5 (%)."""
    probs = engine.video_probs(scores, from_logits=from_logits)  # (N, K)
    labels = torch.as_tensor(labels).long()
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels shape {tuple(labels.shape)} does not match {probs.shape[0]} videos")
    c = engine.topk_correct(probs, labels)
    n = probs.shape[0]
    return dict(top1=100.0 * c[1] / max(n, 1), top5=100.0 * c[5] / max(n, 1), n=n)


def test_aggregate_views_averages_softmax_not_logits():
    # one video, two views, three classes. Logit mean picks class 0 (one huge logit),
    # softmax mean picks class 1 (two views fairly sure of 1 vs one view certain of 0).
    scores = torch.tensor([[[20.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0]]])  # (N=1, V=3, K=3)
    labels = torch.tensor([1])
    assert scores.mean(1).argmax(1).item() == 0
    out = aggregate_views(scores, labels)
    probs = engine.video_probs(scores)
    assert probs.argmax(1).item() == 1
    assert out["top1"] == 100.0 and out["n"] == 1
    assert torch.allclose(probs.sum(1), torch.ones(1))


def test_aggregate_views_top1_top5_by_hand():
    K = 7
    scores = torch.full((4, 2, K), -5.0)
    # video 0: class 3 on both views -> top1 hit
    scores[0, :, 3] = 5.0
    # video 1: label 2 ranks 2nd -> top5 hit only
    scores[1, :, 0] = 5.0
    scores[1, :, 2] = 4.0
    # video 2: label 6 is the least likely -> miss both (ranks 7th)
    scores[2, :, :6] = torch.arange(6.0)
    scores[2, :, 6] = -10.0
    # video 3: views disagree; view 0 certain of class 5 (the label), view 1 mildly class 4
    scores[3, 0, 5] = 10.0
    scores[3, 1, 4] = 1.0
    labels = torch.tensor([3, 2, 6, 5])
    out = aggregate_views(scores, labels)
    assert out["top1"] == pytest.approx(50.0)
    assert out["top5"] == pytest.approx(75.0)


def test_topk_capped_at_class_count_and_probability_input():
    probs = torch.tensor([[[0.2, 0.8]], [[0.9, 0.1]]])  # (2, 1, 2) already probabilities
    out = aggregate_views(probs, torch.tensor([0, 0]), from_logits=False)
    assert out["top1"] == 50.0 and out["top5"] == 100.0
    with pytest.raises(ValueError):
        aggregate_views(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_parse_views():
    assert engine.parse_views("2x3") == (2, 3)
    assert engine.parse_views("1X1") == (1, 1)
    assert engine.parse_views(3) == (3, 1)
    for bad in ("3", "0x1", "1x2", "ax3"):
        with pytest.raises(ValueError):
            engine.parse_views(bad)


# ---------------------------------------------------------------- evaluate


class ViewData(Dataset):
    """Video i: V views of shape (C=1, T=1, H=1, W=K); the model below just flattens them to logits."""

    def __init__(self, scores, labels, with_index=False):
        self.scores, self.labels, self.with_index = scores, labels, with_index

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.scores[i][:, None, None, None, :]  # (V, 1, 1, 1, K)
        return (x, int(self.labels[i]), i) if self.with_index else (x, int(self.labels[i]))


class Flatten(nn.Module):
    def forward(self, x):  # (B, 1, 1, 1, K) -> (B, K)
        return x.flatten(1)


def hand_scores(n=9, v=3, k=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, k, generator=g) * 3, torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("with_index", [False, True])
def test_evaluate_matches_aggregate_views(with_index):
    scores, labels = hand_scores()
    loader = DataLoader(ViewData(scores, labels, with_index), batch_size=4)
    out = engine.evaluate(Flatten(), loader, device="cpu", views="3x1", progress=False, return_scores=True)
    ref = aggregate_views(scores, labels)
    assert out["n"] == 9 and out["views"] == "3x1"
    assert out["top1"] == pytest.approx(ref["top1"]) and out["top5"] == pytest.approx(ref["top5"])
    assert torch.allclose(out["probs"], engine.video_probs(scores), atol=1e-6)
    with pytest.raises(ValueError, match="views"):
        engine.evaluate(Flatten(), loader, device="cpu", views="1x1", progress=False)


def test_evaluate_counts_padded_duplicates_once():
    """A DistributedSampler-style shard list that repeats videos: each is counted once."""
    scores, labels = hand_scores(n=5)
    sampler = [0, 1, 2, 3, 4, 0, 1]  # padded with repeats
    loader = DataLoader(ViewData(scores, labels, with_index=True), batch_size=3, sampler=sampler)
    out = engine.evaluate(Flatten(), loader, device="cpu", progress=False)
    ref = aggregate_views(scores, labels)
    assert out["n"] == 5 and out["top1"] == pytest.approx(ref["top1"])


# ---------------------------------------------------------------- training


class Clips(Dataset):
    def __init__(self, n=12, k=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 1, 2, 2, 3, 3, generator=g)  # (N, V=1, C, T, H, W)
        self.y = torch.randint(0, k, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


class TinyNet(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(2 * 2 * 3 * 3, k)

    def forward(self, x):  # (B, C, T, H, W)
        return self.fc(x.flatten(1))


def run_epoch(batch, accum, epochs=1):
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = DataLoader(Clips(), batch_size=batch, shuffle=False)
    stats = None
    for e in range(epochs):
        stats = engine.train_one_epoch(model, loader, opt, None, device="cpu", accum=accum, epoch=e, progress=False)
    return model, stats


def test_gradient_accumulation_equals_large_batch():
    big, s_big = run_epoch(batch=4, accum=1)
    acc, s_acc = run_epoch(batch=2, accum=2)
    assert s_big["steps"] == s_acc["steps"] == 3
    assert torch.allclose(big.fc.weight, acc.fc.weight, atol=1e-6)
    assert s_big["loss"] == pytest.approx(s_acc["loss"], rel=1e-6)
    assert s_acc["clips"] == 12


def test_accumulation_remainder_is_applied():
    # 12 clips, batch 5 -> 3 micro-batches (5, 5, 2); accum 2 -> 2 optimizer steps, the last one alone
    model, stats = run_epoch(batch=5, accum=2)
    assert stats["steps"] == 2
    ref = TinyNet()
    assert not torch.allclose(model.fc.weight, ref.fc.weight)


def test_train_one_epoch_scheduler_and_hook():
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    seen = []
    loader = DataLoader(Clips(), batch_size=3)
    stats = engine.train_one_epoch(model, loader, opt, sched, device="cpu", label_smoothing=0.1,
                                   progress=False, on_step=seen.append)
    assert seen == [1, 2, 3, 4] and stats["lr"] == pytest.approx(0.2)
    assert math.isfinite(stats["loss"]) and 0 <= stats["acc"] <= 100


def test_multiview_training_batches_repeat_labels():
    class MV(Clips):
        def __getitem__(self, i):
            return self.x[i].repeat(2, 1, 1, 1, 1), int(self.y[i])  # (V=2, ...)

    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = engine.train_one_epoch(model, DataLoader(MV(), batch_size=4), opt, device="cpu", progress=False)
    assert stats["clips"] == 24


# ---------------------------------------------------------------- cost


def test_flops_and_throughput_on_a_linear_layer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, 10))
    x = torch.zeros(1, 3, 2, 4, 4)
    assert engine.count_flops(model, x) == 2 * 96 * 10
    assert engine.gflops_per_view(model, num_frames=2, size=4) == pytest.approx(2 * 96 * 10 / 1e9)
    assert engine.gflops_per_view(model, num_frames=2, size=4, macs=True) == pytest.approx(96 * 10 / 1e9)
    assert engine.throughput(model, num_frames=2, size=4, batch=2, iters=2) > 0


def test_flops_of_tiny_zeroi2v_equal_merged():
    import zeroi2v
    from tests.tiny import randomize_adapters, tiny_model

    model = randomize_adapters(tiny_model(num_classes=5))
    g_unmerged = engine.gflops_per_view(model, num_frames=4, size=32)
    merged = zeroi2v.merge_adapters(model)
    g_merged = engine.gflops_per_view(merged, num_frames=4, size=32)
    assert 0 < g_merged < g_unmerged


def test_to_input_normalises_uint8_clips_on_the_device_as_the_worker_would():
    from zeroi2v.data.transforms import normalize

    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (2, 3, 3, 4, 5, 5), generator=g, dtype=torch.uint8)  # (B, V, C, T, H, W)
    mean, std = (0.48, 0.46, 0.41), (0.27, 0.26, 0.28)
    worker = torch.stack([normalize(c, mean, std, channel_dim=1) for c in clips])  # per sample (V, C, T, H, W)
    assert torch.equal(engine.to_input(clips, "cpu", (mean, std)), worker)
    assert engine.to_input(worker, "cpu") is worker  # float clips pass as they are
    with pytest.raises(ValueError, match="input_norm"):
        engine.to_input(clips, "cpu")


class Uint8Clips(Clips):
    """Clips as uint8 pixels with an `input_norm`, like VideoClipDataset(normalize=False)."""

    input_norm = ((0.5, 0.4), (0.25, 0.3))  # the clips' two channels

    def __init__(self, as_uint8: bool):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.pixels = torch.randint(0, 256, self.x.shape, generator=g, dtype=torch.uint8)
        self.as_uint8 = as_uint8

    def __getitem__(self, i):
        from zeroi2v.data.transforms import normalize

        x = self.pixels[i]
        return (x if self.as_uint8 else normalize(x, *self.input_norm, channel_dim=1)), int(self.y[i])  # (V, C, ...)


def test_training_on_uint8_clips_equals_training_on_normalised_clips():
    stats = []
    for as_uint8 in (False, True):
        model = TinyNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        loader = DataLoader(Uint8Clips(as_uint8), batch_size=4, shuffle=False)
        s = engine.train_one_epoch(model, loader, opt, None, device="cpu", epoch=0, progress=False)  # norm: the dataset's
        stats.append((s["loss"], model.fc.weight.detach().clone()))
        ev = engine.evaluate(model, DataLoader(Uint8Clips(as_uint8), batch_size=4), device="cpu", progress=False)
        stats[-1] += (ev["top1"],)
    assert stats[0][0] == stats[1][0] and torch.equal(stats[0][1], stats[1][1]) and stats[0][2] == stats[1][2]
