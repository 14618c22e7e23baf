"""ZeroI2V: zero-cost adaptation of image transformers to video (STDHA + mergeable linear adapters).

The model API is imported lazily, so `zeroi2v.utils.errors` and `zeroi2v.utils.io` (used by every command)
load without importing torch and timm.
"""
import importlib

_EXPORTS = {
    "ALL_PLACEMENTS": "model.adapters", "AdaptedLinear": "model.adapters", "LinearAdapter": "model.adapters",
    "check_merge": "model.merge", "load_merged": "model.merge", "merge_adapters": "model.merge", "save_merged": "model.merge",
    "RECIPES": "settings.recipes", "Recipe": "settings.recipes", "get_recipe": "settings.recipes",
    "ZeroI2V": "model.video", "count_params": "model.video", "create_model": "model.video", "data_config": "model.video",
    "STDHAttention": "model.stdha", "parse_offsets": "model.stdha",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
