"""An AIM-style peer: non-mergeable adapters on a frozen image ViT (for the efficiency benchmark).

AIM (Yang et al., ICLR 2023, "Adapting Image Models for Efficient Video Action Recognition")
adapts every block of a frozen image ViT with

    temporal adaptation:  x = x + T-Adapter(attn(norm1(x over the T axis)))   # reuses the frozen attn
    spatial adaptation:   x = x + S-Adapter(attn(norm1(x)))                    # S-Adapter has a skip
    joint adaptation:     x = x + mlp(norm2(x)) + s·MLP-Adapter(norm2(x))      # parallel, s = 0.5

with GELU bottleneck adapters `fc2(gelu(fc1(x)))` (ratio 0.25) and a learned temporal embedding.
The temporal attention runs the block's own (frozen) qkv/proj a second time, over the frames of
each token, so the extra cost stays at inference: AIM reports +44 % FLOPs over ViT-B/16 8 frames.
Nothing here can be folded into the backbone (GELU, and an extra attention over another axis);
this is the "non-mergeable" reference ZeroI2V is compared with in `zeroi2v.bench`.

Follows the AIM reference code (num_tadapter=1, the K400 configuration); adapters' fc2 start at
zero as there, so a fresh model equals the image model applied per frame (plus the temporal
embedding, also zero at start).
"""
from __future__ import annotations

import timm
import torch
from torch import nn

from zeroi2v.model.video import input_tokens


class GeluAdapter(nn.Module):
    """`[x +] fc2(gelu(fc1(x)))`; fc2 starts at zero (the adapter's branch is 0 at start)."""

    def __init__(self, dim: int, *, ratio: float = 0.25, skip: bool = True) -> None:
        super().__init__()
        hidden = max(1, round(dim * ratio))
        self.skip = skip
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(self.act(self.fc1(x)))
        return x + y if self.skip else y


class AIMBlock(nn.Module):
    """A timm ViT `Block` with AIM's temporal, spatial and joint (MLP) adaptation."""

    def __init__(self, block: nn.Module, *, num_frames: int, ratio: float = 0.25, scale: float = 0.5) -> None:
        super().__init__()
        self.block = block  # frozen timm Block: norm1, attn, ls1, drop_path1, norm2, mlp, ls2, drop_path2
        self.num_frames = num_frames
        self.scale = scale
        dim = block.norm1.normalized_shape[0]
        self.t_adapter = GeluAdapter(dim, ratio=ratio, skip=False)
        self.s_adapter = GeluAdapter(dim, ratio=ratio, skip=True)
        self.mlp_adapter = GeluAdapter(dim, ratio=ratio, skip=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        BT, N, D = x.shape  # (B*T, N, D)
        T = self.num_frames
        B = BT // T
        # temporal adaptation: the frozen attention over the T frames of each token (CLS included)
        xt = x.view(B, T, N, D).transpose(1, 2).reshape(B * N, T, D)  # (B*N, T, D)
        xt = self.t_adapter(b.ls1(b.attn(b.norm1(xt))))  # (B*N, T, D)
        x = x + b.drop_path1(xt.view(B, N, T, D).transpose(1, 2).reshape(BT, N, D))
        # spatial adaptation: the usual attention within each frame, then the S-Adapter
        x = x + b.drop_path1(self.s_adapter(b.ls1(b.attn(b.norm1(x)))))  # (B*T, N, D)
        # joint adaptation: MLP-Adapter in parallel with the MLP
        xn = b.norm2(x)
        return x + b.drop_path2(b.ls2(b.mlp(xn))) + self.scale * self.mlp_adapter(xn)


class AIMModel(nn.Module):
    """Frozen timm ViT + AIM adapters: (B, C, T, H, W) -> per-frame CLS mean over T, (B, D)."""

    def __init__(self, backbone: nn.Module, *, num_frames: int, adapter_ratio: float = 0.25,
                 adapter_scale: float = 0.5, temporal_embedding: bool = True) -> None:
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.backbone = backbone  # timm VisionTransformer, num_classes=0
        self.num_frames = num_frames
        self.embed_dim = backbone.embed_dim
        for p in backbone.parameters():
            p.requires_grad = False
        backbone.blocks = nn.Sequential(*[
            AIMBlock(blk, num_frames=num_frames, ratio=adapter_ratio, scale=adapter_scale) for blk in backbone.blocks
        ])
        self.temporal_embedding = (
            nn.Parameter(torch.zeros(num_frames, self.embed_dim)) if temporal_embedding else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.backbone
        x = input_tokens(vit, x, num_frames=self.num_frames, temporal_embedding=self.temporal_embedding)
        x = vit.forward_head(vit.norm(vit.blocks(x)), pre_logits=True)  # (B*T, D)
        return x.view(x.shape[0] // self.num_frames, self.num_frames, -1).mean(1)


def create_aim_model(backbone: str, *, num_frames: int, adapter_ratio: float = 0.25, adapter_scale: float = 0.5,
                     temporal_embedding: bool = True, **timm_kwargs) -> AIMModel:
    """An AIM-style video model on timm ViT `backbone` with random weights (never downloads)."""
    vit = timm.create_model(backbone, pretrained=False, num_classes=0, **timm_kwargs)
    return AIMModel(vit, num_frames=num_frames, adapter_ratio=adapter_ratio, adapter_scale=adapter_scale,
                    temporal_embedding=temporal_embedding)
