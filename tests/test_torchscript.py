"""TorchScript archives are read without running them, and equal `torch.jit.load(...).state_dict()`."""
import importlib.util
import io
import os
import pickle
import sys
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import zeroi2v
from zeroi2v.model.torchscript import read_torchscript
from zeroi2v.utils.errors import UserError

from test_weights import as_torchscript, openai_clip_state_dict
from tiny import CLIP_BACKBONE, TINY

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.* deprecation notices
torch.set_num_threads(1)


def jit_state_dict(path):
    return torch.jit.load(str(path), map_location="cpu").state_dict()


def assert_same(got, ref):
    assert list(got) == list(ref)  # names and order
    for k in ref:
        assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape, k
        assert got[k].stride() == ref[k].stride() and torch.equal(got[k], ref[k]), k


def test_clip_shaped_archive_equals_jit_load(tmp_path):
    sd = openai_clip_state_dict()
    sd["token_embedding.weight"] = sd["token_embedding.weight"].half()  # mixed dtypes, as in ViT-B-16.pt
    sd["visual.counts"] = torch.arange(5)
    as_torchscript(sd, tmp_path / "ViT-tiny.pt")
    got = read_torchscript(tmp_path / "ViT-tiny.pt")
    assert_same(got, jit_state_dict(tmp_path / "ViT-tiny.pt"))
    assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn, self.ln_1, self.ln_2 = nn.MultiheadAttention(d, 4), nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, 4 * d)), ("gelu", nn.GELU()),
                                              ("c_proj", nn.Linear(4 * d, d))]))

    def forward(self, x):  # (N, B, D)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Visual(nn.Module):
    """OpenAI CLIP's visual tower in miniature (its module and parameter names)."""

    def __init__(self, d=32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, d, 8, 8, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(d))
        self.positional_embedding = nn.Parameter(torch.randn(17, d))
        self.ln_pre, self.ln_post = nn.LayerNorm(d), nn.LayerNorm(d)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(Block(d), Block(d))
        self.proj = nn.Parameter(torch.randn(d, 16).t().contiguous().t())  # a non-contiguous parameter
        self.register_buffer("steps", torch.arange(3, dtype=torch.int32))

    def forward(self, x):  # (B, 3, 32, 32)
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1) + self.positional_embedding
        x = self.transformer.resblocks(self.ln_pre(x).transpose(0, 1)).transpose(0, 1)
        return self.ln_post(x[:, 0]) @ self.proj


