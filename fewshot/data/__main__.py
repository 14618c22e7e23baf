"""Command line of the data layer.

    python -m fewshot.data check --dataset NAME --data-root /data/NAME [--fold 1] [--decode ends]
    python -m fewshot.data check --dataset list --data-root D --fewshot     (your own base/val/novel lists)
    python -m fewshot.data make-toy --out toy-data [--seed 0] [--kind toy_time [--pattern order|motion]]

`check` exits 0 when every listed video opens and decodes, 2 otherwise (problems named by file).
"""
from __future__ import annotations

import argparse

from zeroi2v.settings import flags
from zeroi2v.utils.errors import ArgumentParser, UserError, cli
from zeroi2v.utils.io import atomic_write_json, check_file

from zeroi2v.data import get_reader, resolve_root
from zeroi2v.data.check import check_dataset, print_report, report_json, shared_classes
from zeroi2v.data.toy import KINDS, ToyConfig, config_from, default_config, make_toy
from zeroi2v.data.toy_time import PATTERNS


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m fewshot.data", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="scan a dataset: videos, classes, per-class counts, unreadable files")
    flags.add(c, "dataset", required=True)
    flags.add(c, "data_root")
    flags.add(c, "fold")
    flags.add(c, "decoder")
    c.add_argument("--decode", choices=("header", "ends", "full"), default=None,
                   help="frames decoded per video: header (none), ends (first/middle/last) or full (all) "
                        "(default: ends)")
    flags.add(c, "json")
    c.add_argument("--fewshot", action="store_true",
                   help="the splits are few-shot base / val / novel splits (e.g. --dataset list): a class in "
                        "two splits is a problem (fewshot.run refuses it)")
    c.add_argument("--content", action="store_true",
                   help="also hash every listed file: byte-identical files under two names are a duplicate "
                        "(one split) or a leak (two splits) (default: off)")
    t = sub.add_parser("make-toy", help="generate the synthetic motion dataset (H.264 mp4 + UCF101-style lists)")
    d = ToyConfig()
    flags.add(t, "out", required=True, help="folder the toy dataset is generated into (created atomically; an "
                                            "existing complete one is reused) (required)")
    flags.add(t, "seed")
    t.add_argument("--kind", choices=KINDS, default="toy",
                   help="which toy generator: toy (motions of objects) or toy_time (the time-only toy, every frame "
                        "alike in every class) (default: toy)")
    t.add_argument("--pattern", choices=PATTERNS, default=None,
                   help="toy_time only: order (a texture tinted with 8 hues, the class is their order; the demo's) "
                        "or motion (an object's velocity on a torus, the first attempt) (default: order)")
    t.add_argument("--videos-per-class", type=int, default=d.videos_per_class,
                   help=f"videos per class (default: {d.videos_per_class})")
    t.add_argument("--test-per-class", type=int, default=None,
                   help=f"videos per class in testlist01 (default: {d.test_per_class}, fewer for small sets)")
    flags.add(t, "frames", help=f"frames per generated video (default: {d.frames})")
    flags.add(t, "size", help=f"frame size in pixels of the generated videos, even, at least 16 (default: {d.size})")
    t.add_argument("--images-per-class", type=int, default=d.images_per_class,
                   help=f"still images per class for the image pre-training (default: {d.images_per_class})")
    flags.add(t, "num_workers", help="processes writing videos; 1 = in this process (default: up to 2)")
    return p


@cli
def main(argv: list[str] | None = None) -> int:
    flags.NOTES.clear()
    args = build_parser().parse_args(argv)
    if args.command == "check":
        from zeroi2v.settings.datasets import find

        args.dataset = find(args.dataset).reader  # any spelling of the dataset
        args.fold, args.decode = args.fold or 1, args.decode or "ends"
        reader = get_reader(args.dataset)
        if args.json:
            check_file("--json", args.json, example="check.json")
        root = resolve_root(args.dataset, args.data_root)
        if args.dataset == "toy" and args.data_root is None:
            print(f"checking the toy dataset at {root}")
        flags.emit_notes()
        reports = check_dataset(reader, root, fold=args.fold, decode=args.decode, fewshot=args.fewshot,
                                content=args.content, decoder=args.decoder)
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
        d = default_config(args.kind)
        args.frames = d.frames if args.frames is None else args.frames
        args.size = d.size if args.size is None else args.size
        args.seed = d.seed if args.seed is None else args.seed
        for name in ("videos_per_class", "frames", "size", "images_per_class"):
            if getattr(args, name) <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive")
        if args.num_workers is not None and args.num_workers < 1:
            raise UserError(f"--num-workers {args.num_workers} must be at least 1 (1 = in this process)")
        if args.seed < 0:
            raise UserError(f"--seed {args.seed} must be non-negative")
        test = args.test_per_class
        if test is None:
            test = max(1, min(ToyConfig.test_per_class, args.videos_per_class // 4))
        if args.pattern is not None and args.kind != "toy_time":
            raise UserError(f"--pattern {args.pattern} is a toy_time setting; add --kind toy_time or drop --pattern")
        config = config_from(args.kind, seed=args.seed, videos_per_class=args.videos_per_class, test_per_class=test,
                             frames=args.frames, size=args.size, images_per_class=args.images_per_class,
                             pattern=args.pattern)
        flags.emit_notes()
        make_toy(args.out, config, workers=args.num_workers)
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
