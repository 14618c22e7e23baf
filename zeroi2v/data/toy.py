"""`toy`: a synthetic motion dataset, the embedded default for the demo (no download needed).

Each class is a MOTION (translation in 8 directions, rotation cw/ccw, growing/shrinking, orbiting,
spiralling, appearing/vanishing, approach-then-retreat, bouncing, zigzag, rolling, squashing,
shaking, blinking, pendulum swing) applied to an object whose shape, colour, texture, size,
position, orientation and background (plus an optional static distractor) are drawn at random
independently of the class, so no single frame reveals the class; many classes come in
time-reversed pairs (grow/shrink, appear/vanish, move_left/move_right, ...). Seeded and
deterministic: the same seed gives the same decoded frames (and, with the same x264, the same bytes).

Layout written by `python -m fewshot.data make-toy --out DIR` (UCF101's official list format, so
the real UCF101 reader parses it)::

    DIR/
        toy.json                          format, config, class list, base/val/novel class split
        videos/<class>/<class>_<i:03d>.mp4     H.264, `frames` frames of `size`x`size` px
        ucfTrainTestlist/classInd.txt     "1 move_left"
        ucfTrainTestlist/trainlist01.txt  "move_left/move_left_000.mp4 1"
        ucfTrainTestlist/testlist01.txt   "move_left/move_left_015.mp4"
        splits/{train,val,test}.txt       episodic few-shot splits: "train3//videos/<class>/<file>.mp4"
                                          (base / val / novel classes; video id "<class>/<file>")
        frames.npz                        single frames for image pre-training: images (N, 3, H, W)
                                          uint8, labels (N,), class_names ("<colour>_<shape>")

`ensure_toy()` generates it once into $ZEROI2V_CACHE/toy (default ~/.cache/zeroi2v/toy), writing a
temp folder that is renamed into place only when complete. Env var for another root: ZEROI2V_TOY_ROOT.
Splits of the reader: train -> trainlist01, val and test -> testlist01 (all classes, for supervised use).

Modules: `toy_motion` (the motions = classes), `toy_render` (objects, backgrounds, the H.264
writer); this module holds the configuration, the dataset files, the cache and the reader, and
re-exports the names of the other two (`toy.MOTIONS`, `toy.render_video`, ...).

`toy_time` (dataset name; `toy_time.TimeToyConfig`) is the time-only kind: the same layout without
frames.npz, videos encoded all-intra, classes that live only between frames (see `toy_time`); its
cache is $ZEROI2V_CACHE/toy_time, its env var ZEROI2V_TOY_TIME_ROOT. Both kinds share this module's
files, cache and reader code; `config` is a ToyConfig or a TimeToyConfig and picks the kind.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import (atomic_path, atomic_write_json, atomic_write_text, clean_stale_temps, default_mode,
                              temp_name, write_error, writing)

from zeroi2v.data.common import BadData, VideoItem
from zeroi2v.data.registry import Reader
from zeroi2v.data import toy_time
from zeroi2v.data.toy_motion import MOTIONS
from zeroi2v.data.toy_time import TimeToyConfig
from zeroi2v.data.toy_render import (BACKGROUNDS, COLOURS, SHAPES, SS, TEXTURES, Look, background, composite,  # noqa: F401
                         downsample, draw_look, encode_mp4, render_image, render_video, shape_mask,
                         texture_shade)
from zeroi2v.data.ucf101 import parse_lists

ENV = "ZEROI2V_TOY_ROOT"
FORMAT = "zeroi2v-toy/2"  # 2: frames.npz carries each frame's object geometry
KINDS = ("toy", "toy_time")  # dataset names: the appearance-and-motion toy, the time-only toy
FORMATS = {"toy": FORMAT, "toy_time": toy_time.FORMAT}
ENVS = {"toy": ENV, "toy_time": toy_time.ENV}
LAYOUT = "videos/<class>/<file>.mp4 + ucfTrainTestlist/ + splits/ + frames.npz + toy.json (python -m fewshot.data make-toy)"

@dataclass(frozen=True)
class ToyConfig:
    seed: int = 0
    videos_per_class: int = 20
    test_per_class: int = 5  # of those, how many go to testlist01 (supervised split)
    frames: int = 16
    size: int = 64
    fps: int = 8
    images_per_class: int = 60  # single frames per (colour, shape) class
    num_classes: int = 32  # the first num_classes motions of MOTIONS (tests use fewer)
    class_split: tuple[int, int, int] = (16, 6, 10)  # base / val / novel classes (scaled down if fewer classes)


# ---------------------------------------------------------------- dataset files


def kind_of(config: ToyConfig | TimeToyConfig) -> str:
    return "toy_time" if isinstance(config, TimeToyConfig) else "toy"


def class_names(config: ToyConfig | TimeToyConfig) -> list[str]:
    names = toy_time.classes_of(config.pattern) if kind_of(config) == "toy_time" else list(MOTIONS)
    if not 2 <= config.num_classes <= len(names):
        raise UserError(f"toy num_classes={config.num_classes} must be in 2..{len(names)}")
    return names[: config.num_classes]


def class_splits(config: ToyConfig) -> dict[str, list[str]]:
    """Seeded base / val / novel (= few-shot train / val / test) class split."""
    names = class_names(config)
    want = np.array(config.class_split, dtype=float)
    counts = np.floor(want / want.sum() * len(names)).astype(int) if want.sum() > len(names) else want.astype(int)
    counts[0] += len(names) - counts.sum()
    order = np.random.default_rng([config.seed, 7]).permutation(len(names))
    parts, start = {}, 0
    for split, n in zip(("train", "val", "test"), counts):
        parts[split] = sorted((names[i] for i in order[start : start + n]), key=names.index)
        start += n
    return parts


def video_file(cls: str, i: int) -> str:
    return f"{cls}_{i:03d}.mp4"


def _make_class(args: tuple[Path, ToyConfig, int, str]) -> int:
    out, config, class_index, cls = args
    folder = out / "videos" / cls
    folder.mkdir(parents=True, exist_ok=True)
    time_only = kind_of(config) == "toy_time"
    for i in range(config.videos_per_class):
        rng = np.random.default_rng([config.seed, class_index, i])
        video = (toy_time.render_video(config, cls, rng) if time_only else
                 render_video(cls, rng, frames=config.frames, size=config.size))
        encode_mp4(folder / video_file(cls, i), video, fps=config.fps, **(dict(intra=True) if time_only else {}))
    return config.videos_per_class


def make_frames(config: ToyConfig) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Single frames labelled "<colour>_<shape>": images (N, 3, H, W) uint8, labels (N,) int64,
    class names, and geometry (N, 3) float32: the object's centre x, y and radius (frame units)."""
    names = [f"{c}_{s}" for c in COLOURS for s in SHAPES]
    n = config.images_per_class * len(names)
    images = np.empty((n, 3, config.size, config.size), np.uint8)
    geometry = np.empty((n, 3), np.float32)
    labels = np.repeat(np.arange(len(names)), config.images_per_class)
    for i, label in enumerate(labels):
        colour, shape = names[label].split("_", 1)
        rng = np.random.default_rng([config.seed, 10_000, i])
        image, geometry[i] = render_image(rng, shape=shape, colour=colour, size=config.size)
        images[i] = image.transpose(2, 0, 1)
    return images, labels.astype(np.int64), names, geometry


