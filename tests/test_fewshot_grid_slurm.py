"""fewshot.grid --executor slurm end to end: submitit against stub sbatch/srun/sacct/squeue/scancel/scontrol.

The stubs (one Python program, written into tmp_path/bin and put first on PATH) play a one-node
cluster: `sbatch` parses the job script's #SBATCH lines, records them, prints "Submitted batch job N"
and hands the job to a detached scheduler that runs each array task as `bash script` with the SLURM_*
variables submitit reads, at most the array's %P at once; `srun` runs the step (its output files with
%A/%a/%j/%t filled); `sacct` reports the states the scheduler writes; `scancel --signal` signals the
step (a preemption); `scontrol requeue` makes the scheduler run the task again when it exits.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("submitit")

from test_fewshot_grid import GRID_AXES, local_reference, merged_export, records_of  # noqa: E402

STUB = r'''
import fcntl, json, os, re, signal, subprocess, sys, time
from pathlib import Path

STATE = Path(os.environ["SLURM_STUB_DIR"])
JOBS = STATE / "jobs"
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def state_of(key):
    p = JOBS / f"{key}.state"
    return p.read_text().strip() if p.exists() else None


def set_state(key, s):
    tmp = JOBS / f".{key}.state.tmp"
    tmp.write_text(s)
    os.replace(tmp, JOBS / f"{key}.state")


def keys_of(jid):
    """Keys (<id> or <id>_<task>) a job id names: one task, or every task of an array."""
    if "_" in jid:
        return [jid]
    return sorted({p.name[:-6] for p in JOBS.glob("*.state")
                   if p.name[:-6] == jid or p.name[:-6].startswith(jid + "_")})


def sbatch(argv):
    script = Path(argv[-1])
    opts = {}
    for line in script.read_text().splitlines():
        m = re.match(r"#SBATCH --([\w-]+)(?:=(.*))?$", line)
        if m:
            opts[m.group(1)] = m.group(2) if m.group(2) is not None else True
    JOBS.mkdir(parents=True, exist_ok=True)
    with open(STATE / "counter.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counter = STATE / "counter"
        jid = int(counter.read_text()) + 1 if counter.exists() else 1000
        counter.write_text(str(jid))
    d = JOBS / str(jid)
    d.mkdir()
    (d / "script.sh").write_text(script.read_text())
    (d / "sbatch.json").write_text(json.dumps(opts, indent=1))
    m = re.match(r"(\d+)-(\d+)(?:%(\d+))?$", str(opts.get("array", "")))
    tasks = [f"{jid}_{t}" for t in range(int(m.group(1)), int(m.group(2)) + 1)] if m else [str(jid)]
    for k in tasks:
        set_state(k, "PENDING")
    limit = int(m.group(3)) if m and m.group(3) else len(tasks)
    subprocess.Popen([sys.executable, __file__, "__schedule", str(jid), str(limit), *tasks], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(d / "scheduler.err", "w"))
    print(f"Submitted batch job {jid}")


def fill(pattern, env):
    return (pattern.replace("%A", env.get("SLURM_ARRAY_JOB_ID", env["SLURM_JOB_ID"]))
            .replace("%a", env.get("SLURM_ARRAY_TASK_ID", "0")).replace("%j", env["SLURM_JOB_ID"]).replace("%t", "0"))


def schedule(jid, limit, tasks):
    d = JOBS / jid
    opts = json.loads((d / "sbatch.json").read_text())
    queue, running, restarts, most = list(tasks), {}, {k: 0 for k in tasks}, 0
    while queue or running:
        while queue and len(running) < limit:
            key = queue.pop(0)
            if state_of(key) == "CANCELLED":
                continue
            env = dict(os.environ, SLURM_JOB_ID=str(int(jid) * 100 + len(restarts) + sum(restarts.values())),
                       SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_PROCID="0",
                       SLURM_LOCALID="0", SLURM_JOB_NODELIST="localhost", SLURM_RESTART_COUNT=str(restarts[key]),
                       SLURM_STUB_KEY=key, SLURM_CPUS_PER_TASK=str(opts.get("cpus-per-task", 1)))
            if "_" in key:
                env.update(SLURM_ARRAY_JOB_ID=jid, SLURM_ARRAY_TASK_ID=key.split("_")[1])
            else:
                env["SLURM_JOB_ID"] = jid
            out = open(fill(opts["output"], env), "a")
            running[key] = subprocess.Popen(["bash", str(d / "script.sh")], env=env, stdout=out, stderr=out,
                                            start_new_session=True)
            set_state(key, "RUNNING")
        most = max(most, len(running))
        (d / "max_running").write_text(str(most))
        time.sleep(0.1)
        for key, p in list(running.items()):
            if p.poll() is None:
                continue
            del running[key]
            marker = JOBS / f"{key}.requeue"
            if marker.exists() and state_of(key) != "CANCELLED":
                marker.unlink()
                restarts[key] += 1
                (JOBS / f"{key}.restarts").write_text(str(restarts[key]))
                set_state(key, "PENDING")
                queue.insert(0, key)
            elif state_of(key) != "CANCELLED":
                set_state(key, "COMPLETED" if p.returncode == 0 else "FAILED")


def srun(argv):
    i, files = 0, {}
    while i < len(argv) and argv[i].startswith("--"):
        if argv[i] in ("--output", "--error"):
            files[argv[i]] = argv[i + 1]
            i += 2
        else:
            i += 1
    env = os.environ
    (JOBS / f"{env['SLURM_STUB_KEY']}.step").write_text(str(os.getpid()))
    for flag, fd in (("--output", 1), ("--error", 2)):
        if flag in files:
            f = os.open(fill(files[flag], env), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(f, fd)
    os.execvp(argv[i], argv[i:])


def sacct(argv):
    ids = [argv[i + 1] for i, a in enumerate(argv) if a == "-j"]
    print("JobID|State|NodeList")
    for jid in ids:
        for key in keys_of(jid):
            print(f"{key}|{state_of(key)}|localhost")


def squeue(argv):
    print("JOBID STATE")
    for p in sorted(JOBS.glob("*.state")):
        if p.read_text().strip() not in FINAL:
            print(p.name[:-6], p.read_text().strip())


def scancel(argv):
    sig = argv[argv.index("--signal") + 1] if "--signal" in argv else None
    for jid in [a for a in argv if a[:1].isdigit()]:
        for key in keys_of(jid):
            step = JOBS / f"{key}.step"
            if sig is not None:
                if state_of(key) == "RUNNING" and step.exists():
                    os.kill(int(step.read_text()), getattr(signal, sig if sig.startswith("SIG") else "SIG" + sig))
            else:
                set_state(key, "CANCELLED")
                if step.exists():
                    os.killpg(os.getpgid(int(step.read_text())), signal.SIGKILL)


def scontrol(argv):
    assert argv[0] == "requeue", argv
    (JOBS / f"{argv[1]}.requeue").write_text("1")


if __name__ == "__main__":
    name, argv = Path(sys.argv[0]).name, sys.argv[1:]
    if argv[:1] == ["__schedule"]:
        schedule(argv[1], int(argv[2]), argv[3:])
    else:
        dict(sbatch=sbatch, srun=srun, sacct=sacct, squeue=squeue, scancel=scancel, scontrol=scontrol)[name](argv)
'''


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    return local_reference(tmp_path_factory)  # the same toy grid, local executor (run once per session)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A stub SLURM on PATH; returns its state folder."""
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm-state"
    bin_dir.mkdir()
    state.mkdir()
    for name in ("sbatch", "srun", "sacct", "squeue", "scancel", "scontrol"):
        p = bin_dir / name
        p.write_text(f"#!{sys.executable}\n" + STUB)
        p.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_DIR", str(state))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                      os.environ.get("PYTHONPATH", "")]))
    return state


