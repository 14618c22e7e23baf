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
from zeroi2v.utils.io import atomic_write_json

from zeroi2v.train.config import TrainConfig
from zeroi2v.train.data import log


def plain_params(cfg: TrainConfig, model, num_classes: int) -> int:
    """Parameters of the plain timm image classifier (same classes) the merged model is compared with."""
    import timm

    vit = timm.create_model(cfg.backbone, pretrained=False, num_classes=num_classes,
                            **getattr(model, "timm_kwargs", {}))
    return sum(p.numel() for p in vit.parameters())


def evaluate_merge_export(cfg: TrainConfig, out: Path, *, model, test_loader, info: D.DistInfo, dtype, params: dict,
                          num_classes: int, history: list, stages: dict, t0: float, pretrained_sha256: str | None,
                          extra: dict | None = None) -> None:
    from zeroi2v.model.merge import check_merge, merge_adapters, random_batch, save_merged
    from zeroi2v.model.video import count_params

    t = time.perf_counter()
    res = engine.evaluate(model, test_loader, device=info.device, views=cfg.test_views, amp_dtype=dtype,
                          progress=cfg.progress, desc="eval", return_scores=True)
    stages["eval"] = time.perf_counter() - t
    log(f"test ({cfg.test_views} views, {res['n']} videos): top-1 {res['top1']:.2f}% top-5 {res['top5']:.2f}%")

    t = time.perf_counter()
    model.eval()
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
    if not D.is_main():
        return
    t = time.perf_counter()
    export = out / "merged.safetensors"
    with disk_errors(export):
        save_merged(model, export)
    stages["export"] = time.perf_counter() - t
    log(f"wrote merged model {export}")
    t = time.perf_counter()
    gflops = engine.gflops_per_view(merged, num_frames=cfg.frames, size=cfg.size, device=info.device)
    tput = (engine.throughput(merged, num_frames=cfg.frames, size=cfg.size, batch=cfg.eval_batch_size,
                              device=info.device, amp_dtype=dtype) if cfg.throughput else None)
    merged_total = count_params(merged)["total"]
    plain_total = plain_params(cfg, model, num_classes)
    stages["cost"] = time.perf_counter() - t
    stages["total"] = time.perf_counter() - t0
    log(f"cost: {gflops:.3f} GFLOPs per view ({gflops / 2:.3f} GMACs), params {merged_total:,} merged "
        f"(+{merged_total - plain_total:,} over the plain image model)"
        + (f", throughput {tput:.1f} views/s" if tput else ""))
    fields = dict(dataset=cfg.dataset, method=cfg.method, backbone=cfg.backbone, seed=cfg.seed,
                  protocol=cfg.protocol, top1=res["top1"], top5=res["top5"], top1_merged=res_m["top1"],
                  top5_merged=res_m["top5"], views=cfg.test_views, n_test=res["n"], num_classes=num_classes,
                  gflops_per_view=gflops, gmacs_per_view=gflops / 2, params_total=merged_total,
                  params_total_unmerged=params["total"], params_trainable=params["trainable"],
                  params_new=merged_total - plain_total, throughput=tput, eval_videos_per_s=res["videos_per_s"],
                  merge_max_abs_diff=diff["max_abs"], merge_max_rel_diff=diff["max_rel"],
                  merge_max_prob_diff=prob_diff, stage_seconds=stages, world_size=info.world_size,
                  config=dataclasses.asdict(cfg), pretrained=cfg.pretrained, pretrained_sha256=pretrained_sha256,
                  stdha=model.stdha_offsets, adapters=model.adapter_config if cfg.method != "frozen" else None,
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
