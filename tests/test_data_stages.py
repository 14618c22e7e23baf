"""Per-stage timing of the data path: exclusive times of nested stages, nothing recorded outside `recording()`,
and the loader's stages (decode, resize, RandAugment ops, crop, ...) as the dataset runs them."""
from __future__ import annotations

import itertools

import pytest

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data import stages

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def test_nested_stages_count_their_own_time_only():
    ticks = itertools.count()
    with stages.recording(clock=lambda: float(next(ticks))) as rec:  # every clock read advances 1 s
        with stages.stage("outer"):  # reads 0 ... 5
            with stages.stage("inner"):  # reads 1, 2
                pass
            with stages.stage("inner"):  # reads 3, 4
                pass
    assert rec.seconds == {"inner": 2.0, "outer": 3.0} and rec.calls == {"inner": 2, "outer": 1}
    total = stages.Recorder()
    total.add(rec)
    total.add(rec)
    assert total.seconds == {"inner": 4.0, "outer": 6.0} and total.calls == {"inner": 4, "outer": 2}


def test_nothing_is_recorded_outside_recording():
    assert stages.stage("x") is stages.stage("y")  # the shared no-op context
    with stages.recording() as rec:
        pass
    with stages.stage("after"):
        pass
    assert dict(rec.seconds) == {}


@pytest.fixture(scope="module")
def hmdb_items(tmp_path_factory):
    paths = V.dataset_like_videos(tmp_path_factory.mktemp("fx"), "hmdb", videos=2)
    return [data.VideoItem(video_id=p.name, path=p, label=0, class_name="c") for p in paths]


def test_the_loader_records_its_stages(hmdb_items):
    kw = dict(num_frames=4, size=32, mean=MEAN, std=STD, normalize=False, fast_resize=True)
    train = data.VideoClipDataset(hmdb_items, train=True, short_side=36, randaugment=(9, 14), erasing=1.0, flip=1.0, **kw)
    with stages.recording() as rec:
        video, _ = train[(0, 0)]
    ops = {k for k in rec.seconds if k.startswith("randaugment.")}
    assert {"open", "sample", "decode", "close", "resize_short", "draws", "crop_resize", "flip", "erasing", "stack"} <= set(
        rec.seconds)
    assert 1 <= len(ops) <= 14 and all(rec.calls[k] == 1 for k in ops)  # distinct ops, each once
    assert all(t >= 0 for t in rec.seconds.values()) and video.shape == (1, 3, 4, 32, 32)
    test = data.VideoClipDataset(hmdb_items, train=False, num_crops=3, **dict(kw, normalize=True))
    with stages.recording() as rec:
        test[0]
    assert set(rec.seconds) == {"open", "sample", "decode", "close", "resize_short", "stack", "normalize"}
