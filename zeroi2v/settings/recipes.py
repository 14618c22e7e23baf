"""The original ZeroI2V training recipes as data: one frozen `Recipe` per original config.

Every value of the nine CLIP recipes is transcribed from the authors' mmaction2 configs
(`configs/recognition/vit_zero_clip/*.py`: the K400 and SSv2 files of MCG-NJU/ZeroI2V, the
HMDB51/UCF101 split-1 files of leexinhao/ZeroI2V) and the code they name (`ViT_Zero_CLIP*`
backbones, `stdha*.py`, `GradMonitorSwinOptimWrapperConstructor`); tests/test_recipes.py checks
each field against a table transcribed from those files. "toy" is this suite's demo recipe.

How the original settings map to fields:
- STDHA: the original shifts channel blocks of K/V: `shift_div` d gives width/d channels (= heads
  of 64 channels) at -1 then as many at +1, `long_shift_div` one block at -2 (and one at +2 with
  `long_shift_right`), ViT-L SSv2's `shift3_div` one at -3. As a spec: "-1:1,1:1,-2:1,2:1".
- Adapter dropout: the backbone's `dropout_rate` (default 0.1 in every ViT_Zero_CLIP* class).
- Weight decay: the Swin-style constructor sets decay 0 only on names containing class_embedding,
  positional_embedding, temporal_embedding, ln_1/ln_2/ln_pre/ln_post: biases *are* decayed.
- `backbone=dict(lr_mult=0.1)` (ViT-L) multiplies the lr of every trainable backbone parameter
  (adapters, temporal embedding, final norm): only the classifier head keeps the full lr.
- Schedule: LinearLR from 0.1x over 2.5 epochs (per iteration) and CosineAnnealingLR(T_max=epochs,
  eta_min=0) stepped per epoch, both from epoch 0 (mmengine chains them: during warm-up the two
  factors multiply) -- `schedule="cosine_epoch"` of zeroi2v.training.optim, `optim.lr_trace`.
- Batch: the configs give the batch per GPU (`train_dataloader.batch_size`) and
  `accumulative_counts`; the authors trained on 8 GPUs (MCG-NJU/ZeroI2V README, "Training"), so
  `global_batch` = batch per GPU x 8 x accumulation: 64 (ViT-B K400, ViT-L K400 8x16), 32 (ViT-B
  SSv2 4 x 8, ViT-L K400 32x4 and ViT-L SSv2 2 x 8 x 2), 128 (HMDB51/UCF101 16 x 8). mmengine's
  `auto_scale_lr` scales lr by (GPUs x batch per GPU) / base_batch (mmengine Runner.scale_lr:
  world size x train_dataloader.batch_size, accumulation not counted), i.e. by
  global_batch / (accumulation x base_batch) -- see `Recipe.lr_for`. So the ViT-L 32x4 and SSv2
  configs ran at lr 3e-4 x 16 / 32 = 1.5e-4 (their base_batch_size 32 is the global batch, not
  the 16 per iteration); ViT-B SSv2 and HMDB51/UCF101 disable the scaling (lr 3e-4 as written).
- Checkpoint: `default_hooks.checkpoint.save_best='auto'` (the val accuracy; val = the test list in
  every config): the best validated epoch is tested, `keep="best"`.
- Init: ViT_Zero_CLIP's `init_weights` gives the adapters' first Linear trunc_normal(std 0.02), bias
  0, the second zero; I3DHead's `init_weights` normal(std 0.01), bias 0: `init="original"`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zeroi2v.utils.errors import UserError

ORIGINAL_REPO = "MCG-NJU/ZeroI2V"  # K400 / SSv2 configs
SPLITS_REPO = "leexinhao/ZeroI2V"  # HMDB51 / UCF101 split-1 configs (the authors' development repo)
CONFIG_DIR = "configs/recognition/vit_zero_clip"
CLIP_B16 = "vit_base_patch16_clip_quickgelu_224"  # OpenAI CLIP uses QuickGELU (original: QuickGELU class)
CLIP_L14 = "vit_large_patch14_clip_quickgelu_224"


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # the original config file (repository path), or "" for this suite's own recipes
    dataset: str  # zeroi2v.train dataset name
    num_classes: int | None
    backbone: str  # timm name
    weights: str  # the image weights the recipe starts from
    # clip sampling
    frames: int
    sampling: str  # "uniform" (UniformSample) | "dense" (SampleFrames clip_len x interval) | "tsn" (the toy's)
    interval: int | None
    num_clips_train: int
    # model
    stdha: str  # offset spec "Δ:heads,..." (heads taken in this order, from head 0)
    adapter_ratio: float
    adapter_scale: float
    adapter_dropout: float
    head_dropout: float
    label_smoothing: float
    # training augmentation, in pipeline order given by `randaugment_after_flip`
    short_side: int | None  # Resize(scale=(-1, short_side)) before cropping; None: keep the frames' size
    size: int | None  # crop resized to size x size; None: the frames' own size (toy)
    randaugment: tuple[int, int] | None  # (magnitude, num_layers), same ops for every frame
    randaugment_after_flip: bool  # SSv2 configs: crop -> flip -> RandAugment; others: RandAugment -> crop -> flip
    crop_area: tuple[float, float]
    crop_ratio: tuple[float, float]
    flip: float
    flip_label_map: bool  # swap left/right classes on flip (SSv2's sthv2_flip_label_map)
    erasing: float  # RandomErasing probability
    erasing_mode: str | None  # "const" (fill 128) | "rand" (random pixels) | None
    # optimisation
    optimizer: str
    lr: float
    weight_decay: float
    bias_decay: bool
    betas: tuple[float, float]
    warmup_epochs: float
    warmup_start: float  # LinearLR start_factor
    schedule: str
    min_lr: float  # CosineAnnealingLR eta_min
    epochs: int
    batch_per_gpu: int
    accumulation: int
    global_batch: int
    lr_scaling: str | None  # "linear" (auto_scale_lr enabled) | None
    base_batch: int | None  # auto_scale_lr base_batch_size
    backbone_lr_mult: float
    amp: str  # AmpOptimWrapper: fp16 autocast with loss scaling
    keep: str  # the tested checkpoint: "best" (save_best='auto': best val accuracy) | "last"
    init: str  # "original" (head normal 0.01, adapters trunc_normal 0.02) | "torch" (nn.Linear defaults)
    # test views
    test_short_side: int | None
    test_clips: int
    test_crops: int
    test_average: str  # "prob": softmax probabilities averaged over views

    def lr_for(self, global_batch: int | None = None) -> float:
        """The lr the original would use at `global_batch` (default: the recipe's).

        With `lr_scaling="linear"` mmengine multiplies lr by (GPUs x batch per GPU) / base_batch;
        with the recipe's accumulation that is global_batch / (accumulation x base_batch).
        """
        if self.lr_scaling is None:
            return self.lr
        g = self.global_batch if global_batch is None else global_batch
        return self.lr * g / (self.accumulation * self.base_batch)

    def model_kwargs(self) -> dict:
        """Keyword arguments of `zeroi2v.create_model` (besides backbone, classes and weights)."""
        return dict(num_frames=self.frames, stdha=self.stdha, adapter_ratio=self.adapter_ratio,
                    adapter_scale=self.adapter_scale, adapter_dropout=self.adapter_dropout,
                    head_dropout=self.head_dropout, init=self.init)

    def train_data_kwargs(self) -> dict:
        """Keyword arguments of the training `zeroi2v.data.VideoClipDataset` (besides items, size and
        normalisation): sampling and augmentation."""
        return dict(num_frames=self.frames, sampling=self.sampling, interval=self.interval, flip=self.flip,
                    crop_area=self.crop_area, crop_ratio=self.crop_ratio, short_side=self.short_side,
                    randaugment=self.randaugment, randaugment_after_flip=self.randaugment_after_flip,
                    erasing=self.erasing, erasing_mode=self.erasing_mode)

    def augmentation_kwargs(self) -> dict:
        """`train_data_kwargs` without the clip sampling (num_frames, sampling, interval): the augmentation alone."""
        return {k: v for k, v in self.train_data_kwargs().items() if k not in ("num_frames", "sampling", "interval")}

    def train_settings(self, *, epochs: int | None = None, batch_size: int | None = None, processes: int = 1,
                       accum: int | None = None, lr: float | None = None):
        """The `zeroi2v.settings.training.TrainSettings` this recipe trains with: its optimiser, schedule,
        precision and checkpoint rule; `epochs` (default the recipe's; warm-up `warmup_for`), micro-batch
        `batch_size` (default its batch per GPU) on `processes`, and the accumulation and lr of
        `batch_plan` unless given. Programs change single fields with `dataclasses.replace`."""
        from zeroi2v.settings.training import TrainSettings

        epochs = self.epochs if epochs is None else epochs
        batch = self.batch_per_gpu if batch_size is None else batch_size
        accum, lr, _ = batch_plan(self, batch_size=batch, processes=processes, accum=accum, lr=lr)
        return TrainSettings(
            epochs=epochs, batch_size=batch, lr=lr, weight_decay=self.weight_decay, betas=self.betas,
            bias_decay=self.bias_decay, backbone_lr_mult=self.backbone_lr_mult,
            warmup_epochs=warmup_for(self, epochs), warmup_start=self.warmup_start, schedule=self.trainer_schedule,
            iters_per_step=self.accumulation, min_lr_ratio=self.min_lr / self.lr, accum=accum,
            label_smoothing=self.label_smoothing, amp=self.amp, keep=self.keep)

    @property
    def trainer_schedule(self) -> str:
        """zeroi2v.training.trainer's schedule: the originals' LinearLR then per-epoch cosine; this suite's per-step cosine."""
        return "cosine_epoch" if self.source else "cosine"

    def test_data_kwargs(self) -> dict:
        """Keyword arguments of the evaluation `VideoClipDataset`: Resize(-1, test_short_side), then
        `test_clips` x `test_crops` views (softmax probabilities averaged per video)."""
        return dict(num_frames=self.frames, sampling=self.sampling, interval=self.interval,
                    short_side=self.test_short_side, num_clips=self.test_clips, num_crops=self.test_crops)

    @property
    def test_views(self) -> str:
        return f"{self.test_clips}x{self.test_crops}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Values shared by every original config (each one still asserted per recipe in tests/test_recipes.py).
_ORIGINAL = dict(
    weights="OpenAI CLIP", num_clips_train=1, adapter_ratio=0.25, adapter_dropout=0.1, head_dropout=0.5,
    label_smoothing=0.0, short_side=256, size=224, randaugment=(7, 4), randaugment_after_flip=False,
    crop_area=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip=0.5, flip_label_map=False, erasing=0.0,
    erasing_mode=None, optimizer="adamw", lr=3e-4, weight_decay=0.05, bias_decay=True, betas=(0.9, 0.999),
    warmup_epochs=2.5, warmup_start=0.1, schedule="cosine", min_lr=0.0, accumulation=1, backbone_lr_mult=1.0,
    amp="fp16", keep="best", init="original", test_short_side=224, test_average="prob",
)
GPUS = 8  # the authors' GPUs (MCG-NJU/ZeroI2V README: "8 GPUs"); global batch = batch per GPU x GPUS x accumulation
_B = dict(_ORIGINAL, backbone=CLIP_B16, weights="OpenAI CLIP ViT-B/16 (ViT-B-16.pt)")
_L = dict(_ORIGINAL, backbone=CLIP_L14, weights="OpenAI CLIP ViT-L/14 (ViT-L-14.pt)")
_SSV2 = dict(label_smoothing=0.1, randaugment_after_flip=True, flip_label_map=True, erasing=0.25,
             erasing_mode="const", epochs=50, test_clips=1, test_crops=3)


def _original(**fields) -> Recipe:
    """An original config's recipe; its global batch is the authors' (batch per GPU x GPUS x accumulation)."""
    return Recipe(**fields, global_batch=fields["batch_per_gpu"] * GPUS * fields["accumulation"])


def _src(repo: str, file: str) -> str:
    return f"{repo}:{CONFIG_DIR}/{file}"


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    _original(name="clip_b16_k400_8x16x1", source=_src(ORIGINAL_REPO, "CLIP-B_k400_8x16x1.py"), dataset="k400",
           num_classes=400, frames=8, sampling="dense", interval=16, stdha="-1:1,1:1", adapter_scale=0.5,
           epochs=40, batch_per_gpu=8, lr_scaling="linear", base_batch=64, test_clips=3, test_crops=1, **_B),
    _original(name="clip_b16_ssv2_u16", source=_src(ORIGINAL_REPO, "CLIP-B_sthv2_u16.py"), dataset="ssv2",
           num_classes=174, frames=16, sampling="uniform", interval=None, stdha="-1:1,1:1,-2:1,2:1",
           adapter_scale=1.0, batch_per_gpu=4, lr_scaling=None, base_batch=64,
           **{**_B, **_SSV2, "adapter_dropout": 0.0}),
    _original(name="clip_b16_hmdb51_u8", source=_src(SPLITS_REPO, "vit_zero_base_clip_hmdb51_u8_split1.py"),
           dataset="hmdb51", num_classes=51, frames=8, sampling="uniform", interval=None, stdha="-1:1,1:1",
           adapter_scale=0.5, epochs=40, batch_per_gpu=16, lr_scaling=None, base_batch=64, test_clips=1,
           test_crops=3, **_B),
    _original(name="clip_b16_hmdb51_u32", source=_src(SPLITS_REPO, "vit_zero_base_clip_hmdb51_u32_split1.py"),
           dataset="hmdb51", num_classes=51, frames=32, sampling="uniform", interval=None,
           stdha="-1:1,1:1,-2:1,2:1", adapter_scale=0.5, epochs=40, batch_per_gpu=16, lr_scaling=None,
           base_batch=64, test_clips=2, test_crops=3, **_B),
    _original(name="clip_b16_ucf101_u8", source=_src(SPLITS_REPO, "vit_zero_base_clip_ucf101_u8_split1.py"),
           dataset="ucf101", num_classes=101, frames=8, sampling="uniform", interval=None, stdha="-1:1,1:1",
           adapter_scale=0.5, epochs=40, batch_per_gpu=16, lr_scaling=None, base_batch=128, test_clips=1,
           test_crops=3, **_B),
    # the UCF101 u32 test pipeline samples 1 clip (HMDB51 u32: num_clips=2)
    _original(name="clip_b16_ucf101_u32", source=_src(SPLITS_REPO, "vit_zero_base_clip_ucf101_u32_split1.py"),
           dataset="ucf101", num_classes=101, frames=32, sampling="uniform", interval=None,
           stdha="-1:1,1:1,-2:1,2:1", adapter_scale=0.5, epochs=40, batch_per_gpu=16, lr_scaling=None,
           base_batch=64, test_clips=1, test_crops=3, **_B),
    _original(name="clip_l14_k400_8x16x1", source=_src(ORIGINAL_REPO, "CLIP-L_k400_8x16x1.py"), dataset="k400",
           num_classes=400, frames=8, sampling="dense", interval=16, stdha="-1:2,1:2", adapter_scale=0.5,
           epochs=40, batch_per_gpu=8, lr_scaling="linear", base_batch=64, test_clips=3, test_crops=1,
           **{**_L, "backbone_lr_mult": 0.1}),
    _original(name="clip_l14_k400_32x4x1", source=_src(ORIGINAL_REPO, "CLIP-L_k400_32x4x1.py"), dataset="k400",
           num_classes=400, frames=32, sampling="dense", interval=4, stdha="-1:2,1:2,-2:2", adapter_scale=0.5,
           epochs=40, batch_per_gpu=2, lr_scaling="linear", base_batch=32, test_clips=3, test_crops=1,
           **{**_L, "backbone_lr_mult": 0.1, "accumulation": 2, "erasing": 0.25, "erasing_mode": "rand"}),
    _original(name="clip_l14_ssv2_u32", source=_src(ORIGINAL_REPO, "CLIP-L_sthv2_u32.py"), dataset="ssv2",
           num_classes=174, frames=32, sampling="uniform", interval=None, stdha="-1:2,1:2,-2:1,2:1,-3:1",
           adapter_scale=1.0, batch_per_gpu=2, lr_scaling="linear", base_batch=32,
           **{**_L, **_SSV2, "backbone_lr_mult": 0.1, "accumulation": 2}),
    # This suite's demo (no original config): the tiny toy ViT (zeroi2v.model.toyvit) on the toy's 64 px
    # frames. It learns only without dropout, at a higher lr, with adapter scale 1; toy classes are
    # directions (left/right, cw/ccw), so no flips; frames are few and small, so one 1x1 test view.
    Recipe(name="toy", source="", dataset="toy", num_classes=None, backbone="vit_tiny_patch16_224",
           weights="toy-image-vit (zeroi2v.model.toyvit, trained on toy frames)", frames=8, sampling="tsn",
           interval=None, num_clips_train=1, stdha="-1:1,1:1", adapter_ratio=0.25, adapter_scale=1.0,
           adapter_dropout=0.0, head_dropout=0.0, label_smoothing=0.0, short_side=None, size=None,
           randaugment=None, randaugment_after_flip=False, crop_area=(0.6, 1.0), crop_ratio=(3 / 4, 4 / 3),
           flip=0.0, flip_label_map=False, erasing=0.0, erasing_mode=None, optimizer="adamw", lr=2e-3,
           weight_decay=0.05, bias_decay=False, betas=(0.9, 0.999), warmup_epochs=2.5, warmup_start=0.0,
           schedule="cosine", min_lr=0.0, epochs=20, batch_per_gpu=16, accumulation=1, global_batch=16,
           lr_scaling=None, base_batch=None, backbone_lr_mult=1.0, amp="auto", keep="last", init="torch",
           test_short_side=None,
           test_clips=1, test_crops=1, test_average="prob"),
)}
ORIGINAL_RECIPES = tuple(n for n in RECIPES if n != "toy")

