"""The interface every compared method implements (one small class per method, one file each).

A method says
- who it is: `name` (records, flags), `label` (tables), `supervised_label` (full-supervised tables,
  where it differs: the frozen backbone with a trained head is the linear probe), `order` (row order),
  `source` (the official code its model follows);
- what it builds: `build(backbone, num_frames=..., num_classes=..., pretrained=...)` -> a video model
  (B, C, T, H, W) -> (B, num_classes) or features (B, D) with num_classes=0, always a
  `zeroi2v.model.video.ZeroI2V` whose `forward_features` pools per-frame CLS tokens over time; image
  weights only from a local file (`pretrained`), loaded before the method changes the blocks;
- what trains: `set_trainable(model)` (called by `build`); `adapts`: False when the few-shot protocol
  uses it as built (the frozen image model);
- how it deploys: `mergeable` (the trained model folds back into the image model: `merge` returns
  it; otherwise `merge` is a one-line UserError), `inference_model(model)` -> (the model that runs at
  inference, "merged" | "trained" | "image"), `adds_at_inference` (in words);
- how it is optimised: `optim` (the paper's AdamW fields, as data) and `optim_overrides(...)` (the
  fields of the training settings a run replaces with them).
"""
from __future__ import annotations

from typing import Any, ClassVar

from zeroi2v.utils.errors import UserError

ZEROI2V_KWARGS = ("adapter_ratio", "adapter_scale", "adapter_dropout")  # ZeroI2V's adapters; peers bring their own


def variant_for(dataset: str | None) -> str:
    """The peers' published configuration for a dataset (its record's `peer_variant`: "ssv2" on
    Something-Something, else "k400"); "k400" when no dataset is named."""
    from zeroi2v.settings.datasets import find

    return find(dataset).peer_variant if dataset else "k400"


class Method:
    name: ClassVar[str]
    label: ClassVar[str]
    supervised_label: ClassVar[str | None] = None
    order: ClassVar[int] = 100
    source: ClassVar[str] = ""
    adapts: ClassVar[bool] = True
    uses_stdha: ClassVar[bool] = False  # the run's --stdha applies (ZeroI2V only)
    mergeable: ClassVar[bool] = False
    adds_at_inference: ClassVar[str] = ""
    # the paper's optimiser settings, TrainConfig/FitConfig field -> value; "lr_per_256": lr x global batch / 256
    optim: ClassVar[dict[str, Any]] = {}
    # fields that hold on every recipe, the toy demo's included (relative to the run's own settings)
    optim_relative: ClassVar[dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<method {self.name}>"

    def label_for(self, kind: str) -> str:
        """The display name in a table of records of `kind` ("fewshot", "full", "kshot-allway")."""
        return self.supervised_label if kind != "fewshot" and self.supervised_label else self.label

    # ------------------------------------------------------------------ model
    def build(self, backbone: str, *, num_frames: int, num_classes: int = 0, pretrained: str | None = None,
              stdha="default", dataset: str | None = None, head_dropout: float = 0.0, **kwargs):
        """The method's video model on timm ViT `backbone` (ZeroI2V's adapter settings in `kwargs`
        apply to ZeroI2V only; other keyword arguments go to timm)."""
        raise NotImplementedError

    def set_trainable(self, model) -> None:
        raise NotImplementedError

    def base_model(self, backbone: str, *, num_frames: int, num_classes: int, pretrained: str | None,
                   head_dropout: float, temporal_embedding: bool, timm_kwargs: dict):
        """The image model per frame (weights loaded) that a peer then changes: no adapters, no STDHA."""
        from zeroi2v.model.video import create_model

        kw = {k: v for k, v in timm_kwargs.items() if k not in ZEROI2V_KWARGS}
        model = create_model(backbone, num_frames=num_frames, num_classes=num_classes, pretrained=pretrained,
                             stdha=None, adapters=None, temporal_embedding=temporal_embedding,
                             head_dropout=head_dropout, **kw)
        model.method = self.name
        model.mergeable = self.mergeable
        return model

    # ------------------------------------------------------------------ deployment
    def merge(self, model):
        """The merged model (a copy folded into the image weights); a one-line UserError when the
        method's additions cannot be folded."""
        if not self.mergeable:
            raise UserError(f"method {self.name} cannot be merged: {self.adds_at_inference}; deploy the trained "
                            f"model as it is (only zeroi2v, zeroi2v_no_stdha and frozen merge)")
        import copy

        from zeroi2v.model.merge import merge_adapters

        return merge_adapters(copy.deepcopy(model))

    def inference_model(self, model) -> tuple[Any, str]:
        """(the model that runs at inference, what it is): merged where the method merges."""
        if not self.adapts:
            return model, "image"
        return (self.merge(model), "merged") if self.mergeable else (model, "trained")

    # ------------------------------------------------------------------ optimisation
    def optim_overrides(self, *, global_batch: int, paper_recipe: bool = True) -> dict[str, Any]:
        """Training-settings fields this method sets: its paper's values on an original recipe
        (`paper_recipe`), its relative fields everywhere (the toy demo keeps the demo's lr/decay)."""
        out = dict(self.optim_relative)
        if paper_recipe:
            for k, v in self.optim.items():
                if k == "lr_per_256":
                    out["lr"] = v * global_batch / 256
                else:
                    out[k] = v
        return out

    def model_info(self, model) -> dict[str, Any]:
        """Record fields describing the built model's additions."""
        return dict(getattr(model, "adapter_config", None) or {})
