"""Per-dataset defaults: the one table every program reads (zeroi2v.train, fewshot.run, zeroi2v.bench).

A flag left unset (None) takes its value from the dataset's row here; nothing else in the suite
holds a per-dataset default. Few-shot datasets map onto the row of the videos they are cut from
(`defaults_for`): ssv2_full/ssv2_small -> ssv2, kinetics100 -> k400.

Real datasets follow the original ZeroI2V recipe (AdamW 3e-4, head dropout 0.5, adapter dropout
0.1, adapter scale 0.5). The toy row is the demo's small recipe, shared by the few-shot demo and
`zeroi2v.train --dataset toy`: the tiny toy ViT learns only without dropout, at a higher rate, with
adapter scale 1; toy classes are directions (left/right, cw/ccw), so clips are never mirrored; its
decoded frames are small enough to keep in memory.

Importing this module does not import torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

TOY_BACKBONE = "vit_tiny_patch16_224"
TOY_VIT = dict(img_size=64, patch_size=16, embed_dim=96, depth=4, num_heads=6)  # 17 tokens per frame
TOY_DATASETS = ("toy", "toy_time")  # the generated toy sets (zeroi2v.data.toy): appearance+motion, time-only
TOY_PRETRAINED = "toy-image-vit"  # on toy: the tiny ViT image-pretrained on toy frames (zeroi2v.model.toyvit, cached)
REAL_BACKBONE = "vit_base_patch16_clip_224"
# --loader of every command: "float32" = float resize, normalised on the worker (the toy's; the reference
# numbers); "uint8" = uint8 clips out, normalised on the accelerator by the consumer (`zeroi2v.training.engine.to_input`: the
# same numbers on CPU, normalisation is elementwise IEEE); "uint8+fast" = uint8 out + torch's uint8 resize kernel
# (within one grey level of the float resize; real data's default: the >= 0.8x-of-decode path, see the README)
LOADERS = {"float32": dict(normalize=True, fast_resize=False), "uint8": dict(normalize=False, fast_resize=False),
           "uint8+fast": dict(normalize=False, fast_resize=True)}
AMP = ("auto", "bf16", "fp16", "none")  # --amp of every command (zeroi2v.training.trainer.amp_dtype maps them to dtypes)


@dataclass(frozen=True)
class DatasetDefaults:
    """What an unset flag means on one dataset. `size=None`: the data's own frame size (toy).
    `reader`: the zeroi2v.data reader of zeroi2v.train's dataset of that name."""

    reader: str | None = None
    frames: int = 8
    size: int | None = 224
    test_views: str = "1x3"  # CLIPSxCROPS at test time (zeroi2v.train)
    sampling: str = "uniform"  # "uniform" (TSN segments) or "dense" (consecutive frames at `interval`)
    interval: int | None = None
    test_split: str = "test"  # the split zeroi2v.train evaluates on
    stdha: str = "default"  # STDHA offset spec (zeroi2v.model.stdha)
    epochs: int = 30  # full-supervised training
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 2.5
    head_dropout: float = 0.5
    adapter_dropout: float = 0.1
    adapter_scale: float = 0.5
    flip: bool = True  # horizontal flip in training (SSv2: with its left/right label map)
    crop_scale: tuple[float, float] = (0.25, 1.0)  # RandomResizedCrop area range in training
    keep_decoded: bool = False  # decode every training video once and keep it in memory
    # loader workers' output (zeroi2v.settings.defaults.LOADERS): uint8 clips normalised on the device, uint8 resize
    loader: str = "uint8+fast"
    select: str = "val"  # few-shot adaptation: keep the epoch with the best val accuracy ("val") or the last
    adapt_epochs: int = 10  # few-shot adaptation on the base classes
    adapt_batch_size: int = 8
    adapt_warmup_epochs: float = 1.0


_REAL = DatasetDefaults()
DATASET_DEFAULTS: dict[str, DatasetDefaults] = {
    # the toy's six val classes stay at chance for every method and epoch (measured), so selecting the
    # epoch on them would pick one at random: the last epoch is kept
    "toy": DatasetDefaults(reader="toy", size=None, test_views="1x1", epochs=20, batch_size=16, lr=2e-3,
                           head_dropout=0.0, adapter_dropout=0.0, adapter_scale=1.0, flip=False,
                           crop_scale=(0.6, 1.0), keep_decoded=True, select="last", adapt_epochs=30,
                           loader="float32"),
    # the time-only toy (zeroi2v.data.toy_time): its classes are learnable from frame pairs, so the epoch is
    # selected on val episodes; clips hold every frame, never cropped (a crop rescales the motion), never mirrored
    "toy_time": DatasetDefaults(reader="toy_time", size=None, test_views="1x1", epochs=20, batch_size=16, lr=2e-3,
                                head_dropout=0.0, adapter_dropout=0.0, adapter_scale=1.0, flip=False,
                                crop_scale=(1.0, 1.0), keep_decoded=True, select="val", adapt_epochs=30,
                                adapt_batch_size=8, loader="float32", stdha="-1:1,1:1"),
    "hmdb51": replace(_REAL, reader="hmdb51"),
    "ucf101": replace(_REAL, reader="ucf101"),
    "ssv2": replace(_REAL, reader="ssv2", test_views="2x3", test_split="val", stdha="ssv2", epochs=50),
    "k400": replace(_REAL, reader="kinetics", sampling="dense", interval=16, test_split="val"),
    "list": replace(_REAL, reader="list"),  # your own videos: <root>/train.txt, val.txt, test.txt (+ classes.txt)
}
TRAIN_DATASETS = tuple(DATASET_DEFAULTS)
# zeroi2v.train dataset name -> zeroi2v.data reader (a new dataset: its reader module, its READERS entry, a row above)
TRAIN_READERS = {name: row.reader for name, row in DATASET_DEFAULTS.items()}
# few-shot benchmark name -> the row of the videos it is cut from
FEWSHOT_ROWS = {"toy": "toy", "toy_time": "toy_time", "ssv2_full": "ssv2", "ssv2_small": "ssv2", "ssv2": "ssv2", "kinetics100": "k400",
                "hmdb51": "hmdb51", "ucf101": "ucf101", "list": "list"}


def defaults_for(dataset: str) -> DatasetDefaults:
    """The defaults row of a training or few-shot dataset name; KeyError names the known ones."""
    row = dataset if dataset in DATASET_DEFAULTS else FEWSHOT_ROWS.get(dataset)
    if row is None:
        raise KeyError(f"no defaults for dataset {dataset!r}; known: "
                       f"{', '.join(dict.fromkeys([*DATASET_DEFAULTS, *FEWSHOT_ROWS]))}")
    return DATASET_DEFAULTS[row]


def default_backbone(dataset: str) -> str:
    return TOY_BACKBONE if dataset in TOY_DATASETS else REAL_BACKBONE


def default_num_workers() -> int:
    """DataLoader workers per process: min(8, cores per process - 1), at least 1."""
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, per_process - 1))