class CLIP(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = Visual()
        self.logit_scale = nn.Parameter(torch.tensor(4.6))
        self.token_embedding = nn.Embedding(10, 16).half()

    def forward(self, x):
        return self.visual(x) * self.logit_scale.exp()


@pytest.mark.parametrize("how", ["trace", "script"])
def test_traced_and_scripted_clip_modules_equal_jit_load(tmp_path, how):
    torch.manual_seed(0)
    m = CLIP().eval()
    j = torch.jit.trace(m, torch.randn(1, 3, 32, 32)) if how == "trace" else torch.jit.script(m)
    j.save(str(tmp_path / "clip.pt"))
    got = read_torchscript(tmp_path / "clip.pt")
    assert_same(got, jit_state_dict(tmp_path / "clip.pt"))
    assert "visual.transformer.resblocks.1.attn.in_proj_weight" in got and len(got) == len(m.state_dict())


def rewrite(src: Path, dst: Path, replace: dict) -> Path:
    """Copy a zip archive with some entries replaced (name -> bytes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
    return dst


def test_big_endian_archive_is_byte_swapped(tmp_path):
    sd = {k: v for k, v in openai_clip_state_dict().items()}  # float32 only
    as_torchscript(sd, tmp_path / "little.pt")
    with zipfile.ZipFile(tmp_path / "little.pt") as z:
        pre = z.namelist()[0].split("/")[0] + "/"
        swapped = {n: torch.frombuffer(bytearray(z.read(n)), dtype=torch.uint8).view(-1, 4).flip(-1).numpy().tobytes()
                   for n in z.namelist() if n.startswith(pre + "data/")}
    rewrite(tmp_path / "little.pt", tmp_path / "big.pt", {**swapped, pre + "byteorder": b"big"})
    got = read_torchscript(tmp_path / "big.pt")
    assert all(torch.equal(got[k], sd[k]) for k in sd)


# --- crafted archives: refused in one line, nothing runs ------------------------------------------------


class WritesOnSetstate:
    """Unpickling an instance writes a file (if the unpickler ever lets the class in)."""

    def __init__(self, target):
        self.target = target

    def __getstate__(self):
        return str(self.target)

    def __setstate__(self, target):
        Path(target).write_text("pwned")


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def crafted(kind: str, marker: Path):
    """A data.pkl whose loading by plain pickle would create `marker`."""
    import builtins

    return {"os.system": lambda: Reduce(os.system, f"touch {marker}"),
            "builtins.open": lambda: Reduce(builtins.open, str(marker), "w"),
            "builtins.exec": lambda: Reduce(builtins.exec, f"open({str(marker)!r}, 'w')"),
            "setstate-class": lambda: WritesOnSetstate(marker),
            "nested": lambda: {"visual.w": torch.zeros(1), "x": Reduce(os.system, f"touch {marker}")}}[kind]()


@pytest.mark.parametrize("kind", ["os.system", "builtins.open", "builtins.exec", "setstate-class", "nested"])
def test_crafted_pickle_in_archive_is_refused_without_side_effect(tmp_path, kind):
    as_torchscript(openai_clip_state_dict(), tmp_path / "genuine.pt")
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(crafted(kind, marker), protocol=2)
    pickle.loads(payload)  # the payload is real: plain pickle creates the marker
    assert marker.exists()
    marker.unlink()
    with zipfile.ZipFile(tmp_path / "genuine.pt") as z:
        pre = z.namelist()[0].split("/")[0] + "/"
    evil = rewrite(tmp_path / "genuine.pt", tmp_path / "evil.pt", {pre + "data.pkl": payload})
    with pytest.raises(UserError, match="cannot read TorchScript archive .*evil.pt.*not a tensor") as e:
        read_torchscript(evil)
    assert "\n" not in str(e.value) and not marker.exists()
    with pytest.raises(UserError, match="evil.pt"):
        zeroi2v.create_model(CLIP_BACKBONE, num_frames=2, pretrained=str(evil), **TINY)
    assert not marker.exists()


def _storage_pickle(size, stride, offset=0, numel=4, pid=None) -> bytes:
    """A data.pkl holding one tensor view of storage '0' (numel floats), written by hand."""

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return (pid or ("storage", torch.FloatStorage, "0", "cpu", numel)) if obj == "STORAGE" else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"w": Reduce(torch._utils._rebuild_tensor_v2, "STORAGE", offset, size, stride,
                                         False, OrderedDict())})
    return buf.getvalue()


@pytest.mark.parametrize("size,stride,offset,pid,message", [
    ((5,), (1,), 0, None, "outside its storage"),
    ((2, 2), (2, 1), 1, None, "outside its storage"),
    ((2,), (-1,), 1, None, "outside its storage"),
    ((2,), (1,), 0, ("storage", torch.FloatStorage, "0", "cpu", 9), "has 16 bytes, its tensor needs 36"),
    ((2,), (1,), 0, ("storage", torch.FloatStorage, "nokey", "cpu", 4), "missing"),
    ((2,), (1,), 0, ("module", "os", "system"), "not a tensor storage"),
])
def test_malformed_tensors_are_refused(tmp_path, size, stride, offset, pid, message):
    with zipfile.ZipFile(tmp_path / "a.pt", "w") as z:
        z.writestr("a/data.pkl", _storage_pickle(size, stride, offset, pid=pid))
        z.writestr("a/data/0", torch.arange(4, dtype=torch.float32).numpy().tobytes())
        z.writestr("a/code/__torch__.py", "")
    with pytest.raises(UserError, match=message):
        read_torchscript(tmp_path / "a.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt", "w") as z:  # the same writer, in bounds: read
        z.writestr("a/data.pkl", _storage_pickle((2, 2), (1, 2), 0))
        z.writestr("a/data/0", torch.arange(4, dtype=torch.float32).numpy().tobytes())
        z.writestr("a/code/__torch__.py", "")
    assert torch.equal(read_torchscript(tmp_path / "ok.pt")["w"], torch.arange(4.0).view(2, 2).t())


EVIL_MODULE = '''
from typing import Tuple
import torch
from torch import nn


class Evil(nn.Module):
    """A module whose TorchScript __setstate__ writes bytes into a file of the user on load."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.training = state[1]
        t = torch.from_file("TARGET", shared=True, size=4, dtype=torch.uint8)
        t.fill_(65)
        self.w = state[0] + t[:2].float() * 0
'''


def evil_archive(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A TorchScript archive whose code writes `<tmp>/<name>.victim` when torch.jit.load runs it."""
    target = tmp_path / f"{name}.victim"
    src = tmp_path / f"evil_{name}.py"
    src.write_text(EVIL_MODULE.replace("TARGET", str(target)))
    spec = importlib.util.spec_from_file_location(f"evil_{name}", src)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    torch.jit.script(mod.Evil()).save(str(tmp_path / f"{name}.pt"))
    return tmp_path / f"{name}.pt", target


def test_torchscript_setstate_code_is_not_run(tmp_path):
    proof, proof_target = evil_archive(tmp_path, "proof")
    torch.jit.load(str(proof))  # the attack is real: loading with torch.jit runs the code
    assert proof_target.read_bytes() == b"AAAA"
    evil, target = evil_archive(tmp_path, "evil")
    with pytest.raises(UserError, match=r"__torch__\..*Evil defines __setstate__.*no code from it runs") as e:
        read_torchscript(evil)
    assert "\n" not in str(e.value) and not target.exists()
    with pytest.raises(UserError, match="evil.pt"):
        zeroi2v.model.weights.read_state_dict(evil)
    assert not target.exists()


def test_the_product_never_calls_jit_load(tmp_path, monkeypatch):
    as_torchscript(openai_clip_state_dict(), tmp_path / "ViT-tiny.pt")

    def refuse(*a, **k):
        raise AssertionError("torch.jit.load called on a user file")

    monkeypatch.setattr(torch.jit, "load", refuse)
    model = zeroi2v.create_model(CLIP_BACKBONE, num_frames=2, pretrained=str(tmp_path / "ViT-tiny.pt"), **TINY)
    assert torch.equal(model.backbone.cls_token.flatten(), openai_clip_state_dict()["visual.class_embedding"])


def test_truncated_and_foreign_archives_are_one_line(tmp_path):
    as_torchscript(openai_clip_state_dict(), tmp_path / "g.pt")
    data = (tmp_path / "g.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(tmp_path / "nopkl.pt", "w") as z:
        z.writestr("a/code/__torch__.py", "")
    for name, message in (("trunc.pt", "cannot read"), ("nopkl.pt", "no <archive>/data.pkl")):
        with pytest.raises(UserError, match=message) as e:
            read_torchscript(tmp_path / name)
        assert "\n" not in str(e.value)
