"""The method registry and interface: names, order, labels, refusals, optimiser fields, cost."""
import pytest
import torch

from tiny import BACKBONE, TINY, video
from zeroi2v.methods import DEFAULT_METHODS, METHODS, check_method, get_method, method_label, method_optim
from zeroi2v.methods.base import Method
from zeroi2v.methods.cost import image_model, inference_cost, trained_params
from zeroi2v.utils.errors import UserError

PEERS = ("full_finetune", "aim", "st_adapter")


def test_every_method_is_registered_once_in_table_order():
    assert METHODS == ("frozen", "full_finetune", "aim", "st_adapter", "zeroi2v_no_stdha", "zeroi2v")
    assert set(DEFAULT_METHODS) <= set(METHODS)
    for name in METHODS:
        m = get_method(name)
        assert isinstance(m, Method) and m.name == name and m.label
    assert method_label("frozen") == "Frozen image model" and method_label("frozen", "full") == "Linear probe"
    assert method_label("aim", "full") == "AIM" and method_label("someone_else") == "someone_else"
    assert [get_method(n).mergeable for n in METHODS] == [True, False, False, False, True, True]


def test_an_unknown_method_is_one_line():
    with pytest.raises(UserError, match="unknown method 'evl'; use one of frozen, full_finetune") as e:
        check_method("evl")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", PEERS)
def test_merging_a_method_that_cannot_merge_is_refused_in_one_line(name):
    m = get_method(name)
    model = m.build(BACKBONE, num_frames=4, **TINY)
    with pytest.raises(UserError, match=f"method {name} cannot be merged") as e:
        m.merge(model)
    assert "\n" not in str(e.value)
    deployed, what = m.inference_model(model)
    assert deployed is model and what == "trained"


def test_zeroi2v_deploys_merged_and_frozen_as_the_image_model():
    m = get_method("zeroi2v")
    model = m.build(BACKBONE, num_frames=4, **TINY)
    deployed, what = m.inference_model(model)
    assert what == "merged" and deployed is not model and deployed.merged and not model.merged
    assert get_method("frozen").inference_model(model)[1] == "image"


def test_optimiser_fields_follow_the_papers_on_original_recipes_only():
    # AIM configs: AdamW 3e-4, wd 0.05; ST-Adapter main.py: 1e-3 x batch / 256, wd 1e-2, biases not decayed
    assert method_optim("aim", recipe="clip_b16_k400_8x16x1", global_batch=64) == dict(lr=3e-4, weight_decay=0.05)
    assert method_optim("st_adapter", recipe="clip_b16_k400_8x16x1", global_batch=64) == dict(
        lr=pytest.approx(2.5e-4), weight_decay=0.01, bias_decay=False)
    assert method_optim("full_finetune", recipe="clip_b16_k400_8x16x1", global_batch=64) == dict(backbone_lr_mult=0.1)
    assert method_optim("zeroi2v", recipe="clip_b16_k400_8x16x1", global_batch=64) == {}
    # the toy demo recipe (and none): every method keeps the run's lr and decay; relative fields hold
    for recipe in ("toy", None, "none"):
        assert method_optim("aim", recipe=recipe, global_batch=64) == {}
        assert method_optim("full_finetune", recipe=recipe, global_batch=64) == dict(backbone_lr_mult=0.1)
    # a flag given on the command line wins
    assert method_optim("st_adapter", recipe="clip_b16_k400_8x16x1", global_batch=64, given={"lr"}) == dict(
        weight_decay=0.01, bias_decay=False)


def test_inference_cost_of_a_merged_zeroi2v_is_the_image_models_plus_the_temporal_embedding():
    m = get_method("zeroi2v")
    model = m.build(BACKBONE, num_frames=4, num_classes=5, **TINY)
    cost = inference_cost(m.inference_model(model)[0], trained_params=trained_params(model), num_frames=4, size=32,
                          repeats=2, budget_s=0)
    D = TINY["embed_dim"]
    assert cost["flops_ratio"] == 1.0 and cost["params_new"] == 4 * D
    assert cost["params_total"] == sum(p.numel() for p in image_model(model).parameters()) + 4 * D
    assert cost["params_trainable"] == trained_params(model) > 0 and cost["latency_ratio"] > 0
    aim = get_method("aim").build(BACKBONE, num_frames=4, num_classes=5, **TINY)
    c = inference_cost(aim, trained_params=trained_params(aim), num_frames=4, size=32, latency=False)
    assert c["flops_ratio"] > 1.2 and c["params_new"] > 0 and c["latency_ratio"] is None


def test_the_image_model_reference_computes_what_timm_computes():
    import timm

    model = get_method("frozen").build(BACKBONE, num_frames=4, **TINY)
    ref = image_model(model)
    vit = timm.create_model(BACKBONE, pretrained=False, num_classes=0, **TINY).eval()
    ref.vit.load_state_dict(vit.state_dict())
    x = video(batch=2, frames=4)
    with torch.no_grad():
        per_frame = vit(x.transpose(1, 2).flatten(0, 1)).view(2, 4, -1).mean(1)
        torch.testing.assert_close(ref.eval()(x), per_frame)
