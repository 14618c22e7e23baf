"""One-line user errors for every command of the suite.

Bad input (missing data, corrupt video, impossible shots/ways, wrong checkpoint) raises
`UserError("what is wrong; how to fix it")`. Command entry points are wrapped in `cli`, which
prints that single line to stderr and exits with status 2 -- no traceback.
"""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable


class UserError(Exception):
    """A problem with the user's input; its message is one line naming the problem and the fix."""

    exit_code = 2

    def __str__(self) -> str:
        text = str(self.args[0] if self.args else "")
        if "Original Traceback" in text:  # re-raised from a DataLoader worker: the worker's own line
            text = text.strip().splitlines()[-1].split("UserError: ", 1)[-1]
        return " ".join(text.split())  # always one line


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one-line `UserError`s (exit 2 through `cli`), not usage dumps."""

    def error(self, message: str):
        raise UserError(f"{message}; see `{self.prog} --help`")


def json_object(text: str) -> dict:
    """argparse `type=` for a JSON object flag such as `--timm-kwargs '{"img_size": 64}'`; NaN and
    Infinity (which Python's json accepts) are refused: they are not JSON numbers."""
    import json

    shown = repr(text if len(text) <= 80 else text[:77] + "...")

    def no_constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"{shown} is not JSON ({e.msg}); e.g. '{{\"img_size\": 64}}'") from None
    except (ValueError, RecursionError) as e:
        raise argparse.ArgumentTypeError(f"{shown} is not JSON ({e}); e.g. '{{\"img_size\": 64}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{shown} is not a JSON object; e.g. '{{\"img_size\": 64}}'")
    return value


def cli(main: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a command's `main(argv)` so a `UserError` becomes `error: ...` + exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return int(main(*args, **kwargs) or 0)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            print("interrupted: finished stages are kept; rerun with --resume", file=sys.stderr)
            return 130

    return wrapper
