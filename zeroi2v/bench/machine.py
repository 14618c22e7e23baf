"""The machine a benchmark ran on: CPU model, cores, torch threads, library versions, GPU."""
from __future__ import annotations

import os
import platform
import sys

import torch


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import timm

    info = dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                timm=timm.__version__, python=platform.python_version(), platform=platform.platform(),
                gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    try:
        info["cores_available"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def machine_string(info: dict) -> str:
    s = f"{info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads)"
    if info.get("gpu"):
        s = f"{info['gpu']}; {s}"
    return f"{s}, torch {info['torch']}, timm {info['timm']}, {info['platform']}"
