"""A "your own videos" list dataset for tests: tiny toy-motion videos + train/val/test list files.

    root = make_list_dataset(tmp_path / "mine")       # 20 classes: 10 base / 4 val / 6 novel

Layout (what a user writes by hand)::

    root/videos/<class>/<class>_<i>.mp4
    root/train.txt  val.txt  test.txt     "videos/<class>/<class>_<i>.mp4 <class>"
    root/classes.txt                      only with labels="index": one class name per line
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SPLIT = (10, 4, 6)


def make_list_dataset(root: Path, *, split: tuple[int, int, int] = SPLIT, videos_per_class: int = 8,
                      frames: int = 8, size: int = 32, labels: str = "name", seed: int = 0,
                      shared_classes: bool = False) -> Path:
    """Write a list dataset of sum(split) toy-motion classes (each a motion, every video a random
    look) as base / val / novel list files (few-shot: disjoint classes), or with `shared_classes`
    every class in all three files (full-supervised: the last two videos of a class go to val and
    test). `labels`: "name" (class names in the lists) or "index" (integer labels + classes.txt)."""
    from zeroi2v.data.toy_motion import MOTIONS
    from zeroi2v.data.toy_render import encode_mp4, render_video

    names = list(MOTIONS)[: sum(split)]
    assert len(names) == sum(split), f"at most {len(MOTIONS)} classes"
    root = Path(root)
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    bounds = np.cumsum((0,) + tuple(split))
    for k, cls in enumerate(names):
        part = ("train", "val", "test")[int(np.searchsorted(bounds, k, side="right")) - 1]
        for i in range(videos_per_class):
            if shared_classes:
                part = "val" if i == videos_per_class - 2 else "test" if i == videos_per_class - 1 else "train"
            rel = f"videos/{cls}/{cls}_{i}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            video = render_video(cls, np.random.default_rng([seed, k, i]), frames=frames, size=size)
            encode_mp4(root / rel, video, fps=8)
            lines[part].append(f"{rel} {cls if labels == 'name' else k}")
    for part, rows in lines.items():
        (root / f"{part}.txt").write_text("\n".join(rows) + "\n")
    if labels == "index":
        (root / "classes.txt").write_text("\n".join(names) + "\n")
    return root
