"""The synthetic motion dataset: determinism, real-format annotations, episodic splits, frames, motions."""
from __future__ import annotations

import math

import numpy as np
import pytest

import video_fixtures as V
from zeroi2v import data
from zeroi2v.data import toy
from zeroi2v.data.decode import open_video, read_frames
from zeroi2v.utils.errors import UserError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return V.make_tiny_toy(tmp_path_factory.mktemp("toy") / "toy")


def decoded(root, video_id):
    path = root / "videos" / video_id
    vr = open_video(path)
    return read_frames(vr, range(len(vr)), path=path)


def test_layout_and_reader(tiny):
    meta = toy.read_meta(tiny)
    assert meta["classes"] == list(toy.MOTIONS)[:6] and meta["videos"] == 18
    train = data.list_videos("toy", tiny, "train")
    test = data.list_videos("toy", tiny, "test")
    assert len(train) == 12 and len(test) == 6  # 2 + 1 per class
    assert train[0].video_id == "move_left/move_left_000.mp4" and train[0].class_name == "move_left"
    assert {i.label for i in test} == set(range(6))
    # the real UCF101 reader parses the same tree (official list syntax)
    assert [i.video_id for i in data.list_videos("ucf101", tiny, "test")] == [i.video_id for i in test]
    assert set(data.index_videos("toy", tiny)) == {i.video_id for i in train + test}
    vr = open_video(train[0].path)
    assert len(vr) == 8 and vr[0].shape == (32, 32, 3)


def test_episodic_split_files(tiny):
    splits = toy.read_meta(tiny)["class_splits"]
    assert sorted(sum(splits.values(), [])) == sorted(toy.read_meta(tiny)["classes"])  # disjoint, complete
    for split, classes in splits.items():
        lines = (tiny / "splits" / f"{split}.txt").read_text().splitlines()
        assert len(lines) == 3 * len(classes)
        for line in lines:
            head, rel = line.split("//videos/")
            assert head.startswith(split) and int(head[len(split):]) < len(classes)
            cls = rel.split("/")[0]
            assert classes[int(head[len(split):])] == cls and (tiny / "videos" / rel).is_file()


def test_default_config_class_split():
    config = toy.ToyConfig()
    splits = toy.class_splits(config)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 6, 10]
    assert len(toy.class_names(config)) >= 30 and config.videos_per_class >= 8 and config.frames == 16


