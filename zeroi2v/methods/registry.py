"""The registry of compared methods: every `Method` subclass defined in a module of this package.

Adding a method is one file `zeroi2v/methods/<name>.py` with one `Method` subclass (see
`zeroi2v.methods.base`) plus its tests; every program (fewshot.run, zeroi2v.train, zeroi2v.bench)
and `results` read the names, labels and order from here.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from zeroi2v.methods.base import Method
from zeroi2v.utils.errors import UserError

_NOT_METHODS = {"base", "registry", "cost"}
DEFAULT_METHODS = ("frozen", "zeroi2v_no_stdha", "zeroi2v")  # fewshot.run's default: the demo's three rows


@lru_cache(maxsize=1)
def _registry() -> dict[str, Method]:
    import zeroi2v.methods as pkg

    classes = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in _NOT_METHODS:
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        classes += [c for c in vars(module).values()
                    if isinstance(c, type) and issubclass(c, Method) and c.__module__ == module.__name__]
    methods = [c() for c in classes]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two methods share a name: {sorted(names)}")
    return {m.name: m for m in sorted(methods, key=lambda m: (m.order, m.name))}


def all_methods() -> tuple[Method, ...]:
    return tuple(_registry().values())


def method_names() -> tuple[str, ...]:
    """Every method's name, in table row order."""
    return tuple(_registry())


def check_method(name: str) -> str:
    if name not in _registry():
        raise UserError(f"unknown method {name!r}; use one of {', '.join(_registry())}")
    return name


def get_method(name: str) -> Method:
    return _registry()[check_method(name)]


OPTIM_FIELDS = ("lr", "weight_decay", "bias_decay", "backbone_lr_mult")  # what a method's optim may set


def method_optim(name: str, *, recipe: str | None, global_batch: int, given=()) -> dict:
    """The training-settings fields method `name` sets for a run of `recipe` (its paper's values on an
    original recipe, one with a source config; its relative ones everywhere), minus the `given` ones
    (set by a flag, which wins)."""
    from zeroi2v.settings.recipes import get_recipe

    paper = bool(recipe and recipe != "none" and get_recipe(recipe).source)
    overrides = get_method(name).optim_overrides(global_batch=global_batch, paper_recipe=paper)
    return {k: v for k, v in overrides.items() if k not in set(given)}


def method_train_fields(name: str, fields: dict, lr: float, weight_decay: float, batch: int,
                        given=()) -> tuple[float, float]:
    """zeroi2v.train: method `name`'s optimiser fields (`method_optim`, for the recipe in `fields`) put into
    the run's recipe `fields` (in place); returns its (lr, weight decay). `batch`: per process x accumulation
    (times torchrun's WORLD_SIZE processes)."""
    import os

    optim = method_optim(name, recipe=fields.get("recipe"), given=given,
                         global_batch=batch * int(os.environ.get("WORLD_SIZE", "1")))
    lr, weight_decay = optim.pop("lr", lr), optim.pop("weight_decay", weight_decay)
    fields.update(optim)
    return lr, weight_decay


def method_label(name: str, kind: str = "fewshot") -> str:
    """The display name of a method in a table of `kind` records (an unknown name as it is)."""
    m = _registry().get(name)
    return m.label_for(kind) if m else name
