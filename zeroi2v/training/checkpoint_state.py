"""Training state on disk: one checkpoint format for every trainer, read with `weights_only=True`.

A checkpoint holds plain data only -- tensors, numbers, strings, lists, dicts -- so it loads with
`torch.load(weights_only=True)` and a crafted file cannot run code: RNG states are stored as
tensors and lists (`rng_state`), not as pickled numpy/python objects. It carries the run's
`identity` (what produced the model: backbone, timm kwargs, frames, STDHA offsets, pretrained
sha256, method, frozen-weight fingerprint, data) and `config` (the training settings); `check_resume`
refuses a resume when any of them differs, with one line naming the setting.
"""
from __future__ import annotations

import errno
import io
import math
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_bytes

FORMAT = "zeroi2v-train-state/2"
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


# ---------------------------------------------------------------- RNG states as plain data


def rng_state() -> dict:
    """This process's python, numpy, torch (and CUDA) RNG states as tensors and lists."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(python=dict(version=int(version), state=[int(x) for x in mt], gauss=gauss),
                 numpy=dict(kind=str(kind), keys=torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos=int(pos),
                            has_gauss=int(has_gauss), cached=float(cached)),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict) -> None:
    p, n = state["python"], state["numpy"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- model state


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that train (adapters, temporal embedding, norms, head), on CPU."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def frozen_fingerprint(model: torch.nn.Module) -> float:
    """Sum of |w| over the frozen weights: changes when the pretrained file or the init seed does."""
    with torch.no_grad():
        return float(sum(p.detach().double().abs().sum().item() for p in model.parameters() if not p.requires_grad))


# ---------------------------------------------------------------- writing and reading


@contextmanager
def disk_errors(path: str | Path) -> Iterator[None]:
    """Turn a full disk (or file-size limit) while writing `path` into one UserError line."""
    try:
        yield
    except OSError as e:
        if e.errno in _NO_SPACE:
            raise UserError(f"cannot write {path}: no space left on device ({e.strerror or e}); the previous "
                            f"file is intact -- free space and rerun (with --resume to continue)") from None
        raise


def save_state(path: str | Path, state: dict) -> Path:
    """Write a training state atomically (temp file + rename), with `format` added. Serialised in
    memory first, so a full disk surfaces as an OSError of the file write (not torch's zip writer)."""
    buf = io.BytesIO()
    torch.save(dict(state, format=FORMAT), buf)
    with disk_errors(path):
        return atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | Path) -> dict:
    """Read a training state with weights_only=True; UserError when it is not one (or not loadable)."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle refused by weights_only, truncated file, not a torch file
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        raise UserError(f"cannot read training state {path} ({type(e).__name__}{': ' + first if first else ''}); "
                        f"it is not a checkpoint of this suite -- remove it or use a new --out") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        found = ck.get("format") if isinstance(ck, dict) else type(ck).__name__
        raise UserError(f"{path} is not a {FORMAT} checkpoint (found {found!r}); use a new --out or drop --resume")
    return ck


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return not math.isclose(old, new, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) != len(new) or any(_differs(a, b) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() != new.keys() or any(_differs(old[k], new[k]) for k in old)
    return old != new


def check_resume(path: str | Path, ck: dict, *, identity: dict, config: dict) -> None:
    """Refuse to resume when the checkpoint's model identity or training config differs from this run's."""
    for section, new in (("identity", identity), ("config", config)):
        old = ck.get(section) or {}
        for key in [*new, *(k for k in old if k not in new)]:  # the caller's order: named settings first
            if _differs(old.get(key), new.get(key)):
                show = (lambda v: f"{v:.6g}" if isinstance(v, float) else repr(v))
                raise UserError(f"{path} was written with {key}={show(old.get(key))}, this run has "
                                f"{key}={show(new.get(key))}; use a new --out or drop --resume")
