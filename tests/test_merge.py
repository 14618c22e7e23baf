import copy
import itertools

import pytest
import timm
import torch
from torch import nn

import zeroi2v
from zeroi2v.model.adapters import ALL_PLACEMENTS, AdaptedLinear
from zeroi2v.model.merge import MergeMismatch

from tiny import BACKBONE, TINY, randomize_adapters, tiny_model, video

SUBSETS = [s for r in range(1, 5) for s in itertools.combinations(ALL_PLACEMENTS, r)]


@pytest.mark.parametrize("placements", SUBSETS, ids=["+".join(s) for s in SUBSETS])
def test_merge_equivalence_for_every_subset_of_placements(placements):
    model = randomize_adapters(tiny_model(adapters=placements, adapter_scale=0.7), seed=len(placements)).eval()
    merged = zeroi2v.merge_adapters(copy.deepcopy(model))
    diff = zeroi2v.check_merge(model, merged, video())
    assert diff["max_rel"] <= 1e-5
    assert not any(isinstance(m, AdaptedLinear) for m in merged.modules())


@pytest.mark.parametrize("scale", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("bias", [True, False])
def test_merge_equivalence_scales_and_biases(scale, bias):
    timm_kw = dict(qkv_bias=bias, proj_bias=bias)
    model = randomize_adapters(tiny_model(adapter_scale=scale, timm=timm_kw), seed=3, std=0.3).eval()
    merged = zeroi2v.merge_adapters(copy.deepcopy(model))
    assert zeroi2v.check_merge(model, merged, video())["max_rel"] <= 1e-5
    plain = timm.create_model(BACKBONE, num_classes=0, **TINY, **timm_kw)
    assert {k: v.shape for k, v in merged.backbone.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()}


def test_merged_state_dict_has_exactly_the_plain_timm_keys_plus_temporal_embedding():
    model = randomize_adapters(tiny_model(num_frames=4))
    merged = zeroi2v.merge_adapters(model)
    plain = timm.create_model(BACKBONE, num_classes=0, **TINY)
    assert list(merged.backbone.state_dict()) == list(plain.state_dict())
    assert set(merged.state_dict()) - {f"backbone.{k}" for k in plain.state_dict()} == {"temporal_embedding"}
    n_plain = sum(p.numel() for p in plain.parameters())
    assert zeroi2v.count_params(merged)["total"] == n_plain + 4 * 32  # + T·D


def test_merging_twice_is_a_no_op():
    model = randomize_adapters(tiny_model()).eval()
    once = zeroi2v.merge_adapters(copy.deepcopy(model))
    before = {k: v.clone() for k, v in once.state_dict().items()}
    twice = zeroi2v.merge_adapters(once)
    assert all(torch.equal(before[k], v) for k, v in twice.state_dict().items())


def test_merged_flops_equal_plain_image_model():
    from torch.utils.flop_counter import FlopCounterMode

    def flops(m, x):
        with FlopCounterMode(display=False) as fc:
            m(x)
        return fc.get_total_flops()

    x = video(batch=1)
    merged = zeroi2v.merge_adapters(randomize_adapters(tiny_model()).eval())
    plain = timm.create_model(BACKBONE, num_classes=0, **TINY).eval()
    frames = x.transpose(1, 2).reshape(-1, 3, 32, 32)
    assert flops(merged, x) == flops(plain, frames)
    assert flops(randomize_adapters(tiny_model()).eval(), x) > flops(plain, frames)


def test_save_merged_round_trips_into_create_model_and_plain_timm(tmp_path):
    model = randomize_adapters(tiny_model(num_classes=5, stdha={1: 1, -2: 1})).eval()
    path = tmp_path / "merged.safetensors"
    diff = zeroi2v.save_merged(model, path)
    assert diff["max_rel"] <= 1e-5
    back = zeroi2v.create_model(BACKBONE, num_frames=4, num_classes=5, adapters=None, pretrained=str(path)).eval()
    assert back.stdha_offsets == [1, -2, 0, 0]  # spec and timm kwargs came from the metadata
    x = video()
    assert zeroi2v.check_merge(model, back, x)["max_rel"] <= 1e-5
    image = timm.create_model(BACKBONE, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                              num_classes=0, **TINY)
    merged = zeroi2v.merge_adapters(copy.deepcopy(model))
    for k, v in image.state_dict().items():
        assert torch.equal(v, merged.backbone.state_dict()[k]), k


def test_save_merged_refuses_to_write_on_mismatch(tmp_path, monkeypatch):
    model = randomize_adapters(tiny_model()).eval()
    real = AdaptedLinear.folded

    def broken(self):  # a fold that forgets the output adapter, as a buggy merge would
        out = real(self)
        out.weight.data.mul_(1.1)
        return out

    monkeypatch.setattr(AdaptedLinear, "folded", broken)
    path = tmp_path / "bad.safetensors"
    with pytest.raises(MergeMismatch, match="refusing to write"):
        zeroi2v.save_merged(model, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
