"""ZeroI2V and its ablation without STDHA: linear adapters (merged away) + temporal embedding [+ STDHA].

Follows MCG-NJU/ZeroI2V (`mmaction/models/backbones/vit_zero_clip*.py`), as `zeroi2v.model.video`
implements it: after training the adapters fold into the image weights (`zeroi2v.model.merge`), so
inference adds only the (T, D) temporal embedding and STDHA's head shifts (no FLOPs).
"""
from __future__ import annotations

from zeroi2v.methods.base import Method


class ZeroI2V(Method):
    name = "zeroi2v"
    label = "ZeroI2V"
    order = 60
    source = "MCG-NJU/ZeroI2V mmaction/models/backbones/vit_zero_clip.py"
    mergeable = True
    uses_stdha = True
    adds_at_inference = "a (T, D) temporal embedding; STDHA shifts heads (no parameters, no FLOPs)"

    def model_kwargs(self, stdha) -> dict:
        """`zeroi2v.create_model` keyword arguments that make this method (stdha: its offset spec)."""
        return dict(stdha=stdha)

    def build(self, backbone: str, *, num_frames: int, num_classes: int = 0, pretrained: str | None = None,
              stdha="default", dataset: str | None = None, head_dropout: float = 0.0, **kwargs):
        from zeroi2v.model.video import create_model

        model = create_model(backbone, num_frames=num_frames, num_classes=num_classes, pretrained=pretrained,
                             head_dropout=head_dropout, **self.model_kwargs(stdha), **kwargs)
        model.method = self.name
        model.mergeable = self.mergeable
        self.set_trainable(model)
        return model

    def set_trainable(self, model) -> None:
        model.freeze_backbone()  # adapters, final norm; the temporal embedding and head train too


class ZeroI2VNoSTDHA(ZeroI2V):
    name = "zeroi2v_no_stdha"
    label = "ZeroI2V w/o STDHA"
    order = 50
    uses_stdha = False
    adds_at_inference = "a (T, D) temporal embedding"

    def model_kwargs(self, stdha) -> dict:
        return dict(stdha=None)
