import pytest
import timm
import torch
from torch import nn

import zeroi2v
from zeroi2v.utils.errors import UserError

from tiny import BACKBONE, CLIP_BACKBONE, TINY, tiny_model, video

D, P, L, IMG = 32, 8, 2, 32


def openai_clip_state_dict(seed=0):
    """A randomly initialised state dict in OpenAI CLIP's format (visual tower + text parts)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.1  # noqa: E731
    n = (IMG // P) ** 2 + 1
    sd = {"visual.class_embedding": r(D), "visual.positional_embedding": r(n, D),
          "visual.conv1.weight": r(D, 3, P, P), "visual.ln_pre.weight": 1 + r(D), "visual.ln_pre.bias": r(D),
          "visual.ln_post.weight": 1 + r(D), "visual.ln_post.bias": r(D), "visual.proj": r(D, 16),
          "token_embedding.weight": r(10, 16), "logit_scale": torch.tensor(4.6)}
    for i in range(L):
        b = f"visual.transformer.resblocks.{i}."
        sd.update({b + "ln_1.weight": 1 + r(D), b + "ln_1.bias": r(D), b + "ln_2.weight": 1 + r(D),
                   b + "ln_2.bias": r(D), b + "attn.in_proj_weight": r(3 * D, D), b + "attn.in_proj_bias": r(3 * D),
                   b + "attn.out_proj.weight": r(D, D), b + "attn.out_proj.bias": r(D),
                   b + "mlp.c_fc.weight": r(4 * D, D), b + "mlp.c_fc.bias": r(4 * D),
                   b + "mlp.c_proj.weight": r(D, 4 * D), b + "mlp.c_proj.bias": r(D)})
    return sd


class Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def as_torchscript(sd, path):
    """Write `sd` as a TorchScript archive, like OpenAI's ViT-B-16.pt."""
    root = Holder()
    for key, value in sd.items():
        *parents, leaf = key.split(".")
        mod = root
        for p in parents:
            if not hasattr(mod, p):
                mod.add_module(p, Holder())
            mod = getattr(mod, p)
        mod.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    torch.jit.script(root).save(str(path))


def clip_model(pretrained):
    return zeroi2v.create_model(CLIP_BACKBONE, num_frames=2, pretrained=str(pretrained), **TINY)


@pytest.mark.parametrize("fmt", ["state_dict", "torchscript"])
def test_openai_clip_keys_are_converted(tmp_path, fmt):
    sd = openai_clip_state_dict()
    path = tmp_path / "ViT-tiny.pt"
    torch.save(sd, path) if fmt == "state_dict" else as_torchscript(sd, path)
    model = clip_model(path)
    vit = model.backbone
    assert torch.equal(vit.cls_token.flatten(), sd["visual.class_embedding"])
    assert torch.equal(vit.blocks[1].attn.qkv.weight, sd["visual.transformer.resblocks.1.attn.in_proj_weight"])
    assert torch.equal(vit.blocks[0].mlp.fc2.bias, sd["visual.transformer.resblocks.0.mlp.c_proj.bias"])
    assert torch.equal(vit.norm_pre.weight, sd["visual.ln_pre.weight"])
    assert torch.equal(vit.norm.bias, sd["visual.ln_post.bias"])
    # adapters stay zero-initialised: the loaded model is the image model frame by frame
    assert model.backbone.blocks[0].attn.qkv.adapter_in.up.weight.abs().sum() == 0


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_timm_checkpoint_round_trip(tmp_path, suffix):
    src = timm.create_model(BACKBONE, num_classes=10, **TINY)  # ImageNet-style head is dropped
    path = tmp_path / f"vit{suffix}"
    if suffix == ".pth":
        torch.save({"model": src.state_dict()}, path)
    else:
        from safetensors.torch import save_file
        save_file(src.state_dict(), str(path))
    model = tiny_model(pretrained=str(path), stdha=None).eval()
    src.reset_classifier(0)
    frames = video().transpose(1, 2).reshape(-1, 3, IMG, IMG)
    torch.testing.assert_close(model(video()), src.eval()(frames).view(2, 4, -1).mean(1), rtol=1e-6, atol=1e-6)


def test_missing_file_wrong_architecture_and_shape_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        tiny_model(pretrained=str(tmp_path / "nope.pth"))
    deeper = timm.create_model(BACKBONE, num_classes=0, **{**TINY, "depth": 3})
    torch.save(deeper.state_dict(), tmp_path / "deep.pth")
    with pytest.raises(UserError, match=r"unexpected key blocks\.2\."):
        tiny_model(pretrained=str(tmp_path / "deep.pth"))
    wider = timm.create_model(BACKBONE, num_classes=0, **{**TINY, "embed_dim": 64})
    torch.save(wider.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(UserError, match="key cls_token has shape") as e:
        tiny_model(pretrained=str(tmp_path / "wide.pth"))
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        tiny_model(pretrained=str(tmp_path / "junk.pth"))


def test_pickled_objects_are_refused_by_weights_only(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}, "obj": Holder()}, tmp_path / "obj.pth")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        tiny_model(pretrained=str(tmp_path / "obj.pth"))


