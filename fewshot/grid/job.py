"""One cell as a job: its command in a child process with its own thread budget, output appended to its log.

The same callable runs a cell on this machine (`fewshot.grid.local`) and inside a SLURM job
(`fewshot.grid.slurm`, pickled by submitit). It decides `--resume` when it starts (the cell's folder
exists: a killed, failed or preempted earlier try), so a requeued job continues where the last one
stopped. `checkpoint` is submitit's preemption/timeout hook (duck-typed `submitit.helpers.Checkpointable`):
it requeues the same cell, which then resumes from its folder.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cells import Cell

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class CellResult:
    name: str
    rc: int
    log: str
    command: list[str]
    seconds: float


@dataclass
class CellJob:
    cell: Cell
    threads: int  # threads of each process of the cell
    nproc: int = 1  # > 1: torchrun processes (one per GPU)
    python: str = sys.executable

    def command(self) -> list[str]:
        return self.cell.command(resume=self.cell.started(), nproc=self.nproc, python=self.python)

    def __call__(self, gpus: str | None = None) -> CellResult:
        """Run the cell to its end; `gpus` (CUDA_VISIBLE_DEVICES) pins it to some GPUs of this machine."""
        cmd = self.command()
        env = dict(os.environ, **{v: str(self.threads) for v in THREAD_VARS})
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        log = Path(self.cell.log)
        log.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n")
            f.flush()
            p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
            try:
                rc = p.wait()
            finally:  # preempted (submitit exits from its signal handler) or interrupted: stop the cell too
                if p.poll() is None:
                    f.write(f"# stopped after {time.perf_counter() - t:.0f} s (preempted or interrupted)\n")
                    f.flush()
                    p.terminate()
                    try:
                        p.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            f.write(f"# exit {rc} after {time.perf_counter() - t:.0f} s\n")
        return CellResult(self.cell.name, rc, str(log), cmd, time.perf_counter() - t)

    def checkpoint(self, *args, **kwargs):
        """submitit: on preemption or timeout, requeue this cell with the same arguments."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)
