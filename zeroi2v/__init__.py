"""ZeroI2V: zero-cost adaptation of image transformers to video (STDHA + mergeable linear adapters)."""
from .adapters import ALL_PLACEMENTS, AdaptedLinear, LinearAdapter
from .merge import check_merge, merge_adapters, save_merged
from .model import ZeroI2V, count_params, create_model, data_config
from .stdha import STDHAttention, parse_offsets

__all__ = [
    "ALL_PLACEMENTS", "AdaptedLinear", "LinearAdapter", "STDHAttention", "ZeroI2V", "check_merge",
    "count_params", "create_model", "data_config", "merge_adapters", "parse_offsets", "save_merged",
]
