"""`python -m fewshot.grid`: a benchmark grid of fewshot.run cells, here or on SLURM, and one table at the end.

    python -m fewshot.grid --datasets toy --shots 1 --methods frozen,zeroi2v --seeds 0,1 -- --episodes 200
    python -m fewshot.grid --spec grid.toml --executor slurm --partition gpu --gpus-per-cell 4

The grid expands into cells (fewshot/grid/cells.py); cells already done -- a record of the same
identity in the cell's folder -- are skipped, the others run (`--executor local`, optionally
`--parallel N`, or `--executor slurm`: one submitit array job), a cell with a folder from an earlier
try resumes with `fewshot.run --resume`. A progress line (tqdm) counts finished cells; at the end
the tables of the grid's records are printed (`--format`) and written to `<out>/tables/` in
Markdown, CSV and LaTeX, and failed cells are listed with their log and command (exit status 1).
`--dry-run` prints the cells, their folders and commands and runs nothing.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from pathlib import Path

from zeroi2v.utils.errors import cli
from zeroi2v.utils.io import atomic_write_json

from .cells import Cell, expand, is_done
from .config import GridConfig, parse_args
from .job import CellJob


def _threads(cfg: GridConfig, nproc: int) -> int:
    if cfg.threads_per_cell is not None:
        return cfg.threads_per_cell
    if cfg.executor == "slurm":
        return max(1, cfg.slurm.cpus_per_cell // nproc)
    return max(1, (os.cpu_count() or 1) // (cfg.parallel * nproc))


def _status(cell: Cell) -> str:
    return "done" if is_done(cell) else "resume" if cell.started() else "run"


def describe(cells: list[Cell], status: dict[str, str], jobs: list[CellJob], cfg: GridConfig) -> str:
    """The dry-run listing: one line per cell (status, what, folder) and its command."""
    n = {s: sum(v == s for v in status.values()) for s in ("done", "resume", "run")}
    where = (f"local, {cfg.parallel} at a time" if cfg.executor == "local" else
             f"slurm array, {cfg.slurm.array_parallelism} at a time, {cfg.gpus_per_cell} GPU(s), "
             f"{cfg.slurm.cpus_per_cell} CPUs, {cfg.slurm.time} min per cell")
    threads = f", {jobs[0].threads} thread(s) per process" if jobs else ""
    lines = [f"grid {cfg.out}: {len(cells)} cells ({n['done']} done, {n['resume']} to resume, {n['run']} to run) "
             f"on {where}{threads}"]
    if cfg.executor == "slurm":
        from .slurm import executor_parameters

        lines.append(f"submitit parameters: {executor_parameters(cfg, nproc=max(1, cfg.gpus_per_cell))}")
    by_name = {j.cell.name: j for j in jobs}
    for c in cells:
        what = f"{c.shots}-shot" if c.kind == "fewshot" else "supervised"
        lines.append(f"[{status[c.name]:>6}] {c.dataset} {c.method} {what} seed {c.seed} -> {c.out}")
        if c.name in by_name:
            lines.append("         " + shlex.join(by_name[c.name].command()))
    return "\n".join(lines)


def _write_plan(cfg: GridConfig, settings: dict, cells: list[Cell], status: dict[str, str]) -> None:
    atomic_write_json(Path(cfg.out) / "grid.json", dict(
        grid=dataclasses.asdict(cfg), run_settings=settings,
        cells=[dict(name=c.name, kind=c.kind, dataset=c.dataset, method=c.method, shots=c.shots, seed=c.seed,
                    out=c.out, log=c.log, status=status[c.name], identity=c.identity) for c in cells]))


def _run(cfg: GridConfig, jobs: list[CellJob], *, n_cells: int, root: Path) -> list:
    """Run the jobs with the chosen executor under a progress line over all cells."""
    from tqdm import tqdm

    if not jobs:
        return []
    with tqdm(total=n_cells, initial=n_cells - len(jobs), desc="grid cells", unit="cell", file=sys.stderr) as progress:
        if cfg.executor == "slurm":
            from .slurm import run_slurm

            return run_slurm(jobs, cfg, root=root, progress=progress)
        from .local import run_local

        return run_local(jobs, parallel=cfg.parallel, gpus_per_cell=cfg.gpus_per_cell, progress=progress)


@cli
def main(argv: list[str] | None = None) -> int:
    cfg, settings = parse_args(argv)
    root = Path(cfg.out)
    cells = expand(cfg, settings, root=root)
    status = {c.name: _status(c) for c in cells}
    nproc = max(1, cfg.gpus_per_cell)
    jobs = [CellJob(c, threads=_threads(cfg, nproc), nproc=nproc) for c in cells if status[c.name] != "done"]
    if cfg.dry_run:
        print(describe(cells, status, jobs, cfg))
        return 0
    _write_plan(cfg, settings, cells, status)
    print(describe(cells, status, [], cfg).splitlines()[0], file=sys.stderr)
    try:
        results = _run(cfg, jobs, n_cells=len(cells), root=root)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command; done cells are kept, started cells resume", file=sys.stderr)
        return 130
    from .report import grid_tables, write_tables

    tables = grid_tables(cells, baseline=cfg.baseline)
    if tables:
        from results.formats import render_all

        print(render_all(tables, cfg.format), end="")
        write_tables(tables, root / "tables")
    by_name = {c.name: c for c in cells}
    failed = [r for r in results if r.rc != 0 or not is_done(by_name[r.name])]
    print(f"{len(cells) - len(failed)} of {len(cells)} cells done; tables in {root / 'tables'}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} cell(s) failed (rerun the same command to retry them; they resume):", file=sys.stderr)
        for r in failed:
            why = f"exit {r.rc}" if r.rc != 0 else "exit 0 but no record of the cell's identity"
            print(f"  {r.name}: {why}; log {r.log}\n    command: {shlex.join(r.command)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
