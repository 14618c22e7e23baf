"""The run-folder convention of every program (fewshot.run, zeroi2v.train, zeroi2v.bench, results).

- `--out` is a folder; unset, a run goes to `runs/<program>-<dataset>-<YYYYmmdd-HHMMSS>` (`default_run_folder`),
  so a rerun never lands in an earlier run's folder.
- An existing non-empty `--out` is refused before anything is written (`check_run_folder`): one line
  naming the folder and the fix (`--resume` to continue that run, or another `--out`).
- Inside a run folder the names are the same in every program: `config.json`, `run.log`,
  `checkpoint.pt` (the trainer's resumable state), `tensorboard/`, `metrics.csv`, `records/`; a
  few-shot run keeps one such training folder per method (`<out>/<method>/`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from zeroi2v.utils.errors import UserError

CHECKPOINT = "checkpoint.pt"  # the trainer's resumable state in a run (or method) folder
TENSORBOARD = "tensorboard"  # TensorBoard event files beside it
CONFIG = "config.json"


def default_run_folder(program: str, dataset: str | None, *, stamp: str | None = None) -> str:
    """`runs/<program>-<dataset>-<YYYYmmdd-HHMMSS>` (local time)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    return str(Path("runs") / "-".join(x for x in (program, dataset, stamp) if x))


def is_nonempty_dir(path: str | os.PathLike) -> bool:
    p = Path(path).expanduser()
    try:
        return p.is_dir() and any(p.iterdir())
    except OSError:
        return False


def check_run_folder(out: str | os.PathLike | None, *, resume: bool, flag: str = "--out",
                     fix: str = "pass --resume to continue that run, or choose another --out",
                     nonempty: bool | None = None) -> None:
    """A run may write into `out` only when it is new or empty, or with `resume`; one line otherwise.
    `nonempty`: the folder's state as one process saw it (torchrun: rank 0's, broadcast before any rank writes)."""
    if out is None or resume:
        return
    if is_nonempty_dir(out) if nonempty is None else nonempty:
        raise UserError(f"{flag} {out} is a directory that already holds files (an earlier run's); {fix}")
