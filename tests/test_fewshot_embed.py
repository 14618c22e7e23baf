"""Feature cache: skipped videos get no features, rows keyed by each video's identity, bad cache files."""
import logging
import os
import shutil

import pytest
import torch

from fewshot.embed import ViewConfig, embed_videos, read_cache
from zeroi2v.utils.errors import UserError
from tests.tiny import tiny_model
from tests.video_fixtures import make_tiny_toy, truncate

VIEW = ViewConfig(num_frames=4, size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


@pytest.fixture(scope="module")
def clean_toy(tmp_path_factory):
    return make_tiny_toy(tmp_path_factory.mktemp("toy") / "data")


@pytest.fixture
def toy(clean_toy, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(clean_toy, root)
    return root


def items_of(root):
    from zeroi2v import data

    return sorted(data.index_videos("toy", root).values(), key=lambda it: it.video_id)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tiny_model(num_frames=4, adapters=None).eval()


@pytest.fixture(scope="module")
def reference(clean_toy, model):
    items = items_of(clean_toy)
    feats, rows, stats = embed_videos(model, items, VIEW, path=None, root=clean_toy, batch_size=4)
    assert stats.embedded == len(items) and not stats.skipped
    return {it.video_id: feats[rows[it.video_id]] for it in items}


def embed(model, root, path, **kw):
    return embed_videos(model, items_of(root), VIEW, path=path, root=root, batch_size=4, **kw)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_corrupt_video_gets_no_features_and_the_others_keep_their_own(num_workers, toy, model, reference, tmp_path):
    items = items_of(toy)
    bad = items[4]
    cache = tmp_path / "cache.pt"
    embed(model, toy, cache, num_workers=num_workers)  # cached while it was readable
    bad.path.write_bytes(os.urandom(5000))  # random bytes in place of the video
    feats, rows, stats = embed(model, toy, cache, on_error="skip", num_workers=num_workers)
    assert stats.skipped == [bad.video_id] and (stats.embedded, stats.cached) == (0, len(items) - 1)
    assert bad.video_id not in rows and len(rows) == len(items) - 1 == len(feats)
    for it in items:
        if it is not bad:  # every stored feature is its own video's (no shift after the skipped one)
            assert torch.equal(feats[rows[it.video_id]], reference[it.video_id]), it.video_id
    rows_on_disk, _ = read_cache(cache)
    assert bad.video_id not in rows_on_disk and len(rows_on_disk) == len(items) - 1
    with pytest.raises(UserError, match="pass --on-error skip"):
        embed(model, toy, None, on_error="error")


def test_changing_one_video_re_embeds_exactly_that_video(toy, model, reference, tmp_path):
    items = items_of(toy)
    cache = tmp_path / "cache.pt"
    assert embed(model, toy, cache)[2].embedded == len(items)
    _, _, stats = embed(model, toy, cache)
    assert (stats.embedded, stats.cached) == (0, len(items))  # unchanged: never re-embedded
    a, b = items[0], items[-1]
    shutil.copyfile(b.path, a.path)  # a replaced video at the same path
    feats, rows, stats = embed(model, toy, cache)
    assert (stats.embedded, stats.cached) == (1, len(items) - 1)
    assert torch.equal(feats[rows[a.video_id]], reference[b.video_id])  # the new content's features
    os.utime(items[3].path, ns=(0, 10**18))  # touched (a repaired download): re-embedded too
    assert embed(model, toy, cache)[2].embedded == 1


def test_another_data_root_is_not_served_stale_features(toy, model, tmp_path):
    cache = tmp_path / "cache.pt"
    embed(model, toy, cache)
    other = make_tiny_toy(tmp_path / "seed1", seed=1)  # same ids, other videos
    feats, rows, stats = embed(model, other, cache)
    assert stats.embedded == len(items_of(other)) and stats.cached == 0


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", "old-format", "truncated"])
def test_a_truncated_or_foreign_cache_file_is_recomputed_with_a_warning(content, toy, model, reference, tmp_path,
                                                                       caplog):
    items = items_of(toy)
    cache = tmp_path / "cache.pt"
    if content == "old-format":  # the previous format: ids + features, no identities
        torch.save({"ids": [it.video_id for it in items], "features": torch.zeros(len(items), 32)}, cache)
    elif content == "truncated":
        embed(model, toy, cache)
        truncate(cache, keep=0.6)
    else:
        cache.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="fewshot"):
        feats, rows, stats = embed(model, toy, cache)
    assert stats.embedded == len(items) and stats.cache_discarded
    assert "recomputing" in caplog.text
    assert all(torch.equal(feats[rows[it.video_id]], reference[it.video_id]) for it in items)
    assert len(read_cache(cache)[0]) == len(items)  # rewritten whole


def test_amp_setting_resolves_per_device():
    from zeroi2v.training.trainer import amp_dtype as autocast_dtype  # the one --amp mapping, used by embedding too

    assert all(autocast_dtype(a, "cpu") is None for a in ("auto", "bf16", "fp16", "none"))
    if torch.cuda.is_available():
        assert autocast_dtype("fp16", "cuda") == torch.float16 and autocast_dtype("none", "cuda") is None
        assert autocast_dtype("bf16", "cuda:0") == torch.bfloat16
    with pytest.raises(UserError, match="--amp"):
        autocast_dtype("fp8", "cpu")


def test_uint8_loaders_give_the_float32_features(clean_toy, model, reference):
    """Oracle: uint8 clips normalised on the device = clips normalised on the worker (bit for bit); the
    uint8 resize kernel ("uint8+fast") stays within a grey level; each loader has its own cache key."""
    items = items_of(clean_toy)
    views = {name: ViewConfig(**{**VIEW.__dict__, "loader": name}) for name in ("float32", "uint8", "uint8+fast")}
    assert len({v.key() for v in views.values()}) == 3
    ref = torch.stack([reference[it.video_id] for it in items])
    for name, view in views.items():
        feats, rows, _ = embed_videos(model, items, view, path=None, root=clean_toy, batch_size=4)
        got = feats[[rows[it.video_id] for it in items]]
        assert torch.equal(got, ref), name  # frames already at the view's size: no resize, even uint8+fast
    small = ViewConfig(**{**VIEW.__dict__, "size": 24})  # resized 32 -> 24: uint8+fast within a grey level
    torch.manual_seed(0)
    m24 = tiny_model(num_frames=4, adapters=None, timm={"img_size": 24}).eval()
    f32, rows, _ = embed_videos(m24, items, small, path=None, root=clean_toy, batch_size=4)
    fast, rows_f, _ = embed_videos(m24, items, ViewConfig(**{**small.__dict__, "loader": "uint8+fast"}), path=None,
                                   root=clean_toy, batch_size=4)
    diff = (fast - f32).abs().max() / f32.abs().max()
    assert rows == rows_f and 0 < diff < 0.05