def test_export_for_other_frame_count_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    zeroi2v.save_merged(tiny_model(num_frames=4), path)
    with pytest.raises(UserError, match="exported for 4 frames"):
        zeroi2v.create_model(BACKBONE, num_frames=8, adapters=None, pretrained=str(path))


# --- OpenAI CLIP runs in a QuickGELU model ---------------------------------------------------------

def clip_reference(sd, frames, act):
    """OpenAI CLIP's visual tower (as the original vit_zero_clip.py computes it), by hand: CLS after ln_post."""
    import torch.nn.functional as F

    ln = lambda x, name: F.layer_norm(x, (D,), sd[name + ".weight"], sd[name + ".bias"])  # noqa: E731
    x = F.conv2d(frames, sd["visual.conv1.weight"], stride=P).flatten(2).transpose(1, 2)  # (B, N, D)
    cls = sd["visual.class_embedding"].expand(x.shape[0], 1, D)
    x = ln(torch.cat([cls, x], 1) + sd["visual.positional_embedding"], "visual.ln_pre")
    heads = TINY["num_heads"]
    for i in range(L):
        b = f"visual.transformer.resblocks.{i}."
        q, k, v = F.linear(ln(x, b + "ln_1"), sd[b + "attn.in_proj_weight"], sd[b + "attn.in_proj_bias"]).chunk(3, -1)
        split = lambda t: t.unflatten(-1, (heads, D // heads)).transpose(1, 2)  # noqa: E731
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) / (D // heads) ** 0.5, -1) @ split(v)
        x = x + F.linear(a.transpose(1, 2).flatten(2), sd[b + "attn.out_proj.weight"], sd[b + "attn.out_proj.bias"])
        h = act(F.linear(ln(x, b + "ln_2"), sd[b + "mlp.c_fc.weight"], sd[b + "mlp.c_fc.bias"]))
        x = x + F.linear(h, sd[b + "mlp.c_proj.weight"], sd[b + "mlp.c_proj.bias"])
    return ln(x[:, 0], "visual.ln_post")


def test_openai_clip_weights_run_in_a_quickgelu_model_equal_to_the_reference(tmp_path, caplog):
    from timm.layers import QuickGELU

    sd = openai_clip_state_dict()
    torch.save(sd, tmp_path / "ViT-tiny.pt")
    with caplog.at_level("WARNING"):
        model = zeroi2v.create_model("vit_base_patch16_clip_224", num_frames=4, stdha=None,
                                     pretrained=str(tmp_path / "ViT-tiny.pt"), **TINY).eval()
    assert model.backbone_name == "vit_base_patch16_clip_quickgelu_224"
    assert "using backbone vit_base_patch16_clip_quickgelu_224 instead of vit_base_patch16_clip_224" in caplog.text
    assert all(isinstance(b.mlp.act, QuickGELU) for b in model.backbone.blocks)
    x = video()
    frames = x.transpose(1, 2).reshape(-1, 3, IMG, IMG)
    with torch.no_grad():
        feats = model.forward_features(x)
        quick = clip_reference(sd, frames, lambda h: h * torch.sigmoid(1.702 * h)).view(2, 4, -1).mean(1)
        gelu = clip_reference(sd, frames, torch.nn.functional.gelu).view(2, 4, -1).mean(1)
    torch.testing.assert_close(feats, quick, rtol=0, atol=1e-5)
    assert (feats - gelu).abs().max() > 1e-3  # the test would see a GELU model


def test_quickgelu_backbones_and_kwargs_are_kept_and_others_refused(tmp_path):
    torch.save(openai_clip_state_dict(), tmp_path / "ViT-tiny.pt")
    p = str(tmp_path / "ViT-tiny.pt")
    m = zeroi2v.create_model("vit_base_patch16_clip_quickgelu_224", num_frames=2, pretrained=p, **TINY)
    assert m.backbone_name == "vit_base_patch16_clip_quickgelu_224"
    m = zeroi2v.create_model("vit_base_patch16_clip_224", num_frames=2, pretrained=p, act_layer="quick_gelu", **TINY)
    assert m.backbone_name == "vit_base_patch16_clip_224" and m.timm_kwargs["act_layer"] == "quick_gelu"
    with pytest.raises(UserError, match="act_layer='gelu'; drop act_layer"):
        zeroi2v.create_model("vit_base_patch16_clip_224", num_frames=2, pretrained=p, act_layer="gelu", **TINY)
    with pytest.raises(UserError, match="OpenAI CLIP checkpoint .* --backbone vit_base_patch16_clip_quickgelu_224"):
        zeroi2v.create_model(BACKBONE, num_frames=2, pretrained=p, **TINY)
    # a timm-format (GELU) CLIP checkpoint stays GELU
    src = timm.create_model("vit_base_patch16_clip_224", num_classes=0, **TINY)
    torch.save(src.state_dict(), tmp_path / "timm.pth")
    m = zeroi2v.create_model("vit_base_patch16_clip_224", num_frames=2, pretrained=str(tmp_path / "timm.pth"), **TINY)
    assert isinstance(m.backbone.blocks[0].mlp.act, nn.GELU)


# --- exports that load in one call ------------------------------------------------------------------

def test_load_merged_builds_the_video_model_from_the_export_alone(tmp_path):
    from tiny import randomize_adapters

    model = randomize_adapters(tiny_model(num_frames=4, num_classes=5, stdha="-1:1,2:1")).eval()
    path = tmp_path / "m.safetensors"
    zeroi2v.save_merged(model, path)
    loaded = zeroi2v.load_merged(path)
    assert (loaded.num_frames, loaded.num_classes, loaded.stdha_offsets) == (4, 5, [-1, 2, 0, 0])
    assert loaded.timm_kwargs == TINY and loaded.merged and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(video()), model(video()), rtol=1e-5, atol=1e-5)
    # create_model without num_classes keeps the trained head; num_classes=0 drops it on purpose
    kept = zeroi2v.create_model(BACKBONE, num_frames=4, adapters=None, pretrained=str(path))
    assert kept.num_classes == 5 and torch.equal(kept.head.weight, loaded.head.weight)
    assert zeroi2v.create_model(BACKBONE, num_frames=4, num_classes=0, adapters=None,
                                pretrained=str(path))(video()).shape == (2, 32)
    with pytest.raises(UserError, match="exported from backbone vit_tiny_patch16_224, not vit_small_patch16_224"):
        zeroi2v.create_model("vit_small_patch16_224", num_frames=4, adapters=None, pretrained=str(path))
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(UserError, match="not a ZeroI2V merged video export"):
        zeroi2v.load_merged(tmp_path / "plain.pth")


FAMILIES = [("vit_small_patch14_dinov2", {}), ("vit_small_patch14_reg4_dinov2", {}),
            ("vit_base_patch16_siglip_224", {}), ("vit_base_patch16_clip_quickgelu_224", dict(num_classes=0)),
            ("deit_tiny_patch16_224", dict(num_classes=0)), ("vit_tiny_patch16_224", dict(num_classes=0))]


@pytest.mark.parametrize("name,overlay", FAMILIES)
def test_image_only_export_loads_in_plain_timm(tmp_path, name, overlay):
    from tiny import randomize_adapters

    model = randomize_adapters(zeroi2v.create_model(name, num_frames=4, num_classes=5, stdha=None,
                                                    temporal_embedding=False, **TINY)).eval()
    path = tmp_path / "image.safetensors"
    zeroi2v.save_merged(model, path, image_only=True)
    vit = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path), **overlay), **TINY)
    frames = video().transpose(1, 2).reshape(-1, 3, IMG, IMG)
    with torch.no_grad():  # without STDHA and temporal embedding the video model is the image model per frame
        torch.testing.assert_close(vit.eval()(frames).view(2, 4, -1).mean(1), model.forward_features(video()),
                                   rtol=1e-5, atol=1e-5)
    assert zeroi2v.model.weights.read_export_metadata(path) is None  # an image checkpoint, not a video export


