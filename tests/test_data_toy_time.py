"""The time-only toy's motion pattern (the order pattern: test_data_toy_order.py): single frames carry no class (statistics and a per-frame classifier), frame
pairs do (a displacement estimate), and the dataset files of the kind."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zeroi2v import data
from zeroi2v.data import toy, toy_time
from zeroi2v.data.decode import open_video, read_frames
from zeroi2v.utils.errors import UserError

SIZE, FRAMES = 32, 8
# opposite directions, speeds and static: the pairs a per-frame model would most like to tell apart
CLASSES = ("static", "right_8", "left_8", "down_4", "up_12", "down_left_12")


def videos(classes, n: int, *, seed: int = 0) -> np.ndarray:
    """(C, n, T, H, W, 3) uint8 rendered (not encoded) videos."""
    return np.stack([np.stack([toy_time.render_time_video(c, np.random.default_rng([seed, k, i]), frames=FRAMES,
                                                          size=SIZE) for i in range(n)])
                     for k, c in enumerate(classes)])


@pytest.fixture(scope="module")
def many():
    return videos(CLASSES, 60)  # 6 classes x 60 videos x 8 frames


def frame_stats(v: np.ndarray) -> np.ndarray:
    """(..., T, H, W, 3) -> (..., T, 62): per-channel means of each 8 x 8 cell of the 32 px frame (48), the
    fraction of bright pixels (max channel > 110: the object; backgrounds are darker) in each 8 px wide
    column and row band (8), and the frame's per-channel mean and standard deviation (6)."""
    x = v.astype(np.float64)
    lead = x.shape[:-3]
    cells = x.reshape(*lead, 4, 8, 4, 8, 3).mean(axis=(-4, -2)).reshape(*lead, 48)
    bright = (x.max(-1) > 110).reshape(*lead, 4, 8, 4, 8).mean(axis=(-3, -1))  # (..., 4 rows, 4 columns)
    bright = np.concatenate([bright.mean(-1), bright.mean(-2)], axis=-1)  # (..., 8): row and column bands
    return np.concatenate([cells, bright, x.mean(axis=(-3, -2)), x.std(axis=(-3, -2))], axis=-1)


def anova_p(groups: np.ndarray) -> np.ndarray:
    """One-way ANOVA p-values across classes: groups (C, n, S) -> (S,)."""
    from scipy import stats

    return stats.f_oneway(*groups, axis=0).pvalue


def test_frame_statistics_at_every_clip_position_do_not_depend_on_the_class(many):
    s = frame_stats(many)  # (C, n, T, 70)
    p = np.stack([anova_p(s[:, :, t]) for t in range(FRAMES)])  # (T, 62)
    # under "no class effect" p is uniform: the smallest of 496 p-values is rarely below 1e-4 (Bonferroni 5 %)
    assert p.min() > 1e-4, np.unravel_index(p.argmin(), p.shape)
    assert 0.35 < np.mean(p) < 0.65  # and they are spread as uniform p-values are (mean 0.5)
    # oracle: the same test, at the same bound, sees the leak of the appearance toy (where a motion's start
    # depends on the class: move right starts on the left) put into this renderer
    assert anova_p(frame_stats(leaky(60))[:, :, 0]).min() < 1e-8


def leaky(n: int) -> np.ndarray:
    """(2, n, T, H, W, 3): right_8 starting in the left half, left_8 in the right half (a class leak)."""
    out = []
    for k, (c, lo) in enumerate((("right_8", 0.0), ("left_8", 0.5))):
        vids = []
        for i in range(n):
            rng = np.random.default_rng([1, k, i])
            obj = toy_time.draw_object(rng, SIZE)
            xy = toy_time.positions(c, rng.uniform(lo, lo + 0.5), rng.uniform(0, 1), FRAMES)
            vids.append(np.stack([toy_time.render_object(obj, x, y) for x, y in xy]))
        out.append(np.stack(vids))
    return np.stack(out)


