"""The benchmark report as Markdown (stdout) and the comparison with the papers' FLOPs."""
from __future__ import annotations

from zeroi2v.bench.config import BenchConfig

# ZeroI2V paper (Li et al. 2023), ViT-B/16, 8 frames x 3 views: 422 "GFLOPs" (fvcore: multiply-adds).
PAPER_GFLOPS_3VIEWS = 422.0
PAPER_VIEWS = 3
AIM_PAPER_FLOPS_OVERHEAD = 606 / 422 - 1  # AIM ViT-B/16 8 frames x 3 views: 606 vs 422 GFLOPs (AIM paper)
PAPER_FLOPS_RATIO = {"aim": 606 / 422, "st_adapter": 455 / 422}  # ViT-B/16 8 frames, K400 variants (papers)


def paper_comparison(rows: list[dict], cfg: BenchConfig) -> dict:
    merged = next(r for r in rows if r["name"] == "merged")
    ours = merged["gmacs"] * PAPER_VIEWS
    aim = next((r for r in rows if r["name"] == "aim"), None)
    return dict(paper_gflops_3views=PAPER_GFLOPS_3VIEWS, ours_gmacs_3views=ours,
                ours_gflops_3views=merged["gflops"] * PAPER_VIEWS,
                ratio_to_paper=ours / PAPER_GFLOPS_3VIEWS,
                comparable=cfg.backbone.startswith("vit_base_patch16") and cfg.frames == 8 and not cfg.timm_kwargs,
                note="papers count a multiply-add as one FLOP (fvcore); torch.utils.flop_counter counts two: "
                     "compare the paper with gmacs",
                aim_flops_overhead=(aim["flops_ratio"] - 1) if aim else None,
                aim_latency_overhead=(aim["latency_ratio"] - 1) if aim else None,
                aim_paper_flops_overhead=AIM_PAPER_FLOPS_OVERHEAD,
                peers={r["name"]: dict(flops_ratio=r["flops_ratio"], paper_flops_ratio=PAPER_FLOPS_RATIO.get(r["name"]),
                                       trainable_params=r["trainable_params"]) for r in rows if r.get("method")})


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if abs(n) >= 1e5 else f"{n:,}"


def markdown(report: dict) -> str:
    """All sections that ran, in report order."""
    lines = [f"Machine: {report['machine']}"]
    if report.get("models"):
        lines += ["", *models_markdown(report)]
    if report.get("episodes"):
        lines += ["", *episodes_markdown(report["episodes"])]
    if report.get("data"):
        lines += ["", *data_markdown(report["data"])]
    if report.get("data_path"):
        lines += ["", *data_path_markdown(report["data_path"])]
    return "\n".join(lines)


