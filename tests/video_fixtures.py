"""Tiny real video files for the data-layer tests, written with PyAV (the codec follows the suffix)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

CODEC_OF_SUFFIX = {".mp4": "libx264", ".avi": "mpeg4", ".webm": "libvpx", ".mkv": "libx264"}


def moving_square(*, frames: int = 10, size: int = 32, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a bright square moving right over a dark background, frame index in red."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 60, size=3)
    video = np.empty((frames, size, size, 3), np.uint8)
    video[:] = bg
    side = size // 4
    for t in range(frames):
        x = int(t * (size - side) / max(frames - 1, 1))
        video[t, size // 3 : size // 3 + side, x : x + side] = (230, 230, 230)
    return video


def write_video(path: str | Path, frames: np.ndarray, *, fps: int = 8) -> Path:
    """Encode (T, H, W, 3) uint8 `frames` to `path`; codec chosen by suffix (.mp4/.mkv H.264, .avi MPEG-4, .webm VP8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = CODEC_OF_SUFFIX[path.suffix]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast", "x264-params": "bframes=0"}
        else:
            stream.bit_rate = 2_000_000
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_test_video(path: str | Path, *, frames: int = 10, size: int = 32, seed: int = 0) -> Path:
    return write_video(path, moving_square(frames=frames, size=size, seed=seed))


def write_zero_frame_video(path: str | Path) -> Path:
    """A valid container header with a video stream but no frames at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(CODEC_OF_SUFFIX[path.suffix], rate=8)
        stream.height = stream.width = 32
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # writes the header; no frame is ever encoded
    return path


def truncate(path: str | Path, *, keep: float = 0.5) -> Path:
    """Cut a video file to the first `keep` fraction of its bytes (a broken download)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ---------------------------------------------------------------- small trees in the official layouts

SSV2_CLASSES = [  # real SSv2 label names (labels.json), including all six with left/right
    "Approaching something with your camera",
    "Moving something up",
    "Pulling something from left to right",
    "Pulling something from right to left",
    "Pushing something from left to right",
    "Pushing something from right to left",
    "Turning the camera left while filming something",
    "Turning the camera right while filming something",
    "Moving away from something with your camera",
    "Putting something on a surface",
]


def template_of(name: str) -> str:
    return name.replace("something", "[something]", 1)


def make_ssv2_tree(root: Path, *, official_names: bool = False) -> Path:
    """labels/{labels,train,validation}.json + 20bn-something-something-v2/<id>.webm; 2 classes used."""
    import json

    labels = root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    prefix = "something-something-v2-" if official_names else ""
    (labels / f"{prefix}labels.json").write_text(json.dumps({n: str(i) for i, n in enumerate(SSV2_CLASSES)}, indent=1))
    train = [
        {"id": "78687", "label": "pushing a cup from left to right", "template": template_of(SSV2_CLASSES[4]), "placeholders": ["a cup"]},
        {"id": "42326", "label": "moving pen up", "template": template_of(SSV2_CLASSES[1]), "placeholders": ["pen"]},
        {"id": "100904", "label": "pulling box from right to left", "template": template_of(SSV2_CLASSES[3]), "placeholders": ["box"]},
    ]
    val = [{"id": "74225", "label": "moving phone up", "template": template_of(SSV2_CLASSES[1]), "placeholders": ["phone"]}]
    (labels / f"{prefix}train.json").write_text(json.dumps(train, indent=1))
    (labels / f"{prefix}validation.json").write_text(json.dumps(val, indent=1))
    for k, entry in enumerate(train + val):
        write_test_video(root / "20bn-something-something-v2" / f"{entry['id']}.webm", frames=8, seed=k)
    return root


HMDB_VIDEOS = {
    "brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "April_09_brush_hair_u_nm_np1_ba_goo_1.avi",
                   "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi"],
    "fencing": ["fencing_practice_fencing_f_cm_np2_le_goo_0.avi", "Fencing_Training_fencing_f_cm_np2_ri_bad_1.avi",
                "fencing_practice_fencing_u_cm_np2_fr_med_2.avi"],
}  # fmt: skip
# fold -> marks per video (1 train, 2 test, 0 unused)
HMDB_MARKS = {1: ("1", "1", "2"), 2: ("2", "1", "1"), 3: ("1", "0", "2")}


