"""The video model: STDHA, linear adapters, the ZeroI2V wrapper around a timm ViT, merge/export, weights."""
from zeroi2v.model.video import ZeroI2V, count_params, create_model, data_config, input_tokens  # noqa: F401
