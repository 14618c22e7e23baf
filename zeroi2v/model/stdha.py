"""STDHA: spatio-temporal dual-headed attention (ZeroI2V, Li et al. 2023).

A drop-in replacement for timm's `Attention` that sees a batch of frames `(B*T, N, C)`. A few
heads take their keys and values (never their queries) from frame t+Δ instead of frame t, for
all tokens including CLS; at the clip ends (t+Δ outside [0, T)) such a head keeps its own frame.
No parameters and no FLOPs are added: the module owns exactly timm's submodules (`qkv`, `proj`,
norms, dropouts) under the same names, so image weights load unchanged, and with every offset 0
it computes exactly timm's attention.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

OffsetSpec = str | Mapping[int, int] | Sequence[int] | None


def parse_offsets(spec: OffsetSpec, *, num_heads: int, num_frames: int | None = None) -> list[int]:
    """Per-head temporal offsets from a spec.

    spec: None or "none" (no shift); "default": the original 8-frame configs, 1 head at -1 and 1 at
    +1 (2 each on 16-head ViT-L); "ssv2": the original SSv2 configs, ±1 and ±2 (ViT-B u16; ViT-L
    u32: ±1 x2, ±2, -3) -- they shift ±2 only with 16 or 32 frames, so with `num_frames` < 16 it
    is "default"; a recipe name of `zeroi2v.settings.recipes` (its spec); a mapping {Δ: heads}; a string
    "-1:1,1:1" of the same; or an explicit list with one offset per head.
    Shifted heads are the first heads, in the order the spec lists them (the original's channel order).
    A spec that shifts nothing is a ValueError: an offset 0 in a mapping / string, or (with
    `num_frames`) an explicit offset with |Δ| >= num_frames, whose heads would always keep their
    own frame. Presets and recipe names are not checked against the frame count.
    """
    if spec is None or spec == "none":
        return [0] * num_heads
    explicit = not (isinstance(spec, str) and _preset(spec, num_heads=num_heads, num_frames=num_frames) != spec)
    offsets = _offsets(spec, num_heads=num_heads, num_frames=num_frames)
    far = [d for d in offsets if num_frames is not None and abs(d) >= num_frames]
    if explicit and far:
        raise ValueError(f"STDHA offset {far[0]} reaches beyond a clip of {num_frames} frames (|offset| must be "
                         f"below the frame count); use offsets within ±{num_frames - 1}, or more --frames")
    return offsets


def _offsets(spec: OffsetSpec, *, num_heads: int, num_frames: int | None) -> list[int]:
    if isinstance(spec, str):
        spec = _preset(spec, num_heads=num_heads, num_frames=num_frames)
    if isinstance(spec, str):
        try:
            spec = {int(d): int(n) for d, n in (p.split(":") for p in spec.split(",") if p.strip())}
        except ValueError:
            raise ValueError(f"STDHA spec {spec!r} is not 'default', 'ssv2', 'none', a recipe name or "
                             f"'Δ:heads,...' (e.g. '-1:1,1:1')") from None
    if isinstance(spec, Mapping):
        if any(int(n) < 0 for n in spec.values()):
            raise ValueError(f"STDHA spec {dict(spec)} has a negative head count")
        if any(int(d) == 0 and int(n) > 0 for d, n in spec.items()):
            raise ValueError(f"STDHA spec {dict(spec)} shifts heads by 0 frames, which is no shift; give "
                             f"non-zero offsets (e.g. '-1:1,1:1'), or 'none' for no STDHA")
        offsets = [int(d) for d, n in spec.items() if int(d) != 0 for _ in range(int(n))]
        if len(offsets) > num_heads:
            raise ValueError(f"STDHA spec {dict(spec)} shifts {len(offsets)} heads but the model has {num_heads}")
        return offsets + [0] * (num_heads - len(offsets))
    offsets = [int(d) for d in spec]
    if len(offsets) != num_heads:
        raise ValueError(f"STDHA offsets {offsets} have {len(offsets)} entries for {num_heads} heads")
    return offsets


def _preset(name: str, *, num_heads: int, num_frames: int | None) -> str:
    """A named preset as a 'Δ:heads' spec; any other string unchanged."""
    from zeroi2v.settings.recipes import RECIPES

    if name in RECIPES:
        return RECIPES[name].stdha
    large = num_heads >= 16
    if name == "ssv2" and (num_frames is None or num_frames >= 16):
        return RECIPES["clip_l14_ssv2_u32" if large else "clip_b16_ssv2_u16"].stdha
    if name in ("default", "ssv2"):
        return RECIPES["clip_l14_k400_8x16x1" if large else "clip_b16_k400_8x16x1"].stdha
    return name


def _runs(offsets: Sequence[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of equal offsets: [-1, 1, 1, 0] -> [(-1, 0, 1), (1, 1, 3), (0, 3, 4)]."""
    runs: list[tuple[int, int, int]] = []
    for h, d in enumerate(offsets):
        if runs and runs[-1][0] == d and runs[-1][2] == h:
            runs[-1] = (d, runs[-1][1], h + 1)
        else:
            runs.append((d, h, h + 1))
    return runs


class STDHAttention(nn.Module):
    """Multi-head self-attention over frames with per-head temporal K/V offsets."""

    def __init__(self, attn: nn.Module, *, num_frames: int, offsets: Sequence[int]) -> None:
        """Wrap timm `Attention` `attn`, reusing (not copying) its submodules."""
        super().__init__()
        if getattr(attn, "gate", None) is not None:
            raise ValueError("STDHA does not support gated attention")
        self.num_heads = attn.num_heads
        self.head_dim = attn.head_dim
        self.attn_dim = getattr(attn, "attn_dim", attn.num_heads * attn.head_dim)
        self.scale = attn.scale
        self.num_frames = num_frames
        if len(offsets) != self.num_heads:
            raise ValueError(f"{len(offsets)} offsets for {self.num_heads} heads")
        self.offsets = [int(o) for o in offsets]
        self.qkv, self.q_norm, self.k_norm = attn.qkv, attn.q_norm, attn.k_norm
        self.attn_drop, self.norm = attn.attn_drop, attn.norm
        self.proj, self.proj_drop = attn.proj, attn.proj_drop
        # Runs of adjacent heads sharing an offset Δ ≠ 0: (Δ, first head, last head + 1).
        self._runs = [(d, h0, h1) for d, h0, h1 in _runs(self.offsets) if d != 0]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, num_frames={self.num_frames}, offsets={self.offsets}"

    def shift_kv(self, qkv: torch.Tensor) -> torch.Tensor:
        """Move K and V of the shifted heads across frames, in place on the fresh qkv output.

        qkv: (B, T, N, 3, H, hd). For a run of heads with offset Δ > 0, frames t < T-Δ take frame
        t+Δ's K/V and the last Δ frames keep their own (Δ < 0 mirrored). Only those heads' K/V are
        copied (a slice clone of |run|/H of K and V); Q and the other heads are untouched.
        """
        T = qkv.shape[1]
        for d, h0, h1 in self._runs:
            if abs(d) >= T:
                continue  # every frame is a clip end: all keep their own
            kv = qkv[:, :, :, 1:, h0:h1]  # (B, T, N, 2, h, hd), a view
            if d > 0:
                kv[:, : T - d] = kv[:, d:].clone()
            else:
                kv[:, -d:] = kv[:, : T + d].clone()
        return qkv

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        BT, N, C = x.shape  # (B*T, N, C)
        T = self.num_frames
        if BT % T:
            raise ValueError(f"batch of {BT} frames is not a multiple of num_frames={T}")
        qkv = self.qkv(x)  # (B*T, N, 3*H*hd), a fresh tensor: safe to edit in place
        if self._runs:
            qkv = self.shift_kv(qkv.view(BT // T, T, N, 3, self.num_heads, self.head_dim))
        q, k, v = qkv.reshape(BT, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)  # (B*T, H, N, hd)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop.p if self.training else 0.0
        )
        x = x.transpose(1, 2).reshape(BT, N, self.attn_dim)  # (B*T, N, H*hd)
        x = self.norm(x)
        return self.proj_drop(self.proj(x))
