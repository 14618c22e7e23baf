"""`--executor local`: the cells on this machine, one after another or `--parallel N` at once.

Each cell is a child process with its own thread budget (OMP/MKL/OpenBLAS threads, `CellJob`);
with `--gpus-per-cell G` the k-th concurrent slot gets GPUs k*G .. k*G+G-1 (CUDA_VISIBLE_DEVICES).
Nothing beyond the suite is needed.
"""
from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor, as_completed

from .job import CellJob, CellResult


def run_local(jobs: list[CellJob], *, parallel: int, gpus_per_cell: int, progress) -> list[CellResult]:
    """Run every job, at most `parallel` at a time; results in finishing order."""
    slots: queue.Queue[int] = queue.Queue()
    for i in range(parallel):
        slots.put(i)

    def one(job: CellJob) -> CellResult:
        slot = slots.get()
        try:
            gpus = ",".join(str(slot * gpus_per_cell + j) for j in range(gpus_per_cell)) if gpus_per_cell else None
            return job(gpus)
        finally:
            slots.put(slot)

    results = []
    with ThreadPoolExecutor(max_workers=parallel) as ex:
        futures = [ex.submit(one, j) for j in jobs]
        for f in as_completed(futures):
            results.append(f.result())
            progress.update(1)
    return results
