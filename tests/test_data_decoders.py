"""Decoder backends: PyAV (the automatic fallback where decord has no wheels) and optional torchcodec
give the frames decord gives; an unavailable --decoder is a one-line error naming the fix."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data import decode
from zeroi2v.utils.errors import UserError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
TOLERANCE = 2  # grey levels: the same FFmpeg decode, possibly another YUV -> RGB conversion
needs_decord = pytest.mark.skipif(decode.decoder_problem("decord") is not None, reason="decord has no wheel here")


@pytest.fixture(scope="module")
def toy_items(tmp_path_factory):
    root = V.make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")
    return data.list_videos("toy", root, "train")[:6]


@pytest.fixture(scope="module")
def dataset_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixtures")
    return [p for kind in ("ssv2", "kinetics", "hmdb") for p in V.dataset_like_videos(root, kind, videos=1)]


def frames_of(path, decoder, idx):
    reader = decode.open_video(path, decoder=decoder)
    return len(reader), decode.read_frames(reader, idx, path=path).astype(np.int16)


def assert_same_frames(paths, decoder):
    for p in paths:
        n, ref = frames_of(p, "decord", [0])
        idx = sorted({0, n // 3, n // 2, n - 1}) + [n // 2]  # unsorted, with a repeat
        n_ref, ref = frames_of(p, "decord", idx)
        n_dec, got = frames_of(p, decoder, idx)
        assert n_dec == n_ref and got.shape == ref.shape
        assert np.abs(got - ref).max() <= TOLERANCE, p


@needs_decord
def test_pyav_gives_decords_frames_on_toy_data(toy_items):
    assert_same_frames([it.path for it in toy_items], "pyav")


@needs_decord
def test_pyav_gives_decords_frames_on_dataset_like_videos(dataset_like):
    assert_same_frames(dataset_like, "pyav")


@needs_decord
def test_without_decord_auto_falls_back_to_pyav(toy_items, monkeypatch):
    kw = dict(num_frames=4, size=32, train=False, mean=MEAN, std=STD, num_crops=3)
    ref = [data.VideoClipDataset(toy_items, decoder="decord", **kw)[i][0] for i in range(3)]
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now fails, as where no wheel exists
    assert decode.resolve_decoder("auto") == "pyav"
    ds = data.VideoClipDataset(toy_items, **kw)  # decoder="auto" (the default)
    assert ds.decoder == "auto" and decode.resolve_decoder("auto", toy_items[0].path) == "pyav"
    for i in range(3):
        assert (ds[i][0] - ref[i]).abs().max() * STD[0] * 255 <= TOLERANCE + 1e-3
    with pytest.raises(UserError) as e:
        decode.resolve_decoder("decord")
    assert "pip install decord" in str(e.value) and "\n" not in str(e.value)


def test_unavailable_decoder_is_one_line_error_naming_the_fix(monkeypatch):
    monkeypatch.setattr(decode, "decoder_problem", lambda name: "ImportError: No module named 'torchcodec'")
    with pytest.raises(UserError) as e:
        data.VideoClipDataset([data.VideoItem("a", "a.mp4", 0, "c")], num_frames=4, size=32, train=False,
                              mean=MEAN, std=STD, decoder="torchcodec")
    msg = str(e.value)
    assert "--decoder torchcodec is not available" in msg and "pip install torchcodec" in msg and "\n" not in msg
    with pytest.raises(UserError, match="not known"):
        decode.resolve_decoder("opencv")


def test_pyav_reports_unreadable_videos(tmp_path):
    with pytest.raises(decode.VideoError, match="file not found"):
        decode.open_video(tmp_path / "missing.mp4", decoder="pyav")
    bad = V.truncate(V.write_test_video(tmp_path / "t.mp4", frames=30, size=64), keep=0.3)
    with pytest.raises(decode.VideoError, match="corrupt or truncated"):
        reader = decode.open_video(bad, decoder="pyav")
        decode.read_frames(reader, [0, 29], path=bad)


@needs_decord
@pytest.mark.skipif(decode.decoder_problem("torchcodec") is not None, reason="torchcodec not installed/usable here")
def test_torchcodec_gives_decords_frames(dataset_like, toy_items):
    assert_same_frames(dataset_like + [it.path for it in toy_items[:2]], "torchcodec")
    kw = dict(num_frames=4, size=32, train=True, mean=MEAN, std=STD, seed=2)
    a = data.VideoClipDataset(toy_items, decoder="decord", **kw)[0][0]
    b = data.VideoClipDataset(toy_items, decoder="torchcodec", **kw)[0][0]
    assert a.shape == b.shape and (a - b).abs().max() * STD[0] * 255 <= TOLERANCE + 1e-3


def test_pyav_reader_reads_the_same_frames_again_and_with_threads(dataset_like):
    """The first read decodes from the container opened to count the frames (avi/mp4: counted in the header),
    later reads open the file again; FFmpeg's decoding threads do not change a frame."""
    for p in dataset_like:
        reader = decode.open_video(p, decoder="pyav")
        n = len(reader)
        idx = sorted({0, n // 2, n - 1})
        first, again = decode.read_frames(reader, idx, path=p), decode.read_frames(reader, idx, path=p)
        threaded = decode.read_frames(decode.open_video(p, decoder="pyav", num_threads=2), idx, path=p)
        assert np.array_equal(first, again) and np.array_equal(first, threaded), p
        assert first.shape[0] == len(idx) and first.dtype == np.uint8


@needs_decord
def test_auto_picks_pyav_per_file_for_short_clip_containers(tmp_path):
    assert decode.resolve_decoder("auto") == "decord"
    for suffix, want in ((".avi", "pyav"), (".AVI", "pyav"), (".webm", "pyav"), (".mp4", "decord"), (".mkv", "decord")):
        assert decode.resolve_decoder("auto", tmp_path / f"v{suffix}") == want
    assert decode.resolve_decoder("decord", tmp_path / "v.avi") == "decord"  # a named decoder is kept
    assert "avi" in decode.AUTO_RULE and "webm" in decode.AUTO_RULE


def test_pyav_header_less_file_decodes_from_the_counting_pass(tmp_path, monkeypatch):
    """webm carries no frame count: the reader keeps the packets it counted and decodes them (one demux pass),
    the same frames as a fresh sequential decode; past KEEP_PACKET_BYTES it reopens the file instead."""
    import av

    from zeroi2v.data import fixtures

    path = fixtures.write_fixture(tmp_path / "v.webm", fixtures.tiny(fixtures.get_spec("ssv2")), seed=0)
    with av.open(str(path)) as c:
        want = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    n = len(want)
    idx = [0, 3, n // 2, n // 2, n - 1]
    reader = decode.open_video(path, decoder="pyav")
    assert len(reader) == n and reader._packets is not None
    got = decode.read_frames(reader, idx, path=path)
    assert np.array_equal(got, np.stack([want[i] for i in idx]))
    monkeypatch.setattr(decode, "KEEP_PACKET_BYTES", 1)
    reader = decode.open_video(path, decoder="pyav")
    assert len(reader) == n and reader._packets is None
    assert np.array_equal(decode.read_frames(reader, idx, path=path), got)
