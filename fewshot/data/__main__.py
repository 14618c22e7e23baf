"""Command line of the data layer.

    python -m fewshot.data check --dataset ucf101 --data-root /data/ucf101 [--fold 1] [--decode ends]
    python -m fewshot.data check --dataset list --data-root D --fewshot     (your own base/val/novel lists)
    python -m fewshot.data make-toy --out toy-data [--seed 0]

`check` exits 0 when every listed video opens and decodes, 2 otherwise (problems named by file).
"""
from __future__ import annotations

import argparse

from zeroi2v.utils.errors import ArgumentParser, UserError, cli
from zeroi2v.utils.io import atomic_write_json, check_file

from zeroi2v.data import READERS, get_reader, resolve_root
from zeroi2v.data.check import check_dataset, print_report, report_json, shared_classes
from zeroi2v.data.toy import ToyConfig, config_from, make_toy


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m fewshot.data", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="scan a dataset: videos, classes, per-class counts, unreadable files")
    c.add_argument("--dataset", required=True, choices=list(READERS))
    c.add_argument("--data-root", default=None, help="dataset root (else $ZEROI2V_<DATASET>_ROOT)")
    c.add_argument("--fold", type=int, default=1, help="official fold (HMDB51/UCF101: 1-3)")
    c.add_argument("--decode", choices=("header", "ends", "full"), default="ends",
                   help="frames decoded per video: none, first/middle/last (default), or all")
    c.add_argument("--json", default=None, help="also write the report as JSON to this file")
    c.add_argument("--fewshot", action="store_true",
                   help="the splits are few-shot base / val / novel splits (e.g. --dataset list): a class in "
                        "two splits is a problem (fewshot.run refuses it)")
    c.add_argument("--content", action="store_true",
                   help="also hash every listed file: byte-identical files under two names are a duplicate "
                        "(one split) or a leak (two splits) (default: off)")
    t = sub.add_parser("make-toy", help="generate the synthetic motion dataset (H.264 mp4 + UCF101-style lists)")
    d = ToyConfig()
    t.add_argument("--out", required=True, help="output folder (created atomically)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--videos-per-class", type=int, default=d.videos_per_class)
    t.add_argument("--test-per-class", type=int, default=None,
                   help=f"videos per class in testlist01 (default {d.test_per_class}, fewer for small sets)")
    t.add_argument("--frames", type=int, default=d.frames)
    t.add_argument("--size", type=int, default=d.size)
    t.add_argument("--images-per-class", type=int, default=d.images_per_class)
    t.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    return p


@cli
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        reader = get_reader(args.dataset)
        if args.json:
            check_file("--json", args.json, example="check.json")
        root = resolve_root(args.dataset, args.data_root)
        if args.dataset == "toy" and args.data_root is None:
            print(f"checking the toy dataset at {root}")
        reports = check_dataset(reader, root, fold=args.fold, decode=args.decode, fewshot=args.fewshot,
                                content=args.content)
        status = print_report(reader, root, reports, fold=args.fold)
        shared = shared_classes(reports)
        if shared and not args.fewshot and args.dataset == "list":
            print(f"note: {len(shared)} class(es) are in several splits (e.g. {shared[0]!r}): right for "
                  "zeroi2v.train, refused by fewshot.run (base / val / novel must be disjoint; check with --fewshot)")
        if args.json:
            try:
                atomic_write_json(args.json, {"dataset": args.dataset, "root": str(root), "fold": args.fold,
                                              "status": status, "splits": report_json(reports)})
            except OSError as e:
                raise UserError(f"cannot write --json {args.json}: {e.strerror} ({e.filename}); "
                                "choose another path") from None
            print(f"wrote {args.json}")
        return status
    if args.command == "make-toy":
        for name in ("videos_per_class", "frames", "size", "images_per_class"):
            if getattr(args, name) <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive")
        if args.workers is not None and args.workers < 1:
            raise UserError(f"--workers {args.workers} must be at least 1 (1 = in this process)")
        if args.seed < 0:
            raise UserError(f"--seed {args.seed} must be non-negative")
        test = args.test_per_class
        if test is None:
            test = max(1, min(ToyConfig.test_per_class, args.videos_per_class // 4))
        config = config_from(seed=args.seed, videos_per_class=args.videos_per_class, test_per_class=test, frames=args.frames,
                             size=args.size, images_per_class=args.images_per_class)
        make_toy(args.out, config, workers=args.workers)
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
