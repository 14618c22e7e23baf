"""Bad-input corpus: every command of the suite over a table of hostile / wrong inputs.

Each case runs one command's `main(argv)` in this process and asserts the contract of a refused
run: exit status 2, exactly one line on stderr (`error: ...`, naming what is wrong), no
traceback, nothing written under the case's `--out`, and (where given) the named thing in the
message. `fewshot.data check` reports problems on stdout by design (one PROBLEM line each): its
cases ("report") assert exit 2, a PROBLEM line naming the thing and no traceback.

A watchdog stops a case that starts real work instead of refusing (SIGALRM after LIMIT s) -- a
bad input must be refused up front. Cases that fail because of code owned by another part of the
suite are kept, marked xfail(strict=True) with the owner, so they turn into failures the moment
they are fixed (then drop the mark).
"""
from __future__ import annotations

import io
import json
import os
import signal
import struct
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from list_fixtures import make_list_dataset

LIMIT = 20  # seconds a refused case may take
SPAWN = 100  # more for a case run as its own process (interpreter, torch and timm imports, on a loaded machine)
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4)


class TooSlow(Exception):
    pass


def _entry(cmd: str) -> Callable[[list[str]], int]:
    if cmd == "fewshot.run":
        from fewshot.run import main
    elif cmd == "zeroi2v.train":
        from zeroi2v.train.cli import main
    elif cmd == "zeroi2v.bench":
        from zeroi2v.bench.cli import main
    elif cmd == "results":
        from results.__main__ import main
    elif cmd == "episodes":
        from episodes.__main__ import main
    elif cmd == "fewshot.data":
        from fewshot.data.__main__ import main
    else:
        raise KeyError(cmd)
    return main


# ---------------------------------------------------------------- fixtures: the hostile files


@dataclass
class Files:
    root: Path
    toy: Path
    mine: Path
    p: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, k: str) -> str:
        return str(self.p[k])


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


