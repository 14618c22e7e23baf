"""Episode sets and all-way K-shot lists from the command line.

    python -m episodes sample --dataset ssv2_full --split test --ways 5 --shots 5 --queries 1 \\
        --episodes 10000 --seed 0 --episodes-file F.jsonl
    python -m episodes allway --dataset NAME --data-root R --shots 2,4,8,16 --folds 3 --seed 0 --out DIR
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from episodes import allway, episode_set, splits
from zeroi2v.settings import flags
from zeroi2v.utils.errors import ArgumentParser, UserError, cli
from zeroi2v.utils.io import atomic_write_text, check_dir, check_file


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m episodes", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="write a seeded N-way K-shot episode set as JSONL")
    flags.add(s, "dataset", required=True)
    flags.add(s, "split")
    for dest in ("ways", "queries", "episodes", "seed"):
        flags.add(s, dest)
    flags.add(s, "shots", help="K support videos per class: one value, an episode set has one K (default: 1)")
    flags.add(s, "data_root", help="dataset root where the split files live under it: toy (default: the generated "
                                   "set in the cache) and list (D with train.txt, val.txt, test.txt)")
    flags.add(s, "episodes_file", old=("--out",), help="write the episode set to this .jsonl file (a .meta.json "
                                                        "is written beside it) (required)")
    a = sub.add_parser("allway", help="write all-way K-shot training lists (X-CLIP protocol)")
    flags.add(a, "dataset", required=True)
    flags.add(a, "data_root")
    flags.add(a, "fold", old=("--list-fold",))
    flags.add(a, "shots", help=f"K, or a list such as 2,4,8,16 (default: {','.join(map(str, allway.ALLWAY_SHOTS))})")
    a.add_argument("--folds", type=int, default=3, help="random K-shot subsets (folds) per K (default: 3)")
    flags.add(a, "seed")
    flags.add(a, "out", required=True, help="folder the list files are written into (required)")
    return p


def cmd_sample(args: argparse.Namespace) -> int:
    args.split = args.split or "test"
    splits.check_dataset_split(args.dataset, args.split)
    args.dataset = splits.fewshot_dataset(args.dataset)  # any spelling of the dataset (its record's split set)
    fill = dict(ways=5, queries=1, episodes=10_000, seed=0, shots=(1,))
    for k, v in fill.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if len(args.shots) != 1:
        raise UserError(f"--shots {','.join(map(str, args.shots)) or '(none)'}: an episode set has one K; run "
                        f"sample once per K")
    args.shots = args.shots[0]
    if not args.episodes_file:
        raise UserError("--episodes-file FILE.jsonl is required: where to write the episode set")
    typed = "--out" if any(n.startswith("note: --out ") for n in flags.NOTES) else "--episodes-file"  # as given
    check_file(typed, args.episodes_file, example="episodes.jsonl")
    if args.data_root is not None and not splits.rooted(args.dataset):
        raise UserError(f"--data-root is not used by --dataset {args.dataset} (its split is shipped); "
                        f"drop it, or use --dataset list for your own list files")
    entries = splits.load_split(args.dataset, args.split, root=args.data_root)
    eps = episode_set.sample_episode_set(entries, args.ways, args.shots, args.queries, args.episodes,
                                         args.seed, source=f"{args.dataset} {args.split}")
    out = Path(args.episodes_file)
    flags.emit_notes()
    try:
        digest = episode_set.write_episode_set(out, eps)
        meta = {"dataset": args.dataset, "split": args.split, "ways": args.ways, "shots": args.shots,
                "queries": args.queries, "episodes": args.episodes, "seed": args.seed,
                "split_videos": len(entries), "episode_set_hash": digest}
        atomic_write_text(out.with_suffix(".meta.json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise UserError(f"cannot write {e.filename or out}: {e.strerror}; choose another --episodes-file") from None
    print(f"wrote {out} ({len(eps)} episodes, {args.dataset} {args.split} {args.ways}-way "
          f"{args.shots}-shot {args.queries}-query, seed {args.seed}) sha256 {digest}")
    return 0


def cmd_allway(args: argparse.Namespace) -> int:
    from zeroi2v import data  # torch-heavy; only this subcommand needs it
    from zeroi2v.settings.datasets import find

    args.dataset = find(args.dataset).reader  # any spelling; the lists are named after the reader
    args.shots = list(args.shots) if args.shots is not None else list(allway.ALLWAY_SHOTS)
    args.seed = 0 if args.seed is None else args.seed
    check_dir("--out", args.out)
    root = data.resolve_root(args.dataset, args.data_root)
    items = data.list_videos(args.dataset, root, "train", fold=args.fold or 1)
    print(f"read {len(items)} training videos of {args.dataset} from {root}")
    subsets = allway.allway_subsets([(v.video_id, v.label) for v in items], args.shots, args.folds,
                                    args.seed, class_names={v.label: v.class_name for v in items})
    try:
        written = allway.write_allway_lists(args.out, args.dataset, subsets)
    except OSError as e:
        raise UserError(f"cannot write {e.filename or args.out}: {e.strerror}; choose another --out") from None
    flags.emit_notes()
    for path, lines, digest in written:
        print(f"wrote {path} ({lines} lines) sha256 {digest}")
    return 0


@cli
def main(argv: list[str] | None = None) -> int:
    flags.NOTES.clear()
    args = build_parser().parse_args(argv)
    return {"sample": cmd_sample, "allway": cmd_allway}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
