import pytest
import timm
import torch

import zeroi2v

from tiny import BACKBONE, TINY, tiny_model, video


def test_output_shapes_features_and_logits():
    x = video(batch=3)
    assert tiny_model()(x).shape == (3, 32)
    assert tiny_model(num_classes=7)(x).shape == (3, 7)
    assert tiny_model(num_classes=7).forward_features(x).shape == (3, 32)


def test_fresh_model_without_stdha_equals_the_image_model_frame_by_frame():
    model = tiny_model(stdha=None).eval()  # adapters present but zero-initialised
    image = timm.create_model(BACKBONE, num_classes=0, **TINY).eval()
    image.load_state_dict({k: v for k, v in model.backbone.state_dict().items() if ".adapter_" not in k})
    x = video()
    frames = x.transpose(1, 2).reshape(-1, 3, 32, 32)  # (B*T, C, H, W)
    expected = image(frames).view(2, 4, -1).mean(1)  # per-frame CLS, averaged over T
    torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)


def test_only_adapters_temporal_embedding_norm_and_head_train():
    model = tiny_model(num_classes=5)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "temporal_embedding" in trainable and "head.weight" in trainable
    assert {"backbone.norm.weight", "backbone.norm.bias"} <= trainable
    others = {n for n in trainable if ".adapter_" not in n} - {"temporal_embedding", "head.weight", "head.bias",
                                                                 "backbone.norm.weight", "backbone.norm.bias"}
    assert others == set()
    counts = zeroi2v.count_params(model)
    assert counts["trainable"] == sum(p.numel() for n, p in model.named_parameters() if n in trainable)
    # 4 placements x 2 layers, each D·r + r + r·D + D with D=32 (fc2_out) or 32 (others), r=8
    assert sum(p.numel() for n, p in model.named_parameters() if ".adapter_" in n) == 8 * (32 * 8 + 8 + 8 * 32 + 32)


def test_method_variants_and_gradients_reach_only_trainables():
    frozen = tiny_model(stdha=None, adapters=None, temporal_embedding=False)
    assert zeroi2v.count_params(frozen)["trainable"] == 64  # the final norm only
    model = tiny_model(num_classes=3)
    model(video()).sum().backward()
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    assert model.backbone.blocks[0].attn.qkv.adapter_in.down.weight.grad is not None


@pytest.mark.parametrize("name", ["vit_base_patch16_clip_224", "vit_base_patch16_clip_quickgelu_224",
                                  "vit_large_patch14_clip_224", "vit_small_patch16_224"])
def test_wraps_clip_quickgelu_and_imagenet_vits(name):
    model = zeroi2v.create_model(name, num_frames=2, **{**TINY, "num_heads": 4 if "large" not in name else 16,
                                                        "embed_dim": 32 if "large" not in name else 64})
    assert model(video(batch=1, frames=2)).shape == (1, model.embed_dim)
    heads = model.backbone.blocks[0].attn.num_heads
    assert sum(o != 0 for o in model.stdha_offsets) == (4 if heads == 16 else 2)


def test_data_config_uses_clip_or_imagenet_statistics():
    assert zeroi2v.data_config(zeroi2v.create_model("vit_base_patch16_clip_224", num_frames=1, **TINY))["mean"][0] == \
        pytest.approx(0.48145466)
    assert zeroi2v.data_config(tiny_model())["mean"] == (0.5, 0.5, 0.5)


def test_wrong_frame_count_is_reported():
    with pytest.raises(ValueError, match="num_frames=4"):
        tiny_model()(video(frames=3))


def test_same_seed_gives_the_same_adapters_in_every_process():
    """Adapter construction order must not depend on Python's per-process string hashing."""
    import subprocess
    import sys

    code = ("import torch, zeroi2v; torch.manual_seed(0); "
            "m = zeroi2v.create_model('vit_tiny_patch16_224', num_frames=2, img_size=32, patch_size=8, "
            "embed_dim=32, depth=2, num_heads=4); "
            "print(sum(p.double().sum().item() * (i + 1) for i, p in enumerate(m.parameters())))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert len(outs) == 1


SUPPORTED = ["vit_base_patch16_clip_224", "vit_base_patch16_clip_quickgelu_224", "vit_small_patch14_dinov2",
             "vit_small_patch14_reg4_dinov2", "vit_base_patch16_siglip_224", "deit_tiny_patch16_224",
             "vit_small_patch16_224"]


@pytest.mark.parametrize("name", SUPPORTED)
def test_supported_families_build_train_and_merge_exactly(name):
    from tiny import randomize_adapters

    model = randomize_adapters(zeroi2v.create_model(name, num_frames=4, num_classes=3, **TINY)).eval()
    assert model(video()).shape == (2, 3)
    diff = zeroi2v.check_merge(model, zeroi2v.merge_adapters(__import__("copy").deepcopy(model)), video())
    assert diff["max_rel"] < 1e-5


@pytest.mark.parametrize("name,family", [("eva02_tiny_patch14_224", "EVA/EVA02 or RoPE ViT"),
                                         ("vit_base_patch16_rope_224", "EVA/EVA02 or RoPE ViT"),
                                         ("swin_tiny_patch4_window7_224", "Swin"), ("resnet18", "timm.models.resnet"),
                                         ("vit_relpos_base_patch16_224", "relative-position ViT"),
                                         ("deit_tiny_distilled_patch16_224", "VisionTransformerDistilled")])
def test_unsupported_backbones_are_one_line_errors_naming_the_supported_families(name, family):
    from zeroi2v.utils.errors import UserError

    with pytest.raises(UserError, match="supported: timm VisionTransformer models -- CLIP") as e:
        zeroi2v.create_model(name, num_frames=2, **({"img_size": 32} if "distilled" in name else {}))
    assert family in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="unknown timm model 'vit_nope'"):
        zeroi2v.create_model("vit_nope", num_frames=2)
