"""The tensors of a TorchScript archive (OpenAI CLIP's `ViT-B-16.pt`), read without running it.

`torch.jit.load` compiles and runs the archive's code (a crafted `__setstate__` runs on load).
This reader never does: it opens the zip, unpickles `<archive>/data.pkl` with an unpickler whose
`find_class` knows only the tensor rebuild functions, storage types and `OrderedDict` -- each
replaced by a function of this module, nothing is imported -- and answers every `__torch__.*`
class with an inert placeholder that only stores the state it is given. Storages are read from
the archive's `data/<key>` entries (dtype from the storage type, the archive's byte order).
Which attributes of a module are parameters and buffers is read from the `__parameters__` /
`__buffers__` lines of the class in `code/` (parsed as text with `ast`, never executed), so the
result has the names, order, dtypes and values of `torch.jit.load(path).state_dict()`.

Anything else -- another global, a module class with its own `__setstate__`, a quantized or
sparse tensor, a storage out of bounds -- is a one-line `UserError`.
"""
from __future__ import annotations

import ast
import io
import pickle
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from zeroi2v.utils.errors import UserError

_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
           "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
           "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
           "BoolStorage": torch.bool}


class Refused(Exception):
    """The archive needs something this reader will not do (its message says what)."""


class _StorageType:
    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class Inert:
    """A `__torch__.*` object: keeps the state pickle gives it; has no behaviour."""

    _module: str = ""
    _name: str = ""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state) -> None:
        self.__dict__["_state"] = state


def _placeholder(module: str, name: str) -> type:
    return type("Inert_" + "".join(c if c.isalnum() else "_" for c in name)[:60], (Inert,),
                {"_module": module, "_name": name})


def _extent_ok(numel: int, offset: int, size, stride) -> bool:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, *size, *stride)):
        return False
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in (*size, *stride)):
        return False
    if any(s == 0 for s in size):
        return offset <= numel
    return offset + sum((n - 1) * st for n, st in zip(size, stride)) < numel


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    """Like torch._utils._rebuild_tensor_v2: a strided view of a storage read from the archive."""
    if not isinstance(storage, torch.Tensor):
        raise Refused("a tensor without a storage")
    size, stride = tuple(size), tuple(stride)
    if not _extent_ok(storage.numel(), storage_offset, size, stride):
        raise Refused(f"a tensor of size {size} stride {stride} offset {storage_offset} outside its storage "
                      f"of {storage.numel()} elements")
    return torch.as_strided(storage, size, stride, storage_offset)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


def _ordered_dict(*args):
    return OrderedDict(*args)


def _identity(value, *rest):
    return value


_GLOBALS = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("collections", "OrderedDict"): _ordered_dict,
            ("torch.jit._pickle", "restore_type_tag"): _identity,
            **{("torch.jit._pickle", f"build_{k}list"): list for k in ("int", "float", "bool", "double", "tensor")}}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, swap: bool):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.swap, self.storages = archive, prefix, swap, {}

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return _placeholder(module, name)
        if module == "torch" and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        raise Refused(f"the pickle references {module}.{name}, which is not a tensor or a plain container")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage" or not isinstance(pid[1], _StorageType)
                or not isinstance(pid[2], str) or not isinstance(pid[4], int) or pid[4] < 0):
            raise Refused(f"a persistent id {str(pid)[:80]} that is not a tensor storage")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, kind.dtype, numel)
        return self.storages[key]

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        name = f"{self.prefix}data/{key}"
        itemsize = torch.empty(0, dtype=dtype).element_size()
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise Refused(f"the storage entry {name} is missing") from None
        if info.file_size != numel * itemsize:
            raise Refused(f"the storage entry {name} has {info.file_size} bytes, its tensor needs {numel * itemsize}")
        raw = bytearray(self.archive.read(name))
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        if self.swap and itemsize > 1:
            flat = flat.view(-1, itemsize).flip(-1).reshape(-1)
        return flat.view(dtype).clone() if numel else torch.empty(0, dtype=dtype)


