"""`VideoClipDataset`: items -> normalised multi-view clips, one decoder call per sample.

__getitem__(i) -> (video (V, C, T, H, W) float32, label int), V = num_clips * num_crops; with
normalize=False the video stays uint8 (normalise it on the accelerator: `transforms.normalize(
batch.to(device), mean, std, channel_dim=1)`, 4x less to copy and no float work on the worker).
Train: one random temporal sample per clip, then (each optional, off by default) short side resized to
`short_side`, RandAugment, and always a random resized crop (`crop_area`, `crop_ratio`) to `size`,
a horizontal flip with probability `flip` (through `flip_map`), RandomErasing with probability
`erasing` -- every random choice shared by all frames of the clip (`augment.py`, `randaugment.py`).
`randaugment_after_flip=True` moves RandAugment after the crop and flip (the original SSv2 order:
crop -> flip -> RandAugment -> erasing; the others: RandAugment -> crop -> flip -> erasing, where pytorchvideo's
RandAugment computes only the crop's pixels: `randaugment.augment_crop`, the values of the whole frame's).
Test: deterministic centre sampling, short side resized to `short_side` (None: `size`), then centre
crop (num_crops=1) or three crops (num_crops=3). Each sample's randomness comes from (seed, epoch, index) alone:
`ds[(epoch, i)]` names the epoch with the index (what the trainer's samplers yield, so persistent DataLoader
workers see it), `ds[i]` uses the epoch of `set_epoch` (0 by default).
The dataset holds only paths and numbers (no open readers), so it pickles for DataLoader workers.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from zeroi2v.utils.errors import UserError

from zeroi2v.data import augment as A
from zeroi2v.data import randaugment as RA
from zeroi2v.data import transforms as T
from zeroi2v.data.common import VideoItem, check_on_error
from zeroi2v.data.sampling import sample_indices
from zeroi2v.data.decode import VideoError, open_video, read_frames, resolve_decoder
from zeroi2v.data.stages import stage

log = logging.getLogger("zeroi2v.data")
RANDAUGMENT_IMPLS = ("pytorchvideo", "torchvision")


class VideoClipDataset(torch.utils.data.Dataset):
    epoch_keyed = True  # __getitem__ takes (epoch, index) keys (zeroi2v.training.trainer passes them)
    region_randaugment = True  # False: RandAugment on the whole frame before the crop (the same values, slower)

    def __init__(
        self,
        items: Sequence[VideoItem],
        *,
        num_frames: int,
        size: int,
        train: bool,
        mean: Sequence[float],
        std: Sequence[float],
        sampling: str = "uniform",
        interval: int | None = None,
        num_clips: int = 1,
        num_crops: int = 1,
        flip_map: Sequence[int] | dict[int, int] | None = None,
        on_error: str = "error",
        seed: int = 0,
        flip: bool | float = True,
        scale: tuple[float, float] = (0.25, 1.0),
        short: str = "loop",  # past the end: mmaction2 SampleFrames' default out_of_bound_opt
        keep_decoded: bool = False,
        crop_area: tuple[float, float] | None = None,
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        short_side: int | None = None,
        randaugment: tuple[int, int] | None = None,
        erasing: float = 0.0,
        erasing_mode: str | None = None,
        randaugment_impl: str = "pytorchvideo",
        randaugment_after_flip: bool = False,
        decoder: str | None = "auto",
        normalize: bool = True,
        fast_resize: bool = False,
    ):
        """`flip`: probability (True = 0.5); `crop_area` (None: `scale`, its older name) and `crop_ratio`: the
        random resized crop's area fraction and aspect range; `short_side`: clips resized to this short side
        first (train: before augmentation, None = not resized; test: before the crops, None = `size`);
        `randaugment`: (magnitude 0-10, num_layers) or None; `randaugment_impl`: "pytorchvideo" (the original
        recipes': num_layers distinct ops, each applied with probability 0.5, level ~ N(magnitude, 0.5)) or
        "torchvision" (v2.RandAugment: num_layers ops, always applied); `randaugment_after_flip`: RandAugment
        after crop and flip (the SSv2 configs' order); `erasing`: mmaction2's RandomErasing probability;
        `erasing_mode`: "const" (grey 128; None = this, mmaction2's default) or "rand" (random pixels);
        `decoder`: auto | decord | pyav | torchcodec; `normalize`: False returns uint8 clips; `fast_resize`:
        torch's uint8 resize kernel (within 1 grey level)."""
        if sampling not in ("uniform", "dense", "tsn"):
            raise UserError(f"sampling={sampling!r} is not known; use uniform, dense or tsn")
        if sampling == "dense" and not interval:
            raise UserError("dense sampling needs an interval, e.g. --interval 16 for 8x16")
        if num_crops not in (1, 3):
            raise UserError(f"num_crops={num_crops}; use 1 (centre crop) or 3 (three-crop)")
        if train and num_crops != 1:
            raise UserError("training uses one random crop per clip; set num_crops=1")
        if not items:
            raise UserError("no videos to load (the list is empty); check the dataset root and split")
        if randaugment is not None and (len(randaugment) != 2 or not 0 <= randaugment[0] <= 10):
            raise UserError(f"randaugment={randaugment!r}; use (magnitude 0-10, num_layers), e.g. (7, 4)")
        if randaugment_impl not in RANDAUGMENT_IMPLS:
            raise UserError(f"randaugment_impl={randaugment_impl!r}; use one of {', '.join(RANDAUGMENT_IMPLS)}")
        if randaugment is not None and randaugment_impl == "pytorchvideo" and not 1 <= randaugment[1] <= len(RA.OPS):
            raise UserError(f"randaugment={randaugment!r}: pytorchvideo's RandAugment draws 1-{len(RA.OPS)} "
                            f"distinct ops per clip; use num_layers 1-{len(RA.OPS)}")
        erasing_mode = "const" if erasing_mode is None else erasing_mode
        if erasing_mode not in A.ERASING_MODES:
            raise UserError(f"erasing_mode={erasing_mode!r}; use one of {', '.join(A.ERASING_MODES)}")
        if short_side is not None and not train and short_side < size:
            raise UserError(f"short_side={short_side} is smaller than the crop size {size}; use short_side >= size")
        if not 0 <= float(erasing) <= 1 or not 0 <= float(flip) <= 1:
            raise UserError(f"erasing={erasing}, flip={flip}: probabilities must be in [0, 1]")
        resolve_decoder(decoder)  # fails here, once, with the fix, when unavailable
        self.decoder = decoder or "auto"  # "auto" resolves per file (decode.PYAV_FIRST)
        self.items = list(items)
        self.num_frames, self.size, self.train = int(num_frames), int(size), bool(train)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.sampling, self.interval, self.short = sampling, interval, short
        self.num_clips, self.num_crops = int(num_clips), int(num_crops)
        self.flip_map = dict(enumerate(flip_map)) if isinstance(flip_map, (list, tuple)) else flip_map
        self.on_error = check_on_error(on_error)
        self.seed, self.scale = int(seed), tuple(crop_area if crop_area is not None else scale)
        self.flip = 0.5 if flip is True else float(flip)  # probability
        self.crop_ratio, self.short_side = tuple(crop_ratio), short_side
        self.randaugment = None if randaugment is None else (int(randaugment[0]), int(randaugment[1]))
        self.randaugment_impl, self.randaugment_after_flip = randaugment_impl, bool(randaugment_after_flip)
        self.erasing_mode = erasing_mode
        self.erasing, self.normalize, self.fast_resize = float(erasing), bool(normalize), bool(fast_resize)
        self.keep_decoded = bool(keep_decoded)  # small datasets (toy): decode each video once, keep uint8 frames
        self._decoded: dict[int, torch.Tensor] = {}  # per process
        self.epoch = 0  # set_epoch() changes the training randomness per epoch
        self.skipped: list[str] = []  # in this process (each DataLoader worker has its own)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def input_norm(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(mean, std) the consumer applies to this dataset's uint8 clips (`engine.to_input`); None: normalised."""
        return None if self.normalize else (self.mean, self.std)

    def get_labels(self) -> list[int]:
        """The label of every item, in order (easyfsl `TaskSampler` reads this; no video is decoded)."""
        return [int(item.label) for item in self.items]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), index])

    def frame_indices(self, index: int, n: int, epoch: int | None = None) -> np.ndarray:
        """(Vt, T) frame indices the sample at `index` reads from its n-frame video (same draw as `load`)."""
        return sample_indices(n, self.num_frames, sampling=self.sampling, train=self.train, rng=self._rng(index, epoch),
                              num_clips=self.num_clips, interval=self.interval, short=self.short)

    def _rand_augment(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        magnitude, layers = self.randaugment
        if self.randaugment_impl == "torchvision":
            with stage("randaugment"):
                return A.rand_augment(clip, magnitude=magnitude, num_layers=layers, rng=rng)
        return RA.rand_augment_pytorchvideo(clip, magnitude=magnitude, num_layers=layers, rng=rng)

    def _augment_crop(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """RandAugment before the crop (unless after the flip), then the random resized crop: (T, C, H, W) uint8 ->
        (T, C, size, size). pytorchvideo's RandAugment computes only the crop's pixels (`region_randaugment`;
        the same values as on the whole frame): its plan is drawn first, then the crop, the draws of the
        whole-frame order."""
        crop = dict(rng=rng, scale=self.scale, ratio=self.crop_ratio)
        if self.randaugment is None or self.randaugment_after_flip:
            with stage("crop_resize"):
                return T.random_resized_crop(clip, self.size, fast=self.fast_resize, **crop)
        if self.randaugment_impl != "pytorchvideo":
            clip = self._rand_augment(clip, rng)
            with stage("crop_resize"):
                return T.random_resized_crop(clip, self.size, fast=self.fast_resize, **crop)
        with stage("draws"):
            plan = RA.pytorchvideo_plan(clip, magnitude=self.randaugment[0], num_layers=self.randaugment[1], rng=rng)
            box = T.random_resized_crop_box(*clip.shape[-2:], **crop)  # (top, left, h, w)
        # the resize's channels-last output as is: the ops' float conversions give the standard layout (no copy)
        v = RA.augment_crop(clip, plan, box, region=self.region_randaugment)  # (T, C, h, w)
        with stage("crop_resize"):
            return T.resize(v, (self.size, self.size), fast=self.fast_resize, channels_last=True)

    def load(self, index: int, epoch: int | None = None) -> tuple[torch.Tensor, int]:
        """The sample at `index` of `epoch` (None: the `set_epoch` one); raises VideoError for an unreadable video."""
        item = self.items[index]
        rng = self._rng(index, epoch)
        full = self._decoded.get(index)
        with stage("open"):
            vr = open_video(item.path, decoder=self.decoder) if full is None else None
        with stage("sample"):
            idx = sample_indices(len(vr) if full is None else len(full), self.num_frames, sampling=self.sampling,
                                 train=self.train, rng=rng, num_clips=self.num_clips, interval=self.interval,
                                 short=self.short)  # (Vt, T)
        if self.keep_decoded and full is None:  # every frame, once: one get_batch
            full = self._decoded[index] = torch.from_numpy(read_frames(vr, range(len(vr)), path=item.path))
        if full is not None:
            frames = full[torch.from_numpy(idx.reshape(-1))]  # (Vt*T, H, W, C) uint8
        else:
            with stage("decode"):
                frames = torch.from_numpy(read_frames(vr, idx.reshape(-1), path=item.path))  # one get_batch
            with stage("close"):
                vr = None  # the reader's teardown (decord: its decoder thread and buffers)
        frames = T.to_tchw(frames)  # (Vt*T, C, H, W)
        clips = frames.reshape(self.num_clips, self.num_frames, *frames.shape[1:])  # (Vt, T, C, H, W)
        label = item.label
        views = []
        fast = self.fast_resize
        if self.train:
            flip = False
            if self.flip > 0 and rng.random() < self.flip:
                target = label if self.flip_map is None else self.flip_map.get(label, label)
                if target is not None and target >= 0:
                    flip, label = True, int(target)
            for clip in clips:  # (T, C, H, W) uint8; every op below is shared by all T frames
                if self.short_side is not None:
                    with stage("resize_short"):  # (layout: no copy)
                        clip = T.resize_short(clip, self.short_side, fast=fast, channels_last=True)
                v = self._augment_crop(clip, rng)  # RandAugment (unless after the flip), the random resized crop
                if flip:
                    with stage("flip"):
                        v = T.hflip(v)
                if self.randaugment is not None and self.randaugment_after_flip:
                    v = self._rand_augment(v, rng)
                if self.erasing > 0:
                    with stage("erasing"):
                        v = A.random_erasing(v, p=self.erasing, rng=rng, mode=self.erasing_mode)
                views.append(v)
        else:
            for clip in clips:
                with stage("resize_short"):
                    clip = T.resize_short(clip, self.short_side or self.size, fast=fast)
                views.extend(T.three_crop(clip, self.size) if self.num_crops == 3 else [T.center_crop(clip, self.size)])
        with stage("stack"):
            video = torch.stack([v.transpose(0, 1) for v in views])  # (V, C, T, H, W) uint8, one copy
        if not self.normalize:
            return video, int(label)
        with stage("normalize"):
            return T.normalize(video, self.mean, self.std, channel_dim=1), int(label)  # (V, C, T, H, W) float32

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        """key: index, or (epoch, index)."""
        epoch, index = key if isinstance(key, tuple) else (None, key)
        for attempt in range(len(self.items)):
            i = (index + attempt) % len(self.items)
            try:
                return self.load(i, epoch)
            except VideoError as e:
                path = self.items[i].path
                if self.on_error == "error":
                    raise UserError(f"{path}: {e}; fix or remove the video, or pass on_error='skip' (--on-error skip)") from None
                self.skipped.append(str(path))
                log.warning("skipping %s: %s (using the next video; %d skipped so far in this process)",
                            path, e, len(self.skipped))
        raise UserError("every video of the dataset is unreadable; check the dataset with python -m fewshot.data check")
