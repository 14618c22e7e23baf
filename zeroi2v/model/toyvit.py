"""Image pre-training of the demo's tiny ViT on the toy frame set, cached.

The demo needs an *image* model to adapt, as ZeroI2V adapts CLIP on real data. No weights can be
downloaded, so a tiny timm ViT is trained on single toy frames: classify the object's shape x colour
and regress where it is and how big (x, y, radius), from the pooled CLS feature. It knows what is in
a frame and where, and nothing about motion. (With shape x colour alone its features discard
position, and no adapter can recover motion from them in the demo's budget.) The checkpoint is a
plain timm state dict (`.pth`, the regression head dropped), loaded through the same local-file path
as CLIP weights, and cached by a hash of everything that determines it, so later runs reuse it.

On the time-only toy (`zeroi2v.data.toy_time`) the frames are single frames drawn like every frame
of its videos. Pattern "order": a random texture in one of 8 hues, classified by its hue (what a
frame holds; nothing about order). Pattern "motion": one object on a torus, and "where" is its
centre on the torus: cos and sin of 2 pi x and of 2 pi y, and its radius -- continuous across the
wrap, as the videos are.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from zeroi2v.settings.defaults import TOY_BACKBONE, TOY_VIT  # the one definition (re-exported here)
from zeroi2v.utils.io import atomic_torch_save, sha256_json

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class PretrainConfig:
    backbone: str = TOY_BACKBONE
    timm_kwargs: dict = field(default_factory=lambda: dict(TOY_VIT))
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    class_weight: float = 0.1  # loss = class_weight * CE(shape x colour) + MSE(standardised x, y, r)
    seed: int = 0

# Standardisation of the geometry targets (the toy draws x, y ~ U(0.3, 0.7), r ~ U(0.12, 0.24)).
GEOMETRY_MEAN, GEOMETRY_STD = (0.5, 0.5, 0.18), (0.2, 0.2, 0.06)
# time-only toy: cos/sin of the torus position (mean 0, std 1/sqrt 2), radius ~ U(0.12, 0.2)
TIME_GEOMETRY_MEAN, TIME_GEOMETRY_STD = (0.0, 0.0, 0.0, 0.0, 0.16), (0.7071, 0.7071, 0.7071, 0.7071, 0.0231)
TIME_PRETRAIN_IMAGES = 2160  # single frames drawn for the time-only toy's pre-training (60 per class)


def _training_frames(toy_root: Path, toy_meta: dict):
    """(images uint8 (N, 3, H, W), labels, class names, standardised geometry (N, G), index of the
    geometry column that a horizontal flip negates, or None when there is no geometry (G = 0))."""
    from zeroi2v import data
    from zeroi2v.data import toy_time

    if toy_meta.get("format") == toy_time.FORMAT:
        images, labels, names, geo = toy_time.image_frames(toy_meta["config"], TIME_PRETRAIN_IMAGES)
        if geo.shape[1] == 0:  # the order pattern: the hue alone (no geometry; a mirrored frame keeps its hue)
            return torch.from_numpy(images), torch.from_numpy(labels), names, torch.from_numpy(geo), None
        geo = (torch.from_numpy(geo) - torch.tensor(TIME_GEOMETRY_MEAN)) / torch.tensor(TIME_GEOMETRY_STD)
        return torch.from_numpy(images), torch.from_numpy(labels), names, geo, 1  # flip: sin(2 pi x) -> -sin
    images, labels, names = data.load_toy_frames(toy_root)  # (N, 3, H, W) uint8
    geometry = (data.load_toy_geometry(toy_root) - torch.tensor(GEOMETRY_MEAN)) / torch.tensor(GEOMETRY_STD)
    return images, labels, names, geometry, 0  # flip: x -> -x (standardised)


def cache_dir() -> Path:
    return Path(os.environ.get("ZEROI2V_CACHE", Path.home() / ".cache" / "zeroi2v"))


def pretrain_toy_vit(toy_root: Path, cfg: PretrainConfig = PretrainConfig(), *, mean, std,
                     cache_root: Path | None = None) -> Path:
    """Train (or reuse) the tiny image ViT on toy frames; returns the checkpoint path."""
    import json

    import timm

    toy_meta = (Path(toy_root) / "toy.json").read_text()
    path = (cache_root or cache_dir()) / "pretrained" / f"toy-vit-{sha256_json([asdict(cfg), toy_meta])[:16]}.pth"
    if path.is_file():
        log.info("image backbone: reusing %s", path)
        return path
    images, labels, names, geometry, flipped = _training_frames(Path(toy_root), json.loads(toy_meta))
    log.info("image pre-training %s on %d toy frames: %d classes (%s)%s", cfg.backbone, len(images), len(names),
             ", ".join(names[:3]) + (", ..." if len(names) > 3 else ""),
             "" if flipped is None else " + object position and size")
    torch.manual_seed(cfg.seed)
    model = timm.create_model(cfg.backbone, num_classes=len(names), **cfg.timm_kwargs)
    where = torch.nn.Linear(model.embed_dim, geometry.shape[1])  # regression head on the pooled CLS feature
    H = cfg.timm_kwargs.get("img_size", images.shape[-1])
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    params = list(model.parameters()) + list(where.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-len(images) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    bar = tqdm(total=steps, desc="image pre-training", unit="step")
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(images), generator=g).split(cfg.batch_size):
            x = images[idx].float() / 255
            if x.shape[-1] != H:
                x = F.interpolate(x, size=(H, H), mode="bilinear", align_corners=False)
            flip = torch.rand(len(idx), generator=g) < 0.5  # mirrored frames: same class, x negated
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            feats = model.forward_head(model.forward_features((x - mean_t) / std_t), pre_logits=True)  # (B, D)
            ce = F.cross_entropy(model.head(feats), labels[idx])
            if flipped is None:  # no geometry to regress
                mse, loss = torch.zeros(()), ce
            else:
                target = geometry[idx].clone()
                target[flip, flipped] = -target[flip, flipped]
                mse = F.mse_loss(where(feats), target)
                loss = cfg.class_weight * ce + mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(ce=f"{ce.item():.3f}", mse=f"{mse.item():.3f}")
    bar.close()
    model.reset_classifier(0)
    atomic_torch_save(model.state_dict(), path)
    log.info("wrote image backbone %s", path)
    return path
