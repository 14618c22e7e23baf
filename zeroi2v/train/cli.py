"""Full-supervised (and all-way K-shot) training and evaluation of ZeroI2V.

    python -m zeroi2v.train --dataset toy --epochs 2
    python -m zeroi2v.train --dataset NAME --fold 1 --data-root R --pretrained ViT-B-16.pt --out runs/NAME
    torchrun --nproc_per_node 8 -m zeroi2v.train --dataset k400 --data-root R --pretrained F --out runs/k400
    python -m zeroi2v.train --dataset NAME ... --train-subset kshot:2:1 --allway-dir lists/   # all-way K-shot

Toy (the default demo data, generated on first use): the few-shot demo's tiny ViT (patch 16, dim 96,
depth 4, 6 heads) image-pretrained on toy frames (`zeroi2v.model.toyvit`, cached; --pretrained none for
random init) on the toy's 64 px frames, 8 frames, 1x1 test view, lr 2e-3 without dropout, adapter
scale 1, 20 epochs (the few-shot demo's toy recipe) -- about 1.5 minutes on 2 CPU cores.
Real datasets: the original recipe's CLIP backbone (QuickGELU) at 224 px; --pretrained is required.

Recipes (zeroi2v.settings.recipes, `--list-recipes`): `--recipe NAME`, by default the original config of
--dataset/--backbone ("toy" on toy; `--recipe none`: zeroi2v.settings.defaults' row only), fills every flag
left unset -- frames, STDHA, adapters, label smoothing, RandAugment/erasing/crop, AdamW with decay on
biases, LinearLR warm-up from 0.1x then per-epoch cosine, epochs, batch -- and gradient accumulation
makes up the original global batch of 64 (lr scaled by the global batch where the original does;
both printed). The resolved recipe is printed and saved in config.json and the record. Training runs
through the one trainer (zeroi2v.training.trainer): each epoch rank 0 writes <out>/checkpoint.pt atomically
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

from zeroi2v.training import distributed as D
from zeroi2v.utils.errors import UserError, cli

from zeroi2v.train.config import TrainConfig, build_parser as _build_parser, parse_args, resolve_config  # noqa: F401
from zeroi2v.train.run import run

__all__ = ["main", "run", "build_parser", "parse_args", "resolve_config", "TrainConfig", "UserError", "D"]


def build_parser():
    return _build_parser(__doc__)


@cli
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__)
    if args.list_recipes:
        from zeroi2v.settings.recipes import recipe_summary_markdown, recipe_table_markdown

        print(recipe_summary_markdown())
        print(recipe_table_markdown())
        return 0
    info = D.init_distributed(args.device)
    try:
        return run(args, info)
    finally:
        D.cleanup()


if __name__ == "__main__":
    sys.exit(main())