def models_markdown(report: dict) -> list[str]:
    lines = [f"**{report['backbone']}**, {report['frames']} frames, batch {report['batch']}, {report['device']}, "
             f"{report['repeats']} interleaved repeats (median, IQR) — {report['machine']}", "",
             "| model | params | new params | trained params | GFLOPs/view | FLOPs × plain | latency ms (IQR) "
             "| latency × plain | videos/s | peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        mem = "–" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}"
        lines.append(f"| {r['name']} | {_fmt_params(r['params'])} | {_fmt_params(r['new_params'])} "
                     f"| {_fmt_params(r.get('trainable_params') or 0)} | {r['gflops']:.1f} "
                     f"| {r['flops_ratio']:.3f} | {r['latency_ms_median']:.1f} ({r['latency_ms_iqr']:.1f}) "
                     f"| {r['latency_ratio']:.3f} (paired {r['latency_ratio_paired']:.3f}) | {r['throughput']:.2f} | {mem} |")
    c, p = report["checks"], report["paper"]
    lines += ["", f"- merged vs unmerged: max abs diff {c['merge_max_abs']:.2e}, max rel diff {c['merge_max_rel']:.2e}; "
                  f"merged params = plain + T·D ({c['temporal_embedding_params']:,}): "
                  f"{c['merged_params_equal_plain_plus_TD']}",
              f"- FLOPs per {PAPER_VIEWS} views: {p['ours_gmacs_3views']:.1f} GMACs ({p['ours_gflops_3views']:.1f} GFLOPs "
              f"counting 2 per multiply-add) vs the paper's {p['paper_gflops_3views']:.0f} GFLOPs (multiply-adds)"
              + ("" if p["comparable"] else " — not comparable for this configuration")]
    if p["aim_flops_overhead"] is not None:
        lines.append(f"- AIM-style peer overhead: FLOPs {p['aim_flops_overhead']:+.1%} "
                     f"(AIM paper {p['aim_paper_flops_overhead']:+.0%}), "
                     f"latency {p['aim_latency_overhead']:+.1%}")
    return lines


def episodes_markdown(e: dict) -> list[str]:
    lines = [f"Episode evaluation: {e['episodes']:,} {e['ways']}-way {e['shots']}-shot "
             f"{e['queries']}-query episodes, {e['dim']}-d synthetic cached features "
             f"({e['torch_threads']} threads); sampling {e['sample_s']:.2f} s, "
             f"gather {e['gather_s']:.2f} s", "",
             "| protocol | seconds | episodes/s | target | accuracy % |", "|---|---:|---:|---:|---:|"]
    for name, r in e["protocols"].items():
        target = "" if r["target_s"] is None else f"≤ {r['target_s']:g} s {'✓' if r['meets_target'] else '✗'}"
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['episodes_per_s']:,.0f} | {target} "
                     f"| {r['accuracy']:.1f} ± {r['ci95']:.1f} |")
    return lines


def data_markdown(d: dict) -> list[str]:
    lines = [f"Data loading: toy videos, {d['frames']} frames at {d['size']}², batch 1, "
             f"{d['runs'][0]['clips']} clips", "",
             "| workers | clips/s | steady clips/s | first clip s |", "|---:|---:|---:|---:|"]
    for r in d["runs"]:
        steady = "–" if r["steady_clips_per_s"] is None else f"{r['steady_clips_per_s']:.1f}"
        lines.append(f"| {r['num_workers']} | {r['clips_per_s']:.1f} | {steady} | {r['first_clip_s']:.2f} |")
    return lines


