"""`python -m fewshot.data check`: scan a dataset and report per split what a run would read.

Per split: number of videos, classes, per-class counts, and every problem a run would reject
(malformed / non-UTF-8 annotation line, a path leaving the root, missing file, unreadable /
truncated / zero-frame video, an empty split, a video listed twice in one list, a video in two
splits; for the toy set's episodic splits and `--fewshot` list datasets also a class in two of
the base / val / novel splits). Video ids are compared in their normalised spelling
(`videos/./a.mp4` = `videos//a.mp4` = `videos/a.mp4`). With `content=True` (`--content`) every
listed file is also hashed (sha256): byte-identical files under different names are one video
listed twice (within a split) or a leak (across splits). Exit status 0 when all is well, 2 when
anything is wrong (the problems are listed by file name).
"""
from __future__ import annotations

import collections
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zeroi2v.utils.errors import UserError

from zeroi2v.data.common import BadData, Problem
from zeroi2v.data.listfile import normalise_id
from zeroi2v.data.registry import Reader, check_fold, resolve_dir
from zeroi2v.data.decode import VideoError, probe


@dataclass
class SplitReport:
    split: str
    videos: int = 0
    classes: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_toy_splits(root: Path, known: set[str]) -> list[str]:
    """The episodic split files of the toy set must name videos of its lists, each once, and the
    base / val / novel classes must be disjoint."""
    from zeroi2v.data.common import read_text

    problems = []
    split_of: dict[str, str] = {}
    class_of: dict[str, str] = {}
    for split in ("train", "val", "test"):
        path = root / "splits" / f"{split}.txt"
        if not path.is_file():
            problems.append(f"{path}: episodic split file missing")
            continue
        try:
            lines = read_text(path, what="split file").splitlines()
        except UserError as e:
            problems.append(str(e))
            continue
        if not any(line.strip() for line in lines):
            problems.append(f"{path}: episodic split lists no videos")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            vid = line.split("//videos/", 1)[-1]
            if "//videos/" not in line or vid not in known:
                problems.append(f"{path}:{number}: names no listed video ({line!r})")
                continue
            if vid in split_of:
                where = "this file" if split_of[vid] == split else f"the {split_of[vid]} split"
                problems.append(f"{path}:{number}: video {vid} is listed again (already in {where})")
            split_of.setdefault(vid, split)
            cls = vid.split("/")[0]
            if class_of.setdefault(cls, split) != split:
                problems.append(f"{path}:{number}: class {cls} is also in the {class_of[cls]} split "
                                "(base / val / novel classes must be disjoint)")
                class_of[cls] = split  # report each class once per pair of splits
    return problems


def duplicate_problems(split: str, items) -> list[str]:
    """A video listed more than once in one split's lists."""
    counts = collections.Counter(normalise_id(item.video_id) for item in items)
    return [f"video {vid} is listed {n} times in the {split} list(s); list each video once"
            for vid, n in counts.items() if n > 1]


def overlap_problems(ids_by_split: dict[str, set[str]]) -> list[str]:
    """A video in two splits (train and test lists would leak test videos into training)."""
    problems = []
    names = list(ids_by_split)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(ids_by_split[a] & ids_by_split[b])
            if both:
                problems.append(f"{len(both)} video(s) are in both the {a} and the {b} list "
                                f"(first: {both[0]}); a video belongs to one split")
    return problems


def content_problems(items_by_split: dict[str, list]) -> list[str]:
    """Byte-identical files listed under different ids: twice in one split, or in two splits (a leak)."""
    from zeroi2v.utils.io import sha256_file

    by_hash: dict[str, dict[str, str]] = {}  # sha256 -> {video id: split}
    for split, items in items_by_split.items():
        for item in items:
            try:
                digest = sha256_file(item.path)
            except OSError:
                continue  # missing or unreadable: reported by the listing and decoding checks
            by_hash.setdefault(digest, {}).setdefault(normalise_id(item.video_id), split)
    problems = []
    for digest, ids in sorted(by_hash.items()):
        if len(ids) > 1:
            (a, sa), (b, sb) = sorted(ids.items())[:2]
            where = f"both in the {sa} list" if sa == sb else f"in the {sa} and the {sb} list (a leak)"
            problems.append(f"{len(ids)} listed files have identical bytes (sha256 {digest[:12]}): {a} and {b}, "
                            f"{where}; the same video under two names -- list it once")
    return problems


