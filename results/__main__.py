"""`python -m results DIR [DIR ...]`: confidence-interval tables and plots from result records.

Reads every record under the run directories (recursive), skipping malformed ones with a warning,
and prints the tables (few-shot, paired differences, all-way K-shot, full-supervised, efficiency)
to stdout in `--format` (default Markdown). With `--out OUTDIR` the tables are also written there,
one file per table per format (all three formats unless `--format` is given), plus plots
(PNG + SVG) unless `--no-plots`: accuracy vs shots, and training curves (loss, validation metric,
lr per epoch) from every `metrics.csv` under the run directories. Several seeds of one setting
are aggregated (mean ± t-interval over seeds, n seeds shown), never dropped; see results.load for
what counts as the same measurement. Warnings and the summary line go to stderr.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from zeroi2v.settings import flags
from zeroi2v.settings.runfolder import check_run_folder
from zeroi2v.utils.errors import ArgumentParser, UserError, cli
from zeroi2v.utils.io import atomic_write_text, check_dir

from . import curves as curves_mod
from . import formats, load, tables


@dataclass(frozen=True)
class ReportConfig:
    run_dirs: tuple[str, ...]
    formats: tuple[str, ...]
    out: str | None
    plots: bool
    bench: tuple[str, ...]
    decimals: int


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m results", description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", metavar="DIR",
                   help="run directories (searched recursively)")
    p.add_argument("--format", action="append", choices=formats.FORMATS, dest="formats",
                   help="table format (repeatable) (default: markdown on stdout, all formats "
                        "written with --out)")
    g = p.add_argument_group("output")
    flags.add(g, "out", help="folder the tables and plots are written into; an existing non-empty one is refused "
                             "unless --overwrite (default: none, tables on stdout only)")
    g.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty --out, replacing the files of an earlier report there")
    g.add_argument("--plots", action=argparse.BooleanOptionalAction, default=None,
                   help="write PNG+SVG plots (default: on with --out; needs --out)")
    p.add_argument("--bench", action="append", default=[], metavar="F.json",
                   help="benchmark JSON from python -m zeroi2v.bench (bench*.json under the run "
                        "dirs are found automatically) (default: none)")
    p.add_argument("--decimals", type=int, default=1, help="decimals in the tables (default: 1)")
    return p


def parse_args(argv: list[str] | None) -> ReportConfig:
    a = build_parser().parse_args(argv)
    if a.plots and not a.out:
        raise UserError("--plots needs --out OUTDIR to write the images into; add --out")
    if not 0 <= a.decimals <= 6:
        raise UserError(f"--decimals {a.decimals} is out of range; use 0 to 6")
    check_dir("--out", a.out)
    check_run_folder(a.out, resume=a.overwrite, fix="pass --overwrite to replace that report, or choose another "
                                                    "--out")
    fmts = tuple(dict.fromkeys(a.formats)) if a.formats else (
        formats.FORMATS if a.out else ("markdown",))
    return ReportConfig(run_dirs=tuple(a.run_dirs), formats=fmts, out=a.out,
                        plots=bool(a.out) if a.plots is None else a.plots,
                        bench=tuple(a.bench), decimals=a.decimals)


def _warn_caught(caught) -> None:
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


def _read(cfg: ReportConfig) -> load.Loaded:
    for d in (*cfg.run_dirs, *cfg.bench):
        if not Path(d).exists():
            raise UserError(f"{d} does not exist; pass run directories or bench files written "
                            "by python -m fewshot.run, zeroi2v.train or zeroi2v.bench")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", load.RecordWarning)
        loaded = load.read_records(*cfg.run_dirs, bench_files=list(cfg.bench))
    _warn_caught(caught)
    return loaded


def _write(cfg: ReportConfig, built, loaded: load.Loaded, curves) -> list[Path]:
    """Tables in every format and the plots under --out; the written files."""
    written: list[Path] = []
    if not cfg.out:
        return written
    out = Path(cfg.out)
    for fmt in cfg.formats:
        for t in built:
            path = out / f"{t.name}.{formats.EXTENSIONS[fmt]}"
            atomic_write_text(path, formats.render(t, fmt, decimals=cfg.decimals))
            written.append(path)
    if cfg.plots:
        from .plots import write_plots

        written += write_plots(loaded.records, out)
        written += curves_mod.plot_curves(curves, out)
    return written


@cli
def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    loaded = _read(cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", load.RecordWarning)
        curves = curves_mod.load_curves(*cfg.run_dirs)
    _warn_caught(caught)
    where = " ".join(cfg.run_dirs)
    if loaded.records.empty and not loaded.bench and not curves:
        raise UserError(f"no result records under {where}; run python -m fewshot.run or "
                        "python -m zeroi2v.train first")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", load.RecordWarning)
        built = tables.build_tables(loaded.records, loaded.bench)
    _warn_caught(caught)
    print(formats.render_all(built, cfg.formats[0], decimals=cfg.decimals), end="")
    try:
        written = _write(cfg, built, loaded, curves)
    except OSError as e:
        raise UserError(f"cannot write {e.filename or cfg.out}: {e.strerror}; free space or choose "
                        "another --out") from None
    if written:
        print(f"wrote {len(written)} file(s) to {cfg.out}", file=sys.stderr)
    if curves:
        print(curves_mod.describe(curves), file=sys.stderr)
    skipped = ", ".join(str(s.path) for s in loaded.skipped)
    print(f"{loaded.n_read} record(s) read, {len(loaded.skipped)} skipped"
          + (f" ({skipped})" if skipped else "")
          + (f", {len(loaded.superseded)} superseded by newer records" if loaded.superseded else "")
          + (f", {len(loaded.bench)} benchmark file(s)" if loaded.bench else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