# --- bad checkpoints: one-line errors ------------------------------------------------------------------

def test_bad_checkpoints_are_one_line_errors(tmp_path):
    from safetensors.torch import save_file

    from zeroi2v.model.weights import EXPORT_FORMAT

    good = timm.create_model(BACKBONE, num_classes=0, **TINY).state_dict()
    save_file(good, str(tmp_path / "good.safetensors"))
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "header.safetensors").write_bytes((20).to_bytes(8, "little") + b'{"a": [1, 2' + b" " * 30)
    save_file(good, str(tmp_path / "nometa.safetensors"), metadata=dict(format=EXPORT_FORMAT, num_frames="4"))
    torch.save({**good, "pos_embed": good["pos_embed"].flatten()}, tmp_path / "flat.pth")
    (tmp_path / "adir").mkdir()
    cases = {"empty.pt": "is empty \\(0 bytes\\)", "trunc.safetensors": "truncated or corrupt safetensors",
             "header.safetensors": "truncated or corrupt safetensors",
             "nometa.safetensors": "metadata lacks backbone, stdha_offsets, num_classes, timm_kwargs",
             "flat.pth": r"key pos_embed has shape \(544,\), expected \(1, tokens, dim\)",
             "adir": "is a directory", "missing.pth": "not found"}
    for name, message in cases.items():
        with pytest.raises(UserError, match=message) as e:
            tiny_model(pretrained=str(tmp_path / name))
        assert "\n" not in str(e.value), name
    with pytest.raises(UserError, match="is a directory"):
        zeroi2v.load_merged(tmp_path / "adir")
