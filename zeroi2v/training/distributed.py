"""torch.distributed helpers: one code path for `torchrun --nproc_per_node N` and a single process.

`init_distributed()` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and joins the process group (nccl on CUDA, gloo on CPU); without those variables it
does nothing and every helper below degrades to the single-process answer (rank 0 of 1,
all-reduce = identity, gather = [obj]).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from zeroi2v.utils.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None when not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.backend is not None


def pick_device(device: str | None = None, local_rank: int = 0) -> torch.device:
    """'auto'/None -> cuda:<local_rank> when CUDA is available, else cpu."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device} asked for CUDA but torch sees no GPU; pass --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        elif dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: torch sees {torch.cuda.device_count()} GPU(s); "
                            f"use cuda:0..cuda:{torch.cuda.device_count() - 1}")
        torch.cuda.set_device(dev)
    return dev


def init_distributed(device: str | None = None, *, timeout_minutes: float = 60.0) -> DistInfo:
    """Join the torchrun process group if launched by torchrun; returns this process's DistInfo."""
    if is_initialized():
        dev = pick_device(device, int(os.environ.get("LOCAL_RANK", "0")))
        return DistInfo(get_rank(), get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), dev,
                        dist.get_backend())
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(0, 1, 0, pick_device(device), None)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    kwargs = dict(backend=backend, rank=rank, world_size=world,
                  timeout=datetime.timedelta(minutes=timeout_minutes))
    if backend == "nccl":
        kwargs["device_id"] = dev
    dist.init_process_group(**kwargs)
    return DistInfo(rank, world, local_rank, dev, backend)


def cleanup() -> None:
    if is_initialized():
        dist.destroy_process_group()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def _comm_device() -> torch.device:
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor | list[float] | tuple[float, ...]) -> torch.Tensor:
    """Sum over ranks (float64 on the communication device; returned on CPU)."""
    t = torch.as_tensor(values, dtype=torch.float64).detach().clone()
    if is_initialized():
        t = t.to(_comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_gather_object(obj: Any) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...]; [obj] when not distributed."""
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s obj on every rank."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
