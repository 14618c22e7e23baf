import pytest
import torch
from torch import nn

from zeroi2v.model.adapters import AdaptedLinear, LinearAdapter


def test_fresh_adapter_is_identity_and_bottleneck_is_a_quarter():
    a = LinearAdapter(64, ratio=0.25, scale=0.5, dropout=0.1).eval()
    x = torch.randn(3, 64)
    assert torch.equal(a(x), x)
    assert a.down.out_features == 16


def test_affine_form_matches_forward():
    a = LinearAdapter(12, ratio=0.5, scale=0.7).eval()
    for p in a.parameters():
        nn.init.normal_(p)
    A, c = a.affine()
    x = torch.randn(5, 12)
    torch.testing.assert_close((x.double() @ A.T + c).float(), a(x), rtol=1e-5, atol=1e-5)


def test_adapted_linear_shares_the_frozen_weight_and_folds_exactly():
    lin = nn.Linear(8, 24)
    m = AdaptedLinear(lin, adapt_in=True, adapt_out=True, ratio=0.5, scale=0.3).eval()
    assert m.weight is lin.weight and m.bias is lin.bias
    for n, p in m.named_parameters():
        if "adapter" in n:
            nn.init.normal_(p, std=0.5)
    x = torch.randn(4, 8)
    folded = m.folded()
    assert isinstance(folded, nn.Linear) and folded.weight.shape == lin.weight.shape
    torch.testing.assert_close(folded(x), m(x), rtol=1e-5, atol=1e-5)


def test_bias_free_linear_gets_bias_free_adapters():
    m = AdaptedLinear(nn.Linear(8, 8, bias=False), adapt_in=True)
    assert m.adapter_in.down.bias is None and m.adapter_in.up.bias is None
    assert m.folded().bias is None


def test_original_init_statistics_and_identity():
    """init="original": adapters' first Linear trunc_normal(std 0.02) bias 0, second zero (leexinhao/ZeroI2V
    vit_zero_clip.py ViT_Zero_CLIP.init_weights); head normal(std 0.01) bias 0 (mmaction2 I3DHead)."""
    import zeroi2v
    from zeroi2v.model.adapters import LinearAdapter

    torch.manual_seed(0)
    a = LinearAdapter(768, init="original")
    w = a.down.weight
    assert abs(float(w.std()) - 0.02) < 0.001 and abs(float(w.mean())) < 0.001 and float(w.abs().max()) <= 2.0
    assert float(a.down.bias.abs().max()) == 0.0 and float(a.up.weight.abs().max()) == 0.0
    x = torch.randn(4, 768)
    assert torch.equal(a(x), x)  # still the identity at init
    torch.manual_seed(0)
    m = zeroi2v.create_model("vit_tiny_patch16_224", num_frames=2, num_classes=400, img_size=32, patch_size=8,
                             embed_dim=192, depth=1, num_heads=3, init="original")
    assert abs(float(m.head.weight.std()) - 0.01) < 0.0005 and float(m.head.bias.abs().max()) == 0.0
    torch.manual_seed(0)
    default = LinearAdapter(768)  # nn.Linear's kaiming-uniform: std 1/sqrt(3 x 768)
    assert abs(float(default.down.weight.std()) - 1 / (3 * 768) ** 0.5) < 0.001
    with pytest.raises(ValueError, match="init"):
        LinearAdapter(8, init="xavier")
