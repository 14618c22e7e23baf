"""The compared methods: which video model each builds, what trains, how it deploys (one class each).

    from zeroi2v.methods import get_method
    m = get_method("aim")
    model = m.build("vit_base_patch16_clip_224", num_frames=8, num_classes=400, pretrained="ViT-B-16.pt")
    deployed, what = m.inference_model(model)   # "merged" for ZeroI2V, "trained" for AIM

The interface is `zeroi2v.methods.base.Method`; `zeroi2v.methods.registry` finds every method of
this package; `zeroi2v.methods.cost` measures what a method costs at inference.
"""
from zeroi2v.methods.registry import (DEFAULT_METHODS, OPTIM_FIELDS, all_methods, check_method, get_method,
                                      method_label, method_names, method_optim, method_train_fields)

METHODS = method_names()

__all__ = ["DEFAULT_METHODS", "METHODS", "OPTIM_FIELDS", "all_methods", "method_optim", "method_train_fields", "check_method", "get_method", "method_label",
           "method_names"]
