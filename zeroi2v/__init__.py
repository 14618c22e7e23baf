"""ZeroI2V: zero-cost adaptation of image transformers to video (STDHA + mergeable linear adapters).

The model API is imported lazily, so `zeroi2v.errors` and `zeroi2v.io` (used by every command)
load without importing torch and timm.
"""
import importlib

_EXPORTS = {
    "ALL_PLACEMENTS": "adapters", "AdaptedLinear": "adapters", "LinearAdapter": "adapters",
    "check_merge": "merge", "load_merged": "merge", "merge_adapters": "merge", "save_merged": "merge",
    "RECIPES": "recipes", "Recipe": "recipes", "get_recipe": "recipes",
    "ZeroI2V": "model", "count_params": "model", "create_model": "model", "data_config": "model",
    "STDHAttention": "stdha", "parse_offsets": "stdha",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