def _states(state: Path) -> dict[str, str]:
    return {p.name[:-6]: p.read_text().strip() for p in (state / "jobs").glob("*.state")}


def _preempt_first_adaptation(grid_out: Path, state: Path, done: threading.Event, sent: list) -> None:
    """Once an adapted cell has finished an epoch (metrics.jsonl) and has no record yet: USR2 to every
    running task, as SLURM does before preempting."""
    while not done.is_set():
        for m in grid_out.glob("cells/*/*/*/seed*/*/metrics.jsonl"):
            cell = m.parents[2]
            if m.read_text().count("\n") >= 1 and not list(cell.glob("seed*/records/*.json")):
                running = [k for k, s in _states(state).items() if s == "RUNNING"]
                for key in running:
                    subprocess.run(["scancel", key, "--signal", "USR2"], check=True)
                sent.extend(running)
                return
        time.sleep(0.02)


def test_slurm_array_with_requeue_gives_the_local_numbers(cluster, local_grid, tmp_path, capsys):
    from fewshot.grid.__main__ import main

    out = tmp_path / "grid"
    argv = [*GRID_AXES, "--out", str(out), "--executor", "slurm", "--partition", "debug", "--time", "30",
            "--cpus-per-cell", "2", "--mem-gb", "4", "--gpus-per-cell", "0", "--array-parallelism", "2",
            "--threads-per-cell", "1",  # as the local reference: another thread count changes the last bits
            "--slurm-setup", "export GRID_STUB_SETUP=1", "--poll", "0.2", "--", *local_grid.run_args]
    done, sent = threading.Event(), []
    watcher = threading.Thread(target=_preempt_first_adaptation, args=(out, cluster, done, sent), daemon=True)
    watcher.start()
    try:
        assert main(argv) == 0
    finally:
        done.set()
    captured = capsys.readouterr()
    assert "submitted 4 cell(s) as SLURM job" in captured.err
    # the job script submitit wrote: an array of 4 tasks, 2 at a time, with the requested resources
    (job,) = [p for p in (cluster / "jobs").iterdir() if p.is_dir()]
    opts = json.loads((job / "sbatch.json").read_text())
    assert opts["array"] == "0-3%2" and opts["partition"] == "debug" and opts["time"] == "30"
    assert opts["cpus-per-task"] == "2" and opts["mem"] == "4GB" and opts["requeue"] is True
    assert opts["signal"] == "USR2@90" and "gpus-per-node" not in opts
    script = (job / "script.sh").read_text()
    (command,) = [line for line in script.splitlines() if "-m submitit.core._submit" in line]
    assert "export GRID_STUB_SETUP=1" in script and command.startswith("srun ")
    assert int((job / "max_running").read_text()) == 2  # the concurrency limit held, and was used
    # a preempted task was requeued by submitit (scontrol requeue) and resumed the cell
    assert sent, "no adapted cell was caught mid-way to preempt"
    restarted = {p.name[:-9]: int(p.read_text()) for p in (cluster / "jobs").glob("*.restarts")}
    assert set(sent) <= set(restarted) and all(n == 1 for n in restarted.values())
    deadline = time.time() + 30  # submitit reads a task's result before the stub scheduler has seen it exit
    while set(_states(cluster).values()) != {"COMPLETED"} and time.time() < deadline:
        time.sleep(0.1)
    assert set(_states(cluster).values()) == {"COMPLETED"}
    # same numbers as the same cells run locally
    got, ref = records_of(out), records_of(local_grid.out)
    assert set(got) == set(ref) and len(got) == 8
    for key, (r, acc) in got.items():
        assert r["accuracy"] == ref[key][0]["accuracy"], key
        np.testing.assert_array_equal(acc, ref[key][1])
    for seed in (0, 1):  # the preempted adaptations resumed bit-identically
        assert merged_export(out, seed=seed) == merged_export(local_grid.out, seed=seed)
    assert "toy: each method minus Frozen image model" in captured.out
    # a rerun submits nothing: every cell is done by identity
    n_jobs = len([p for p in (cluster / "jobs").iterdir() if p.is_dir()])
    assert main(argv) == 0
    assert len([p for p in (cluster / "jobs").iterdir() if p.is_dir()]) == n_jobs
    assert "(4 done, 0 to resume, 0 to run)" in capsys.readouterr().err


def test_a_failing_slurm_cell_is_listed_with_its_log_and_command(cluster, local_grid, tmp_path, capsys):
    from fewshot.grid.__main__ import main

    out = tmp_path / "grid"
    run_args = [a if a != str(local_grid.toy) else str(tmp_path / "no-such-toy") for a in local_grid.run_args]
    argv = ["--shots", "1", "--methods", "frozen", "--seeds", "0", "--out", str(out), "--executor", "slurm",
            "--gpus-per-cell", "0", "--poll", "0.2", "--", *run_args]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 cell(s) failed" in err and "exit 2" in err and "--data-root " + str(tmp_path / "no-such-toy") in err
    log = Path(err.split("; log ")[1].split()[0])
    assert "error:" in log.read_text()
    deadline = time.time() + 30  # the task itself ended well: the cell's exit status is the grid's to report
    while set(_states(cluster).values()) != {"COMPLETED"} and time.time() < deadline:
        time.sleep(0.1)
    assert set(_states(cluster).values()) == {"COMPLETED"}
