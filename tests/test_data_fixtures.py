"""Dataset-shaped generated videos: container, codec, size, frame rate, length and keyframe interval."""
from __future__ import annotations

import av
import numpy as np
import pytest

import video_fixtures as V
from zeroi2v.data import fixtures as F
from zeroi2v.utils.errors import UserError

CODEC_NAMES = {"libvpx-vp9": "vp9", "libx264": "h264", "mpeg4": "mpeg4"}


def probe(path):
    """(codec, width, height, fps, frames, keyframe indices) read back with PyAV."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        flags = [f.key_frame for f in c.decode(s)]
        keys = [i for i, k in enumerate(flags) if k]
        return s.codec_context.name, s.width, s.height, float(s.average_rate), len(flags), keys


def test_full_specs_match_the_datasets():
    s, k, h = F.SPECS["ssv2"], F.SPECS["kinetics"], F.SPECS["hmdb"]
    assert (s.suffix, s.codec, s.width, s.height, s.fps, s.seconds) == (".webm", "libvpx-vp9", 427, 240, 12, (2.0, 6.0))
    assert (k.suffix, k.codec, min(k.width, k.height), k.fps, k.seconds, k.gop) == (".mp4", "libx264", 340, 30, (10.0, 10.0), 250)
    assert (h.suffix, h.codec, h.width, h.height, h.fps, h.codec_tag) == (".avi", "mpeg4", 320, 240, 30, "XVID")


@pytest.mark.parametrize("kind", ["ssv2", "kinetics", "hmdb"])
def test_tiny_fixtures_keep_container_codec_and_gop(tmp_path, kind):
    paths = V.dataset_like_videos(tmp_path, kind, videos=2)
    spec = F.get_spec(kind, "tiny")
    assert [p.suffix for p in paths] == [spec.suffix] * 2
    for seed, p in enumerate(paths):
        codec, w, h, fps, n, keys = probe(p)
        assert (codec, w, h, fps) == (CODEC_NAMES[spec.codec], spec.width, spec.height, spec.fps)
        assert n == F.num_frames(spec, seed) and 10 <= n <= 24
        if spec.gop is not None:  # a keyframe exactly every `gop` frames
            assert keys == list(range(0, n, spec.gop))


def test_fixture_set_is_cached_and_keyed_on_settings(tmp_path):
    a = F.fixture_set(tmp_path, "hmdb", videos=2, scale="tiny")
    mtimes = [p.stat().st_mtime_ns for p in a]
    assert F.fixture_set(tmp_path, "hmdb", videos=2, scale="tiny") == a
    assert [p.stat().st_mtime_ns for p in a] == mtimes  # reused, not rewritten
    b = F.fixture_set(tmp_path, "hmdb", videos=1, scale="tiny", seed=5)
    assert b[0].parent != a[0].parent  # another seed: another folder
    assert not list(tmp_path.rglob("*.tmp"))


def test_content_is_deterministic_and_moving():
    spec = F.get_spec("kinetics", "tiny")
    a = np.stack(list(F.frames(spec, 6, seed=3)))
    b = np.stack(list(F.frames(spec, 6, seed=3)))
    assert a.shape == (6, spec.height, spec.width, 3) and np.array_equal(a, b)
    assert np.abs(a[1:].astype(int) - a[:-1]).mean() > 2  # frames differ: the encoder has motion to code


def test_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match="ssv2, kinetics, hmdb"):
        F.get_spec("ucf")


@pytest.mark.slow
def test_full_kinetics_fixture_has_gop_250(tmp_path):
    (p,) = F.fixture_set(tmp_path, "kinetics", videos=1, scale="full")
    codec, w, h, fps, n, keys = probe(p)
    assert (codec, w, h, fps, n, keys) == ("h264", 604, 340, 30.0, 300, [0, 250])
