import pytest
import timm
import torch
from torch import nn

import zeroi2v
from zeroi2v.errors import UserError

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
