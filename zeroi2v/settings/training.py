"""The training settings: one frozen object that the one trainer (`zeroi2v.training.trainer.fit`) reads.

A recipe fills it (`zeroi2v.settings.recipes.Recipe.train_settings`), few-shot adaptation changes
it with `dataclasses.replace` (fewshot/recipe.py), and a program's flags override single fields
the same way. The optimizer and the lr schedule are built from it and nothing else
(`zeroi2v.training.optim.build_optimizer`, `schedule`), so a recipe value reaches the optimizer
along one path: Recipe field -> TrainSettings field -> optim.

Importing this module does not import torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("cosine", "cosine_epoch")  # per optimizer step (this suite's) | the originals' LinearLR x per-epoch cosine
KEEP = ("best", "last")  # the epoch whose weights a run ends with
AMP = ("auto", "bf16", "fp16", "none")
FREE_TO_CHANGE = ("epochs", "num_workers", "log_every", "progress")  # may differ on resume


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides how a model is trained (the data pipeline aside)."""

    epochs: int
    batch_size: int  # clips per micro-batch: per process ("sampler"); global, split over ranks ("generator")
    lr: float  # peak learning rate of the head's parameter groups
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW
    bias_decay: bool = False  # the original recipes decay biases too
    backbone_lr_mult: float = 1.0  # lr multiplier of every trainable parameter but the head (ViT-L: 0.1)
    warmup_epochs: float = 2.5
    warmup_start: float = 0.0  # warm-up starts at this fraction of lr (original: 0.1); 0: (step+1)/warmup
    # "cosine": warm-up, then cosine per optimizer step (this suite's); "cosine_epoch": the originals' mmengine
    # chain, LinearLR per iteration x CosineAnnealingLR per epoch, both from epoch 0 (zeroi2v.training.optim)
    schedule: str = "cosine"
    iters_per_step: int = 1  # "cosine_epoch": the original's iterations per optimizer step (its accumulative_counts)
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr
    accum: int = 1  # micro-batches per optimizer step
    label_smoothing: float = 0.0
    clip_grad: float | None = None
    amp: str = "auto"  # CUDA: auto = fp16 (+ loss scaling) | bf16 | none (float32); CPU: float32 always
    keep: str = "last"  # "last": the last epoch; "best": the epoch with the highest epoch-end val_metric
    seed: int = 0
    num_workers: int = 0
    # "sampler": a DistributedSampler (seed, epoch) shuffles, last partial batch kept (zeroi2v.train);
    # "generator": a generator seeded seed*1000+epoch shuffles, the last partial batch dropped; under
    # torchrun each rank takes its batch_size/world slice of the same global batches (few-shot
    # adaptation: N processes train the one-process model)
    data_order: str = "sampler"
    log_every: int = 0  # log a line every N optimizer steps
    progress: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: use {' or '.join(SCHEDULES)}")
        if self.keep not in KEEP:
            raise ValueError(f"keep {self.keep!r}: use {' or '.join(KEEP)}")
        if self.data_order not in ("sampler", "generator"):
            raise ValueError(f"data_order {self.data_order!r}: use sampler or generator")
        if self.amp not in AMP:
            raise ValueError(f"amp {self.amp!r}: use one of {', '.join(AMP)}")

    def resume_key(self) -> dict[str, Any]:
        """The settings a resumed run must share with its checkpoint."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in FREE_TO_CHANGE}
