"""Checks of user values shared by every command: types of config fields, ranges, timm arguments, sizes.

Each check raises a one-line `UserError` naming the flag (or config field), the value and the fix;
the programs call them while building their config, before anything runs or is written.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from zeroi2v.utils.errors import UserError

MAX_SEED = 2**62          # seeds are offset (+1, +rank) and fed to 64-bit generators
MAX_EPISODES = 1_000_000  # 100x the paper's 10,000 test episodes
MAX_FRAMES = 1024
MAX_SIZE = 2048           # pixels per side of a frame
RESERVED_TIMM_KWARGS = {"num_classes": "the classifier follows the dataset's classes",
                        "pretrained": "weights come from --pretrained, nothing is downloaded",
                        "pretrained_cfg_overlay": "weights come from --pretrained"}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _matches(value: Any, tp) -> bool:
    """`value` (as JSON gives it: lists for tuples) is of the annotated type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if origin is tuple or tp is tuple or origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        if args and origin is tuple:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    return True  # a type this check does not know: left to the program's own checks


def check_field_types(cls: type, values: Mapping[str, Any], *, where: str) -> None:
    """Every value whose key is a field of the dataclass `cls` has that field's type (JSON forms:
    lists for tuples, ints for floats); one line naming the field otherwise."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in values and not _matches(values[f.name], hints[f.name]):
            raise UserError(f"{where}: field {f.name!r} is {values[f.name]!r} ({type(values[f.name]).__name__}), "
                            f"expected {_type_name(hints[f.name])}; fix the value")


def check_config_fields(cls: type, values: Mapping[str, Any], *, where: str, also: set[str] | frozenset = frozenset()) -> dict:
    """A saved config of the dataclass `cls`: a key that is neither a field nor in `also` means another
    program's config (one line naming it); each field has its type (`check_field_types`). A dict field
    given as JSON text is parsed. Returns the values."""
    fields = {f.name for f in dataclasses.fields(cls)}
    foreign = sorted(set(values) - fields - set(also))
    if foreign:
        raise UserError(f"{where} is a config of another program (field(s) {', '.join(foreign[:4])} are not this "
                        f"program's: e.g. a fewshot.run config.json given to zeroi2v.train); pass a config.json "
                        f"this program wrote")
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for k, v in values.items():
        if k in fields and isinstance(v, str) and _matches({}, hints[k]) and v.lstrip().startswith("{"):
            try:
                out[k] = json.loads(v)
            except ValueError:
                pass
    check_field_types(cls, out, where=where)
    return out


BOUNDS = {"seed": (0, MAX_SEED, "seeds are 64-bit (offset per process and stage)"),
          "episodes": (1, MAX_EPISODES, "the paper evaluates 10,000"), "frames": (1, MAX_FRAMES, ""),
          "size": (1, MAX_SIZE, "pixels per side")}


def check_bounds(**values: Any) -> None:
    """Each of seed / episodes / frames / size (by keyword, None: not set) within `BOUNDS`; one line
    naming `--<keyword>`."""
    for name, value in values.items():
        lo, hi, why = BOUNDS[name]
        check_int(f"--{name}", value, lo, hi, why=why)


def check_int(flag: str, value: Any, lo: int, hi: int, *, why: str = "") -> None:
    """An integer in [lo, hi] (None: not set, nothing to check)."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise UserError(f"{flag} must be an integer in [{lo:,}, {hi:,}], got {value!r}{'; ' + why if why else ''}")


def check_seed(flag: str, seed: Any) -> None:
    check_int(flag, seed, 0, MAX_SEED, why=BOUNDS["seed"][2])


def _finite_json(value: Any, path: str) -> str | None:
    """The path of the first non-finite number inside a JSON value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _finite_json(v, f"{path}.{k}"))), None)
    if isinstance(value, (list, tuple)):
        return next((p for i, v in enumerate(value) if (p := _finite_json(v, f"{path}[{i}]"))), None)
    return None


def check_timm_kwargs(flag: str, kwargs: Any) -> dict:
    """A JSON object of `timm.create_model` arguments: string keys, finite numbers, none of the
    arguments the suite sets itself; returns it."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise UserError(f"{flag} must be a JSON object of timm.create_model arguments, got {kwargs!r}; "
                        f"e.g. '{{\"img_size\": 64}}'")
    for key in kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise UserError(f"{flag}: {key!r} is not an argument name; e.g. '{{\"img_size\": 64}}'")
        if key in RESERVED_TIMM_KWARGS:
            raise UserError(f"{flag} sets {key}, which the suite sets itself ({RESERVED_TIMM_KWARGS[key]}); drop it")
    bad = _finite_json(kwargs, "")
    if bad:
        raise UserError(f"{flag}: {bad.lstrip('.')} is not a finite number (NaN or infinity); give a number")
    return kwargs


def input_size(timm_kwargs: Mapping[str, Any] | None) -> int | None:
    """The square input size set by `img_size` in timm arguments (an int or [h, h]), else None."""
    size = (timm_kwargs or {}).get("img_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1]:
        size = size[0]
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def check_frame_size(flag: str, size: int, vit) -> None:
    """Frames of `size` px fit the built timm ViT: within bounds, a multiple of its patch, and its
    input size (unless the model takes any size, `dynamic_img_size`)."""
    check_int(flag, size, 1, MAX_SIZE)
    pe = vit.patch_embed
    patch = tuple(pe.patch_size) if isinstance(pe.patch_size, (tuple, list)) else (pe.patch_size,) * 2
    if size % patch[0] or size % patch[1]:
        lo = max(patch[0], size // patch[0] * patch[0])
        raise UserError(f"{flag} {size} is not a multiple of the model's patch size {patch[0]}; use e.g. "
                        f"{lo} or {lo + patch[0]}")
    model_size = tuple(pe.img_size) if pe.img_size is not None else None
    dynamic = getattr(pe, "dynamic_img_size", False) or not getattr(pe, "strict_img_size", True)
    if model_size is not None and not dynamic and model_size != (size, size):
        raise UserError(f"{flag} {size} does not match the model's input size {model_size[0]}; drop {flag} (it "
                        f"defaults to the model's), or build the model for it with --timm-kwargs "
                        f"'{{\"img_size\": {size}}}'")
