"""The suite's main job: `python -m fewshot.run --dataset ssv2 --shots 5`.

The stages, in order (fewshot/pipeline.py: `prepare`, `commit`, then `METHOD_STAGES` per method):
  prepare   check data, weights, model flags, episode sets; nothing written
  commit    config.json, run.log, the episode sets (the first write)
  for each method (frozen image model; ZeroI2V adapters without STDHA; full ZeroI2V):
    adapt     on the base split (val split selects the epoch)        fewshot/adapt.py
    merge     the adapters; check merged == unmerged on a real batch   zeroi2v/model/merge.py
    embed     every test video once per view, cached by model hash     fewshot/embed.py
    evaluate  the same episode sets with each protocol -> one record   episodes/protocols.py, results/records.py
  table     the markdown table of the records written                 fewshot/evaluate.py
With no arguments it runs on the generated time-only toy (`toy_time`, hue order: classes that live only
between frames) with a tiny ViT image-pretrained on its single frames, in about two minutes on a 2-core CPU. `--seeds 0,1,2` repeats it per seed (fewshot/seeds.py);
`torchrun --nproc_per_node N -m fewshot.run ...` spreads adaptation and embedding over N processes.
Configuration and defaults: fewshot/config.py (`--help`).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from zeroi2v.training import distributed as D
from zeroi2v.utils.errors import cli
from zeroi2v.utils.io import atomic_write_text, undone_if_refused
from zeroi2v.methods import METHODS

from .config import RunConfig, parse_args, resolve
from .logs import attach_log_file, setup_logging

__all__ = ["main", "RunConfig", "METHODS", "parse_args"]

log = logging.getLogger("fewshot")


def run_seeds(cfg: RunConfig) -> str:
    """One run per seed under <out>/seed<S> (toy: each on its own toy data); the table over seeds."""
    from .evaluate import run_table
    from .pipeline import run_stages
    from .seeds import seeds_table, toy_root_for_seed

    written = {}
    for seed in cfg.seeds:
        data_root = cfg.data_root
        if cfg.dataset in ("toy", "toy_time") and cfg.data_root is None:
            data_root = str(toy_root_for_seed(seed, cfg.dataset))
        sub = resolve(dataclasses.replace(cfg, seed=seed, seeds=None, data_root=data_root,
                                          out=str(Path(cfg.out) / f"seed{seed}")))
        setup_logging(main=D.is_main())  # this seed's log goes to its own run.log from its first write on
        log.info("seed %d of %s: data %s, run %s", seed, ",".join(map(str, cfg.seeds)), data_root or "default",
                 sub.out)
        written[seed] = run_stages(sub)
        if D.is_main():
            log.info("seed %d:\n%s", seed, run_table(written[seed]))
    if not D.is_main():
        return ""
    table = seeds_table(written)
    attach_log_file(Path(cfg.out))
    from zeroi2v.utils.io import atomic_write_json

    atomic_write_json(Path(cfg.out) / "config.json", dataclasses.asdict(cfg))
    atomic_write_text(Path(cfg.out) / "table.md", table)
    return table


@cli
def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    info = D.init_distributed(cfg.device)  # joins the process group under torchrun, else nothing
    try:
        cfg = dataclasses.replace(cfg, device=str(info.device), out=D.broadcast_object(cfg.out))  # rank 0's run folder
        setup_logging(main=info.is_main)
        if info.world_size > 1:
            log.info("torchrun: %d processes (%s); this is rank %d", info.world_size, info.backend, info.rank)
        t0 = time.perf_counter()
        with undone_if_refused(cfg.out, first=lambda p: p.name in ("config.json", "run.log") or "episodes" in p.parts):
            if cfg.seeds is not None:
                table = run_seeds(cfg)
            else:
                from .pipeline import run

                table = run(cfg)
        if info.is_main:
            print(table)
            log.info("done in %.0f s; records in %s (python -m results %s)", time.perf_counter() - t0,
                     cfg.out, cfg.out)
        D.barrier()  # no rank leaves the process group while another still evaluates
    finally:
        D.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
