"""Full-supervised (and all-way K-shot) training and evaluation of ZeroI2V.

    python -m zeroi2v.train --dataset toy --epochs 2
    python -m zeroi2v.train --dataset ucf101 --split 1 --data-root R --pretrained ViT-B-16.pt --out runs/ucf
    torchrun --nproc_per_node 8 -m zeroi2v.train --dataset k400 --data-root R --pretrained F --out runs/k400
    python -m zeroi2v.train --dataset hmdb51 ... --train-subset kshot:2:1 --allway-dir lists/   # all-way K-shot

Toy (the default demo data, generated on first use): the few-shot demo's tiny ViT (patch 16, dim 96,
depth 4, 6 heads) image-pretrained on toy frames (`zeroi2v.toyvit`, cached; --pretrained none for
random init) on the toy's 64 px frames, 8 frames, 1x1 test view, lr 2e-3 without dropout, adapter
scale 1, 20 epochs (the few-shot demo's toy recipe) -- about 1.5 minutes on 2 CPU cores.
Real datasets: vit_base_patch16_clip_224 at 224 px, 8 frames, and --pretrained is required.

Defaults per dataset: zeroi2v.defaults (one table for every program). Recipe (original defaults):
AdamW lr 3e-4, weight decay 0.05 (none on norms, biases, embeddings), linear warm-up then cosine,
head dropout 0.5, optional label smoothing, bf16/fp16 autocast on CUDA, gradient accumulation
(--accum). Batch size and lr are per optimizer step as given (no scaling). Training runs through
the one trainer (zeroi2v.trainer): each epoch rank 0 writes <out>/checkpoint.pt atomically
(trainable weights, optimiser, scheduler, RNG states of every rank as tensors, epoch, step; read
with weights_only=True) and <out>/metrics.csv + metrics.jsonl (--tensorboard, --wandb PROJECT:
also there); --resume continues from it when the model identity (backbone, timm kwargs, frames,
STDHA, pretrained sha256, method, frozen weights, data) and the training settings match.
--config FILE replays an earlier run's config.json (flags beside it override single fields).
After training the model is evaluated with --test-views (clips x crops, softmax averaged per video),
merged, evaluated again, exported to <out>/merged.safetensors, and a result record is written to <out>/records/.
Under torchrun (gloo on CPU, nccl on GPU) data are sharded with DistributedSampler, metrics are
all-reduced and evaluation de-duplicates the padded videos; logs and files come from rank 0.
"""
from __future__ import annotations

import sys

from zeroi2v import distributed as D
from zeroi2v.errors import UserError, cli

from .config import DATASETS, TrainConfig, build_parser as _build_parser, parse_args, resolve_config  # noqa: F401
from .run import run

__all__ = ["main", "run", "build_parser", "parse_args", "resolve_config", "TrainConfig", "DATASETS", "UserError", "D"]


def build_parser():
    return _build_parser(__doc__)


@cli
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__)
    if args.list_recipes:
        from zeroi2v.recipes import recipe_table_markdown

        print(recipe_table_markdown())
        return 0
    info = D.init_distributed(args.device)
    try:
        return run(args, info)
    finally:
        D.cleanup()


if __name__ == "__main__":
    sys.exit(main())