def test_same_seed_same_frames_and_lists(tiny, tmp_path):
    """Same seed: the rendered frames are identical, every list/split file and every mp4 is
    byte-identical (x264 alone sometimes emits another stream for identical input on a loaded
    machine; `encode_mp4` encodes until two encodes agree), and decodes to the same picture."""
    a = toy.render_video("rotate_cw", np.random.default_rng([0, 4, 1]), frames=8, size=32)
    b = toy.render_video("rotate_cw", np.random.default_rng([0, 4, 1]), frames=8, size=32)
    assert np.array_equal(a, b)
    again = V.make_tiny_toy(tmp_path / "again")
    for name in ("splits/train.txt", "splits/test.txt", "ucfTrainTestlist/trainlist01.txt",
                 "ucfTrainTestlist/classInd.txt"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes()
    for p in sorted((tiny / "videos").rglob("*.mp4")):
        vid = p.relative_to(tiny / "videos").as_posix()
        assert (again / "videos" / vid).read_bytes() == p.read_bytes(), vid
        x, y = decoded(again, vid).astype(int), decoded(tiny, vid).astype(int)
        assert x.shape == y.shape and np.abs(x - y).mean() < 2.0, vid
    decoded_a = decoded(tiny, "rotate_cw/rotate_cw_001.mp4").astype(int)
    assert np.abs(decoded_a - a).mean() < 4.0  # the file shows what was rendered (crf 16)
    other = V.make_tiny_toy(tmp_path / "other", seed=1)
    assert np.abs(decoded(other, "rotate_cw/rotate_cw_001.mp4").astype(int) - decoded_a).mean() > 10


def test_frames_for_image_pretraining(tiny):
    images, labels, names = data.load_toy_frames(tiny)
    assert images.dtype.is_floating_point is False and tuple(images.shape) == (72, 3, 32, 32)  # 36 classes x 2
    assert labels.dtype.__str__() == "torch.int64" and labels.max().item() == 35 and len(names) == 36
    assert "red_square" in names and "cyan_lshape" in names
    assert images.float().std() > 10  # not blank


def test_motions_do_what_they_say():
    t = np.linspace(0, 1, 16)
    rng = np.random.default_rng(0)
    s = lambda name: toy.MOTIONS[name](t, rng)  # noqa: E731
    assert (np.diff(s("move_left")["x"]) < 0).all() and (np.diff(s("move_right")["x"]) > 0).all()
    assert (np.diff(s("move_up")["y"]) < 0).all()
    assert (np.diff(s("rotate_cw")["angle"]) > 0).all() and (np.diff(s("rotate_ccw")["angle"]) < 0).all()
    assert (np.diff(s("grow")["r"]) > 0).all() and (np.diff(s("shrink")["r"]) < 0).all()
    assert s("appear")["alpha"][0] == 0 and s("appear")["alpha"][-1] == 1
    assert s("vanish")["alpha"][0] == 1 and s("vanish")["alpha"][-1] == 0
    o = s("orbit_cw")
    phase = np.unwrap(np.arctan2(o["y"] - o["y"].mean(), o["x"] - o["x"].mean()))
    assert phase[-1] - phase[0] > math.pi  # y points down: increasing angle is clockwise on screen
    a = s("approach_then_retreat")["r"]
    assert a[7] > a[0] and a[7] > a[-1]
    assert len(toy.MOTIONS) >= 30


def test_single_frame_does_not_reveal_class():
    """Across a class, looks vary: the same motion is drawn with many shapes, colours and backgrounds."""
    firsts = [toy.render_video("move_left", np.random.default_rng([0, 0, i]), frames=2, size=32)[0] for i in range(6)]
    assert min(np.abs(a.astype(int) - b.astype(int)).mean() for a in firsts for b in firsts if a is not b) > 5
    # and a single frame of move_left and move_right with the same look and start is the same picture
    same_a = toy.render_video("move_left", np.random.default_rng(5), frames=3, size=32)[1]
    same_b = toy.render_video("move_right", np.random.default_rng(5), frames=3, size=32)[1]
    assert np.abs(same_a.astype(int) - same_b.astype(int)).mean() < 1.0  # middle frames coincide


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(toy, "make_frames", boom)
    with pytest.raises(KeyboardInterrupt):
        V.make_tiny_toy(tmp_path / "t")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a partial temp folder


def test_ensure_toy_reuses_and_refuses(tiny, tmp_path, monkeypatch):
    stamp = (tiny / "toy.json").stat().st_mtime_ns
    assert data.ensure_toy(tiny) == tiny and (tiny / "toy.json").stat().st_mtime_ns == stamp
    monkeypatch.setenv("ZEROI2V_CACHE", str(tmp_path / "cache"))
    assert toy.default_root() == tmp_path / "cache" / "toy"
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    with pytest.raises(UserError, match="not a toy dataset"):
        toy.make_toy(tmp_path / "junk")
    with pytest.raises(UserError, match="make-toy"):
        data.list_videos("toy", tmp_path / "junk", "train")


@pytest.mark.slow
def test_default_toy_generation_time(tmp_path):
    import time

    start = time.perf_counter()
    root = toy.make_toy(tmp_path / "toy")
    elapsed = time.perf_counter() - start
    assert elapsed < 60
    assert len(data.list_videos("toy", root, "train")) == 32 * 15
    images, labels, names = data.load_toy_frames(root)
    assert tuple(images.shape[1:]) == (3, 64, 64) and len(names) == 36


def test_resolve_root_toy_defaults_to_generated_cache(tiny, monkeypatch, tmp_path):
    monkeypatch.delenv("ZEROI2V_TOY_ROOT", raising=False)
    monkeypatch.setenv("ZEROI2V_CACHE", str(tmp_path / "cache"))
    made = []
    monkeypatch.setattr(toy, "make_toy", lambda root, config=None: made.append(root) or root)
    assert data.resolve_root("toy", None) == tmp_path / "cache" / "toy" and made == [tmp_path / "cache" / "toy"]
    monkeypatch.setenv("ZEROI2V_TOY_ROOT", str(tiny))
    assert data.resolve_root("toy", None) == tiny


def test_frame_geometry_for_position_aware_pretraining(tiny):
    images, _, _ = data.load_toy_frames(tiny)
    geometry = data.load_toy_geometry(tiny)  # (N, 3): x, y, r of the drawn object
    assert geometry.shape == (len(images), 3)
    assert geometry[:, :2].min() >= 0.3 and geometry[:, :2].max() <= 0.7
    assert geometry[:, 2].min() >= 0.12 and geometry[:, 2].max() <= 0.24
    # it is the geometry the frame was drawn with: re-render frame 0 from its seed
    cfg = toy.ToyConfig(**{k: v for k, v in __import__("json").loads((tiny / "toy.json").read_text())["config"].items()
                           if k != "class_split"})
    names = [f"{c}_{s}" for c in toy.COLOURS for s in toy.SHAPES]
    colour, shape = names[0].split("_", 1)
    image, xyr = toy.render_image(np.random.default_rng([cfg.seed, 10_000, 0]), shape=shape, colour=colour, size=cfg.size)
    assert np.allclose(xyr, geometry[0].numpy(), atol=1e-6)
    assert np.array_equal(image.transpose(2, 0, 1), images[0].numpy())
