"""Linear adapters that fold into their neighbouring Linear after training.

An adapter is `a(x) = x + s·(W2(W1 x + b1) + b2)`: no activation, so it is the affine map
`A x + c` with `A = I + s·W2·W1` and `c = s·(W2·b1 + b2)`. `AdaptedLinear` wraps a frozen
`nn.Linear` with an adapter on its input (before qkv, before fc1) and/or its output (after proj,
after fc2); `merge.py` folds both into one `nn.Linear` with the original parameter names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Placement name -> (path of the Linear inside a timm Block, side of the Linear).
PLACEMENTS: dict[str, tuple[str, str]] = {
    "qkv_in": ("attn.qkv", "in"),    # before qkv
    "proj_out": ("attn.proj", "out"),  # after the attention output projection
    "fc1_in": ("mlp.fc1", "in"),     # before the MLP
    "fc2_out": ("mlp.fc2", "out"),   # after the MLP
}
ALL_PLACEMENTS = tuple(PLACEMENTS)


INITS = ("torch", "original")


class LinearAdapter(nn.Module):
    """x + scale·up(drop(down(x))); `up` is zero-initialised so a fresh adapter is the identity.

    `init`: "torch" keeps nn.Linear's default init of `down`; "original" gives it trunc_normal(std 0.02),
    bias 0, as the original does (leexinhao/ZeroI2V mmaction/models/backbones/vit_zero_clip.py,
    `ViT_Zero_CLIP.init_weights`: `trunc_normal_(m.weight, std=.02)`, `constant_(m.bias, 0)` on every
    Linear, then `D_fc2` zeroed)."""

    def __init__(self, dim: int, *, ratio: float = 0.25, scale: float = 0.5, dropout: float = 0.0,
                 bias: bool = True, init: str = "torch") -> None:
        super().__init__()
        hidden = max(1, round(dim * ratio))
        self.scale = scale
        self.down = nn.Linear(dim, hidden, bias=bias)  # W1, b1
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.up = nn.Linear(hidden, dim, bias=bias)  # W2, b2
        if init not in INITS:
            raise ValueError(f"init {init!r}: use one of {', '.join(INITS)}")
        if init == "original":
            nn.init.trunc_normal_(self.down.weight, std=0.02)  # mmengine trunc_normal_: bounds a=-2, b=2 too
            if bias:
                nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        if bias:
            nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.up(self.drop(self.down(x)))

    @torch.no_grad()
    def affine(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, c) with a(x) = A x + c in eval mode, computed in `dtype`."""
        w1, w2 = self.down.weight.to(dtype), self.up.weight.to(dtype)
        A = torch.eye(w2.shape[0], dtype=dtype, device=w1.device) + self.scale * (w2 @ w1)
        c = torch.zeros(w2.shape[0], dtype=dtype, device=w1.device)
        if self.down.bias is not None:
            c = c + w2 @ self.down.bias.to(dtype)
        if self.up.bias is not None:
            c = c + self.up.bias.to(dtype)
        return A, self.scale * c


class AdaptedLinear(nn.Module):
    """A frozen Linear with optional adapters on its input and output side.

    Keeps the Linear's parameters as `weight`/`bias` (shared, not copied) so checkpoint keys stay
    those of the image model; adapters live under `adapter_in`/`adapter_out`. A Linear without a
    bias gets bias-free adapters, so the fold needs no new bias and keys stay identical.
    """

    def __init__(self, linear: nn.Linear, *, adapt_in: bool = False, adapt_out: bool = False,
                 ratio: float = 0.25, scale: float = 0.5, dropout: float = 0.0, init: str = "torch") -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        has_bias = linear.bias is not None
        kw = dict(ratio=ratio, scale=scale, dropout=dropout, bias=has_bias, init=init)
        self.adapter_in = LinearAdapter(self.in_features, **kw) if adapt_in else nn.Identity()
        self.adapter_out = LinearAdapter(self.out_features, **kw) if adapt_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter_out(F.linear(self.adapter_in(x), self.weight, self.bias))

    @torch.no_grad()
    def folded(self) -> nn.Linear:
        """The single Linear equal to this module in eval mode (computed in float64, cast back)."""
        W = self.weight.double()
        b = self.bias.double() if self.bias is not None else torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
        if isinstance(self.adapter_in, LinearAdapter):  # W(Ax + c) + b
            A, c = self.adapter_in.affine()
            W, b = W @ A, W @ c + b
        if isinstance(self.adapter_out, LinearAdapter):  # A(Wx + b) + c
            A, c = self.adapter_out.affine()
            W, b = A @ W, A @ b + c
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=W.device, dtype=self.weight.dtype)
        out.weight.copy_(W)
        if self.bias is not None:
            out.bias.copy_(b)
        out.weight.requires_grad_(self.weight.requires_grad)
        if out.bias is not None:
            out.bias.requires_grad_(self.bias.requires_grad)
        return out
