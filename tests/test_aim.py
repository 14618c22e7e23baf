"""The AIM-style peer: shapes, parameters, fresh model == image model per frame, FLOPs overhead."""
import copy

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from tiny import BACKBONE, TINY, video
from zeroi2v.methods.aim import AIMModel, GeluAdapter, create_aim_model


def plain_per_frame(vit, x):
    B, C, T, H, W = x.shape
    return vit(x.transpose(1, 2).reshape(B * T, C, H, W)).view(B, T, -1).mean(1)


def test_shapes_and_trainable_params():
    model = create_aim_model(BACKBONE, num_frames=4, **TINY)
    out = model(video(batch=2, frames=4))
    assert out.shape == (2, TINY["embed_dim"])
    D, depth, hidden = TINY["embed_dim"], TINY["depth"], round(TINY["embed_dim"] * 0.25)
    per_adapter = D * hidden + hidden + hidden * D + D
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == depth * 3 * per_adapter + 4 * D  # 3 adapters per block + temporal embedding
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".block." in n)


def test_fresh_model_is_the_image_model_per_frame():
    vit = timm.create_model(BACKBONE, pretrained=False, num_classes=0, **TINY).eval()
    model = AIMModel(copy.deepcopy(vit), num_frames=4).eval()
    x = video(batch=2, frames=4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain_per_frame(vit, x), rtol=1e-5, atol=1e-5)


def test_temporal_branch_mixes_frames():
    model = create_aim_model(BACKBONE, num_frames=4, **TINY).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, GeluAdapter):
                m.fc2.weight.copy_(torch.randn(m.fc2.weight.shape, generator=g) * 0.2)
    x = video(batch=1, frames=4)
    x2 = x.clone()
    x2[:, :, 0] += 1.0  # change frame 0 only
    with torch.no_grad():
        a = model.backbone.blocks(model.backbone._pos_embed(model.backbone.patch_embed(x[0].transpose(0, 1))))
        b = model.backbone.blocks(model.backbone._pos_embed(model.backbone.patch_embed(x2[0].transpose(0, 1))))
    assert (a[1:] - b[1:]).abs().max() > 1e-4  # frames 1..3 see frame 0 through the temporal attention


def test_flops_overhead_matches_aim_scale():
    """Extra FLOPs = a second qkv/proj pass per block + 3 bottleneck adapters: ~+44% at ViT-B shape ratios."""
    kw = dict(img_size=64, patch_size=16, embed_dim=64, depth=2, num_heads=4)
    vit = timm.create_model(BACKBONE, pretrained=False, num_classes=0, **kw).eval()
    aim = create_aim_model(BACKBONE, num_frames=4, **kw).eval()
    x = video(batch=1, frames=4, size=64)

    def flops(fn):
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            fn()
        return fc.get_total_flops()

    ratio = flops(lambda: aim(x)) / flops(lambda: plain_per_frame(vit, x))
    assert 1.3 < ratio < 1.6
