"""The bridge between a grid's shared settings and `fewshot.run`'s own command line.

Shared settings are `RunConfig` field names with values (the names of a run's `config.json`). They
are read from `fewshot.run ... -- FLAGS` (parsed by `fewshot.config.build_parser`, the parser the
cell will run with) or from a spec file, and written back as flags through the same parser's
actions (`run_flags`), so the grid never spells a `fewshot.run` flag itself: a renamed or added
flag reaches the cells without a change here.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

from zeroi2v.utils.errors import UserError

# RunConfig fields the grid sets per cell: never a shared setting
GRID_OWNED = ("dataset", "shots", "methods", "seed", "seeds", "out", "resume", "config")


def _parser():
    from fewshot.config import build_parser

    return build_parser()


def _actions() -> dict[str, argparse.Action]:
    """dest -> the documented long option of fewshot.run (hidden old spellings skipped)."""
    out: dict[str, argparse.Action] = {}
    for a in _parser()._actions:
        longs = [s for s in a.option_strings if s.startswith("--")]
        if not longs or a.help == argparse.SUPPRESS or a.dest in out:
            continue
        out[a.dest] = a
    return out


def run_fields() -> tuple[str, ...]:
    from fewshot.config import RunConfig

    return tuple(f.name for f in dataclasses.fields(RunConfig))


def parse_run_flags(argv: list[str]) -> dict:
    """The settings given by fewshot.run flags (only those given); grid-owned flags refused."""
    given = vars(_parser().parse_args(argv))
    owned = sorted(set(given) & set(GRID_OWNED))
    if owned:
        raise UserError(f"fewshot.run flag --{owned[0].replace('_', '-')} after -- is set by the grid itself "
                        f"(--datasets, --shots, --methods, --seeds, --out; --resume is automatic); drop it")
    given.pop("list_recipes", None)
    return given


def _as_flag_value(action: argparse.Action, value) -> list[str]:
    if isinstance(action, argparse._StoreTrueAction):
        return [action.option_strings[0]] if value else []
    if isinstance(value, (list, tuple)):
        text = ",".join(map(str, value))
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return [next(s for s in action.option_strings if s.startswith("--")), text]


def run_flags(settings: dict) -> list[str]:
    """fewshot.run flags giving exactly `settings` (RunConfig field -> value), in field order."""
    actions = _actions()
    out: list[str] = []
    for name in run_fields():
        if name in settings and settings[name] is not None:
            if name not in actions:
                raise UserError(f"setting {name} has no fewshot.run flag; drop it from the grid's shared settings")
            out += _as_flag_value(actions[name], settings[name])
    return out


def settings_from_fields(fields: dict, *, source: str) -> dict:
    """Shared settings from config.json-style fields (a spec file's [run] table): names checked against
    RunConfig, values checked by fewshot.run's own parser (a flag round trip)."""
    known = set(run_fields())
    unknown = sorted(set(fields) - known)
    if unknown:
        raise UserError(f"{source}: unknown fewshot.run setting(s) {', '.join(unknown)}; use the field names of a "
                        f"run's config.json: {', '.join(sorted(known - set(GRID_OWNED)))}")
    owned = sorted(set(fields) & set(GRID_OWNED))
    if owned:
        raise UserError(f"{source}: {owned[0]} is a grid axis or set by the grid; put datasets/shots/methods/seeds "
                        f"at the top level of the spec and leave out/resume/config out")
    for k, v in fields.items():
        if isinstance(v, bool) and not isinstance(_actions().get(k), argparse._StoreTrueAction):
            raise UserError(f"{source}: {k} = {v} is not a switch; give a value")
    return parse_run_flags(run_flags(fields))