def data_path_markdown(d: dict) -> list[str]:
    m = d["model"]
    lines = [f"Data path: {d['videos_per_kind']} generated videos per kind ({d['scale']}), {d['frames']} frames at "
             f"{d['size']}², decoder {d['decoder']}{_resolved(d)}, one process with {d['torch_threads']} torch thread (a DataLoader "
             f"worker), rates in CPU seconds of that process; raw = {d.get('raw_decoder', 'decord')} alone on the same frame indices; "
             f"target ratio ≥ {d['target_ratio']}", "",
             "| kind | transform | variant | loader clips/s | raw decode clips/s | ratio | workers per device |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in d["rows"]:
        ok = "✓" if r["meets_target"] else "✗"
        recipe = f", {r['recipe']}" if r.get("recipe") else ""
        lines.append(f"| {r['kind']} | {r['mode']} ({r['views_per_clip']} view{'s' if r['views_per_clip'] > 1 else ''}"
                     f"{recipe}) "
                     f"| {r['variant']} | {r['loader_clips_per_s']:.2f} | {r['raw_clips_per_s']:.2f} "
                     f"| {r['ratio']:.2f} {ok} | {r['workers_per_device']:.3g} |")
    lines += ["", f"- {d['workers_note']}; model {m['backbone']} × {m['frames']} frames",
              *_train_notes(d),
              "- test: uniform centre sampling, short side = size, 3 crops",
              "- variants (--loader): float32 = float resize, normalised on the worker (toy's default); uint8 = the same "
              "clips as uint8, normalised on the accelerator (same numbers); uint8+fast = also torch's uint8 resize "
              "kernel, within one grey level (real data's default)",
              "- workers per device = model views/s ÷ (loader clips/s × views per clip)"]
    return lines + _stages_markdown(d) + _decoders_markdown(d)


STAGE_COLUMNS = ("open", "sample", "decode", "close", "resize_short", "draws", "randaugment", "crop_resize", "flip", "erasing", "stack",
                 "normalize", "other", "collate")


def _stages_markdown(d: dict, variant: str = "uint8+fast") -> list[str]:
    """CPU ms per clip of each loader stage, `variant` rows (RandAugment: its ops summed, listed below)."""
    rows = [r for r in d["rows"] if r.get("stages") and r["variant"] == variant]
    if not rows:
        return []
    seen = {k.split(".", 1)[0] for r in rows for k in r["stages"]}
    columns = [c for c in STAGE_COLUMNS if c in seen]  # the stages these rows timed (older reports: fewer)
    lines = ["", f"Stages ({variant}), CPU ms per clip; raw = the raw decode of the same frames; collate = "
                 "default_collate of 8 clips, per clip:", "",
             "| kind | transform | raw | loader | " + " | ".join(columns) + " |",
             "|---|---|---:|---:|" + "---:|" * len(columns)]
    ops = []
    for r in rows:
        st = dict(r["stages"])
        ra = {k.split(".", 1)[1]: v for k, v in st.items() if k.startswith("randaugment.")}
        st["randaugment"] = st.get("randaugment", 0.0) + sum(ra.values())
        cells = " | ".join("–" if c not in st else f"{st[c]:.2f}" for c in columns)
        lines.append(f"| {r['kind']} | {r['mode']} | {r['raw_ms_per_clip']:.1f} | {1e3 / r['loader_clips_per_s']:.1f} "
                     f"| {cells} |")
        if ra:
            ops.append(f"- RandAugment ops, {r['kind']} {r['mode']} (ms per clip, averaged over all clips): "
                       + ", ".join(f"{k} {v:.2f}" for k, v in sorted(ra.items(), key=lambda kv: -kv[1])))
    return lines + ([""] + ops if ops else [])


def _resolved(d: dict) -> str:
    """" (per kind: ssv2 pyav, ...)": the backend the loader used for each kind's files (older reports: none)."""
    used = d.get("loader_decoders")
    return f" (per kind: {', '.join(f'{k} {v}' for k, v in used.items())})" if used else ""


def _decoders_markdown(d: dict) -> list[str]:
    """Every installed backend on the same train frames, per kind."""
    dec = d.get("decoders")
    if not dec:
        return []
    names = list(next(iter(dec.values())))
    lines = ["", "Decoders on the same train frames (open + one read per clip, CPU ms per clip; = : frames equal "
                 f"to {names[0]}'s on every clip):", "",
             "| kind | " + " | ".join(names) + " | fastest |", "|---|" + "---:|" * len(names) + "---|"]
    for kind, t in dec.items():
        cells = " | ".join(f"{t[n]['cpu_ms_per_clip']:.1f}{' =' if t[n]['frames_equal'] else ' ≠'}" for n in names)
        lines.append(f"| {kind} | {cells} | {next(n for n in names if t[n]['fastest'])} |")
    return lines


def _train_notes(d: dict) -> list[str]:
    """One line per kind: the recipe whose augmentation its train transform uses (older reports: the fixed one)."""
    aug = d.get("train_augmentation")
    if not aug:
        return ["- train: uniform random sampling, short side 256/224·size, RandAugment (m7, n4), crop area 0.08–1, flip"]
    lines = []
    for kind, a in aug.items():
        ra = "" if a["randaugment"] is None else f"RandAugment (m{a['randaugment'][0]}, n{a['randaugment'][1]})"
        crop = f"crop area {a['crop_area'][0]:g}–{a['crop_area'][1]:g}"
        steps = [f"flip {a['flip']:g}", ra] if a["randaugment_after_flip"] else [ra, crop, f"flip {a['flip']:g}"]
        steps = ([crop] if a["randaugment_after_flip"] else []) + steps
        if a["erasing"]:
            steps.append(f"RandomErasing {a['erasing']:g}")
        short = "" if a["short_side"] is None else f"short side {a['short_side']}, "
        lines.append(f"- train {kind}: {a['recipe']}'s augmentation with uniform random sampling: {short}"
                     + " → ".join(x for x in steps if x))
    return lines
