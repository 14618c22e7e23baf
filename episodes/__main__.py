"""Episode sets and all-way K-shot lists from the command line.

    python -m episodes sample --dataset ssv2_full --split test --ways 5 --shots 5 --queries 1 \\
        --episodes 10000 --seed 0 --out F.jsonl
    python -m episodes allway --dataset ucf101 --data-root R --shots 2,4,8,16 --folds 3 --seed 0 --out DIR
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from episodes import allway, episode_set, splits
from zeroi2v.utils.errors import ArgumentParser, UserError, cli
from zeroi2v.utils.io import atomic_write_text, check_dir, check_file


def _shots_list(text: str) -> list[int]:
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m episodes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="write a seeded N-way K-shot episode set as JSONL")
    s.add_argument("--dataset", required=True, help=f"one of {', '.join(splits.FEWSHOT_DATASETS)}")
    s.add_argument("--split", default="test", help="train, val or test (default test)")
    s.add_argument("--ways", type=int, default=5)
    s.add_argument("--shots", type=int, default=1)
    s.add_argument("--queries", type=int, default=1)
    s.add_argument("--episodes", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--data-root", default=None,
                   help="dataset root for --dataset toy (default: the generated cache) and --dataset list "
                        "(D with train.txt, val.txt, test.txt)")
    s.add_argument("--out", required=True, help="output .jsonl; a .meta.json is written beside it")
    a = sub.add_parser("allway", help="write all-way K-shot training lists (X-CLIP protocol)")
    a.add_argument("--dataset", required=True,
                   help="a data-layer reader: ucf101, hmdb51, kinetics, ssv2, toy, list (your own list files)")
    a.add_argument("--data-root", default=None)
    a.add_argument("--shots", type=_shots_list, default=list(allway.ALLWAY_SHOTS), help="e.g. 2,4,8,16")
    a.add_argument("--folds", type=int, default=3)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--list-fold", type=int, default=1, help="official train/test split number (HMDB51/UCF101)")
    a.add_argument("--out", required=True, help="output directory")
    return p


def cmd_sample(args: argparse.Namespace) -> int:
    splits.check_dataset_split(args.dataset, args.split)
    check_file("--out", args.out, example="episodes.jsonl")
    if args.data_root is not None and args.dataset not in splits.ROOTED:
        raise UserError(f"--data-root is not used by --dataset {args.dataset} (its split is shipped); "
                        f"drop it, or use --dataset list for your own list files")
    entries = splits.load_split(args.dataset, args.split, root=args.data_root)
    eps = episode_set.sample_episode_set(entries, args.ways, args.shots, args.queries, args.episodes,
                                         args.seed, source=f"{args.dataset} {args.split}")
    out = Path(args.out)
    try:
        digest = episode_set.write_episode_set(out, eps)
        meta = {"dataset": args.dataset, "split": args.split, "ways": args.ways, "shots": args.shots,
                "queries": args.queries, "episodes": args.episodes, "seed": args.seed,
                "split_videos": len(entries), "episode_set_hash": digest}
        atomic_write_text(out.with_suffix(".meta.json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise UserError(f"cannot write {e.filename or out}: {e.strerror}; choose another --out") from None
    print(f"wrote {out} ({len(eps)} episodes, {args.dataset} {args.split} {args.ways}-way "
          f"{args.shots}-shot {args.queries}-query, seed {args.seed}) sha256 {digest}")
    return 0


def cmd_allway(args: argparse.Namespace) -> int:
    from zeroi2v import data  # torch-heavy; only this subcommand needs it

    if args.dataset not in data.READERS:
        raise UserError(f"unknown dataset {args.dataset!r}; choose one of {', '.join(data.READERS)}")
    check_dir("--out", args.out)
    root = data.resolve_root(args.dataset, args.data_root)
    items = data.list_videos(args.dataset, root, "train", fold=args.list_fold)
    print(f"read {len(items)} training videos of {args.dataset} from {root}")
    subsets = allway.allway_subsets([(v.video_id, v.label) for v in items], args.shots, args.folds,
                                    args.seed, class_names={v.label: v.class_name for v in items})
    try:
        written = allway.write_allway_lists(args.out, args.dataset, subsets)
    except OSError as e:
        raise UserError(f"cannot write {e.filename or args.out}: {e.strerror}; choose another --out") from None
    for path, lines, digest in written:
        print(f"wrote {path} ({lines} lines) sha256 {digest}")
    return 0


@cli
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return {"sample": cmd_sample, "allway": cmd_allway}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