# What few-shot adaptation (fewshot.run) changes in a recipe -- every other field is the recipe's.
# Besides these the protocol trains on the base classes only and keeps the epoch with the best
# val-episode accuracy (fewshot/adapt.py). Originals: its own epoch count, and one centre view per
# test video (the few-shot protocols' convention; features, not class scores, are compared). The
# toy demo: its own epochs, batch and warm-up (the demo's numbers were measured with them).
FEWSHOT_CHANGES: dict[str, dict] = {
    "original": dict(epochs=10, test_clips=1, test_crops=1),
    "toy": dict(epochs=30, batch_per_gpu=8, global_batch=8, warmup_epochs=1.0),
}


def fewshot_recipe(recipe: Recipe) -> Recipe:
    """The recipe few-shot adaptation runs: `recipe` with FEWSHOT_CHANGES applied (same name)."""
    return dataclasses.replace(recipe, **FEWSHOT_CHANGES["original" if recipe.source else "toy"])


def warmup_for(recipe: Recipe, epochs: int) -> float:
    """The warm-up of a run of `epochs` epochs: the recipe's, at most a quarter of the run."""
    return min(recipe.warmup_epochs, epochs / 4)


def batch_plan(recipe: Recipe, *, batch_size: int, processes: int = 1, accum: int | None = None,
               lr: float | None = None) -> tuple[int, float, list[str]]:
    """(accumulation, lr, what to log) for micro-batches of `batch_size` clips on each of `processes`.

    Unless `accum` is given, an original recipe reaches its global batch through gradient
    accumulation (accum = global batch / (batch_size x processes), at least 1; the toy: 1). Unless
    `lr` is given it is the recipe's at the resulting global batch (`Recipe.lr_for`)."""
    lines = []
    if accum is None:
        accum = max(1, round(recipe.global_batch / (batch_size * processes))) if recipe.source else 1
        if recipe.source:
            got = batch_size * processes * accum
            lines.append(f"recipe {recipe.name}: global batch {recipe.global_batch} = {batch_size} x {processes} "
                         f"process(es) x --accum {accum}" + ("" if got == recipe.global_batch else f" (= {got})"))
    if lr is None:
        global_batch = batch_size * processes * accum
        lr = recipe.lr_for(global_batch)
        if recipe.lr_scaling == "linear":
            lines.append(f"recipe {recipe.name}: lr {recipe.lr:g} x global batch {global_batch} ({batch_size} x "
                         f"{accum} accum x {processes} process(es)) / ({recipe.accumulation} x base "
                         f"{recipe.base_batch}) = {lr:.3g}")
    return accum, lr, lines


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; use one of {', '.join(RECIPES)} (see --list-recipes)")
    return RECIPES[name]


