"""Atomic writes: the umask's mode, stale temp files cleaned, write failures as one line with nothing left."""
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zeroi2v.utils import io as zio
from zeroi2v.utils.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def run_py(code: str, *, shell_prefix: str = "", cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter of this checkout, after `shell_prefix` (e.g. `ulimit -f 1;`)."""
    cmd = f"{shell_prefix} exec {sys.executable} -c {shlex_quote(code)}"
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})


def shlex_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".tmp" in p.name)


# --- modes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_umask_mode(tmp_path, mask, mode):
    import torch

    old = os.umask(mask)
    try:
        assert zio.umask() == mask and zio.default_mode() == mode
        zio.atomic_write_text(tmp_path / "a.txt", "x")
        zio.atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "b.pt")
        fd, name = zio.new_temp(tmp_path / "rec.json")
        os.close(fd)
        with zio.atomic_path(tmp_path / "c.bin") as tmp:
            tmp.unlink()
            tmp.write_bytes(b"replaced by the body")  # a writer that recreates the file
    finally:
        os.umask(old)
    for name in ("a.txt", "b.pt", Path(name).name, "c.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_records_and_the_toy_folder_get_the_umask_mode(tmp_path):
    import record_fixtures as T
    from results import records as rec
    from zeroi2v.data.toy import ToyConfig, make_toy

    old = os.umask(0o002)
    try:
        path = rec.write_record(tmp_path / "runs", T.fewshot_record())
        toy = make_toy(tmp_path / "toy", ToyConfig(seed=0, num_classes=4, videos_per_class=2, test_per_class=1,
                                                   frames=4, size=16, images_per_class=1), workers=1)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o664
    assert toy.stat().st_mode & 0o777 == 0o775
    assert all(p.stat().st_mode & 0o777 == 0o664 for p in toy.rglob("*") if p.is_file())


# --- stale temp files -----------------------------------------------------------------------------------


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_files_of_the_same_target_are_removed(tmp_path):
    target = tmp_path / "cache.pt"
    host = zio._HOST
    dead = tmp_path / f".cache.pt.tmp-{dead_pid()}-{host}-abc"
    live = tmp_path / f".cache.pt.tmp-{os.getppid()}-{host}-def"   # a running writer: kept
    other_fresh = tmp_path / ".cache.pt.tmp-1-0000beef-ghi"         # another host, recent: kept
    other_old = tmp_path / ".cache.pt.tmp-1-0000beef-jkl"           # another host, a day old: removed
    unrelated = tmp_path / ".other.pt.tmp-99999999-" f"{host}-mno"  # another target: kept
    for p in (dead, live, other_fresh, other_old, unrelated):
        p.write_bytes(b"half")
    old = time.time() - zio.STALE_AFTER_S - 60
    os.utime(other_old, (old, old))
    zio.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in temps(tmp_path)) == sorted(p.name for p in (live, other_fresh, unrelated))


def test_a_sigkilled_writer_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "big.bin"
    code = (f"import time\nfrom zeroi2v.utils.io import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            f"    tmp.write_bytes(b'x' * 1000)\n    print('writing', flush=True)\n    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout.readline().strip() == "writing"
    (left,) = temps(tmp_path)
    assert left.name.startswith(f".big.bin.tmp-{p.pid}-")  # recognisable: whose and for what
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert left.exists() and not target.exists()
    zio.atomic_write_bytes(target, b"ok")
    assert temps(tmp_path) == [] and target.read_bytes() == b"ok"


def test_a_stale_toy_folder_is_removed_by_the_next_make_toy(tmp_path):
    from zeroi2v.data.toy import ToyConfig, make_toy

    stale = tmp_path / f".toy.tmp-{dead_pid()}-{zio._HOST}-xyz"
    (stale / "videos").mkdir(parents=True)
    (stale / "videos" / "half.mp4").write_bytes(b"half")
    make_toy(tmp_path / "toy", ToyConfig(seed=0, num_classes=4, videos_per_class=2, test_per_class=1, frames=4,
                                         size=16, images_per_class=1), workers=1)
    assert not stale.exists() and [p.name for p in tmp_path.iterdir()] == ["toy"]


# --- write failures: one line, nothing left --------------------------------------------------------------


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "no space left on device: free space"),
                                        (errno.EROFS, "writable file system"), (errno.EACCES, "permission denied"),
                                        (errno.EFBIG, "file-size limit (ulimit -f"), (errno.EDQUOT, "quota")])
def test_write_errors_are_one_line_naming_path_and_fix(tmp_path, monkeypatch, code, words):
    (tmp_path / "x.json").write_text("previous")

    def fail(self, *a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(zio, "_write_file", lambda tmp, data: fail(None))
    with pytest.raises(UserError) as e:
        zio.atomic_write_json(tmp_path / "x.json", {"a": 1})
    msg = str(e.value)
    assert msg.startswith(f"cannot write {tmp_path / 'x.json'}: {os.strerror(code)}") and words in msg
    assert "\n" not in msg and temps(tmp_path) == [] and (tmp_path / "x.json").read_text() == "previous"


def test_a_failing_body_removes_its_temp_file(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with zio.atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            1 / 0
    assert list(tmp_path.iterdir()) == []


WRITERS = {
    "atomic_torch_save": "import torch\nfrom zeroi2v.utils.io import atomic_torch_save\n"
                         "atomic_torch_save({'w': torch.zeros(100000)}, OUT + '/toy-vit.pth')",
    "save_merged": "import torch, zeroi2v\ntorch.set_num_threads(1)\n"
                   "m = zeroi2v.create_model('vit_tiny_patch16_224', num_frames=2, img_size=32, patch_size=8, "
                   "embed_dim=32, depth=2, num_heads=4)\nzeroi2v.save_merged(m, OUT + '/merged.safetensors')",
    "atomic_write_text": "from zeroi2v.utils.io import atomic_write_text\natomic_write_text(OUT + '/t.txt', 'x' * 5000)",
    "episode_accuracies": "from results.records import save_episode_accuracies\n"
                          "save_episode_accuracies(OUT, 'frozen', [50.0] * 10000)",
}


def as_cli(body: str, out: Path) -> str:
    return (f"OUT = {str(out)!r}\nfrom zeroi2v.utils.errors import cli\n@cli\ndef main():\n"
            + "".join(f"    {line}\n" for line in body.splitlines()) + "raise SystemExit(main())\n")


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_disk_full_while_writing_is_one_line_and_leaves_nothing(tmp_path, writer):
    """`ulimit -f` (a file-size limit, as a full disk): the OS refuses the write with EFBIG."""
    out = tmp_path / "out"
    out.mkdir()
    r = run_py(as_cli(WRITERS[writer], out), shell_prefix="ulimit -f 2;")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-800:]
    (line,) = r.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"error: cannot write {out}/") and "File too large" in line and "ulimit -f" in line
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no temp file, no half-written target


def read_only_available() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-Urm", "true"], capture_output=True).returncode == 0


def run_read_only(folders: list[Path], argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """argv with `folders` bind-mounted read-only (a user+mount namespace: a real EROFS, also as root)."""
    script = ('for d in "$@"; do case "$d" in --) shift; break;; esac; mount --bind "$d" "$d" && '
              'mount -o remount,bind,ro "$d" || exit 99; shift; done; exec "$@"')
    return subprocess.run(["unshare", "-Urm", "bash", "-c", script, "ro", *map(str, folders), "--", *argv],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})})


ro_only = pytest.mark.skipif(not read_only_available(), reason="needs unshare -Urm (user namespaces)")


@ro_only
def test_read_only_file_system_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    code = as_cli("from zeroi2v.utils.io import atomic_write_text\natomic_write_text(OUT + '/sub/t.txt', 'x')", ro)
    r = run_read_only([ro], [sys.executable, "-c", code])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-800:]
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: cannot write {ro}/sub/t.txt: Read-only file system") and "writable" in line
    assert list(ro.iterdir()) == []


@ro_only
def test_make_toy_into_a_read_only_folder_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    r = run_read_only([ro], [sys.executable, "-m", "fewshot.data", "make-toy", "--out", str(ro / "toy")])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-800:]
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: cannot write {ro / 'toy'}: Read-only file system")
    assert list(ro.iterdir()) == []


def test_check_dir_refuses_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path)
    with pytest.raises(UserError, match=f"--out {tmp_path}/run: {tmp_path} is not writable; choose another --out"):
        zio.check_dir("--out", tmp_path / "run")
    zio.check_dir("--out", None)  # not set: nothing to check