def class_overlap_problems(classes_by_split: dict[str, set[str]]) -> list[str]:
    """Few-shot list datasets: base / val / novel classes must be disjoint."""
    problems = []
    names = list(classes_by_split)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(classes_by_split[a] & classes_by_split[b])
            if both:
                problems.append(f"class {both[0]!r} (and {len(both) - 1} more) is in both the {a} and the {b} "
                                "split; few-shot base / val / novel classes must be disjoint")
    return problems


def check_dataset(reader: Reader, root, *, fold: int = 1, decode: str = "ends", show=print,
                  fewshot: bool = False, content: bool = False, decoder: str | None = "auto") -> list[SplitReport]:
    from tqdm import tqdm

    root = resolve_dir(root, reader)
    check_fold(reader, fold)
    reports, seen = [], set()
    ids_by_split: dict[str, set[str]] = {}
    items_by_split: dict[str, list] = {}
    classes_by_split: dict[str, set[str]] = {}
    for split in reader.splits_at(root):
        bad = BadData("skip", what=f"{reader.name} {split}", log_each=False)
        report = SplitReport(split)
        try:
            items = reader.list_split(root, split, fold=fold, bad=bad)
        except UserError as e:  # a missing or unparseable annotation file: nothing to scan in this split
            report.problems.append(str(e))
            reports.append(report)
            continue
        report.problems.extend(str(p) for p in bad.problems)
        report.problems.extend(duplicate_problems(split, items))
        ids_by_split[split] = {normalise_id(item.video_id) for item in items}
        items_by_split[split] = items
        classes_by_split[split] = {item.class_name for item in items}
        for item in tqdm(items, desc=f"{reader.name} {split}", unit="video", file=sys.stderr, leave=False):
            if item.path in seen:
                continue
            try:
                probe(item.path, decode=decode, decoder=decoder)
            except VideoError as e:
                report.problems.append(str(Problem(str(item.path), str(e))))
        seen.update(item.path for item in items)
        counts = collections.Counter(item.class_name for item in items)
        report.videos, report.classes = len(items), len(counts)
        report.per_class = dict(sorted(counts.items(), key=lambda kv: kv[0].lower()))
        if not items:
            report.problems.append(f"split {split} lists no videos")
        reports.append(report)
    cross = overlap_problems(ids_by_split)
    if content:
        cross += content_problems(items_by_split)
    if fewshot:
        cross += class_overlap_problems(classes_by_split)
    if cross:
        reports.append(SplitReport("across splits", problems=cross))
    if reader.name in ("toy", "toy_time"):
        known = {p.relative_to(root / "videos").as_posix() for p in (root / "videos").glob("*/*")} if (root / "videos").is_dir() else set()
        extra = check_toy_splits(root, known)
        if extra:
            reports.append(SplitReport("splits/ (episodic)", problems=extra))
    return reports


def print_report(reader: Reader, root, reports: list[SplitReport], *, fold: int, show=print) -> int:
    """Print the reports; return the exit status (0 fine, 2 problems)."""
    show(f"{reader.name} at {root}" + (f" (fold {fold})" if len(reader.folds) > 1 else ""))
    total_problems = 0
    for r in reports:
        counts = list(r.per_class.values())
        span = f" ({min(counts)}-{max(counts)} per class)" if counts else ""
        show(f"split {r.split}: {r.videos} videos, {r.classes} classes{span}, {len(r.problems)} problem(s)")
        total_problems += len(r.problems)
    listed = [r for r in reports if r.per_class]
    names = sorted({c for r in listed for c in r.per_class}, key=str.lower)
    if names:
        width = max(len("class"), *(len(c) for c in names))
        show("per-class counts:")
        show(f"  {'class':<{width}}" + "".join(f"  {r.split:>7}" for r in listed))
        for name in names:
            show(f"  {name:<{width}}" + "".join(f"  {r.per_class.get(name, 0):>7}" for r in listed))
    for r in reports:
        for p in r.problems:
            show(f"PROBLEM [{r.split}] {p}")
    videos = sum(r.videos for r in reports)
    if total_problems:
        show(f"FAILED: {total_problems} problem(s) in {reader.name} ({videos} videos listed); see PROBLEM lines above")
        return 2
    show(f"OK: {len(reports)} split(s), {videos} videos, no problems")
    return 0


def shared_classes(reports: list[SplitReport]) -> list[str]:
    """Class names that appear in more than one split's lists (sorted)."""
    seen = collections.Counter(c for r in reports for c in r.per_class)
    return sorted(c for c, n in seen.items() if n > 1)


def report_json(reports: list[SplitReport]) -> list[dict]:
    return [asdict(r) for r in reports]