def write_toy(out: Path, config: ToyConfig, *, workers: int = 1) -> None:
    """Write every file of the toy dataset into the (empty) folder `out`; toy.json last."""
    from tqdm import tqdm

    names = class_names(config)
    jobs = [(out, config, k, cls) for k, cls in enumerate(names)]
    bar = tqdm(total=len(names) * config.videos_per_class, desc="toy videos", unit="video", leave=False)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for n in pool.imap_unordered(_make_class, jobs):
                bar.update(n)
    else:
        for job in jobs:
            bar.update(_make_class(job))
    bar.close()

    lists = out / "ucfTrainTestlist"
    train = config.videos_per_class - config.test_per_class
    atomic_write_text(lists / "classInd.txt", "".join(f"{k + 1} {c}\n" for k, c in enumerate(names)))
    atomic_write_text(lists / "trainlist01.txt", "".join(
        f"{c}/{video_file(c, i)} {k + 1}\n" for k, c in enumerate(names) for i in range(train)))
    atomic_write_text(lists / "testlist01.txt", "".join(
        f"{c}/{video_file(c, i)}\n" for c in names for i in range(train, config.videos_per_class)))
    splits = class_splits(config)
    for split, classes in splits.items():
        atomic_write_text(out / "splits" / f"{split}.txt", "".join(
            f"{split}{k}//videos/{c}/{video_file(c, i)}\n" for k, c in enumerate(classes) for i in range(config.videos_per_class)))

    if kind_of(config) == "toy_time":  # no stored frames: the image pre-training draws its own (toy_time)
        atomic_write_json(out / "toy.json", {
            "format": toy_time.FORMAT, "kind": "toy_time", "config": asdict(config), "classes": names,
            "class_splits": splits, "videos": len(names) * config.videos_per_class})
        return
    images, labels, frame_names, geometry = make_frames(config)
    with atomic_path(out / "frames.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels, class_names=np.array(frame_names),
                                geometry=geometry)
    atomic_write_json(out / "toy.json", {
        "format": FORMAT, "config": asdict(config), "classes": names, "class_splits": splits,
        "videos": len(names) * config.videos_per_class, "images": int(len(labels)), "image_classes": frame_names,
    })  # fmt: skip


