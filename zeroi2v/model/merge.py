"""Fold every adapter into its neighbouring Linear, prove the result equal, export it.

After `merge_adapters` the model is exactly the timm image model plus STDHA (and the temporal
embedding): zero extra inference cost. `save_merged` never trusts the fold: it compares merged
and unmerged outputs on a random batch, and the written file reloaded against the merged model,
and refuses to write on any mismatch.
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import torch
from torch import nn

from zeroi2v.model.adapters import AdaptedLinear
from zeroi2v.model.weights import EXPORT_FORMAT, IMAGE_EXPORT_FORMAT, encode_tensor
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_path

log = logging.getLogger(__name__)
MERGE_RTOL = 1e-5


class MergeMismatch(UserError):
    """Merged and unmerged models disagree: the export is refused."""


@torch.no_grad()
def merge_adapters(model: nn.Module) -> nn.Module:
    """Replace each `AdaptedLinear` by the equivalent plain `nn.Linear`, in place; returns `model`.

    A model with no adapters left (already merged, or built without) is returned unchanged: the
    fold is never applied twice because the adapter modules are gone after the first.
    """
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, AdaptedLinear)]
    if not targets:
        log.info("merge_adapters: no adapters to fold (already merged); model unchanged")
        return model
    for name, m in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, m.folded())
    return model


@torch.no_grad()
def check_merge(unmerged: nn.Module, merged: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Max absolute and relative (to the output's max magnitude) difference, both in eval mode."""
    modes = unmerged.training, merged.training
    unmerged.eval(), merged.eval()
    try:
        a, b = unmerged(x).double(), merged(x).double()
    finally:
        unmerged.train(modes[0]), merged.train(modes[1])
    max_abs = (a - b).abs().max().item()
    return dict(max_abs=max_abs, max_rel=max_abs / max(a.abs().max().item(), 1e-12))


def random_batch(model: nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A seeded normal batch (B, 3, T, H, W) of the model's input size, on its device."""
    H, W = model.backbone.patch_embed.img_size
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, model.num_frames, H, W, generator=g)
    return x.to(next(model.parameters()).device)


def export_metadata(model: nn.Module) -> dict[str, str]:
    meta = dict(format=EXPORT_FORMAT, backbone=model.backbone_name, num_frames=str(model.num_frames),
                stdha_offsets=json.dumps(model.stdha_offsets), num_classes=str(model.num_classes),
                timm_kwargs=json.dumps(getattr(model, "timm_kwargs", {})))
    if model.temporal_embedding is not None:
        meta["temporal_embedding"] = encode_tensor(model.temporal_embedding)
    return meta


def save_merged(model: nn.Module, path: str | Path, *, rtol: float = MERGE_RTOL,
                image_only: bool = False) -> dict[str, float]:
    """Merge (a copy of) `model`, check it, and write it as safetensors; returns the differences.

    The video export holds exactly the timm image model's tensors (plus `head.*` for a classifier)
    and metadata that rebuild the video model: `load_merged(path)`. With `image_only=True` the file
    is a head-less image checkpoint of the merged backbone (no video metadata) that plain timm loads:
    `timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path, num_classes=0))`
    (families whose pretrained config has no classifier, e.g. DINOv2 and SigLIP, need no `num_classes`).
    Give it a `.safetensors` name: timm picks the reader by the suffix.
    """
    path = Path(path)
    merged = merge_adapters(copy.deepcopy(model))
    x = random_batch(model)
    diff = check_merge(model, merged, x)
    if not diff["max_rel"] <= rtol:
        raise MergeMismatch(f"merged model differs from the unmerged one (max relative difference "
                            f"{diff['max_rel']:.2e} > {rtol:.0e}); refusing to write {path}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in merged.backbone.state_dict().items()}
    if image_only:
        with atomic_path(path) as tmp:
            _write_safetensors(tmp, tensors, metadata=dict(format=IMAGE_EXPORT_FORMAT, backbone=model.backbone_name,
                                                        timm_kwargs=json.dumps(getattr(model, "timm_kwargs", {}))))
            check_image_export(merged, tmp)
        log.info("wrote merged image checkpoint %s (no head, no STDHA/temporal embedding)", path)
        return diff
    if isinstance(merged.head, nn.Linear):
        tensors.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in merged.head.state_dict().items()})
    with atomic_path(path) as tmp:
        _write_safetensors(tmp, tensors, metadata=export_metadata(merged))
        reloaded = load_merged(tmp).to(x.device)
        back = check_merge(merged, reloaded, x)
        if back["max_abs"] != 0.0:
            raise MergeMismatch(f"{path} does not reload to the merged model (max difference "
                                f"{back['max_abs']:.2e}); refusing to write it")
    log.info("wrote merged model %s (merged vs unmerged max rel diff %.2e)", path, diff["max_rel"])
    return diff


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], *, metadata: dict[str, str]) -> None:
    """Serialised in memory, then written: a full disk is an OSError of the write (one line through
    `atomic_path`), not safetensors' own error type."""
    from safetensors.torch import save

    with open(path, "wb") as f:
        f.write(save(tensors, metadata=metadata))


@torch.no_grad()
def check_image_export(merged: nn.Module, path: Path) -> None:
    """The head-less file loads strictly into plain timm and equals the merged backbone bit for bit."""
    import timm
    from safetensors.torch import load_file

    vit = timm.create_model(merged.backbone_name, pretrained=False, num_classes=0,
                            **getattr(merged, "timm_kwargs", {}))
    vit.load_state_dict(load_file(str(path)), strict=True)
    reloaded = vit.state_dict()  # once: rebuilding it per key made the check quadratic
    for k, v in merged.backbone.state_dict().items():
        if not torch.equal(reloaded[k], v.cpu()):
            raise MergeMismatch(f"{path}: tensor {k} differs after reload; refusing to write it")


def load_merged(path: str | Path) -> nn.Module:
    """The video model of a merged export, built from the file alone (eval mode): backbone, frame
    count, STDHA offsets, timm arguments, temporal embedding and classifier all come from its metadata."""
    from zeroi2v.model.video import create_model
    from zeroi2v.model.weights import read_export_metadata

    meta = read_export_metadata(path)
    if meta is None:
        raise UserError(f"{path} is not a ZeroI2V merged video export (no {EXPORT_FORMAT} metadata); "
                        f"load image checkpoints with create_model(..., pretrained=path)")
    model = create_model(meta["backbone"], num_frames=meta["num_frames"], num_classes=meta["num_classes"],
                         adapters=None, stdha=meta["stdha_offsets"], pretrained=str(path),
                         temporal_embedding=meta["temporal_embedding"] is not None, **meta["timm_kwargs"])
    return model.eval()