def make_hmdb51_tree(root: Path) -> Path:
    """videos/<class>/<file>.avi + testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt."""
    k = 0
    for cls, files in HMDB_VIDEOS.items():
        for f in files:
            write_test_video(root / "videos" / cls / f, frames=8, seed=k)
            k += 1
        for fold, marks in HMDB_MARKS.items():
            lines = "".join(f"{f} {m} \n" for f, m in zip(files, marks))  # official files end lines with a space
            split_dir = root / "testTrainMulti_7030_splits"
            split_dir.mkdir(parents=True, exist_ok=True)
            (split_dir / f"{cls}_test_split{fold}.txt").write_text(lines)
    return root


UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]


def make_ucf101_tree(root: Path) -> Path:
    """UCF-101/<Class>/v_<Class>_gXX_cYY.avi + ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF_CLASSES)))
    files = {}
    for i, c in enumerate(UCF_CLASSES):
        stem = "HandStandPushups" if c == "HandstandPushups" else c  # the official file-name quirk
        files[c] = [f"v_{stem}_g{g:02d}_c01.avi" for g in (1, 8, 9)]
        for k, f in enumerate(files[c]):
            write_test_video(root / "UCF-101" / c / f, frames=8, seed=10 * i + k)
    for fold in (1, 2, 3):
        test_g = {1: 0, 2: 1, 3: 2}[fold]
        train = [f"{c}/{f} {i + 1}" for i, c in enumerate(UCF_CLASSES) for k, f in enumerate(files[c]) if k != test_g]
        test = [f"{c}/{f}" for c in UCF_CLASSES for k, f in enumerate(files[c]) if k == test_g]
        (lists / f"trainlist{fold:02d}.txt").write_text("\r\n".join(train) + "\r\n")
        (lists / f"testlist{fold:02d}.txt").write_text("\r\n".join(test) + "\r\n")
    return root


KINETICS_ROWS = {
    "train": [("abseiling", "-3B32lodo2M", 59, 69), ("abseiling", "0347ZoDXyP0", 1, 11),
              ("air drumming", "--nQbRBEz2s", 104, 114), ("air drumming", "-VtLx-mcPds", 6, 16)],
    "val": [("abseiling", "0wR5jVB-WPk", 417, 427), ("air drumming", "2-fFl4qW4SM", 0, 10)],
}  # fmt: skip


def make_kinetics_tree(root: Path) -> Path:
    """train.csv/validate.csv + train/<label>/<id>_<start>_<end>.mp4 and flat val/<id>_<start>_<end>.mp4."""
    for split, rows in KINETICS_ROWS.items():
        name = "train.csv" if split == "train" else "validate.csv"
        lines = ["label,youtube_id,time_start,time_end,split,is_cc"]
        quote = lambda lab: f'"{lab}"' if " " in lab else lab  # noqa: E731 (csv quoting as in the official files)
        lines += [f"{quote(lab)},{yid},{s},{e},{split},0" for lab, yid, s, e in rows]
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("\n".join(lines) + "\n")
        for k, (lab, yid, s, e) in enumerate(rows):
            sub = f"train/{lab.replace(' ', '_')}" if split == "train" else "val"
            write_test_video(root / sub / f"{yid}_{s:06d}_{e:06d}.mp4", frames=8, seed=k)
    return root


def make_list_tree(root: Path) -> Path:
    """train.txt / val.txt with '<relative/path> <label>' lines + classes.txt."""
    (root / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("cat\ndog\n")
    rows = {"train": [("clips/cat/a 1.mp4", 0), ("clips/dog/b.mp4", 1), ("clips/dog/c.avi", 1)],
            "val": [("clips/cat/d.mp4", 0)]}
    for split, entries in rows.items():
        (root / f"{split}.txt").write_text("".join(f"{p} {label}\n" for p, label in entries))
        for k, (p, _) in enumerate(entries):
            write_test_video(root / p, frames=8, seed=k)
    return root


def make_tiny_toy(root: Path, *, seed: int = 0) -> Path:
    """A small toy dataset (6 classes x 3 videos, 8 frames of 32 px) through the real generator."""
    from zeroi2v.data.toy import ToyConfig, make_toy

    config = ToyConfig(seed=seed, num_classes=6, videos_per_class=3, test_per_class=1, frames=8, size=32, images_per_class=2)
    return make_toy(root, config, workers=1)


# ---------------------------------------------------------------- dataset-shaped videos (zeroi2v.data.fixtures)


def dataset_like_videos(root: Path, kind: str, *, videos: int = 2, scale: str = "tiny", seed: int = 0) -> list[Path]:
    """Videos shaped like SSv2 (VP9 webm), Kinetics (H.264 mp4, GOP 250) or HMDB (MPEG-4 avi); tiny by default."""
    from zeroi2v.data.fixtures import fixture_set

    return fixture_set(root, kind, videos=videos, scale=scale, seed=seed)
