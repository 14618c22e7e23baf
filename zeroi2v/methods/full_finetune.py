"""Full fine-tuning: every backbone parameter trains, with a temporal embedding and the head.

The most expensive baseline (VidTAB's full fine-tuning configuration): the whole image ViT per
frame is updated, the backbone at 0.1x the head's learning rate (`optim_relative`); inference is the
trained image model per frame plus the (T, D) temporal embedding, so it costs what the image model
costs, but every weight is new (nothing is shared with the image model).
"""
from __future__ import annotations

from zeroi2v.methods.base import Method


class FullFinetune(Method):
    name = "full_finetune"
    label = "Full fine-tuning"
    order = 20
    source = "VidTAB (VideoEval) full fine-tuning config: all parameters, backbone lr x 0.1"
    mergeable = False
    adds_at_inference = "a (T, D) temporal embedding; every backbone weight is fine-tuned"
    optim_relative = {"backbone_lr_mult": 0.1}

    def build(self, backbone: str, *, num_frames: int, num_classes: int = 0, pretrained: str | None = None,
              stdha="default", dataset: str | None = None, head_dropout: float = 0.0, **kwargs):
        model = self.base_model(backbone, num_frames=num_frames, num_classes=num_classes, pretrained=pretrained,
                                head_dropout=head_dropout, temporal_embedding=True, timm_kwargs=kwargs)
        model.adapter_config = dict(method=self.name)
        self.set_trainable(model)
        return model

    def set_trainable(self, model) -> None:
        for p in model.parameters():
            p.requires_grad = True
