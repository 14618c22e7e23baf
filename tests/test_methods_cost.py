"""The one FLOP count: attention is counted whichever kernel runs it (oracle: timm's unfused attention)."""
import timm
import torch

from zeroi2v.methods.cost import count_flops


def test_fused_attention_counts_the_same_flops_as_the_explicit_matmuls():
    torch.manual_seed(0)
    m = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, depth=2).eval()
    x = torch.zeros(1, 3, 64, 64)
    counts = {}
    for fused in (True, False):
        for block in m.blocks:
            block.attn.fused_attn = fused
        counts[fused] = count_flops(m, x)
    tokens, dim = 17, 192  # (64/16)^2 + CLS; QK^T and AV: 2 matmuls x 2 FLOPs x N^2 x D per block, 2 blocks
    attention = 2 * (2 * 2 * tokens * tokens * dim)
    assert counts[True] == counts[False] > attention  # the attention matmuls are part of both counts