def check_config(config: ToyConfig | TimeToyConfig) -> ToyConfig | TimeToyConfig:
    """One-line UserError for settings that cannot make a toy dataset."""
    if kind_of(config) == "toy_time":
        from zeroi2v.data.toy_order import HUES

        if config.pattern not in toy_time.PATTERNS:
            raise UserError(f"toy_time pattern={config.pattern!r} is not one of {', '.join(toy_time.PATTERNS)} (--pattern)")
        if config.pattern == "order" and config.frames != HUES:
            raise UserError(f"toy_time pattern order has {HUES} frames (one per hue), not frames={config.frames}; "
                            f"leave --frames out or use --pattern motion")
    class_names(config)
    for name in ("videos_per_class", "test_per_class", "frames", "size", "fps", "images_per_class"):
        if getattr(config, name, 1) < 1:
            raise UserError(f"toy {name}={getattr(config, name)} must be at least 1")
    if config.size < 16 or config.size % 2:  # H.264 (yuv420p) needs even sizes; objects need room
        raise UserError(f"toy size={config.size} must be an even number of pixels, at least 16 (--size)")
    if config.videos_per_class <= config.test_per_class:
        raise UserError(f"toy videos_per_class={config.videos_per_class} must exceed test_per_class="
                        f"{config.test_per_class} (--test-per-class)")
    if config.seed < 0:
        raise UserError(f"toy seed={config.seed} must be non-negative")
    return config


def read_meta(root: str | os.PathLike, kind: str = "toy") -> dict | None:
    """toy.json of a finished toy dataset of `kind` (toy or toy_time), else None."""
    path = Path(root) / "toy.json"
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, non-UTF-8, not JSON, hostile
        return None
    ok = isinstance(meta, dict) and meta.get("format") == FORMATS[kind] and isinstance(meta.get("config"), dict)
    return meta if ok else None


def same_config(meta: dict, config: ToyConfig | TimeToyConfig) -> bool:
    """Whether a toy.json was written with `config` (compared as JSON: tuples are lists there)."""
    return meta["config"] == json.loads(json.dumps(asdict(config)))


def make_toy(out: str | os.PathLike, config: ToyConfig | TimeToyConfig = ToyConfig(), *,
             workers: int | None = None) -> Path:
    """Generate the toy dataset at `out` atomically (temp folder + rename); reuse it if already complete.
    `config` picks the kind: ToyConfig (toy) or toy_time.TimeToyConfig (toy_time)."""
    out = Path(out).expanduser()
    check_config(config)
    kind = kind_of(config)
    meta = read_meta(out, kind)
    if meta is not None:
        if same_config(meta, config):
            print(f"toy dataset at {out} is complete (seed {config.seed}); reusing it")
            return out
        raise UserError(f"{out} holds a toy dataset made with other settings ({meta['config']}); "
                        "remove it or choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a toy dataset; remove it or choose another --out")
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    with writing(out):  # a read-only or full --out: one line
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(out)
        tmp = Path(tempfile.mkdtemp(prefix=temp_name(out), dir=out.parent))
    try:
        write_toy(tmp, config, workers=workers)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.chmod(tmp, default_mode(folder=True))
        os.replace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if read_meta(out, kind) is not None:  # another process finished first
            return out
        raise write_error(out, e) from None
    except UserError as e:  # a write inside the temp folder failed: name the path under --out
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(str(e).replace(str(tmp), str(out))) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n = config.num_classes * config.videos_per_class
    frames = "" if kind == "toy_time" else f", {config.images_per_class * len(COLOURS) * len(SHAPES)} frames"
    print(f"wrote {kind} dataset to {out}: {config.num_classes} classes, {n} videos{frames} in "
          f"{time.perf_counter() - start:.1f} s")
    return out


