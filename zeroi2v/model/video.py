"""The ZeroI2V video model: a frozen timm image ViT applied per frame, plus STDHA and adapters.

    video (B, C, T, H, W) -> frames (B*T, C, H, W) -> patch + position embedding
    -> + temporal embedding (T, D) -> blocks (STDHA attention, adapted Linears) -> final norm
    -> per-frame CLS (B*T, D) -> mean over T (B, D) -> [dropout -> head] (B, num_classes)

Only adapters, the temporal embedding, the final norm and the head are trained. After
`merge_adapters` the backbone is again exactly the timm image model (same keys and shapes).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import timm
import torch
from torch import nn

from zeroi2v.model.adapters import ALL_PLACEMENTS, PLACEMENTS, AdaptedLinear
from zeroi2v.utils.errors import UserError
from zeroi2v.model.stdha import OffsetSpec, STDHAttention, parse_offsets

log = logging.getLogger(__name__)


class ZeroI2V(nn.Module):
    def __init__(self, backbone: nn.Module, *, backbone_name: str, num_frames: int, num_classes: int = 0,
                 stdha: OffsetSpec = "default", adapters: Sequence[str] | None = ALL_PLACEMENTS,
                 adapter_ratio: float = 0.25, adapter_scale: float = 0.5, adapter_dropout: float = 0.1,
                 temporal_embedding: bool = True, head_dropout: float = 0.0, init: str = "torch") -> None:
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        adapters = tuple(adapters or ())
        unknown = set(adapters) - set(PLACEMENTS)
        if unknown:
            raise ValueError(f"unknown adapter placement(s) {sorted(unknown)}; choose from {list(PLACEMENTS)}")
        self.backbone = backbone  # timm VisionTransformer with num_classes=0
        self.backbone_name = backbone_name
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.embed_dim = backbone.embed_dim
        self.adapter_config = dict(placements=list(adapters), ratio=adapter_ratio, scale=adapter_scale,
                                   dropout=adapter_dropout)
        num_heads = backbone.blocks[0].attn.num_heads
        self.stdha_offsets = parse_offsets(stdha, num_heads=num_heads, num_frames=num_frames)

        for block in backbone.blocks:
            if any(self.stdha_offsets):
                block.attn = STDHAttention(block.attn, num_frames=num_frames, offsets=self.stdha_offsets)
            for path in dict.fromkeys(PLACEMENTS[p][0] for p in adapters):  # ordered: same init every process
                sides = {PLACEMENTS[p][1] for p in adapters if PLACEMENTS[p][0] == path}
                parent, name = block.get_submodule(path.rsplit(".", 1)[0]), path.rsplit(".", 1)[1]
                setattr(parent, name, AdaptedLinear(
                    getattr(parent, name), adapt_in="in" in sides, adapt_out="out" in sides,
                    ratio=adapter_ratio, scale=adapter_scale, dropout=adapter_dropout, init=init))

        self.temporal_embedding = (
            nn.Parameter(torch.zeros(num_frames, self.embed_dim)) if temporal_embedding else None
        )
        self.head_drop = nn.Dropout(head_dropout) if head_dropout > 0 else nn.Identity()
        self.head = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init = init
        if init == "original" and num_classes > 0:  # mmaction2 I3DHead.init_weights: normal_init(fc_cls, std=0.01)
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
        self.freeze_backbone()

    @property
    def merged(self) -> bool:
        return not any(isinstance(m, AdaptedLinear) for m in self.modules())

    def freeze_backbone(self) -> None:
        """Train only adapters, temporal embedding, final norm(s) and head."""
        for name, p in self.backbone.named_parameters():
            p.requires_grad = ".adapter_" in name or name.startswith(("norm.", "fc_norm."))

    def frame_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> tokens after the final norm, (B*T, N, D)."""
        x = input_tokens(self.backbone, x, num_frames=self.num_frames, temporal_embedding=self.temporal_embedding)
        return self.backbone.norm(self.backbone.blocks(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled video features (B, D): per-frame CLS (timm's pooling + fc_norm), mean over T."""
        B = x.shape[0]
        x = self.backbone.forward_head(self.frame_tokens(x), pre_logits=True)  # (B*T, D)
        return x.view(B, self.num_frames, -1).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.forward_features(x)))


def input_tokens(vit: nn.Module, x: torch.Tensor, *, num_frames: int,
                 temporal_embedding: torch.Tensor | None) -> torch.Tensor:
    """Video (B, C, T, H, W) -> per-frame tokens entering the first block, (B*T, N, D): patch and
    position embedding of each frame, plus the (T, D) temporal embedding on every token of frame t."""
    B, C, T, H, W = x.shape
    if T != num_frames:
        raise ValueError(f"clip has {T} frames, the model was built for num_frames={num_frames}")
    x = x.transpose(1, 2).reshape(B * T, C, H, W)  # (B*T, C, H, W)
    x = vit._pos_embed(vit.patch_embed(x))  # (B*T, N, D)
    if temporal_embedding is not None:
        _, N, D = x.shape
        x = (x.view(B, T, N, D) + temporal_embedding[None, :, None, :]).view(B * T, N, D)
    return vit.norm_pre(vit.patch_drop(x))


def create_model(backbone: str, *, num_frames: int, num_classes: int | None = None, pretrained: str | None = None,
                 stdha: OffsetSpec = "default", adapters: Sequence[str] | None = ALL_PLACEMENTS,
                 adapter_ratio: float = 0.25, adapter_scale: float = 0.5, adapter_dropout: float = 0.1,
                 temporal_embedding: bool = True, head_dropout: float = 0.0, init: str = "torch",
                 **timm_kwargs) -> ZeroI2V:
    """Build a ZeroI2V video model on the timm ViT `backbone`; weights only from a local file.

    `pretrained` is a timm checkpoint (.pth/.safetensors), an OpenAI CLIP checkpoint (state dict or
    TorchScript .pt), or a merged ZeroI2V export (whose STDHA spec, frame count, timm arguments,
    temporal embedding and -- with `num_classes=None` -- classifier it carries). OpenAI CLIP weights
    run in a QuickGELU model: a GELU CLIP name is switched to its `_quickgelu` variant (logged).
    `num_classes=None` means the export's classes, else 0 (features only). Extra keyword arguments
    go to `timm.create_model`. Unsupported backbones are a one-line UserError before anything is built.
    `init`: "torch" (nn.Linear defaults) or "original" (the original's head and adapter init, see ZeroI2V).
    """
    from zeroi2v.model.backbones import check_backbone_module, check_backbone_name
    from zeroi2v.model.weights import is_openai_clip, load_state, read_export_metadata, read_state_dict

    check_backbone_name(backbone)
    export = sd = None
    if pretrained:
        export = read_export_metadata(pretrained)
        sd = read_state_dict(pretrained)
    if export:
        backbone = export_backbone(backbone, export["backbone"], pretrained)
        timm_kwargs = {**export["timm_kwargs"], **timm_kwargs}
        if isinstance(stdha, str) and stdha == "default":
            stdha = export["stdha_offsets"]
        if num_classes is None:
            num_classes = export["num_classes"]
        elif num_classes == 0 and export["num_classes"]:
            log.info("%s: its %d-class head is not loaded (num_classes=0: features only)", pretrained,
                     export["num_classes"])
    elif sd is not None and is_openai_clip(sd):
        backbone, timm_kwargs = quickgelu_backbone(backbone, timm_kwargs, pretrained)
    vit = timm.create_model(backbone, pretrained=False, num_classes=0, **timm_kwargs)
    check_backbone_module(vit, backbone)
    model = ZeroI2V(vit, backbone_name=backbone, num_frames=num_frames, num_classes=num_classes or 0, stdha=stdha,
                    adapters=adapters, adapter_ratio=adapter_ratio, adapter_scale=adapter_scale,
                    adapter_dropout=adapter_dropout, temporal_embedding=temporal_embedding,
                    head_dropout=head_dropout, init=init)
    model.timm_kwargs = dict(timm_kwargs)
    if sd is not None:
        load_state(model, sd, pretrained, export)
    return model


def quickgelu_name(backbone: str) -> str:
    """The `_clip_quickgelu_` variant of a `_clip_` timm name (the name itself otherwise)."""
    return backbone if "quickgelu" in backbone else backbone.replace("_clip_", "_clip_quickgelu_", 1)


def quickgelu_backbone(backbone: str, timm_kwargs: dict, path) -> tuple[str, dict]:
    """The QuickGELU model for OpenAI CLIP weights: the `_clip_quickgelu_` variant of a `_clip_` name
    (switch logged), or `act_layer="quick_gelu"`; a one-line UserError where neither applies."""
    act = timm_kwargs.get("act_layer")
    if act is not None:
        if act in ("quick_gelu", "quickgelu"):
            return backbone, timm_kwargs
        raise UserError(f"{path} is an OpenAI CLIP checkpoint (QuickGELU) but --timm-kwargs sets act_layer={act!r}; "
                        f"drop act_layer")
    if "quickgelu" in backbone:
        return backbone, timm_kwargs
    if "_clip_" in backbone:
        variant = quickgelu_name(backbone)
        if timm.is_model(variant.split(".", 1)[0]):
            log.warning("%s is an OpenAI CLIP checkpoint (QuickGELU MLPs): using backbone %s instead of %s",
                        path, variant, backbone)
            return variant, timm_kwargs
        log.warning("%s is an OpenAI CLIP checkpoint (QuickGELU MLPs): building %s with act_layer='quick_gelu'",
                    path, backbone)
        return backbone, {**timm_kwargs, "act_layer": "quick_gelu"}
    raise UserError(f"{path} is an OpenAI CLIP checkpoint (QuickGELU MLPs); pass a CLIP backbone such as "
                    f"--backbone vit_base_patch16_clip_quickgelu_224 (got {backbone})")


def export_backbone(backbone: str, exported: str, path) -> str:
    """The export's backbone, when `backbone` names it or its GELU counterpart; UserError otherwise."""
    if backbone == exported:
        return backbone
    if quickgelu_name(backbone) == exported:
        log.warning("%s was exported from %s (QuickGELU): using it instead of %s", path, exported, backbone)
        return exported
    raise UserError(f"{path} was exported from backbone {exported}, not {backbone}; pass --backbone {exported} "
                    f"(or load it with zeroi2v.load_merged)")


def count_params(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts."""
    return dict(total=sum(p.numel() for p in model.parameters()),
                trainable=sum(p.numel() for p in model.parameters() if p.requires_grad))


def data_config(model: ZeroI2V) -> dict:
    """Input mean/std/size of the backbone's pretrained config (CLIP vs ImageNet statistics)."""
    cfg = timm.data.resolve_data_config({}, model=model.backbone)
    return dict(mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), input_size=tuple(cfg["input_size"]))
