"""The grid's configuration: `GridConfig`, its command line and its spec file.

    python -m fewshot.grid --datasets toy --shots 1,5 --methods frozen,zeroi2v --seeds 0,1,2 -- --epochs 5
    python -m fewshot.grid --spec grid.toml [flags overriding the spec]

A spec file (TOML; YAML too where pyyaml is installed) has the grid's options at the top level
(`datasets`, `shots`, `methods`, `seeds`, `out`, `executor`, `parallel`, `baseline`, ...; flag
names with `_`), the shared fewshot.run settings in `[run]` under the field names of a run's
`config.json` (`epochs = 1`, `timm_kwargs = {img_size = 32}`), zeroi2v.train flags for --supervised
cells in `[train]` (`epochs = 2` -> `--epochs 2`) and SLURM options in `[slurm]`. Flags given on the
command line override the spec; flags after `--` add to (and override) its `[run]` table.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import shlex
from dataclasses import dataclass
from pathlib import Path

from zeroi2v.utils.errors import ArgumentParser, UserError
from zeroi2v.utils.io import check_dir

FORMATS = ("markdown", "csv", "latex")
EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class SlurmConfig:
    partition: str | None = None
    time: int = 60  # minutes per cell (per try: a requeued cell gets the time again)
    cpus_per_cell: int = 8
    mem_gb: float | None = None  # None -> the partition's default
    array_parallelism: int = 16  # cells of the array running at once
    max_requeue: int = 3  # times a preempted or timed-out cell is requeued
    account: str | None = None
    qos: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run in the job before the cell (module load ..., source venv)
    poll: float = 10.0  # seconds between checks of the jobs


@dataclass(frozen=True)
class GridConfig:
    datasets: tuple[str, ...] = ("toy",)
    shots: tuple[int, ...] = (1, 5)
    methods: tuple[str, ...] = ()  # () -> every method of zeroi2v.methods (the registry)
    seeds: tuple[int, ...] = (0,)
    supervised: bool = False
    train_flags: tuple[str, ...] = ()
    out: str = "runs/grid"
    dry_run: bool = False
    executor: str = "local"
    parallel: int = 1
    threads_per_cell: int | None = None  # None -> cores / parallel
    gpus_per_cell: int | None = None  # None -> 0 local, 1 slurm; > 1: torchrun with that many processes per cell
    baseline: str | None = None  # None -> the first method of the grid
    format: str = "markdown"
    slurm: SlurmConfig = SlurmConfig()


def _ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers") from None


def _names(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m fewshot.grid", argument_default=argparse.SUPPRESS,
                       description="A benchmark grid (datasets x shots x methods x seeds) of fewshot.run cells, run "
                                   "here or on SLURM; reruns only missing or failed cells; one table at the end. "
                                   "fewshot.run flags after -- are shared by every cell.")
    a = p.add_argument
    a("--spec", metavar="FILE", help="grid spec (TOML, or YAML with pyyaml); flags override it (default: none)")
    a("--datasets", type=_names, help="fewshot.run --dataset values, comma-separated (default: toy)")
    a("--shots", type=_ints, help="K values, one cell each (default: 1,5)")
    a("--methods", type=_names, help="methods, one cell each (default: every method)")
    a("--seeds", type=_ints, help="seeds, one cell each (default: 0)")
    a("--supervised", action="store_true", help="also one zeroi2v.train cell per dataset x method x seed (default: off)")
    a("--train-args", help="zeroi2v.train flags of the supervised cells, one shell-quoted string (default: none)")
    a("--out", help="grid folder: cells/, logs/, tables/ (default: runs/grid)")
    a("--dry-run", action="store_true", help="print the cells, their folders and commands; run nothing (default: off)")
    a("--executor", choices=EXECUTORS, help="local: on this machine; slurm: submitit array job (default: local)")
    a("--parallel", type=int, help="local: cells running at once (default: 1)")
    a("--threads-per-cell", type=int, help="OMP/MKL threads of each cell (default: cores / --parallel, local; "
                                           "--cpus-per-cell / processes, slurm)")
    a("--gpus-per-cell", type=int, help="GPUs of each cell; > 1 runs it under torchrun (default: 0 local, 1 slurm)")
    a("--baseline", help="method the paired-difference table subtracts (default: the first method)")
    a("--format", choices=FORMATS, help="table printed at the end; tables/ gets all three (default: markdown)")
    s = p.add_argument_group("slurm (--executor slurm; needs pip install -e '.[cluster]')")
    s.add_argument("--partition", help="SLURM partition (default: the cluster's)")
    s.add_argument("--time", type=int, help="minutes per cell (default: 60)")
    s.add_argument("--cpus-per-cell", type=int, help="CPUs per cell (default: 8)")
    s.add_argument("--mem-gb", type=float, help="memory per cell in GB (default: the partition's)")
    s.add_argument("--array-parallelism", type=int, help="cells of the array job running at once (default: 16)")
    s.add_argument("--max-requeue", type=int, help="requeues of a preempted/timed-out cell (default: 3)")
    s.add_argument("--account", help="SLURM account (default: none)")
    s.add_argument("--qos", help="SLURM quality of service (default: none)")
    s.add_argument("--slurm-setup", dest="setup", action="append", help="shell line run in the job before the cell, "
                                                                        "repeatable (default: none)")
    s.add_argument("--poll", type=float, help=argparse.SUPPRESS)
    return p


def read_spec(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--spec {path}: no such file; pass a TOML grid spec (docs/grid.md)")
    if p.suffix in (".yaml", ".yml"):
        if importlib.util.find_spec("yaml") is None:
            raise UserError(f"--spec {path}: YAML needs pyyaml (pip install pyyaml); or write the spec as TOML")
        import yaml

        try:
            d = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise UserError(f"--spec {path}: not YAML ({str(e).splitlines()[0]})") from None
    else:
        import tomllib

        try:
            d = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"--spec {path}: not TOML ({e})") from None
    if not isinstance(d, dict):
        raise UserError(f"--spec {path}: expected a table of grid options")
    return d


_TUPLES = ("datasets", "shots", "methods", "seeds")


def _spec_fields(d: dict, path: str) -> tuple[dict, dict, dict]:
    """(grid fields, [run] fields, slurm fields) of a spec; unknown keys are one line."""
    d = dict(d)
    run = d.pop("run", {}) or {}
    train = d.pop("train", {}) or {}
    slurm = d.pop("slurm", {}) or {}
    if not all(isinstance(t, dict) for t in (run, train, slurm)):
        raise UserError(f"--spec {path}: [run], [train] and [slurm] must be tables")
    known = {f.name for f in dataclasses.fields(GridConfig)} - {"slurm", "train_flags", "dry_run"}
    unknown = sorted(set(d) - known)
    sknown = {f.name for f in dataclasses.fields(SlurmConfig)}
    unknown += sorted(f"slurm.{k}" for k in set(slurm) - sknown)
    if unknown:
        raise UserError(f"--spec {path}: unknown key(s) {', '.join(unknown)}; grid keys: {', '.join(sorted(known))}; "
                        f"[slurm]: {', '.join(sorted(sknown))}")
    for k in _TUPLES:
        if k in d:
            v = d[k]
            d[k] = tuple(v) if isinstance(v, list) else (v,)
    if train:
        d["train_flags"] = tuple(x for k, v in train.items() for x in _train_flag(k, v))
    if "setup" in slurm:
        slurm["setup"] = tuple(slurm["setup"]) if isinstance(slurm["setup"], list) else (slurm["setup"],)
    return d, run, slurm


def _train_flag(key: str, value) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if value is True:
        return [flag]
    if value is False or value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [flag, ",".join(map(str, value))]
    if isinstance(value, dict):
        import json

        return [flag, json.dumps(value, sort_keys=True)]
    return [flag, str(value)]


def parse_args(argv: list[str] | None) -> tuple[GridConfig, dict]:
    """(GridConfig, shared fewshot.run settings as RunConfig fields)."""
    import sys

    from .flags import parse_run_flags, settings_from_fields

    argv = list(sys.argv[1:] if argv is None else argv)
    run_argv: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, run_argv = argv[:i], argv[i + 1:]
    given = vars(build_parser().parse_args(argv))
    spec_grid, spec_run, spec_slurm = {}, {}, {}
    if "spec" in given:
        path = given.pop("spec")
        spec_grid, spec_run, spec_slurm = _spec_fields(read_spec(path), path)
    settings = {**settings_from_fields(spec_run, source="--spec [run]"), **parse_run_flags(run_argv)}
    slurm_names = {f.name for f in dataclasses.fields(SlurmConfig)}
    slurm = {**spec_slurm, **{k: v for k, v in given.items() if k in slurm_names}}
    if "setup" in slurm:
        slurm["setup"] = tuple(slurm["setup"])
    grid = {**spec_grid, **{k: v for k, v in given.items() if k not in slurm_names}}
    if "train_args" in grid:
        grid["train_flags"] = tuple(shlex.split(grid.pop("train_args")))
    try:
        cfg = GridConfig(**grid, slurm=SlurmConfig(**slurm))
    except TypeError as e:
        raise UserError(f"grid options: {e}") from None
    return check(cfg), settings


def check(cfg: GridConfig) -> GridConfig:
    from zeroi2v.methods import METHODS

    methods = cfg.methods or METHODS
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise UserError(f"--methods: unknown method {bad[0]}; known: {', '.join(METHODS)}")
    for name in ("datasets", "shots", "seeds"):
        v = getattr(cfg, name)
        if not v or len(set(v)) != len(v):
            raise UserError(f"--{name} must list distinct values, got {','.join(map(str, v)) or 'nothing'}")
    if min(cfg.shots) < 1 or min(cfg.seeds) < 0:
        raise UserError("--shots must be positive and --seeds non-negative integers")
    if cfg.parallel < 1 or (cfg.threads_per_cell is not None and cfg.threads_per_cell < 1) or (cfg.gpus_per_cell or 0) < 0:
        raise UserError("--parallel and --threads-per-cell must be at least 1, --gpus-per-cell at least 0")
    s = cfg.slurm
    if s.time < 1 or s.cpus_per_cell < 1 or s.array_parallelism < 1 or s.max_requeue < 0 or \
            (s.mem_gb is not None and s.mem_gb <= 0):
        raise UserError("--time, --cpus-per-cell, --array-parallelism must be at least 1, --mem-gb > 0, "
                        "--max-requeue at least 0")
    if cfg.baseline is not None and cfg.baseline not in methods:
        raise UserError(f"--baseline {cfg.baseline} is not one of the grid's methods ({', '.join(methods)})")
    if cfg.executor == "slurm" and importlib.util.find_spec("submitit") is None:
        raise UserError("--executor slurm needs submitit: pip install -e '.[cluster]'")
    check_dir("--out", cfg.out)
    gpus = cfg.gpus_per_cell if cfg.gpus_per_cell is not None else int(cfg.executor == "slurm")
    return dataclasses.replace(cfg, methods=tuple(methods), baseline=cfg.baseline or methods[0], gpus_per_cell=gpus)
