"""Which timm backbones ZeroI2V supports, checked before anything is built or loaded.

ZeroI2V replaces each block's attention by STDHA and wraps the block's `attn.qkv`, `attn.proj`,
`mlp.fc1` and `mlp.fc2` Linears with adapters, so it needs timm's plain `VisionTransformer`
(pre-norm blocks with fused-qkv `Attention` and a two-Linear MLP). Tested families: OpenAI/LAION
CLIP ViT-B/L (incl. `_quickgelu`), DINOv2 (incl. registers), SigLIP, DeiT (not distilled) and the
ImageNet/AugReg ViTs. EVA/EVA02, RoPE ViTs, relative-position or hybrid ViTs, Swin and CNNs differ
in those parts and are refused with one line.
"""
from __future__ import annotations

from torch import nn

from zeroi2v.utils.errors import UserError

SUPPORTED = ("CLIP ViT-B/L (vit_*_clip_*, incl. *_clip_quickgelu_*)", "DINOv2 (vit_*_dinov2, incl. *_reg4_dinov2)",
             "SigLIP (vit_*_siglip_*)", "DeiT (deit_*, not distilled)", "ImageNet/AugReg ViT (vit_*_patch*_*)")
_MODULES = ("timm.models.vision_transformer", "timm.models.deit")
_FAMILY_HINTS = (("eva", "EVA/EVA02 or RoPE ViT"), ("swin", "Swin"), ("relpos", "relative-position ViT"),
                 ("hybrid", "hybrid CNN-ViT"))


def supported_text() -> str:
    return "supported: timm VisionTransformer models -- " + "; ".join(SUPPORTED)


def check_backbone_name(name: str) -> None:
    """One-line UserError for an unknown or unsupported timm model name (nothing is built)."""
    from timm.models import is_model, model_entrypoint

    base = name.split(".", 1)[0]
    if not is_model(base):
        raise UserError(f"unknown timm model {name!r}; {supported_text()}")
    module = model_entrypoint(base).__module__
    if module not in _MODULES:
        short = module.rsplit(".", 1)[-1]
        family = next((f for key, f in _FAMILY_HINTS if key in short), f"timm.models.{short}")
        raise UserError(f"backbone {name!r} ({family}) is not supported; {supported_text()}")


def check_backbone_module(vit: nn.Module, name: str) -> None:
    """After building: the parts ZeroI2V replaces or wraps are there (one-line UserError otherwise)."""
    from timm.layers import Attention
    from timm.models.vision_transformer import VisionTransformer

    def refuse(why: str):
        raise UserError(f"backbone {name!r} is not supported ({why}); {supported_text()}")

    if type(vit) is not VisionTransformer:
        refuse(f"{type(vit).__name__}, not timm's VisionTransformer")
    for i, block in enumerate(vit.blocks):
        attn, mlp = getattr(block, "attn", None), getattr(block, "mlp", None)
        if not isinstance(attn, Attention) or not isinstance(getattr(attn, "qkv", None), nn.Linear):
            refuse(f"block {i} has no fused-qkv timm Attention")
        if not isinstance(getattr(attn, "proj", None), nn.Linear):
            refuse(f"block {i} attention has no Linear proj")
        if not all(isinstance(getattr(mlp, k, None), nn.Linear) for k in ("fc1", "fc2")):
            refuse(f"block {i} MLP is not fc1 -> act -> fc2")
