"""fewshot.grid: cells from flags and spec files, identity-named folders, the local executor end to end on the
toy (2 methods x 2 seeds x 1 shot), idempotent reruns, a killed cell resumed to the same numbers, failures."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from zeroi2v.utils.errors import UserError

REPO = Path(__file__).resolve().parents[1]
TINY_VIT = '{"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4}'
TINY_RUN = ["--timm-kwargs", TINY_VIT, "--frames", "4", "--ways", "3", "--episodes", "20", "--epochs", "4",
            "--batch-size", "3"]
GRID_AXES = ["--datasets", "toy", "--shots", "1", "--methods", "frozen,zeroi2v_no_stdha", "--seeds", "0,1"]


@dataclass
class LocalGrid:
    out: Path
    toy: Path
    run_args: list
    stdout: str
    stderr: str


def local_reference(tmp_path_factory) -> LocalGrid:
    """The toy grid run once per session with the local executor (a second call finds every cell done)."""
    from zeroi2v.data import ToyConfig, make_toy

    base = tmp_path_factory.getbasetemp() / "grid-local"
    toy, out = base / "toy", base / "grid"
    if not toy.exists():
        make_toy(toy, ToyConfig(num_classes=9, class_split=(3, 3, 3), videos_per_class=6, test_per_class=2, frames=8,
                                size=32, images_per_class=4))
    run_args = ["--data-root", str(toy), "--cache-dir", str(base / "cache"), *TINY_RUN]
    p = subprocess.run([sys.executable, "-m", "fewshot.grid", *GRID_AXES, "--out", str(out), "--parallel", "2",
                        "--threads-per-cell", "1", "--format", "csv", "--", *run_args],
                       capture_output=True, text=True, env=_env(), timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return LocalGrid(out, toy, run_args, p.stdout, p.stderr)


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    return local_reference(tmp_path_factory)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def records_of(out: Path) -> dict:
    """{(method, shots, protocol, seed): (record, per-episode accuracies)} of a grid folder, through results."""
    from results.load import read_records
    from results.records import load_episode_accuracies

    df = read_records(out / "cells").records
    return {(r["method"], int(r["shots"]), r["protocol"], int(r["seed"])):
            (r, load_episode_accuracies(r["_path"], r)) for r in df.to_dict("records")}


def merged_export(out: Path, method: str = "zeroi2v_no_stdha", seed: int = 0) -> tuple[dict, dict]:
    """(metadata, {name: sha256 of the tensor's bytes}) of a cell's merged export (the header's key order varies)."""
    from safetensors import safe_open

    (path,) = out.glob(f"cells/toy/{method}/1shot-seed{seed}-*/seed{seed}/{method}/merged.safetensors")
    with safe_open(str(path), "pt") as f:
        return f.metadata(), {k: hashlib.sha256(f.get_tensor(k).numpy().tobytes()).hexdigest() for k in f.keys()}


# ----------------------------------------------------------------------------- cells, flags, spec files

def test_shared_settings_round_trip_through_fewshot_run_parser():
    from fewshot.grid.flags import parse_run_flags, run_flags

    settings = dict(timm_kwargs={"img_size": 32, "depth": 2}, protocols=("prototype",), lr=0.001, episodes=20,
                    tensorboard=True, frames=4)
    flags = run_flags(settings)
    assert "--timm-kwargs" in flags and "--protocols" in flags and "--tensorboard" in flags
    assert parse_run_flags(flags) == settings
    for owned in (["--seed", "1"], ["--out", "x"], ["--resume"], ["--shots", "5"], ["--seeds", "0,1"]):
        with pytest.raises(UserError, match="set by the grid"):
            parse_run_flags(owned)


def _cells(argv, tmp_path):
    from fewshot.grid.cells import expand
    from fewshot.grid.config import parse_args

    cfg, settings = parse_args(["--out", str(tmp_path / "g"), *argv])
    return expand(cfg, settings, root=Path(cfg.out))


def test_a_toml_spec_expands_to_the_same_cells_as_flags(tmp_path):
    spec = tmp_path / "grid.toml"
    spec.write_text('datasets = ["toy"]\nshots = [1, 2]\nmethods = ["frozen", "zeroi2v"]\nseeds = [0, 1, 2]\n'
                    '[run]\nepochs = 3\nepisodes = 50\nprotocols = ["prototype"]\n'
                    'timm_kwargs = {img_size = 32, patch_size = 8, embed_dim = 32, depth = 2, num_heads = 4}\n')
    from_spec = _cells(["--spec", str(spec)], tmp_path)
    from_flags = _cells(["--datasets", "toy", "--shots", "1,2", "--methods", "frozen,zeroi2v", "--seeds", "0,1,2",
                         "--", "--epochs", "3", "--episodes", "50", "--protocols", "prototype", "--timm-kwargs",
                         TINY_VIT], tmp_path)
    assert len(from_spec) == 2 * 2 * 3
    assert [(c.out, c.command(resume=False)) for c in from_spec] == [(c.out, c.command(resume=False))
                                                                    for c in from_flags]
    assert len({c.out for c in from_spec}) == 12
    c = from_spec[0]
    assert c.command(resume=False)[1:8] == ["-m", "fewshot.run", "--dataset", "toy", "--shots", "1", "--methods"]
    assert c.identity["epochs"] == 3 and c.identity["recipe"] == "toy" and c.identity["seed"] == 0
    if __import__("importlib").util.find_spec("yaml"):
        y = tmp_path / "grid.yaml"
        y.write_text("datasets: [toy]\nshots: [1, 2]\nmethods: [frozen, zeroi2v]\nseeds: [0, 1, 2]\nrun:\n"
                     "  epochs: 3\n  episodes: 50\n  protocols: [prototype]\n"
                     "  timm_kwargs: {img_size: 32, patch_size: 8, embed_dim: 32, depth: 2, num_heads: 4}\n")
        assert [c.out for c in _cells(["--spec", str(y)], tmp_path)] == [c.out for c in from_spec]


@pytest.mark.parametrize("text, message", [
    ('datasets = ["toy"]\n[run]\nepoch = 3\n', "unknown fewshot.run setting(s) epoch"),
    ('datasets = ["toy"]\n[run]\nseed = 3\n', "seed is a grid axis"),
    ('dataset = "toy"\n', "unknown key(s) dataset"),
    ('datasets = ["toy"]\n[run]\nepochs = "x"\n', "invalid int value"),
    ('datasets = [toy\n', "not TOML"),
])
def test_a_bad_spec_is_one_line(tmp_path, text, message):
    spec = tmp_path / "grid.toml"
    spec.write_text(text)
    p = subprocess.run([sys.executable, "-m", "fewshot.grid", "--spec", str(spec), "--dry-run"], capture_output=True,
                       text=True, env=_env(), timeout=120)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_a_changed_setting_is_a_new_cell_and_placement_is_not(tmp_path):
    base = _cells(["--methods", "frozen", "--shots", "1", "--", "--episodes", "20"], tmp_path)
    other = _cells(["--methods", "frozen", "--shots", "1", "--", "--episodes", "30"], tmp_path)
    defaulted = _cells(["--methods", "frozen", "--shots", "1"], tmp_path)  # episodes: the default 10,000
    placed = _cells(["--methods", "frozen", "--shots", "1", "--", "--episodes", "20", "--cache-dir",
                     str(tmp_path / "c"), "--num-workers", "3", "--device", "cpu"], tmp_path)
    assert len({base[0].out, other[0].out, defaulted[0].out}) == 3
    assert placed[0].out == base[0].out and placed[0].command(resume=False) != base[0].command(resume=False)


def test_supervised_cells_run_zeroi2v_train_as_a_subprocess(tmp_path):
    cells = _cells(["--methods", "zeroi2v", "--shots", "1", "--seeds", "0,1", "--supervised", "--train-args",
                    "--epochs 2 --batch-size 4"], tmp_path)
    full = [c for c in cells if c.kind == "full"]
    assert len(cells) == 4 and len(full) == 2
    cmd = full[1].command(resume=True)
    assert cmd[1:3] == ["-m", "zeroi2v.train"] and cmd[-1] == "--resume"
    assert cmd[3:] == ["--dataset", "toy", "--method", "zeroi2v", "--seed", "1", "--epochs", "2", "--batch-size", "4",
                       "--out", full[1].out, "--resume"]


def test_dry_run_prints_cells_folders_and_commands_and_runs_nothing(tmp_path):
    out = tmp_path / "g"
    p = subprocess.run([sys.executable, "-m", "fewshot.grid", *GRID_AXES, "--out", str(out), "--dry-run", "--",
                        *TINY_RUN], capture_output=True, text=True, env=_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"grid {out}: 4 cells (0 done, 0 to resume, 4 to run) on local")
    assert sum(line.startswith("[   run] toy ") for line in lines) == 4
    assert sum("-m fewshot.run --dataset toy --shots 1" in line for line in lines) == 4
    assert not out.exists()


# ----------------------------------------------------------------------------- end to end on the toy

def test_local_grid_end_to_end_writes_every_cell_and_one_table(local_grid):
    recs = records_of(local_grid.out)
    assert set(recs) == {(m, 1, p, s) for m in ("frozen", "zeroi2v_no_stdha") for p in ("prototype", "finetune")
                         for s in (0, 1)}
    for (method, _, _, seed), (r, acc) in recs.items():
        assert r["config"]["epochs"] == 4 and r["n_episodes"] == 20 == len(acc) and r["seed"] == seed
        assert abs(acc.mean() - r["accuracy"]) < 1e-9
    # one seed's methods share the episode set: paired differences exist
    for seed in (0, 1):
        assert len({r["episode_set_hash"] for (m, _, _, s), (r, _) in recs.items() if s == seed}) == 1
    # the table: mean over the two seeds ± the t-interval across seeds, as printed (CSV) and written
    from results.compare import t_interval
    from results.notes import NOTHING_MARK  # a row whose training stayed at chance is marked, not dropped

    rows = {(line.split(",")[0], line.split(",")[1].removesuffix(NOTHING_MARK), line.split(",")[2]): line.split(",")
            for line in local_grid.stdout.splitlines() if line.startswith("fewshot-toy")}

    for method, label in (("frozen", "Frozen image model"), ("zeroi2v_no_stdha", "ZeroI2V w/o STDHA")):
        for protocol in ("prototype", "finetune"):
            iv = t_interval([recs[(method, 1, protocol, s)][0]["accuracy"] for s in (0, 1)])
            row = rows[("fewshot-toy", label, f"toy / 3-way / 1-shot / {protocol}")]
            assert abs(float(row[3]) - iv.mean) < 1e-9 and abs(float(row[4]) - iv.half_width) < 1e-9
            assert row[8] == "2"  # n seeds
            diff = t_interval([recs[("zeroi2v_no_stdha", 1, protocol, s)][0]["accuracy"]
                               - recs[("frozen", 1, protocol, s)][0]["accuracy"] for s in (0, 1)])
            paired = rows[("fewshot-toy-minus-frozen", "ZeroI2V w/o STDHA - Frozen image model",
                           f"toy / 3-way / 1-shot / {protocol}")]
            assert abs(float(paired[3]) - diff.mean) < 1e-9
    for ext in ("md", "csv", "tex"):
        assert (local_grid.out / "tables" / f"fewshot-toy.{ext}").is_file()
        assert (local_grid.out / "tables" / f"fewshot-toy-minus-frozen.{ext}").is_file()
    assert "grid cells: 100%" in local_grid.stderr and "4 of 4 cells done" in local_grid.stderr
    plan = json.loads((local_grid.out / "grid.json").read_text())
    assert [c["status"] for c in plan["cells"]] == ["run"] * 4


def test_a_rerun_runs_nothing_and_a_changed_setting_runs_only_new_cells(local_grid, tmp_path_factory):
    before = set((local_grid.out / "cells").rglob("records/*.json"))
    again = local_reference(tmp_path_factory)
    assert "(4 done, 0 to resume, 0 to run)" in again.stderr and "grid cells:" not in again.stderr
    assert set((local_grid.out / "cells").rglob("records/*.json")) == before
    assert again.stdout == local_grid.stdout  # the same table from the same records
    p = subprocess.run([sys.executable, "-m", "fewshot.grid", *GRID_AXES, "--out", str(local_grid.out), "--dry-run",
                        "--", *[a if a != "20" else "21" for a in local_grid.run_args]],
                       capture_output=True, text=True, env=_env(), timeout=120)
    assert "(0 done, 0 to resume, 4 to run)" in p.stdout


def test_records_of_another_identity_do_not_make_a_cell_done(local_grid, tmp_path):
    import shutil

    from fewshot.grid.cells import is_done

    (cell,) = _cells(["--methods", "frozen", "--shots", "1", "--seeds", "0", "--",
                      *[a if a != "20" else "21" for a in local_grid.run_args]], tmp_path)
    (done,) = local_grid.out.glob("cells/toy/frozen/1shot-seed0-*")
    shutil.copytree(done, cell.out)  # records of --episodes 20 in the folder of an --episodes 21 cell
    assert not is_done(cell)
    (same,) = _cells(["--methods", "frozen", "--shots", "1", "--seeds", "0", "--", *local_grid.run_args], tmp_path)
    shutil.copytree(done, same.out)
    assert is_done(same)


def test_a_killed_cell_resumes_to_the_numbers_of_an_uninterrupted_one(local_grid, tmp_path):
    out = tmp_path / "grid"
    cmd = [sys.executable, "-m", "fewshot.grid", "--shots", "1", "--methods", "zeroi2v_no_stdha", "--seeds", "0",
           "--out", str(out), "--threads-per-cell", "1", "--", *local_grid.run_args]  # threads as the reference's
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)
    deadline = time.time() + 600
    try:
        while time.time() < deadline and p.poll() is None:
            m = list(out.glob("cells/*/*/*/seed0/zeroi2v_no_stdha/metrics.jsonl"))
            if m and m[0].read_text().count("\n") >= 1:  # one adaptation epoch done
                os.killpg(p.pid, signal.SIGKILL)  # the grid and its cell, as a crashed node would
                break
            time.sleep(0.01)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL, "the cell finished before it could be killed"
    assert not list(out.rglob("records/*.json")) and list(out.rglob("zeroi2v_no_stdha/checkpoint.pt"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(0 done, 1 to resume, 0 to run)" in r.stderr
    (log,) = (out / "logs").glob("*.log")
    assert log.read_text().count("-m fewshot.run") == 2 and " --resume\n" in log.read_text()
    got, ref = records_of(out), records_of(local_grid.out)
    assert len(got) == 2
    for key, (rec, acc) in got.items():
        assert rec["accuracy"] == ref[key][0]["accuracy"]
        np.testing.assert_array_equal(acc, ref[key][1])
    assert merged_export(out) == merged_export(local_grid.out)  # the adaptation itself is bit-identical


def test_a_failing_cell_is_listed_with_its_log_and_command_and_exit_1(local_grid, tmp_path):
    bad = [a if a != str(local_grid.toy) else str(tmp_path / "no-such-toy") for a in local_grid.run_args]
    p = subprocess.run([sys.executable, "-m", "fewshot.grid", "--shots", "1", "--methods", "frozen", "--seeds", "0",
                        "--out", str(tmp_path / "g"), "--", *bad], capture_output=True, text=True, env=_env(),
                       timeout=300)
    assert p.returncode == 1
    assert "1 cell(s) failed" in p.stderr and "exit 2; log " in p.stderr and "command: " in p.stderr
    log = Path(p.stderr.split("; log ")[1].split()[0])
    assert "error:" in log.read_text() and str(tmp_path / "no-such-toy") in p.stderr


def test_local_slots_give_each_cell_its_threads_and_gpus_and_torchrun_over_several(tmp_path):
    """The executor's side of a cell, with a stand-in interpreter that records what it was started with."""
    from fewshot.grid.job import CellJob
    from fewshot.grid.local import run_local

    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys, time\ntime.sleep(0.5)\n"
                    "out = sys.argv[sys.argv.index('--out') + 1]\nos.makedirs(os.path.dirname(out), exist_ok=True)\n"
                    "open(out + '.json', 'w').write(json.dumps(dict(argv=sys.argv[1:], omp=os.environ['OMP_NUM_THREADS'],"
                    " gpus=os.environ.get('CUDA_VISIBLE_DEVICES'))))\n")
    fake.chmod(0o755)
    cells = _cells(["--methods", "frozen", "--shots", "1", "--seeds", "0,1,2,3"], tmp_path)
    jobs = [CellJob(c, threads=3, nproc=2, python=str(fake)) for c in cells]

    class Count:
        n = 0

        def update(self, k):
            self.n += k

    progress = Count()
    results = run_local(jobs, parallel=2, gpus_per_cell=2, progress=progress)
    assert progress.n == 4 and sorted(r.rc for r in results) == [0] * 4
    seen = [json.loads(Path(c.out + ".json").read_text()) for c in cells]
    assert {s["omp"] for s in seen} == {"3"}
    assert sorted(s["gpus"] for s in seen) == ["0,1", "0,1", "2,3", "2,3"]  # two slots of two GPUs each
    for s, c in zip(seen, cells):
        assert s["argv"][:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
        assert s["argv"][6] == "fewshot.run" and s["argv"][-2:] == ["--out", c.out]
    (log,) = {Path(c.log).read_text().count("# exit 0") for c in cells}
    assert log == 1
