"""The frozen image model per frame, mean over time (few-shot); with a trained head, the linear probe.

No adapters, no STDHA, no temporal embedding. Few-shot runs use it as built (nothing trains);
`zeroi2v.train` trains its head (and the final norm, whose affine map composes with the head into
one linear map of the normalised features): the supervised linear probe.
"""
from __future__ import annotations

from zeroi2v.methods.zeroi2v import ZeroI2V


class Frozen(ZeroI2V):
    name = "frozen"
    label = "Frozen image model"
    supervised_label = "Linear probe"
    order = 10
    source = ""
    adapts = False
    uses_stdha = False
    adds_at_inference = "nothing"

    def model_kwargs(self, stdha) -> dict:
        return dict(stdha=None, adapters=None, temporal_embedding=False)

    def build(self, backbone: str, **kwargs):
        """ZeroI2V's build without its adapter settings (this model has no adapters)."""
        for k in ("adapter_ratio", "adapter_scale", "adapter_dropout"):
            kwargs.pop(k, None)
        return super().build(backbone, **kwargs)
