"""Pretrained weights from local files: timm checkpoints, OpenAI CLIP, merged ZeroI2V exports.

Nothing is downloaded and nothing in a file is executed. A plain state dict is read with
`weights_only=True`; an OpenAI CLIP TorchScript archive (`ViT-B-16.pt`) by `zeroi2v.model.torchscript`
(its pickles through a restricted unpickler, its code never run -- not `torch.jit.load`). Keys are
mapped to timm names by timm's own `checkpoint_filter_fn` (OpenAI CLIP conversion, position
embedding resampling). Any unreadable file, missing, unexpected or mis-shaped key is a one-line
`UserError`.

Merged exports (`save_merged`) are safetensors files holding exactly the timm image model's
tensors (plus `head.*` when the video model has a classifier), so plain timm loads them; the
video-only parts ride in the metadata: format, backbone, frame count, STDHA offsets, number of
classes, timm arguments and the temporal embedding (float32, base64). Image-only exports
(`save_merged(..., image_only=True)`) carry no head and are ordinary image checkpoints.
"""
from __future__ import annotations

import base64
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import torch

from zeroi2v.model.torchscript import read_torchscript
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import check_file

log = logging.getLogger(__name__)
EXPORT_FORMAT = "zeroi2v-merged/1"
IMAGE_EXPORT_FORMAT = "zeroi2v-merged-image/1"
EXPORT_KEYS = ("backbone", "num_frames", "stdha_offsets", "num_classes", "timm_kwargs")


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def _is_safetensors(path: Path) -> bool:
    """By content, not name: an 8-byte little-endian header length, then a JSON header."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive (OpenAI's ViT-B-16.pt): a zip holding serialized code."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _safetensors_metadata(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as e:  # truncated file, bad header
        raise UserError(f"cannot read checkpoint {path}: truncated or corrupt safetensors file ({_first_line(e)})")


def read_export_metadata(path: str | Path) -> dict | None:
    """The ZeroI2V metadata of a merged video export, or None for any other checkpoint."""
    path = check_file("checkpoint", path, must_exist=True)
    if not _is_safetensors(path):
        return None
    meta = _safetensors_metadata(path)
    if meta.get("format") != EXPORT_FORMAT:
        return None
    missing = [k for k in EXPORT_KEYS if k not in meta]
    if missing:
        raise UserError(f"{path} is a ZeroI2V export whose metadata lacks {', '.join(missing)}; re-export it "
                        f"with zeroi2v.save_merged")
    try:
        return dict(backbone=meta["backbone"], num_frames=int(meta["num_frames"]),
                    stdha_offsets=[int(o) for o in json.loads(meta["stdha_offsets"])],
                    num_classes=int(meta["num_classes"]), timm_kwargs=dict(json.loads(meta["timm_kwargs"])),
                    temporal_embedding=decode_tensor(meta["temporal_embedding"])
                    if "temporal_embedding" in meta else None)
    except Exception as e:
        raise UserError(f"{path}: corrupt ZeroI2V export metadata ({_first_line(e)}); re-export it "
                        f"with zeroi2v.save_merged")


def encode_tensor(t: torch.Tensor) -> str:
    a = t.detach().to("cpu", torch.float32).contiguous().numpy()
    return json.dumps({"shape": list(a.shape), "data": base64.b64encode(a.astype("<f4").tobytes()).decode()})


def decode_tensor(s: str) -> torch.Tensor:
    d = json.loads(s)
    return torch.from_numpy(np.frombuffer(base64.b64decode(d["data"]), dtype="<f4").copy().reshape(d["shape"]))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint file, unwrapped from `model`/`state_dict`/`module.` wrappers."""
    path = check_file("checkpoint", path, must_exist=True)
    try:
        if _is_safetensors(path):
            from safetensors.torch import load_file

            try:
                sd = load_file(str(path))
            except Exception as e:
                raise UserError(f"cannot read checkpoint {path}: truncated or corrupt safetensors file "
                                f"({_first_line(e)})")
        elif _is_torchscript(path):
            sd = read_torchscript(path)  # OpenAI CLIP TorchScript, read without running its code
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as e:  # corrupt, truncated or foreign file; pickled objects refused by weights_only
        raise UserError(f"cannot read checkpoint {path} ({_first_line(e)}); is it a complete PyTorch or "
                        f"safetensors checkpoint?")
    for key in ("model", "state_dict", "module"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"checkpoint {path} is not a state dict of tensors")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def is_openai_clip(sd: dict[str, torch.Tensor]) -> bool:
    """An OpenAI CLIP checkpoint (`visual.*` keys, as in ViT-B-16.pt): its MLPs use QuickGELU."""
    return "visual.class_embedding" in sd


