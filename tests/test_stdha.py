import pytest
import torch
from timm.layers import Attention

from zeroi2v.model.stdha import STDHAttention, _runs, parse_offsets


def make_attn(dim=32, heads=4, seed=0):
    torch.manual_seed(seed)
    return Attention(dim, num_heads=heads, qkv_bias=True).eval()


def reference(attn, x, T, offsets):
    """Slow STDHA: explicit loops over clips, frames and heads."""
    BT, N, C = x.shape
    H, hd = attn.num_heads, C // attn.num_heads
    qkv = attn.qkv(x).view(BT // T, T, N, 3, H, hd)
    out = torch.zeros(BT // T, T, N, H, hd)
    for b in range(BT // T):
        for t in range(T):
            for h in range(H):
                s = t + offsets[h]
                s = s if 0 <= s < T else t  # clip ends: keep own frame
                q, k, v = qkv[b, t, :, 0, h], qkv[b, s, :, 1, h], qkv[b, s, :, 2, h]
                out[b, t, :, h] = torch.softmax(q @ k.T * hd**-0.5, dim=-1) @ v
    return attn.proj(out.reshape(BT, N, C))


def test_parse_offsets_defaults_of_the_original_configs():
    assert parse_offsets("default", num_heads=12) == [-1, 1] + [0] * 10  # ViT-B/16: 2 of 12
    assert parse_offsets("ssv2", num_heads=12) == [-1, 1, -2, 2] + [0] * 8  # SSv2: 4 of 12
    assert parse_offsets("default", num_heads=16) == [-1, -1, 1, 1] + [0] * 12  # ViT-L/14: 4 of 16
    assert parse_offsets({1: 2}, num_heads=4) == [1, 1, 0, 0]
    assert parse_offsets("-1:1,2:1", num_heads=4) == [-1, 2, 0, 0]
    assert parse_offsets([0, 3, 0, -3], num_heads=4) == [0, 3, 0, -3]
    assert parse_offsets(None, num_heads=3) == [0, 0, 0]
    with pytest.raises(ValueError, match="shifts 5 heads"):
        parse_offsets({1: 5}, num_heads=4)
    with pytest.raises(ValueError, match="entries for 4 heads"):
        parse_offsets([1, 0], num_heads=4)


def test_presets_follow_the_original_configs_per_model_size_and_frame_count():
    # ViT-L SSv2 u32 (CLIP-L_sthv2_u32.py): 7 of 16 heads, ±1 x2, ±2 x1, -3 x1
    assert parse_offsets("ssv2", num_heads=16, num_frames=32) == [-1, -1, 1, 1, -2, 2, -3] + [0] * 9
    assert parse_offsets("ssv2", num_heads=12, num_frames=16) == [-1, 1, -2, 2] + [0] * 8
    # the original shifts ±2 only in its 16/32-frame configs: at 8 frames "ssv2" is the 8-frame preset
    assert parse_offsets("ssv2", num_heads=12, num_frames=8) == parse_offsets("default", num_heads=12)
    assert parse_offsets("ssv2", num_heads=16, num_frames=8) == [-1, -1, 1, 1] + [0] * 12
    # recipe names are presets: ViT-L K400 32x4: 6 of 16 (±1 x2, -2 x2); u32 HMDB/UCF: ±1 and ±2
    assert parse_offsets("clip_l14_k400_32x4x1", num_heads=16) == [-1, -1, 1, 1, -2, -2] + [0] * 10
    assert parse_offsets("clip_b16_hmdb51_u32", num_heads=12) == [-1, 1, -2, 2] + [0] * 8
    with pytest.raises(ValueError, match="not 'default', 'ssv2', 'none', a recipe name"):
        parse_offsets("bogus", num_heads=4)


def test_heads_are_grouped_into_runs_of_equal_offsets():
    assert _runs([-1, 1, 1, 0, 0, 2]) == [(-1, 0, 1), (1, 1, 3), (0, 3, 5), (2, 5, 6)]


def test_offsets_beyond_the_clip_keep_every_frame_own():
    attn = make_attn(seed=5)
    x = torch.randn(6, 9, 32)
    expected = STDHAttention(attn, num_frames=3, offsets=[0, 0, 0, 0])(x)
    torch.testing.assert_close(STDHAttention(attn, num_frames=3, offsets=[3, -4, 0, 0])(x), expected)


def test_zero_offsets_equal_timm_attention_exactly():
    attn = make_attn()
    x = torch.randn(6, 17, 32)  # (B*T, N, C) with B=2, T=3
    expected = attn(x)
    got = STDHAttention(attn, num_frames=3, offsets=[0, 0, 0, 0])(x)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("offsets", [[-1, 1, 0, 0], [2, 0, -1, 1], [-3, 3, 1, 1]])
def test_stdha_equals_slow_per_frame_reference(offsets):
    attn = make_attn(seed=1)
    x = torch.randn(2 * 5, 9, 32)
    got = STDHAttention(attn, num_frames=5, offsets=offsets)(x)
    torch.testing.assert_close(got, reference(attn, x, 5, offsets), rtol=1e-5, atol=1e-6)


def test_gradients_match_reference():
    attn = make_attn(seed=2)
    x1 = torch.randn(8, 5, 32, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    STDHAttention(attn, num_frames=4, offsets=[-1, 1, 0, 2])(x1).square().sum().backward()
    reference(attn, x2, 4, [-1, 1, 0, 2]).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("j, changed", [(2, {1, 2, 3}), (0, {0, 1}), (5, {4, 5})])
def test_offsets_move_information_only_between_intended_frames(j, changed):
    """Δ=-1 head: frame t reads t-1; Δ=+1 head: t reads t+1. Perturbing frame j changes j, j+1, j-1."""
    T = 6
    stdha = STDHAttention(make_attn(seed=3), num_frames=T, offsets=[-1, 1, 0, 0])
    x = torch.randn(T, 7, 32)
    y = stdha(x)
    x2 = x.clone()
    x2[j] += torch.randn(7, 32)
    moved = (stdha(x2) - y).abs().amax(dim=(1, 2))
    assert {t for t in range(T) if moved[t] > 1e-6} == changed


def test_queries_are_never_shifted():
    """With one head shifted, only that head's K/V change; Q of every head stays its own frame's."""
    stdha = STDHAttention(make_attn(seed=4), num_frames=3, offsets=[1, 0, 0, 0])
    qkv = torch.randn(1, 3, 5, 3, 4, 8)
    out = stdha.shift_kv(qkv.clone())
    assert torch.equal(out[:, :, :, 0], qkv[:, :, :, 0])  # Q untouched
    assert torch.equal(out[..., 1:, :], qkv[..., 1:, :])  # heads 1..3 untouched
    assert torch.equal(out[:, 0, :, 1:, 0], qkv[:, 1, :, 1:, 0])  # frame 0 reads frame 1
    assert torch.equal(out[:, 2, :, 1:, 0], qkv[:, 2, :, 1:, 0])  # last frame keeps its own


def test_rejects_batch_not_multiple_of_frames():
    with pytest.raises(ValueError, match="multiple of num_frames"):
        STDHAttention(make_attn(), num_frames=4, offsets=[1, 0, 0, 0])(torch.randn(6, 5, 32))


@pytest.mark.parametrize("spec,frames,message", [
    ("0:1", 8, "shifts heads by 0 frames"), ({0: 2, 1: 1}, 8, "shifts heads by 0 frames"),
    ("100:1,-100:1", 4, "offset 100 reaches beyond a clip of 4 frames"),
    ("-4:1", 4, "offset -4 reaches beyond a clip of 4 frames"), ([0, 8, 0, 0], 8, "offset 8 reaches beyond"),
])
def test_specs_that_shift_nothing_are_refused(spec, frames, message):
    with pytest.raises(ValueError, match=message):
        parse_offsets(spec, num_heads=4, num_frames=frames)


def test_offsets_within_the_clip_and_presets_are_kept():
    assert parse_offsets("-3:1,3:1", num_heads=4, num_frames=4) == [-3, 3, 0, 0]
    assert parse_offsets({0: 0, 1: 1}, num_heads=4, num_frames=2) == [1, 0, 0, 0]  # 0 heads at 0: nothing asked
    assert parse_offsets("default", num_heads=4, num_frames=1) == [-1, 1, 0, 0]  # presets: not checked
    assert parse_offsets("100:1", num_heads=4) == [100, 0, 0, 0]  # frame count unknown: not checked


def test_the_model_refuses_offsets_beyond_its_frames():
    from tiny import tiny_model

    with pytest.raises(ValueError, match="offset 100 reaches beyond a clip of 4 frames"):
        tiny_model(num_frames=4, stdha="100:1,-100:1")
