"""`--executor slurm`: the cells as one SLURM array job through submitit.

One array task per cell (`#SBATCH --array=0-N%P`, P = --array-parallelism), each with --gpus-per-cell
GPUs (torchrun inside the task when more than one), --cpus-per-cell CPUs, --mem-gb and --time
minutes; `--requeue` lets SLURM requeue a preempted task, and submitit's signal handling (USR2
before the end) requeues a preempted or timed-out task through `CellJob.checkpoint` up to
--max-requeue times; the requeued task runs the cell with `--resume`. submitit keeps the job
script, pickles and logs under `<out>/slurm/`. Results come back as submitit's result pickles;
a task that died without one is a failure with its submitit log.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .job import CellJob, CellResult


def executor_parameters(cfg, *, nproc: int) -> dict:
    """submitit AutoExecutor parameters of one cell."""
    s = cfg.slurm
    params = dict(name="fewshot-grid", timeout_min=s.time, nodes=1, tasks_per_node=1, cpus_per_task=s.cpus_per_cell,
                  slurm_array_parallelism=s.array_parallelism, slurm_additional_parameters={"requeue": True})
    if cfg.gpus_per_cell:
        params["gpus_per_node"] = nproc
    optional = dict(slurm_partition=s.partition, mem_gb=s.mem_gb, slurm_account=s.account, slurm_qos=s.qos,
                    slurm_setup=list(s.setup) or None)
    return {**params, **{k: v for k, v in optional.items() if v is not None}}


def run_slurm(jobs: list[CellJob], cfg, *, root: Path, progress) -> list[CellResult]:
    """Submit every job as one array, wait for all (progress per finished task); results in job order."""
    import submitit

    nproc = jobs[0].nproc if jobs else 1
    ex = submitit.AutoExecutor(folder=root / "slurm" / "%j", cluster="slurm", slurm_max_num_timeout=cfg.slurm.max_requeue)
    ex.update_parameters(**executor_parameters(cfg, nproc=nproc))
    sjobs = ex.submit_array(jobs)
    ids = sorted({j.job_id.split("_")[0] for j in sjobs})
    progress.write(f"submitted {len(sjobs)} cell(s) as SLURM job {', '.join(ids)} (logs: {root / 'slurm'})",
                   file=sys.stderr)
    pending = set(range(len(sjobs)))
    while pending:
        for i in sorted(pending):
            if sjobs[i].done():
                pending.discard(i)
                progress.update(1)
        if pending:
            time.sleep(cfg.slurm.poll)
    results = []
    for job, sj in zip(jobs, sjobs):
        try:
            results.append(sj.result())
        except Exception as e:  # noqa: BLE001 -- submitit's FailedJobError / UncompletedJobError: a failed cell
            first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            results.append(CellResult(job.cell.name, -1, f"{sj.paths.stderr} ({sj.state}: {first})",
                                      job.command(), 0.0))
    return results