class _Payload:
    """Unpickling this runs code (a file appears): weights_only loading must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    import torch
    from safetensors.torch import save_file

    from zeroi2v.data.toy import ToyConfig, make_toy

    root = tmp_path_factory.mktemp("bad")
    # 12 classes: 7 base / 2 val / 3 novel, enough for 2-way 1-shot episodes
    toy = make_toy(root / "toy", ToyConfig(seed=0, num_classes=12, videos_per_class=3, test_per_class=1,
                                           frames=8, size=32, images_per_class=2), workers=1)
    mine = make_list_dataset(root / "mine", split=(3, 2, 3), videos_per_class=3, frames=4, size=16)
    mine6 = make_list_dataset(root / "mine6", split=(3, 2, 3), videos_per_class=6, frames=4, size=16)  # adaptable
    f = Files(root=root, toy=toy, mine=mine)
    p = f.p
    p["mine6"] = mine6
    p["empty.pt"] = _write(root / "w" / "empty.pt", b"")
    p["garbage.pt"] = _write(root / "w" / "garbage.pt", os.urandom(4096))
    torch.save(_Payload(root / "PWNED"), root / "w" / "payload.pt")
    p["payload.pt"] = root / "w" / "payload.pt"
    save_file({"pos_embed": torch.zeros(5), "w": torch.zeros(4, 4)}, str(root / "w" / "ok.safetensors"))
    raw = (root / "w" / "ok.safetensors").read_bytes()
    p["trunc.safetensors"] = _write(root / "w" / "trunc.safetensors", raw[: len(raw) // 2])
    p["header.safetensors"] = _write(root / "w" / "header.safetensors", struct.pack("<Q", 10**12) + b"{")
    p["pos1d.safetensors"] = root / "w" / "ok.safetensors"
    p["wdir"] = root / "w" / "adir.pt"
    p["wdir"].mkdir()
    p["missing"] = root / "nope" / "nothing.pt"
    p["file"] = _write(root / "plain.txt", "x")
    p["non_utf8.json"] = _write(root / "cfg" / "nonutf8.json", b"{\xff\xfe}")
    p["nested.json"] = _write(root / "cfg" / "nested.json", "[" * 100000 + "]" * 100000)
    p["notjson.json"] = _write(root / "cfg" / "notjson.json", "{nope")
    p["list.json"] = _write(root / "cfg" / "list.json", "[1, 2]")
    # episode files
    good = {"classes": ["a", "b"], "index": 0, "support": [["a/1"], ["b/1"]], "query": [["a/2"], ["b/2"]]}
    p["eps_nonutf8"] = _write(root / "eps" / "nonutf8.jsonl", b'{"classes": ["\xff"]}\n')
    p["eps_nested"] = _write(root / "eps" / "nested.jsonl", "[" * 100000 + "]" * 100000 + "\n")
    p["eps_types"] = _write(root / "eps" / "types.jsonl", json.dumps({**good, "support": "a/1"}) + "\n")
    p["eps_foreign"] = _write(root / "eps" / "foreign.jsonl", json.dumps(good) + "\n")
    p["eps_empty"] = _write(root / "eps" / "empty.jsonl", "\n\n")
    # a run dir whose resume checkpoint is garbage
    p["resume_out"] = root / "resume_run"
    _write(p["resume_out"] / "checkpoint.pt", os.urandom(2048))
    _write(p["resume_out"] / "last.pt", os.urandom(2048))
    # data trees
    import shutil

    p["toy_badjson"] = Path(shutil.copytree(toy, root / "toy_badjson"))
    (p["toy_badjson"] / "toy.json").write_bytes(b"\xff\xfe{")
    p["toy_npz"] = Path(shutil.copytree(toy, root / "toy_npz"))
    npz = p["toy_npz"] / "frames.npz"
    npz.write_bytes(npz.read_bytes()[:500])
    p["toy_escape"] = Path(shutil.copytree(toy, root / "toy_escape"))
    tl = p["toy_escape"] / "ucfTrainTestlist" / "trainlist01.txt"
    tl.write_text(tl.read_text() + "move_left/../../../../etc/passwd 1\n")
    p["toy_dup"] = Path(shutil.copytree(toy, root / "toy_dup"))
    tl = p["toy_dup"] / "ucfTrainTestlist" / "trainlist01.txt"
    tl.write_text(tl.read_text() + tl.read_text().splitlines()[0] + "\n")
    p["toy_emptysplit"] = Path(shutil.copytree(toy, root / "toy_emptysplit"))
    (p["toy_emptysplit"] / "splits" / "val.txt").write_text("")
    p["toy_nonutf8split"] = Path(shutil.copytree(toy, root / "toy_nonutf8split"))
    (p["toy_nonutf8split"] / "splits" / "test.txt").write_bytes(b"\xfftest0//videos/x\n")
    p["list_escape"] = Path(shutil.copytree(mine, root / "list_escape"))
    (p["list_escape"] / "test.txt").write_text("../../../etc/passwd move_left\n")
    p["list_abs"] = Path(shutil.copytree(mine, root / "list_abs"))
    (p["list_abs"] / "train.txt").write_text("/etc/passwd move_left\n")
    p["list_shared"] = Path(shutil.copytree(mine, root / "list_shared"))
    with open(p["list_shared"] / "test.txt", "a") as fh:
        fh.write("videos/move_left/move_left_0.mp4 move_left\n")
    p["list_nonutf8"] = Path(shutil.copytree(mine, root / "list_nonutf8"))
    (p["list_nonutf8"] / "val.txt").write_bytes(b"videos/x\xe9.mp4 a\n")
    p["list_corrupt"] = Path(shutil.copytree(mine, root / "list_corrupt"))  # found while embedding, after start-up
    first = (mine / "test.txt").read_text().split()[0]
    (p["list_corrupt"] / first).write_bytes((mine / first).read_bytes()[:300])
    p["list_corrupt_train"] = Path(shutil.copytree(mine6, root / "list_corrupt_train"))  # found while adapting
    first = (mine6 / "train.txt").read_text().split()[0]
    (p["list_corrupt_train"] / first).write_bytes((mine6 / first).read_bytes()[:300])
    p["list_small"] = Path(shutil.copytree(mine, root / "list_small"))
    (p["list_small"] / "test.txt").write_text("".join(
        line + "\n" for line in (mine / "test.txt").read_text().splitlines()[:4]))
    import timm

    tiny = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **TINY)
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(root / "w" / "tiny.safetensors"))
    p["tiny.safetensors"] = root / "w" / "tiny.safetensors"
    _torchscript_files(root, p)
    # config.json files of the wrong program / with wrongly typed fields
    for name, cfg in {"fs_ways_str": {"dataset": "toy", "ways": "5"},
                      "fs_timm_str": {"dataset": "toy", "timm_kwargs": "notadict"},
                      "fs_shots_str": {"dataset": "toy", "shots": ["1", "5"]},
                      "fs_seed_float": {"dataset": "toy", "seed": 0.5},
                      "tr_epochs_str": {"dataset": "toy", "epochs": "5"},
                      "tr_timm_str": {"dataset": "toy", "timm_kwargs": "notadict"},
                      "tr_lr_list": {"dataset": "toy", "lr": [0.1]},
                      "tr_of_fewshot": {"dataset": "toy", "ways": 5, "shots": [1, 5], "episodes": 100,
                                        "methods": ["frozen"], "pretrained": None}}.items():
        p[name] = _write(root / "cfg" / f"{name}.json", json.dumps(cfg))
    p["ro"] = root / "ro"  # mounted read-only by the fault cases
    p["ro"].mkdir()
    p["finished"] = root / "finished"  # a finished run, resumed on a read-only file system
    rc = _entry("fewshot.run")(fs_mine("--cache-dir", str(root / "cache"))(f, p["finished"]))
    assert rc == 0 and (p["finished"] / "config.json").is_file()
    return f


def _torchscript_files(root: Path, p: dict) -> None:
    """Crafted TorchScript archives: code whose __setstate__ writes a file, pickles that call os.system or
    open, a tensor outside its storage; the genuine archive they are made from; a truncated one."""
    import pickle
    import warnings
    import zipfile

    from test_torchscript import Reduce, _storage_pickle, evil_archive, rewrite
    from test_weights import as_torchscript, openai_clip_state_dict

    warnings.filterwarnings("ignore", category=FutureWarning)
    (root / "ts").mkdir()
    p["ts_setstate"], _ = evil_archive(root / "ts", "setstate")  # target: ts/setstate.victim
    genuine = root / "ts" / "genuine.pt"
    as_torchscript(openai_clip_state_dict(), genuine)
    with zipfile.ZipFile(genuine) as z:
        pre = z.namelist()[0].split("/")[0] + "/"
    import builtins

    for name, obj in (("system", Reduce(os.system, f"touch {root / 'PWNED'}")),
                      ("open", Reduce(builtins.open, str(root / "PWNED"), "w"))):
        p[f"ts_{name}"] = rewrite(genuine, root / "ts" / f"{name}.pt", {pre + "data.pkl": pickle.dumps(obj, protocol=2)})
    p["ts_oob"] = root / "ts" / "oob.pt"
    with zipfile.ZipFile(p["ts_oob"], "w") as z:
        z.writestr("oob/data.pkl", _storage_pickle((10**6,), (1,), 0, numel=1))
        z.writestr("oob/data/0", b"\0" * 4)
        z.writestr("oob/code/__torch__.py", "")
    p["ts_trunc"] = _write(root / "ts" / "trunc.pt", genuine.read_bytes()[:3000])


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    id: str
    cmd: str
    argv: Callable[[Files, Path], list[str]]
    expect: str = ""          # a substring the error line must contain (case-insensitive)
    mode: str = "error"       # "error": one stderr line; "report": PROBLEM line(s) on stdout
    owner: str | None = None  # xfail(strict=True): whose code makes it fail today
    limit: int = LIMIT        # seconds before the watchdog calls it "started working"
    fresh_cache: bool = False  # an empty $ZEROI2V_CACHE (nothing pre-trained to reuse)
    read_only: tuple[str, ...] = ()  # fault: these fixture folders ("out": the case's) mounted read-only
    ulimit_kb: int | None = None     # fault: a file-size limit (`ulimit -f`, as a full disk)
    started: bool = False            # refused after start-up: its log first, the error line last


FS = ["--dataset", "toy", "--episodes", "5", "--ways", "2", "--shots", "1", "--methods", "frozen",
      "--protocols", "prototype"]


def fs(*extra: str) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: [*FS, "--data-root", str(f.toy), "--out", str(out), *extra]


def fs_file(key: str) -> Callable[[Files, Path], list[str]]:
    """An --episodes-file run: the file fixes ways/shots/episodes, so they are not given."""
    return lambda f, out: ["--dataset", "toy", "--methods", "frozen", "--protocols", "prototype",
                           "--data-root", str(f.toy), "--out", str(out), "--episodes-file", f[key]]


def fs_list(key: str, *extra: str) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: [*FS[2:], "--dataset", "list", "--data-root", f[key], "--out", str(out),
                           "--backbone", "vit_tiny_patch16_224", "--timm-kwargs", json.dumps(TINY),
                           "--pretrained", f["tiny.safetensors"], "--frames", "4", *extra]


def fs_mine(*extra: str, root: str | None = None) -> Callable[[Files, Path], list[str]]:
    """A run on the list dataset `mine` (or fixture `root`) with the tiny ViT's weights (nothing to pre-train)."""
    return lambda f, out: [*FS[2:], "--dataset", "list", "--data-root", f[root] if root else str(f.mine), "--out", str(out),
                           "--backbone", "vit_tiny_patch16_224", "--timm-kwargs", json.dumps(TINY),
                           "--pretrained", f["tiny.safetensors"], "--frames", "4", *extra]


