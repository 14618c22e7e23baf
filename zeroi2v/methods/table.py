"""The compared methods and the model each one builds: the one place the rule lives.

    frozen            the image model per frame, mean over time: no STDHA, no adapters, no temporal embedding
    zeroi2v_no_stdha  adapters and temporal embedding, plain attention
    zeroi2v           adapters, temporal embedding and STDHA with the given offsets
"""
from __future__ import annotations

METHODS = ("frozen", "zeroi2v_no_stdha", "zeroi2v")


def check_method(method: str) -> str:
    if method not in METHODS:
        from zeroi2v.utils.errors import UserError

        raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return method


def method_model_kwargs(method: str, stdha) -> dict:
    """`zeroi2v.create_model` keyword arguments that make `method` (stdha: its offset spec)."""
    check_method(method)
    if method == "frozen":
        return dict(stdha=None, adapters=None, temporal_embedding=False)
    if method == "zeroi2v_no_stdha":
        return dict(stdha=None)
    return dict(stdha=stdha)
