"""After training: evaluate, merge the adapters, evaluate the merged model, export it, measure its
cost, and write the result record (+ metrics.json)."""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

from zeroi2v.training import distributed as D
from zeroi2v.training import engine
from zeroi2v.training.checkpoint_state import disk_errors
from zeroi2v.methods import get_method
from zeroi2v.methods.cost import inference_cost
from zeroi2v.utils.io import atomic_write_json

from zeroi2v.train.config import TrainConfig
from zeroi2v.train.data import log


def evaluate_merge_export(cfg: TrainConfig, out: Path, *, model, test_loader, info: D.DistInfo, dtype, params: dict,
                          num_classes: int, history: list, stages: dict, t0: float, pretrained_sha256: str | None,
                          extra: dict | None = None) -> None:
    from zeroi2v.model.merge import check_merge, merge_adapters, random_batch, save_merged

    t = time.perf_counter()
    res = engine.evaluate(model, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                          progress=cfg.progress, desc="eval", return_scores=True)
    stages["eval"] = time.perf_counter() - t
    log(f"test ({cfg.test_views} views, {res['n']} videos): top-1 {res['top1']:.2f}% top-5 {res['top5']:.2f}%")

    t = time.perf_counter()
    model.eval()
    mergeable = get_method(cfg.method).mergeable  # otherwise the trained model is what runs at inference
    merged, diff, res_m, prob_diff = model, dict(max_abs=None, max_rel=None), None, None
    if mergeable:
        merged = merge_adapters(copy.deepcopy(model))
        diff = check_merge(model, merged, random_batch(model))
        stages["merge"] = time.perf_counter() - t
        t = time.perf_counter()
        res_m = engine.evaluate(merged, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                                progress=cfg.progress, desc="eval merged", return_scores=True)
        stages["eval_merged"] = time.perf_counter() - t
        prob_diff = float((res["probs"] - res_m["probs"]).abs().max()) if res["n"] else 0.0
        log(f"merged model: top-1 {res_m['top1']:.2f}% top-5 {res_m['top5']:.2f}% (max |output diff| "
            f"{diff['max_abs']:.2e}, relative {diff['max_rel']:.2e}; max test probability diff {prob_diff:.2e})")
    else:
        log(f"method {cfg.method} does not merge: the trained model is the deployed one")
    if not D.is_main():
        return
    if mergeable:
        t = time.perf_counter()
        export = out / "merged.safetensors"
        with disk_errors(export):
            save_merged(model, export)
        stages["export"] = time.perf_counter() - t
        log(f"wrote merged model {export}")
    t = time.perf_counter()
    cost = inference_cost(merged, trained_params=params["trainable"], num_frames=cfg.frames, size=cfg.size,
                          device=info.device, latency=cfg.throughput)
    gflops = cost["gflops_per_view"]
    tput = (engine.throughput(merged, num_frames=cfg.frames, size=cfg.size, batch=cfg.eval_batch_size,
                              device=info.device, amp_dtype=dtype) if cfg.throughput else None)
    merged_total, params_new = cost["params_total"], cost["params_new"]
    stages["cost"] = time.perf_counter() - t
    stages["total"] = time.perf_counter() - t0
    log(f"cost: {gflops:.3f} GFLOPs per view ({gflops / 2:.3f} GMACs, x{cost['flops_ratio']:.3f} the image model), "
        f"params {merged_total:,} {'merged' if mergeable else 'trained'} (+{params_new:,} over the image model)"
        + (f", throughput {tput:.1f} views/s" if tput else ""))
    fields = dict(dataset=cfg.dataset, method=cfg.method, backbone=cfg.backbone, seed=cfg.seed,
                  protocol=cfg.protocol, top1=res["top1"], top5=res["top5"], top1_merged=res_m and res_m["top1"],
                  top5_merged=res_m and res_m["top5"], inference_model="merged" if mergeable else "trained",
                  flops_ratio=cost["flops_ratio"], latency_ratio=cost["latency_ratio"], views=cfg.test_views, n_test=res["n"], num_classes=num_classes,
                  gflops_per_view=gflops, gmacs_per_view=gflops / 2, params_total=merged_total,
                  params_total_unmerged=params["total"], params_trainable=params["trainable"],
                  params_new=params_new, throughput=tput, eval_videos_per_s=res["videos_per_s"],
                  merge_max_abs_diff=diff["max_abs"], merge_max_rel_diff=diff["max_rel"],
                  merge_max_prob_diff=prob_diff, stage_seconds=stages, world_size=info.world_size,
                  config=dataclasses.asdict(cfg), pretrained=cfg.pretrained, pretrained_sha256=pretrained_sha256,
                  stdha=model.stdha_offsets, adapters=model.adapter_config if get_method(cfg.method).adapts else None,
                  recipe=cfg.recipe,
                  **(extra or {}))
    if cfg.kshot:
        fields.update(shots=cfg.kshot[0], fold=cfg.kshot[1])
    write_results(out, fields, history)


def write_results(out: Path, fields: dict, history: list) -> None:
    from results.records import new_record, write_record

    with disk_errors(out / "records"):
        path = write_record(out, new_record(fields["protocol"], **fields))
    with disk_errors(out / "metrics.json"):
        atomic_write_json(out / "metrics.json", dict(fields, history=history, record=str(path)))
    log(f"wrote record {path} and {out / 'metrics.json'}")