def fs_args(fn: Callable[[Files, Path], list[str]]) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: [*FS, "--out", str(out), *fn(f, out)]


TR = ["--dataset", "toy", "--epochs", "1", "--batch-size", "2"]


def tr(*extra: str) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: [*TR, "--data-root", str(f.toy), "--out", str(out), *extra]


def tr_args(fn) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: [*TR, "--data-root", str(f.toy), "--out", str(out), *fn(f, out)]


def const(*argv: str) -> Callable[[Files, Path], list[str]]:
    return lambda f, out: list(argv)


A2, A, B, D_ = "A2 (fewshot runner)", "A (trainer)", "B (bench/data path)", "D (model/weights)"

CASES = [
    # ---- fewshot.run: options
    Case("run-device-foo", "fewshot.run", fs("--device", "foo"), "device"),
    Case("run-ways-1", "fewshot.run", fs("--ways", "1"), "ways"),
    Case("run-recipe-unknown", "fewshot.run", fs("--recipe", "nope"), "recipe"),
    Case("run-recipe-other-dataset", "fewshot.run", fs("--recipe", "clip_b16_ssv2_u16"), "recipe"),
    Case("run-accum-0", "fewshot.run", fs("--accum", "0"), "accum"),
    Case("run-loader-bogus", "fewshot.run", fs("--loader", "float16"), "loader"),
    Case("run-ways-0", "fewshot.run", fs("--ways", "0"), "ways"),
    Case("run-ways-too-many", "fewshot.run", fs("--ways", "50"), "ways"),
    Case("run-shots-0", "fewshot.run", fs("--shots", "0"), "shots"),
    Case("run-shots-text", "fewshot.run", fs("--shots", "one"), "shots"),
    Case("run-queries-0", "fewshot.run", fs("--queries", "0"), "queries"),
    Case("run-episodes-0", "fewshot.run", fs("--episodes", "0"), "episodes"),
    Case("run-lr-nan", "fewshot.run", fs("--lr", "nan"), "lr"),
    Case("run-lr-inf", "fewshot.run", fs("--lr", "inf"), "lr"),
    Case("run-lr-0", "fewshot.run", fs("--lr", "0"), "lr"),
    Case("run-lr-negative", "fewshot.run", fs("--lr", "-1"), "lr"),
    Case("run-epochs-0", "fewshot.run", fs("--epochs", "0"), "epochs"),
    Case("run-epochs-negative", "fewshot.run", fs("--epochs", "-3"), "epochs"),
    Case("run-batch-0", "fewshot.run", fs("--batch-size", "0"), "batch"),
    Case("run-workers-negative", "fewshot.run", fs("--num-workers", "-1"), "workers"),
    Case("run-frames-0", "fewshot.run", fs("--frames", "0"), "frames"),
    Case("run-size-negative", "fewshot.run", fs("--size", "-8"), "size"),
    Case("run-stdha-garbage", "fewshot.run", fs("--stdha", "1:x,,"), "stdha"),
    Case("run-protocol-unknown", "fewshot.run", fs("--protocols", "magic"), "protocol"),
    Case("run-method-unknown", "fewshot.run", fs("--methods", "magic"), "method"),
    Case("run-timm-kwargs-bad-json", "fewshot.run", fs("--timm-kwargs", "{bad"), "timm-kwargs"),
    Case("run-timm-kwargs-list", "fewshot.run", fs("--timm-kwargs", "[1, 2]"), "timm-kwargs"),
    Case("run-timm-kwargs-depth", "fewshot.run", fs("--timm-kwargs", '{"depth": -1}'), "depth"),
    Case("run-amp-unknown", "fewshot.run", fs("--amp", "fp8"), "amp"),
    Case("run-on-error-unknown", "fewshot.run", fs("--on-error", "ignore"), "on-error"),
    Case("run-seeds-text", "fewshot.run", fs("--seeds", "0,x"), "seeds"),
    Case("run-dataset-unknown", "fewshot.run", const(*FS[2:], "--dataset", "imagenet"), "imagenet"),
    Case("run-backbone-unknown", "fewshot.run", fs("--backbone", "not_a_model_xyz"), "not_a_model_xyz"),
    Case("run-backbone-swin", "fewshot.run", fs("--backbone", "swin_tiny_patch4_window7_224"), "swin"),
    # ---- fewshot.run: paths and files
    Case("run-out-is-file", "fewshot.run", lambda f, out: [*FS, "--data-root", str(f.toy), "--out", f["file"]], "plain.txt"),
    Case("run-cache-dir-is-file", "fewshot.run", fs_args(lambda f, o: ["--data-root", str(f.toy), "--cache-dir", f["file"]]), "plain.txt"),
    Case("run-data-root-missing", "fewshot.run", fs_args(lambda f, o: ["--data-root", f["missing"]]), "nothing.pt"),
    Case("run-data-root-file", "fewshot.run", fs_args(lambda f, o: ["--data-root", f["file"]]), "plain.txt"),
    Case("run-toy-json-non-utf8", "fewshot.run", fs_args(lambda f, o: ["--data-root", f["toy_badjson"]]), "toy"),
    Case("run-toy-split-non-utf8", "fewshot.run", fs_args(lambda f, o: ["--data-root", f["toy_nonutf8split"]]), "utf-8"),
    Case("run-toy-list-escape", "fewshot.run", fs_args(lambda f, o: ["--data-root", f["toy_escape"]]), "leaves the dataset root"),
    Case("run-config-missing", "fewshot.run", fs_args(lambda f, o: ["--config", f["missing"]]), "nothing.pt"),
    Case("run-config-non-utf8", "fewshot.run", fs_args(lambda f, o: ["--config", f["non_utf8.json"]]), "nonutf8.json"),
    Case("run-config-nested", "fewshot.run", fs_args(lambda f, o: ["--config", f["nested.json"]]), "nested.json"),
    Case("run-config-not-json", "fewshot.run", fs_args(lambda f, o: ["--config", f["notjson.json"]]), "notjson.json"),
    Case("run-config-list", "fewshot.run", fs_args(lambda f, o: ["--config", f["list.json"]]), "list.json"),
    Case("run-episodes-file-missing", "fewshot.run", lambda f, out: [*fs_file("file")(f, out)[:-1], "/nonexistent/e.jsonl"], "e.jsonl"),
    Case("run-episodes-file-dir", "fewshot.run", lambda f, out: [*fs_file("file")(f, out)[:-1], str(f.root)], "directory"),
    Case("run-episodes-file-beside-ways", "fewshot.run", lambda f, out: [*fs_file("eps_foreign")(f, out), "--ways", "3"], "ways"),
    Case("run-episodes-file-non-utf8", "fewshot.run", fs_file("eps_nonutf8"), "nonutf8.jsonl:1"),
    Case("run-episodes-file-nested", "fewshot.run", fs_file("eps_nested"), "nested.jsonl:1"),
    Case("run-episodes-file-types", "fewshot.run", fs_file("eps_types"), "types.jsonl:1"),
    Case("run-episodes-file-foreign", "fewshot.run", fs_file("eps_foreign"), "foreign.jsonl"),
    Case("run-episodes-file-empty", "fewshot.run", fs_file("eps_empty"), "empty"),
    # ---- fewshot.run: checkpoints
    Case("run-pretrained-empty", "fewshot.run", lambda f, out: fs("--pretrained", f["empty.pt"])(f, out), "empty.pt"),
    Case("run-pretrained-garbage", "fewshot.run", lambda f, out: fs("--pretrained", f["garbage.pt"])(f, out), "garbage.pt"),
    Case("run-pretrained-payload", "fewshot.run", lambda f, out: fs("--pretrained", f["payload.pt"])(f, out), "payload.pt"),
    Case("run-pretrained-trunc-safetensors", "fewshot.run", lambda f, out: fs("--pretrained", f["trunc.safetensors"])(f, out), "trunc.safetensors"),
    Case("run-pretrained-bad-header", "fewshot.run", lambda f, out: fs("--pretrained", f["header.safetensors"])(f, out), "header.safetensors"),
    Case("run-pretrained-1d-pos-embed", "fewshot.run", lambda f, out: fs("--pretrained", f["pos1d.safetensors"])(f, out), "ok.safetensors"),
    Case("run-pretrained-dir", "fewshot.run", lambda f, out: fs("--pretrained", f["wdir"])(f, out), "is a directory"),
    Case("run-pretrained-missing", "fewshot.run", lambda f, out: fs("--pretrained", f["missing"])(f, out), "nothing.pt"),
    # ---- fewshot.run: list datasets
    Case("run-list-escape", "fewshot.run", fs_list("list_escape"), "leaves the dataset root"),
    Case("run-list-shared-class", "fewshot.run", fs_list("list_shared"), "move_left"),
    Case("run-list-non-utf8", "fewshot.run", fs_list("list_nonutf8"), "val.txt:1"),
    Case("run-list-too-small", "fewshot.run", fs_list("list_small", "--ways", "3"), "ways"),
    Case("run-list-corrupt-test-video", "fewshot.run", fs_list("list_corrupt"), "corrupt or truncated video", started=True),
    Case("run-list-corrupt-test-video-2-seeds", "fewshot.run", fs_list("list_corrupt", "--seeds", "0,1"), "corrupt or truncated video",
         started=True),
    Case("run-list-corrupt-train-video", "fewshot.run", fs_list("list_corrupt_train", "--methods", "zeroi2v", "--epochs", "1"),
         "corrupt or truncated video", started=True, limit=60),
    # ---- zeroi2v.train
    Case("train-lr-nan", "zeroi2v.train", tr("--lr", "nan"), "lr"),
    Case("train-loader-bogus", "zeroi2v.train", tr("--loader", "float16"), "loader"),
    Case("train-lr-huge", "zeroi2v.train", tr("--lr", "1e30"), "lr"),
    Case("train-weight-decay-huge", "zeroi2v.train", tr("--weight-decay", "1e9"), "weight"),
    Case("train-clip-grad-negative", "zeroi2v.train", tr("--clip-grad", "-1"), "clip"),
    Case("train-clip-grad-nan", "zeroi2v.train", tr("--clip-grad", "nan"), "clip"),
    Case("train-min-lr-ratio", "zeroi2v.train", tr("--min-lr-ratio", "2"), "min-lr-ratio"),
    Case("train-split-5", "zeroi2v.train", lambda f, out: ["--dataset", "hmdb51", "--data-root", str(f.toy), "--split", "5", "--out", str(out)], "fold"),
    Case("train-device-foo", "zeroi2v.train", tr("--device", "foo"), "device"),
    Case("train-out-is-file", "zeroi2v.train", lambda f, out: [*TR, "--data-root", str(f.toy), "--out", f["file"]], "plain.txt"),
    Case("train-model-kwargs-depth", "zeroi2v.train", tr("--model-kwargs", '{"depth": -1}'), "depth"),
    Case("train-epochs-0", "zeroi2v.train", lambda f, out: ["--dataset", "toy", "--data-root", str(f.toy), "--out", str(out), "--epochs", "0"], "epochs"),
    Case("train-batch-0", "zeroi2v.train", tr("--batch-size", "0"), "batch"),
    Case("train-accum-0", "zeroi2v.train", tr("--accum", "0"), "accum"),
    Case("train-label-smoothing", "zeroi2v.train", tr("--label-smoothing", "2"), "smoothing"),
    Case("train-dropout", "zeroi2v.train", tr("--head-dropout", "1.5"), "dropout"),
    Case("train-test-views", "zeroi2v.train", tr("--test-views", "x"), "views"),
    Case("train-recipe-unknown", "zeroi2v.train", tr("--recipe", "nope"), "nope"),
    Case("train-dataset-unknown", "zeroi2v.train", const("--dataset", "imagenet"), "imagenet"),
    Case("train-data-root-missing", "zeroi2v.train", lambda f, out: [*TR, "--data-root", f["missing"], "--out", str(out)], "nothing.pt"),
    Case("train-frames-0", "zeroi2v.train", tr("--frames", "0"), "frames"),
    Case("train-sampling", "zeroi2v.train", tr("--sampling", "random"), "sampling"),
    Case("train-crop-area", "zeroi2v.train", tr("--crop-area", "2,1"), "crop"),
    Case("train-config-nested", "zeroi2v.train", lambda f, out: ["--config", f["nested.json"], "--out", str(out)], "nested.json"),
    Case("train-config-non-utf8", "zeroi2v.train", lambda f, out: ["--config", f["non_utf8.json"], "--out", str(out)], "nonutf8.json"),
    Case("train-pretrained-empty", "zeroi2v.train", lambda f, out: tr("--pretrained", f["empty.pt"])(f, out), "empty.pt"),
    Case("train-pretrained-payload", "zeroi2v.train", lambda f, out: tr("--pretrained", f["payload.pt"])(f, out), "payload.pt"),
    Case("train-pretrained-dir", "zeroi2v.train", lambda f, out: tr("--pretrained", f["wdir"])(f, out), "is a directory"),
    Case("train-pretrained-bad-header", "zeroi2v.train", lambda f, out: tr("--pretrained", f["header.safetensors"])(f, out), "header.safetensors"),
    Case("train-resume-garbage", "zeroi2v.train", lambda f, out: [*TR, "--data-root", str(f.toy), "--out", f["resume_out"], "--resume"], "checkpoint",
         fresh_cache=True),
    Case("train-toy-npz-truncated", "zeroi2v.train", lambda f, out: [*TR, "--data-root", f["toy_npz"], "--out", str(out)], "frames.npz", fresh_cache=True),
    Case("train-list-escape", "zeroi2v.train", lambda f, out: [
        "--dataset", "list", "--data-root", f["list_abs"], "--epochs", "1", "--batch-size", "2", "--out", str(out),
        "--backbone", "vit_tiny_patch16_224", "--timm-kwargs", json.dumps(TINY), "--pretrained", f["tiny.safetensors"],
        "--frames", "4", "--size", "32"], "leaves the dataset root"),
    Case("train-allway-dir-missing", "zeroi2v.train", tr("--allway-dir", "/nonexistent/lists"), "lists"),
    # ---- zeroi2v.bench
    Case("bench-backbone-unknown", "zeroi2v.bench", const("--backbone", "not_a_model_xyz", "--no-data"), "not_a_model_xyz"),
    Case("bench-frames-0", "zeroi2v.bench", const("--frames", "0", "--no-data"), "frames"),
    Case("bench-batch-0", "zeroi2v.bench", const("--batch-size", "0", "--no-data"), "batch"),
    Case("bench-device-foo", "zeroi2v.bench", const("--device", "foo", "--no-data"), "device"),
    Case("bench-repeats-0", "zeroi2v.bench", const("--repeats", "0", "--no-data"), "repeats"),
    Case("bench-timm-kwargs-bad", "zeroi2v.bench", const("--timm-kwargs", "{bad", "--no-data"), "timm-kwargs"),
    Case("bench-out-is-dir", "zeroi2v.bench", lambda f, out: ["--out", str(f.root), "--no-data"], "directory", limit=4),
    Case("bench-ways-1", "zeroi2v.bench", const("--ways", "1", "--no-data"), "ways", limit=4),
    Case("bench-decoder-unknown", "zeroi2v.bench", const("--decoder", "ffmpeg9"), "decoder"),
    # ---- results
    Case("results-missing-dir", "results", lambda f, out: [str(f.root / "nowhere")], "does not exist"),
    Case("results-no-records", "results", lambda f, out: [str(f.p["wdir"])], "no result records"),
    Case("results-out-is-file", "results", lambda f, out: [str(f.toy), "--out", f["file"]], "plain.txt"),
    Case("results-decimals-negative", "results", lambda f, out: [str(f.root), "--decimals", "-1"], "decimals"),
    Case("results-decimals-huge", "results", lambda f, out: [str(f.root), "--decimals", "999"], "decimals"),
    Case("results-format-unknown", "results", lambda f, out: [str(f.root), "--format", "xlsx"], "format"),
    Case("results-plots-without-out", "results", lambda f, out: [str(f.root), "--plots"], "--out"),
    # ---- episodes
    Case("episodes-ways-1", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--ways", "1", "--out", str(out / "e.jsonl")], "ways"),
    Case("episodes-out-is-dir", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--out", str(f.root)], "is a directory"),
    Case("episodes-out-under-file", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--out", str(f.p["file"] / "e.jsonl")], "is a file"),
    Case("episodes-dataset-unknown", "episodes", lambda f, out: ["sample", "--dataset", "imagenet", "--out", str(out / "e.jsonl")], "imagenet"),
    Case("episodes-split-unknown", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--split", "dev", "--out", str(out / "e.jsonl")], "dev"),
    Case("episodes-data-root-not-used", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--data-root", str(f.toy), "--out", str(out / "e.jsonl")], "data-root"),
    Case("episodes-list-escape", "episodes", lambda f, out: ["sample", "--dataset", "list", "--data-root", f["list_escape"], "--out", str(out / "e.jsonl")], "leaves the dataset root"),
    Case("episodes-list-too-small", "episodes", lambda f, out: ["sample", "--dataset", "list", "--data-root", f["list_small"], "--ways", "3", "--out", str(out / "e.jsonl")], "ways"),
    Case("episodes-toy-split-non-utf8", "episodes", lambda f, out: ["sample", "--dataset", "toy", "--data-root", f["toy_nonutf8split"], "--out", str(out / "e.jsonl")], "not utf-8"),
    Case("allway-dataset-unknown", "episodes", lambda f, out: ["allway", "--dataset", "imagenet", "--out", str(out)], "imagenet"),
    Case("allway-shots-0", "episodes", lambda f, out: ["allway", "--dataset", "toy", "--data-root", str(f.toy), "--shots", "0", "--out", str(out)], "shots"),
    Case("allway-folds-0", "episodes", lambda f, out: ["allway", "--dataset", "toy", "--data-root", str(f.toy), "--folds", "0", "--out", str(out)], "folds"),
    Case("allway-shots-too-many", "episodes", lambda f, out: ["allway", "--dataset", "toy", "--data-root", str(f.toy), "--shots", "50", "--out", str(out)], "K=50"),
    Case("allway-out-is-file", "episodes", lambda f, out: ["allway", "--dataset", "toy", "--data-root", str(f.toy), "--shots", "1", "--out", f["file"]], "plain.txt"),
    Case("allway-data-root-missing", "episodes", lambda f, out: ["allway", "--dataset", "ucf101", "--data-root", f["missing"], "--out", str(out)], "nothing.pt"),
    Case("allway-list-escape", "episodes", lambda f, out: ["allway", "--dataset", "list", "--data-root", f["list_abs"], "--out", str(out)], "leaves the dataset root"),
    # ---- fewshot.data
    Case("check-dataset-unknown", "fewshot.data", const("check", "--dataset", "imagenet"), "imagenet"),
    Case("check-data-root-missing", "fewshot.data", lambda f, out: ["check", "--dataset", "ucf101", "--data-root", f["missing"]], "nothing.pt"),
    Case("check-fold-9", "fewshot.data", lambda f, out: ["check", "--dataset", "hmdb51", "--data-root", str(f.toy), "--fold", "9"], "fold"),
    Case("check-toy-json-non-utf8", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", f["toy_badjson"]], "toy.json", "report"),
    Case("check-toy-escape", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", f["toy_escape"]], "leaves the dataset root", "report"),
    Case("check-toy-duplicate-line", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", f["toy_dup"]], "listed 2 times", "report"),
    Case("check-toy-empty-split", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", f["toy_emptysplit"]], "lists no videos", "report"),
    Case("check-toy-split-non-utf8", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", f["toy_nonutf8split"]], "not utf-8", "report"),
    Case("check-list-shared-class", "fewshot.data", lambda f, out: ["check", "--dataset", "list", "--data-root", f["list_shared"], "--fewshot"], "move_left", "report"),
    Case("check-list-non-utf8", "fewshot.data", lambda f, out: ["check", "--dataset", "list", "--data-root", f["list_nonutf8"]], "val.txt:1", "report"),
    Case("check-json-under-file", "fewshot.data", lambda f, out: ["check", "--dataset", "toy", "--data-root", str(f.toy), "--json", str(f.p["file"] / "r.json")], "plain.txt"),
    Case("make-toy-out-is-file", "fewshot.data", lambda f, out: ["make-toy", "--out", f["file"]], "plain.txt"),
    Case("make-toy-frames-0", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--frames", "0"], "frames"),
    Case("make-toy-size-negative", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--size", "-4"], "size"),
    Case("make-toy-size-odd", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--size", "3"], "even number"),
    Case("make-toy-size-odd-large", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--size", "65"], "even number"),
    Case("make-toy-size-tiny", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--size", "8"], "at least 16"),
    Case("make-toy-time-size-odd", "fewshot.data", lambda f, out: ["make-toy", "--kind", "toy_time", "--out", str(out), "--size", "33"], "even number"),
    Case("make-toy-videos-0", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--videos-per-class", "0"], "videos"),
    Case("make-toy-test-too-many", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--videos-per-class", "3", "--test-per-class", "5"], "test_per_class"),
    Case("make-toy-workers-0", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out), "--workers", "0"], "workers"),
    # ---- crafted TorchScript archives (OpenAI CLIP's .pt format): read without running them
    Case("run-pretrained-torchscript-setstate", "fewshot.run", lambda f, out: fs("--pretrained", f["ts_setstate"])(f, out), "defines __setstate__"),
    Case("train-pretrained-torchscript-setstate", "zeroi2v.train", lambda f, out: tr("--pretrained", f["ts_setstate"])(f, out), "defines __setstate__"),
    Case("run-pretrained-torchscript-os-system", "fewshot.run", lambda f, out: fs("--pretrained", f["ts_system"])(f, out), "posix.system"),
    Case("train-pretrained-torchscript-open", "zeroi2v.train", lambda f, out: tr("--pretrained", f["ts_open"])(f, out), "io.open"),
    Case("run-pretrained-torchscript-outside-storage", "fewshot.run", lambda f, out: fs("--pretrained", f["ts_oob"])(f, out), "outside its storage"),
    Case("run-pretrained-torchscript-truncated", "fewshot.run", lambda f, out: fs("--pretrained", f["ts_trunc"])(f, out), "trunc.pt"),
    # ---- values that mean nothing or run for hours
    Case("run-stdha-zero", "fewshot.run", fs("--stdha", "0:1"), "0 frames"),
    Case("run-stdha-beyond-clip", "fewshot.run", fs("--frames", "4", "--stdha=100:1,-100:1"), "beyond a clip of 4 frames"),
    Case("train-stdha-beyond-clip", "zeroi2v.train", tr("--frames", "4", "--stdha=-4:1"), "beyond a clip of 4 frames"),
    Case("train-stdha-zero", "zeroi2v.train", tr("--stdha", "1:1,0:2"), "0 frames"),
    Case("run-timm-kwargs-nan", "fewshot.run", fs("--timm-kwargs", '{"drop_rate": NaN}'), "NaN"),
    Case("run-timm-kwargs-inf-nested", "fewshot.run", fs("--timm-kwargs", '{"img_size": [Infinity, 1]}'), "Infinity"),
    Case("train-timm-kwargs-nan", "zeroi2v.train", tr("--timm-kwargs", '{"drop_rate": NaN}'), "drop_rate"),
    Case("bench-timm-kwargs-nan", "zeroi2v.bench", const("--timm-kwargs", '{"drop_rate": NaN}', "--no-data"), "NaN"),
    Case("run-timm-kwargs-num-classes", "fewshot.run", fs("--timm-kwargs", '{"num_classes": 5}'), "num_classes"),
    Case("train-timm-kwargs-num-classes", "zeroi2v.train", tr("--timm-kwargs", '{"num_classes": 5}'), "num_classes"),
    Case("run-timm-kwargs-pretrained", "fewshot.run", fs("--timm-kwargs", '{"pretrained": true}'), "pretrained"),
    Case("run-seed-beyond-64-bits", "fewshot.run", fs("--seed", str(2**64)), "seed"),
    Case("run-seeds-beyond-64-bits", "fewshot.run", lambda f, out: [*FS, "--data-root", str(f.toy), "--out", str(out), "--seeds", f"0,{2**70}"], "seeds"),
    Case("train-seed-beyond-64-bits", "zeroi2v.train", tr("--seed", str(10**30)), "seed"),
    Case("run-size-not-patch-multiple", "fewshot.run", fs("--size", "72", "--timm-kwargs", '{"dynamic_img_size": true}'), "multiple of the model's patch size 16"),
    Case("run-size-not-the-models", "fewshot.run", fs("--size", "96"), "input size 64"),
    Case("run-size-huge", "fewshot.run", fs("--size", "100000"), "size"),
    Case("train-size-not-patch-multiple", "zeroi2v.train", tr("--size", "40"), "patch size 16"),
    Case("train-size-huge", "zeroi2v.train", tr("--size", "1000000"), "size"),
    Case("train-size-not-the-models", "zeroi2v.train", tr("--size", "64", "--timm-kwargs", '{"img_size": 32}'), "input size 32"),
    Case("run-episodes-huge", "fewshot.run", fs("--episodes", "100000000"), "episodes"),
    Case("run-frames-huge", "fewshot.run", fs("--frames", "100000"), "frames"),
    Case("train-frames-huge", "zeroi2v.train", tr("--frames", "100000"), "frames"),
    # ---- config.json of another program, or with wrongly typed fields
    Case("run-config-ways-string", "fewshot.run", fs_args(lambda f, o: ["--config", f["fs_ways_str"]]), "'ways'"),
    Case("run-config-timm-kwargs-string", "fewshot.run", fs_args(lambda f, o: ["--config", f["fs_timm_str"]]), "'timm_kwargs'"),
    Case("run-config-shots-strings", "fewshot.run", fs_args(lambda f, o: ["--config", f["fs_shots_str"]]), "'shots'"),
    Case("run-config-seed-float", "fewshot.run", fs_args(lambda f, o: ["--config", f["fs_seed_float"]]), "'seed'"),
    Case("train-config-epochs-string", "zeroi2v.train", lambda f, out: ["--config", f["tr_epochs_str"], "--out", str(out)], "'epochs'"),
    Case("train-config-timm-kwargs-string", "zeroi2v.train", lambda f, out: ["--config", f["tr_timm_str"], "--out", str(out)], "'timm_kwargs'"),
    Case("train-config-lr-list", "zeroi2v.train", lambda f, out: ["--config", f["tr_lr_list"], "--out", str(out)], "'lr'"),
    Case("train-config-of-fewshot-run", "zeroi2v.train", lambda f, out: ["--config", f["tr_of_fewshot"], "--out", str(out)], "another program"),
    # ---- faults: read-only folders, a full disk (run as their own process)
    Case("ro-run-out", "fewshot.run", fs(), "read-only", read_only=("out",)),
    Case("ro-run-cache-dir", "fewshot.run", lambda f, out: fs_mine("--cache-dir", str(f.p["ro"] / "cache"))(f, out), "--cache-dir",
         read_only=("ro",)),
    Case("ro-run-resume-finished", "fewshot.run", lambda f, out: [*fs_mine("--resume", "--cache-dir", str(f.root / "cache"))(f, out),
                                                                 "--out", f["finished"]], "read-only", read_only=("finished",)),
    Case("ro-make-toy-out", "fewshot.data", lambda f, out: ["make-toy", "--out", str(f.p["ro"] / "toy")], "read-only", read_only=("ro",)),
    Case("ro-train-out", "zeroi2v.train", tr(), "read-only", read_only=("out",)),
    Case("ro-results-out", "results", lambda f, out: [f["finished"], "--out", str(out / "report")], "read-only", read_only=("out",)),
    Case("ro-episodes-out", "episodes", lambda f, out: ["sample", "--dataset", "hmdb51", "--episodes-file", str(out / "e.jsonl")], "read-only", read_only=("out",)),
    Case("full-disk-toy-vit-cache", "fewshot.run", fs(), "pretrained/toy-vit-", fresh_cache=True, ulimit_kb=64, limit=240),
    Case("full-disk-merged-export", "fewshot.run", fs_mine("--methods", "zeroi2v", "--epochs", "1", root="mine6"),
         "merged.safetensors: file too large", ulimit_kb=120, limit=240),  # last.pt ~112 KiB fits, the export ~130 KiB not
    Case("full-disk-make-toy", "fewshot.data", lambda f, out: ["make-toy", "--out", str(out / "toy"), "--size", "16", "--frames", "4",
                                                               "--videos-per-class", "2", "--test-per-class", "1"], "cannot write", ulimit_kb=8, limit=240),
]


GROUPS = {  # the classes of bad input and faults (docs/reliability.md lists them with these counts)
    "faults": "faults: read-only folders, a full disk (run as their own process)",
    "code": "checkpoints that would run code (pickles, TorchScript)",
    "weights": "bad weight and resume files",
    "config": "--config files: unreadable, another program's, wrongly typed fields",
    "episode files": "--episodes-file files",
    "data": "datasets: missing roots, broken lists and metadata, paths leaving the root, splits",
    "paths": "output paths that are files, or under files",
    "values": "command-line values: out of range, meaningless, unknown names, malformed JSON",
}


def group(c: Case) -> str:
    i = c.id
    if c.read_only or c.ulimit_kb:
        return "faults"
    if "payload" in i or "torchscript" in i:
        return "code"
    if "pretrained" in i or "resume" in i:
        return "weights"
    if "config" in i:
        return "config"
    if "episodes-file" in i:
        return "episode files"
    if c.cmd == "fewshot.data" and not i.startswith("make-toy") or any(
            k in i for k in ("data-root", "toy-", "list-", "escape", "npz")):
        return "data"
    if any(k in i for k in ("out-is", "-is-file", "out-under", "json-under")):
        return "paths"
    return "values"


def corpus_summary() -> str:
    """The corpus by class and command, as docs/reliability.md shows it (`python tests/test_bad_input.py`)."""
    from collections import Counter

    by_group, by_cmd = Counter(group(c) for c in CASES), Counter(c.cmd for c in CASES)
    lines = [f"{len(CASES)} cases", *(f"- {GROUPS[g]}: {by_group[g]}" for g in GROUPS),
             "by command: " + ", ".join(f"{cmd} {n}" for cmd, n in by_cmd.most_common())]
    return "\n".join(lines)


def _params():
    out = []
    for c in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=f"owner: {c.owner}")] if c.owner else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def _run(case: Case, files: Files, out: Path) -> tuple[int, str, str]:
    main = _entry(case.cmd)
    argv = case.argv(files, out)
    stdout, stderr = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise TooSlow(f"{case.id}: no refusal within {case.limit} s (the run started working)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(case.limit)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse --help or a bare exit
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, stdout.getvalue(), stderr.getvalue()


MODULES = {"fewshot.run": "fewshot.run", "zeroi2v.train": "zeroi2v.train", "zeroi2v.bench": "zeroi2v.bench",
           "results": "results", "episodes": "episodes", "fewshot.data": "fewshot.data"}
_RO = ('for d in "$@"; do case "$d" in --) shift; break;; esac; mount --bind "$d" "$d" && '
       'mount -o remount,bind,ro "$d" || exit 99; shift; done; exec "$@"')


def _can_mount_read_only() -> bool:
    import shutil
    import subprocess

    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-Urm", "true"], capture_output=True).returncode == 0


def _run_fault(case: Case, files: Files, out: Path) -> tuple[int, str, str]:
    """A fault case as its own process: under `ulimit -f`, or with folders bind-mounted read-only in a
    user + mount namespace (a real EROFS, also for root)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    argv = [sys.executable, "-m", MODULES[case.cmd], *case.argv(files, out)]
    if case.ulimit_kb:
        argv = ["bash", "-c", f'ulimit -f {case.ulimit_kb}; exec "$@"', "limit", *argv]
    if case.read_only:
        if not _can_mount_read_only():
            pytest.skip("needs unshare -Urm (user namespaces) to mount a folder read-only")
        folders = [str(out.parent if k == "out" else files.p[k]) for k in case.read_only]
        argv = ["unshare", "-Urm", "bash", "-c", _RO, "ro", *folders, "--", *argv]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    try:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=out.parent, env=env, timeout=case.limit + SPAWN)
    except subprocess.TimeoutExpired:
        raise TooSlow(f"{case.id}: no refusal within {case.limit + SPAWN} s") from None
    return r.returncode, r.stdout, r.stderr


def _log(case: Case, rc, line: str) -> None:
    """BAD_INPUT_LOG=FILE: one JSON line per case (id, command, exit status, message) for reports."""
    path = os.environ.get("BAD_INPUT_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"id": case.id, "cmd": case.cmd, "rc": rc, "owner": case.owner,
                                 "line": line[-300:]}) + "\n")


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_refused_in_one_line(case, files, tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROI2V_CACHE", str(tmp_path / "cache" if case.fresh_cache else files.root / "cache"))
    monkeypatch.setenv("ZEROI2V_TOY_ROOT", str(files.toy))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    fault = bool(case.read_only or case.ulimit_kb)
    try:
        rc, stdout, stderr = (_run_fault if fault else _run)(case, files, out)
    except Exception as e:  # a traceback, or the watchdog
        _log(case, None, f"{type(e).__name__}: {str(e)[:200]}")
        raise
    _log(case, rc, (stderr.strip().splitlines() or [""])[-1] if case.mode == "error" else
         next((line for line in stdout.splitlines() if line.startswith("PROBLEM")), ""))
    assert "Traceback" not in stderr + stdout
    assert rc == 2, f"exit {rc}; stderr: {stderr[-500:]}"
    lines = stderr.strip().splitlines()
    if case.mode == "error":
        if case.ulimit_kb or case.started:  # mid-run: the log and progress of what ran, then the one error line
            lines = lines[-1:]
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-800:]
        assert case.expect.lower() in lines[0].lower(), lines[0]
    else:
        problems = [line for line in stdout.splitlines() if line.startswith("PROBLEM")]
        assert problems and any(case.expect.lower() in p.lower() for p in problems), stdout[-800:]
    if case.ulimit_kb:  # a full disk mid-run: finished files are kept, nothing half-written
        left = [p for p in tmp_path.rglob("*") if p.is_file() and (".tmp-" in p.name or p.stat().st_size == case.ulimit_kb * 1024)]
        assert not left, f"half-written files left: {left[:3]}"
    else:
        assert not out.exists() or not any(out.rglob("*")), f"a refused run wrote {sorted(out.rglob('*'))[:3]}"
    assert not (files.root / "PWNED").exists(), "a pickled payload ran"
    assert not list(files.root.rglob("*.victim")), "TorchScript code from a checkpoint ran"


def test_the_reliability_page_states_this_corpus():
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    assert corpus_summary() in page, "docs/reliability.md: paste the output of python tests/test_bad_input.py"


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    assert {c.cmd for c in CASES} == {"fewshot.run", "zeroi2v.train", "zeroi2v.bench", "results",
                                      "episodes", "fewshot.data"}


class _Refuses:
    """A dataset whose item 1 is bad input (as a corrupt video is)."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        from zeroi2v.utils.errors import UserError

        if i == 1:
            raise UserError("videos/a.mp4: corrupt or truncated video; fix or remove the video")
        return i


def test_a_user_error_in_a_dataloader_worker_is_its_own_one_line():
    import torch

    from zeroi2v.utils.errors import UserError, cli

    @cli
    def main():
        list(torch.utils.data.DataLoader(_Refuses(), num_workers=1))

    err = io.StringIO()
    with redirect_stderr(err):
        assert main() == 2
    assert err.getvalue() == "error: videos/a.mp4: corrupt or truncated video; fix or remove the video\n"


@pytest.mark.parametrize("cmd", ["results", "episodes"])
def test_disk_full_is_one_line_and_keeps_nothing_half_written(cmd, tmp_path):
    """A file-size limit (`ulimit -f`, as a full disk) while writing: one line naming the path."""
    import subprocess
    import sys

    import record_fixtures as T
    from results import records as rec

    repo = Path(__file__).resolve().parents[1]
    if cmd == "results":
        for m in ("frozen", "zeroi2v"):
            rec.write_record(tmp_path / "runs", T.fewshot_record(method=m))
        argv = ["-m", "results", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]
    else:
        argv = ["-m", "episodes", "sample", "--dataset", "hmdb51", "--episodes", "5000",
                "--out", str(tmp_path / "report" / "e.jsonl")]
    shell = f"ulimit -f 1; exec {sys.executable} " + " ".join(f"'{a}'" for a in argv)
    r = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=repo, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(repo)})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-600:]
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write ") and "File too large" in line
    assert not [p for p in (tmp_path / "report").rglob("*") if p.is_file() and p.stat().st_size == 1024]


if __name__ == "__main__":
    print(corpus_summary())
