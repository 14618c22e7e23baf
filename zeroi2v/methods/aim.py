"""AIM (Yang et al., ICLR 2023, "AIM: Adapting Image Models for Efficient Video Action Recognition").

Follows the official code, taoyang1122/adapt-image-models `mmaction/models/backbones/vit_clip.py`
(`Adapter`, `ResidualAttentionBlock`, `ViT_CLIP.init_weights`), `tools/train.py` (what trains) and
`configs/recognition/vit/vitclip_base_{k400,sthv2}.py` (scale, drop path, optimiser). Per block of
the frozen image ViT:

    temporal:  x = x + drop_path(T-Adapter(attn(ln_1(x over the T frames of each token))))
               (SSv2: attn(T-Adapter_in(ln_1(.))), T-Adapter_in with skip)
    spatial:   x = x + S-Adapter(attn(ln_1(x)))                                  # S-Adapter with skip
    joint:     x = x + mlp(ln_2(x)) + drop_path(s * MLP-Adapter(ln_2(x)))        # s = 0.5 K400, 1 SSv2

The temporal attention reuses the block's frozen ln_1 and attention weights over another axis.
Adapters are Linear(D -> D/4) - GELU - Linear(D/4 -> D), Linear weights truncated-normal (std 0.02),
biases 0, and every adapter's second Linear zero: a fresh model is the image model applied per frame.
Drop path rises linearly over the blocks from 0 to 0.2 (both configs). A zero-initialised (T, D)
temporal embedding is added to every token before ln_pre. Trained: the adapters, the temporal
embedding, the final norm (ln_post) and the head. Nothing folds back: the extra attention pass and
GELU adapters stay at inference (~+44 % FLOPs on ViT-B/16 x 8 frames: 606 vs 422 GFLOPs over 3 views).
"""
from __future__ import annotations

import torch
from torch import nn

from zeroi2v.methods.base import Method, variant_for

VARIANTS = {"k400": dict(scale=0.5, t_adapter_in=False), "ssv2": dict(scale=1.0, t_adapter_in=True)}
DROP_PATH = 0.2
RATIO = 0.25


class Adapter(nn.Module):
    """`[x +] fc2(gelu(fc1(x)))`; fc1 truncated-normal (std 0.02), biases 0, fc2 zero."""

    def __init__(self, dim: int, *, ratio: float = RATIO, skip: bool = True) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.skip = skip
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        nn.init.trunc_normal_(self.fc1.weight, std=0.02)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(self.act(self.fc1(x)))
        return x + y if self.skip else y


class DropPath(nn.Module):
    """Stochastic depth on a residual branch (per sample, rescaled); the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class AIMBlock(nn.Module):
    """A frozen timm ViT `Block` with AIM's temporal, spatial and joint adaptation."""

    def __init__(self, block: nn.Module, *, num_frames: int, scale: float, t_adapter_in: bool,
                 drop_path: float) -> None:
        super().__init__()
        self.block = block  # timm Block: norm1, attn, ls1, drop_path1, norm2, mlp, ls2, drop_path2
        self.num_frames = num_frames
        self.scale = scale
        dim = block.norm1.normalized_shape[0]
        self.t_adapter_in = Adapter(dim, skip=True) if t_adapter_in else None
        self.t_adapter = Adapter(dim, skip=False)
        self.s_adapter = Adapter(dim, skip=True)
        self.mlp_adapter = Adapter(dim, skip=False)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        BT, N, D = x.shape  # (B*T, N, D)
        T = self.num_frames
        B = BT // T
        # temporal adaptation: the frozen ln_1 + attention over the T frames of each token
        xt = b.norm1(x.view(B, T, N, D).transpose(1, 2).reshape(B * N, T, D))  # (B*N, T, D)
        if self.t_adapter_in is not None:
            xt = self.t_adapter_in(xt)
        xt = self.t_adapter(b.ls1(b.attn(xt)))  # (B*N, T, D)
        x = x + self.drop_path(xt.view(B, N, T, D).transpose(1, 2).reshape(BT, N, D))
        # spatial adaptation: attention within each frame, then the S-Adapter (no drop path, as there)
        x = x + self.s_adapter(b.ls1(b.attn(b.norm1(x))))  # (B*T, N, D)
        # joint adaptation: the MLP-Adapter in parallel with the frozen MLP
        xn = b.norm2(x)
        return x + b.ls2(b.mlp(xn)) + self.drop_path(self.scale * self.mlp_adapter(xn))


class AIM(Method):
    name = "aim"
    label = "AIM"
    order = 30
    source = ("taoyang1122/adapt-image-models mmaction/models/backbones/vit_clip.py, tools/train.py, "
              "configs/recognition/vit/vitclip_base_k400.py, vitclip_base_sthv2.py")
    mergeable = False
    adds_at_inference = ("a second (temporal) attention pass per block and three GELU bottleneck adapters per "
                         "block (four on SSv2), plus a (T, D) temporal embedding")
    optim = {"lr": 3e-4, "weight_decay": 0.05}  # vitclip_base_*.py: AdamW(lr=3e-4, betas=(0.9, 0.999), wd=0.05)

    def build(self, backbone: str, *, num_frames: int, num_classes: int = 0, pretrained: str | None = None,
              stdha="default", dataset: str | None = None, head_dropout: float = 0.0, variant: str | None = None,
              **kwargs):
        """The AIM video model; `variant` "k400" or "ssv2" (default: from `dataset`)."""
        variant = variant or variant_for(dataset)
        v = VARIANTS[variant]
        model = self.base_model(backbone, num_frames=num_frames, num_classes=num_classes, pretrained=pretrained,
                                head_dropout=head_dropout, temporal_embedding=True, timm_kwargs=kwargs)
        blocks = model.backbone.blocks
        n = len(blocks)
        rates = [DROP_PATH * i / max(1, n - 1) for i in range(n)]  # torch.linspace(0, 0.2, depth)
        model.backbone.blocks = nn.Sequential(*[
            AIMBlock(blk, num_frames=num_frames, scale=v["scale"], t_adapter_in=v["t_adapter_in"], drop_path=r)
            for blk, r in zip(blocks, rates)])
        model.adapter_config = dict(method=self.name, variant=variant, ratio=RATIO, scale=v["scale"],
                                    t_adapter_in=v["t_adapter_in"], drop_path=DROP_PATH)
        self.set_trainable(model)
        return model

    def set_trainable(self, model) -> None:
        """tools/train.py: temporal_embedding, ln_post, cls_head and the Adapters train."""
        for name, p in model.named_parameters():
            p.requires_grad = ("_adapter" in name or name == "temporal_embedding" or name.startswith("head.")
                               or name.startswith(("backbone.norm.", "backbone.fc_norm.")))
