"""ST-Adapter (Pan et al., NeurIPS 2022, "ST-Adapter: Parameter-Efficient Image-to-Video Transfer Learning").

Follows the official code, linziyi96/st-adapter `models_adapter.py` (`Adapter`,
`ResidualAttentionBlock`, `clip_vit_base_patch16_adapter{12,24}x384`) and `main.py` (optimiser).
On the patch tokens only (the class token passes unchanged):

    x[:, 1:] += fc2(DWConv3d(fc1(x[:, 1:])))     over (T, H/p, W/p), no activation

fc1: Linear(D -> 384), depthwise Conv3d(384, kernel (3, 1, 1), padding (1, 0, 0)), fc2: Linear(384 -> D).
Initialisation as there: the conv's weight and bias and both Linear biases zero, the Linears' weights
PyTorch's default -- the conv outputs 0, so a fresh model is the image model applied per frame.
K400 (12x384): an adapter before the MLP of every block; SSv2 (24x384): before the attention and
before the MLP. No temporal embedding. Trained: the adapters and the head (ln_post stays frozen, as
there). The official model pools CLS over time before ln_post; here, as for every method of this
suite, the final norm runs per frame before the mean. The adapters stay at inference (~+8 % FLOPs on
ViT-B/16 x 8 frames for 12x384: 455 vs 422 GFLOPs over 3 views).
"""
from __future__ import annotations

import torch
from torch import nn

from zeroi2v.methods.base import Method, variant_for

WIDTH = 384
KERNEL = (3, 1, 1)
VARIANTS = {"k400": dict(pre_attn=False, pre_mlp=True), "ssv2": dict(pre_attn=True, pre_mlp=True)}


class STAdapter(nn.Module):
    """x[:, p:] += fc2(DWConv3d(fc1(x[:, p:]))) on the (T, h, w) grid of patch tokens (p prefix tokens)."""

    def __init__(self, dim: int, *, num_frames: int, grid: tuple[int, int], prefix: int, width: int = WIDTH,
                 kernel: tuple[int, int, int] = KERNEL) -> None:
        super().__init__()
        self.num_frames, self.grid, self.prefix = num_frames, tuple(grid), prefix
        self.fc1 = nn.Linear(dim, width)
        self.conv = nn.Conv3d(width, width, kernel_size=kernel, padding=tuple(k // 2 for k in kernel), groups=width)
        self.fc2 = nn.Linear(width, dim)
        for t in (self.conv.weight, self.conv.bias, self.fc1.bias, self.fc2.bias):
            nn.init.zeros_(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        BT, N, D = x.shape  # (B*T, N, D)
        T, (h, w), p = self.num_frames, self.grid, self.prefix
        B = BT // T
        if N - p != h * w:
            raise ValueError(f"ST-Adapter expects {h}x{w} patch tokens after {p} prefix token(s), got {N - p}")
        y = self.fc1(x[:, p:])  # (B*T, h*w, C)
        C = y.shape[-1]
        y = y.view(B, T, h, w, C).permute(0, 4, 1, 2, 3)  # (B, C, T, h, w)
        y = self.conv(y).permute(0, 2, 3, 4, 1).reshape(BT, h * w, C)  # (B*T, h*w, C)
        return torch.cat([x[:, :p], x[:, p:] + self.fc2(y)], dim=1)


class STBlock(nn.Module):
    """A frozen timm ViT `Block` with ST-Adapters before its attention and/or its MLP."""

    def __init__(self, block: nn.Module, *, pre_attn: STAdapter | None, pre_mlp: STAdapter | None) -> None:
        super().__init__()
        self.block = block
        self.adapter_pre_attn = pre_attn
        self.adapter_pre_mlp = pre_mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        if self.adapter_pre_attn is not None:
            x = self.adapter_pre_attn(x)
        x = x + b.drop_path1(b.ls1(b.attn(b.norm1(x))))
        if self.adapter_pre_mlp is not None:
            x = self.adapter_pre_mlp(x)
        return x + b.drop_path2(b.ls2(b.mlp(b.norm2(x))))


class STAdapterMethod(Method):
    name = "st_adapter"
    label = "ST-Adapter"
    order = 40
    source = "linziyi96/st-adapter models_adapter.py, main.py, scripts/train_{k400,ssv2}_clip_vit_b16_*.sh"
    mergeable = False
    adds_at_inference = "a Linear - depthwise Conv3d - Linear adapter before the MLP of every block (SSv2: also " \
                        "before the attention)"
    # main.py: AdamW, lr = blr 1e-3 x global batch / 256, weight decay 1e-2, no decay on biases
    optim = {"lr_per_256": 1e-3, "weight_decay": 0.01, "bias_decay": False}

    def build(self, backbone: str, *, num_frames: int, num_classes: int = 0, pretrained: str | None = None,
              stdha="default", dataset: str | None = None, head_dropout: float = 0.0, variant: str | None = None,
              **kwargs):
        """The ST-Adapter video model; `variant` "k400" (12x384) or "ssv2" (24x384), default from `dataset`."""
        variant = variant or variant_for(dataset)
        v = VARIANTS[variant]
        model = self.base_model(backbone, num_frames=num_frames, num_classes=num_classes, pretrained=pretrained,
                                head_dropout=head_dropout, temporal_embedding=False, timm_kwargs=kwargs)
        vit = model.backbone
        kw = dict(num_frames=num_frames, grid=vit.patch_embed.grid_size, prefix=vit.num_prefix_tokens)
        dim = vit.embed_dim
        vit.blocks = nn.Sequential(*[
            STBlock(blk, pre_attn=STAdapter(dim, **kw) if v["pre_attn"] else None,
                    pre_mlp=STAdapter(dim, **kw) if v["pre_mlp"] else None) for blk in vit.blocks])
        n = len(vit.blocks) * (int(v["pre_attn"]) + int(v["pre_mlp"]))
        model.adapter_config = dict(method=self.name, variant=variant, adapters=f"{n}x{WIDTH}", width=WIDTH,
                                    kernel=list(KERNEL), pre_attn=v["pre_attn"], pre_mlp=v["pre_mlp"])
        self.set_trainable(model)
        return model

    def set_trainable(self, model) -> None:
        """models_adapter.py: only names containing 'adapter' train, and the head made after the freeze."""
        for name, p in model.named_parameters():
            p.requires_grad = "adapter" in name or name.startswith("head.")
