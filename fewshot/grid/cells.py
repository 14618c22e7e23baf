"""Cells of a grid: one `fewshot.run` per dataset x shots x method x seed (and, with --supervised, one
`zeroi2v.train` per dataset x method x seed), each with a folder named by its identity.

A few-shot cell's identity is its `RunConfig` as `fewshot.config.resolve` fills it (the recipe's
frames, epochs, batch, lr, ...; WORLD_SIZE set to the cell's processes, as torchrun will), minus
what does not change a number (where it runs, caches, logging). The folder is
`<out>/cells/<dataset>/<method>/<K>shot-seed<S>-<hash of the identity>`: a changed setting, given or
defaulted, is a new folder, never a reused one. The cell runs `fewshot.run --seeds S` (the seed's
own toy data, as `fewshot.run --seeds` gives it) with `--resume` once its folder exists.

A cell is done when its folder holds, read back through `results.load`, a record of every protocol
whose identity is the cell's: kind, dataset, method, shots, seed, and every resolved setting equal
to the record's `config` (episode set: the --episodes-file's hash where one is given). A supervised
cell's identity is (dataset, method, seed, its zeroi2v.train flags); it is done when its folder holds
a "full" record of that dataset, method and seed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# fields that never change a number (placement, caches, logging) or that the cell run fills itself
NOT_IDENTITY = ("out", "resume", "device", "num_workers", "cache_dir", "verify_cache", "tensorboard", "wandb", "seeds",
                "data_root")


@dataclass
class Cell:
    kind: str  # "fewshot" (fewshot.run) or "full" (zeroi2v.train)
    dataset: str
    method: str
    seed: int
    shots: int | None  # None for a supervised cell
    flags: list[str]  # the program's flags without the grid's own (--out, --resume)
    identity: dict = field(repr=False)
    out: str = ""
    log: str = ""

    @property
    def name(self) -> str:
        what = f"{self.shots}shot" if self.kind == "fewshot" else "full"
        return f"{self.dataset}-{self.method}-{what}-seed{self.seed}-{self.key}"

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def started(self) -> bool:
        return Path(self.out).exists()

    def command(self, *, resume: bool, nproc: int = 1, python: str = sys.executable) -> list[str]:
        """The cell's command line; `nproc` > 1 runs it under torchrun on one node."""
        module = "fewshot.run" if self.kind == "fewshot" else "zeroi2v.train"
        launch = ([python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
                  if nproc > 1 else [python])
        return [*launch, "-m", module, *self.flags, "--out", self.out] + (["--resume"] if resume else [])


@contextlib.contextmanager
def _world_size(n: int):
    old = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = old


def fewshot_identity(settings: dict, *, dataset: str, shots: int, method: str, seed: int, nproc: int,
                     out: str) -> dict:
    """The resolved RunConfig of one cell as a JSON-able dict, without NOT_IDENTITY fields (a given
    --data-root kept); a bad setting is fewshot.run's own one-line error."""
    from fewshot.config import RunConfig, resolve

    given = {**settings, "dataset": dataset, "shots": (shots,), "methods": (method,), "seed": seed, "out": out}
    with _world_size(nproc):
        cfg = resolve(RunConfig(**given), given=set(given))
    ident = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IDENTITY}
    if settings.get("data_root") is not None:
        ident["data_root"] = str(settings["data_root"])
    return json.loads(json.dumps(ident, default=str))  # tuples as lists, as config.json stores them


def expand(grid, settings: dict, *, root: Path) -> list[Cell]:
    """Every cell of `grid` (datasets x shots x methods x seeds; supervised cells after them)."""
    from .flags import run_flags

    shared = run_flags(settings)
    cells = []
    for dataset in grid.datasets:
        for shots in grid.shots:
            for method in grid.methods:
                for seed in grid.seeds:
                    ident = fewshot_identity(settings, dataset=dataset, shots=shots, method=method, seed=seed,
                                             nproc=max(1, grid.gpus_per_cell), out=str(root))
                    flags = ["--dataset", dataset, "--shots", str(shots), "--methods", method,
                             "--seeds", str(seed), *shared]
                    cells.append(Cell("fewshot", ident["dataset"], method, seed, shots, flags, ident))
    if grid.supervised:
        for dataset in grid.datasets:
            for method in grid.methods:
                for seed in grid.seeds:
                    flags = ["--dataset", dataset, "--method", method, "--seed", str(seed), *grid.train_flags]
                    ident = dict(kind="full", dataset=dataset, method=method, seed=seed, flags=list(grid.train_flags))
                    cells.append(Cell("full", dataset, method, seed, None, flags, ident))
    for c in cells:
        what = f"{c.shots}shot" if c.kind == "fewshot" else "full"
        c.out = str(root / "cells" / c.dataset / c.method / f"{what}-seed{c.seed}-{c.key}")
        c.log = str(root / "logs" / f"{c.name}.log")
    return cells


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _matches(cell: Cell, r: dict) -> bool:
    if cell.kind == "full":
        return r["kind"] == "full" and r["dataset"] == cell.dataset and r["method"] == cell.method and \
            int(r["seed"]) == cell.seed
    if r["kind"] != "fewshot" or r["method"] != cell.method or int(r["shots"]) != cell.shots or \
            int(r["seed"]) != cell.seed or r["dataset"] != cell.dataset:
        return False
    config = r.get("config") if isinstance(r.get("config"), dict) else {}
    for k, v in cell.identity.items():
        if v is not None and not _same(config.get(k), v):
            return False  # a setting differs: another measurement
    return True


def _episode_file_hash(path: str) -> str | None:
    from episodes.episode_set import describe_episode_set, read_episode_set

    try:
        return describe_episode_set(read_episode_set(path))["hash"]
    except Exception:  # noqa: BLE001 -- an unreadable file: fewshot.run says why when the cell runs
        return None


def done_records(cell: Cell) -> list[dict]:
    """The records in the cell's folder that measure this cell (results.load, duplicates resolved)."""
    if not Path(cell.out).is_dir():
        return []
    from results.load import RecordWarning, read_records

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        df = read_records(cell.out).records
    if df.empty:
        return []
    from results.aggregate import clean

    return [r for r in map(clean, df.to_dict("records")) if _matches(cell, r)]


def is_done(cell: Cell) -> bool:
    """Every protocol of the cell recorded with the cell's identity (see the module docstring)."""
    found = done_records(cell)
    if cell.kind == "full":
        return bool(found)
    if cell.identity.get("episodes_file"):
        want = _episode_file_hash(cell.identity["episodes_file"])
        found = [r for r in found if r.get("episode_set_hash") == want or r.get("episodes_skipped")]
    return set(cell.identity["protocols"]) <= {r["protocol"] for r in found}