def default_recipe(dataset: str, backbone: str | None = None) -> str | None:
    """The recipe for a dataset (any spelling) and backbone, from its record (`zeroi2v.settings.datasets`):
    the original config of that dataset for ViT-L backbones (name containing "large") or for every
    other size (ViT-B); "toy" for the toy set; None where the original has none (list datasets,
    ViT-L on HMDB51/UCF101) or the dataset is unknown."""
    from zeroi2v.settings.datasets import RECORDS, find

    if not any(dataset in r.names for r in RECORDS.values()):
        return None
    return find(dataset).recipe_for(backbone)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value).replace("|", "\\|")


def schedule_text(recipe: Recipe) -> str:
    """The lr schedule in words (what zeroi2v.training.optim runs for this recipe)."""
    if recipe.trainer_schedule == "cosine_epoch":
        return (f"LinearLR {recipe.warmup_start:g}->1 over {recipe.warmup_epochs:g} ep (per iter) x cosine per epoch, "
                f"both from epoch 0")
    start = f"from {recipe.warmup_start:g}" if recipe.warmup_start else "from 0"
    return f"warm-up {recipe.warmup_epochs:g} ep {start}, then cosine per step"


def recipe_summary_markdown() -> str:
    """One row per recipe: global batch (per GPU x GPUs x accumulation), lr at it, schedule, tested checkpoint."""
    rows = ["| recipe | global batch | lr | schedule | tested checkpoint | precision (CUDA) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for r in RECIPES.values():
        batch = (f"{r.global_batch} = {r.batch_per_gpu} x {GPUS} x {r.accumulation}" if r.source
                 else f"{r.global_batch}")
        keep = "best val epoch (save_best)" if r.keep == "best" else "last epoch"
        amp = "fp16 + loss scaling" if r.amp in ("fp16", "auto") else r.amp
        rows.append(f"| `{r.name}` | {batch} | {r.lr_for():g} | {schedule_text(r)} | {keep} | {amp} |")
    return "\n".join(rows) + "\n"


def recipe_table_markdown() -> str:
    """The recipe table: one row per field, one column per recipe."""
    names = list(RECIPES)
    rows = [["field", *[f"`{n}`" for n in names]], ["---"] * (len(names) + 1)]
    rows.append(["config file", *[f"`{RECIPES[n].source.rsplit('/', 1)[-1]}`" if RECIPES[n].source else "(suite demo)"
                                  for n in names]])
    for f in dataclasses.fields(Recipe):
        if f.name in ("name", "source"):
            continue
        rows.append([f.name, *[_fmt(getattr(RECIPES[n], f.name)) for n in names]])
    rows.append(["lr at global batch (lr_for)", *[f"{RECIPES[n].lr_for():g}" for n in names]])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"
