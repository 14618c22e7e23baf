"""Pretrained weights from local files: timm checkpoints, OpenAI CLIP, merged ZeroI2V exports.

Nothing is downloaded. A plain state dict is read with `weights_only=True`; an OpenAI CLIP
TorchScript archive (`ViT-B-16.pt`) is read with `torch.jit.load(...).state_dict()`. Keys are
mapped to timm names by timm's own `checkpoint_filter_fn` (OpenAI CLIP conversion, position
embedding resampling). Any missing, unexpected or mis-shaped key is a one-line `UserError`.

Merged exports (`save_merged`) are safetensors files holding exactly the timm image model's
tensors (plus `head.*` when the video model has a classifier), so plain timm loads them; the
video-only parts ride in the metadata: format, backbone, frame count, STDHA offsets, timm
arguments and the temporal embedding (float32, base64).
"""
from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from .errors import UserError

EXPORT_FORMAT = "zeroi2v-merged/1"


def _is_safetensors(path: Path) -> bool:
    """By content, not name: an 8-byte little-endian header length, then a JSON header."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def read_export_metadata(path: str | Path) -> dict | None:
    """The ZeroI2V metadata of a merged export, or None for any other checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pretrained file {path} not found; pass --pretrained with a local checkpoint file")
    if not _is_safetensors(path):
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != EXPORT_FORMAT:
        return None
    return dict(backbone=meta["backbone"], num_frames=int(meta["num_frames"]),
                stdha_offsets=json.loads(meta["stdha_offsets"]), timm_kwargs=json.loads(meta["timm_kwargs"]),
                temporal_embedding=decode_tensor(meta["temporal_embedding"]) if "temporal_embedding" in meta else None)


def encode_tensor(t: torch.Tensor) -> str:
    a = t.detach().to("cpu", torch.float32).contiguous().numpy()
    return json.dumps({"shape": list(a.shape), "data": base64.b64encode(a.astype("<f4").tobytes()).decode()})


def decode_tensor(s: str) -> torch.Tensor:
    d = json.loads(s)
    return torch.from_numpy(np.frombuffer(base64.b64decode(d["data"]), dtype="<f4").copy().reshape(d["shape"]))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint file, unwrapped from `model`/`state_dict`/`module.` wrappers."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pretrained file {path} not found; pass --pretrained with a local checkpoint file")
    try:
        if _is_safetensors(path):
            from safetensors.torch import load_file

            sd = load_file(str(path))
        elif zipfile.is_zipfile(path) and any("/code/" in n for n in zipfile.ZipFile(path).namelist()):
            sd = torch.jit.load(str(path), map_location="cpu").state_dict()  # OpenAI CLIP TorchScript
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as e:  # corrupt or foreign file
        raise UserError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    for key in ("model", "state_dict", "module"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"checkpoint {path} is not a state dict of tensors")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def to_timm_keys(sd: dict[str, torch.Tensor], vit: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Map any supported checkpoint to the timm ViT's keys (OpenAI CLIP, pos-embed resampling)."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    return checkpoint_filter_fn(dict(sd), vit)


def load_pretrained(model, path: str | Path) -> None:
    """Load image (or merged video) weights into a ZeroI2V model in place; strict, one-line errors."""
    path = Path(path)
    export = read_export_metadata(path)
    sd = to_timm_keys(read_state_dict(path), model.backbone)
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
            w = head["weight"]
            if tuple(w.shape) != (model.num_classes, model.embed_dim):
                raise UserError(f"{path}: key head.weight has shape {tuple(w.shape)}, the model expects "
                                f"{(model.num_classes, model.embed_dim)}; pass the matching --num-classes")
            model.head.load_state_dict(head)
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