def _archive_prefix(z: zipfile.ZipFile) -> str:
    names = set(z.namelist())
    for n in sorted(names):
        parts = n.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl":
            return parts[0] + "/"
    raise Refused("no <archive>/data.pkl entry (an old or foreign TorchScript format)")


class _Classes:
    """`__parameters__`, `__buffers__` and methods of the archive's classes, from the code/ text."""

    def __init__(self, z: zipfile.ZipFile, prefix: str):
        self.z, self.prefix, self.files = z, prefix, {}

    def _file(self, module: str) -> dict:
        if module not in self.files:
            name = f"{self.prefix}code/{module.replace('.', '/')}.py"
            classes = {}
            try:
                tree = ast.parse(self.z.read(name).decode("utf-8"))
            except (KeyError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
                tree = ast.Module(body=[], type_ignores=[])
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    lists, methods = {}, set()
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef):
                            methods.add(item.name)
                        elif (isinstance(item, ast.Assign) and len(item.targets) == 1
                              and isinstance(item.targets[0], ast.Name) and isinstance(item.value, ast.List)):
                            lists[item.targets[0].id] = [e.value for e in item.value.elts
                                                         if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                    bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                    classes[node.name] = dict(lists=lists, methods=methods, module="Module" in bases)
            self.files[module] = classes
        return self.files[module]

    def info(self, obj: Inert) -> dict | None:
        return self._file(obj._module).get(obj._name)


def _walk(obj: Inert, classes: _Classes, prefix: str, out: dict, depth: int = 0) -> None:
    """Parameters, then buffers, then submodules' -- the order of nn.Module.state_dict."""
    if depth > 200:
        raise Refused("modules nested more than 200 deep")
    info = classes.info(obj)
    where = f"{obj._module}.{obj._name}"
    if info is not None and "__setstate__" in info["methods"]:
        raise Refused(f"the module class {where} defines __setstate__ (code that torch.jit.load would run)")
    state = obj.__dict__.get("_state")
    if not isinstance(state, dict):
        raise Refused(f"the module {where} has state of type {type(state).__name__}, not its attributes")
    if info is not None and "__parameters__" in info["lists"]:
        names = [*info["lists"]["__parameters__"], *info["lists"].get("__buffers__", [])]
    else:  # no class text: every tensor attribute
        names = [k for k, v in state.items() if isinstance(v, torch.Tensor)]
    for name in names:
        value = state.get(name)
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif value is not None:
            raise Refused(f"{prefix + name} is a {type(value).__name__}, not a tensor")
    for name, value in state.items():
        if isinstance(value, Inert):
            sub = classes.info(value)
            if sub is None or sub["module"]:
                _walk(value, classes, f"{prefix}{name}.", out, depth + 1)


def read_torchscript(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a TorchScript archive, without executing any of it (one-line UserError)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            prefix = _archive_prefix(z)
            order = z.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in z.namelist() else "little"
            if order not in ("little", "big"):
                raise Refused(f"an unknown byte order {order[:20]!r}")
            root = _Unpickler(z.read(prefix + "data.pkl"), z, prefix, swap=order != sys.byteorder).load()
            out: dict[str, torch.Tensor] = {}
            if isinstance(root, Inert):
                _walk(root, _Classes(z, prefix), "", out)
            elif isinstance(root, dict) and all(isinstance(v, torch.Tensor) for v in root.values()):
                out = {str(k): v for k, v in root.items()}
            else:
                raise Refused(f"the archive holds a {type(root).__name__}, not a module or a state dict")
    except Refused as e:
        raise UserError(f"cannot read TorchScript archive {path}: {e}; it was not loaded (no code from it "
                        f"runs) -- save its tensors with torch.save(model.state_dict()) or safetensors") from None
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
            AttributeError, IndexError, RuntimeError, RecursionError, MemoryError, OSError) as e:
        raise UserError(f"cannot read TorchScript archive {path} ({type(e).__name__}: {str(e)[:160]}); "
                        f"is it a complete file?") from None
    if not out:
        raise UserError(f"TorchScript archive {path} holds no tensors; is it a model checkpoint?")
    return out