def to_timm_keys(sd: dict[str, torch.Tensor], vit: torch.nn.Module, path: str | Path = "checkpoint") -> dict:
    """Map any supported checkpoint to the timm ViT's keys (OpenAI CLIP, pos-embed resampling)."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    for key, ndim, shape in (("pos_embed", 3, "(1, tokens, dim)"), ("visual.positional_embedding", 2, "(tokens, dim)")):
        if key in sd and sd[key].ndim != ndim:
            raise UserError(f"{path}: key {key} has shape {tuple(sd[key].shape)}, expected {shape}; "
                            f"corrupt or not a ViT checkpoint")
    try:
        return checkpoint_filter_fn(dict(sd), vit)
    except Exception as e:
        raise UserError(f"{path}: cannot convert to {type(vit).__name__} keys ({_first_line(e)}); "
                        f"is this a checkpoint of this backbone?")


def load_state(model, sd: dict[str, torch.Tensor], path: str | Path, export: dict | None) -> None:
    """Load a state dict read from `path` into a ZeroI2V model in place; strict, one-line errors."""
    sd = to_timm_keys(sd, model.backbone, path)
    head = {k[len("head."):]: sd.pop(k) for k in [k for k in sd if k.startswith("head.")]}
    if export:
        if export["num_frames"] != model.num_frames:
            raise UserError(f"{path} was exported for {export['num_frames']} frames, the model has "
                            f"{model.num_frames}; pass --frames {export['num_frames']}")
        if export["temporal_embedding"] is not None:
            if model.temporal_embedding is None:
                raise UserError(f"{path} has a temporal embedding; build the model with temporal_embedding=True")
            with torch.no_grad():
                model.temporal_embedding.copy_(export["temporal_embedding"])
        if head and model.num_classes:
            w = head.get("weight")
            if w is None or tuple(w.shape) != (model.num_classes, model.embed_dim):
                got = None if w is None else tuple(w.shape)
                raise UserError(f"{path}: key head.weight has shape {got}, the model expects "
                                f"{(model.num_classes, model.embed_dim)}; pass the matching --num-classes")
            model.head.load_state_dict(head)
        elif model.num_classes and not head:
            log.info("%s has no classifier: the %d-class head starts from its initialisation", path, model.num_classes)
    expected = {k: v for k, v in model.backbone.state_dict().items() if ".adapter_" not in k}
    for k, v in expected.items():
        if k not in sd:
            raise UserError(f"{path}: key {k} is missing; is this a checkpoint of {model.backbone_name}?")
        if tuple(sd[k].shape) != tuple(v.shape):
            raise UserError(f"{path}: key {k} has shape {tuple(sd[k].shape)}, {model.backbone_name} expects "
                            f"{tuple(v.shape)}; wrong architecture (check --backbone)")
    extra = sorted(set(sd) - set(expected))
    if extra:
        raise UserError(f"{path}: unexpected key {extra[0]} ({len(extra)} in all); is this a checkpoint "
                        f"of {model.backbone_name}?")
    model.backbone.load_state_dict(sd, strict=False)  # adapters keep their own (initial) values
