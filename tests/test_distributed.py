"""Distributed helpers and evaluation across 2 gloo CPU processes (torch.multiprocessing spawn)."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from zeroi2v.training import distributed as D
from zeroi2v.training import engine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_fallbacks(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = D.init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    assert D.all_reduce_sum([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert D.all_gather_object({"a": 1}) == [{"a": 1}]
    assert D.broadcast_object(3) == 3
    D.barrier()
    D.cleanup()


def _worker(rank, world, port, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info = D.init_distributed("cpu")
    try:
        from test_engine import Flatten, ViewData, hand_scores

        summed = D.all_reduce_sum([rank + 1.0, 1.0]).tolist()
        gathered = D.all_gather_object(rank * 10)
        bcast = D.broadcast_object("from-0" if rank == 0 else "other")
        scores, labels = hand_scores(n=7, v=2, k=5)  # 7 videos over 2 ranks: DistributedSampler pads 1
        sampler = DistributedSampler(ViewData(scores, labels), shuffle=False)
        loader = DataLoader(ViewData(scores, labels), batch_size=2, sampler=sampler)
        res = engine.evaluate(Flatten(), loader, device="cpu", views="2x1", progress=False)
        res_idx = engine.evaluate(Flatten(), DataLoader(ViewData(scores, labels, True), batch_size=3,
                                  sampler=sampler), device="cpu", progress=False)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(dict(info=[info.rank, info.world_size, info.backend], summed=summed, gathered=gathered,
                           bcast=bcast, shard=len(list(sampler)), top1=res["top1"], top5=res["top5"], n=res["n"],
                           n_idx=res_idx["n"], top1_idx=res_idx["top1"]), f)
    finally:
        D.cleanup()


def test_two_gloo_processes(tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    from test_engine import aggregate_views, hand_scores

    scores, labels = hand_scores(n=7, v=2, k=5)
    ref = aggregate_views(scores, labels)
    for i, x in enumerate(r):
        assert x["info"] == [i, 2, "gloo"]
        assert x["summed"] == [3.0, 2.0]
        assert x["gathered"] == [0, 10]
        assert x["bcast"] == "from-0"
        assert x["shard"] == 4  # 7 padded to 8
        assert x["n"] == x["n_idx"] == 7  # the padded duplicate is counted once
        assert x["top1"] == pytest.approx(ref["top1"]) and x["top5"] == pytest.approx(ref["top5"])
        assert x["top1_idx"] == pytest.approx(ref["top1"])