def default_root(kind: str = "toy") -> Path:
    return Path(os.environ.get("ZEROI2V_CACHE", "~/.cache/zeroi2v")).expanduser() / kind


def default_config(kind: str = "toy", seed: int = 0) -> ToyConfig | TimeToyConfig:
    return (TimeToyConfig if kind == "toy_time" else ToyConfig)(seed=seed)


def ensure_toy(root: str | os.PathLike | None = None, kind: str = "toy") -> Path:
    """The toy dataset root of `kind`, generated on first use (default $ZEROI2V_CACHE/<kind> or
    ~/.cache/zeroi2v/<kind>)."""
    root = Path(root).expanduser() if root is not None else default_root(kind)
    meta = read_meta(root, kind)
    ours = root == default_root(kind)
    if meta is not None and (not ours or same_config(meta, default_config(kind))):
        return root
    if ours and (root / "toy.json").is_file():  # our cache, from an older format or default
        shutil.rmtree(root)
    return make_toy(root, default_config(kind))


def require(root: Path, kind: str = "toy") -> dict:
    meta = read_meta(root, kind)
    if meta is None:
        flag = " --kind toy_time" if kind == "toy_time" else ""
        raise UserError(f"{root} is not a finished {kind} dataset (no valid toy.json of that kind); "
                        f"generate it with: python -m fewshot.data make-toy{flag} --out {root}")
    return meta


def _read_frames_npz(root: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `keys` of <root>/frames.npz, checked; a one-line UserError naming the file when it
    is truncated, foreign or inconsistent (never pickled objects)."""
    path = root / "frames.npz"
    fix = f"remove {root} and rerun `python -m fewshot.data make-toy --out {root}`"
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in keys}
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except Exception as e:  # BadZipFile, zlib.error, EOFError, KeyError, ValueError, AttributeError ...
        reason = str(e).split("\n")[0][:80] or type(e).__name__
        raise UserError(f"{path} is unreadable (truncated or not a toy frames file: {reason}); {fix}") from None
    n = len(out[keys[0]])
    shapes = {"images": 4, "labels": 1, "geometry": 2, "class_names": 1}
    for k, v in out.items():
        if v.ndim != shapes[k] or (k != "class_names" and len(v) != n) or v.dtype == object:
            raise UserError(f"{path}: array {k!r} has shape {v.shape}, inconsistent with a toy frames file; {fix}")
    return out


def load_toy_geometry(root: str | os.PathLike):
    """FloatTensor (N, 3): centre x, y and radius of the object in each toy frame (frame units)."""
    import torch

    root = Path(root)
    require(root)
    return torch.from_numpy(_read_frames_npz(root, ("geometry",))["geometry"]).float()


def load_toy_frames(root: str | os.PathLike):
    """(images uint8 (N, 3, H, W), labels LongTensor (N,), class_names) from <root>/frames.npz."""
    import torch

    root = Path(root)
    require(root)
    z = _read_frames_npz(root, ("images", "labels", "class_names"))
    images, labels, names = z["images"], z["labels"], [str(n) for n in z["class_names"]]
    if images.dtype != np.uint8 or len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise UserError(f"{root / 'frames.npz'}: images are not uint8 or labels exceed the class names; "
                        f"remove {root} and rerun make-toy")
    return torch.from_numpy(images), torch.from_numpy(labels).long(), names


def list_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    require(root)
    return parse_lists(root, split, fold=fold, bad=bad, env=ENV, layout=LAYOUT)


def list_time_split(root: Path, split: str, *, fold: int, bad: BadData) -> list[VideoItem]:
    require(root, "toy_time")
    return parse_lists(root, split, fold=fold, bad=bad, env=toy_time.ENV, layout=toy_time.LAYOUT)


def config_from(kind: str = "toy", **kwargs) -> ToyConfig | TimeToyConfig:
    cls = TimeToyConfig if kind == "toy_time" else ToyConfig
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in kwargs.items() if k in names and v is not None})


READER = Reader(name="toy", env=ENV, splits=("train", "test"), folds=(1,), list_split=list_split, layout=LAYOUT)
TIME_READER = Reader(name="toy_time", env=toy_time.ENV, splits=("train", "test"), folds=(1,),
                     list_split=list_time_split, layout=toy_time.LAYOUT)
