"""AIM, ST-Adapter and full fine-tuning: a fresh model is the image model per frame, the adapters sit
where the official code puts them, and on ViT-B/16 CLIP 8x224 the FLOPs and trained parameters are
the papers' (AIM: 606 vs 422 GFLOPs over 3 views, ~11.0 M trained; ST-Adapter 12x384: 455 vs 422, ~7.4 M)."""
import pytest
import timm
import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from tiny import BACKBONE, TINY, video
from zeroi2v.methods import get_method
from zeroi2v.methods.aim import AIMBlock
from zeroi2v.methods.cost import image_model, trained_params
from zeroi2v.methods.st_adapter import STAdapter

FRESH = [("full_finetune", None), ("aim", "k400"), ("aim", "ssv2"), ("st_adapter", "k400"), ("st_adapter", "ssv2"),
         ("frozen", None), ("zeroi2v_no_stdha", None)]


@pytest.fixture(scope="module")
def image_weights(tmp_path_factory):
    """A random tiny timm image ViT and its weights as a local .safetensors file."""
    torch.manual_seed(3)
    vit = timm.create_model(BACKBONE, pretrained=False, num_classes=0, **TINY).eval()
    with torch.no_grad():
        for p in vit.parameters():  # away from timm's init (zero biases, unit norms) so the check can fail
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path_factory.mktemp("w") / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return vit, str(path)


def build(name, variant=None, **kw):
    return get_method(name).build(BACKBONE, num_frames=4, **({"variant": variant} if variant else {}), **TINY, **kw)


@pytest.mark.parametrize("name,variant", FRESH)
def test_a_fresh_model_is_the_image_model_applied_per_frame(name, variant, image_weights):
    vit, path = image_weights
    model = build(name, variant, pretrained=path).eval()
    x = video(batch=2, frames=4)
    with torch.no_grad():
        ref = vit(x.transpose(1, 2).flatten(0, 1)).view(2, 4, -1).mean(1)  # (B, D)
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)
        assert ref.abs().mean() > 0.1