def single_frame_accuracy(v: np.ndarray, *, train: int, seed: int = 0) -> float:
    """Accuracy (%) on held-out single frames of linear classifiers trained on single frames (8 x 8 x 3
    thumbnails and `frame_stats`) of the first `train` videos of each class, one classifier per clip
    position (a per-frame model that knows where in the clip its frame is, as a temporal embedding
    does); every frame of the other videos is classified alone."""
    C, n, T = v.shape[:3]
    thumbs = torch.from_numpy(v.reshape(C, n, T, 8, SIZE // 8, 8, SIZE // 8, 3).mean(axis=(4, 6))).float() / 255
    stats = torch.from_numpy(frame_stats(v)).float()
    x = torch.cat([thumbs.reshape(C, n, T, -1), stats], dim=-1)  # (C, n, T, F)
    x = (x - x[:, :train].mean((0, 1, 2))) / (x[:, :train].std((0, 1, 2)) + 1e-6)
    g = torch.Generator().manual_seed(seed)
    w = torch.zeros(T, x.shape[-1], C, requires_grad=True)
    b = torch.zeros(T, C, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01)
    xt = x[:, :train].transpose(0, 2).reshape(T, -1, x.shape[-1])  # (T, train * C, F)
    yt = torch.arange(C).repeat(train)  # xt is (train, C) flattened per position
    for _ in range(300):
        logits = torch.einsum("tnf,tfc->tnc", xt, w) + b[:, None]  # (T, N, C)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), yt.repeat(T)) + 1e-2 * w.square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = (torch.einsum("cntf,tfk->cntk", x[:, train:], w) + b).argmax(-1)  # (C, n - train, T)
    return 100 * (pred == torch.arange(C)[:, None, None]).float().mean().item()


def test_a_single_frame_classifier_stays_at_chance_on_held_out_videos(many):
    torch.manual_seed(0)
    acc = single_frame_accuracy(many, train=40)  # 6 x 20 = 120 held-out videos x 8 frames; chance 16.7 %
    # frames of one video are correlated: the error bound counts videos (120), not frames (960)
    chance, sd = 100 / 6, 100 * np.sqrt((1 / 6) * (5 / 6) / 120)  # sd 3.4 points
    assert abs(acc - chance) < 3 * sd, acc
    # oracle: with the appearance toy's leak (the start depends on the class) the same classifier sees it
    # (60 held-out videos, chance 50 %, sd 6.5 points: 68.5 % measured)
    assert single_frame_accuracy(leaky(80), train=50) > 62


def displacement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer (dx, dy) shift from frame a to frame b on the torus (phase correlation)."""
    fa, fb = np.fft.fft2(a.astype(float).mean(-1)), np.fft.fft2(b.astype(float).mean(-1))
    r = np.fft.ifft2(fb * np.conj(fa) / (np.abs(fb * np.conj(fa)) + 1e-9)).real
    dy, dx = np.unravel_index(r.argmax(), r.shape)
    return (np.array([dx, dy]) + SIZE // 2) % SIZE - SIZE // 2


def test_frame_pairs_reveal_the_class(many):
    """What single frames hide, consecutive frames show: the displacement between them (phase
    correlation) is the class's velocity, so the classes are learnable from time."""
    names = list(toy_time.VELOCITIES)
    v = np.array([toy_time.VELOCITIES[c] for c in names]) * SIZE / toy_time.REFERENCE_SIZE  # (K, 2) px
    right = 0
    for k, c in enumerate(CLASSES):
        for video in many[k, :10]:
            d = np.mean([displacement(video[t], video[t + 1]) for t in range(FRAMES - 1)], axis=0)
            right += names[int(np.abs(v - d).sum(1).argmin())] == c
    assert right >= 0.9 * 10 * len(CLASSES)


def test_velocities_and_wrapping():
    assert len(toy_time.VELOCITIES) == 25 and toy_time.VELOCITIES["static"] == (0.0, 0.0)
    assert toy_time.VELOCITIES["right_8"] == (8.0, 0.0) and toy_time.VELOCITIES["up_4"] == (0.0, -4.0)
    dx, dy = toy_time.VELOCITIES["down_left_12"]
    assert np.hypot(dx, dy) == pytest.approx(12) and dx < 0 < dy  # y points down
    p = toy_time.positions("right_12", 0.9, 0.5, 8)
    assert (p >= 0).all() and (p < 1).all() and p[1, 0] == pytest.approx((0.9 + 12 / 64) % 1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = toy_time.TimeToyConfig(pattern="motion", num_classes=6, videos_per_class=3, test_per_class=1, size=SIZE)
    return toy.make_toy(tmp_path_factory.mktemp("toy_time") / "toy_time", config, workers=1)


def test_dataset_files_reader_and_intra_encoding(tiny):
    meta = toy.read_meta(tiny, "toy_time")
    assert meta["kind"] == "toy_time" and meta["classes"] == list(toy_time.VELOCITIES)[:6]
    assert toy.read_meta(tiny) is None and not (tiny / "frames.npz").exists()  # not the appearance toy
    train, test = data.list_videos("toy_time", tiny, "train"), data.list_videos("toy_time", tiny, "test")
    assert len(train) == 12 and len(test) == 6 and train[0].video_id == "static/static_000.mp4"
    with pytest.raises(UserError, match="not a finished toy dataset"):
        data.list_videos("toy", tiny, "train")
    path = tiny / "videos" / "right_4" / "right_4_001.mp4"
    import av

    with av.open(str(path)) as c:
        keys = [f.key_frame for f in c.decode(video=0)]
    assert keys == [True] * FRAMES  # every frame a key frame: the codec sees each frame alone
    vr = open_video(path)
    decoded = read_frames(vr, range(len(vr)), path=path).astype(int)
    rendered = toy_time.render_time_video("right_4", np.random.default_rng([0, 1, 1]), frames=FRAMES, size=SIZE)
    assert np.abs(decoded - rendered).mean() < 4.0
    splits = meta["class_splits"]
    assert sorted(sum(splits.values(), [])) == sorted(meta["classes"])


def test_same_seed_same_bytes(tiny, tmp_path):
    config = toy_time.TimeToyConfig(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in json.loads((tiny / "toy.json").read_text())["config"].items()})
    again = toy.make_toy(tmp_path / "again", config, workers=1)
    for p in sorted((tiny / "videos").rglob("*.mp4")):
        assert (again / p.relative_to(tiny)).read_bytes() == p.read_bytes()


def test_pretrain_frames_match_their_geometry():
    images, labels, names, geo = toy_time.pretrain_frames(0, SIZE, 8)
    assert images.shape == (8, 3, SIZE, SIZE) and len(names) == 36 and labels.tolist() == list(range(8))
    assert np.allclose(geo[:, 0] ** 2 + geo[:, 1] ** 2, 1, atol=1e-5) and (geo[:, 4] >= 0.12).all()


@pytest.mark.parametrize("size", [3, 31, 8])
def test_make_toy_refuses_odd_or_tiny_sizes(tmp_path, size):
    for config in (toy.ToyConfig(size=size), toy_time.TimeToyConfig(size=size)):
        with pytest.raises(UserError, match="even number of pixels, at least 16"):
            toy.make_toy(tmp_path / "t", config)
    assert not (tmp_path / "t").exists()
