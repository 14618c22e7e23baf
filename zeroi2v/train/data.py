"""zeroi2v.train's data: the videos of the train and test splits (or an all-way K-shot list), the
training dataset and the sharded multi-view test loader."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from zeroi2v import data
from zeroi2v.training import distributed as D
from zeroi2v.training import engine
from zeroi2v.settings.datasets import find
from zeroi2v.settings.defaults import LOADERS, defaults_for
from zeroi2v.utils.errors import UserError
from zeroi2v.training.trainer import log_main as log  # noqa: F401 (zeroi2v.train's log, re-exported)
from zeroi2v.training.trainer import seed_worker

from zeroi2v.train.config import TrainConfig


class Indexed(torch.utils.data.Dataset):
    """(video, label, index): the index identifies a video across ranks in evaluation."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        video, label = self.ds[i]
        return video, label, i

    @property
    def input_norm(self):
        return self.ds.input_norm


def load_items(cfg: TrainConfig):
    """(train items, test items, class names, data root)."""
    root = data.resolve_root(cfg.reader, cfg.data_root)
    test_split = defaults_for(cfg.dataset).test_split
    train = data.list_videos(cfg.reader, root, "train", fold=cfg.split, on_error=cfg.on_error)
    test = data.list_videos(cfg.reader, root, test_split, fold=cfg.split, on_error=cfg.on_error)
    log(f"read {len(train)} train / {len(test)} {test_split} videos of {cfg.dataset} (fold {cfg.split}) from {root}")
    if not train or not test:
        raise UserError(f"{cfg.dataset} under {root} has {len(train)} train and {len(test)} {test_split} videos; "
                        f"both splits need videos")
    unseen = sorted({v.class_name for v in test} - {v.class_name for v in train})
    if unseen:  # full-supervised accuracy on classes the model never trains on is 0 by construction
        raise UserError(f"{len(unseen)} {test_split} class(es) of {cfg.dataset} under {root} never appear in its "
                        f"train list (first: {unseen[0]!r}); full-supervised training needs them among the training "
                        f"classes -- for disjoint base/val/novel class splits use python -m fewshot.run")
    num_classes = 1 + max(v.label for v in train + test)
    names = [""] * num_classes
    for v in train + test:
        names[v.label] = v.class_name
    if cfg.kshot:
        train = kshot_items(cfg, root, train)
    return train, test, names, root


def kshot_items(cfg: TrainConfig, root: Path, train: list) -> list:
    from episodes.allway import allway_filename, read_allway_list

    k, fold = cfg.kshot
    folder = Path(cfg.allway_dir or os.environ.get("ZEROI2V_ALLWAY_DIR") or Path(root) / "allway").expanduser()
    candidates = [folder / allway_filename(name, k, fold) for name in dict.fromkeys((cfg.reader, cfg.dataset))]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise UserError(f"all-way list not found (looked for {', '.join(map(str, candidates))}); create it with "
                        f"`python -m episodes allway --dataset {cfg.reader} --data-root {root} --out DIR` and "
                        f"pass --allway-dir DIR")
    by_id = {v.video_id: v for v in train}
    items = []
    for video_id, label in read_allway_list(path):
        item = by_id.get(video_id)
        if item is None:
            raise UserError(f"{path}: video {video_id!r} is not in the {cfg.dataset} training list (fold {cfg.split}); "
                            f"regenerate the all-way lists for this dataset root and fold")
        if item.label != label:
            raise UserError(f"{path}: video {video_id!r} has label {label}, the dataset says {item.label}; "
                            f"regenerate the all-way lists")
        items.append(item)
    log(f"read all-way {k}-shot fold {fold} list {path}: {len(items)} videos, "
        f"{len({v.label for v in items})} classes")
    return items


def build_datasets(cfg: TrainConfig, train_items, test_items, class_names, mean, std, info: D.DistInfo):
    """(training dataset, test loader): the trainer shards and orders the training data itself."""
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    common = dict(num_frames=cfg.frames, size=cfg.size, mean=mean, std=std, sampling=cfg.sampling,
                  interval=cfg.interval, on_error=cfg.on_error, seed=cfg.seed, decoder=cfg.decoder, **LOADERS[cfg.loader])
    flip_map = data.flip_label_map(class_names) if find(cfg.dataset).flip_label_map else None
    d = defaults_for(cfg.dataset)  # toy classes are directions (left/right, cw/ccw): never mirrored
    aug = dict(flip=d.flip if cfg.flip is None else cfg.flip, crop_area=cfg.crop_area or d.crop_area)
    for key in ("crop_ratio", "short_side", "randaugment", "erasing", "erasing_mode", "randaugment_after_flip"):
        # set by --recipe or their flags
        if getattr(cfg, key):
            aug[key] = getattr(cfg, key)
    train_ds = data.VideoClipDataset(train_items, train=True, flip_map=flip_map, keep_decoded=d.keep_decoded,
                                     **aug, **common)
    clips, crops = engine.parse_views(cfg.test_views)
    test_ds = data.VideoClipDataset(test_items, train=False, num_clips=clips, num_crops=crops, **common)
    test_sampler = DistributedSampler(test_ds, num_replicas=info.world_size, rank=info.rank, shuffle=False)
    test_loader = DataLoader(Indexed(test_ds), batch_size=cfg.eval_batch_size, sampler=test_sampler,
                             generator=torch.Generator().manual_seed(cfg.seed), num_workers=cfg.num_workers,
                             pin_memory=info.device.type == "cuda", worker_init_fn=seed_worker)
    return train_ds, test_loader