def randomize(model, seed=0, std=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "adapter" in n or n == "temporal_embedding":
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


@pytest.mark.parametrize("name", ["aim", "st_adapter"])
def test_trained_adapters_mix_frames_and_change_only_what_they_should(name, image_weights):
    vit, path = image_weights
    model = randomize(build(name, pretrained=path)).eval()
    x = video(batch=1, frames=4)
    x2 = x.clone()
    x2[:, :, 0] += 1.0  # change frame 0 only
    with torch.no_grad():
        a, b = model.frame_tokens(x), model.frame_tokens(x2)  # (T, N, D)
    assert (a[1:] - b[1:]).abs().max() > 1e-3  # frames 1..3 see frame 0
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(".block." in n or n.startswith("backbone.") for n in frozen)


def test_st_adapter_touches_patch_tokens_only_and_its_conv_is_temporal():
    ad = STAdapter(32, num_frames=4, grid=(4, 4), prefix=1, width=8)
    assert ad.conv.kernel_size == (3, 1, 1) and ad.conv.padding == (1, 0, 0) and ad.conv.groups == 8
    assert all(float(t.detach().abs().sum()) == 0 for t in (ad.conv.weight, ad.conv.bias, ad.fc1.bias, ad.fc2.bias))
    assert ad.fc1.weight.abs().sum() > 0 and ad.fc2.weight.abs().sum() > 0  # PyTorch's default init, as there
    with torch.no_grad():
        ad.conv.weight.normal_(0, 0.5), ad.conv.bias.normal_(0, 0.5)
    x = torch.randn(2 * 4, 17, 32)
    with torch.no_grad():
        y = ad(x)
    torch.testing.assert_close(y[:, 0], x[:, 0])  # the class token passes unchanged
    assert (y[:, 1:] - x[:, 1:]).abs().max() > 1e-3
    x2 = x.clone()
    x2[0, 5] += 1.0  # video 0, frame 0, one patch
    with torch.no_grad():
        d = (ad(x2) - y).abs().amax(-1).view(2, 4, 17)
    assert d[0, 1, 5] > 0 and d[0, 2, 5] == 0 and d[1].max() == 0  # reaches frame t+1 only, same patch, same video
    assert d[0, 0, 6] == 0 and d[0, 1, 6] == 0  # kernel 1 in space


def test_placements_of_the_two_published_variants():
    k400, ssv2 = build("st_adapter", "k400"), build("st_adapter", "ssv2")
    assert [(b.adapter_pre_attn is None, b.adapter_pre_mlp is None) for b in k400.backbone.blocks] == [(True, False)] * 2
    assert [(b.adapter_pre_attn is None, b.adapter_pre_mlp is None) for b in ssv2.backbone.blocks] == [(False, False)] * 2
    assert k400.temporal_embedding is None
    aim_k, aim_s = build("aim", "k400"), build("aim", "ssv2")
    assert all(isinstance(b, AIMBlock) for b in aim_k.backbone.blocks)
    assert [b.scale for b in aim_k.backbone.blocks] == [0.5, 0.5] and [b.scale for b in aim_s.backbone.blocks] == [1, 1]
    assert aim_k.backbone.blocks[0].t_adapter_in is None and aim_s.backbone.blocks[0].t_adapter_in is not None
    assert [b.drop_path.p for b in aim_k.backbone.blocks] == [0.0, 0.2]  # linear 0 -> 0.2 over the blocks
    assert get_method("aim").build(BACKBONE, num_frames=4, dataset="ssv2", **TINY).adapter_config["variant"] == "ssv2"


def test_what_trains():
    D, depth, C = TINY["embed_dim"], TINY["depth"], 5
    head = D * C + C
    aim = build("aim", num_classes=C)
    per = 2 * D * (D // 4) + D // 4 + D  # Linear(D, D/4) + Linear(D/4, D)
    assert trained_params(aim) == depth * 3 * per + 4 * D + 2 * D + head  # adapters, temporal emb., ln_post, head
    st = build("st_adapter", num_classes=C)
    per = D * 384 + 384 + 384 * 3 + 384 + 384 * D + D
    assert trained_params(st) == depth * per + head  # ln_post frozen, as in the official code
    ft = build("full_finetune", num_classes=C)
    assert trained_params(ft) == sum(p.numel() for p in ft.parameters())


def _flops(model, x) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as c:
        model.eval()(x)
    return c.get_total_flops()


@pytest.mark.parametrize("name,ratio,trained_m,gflops_3views", [
    ("aim", 606 / 422, 11.0, 606), ("st_adapter", 455 / 422, 7.4, 455)])
def test_vit_b16_clip_8x224_costs_match_the_papers(name, ratio, trained_m, gflops_3views):
    """Random weights on the meta device: FLOPs and parameters only (no memory, ~1 s)."""
    with torch.device("meta"):
        model = get_method(name).build("vit_base_patch16_clip_224", num_frames=8, num_classes=400)
        image = image_model(model)
        x = torch.zeros(1, 3, 8, 224, 224)
        flops, image_flops = _flops(model, x), _flops(image, x)
    assert flops / image_flops == pytest.approx(ratio, rel=0.03)
    assert flops / 2e9 * 3 == pytest.approx(gflops_3views, rel=0.03)  # the papers count multiply-adds (fvcore)
    assert image_flops / 2e9 * 3 == pytest.approx(422, rel=0.03)
    assert trained_params(model) / 1e6 == pytest.approx(trained_m, rel=0.03)


def test_the_variant_comes_from_the_dataset_record_for_every_spelling():
    from zeroi2v.methods.base import variant_for

    assert {name: variant_for(name) for name in ("ssv2", "ssv2_full", "ssv2_small", "k400", "kinetics100", "hmdb51",
                                                 "list", None)} == {
        "ssv2": "ssv2", "ssv2_full": "ssv2", "ssv2_small": "ssv2", "k400": "k400", "kinetics100": "k400",
        "hmdb51": "k400", "list": "k400", None: "k400"}
