"""What an unset flag means: the per-dataset defaults row (`DatasetDefaults`, one per dataset record in
`zeroi2v.settings.datasets`), the toy and real backbones, the loader variants and `--amp` values.

A flag left unset (None) takes its value from the dataset's row; nothing else in the suite holds a
per-dataset default. Real datasets follow the original ZeroI2V recipe (AdamW 3e-4, head dropout 0.5,
adapter dropout 0.1, adapter scale 0.5): the class defaults below. The toy row is the demo's small
recipe ("toy" of zeroi2v.settings.recipes, the one place that holds its values; the row reads them),
shared by the few-shot demo and `zeroi2v.train --dataset toy`: the tiny toy ViT learns only
without dropout, at a higher rate, with adapter scale 1; toy classes are directions (left/right,
cw/ccw), so clips are never mirrored; its decoded frames are small enough to keep in memory.

Importing this module does not import torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

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
    """What an unset flag means on one dataset. `size=None`: the data's own frame size (toy)."""

    frames: int = 8
    size: int | None = 224
    test_views: str = "1x3"  # CLIPSxCROPS at test time (zeroi2v.train)
    sampling: str = "uniform"  # zeroi2v.data.sampling: "uniform" | "dense" (frames at `interval`) | "tsn"
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
    crop_area: tuple[float, float] = (0.25, 1.0)  # RandomResizedCrop area range in training
    keep_decoded: bool = False  # decode every training video once and keep it in memory
    # loader workers' output (zeroi2v.settings.defaults.LOADERS): uint8 clips normalised on the device, uint8 resize
    loader: str = "uint8+fast"
    adapt_keep: str = "best"  # few-shot adaptation: keep the epoch with the best val accuracy ("best") or the "last"
    adapt_epochs: int = 10  # few-shot adaptation on the base classes
    adapt_batch_size: int = 8
    adapt_warmup_epochs: float = 1.0


def defaults_for(dataset: str) -> DatasetDefaults:
    """The defaults row of any spelling of a dataset (`zeroi2v.settings.datasets`); UserError names the known ones."""
    from zeroi2v.settings.datasets import defaults_for as row

    return row(dataset)


def default_backbone(dataset: str) -> str:
    """The backbone of a dataset without a recipe (the record's)."""
    from zeroi2v.settings.datasets import find

    return find(dataset).backbone


def default_num_workers() -> int:
    """DataLoader workers per process: min(8, cores per process - 1), at least 1."""
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, per_process - 1))


def __getattr__(name: str):
    if name == "DATASET_DEFAULTS":  # the rows by dataset name (kept one release; read the records instead)
        from zeroi2v.settings.datasets import RECORDS

        return {r.name: r.defaults for r in RECORDS.values()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
