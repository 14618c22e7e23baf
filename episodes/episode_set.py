"""Episode sets as data: JSON-able episodes of video ids, a canonical JSONL file, a content hash.

One line per episode, keys sorted, no spaces, `\\n` endings:
    {"classes":["fencing",...],"index":0,"query":[["fencing/a.avi"],...],"support":[["fencing/b.avi"],...]}
`episode_set_hash` is the sha256 of exactly those bytes, so it equals `sha256_file` of a written set.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from episodes.sampler import EpisodeSampler
from episodes.splits import SplitEntry
from zeroi2v.errors import UserError
from zeroi2v.io import atomic_write_bytes

KEYS = ("classes", "index", "query", "support")


class LazyEpisodeSet:
    """Indexable view of an episode set drawn from split entries; item `i` is computed on demand
    (a map-style Dataset: identical items for any DataLoader worker count)."""

    def __init__(self, entries: Sequence[SplitEntry], *, ways: int = 5, shots: int = 1,
                 queries: int = 1, episodes: int = 10_000, seed: int = 0,
                 source: str = "the split") -> None:
        self.ids = [e.video_id for e in entries]
        keys = {e.label: e.class_key for e in entries}
        self.sampler = EpisodeSampler([e.label for e in entries], ways=ways, shots=shots,
                                      queries=queries, seed=seed, episodes=episodes, source=source)
        self.class_keys = {int(c): keys[int(c)] for c in self.sampler.classes}

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s, e = self.sampler, self.sampler.episode(i)
        ids = self.ids
        return {"index": e.index, "classes": [self.class_keys[c] for c in e.classes],
                "support": [[ids[j] for j in e.support[w * s.shots:(w + 1) * s.shots]] for w in range(s.ways)],
                "query": [[ids[j] for j in e.query[w * s.queries:(w + 1) * s.queries]] for w in range(s.ways)]}


def sample_episode_set(entries: Sequence[SplitEntry], ways: int = 5, shots: int = 1, queries: int = 1,
                       episodes: int = 10_000, seed: int = 0, *, source: str = "the split") -> list[dict]:
    """`episodes` episodes (JSON-able dicts of class keys and video ids) from a split's entries."""
    view = LazyEpisodeSet(entries, ways=ways, shots=shots, queries=queries, episodes=episodes,
                          seed=seed, source=source)
    return [view[i] for i in range(len(view))]


def _canonical(episodes: Sequence[dict]) -> bytes:
    return "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n"
                   for e in episodes).encode("utf-8")


def episode_set_hash(episodes: Sequence[dict]) -> str:
    """sha256 of the canonical JSONL content (== sha256 of the file `write_episode_set` writes)."""
    return hashlib.sha256(_canonical(episodes)).hexdigest()


def write_episode_set(path: str | os.PathLike, episodes: Sequence[dict]) -> str:
    """Write the set atomically as canonical JSONL; returns its hash."""
    data = _canonical(episodes)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def validate_episode(ep: Any, *, where: str = "episode") -> dict:
    """Check one episode's structure (keys, equal shots/queries per class, disjoint ids)."""
    if not isinstance(ep, dict) or tuple(sorted(ep)) != KEYS:
        raise UserError(f"{where}: expected an object with keys {', '.join(KEYS)}")
    ways = len(ep["classes"])
    if ways < 1 or len(ep["support"]) != ways or len(ep["query"]) != ways:
        raise UserError(f"{where}: 'support' and 'query' need one list per class ({ways} classes)")
    if len({len(v) for v in ep["support"]}) != 1 or len({len(v) for v in ep["query"]}) != 1:
        raise UserError(f"{where}: every class needs the same number of support and query videos")
    ids = [v for vs in ep["support"] + ep["query"] for v in vs]
    if len(set(ids)) != len(ids):
        raise UserError(f"{where}: a video appears twice (support and query must be disjoint)")
    return ep


def read_episode_set(path: str | os.PathLike) -> list[dict]:
    """Read and validate a JSONL episode set written by `write_episode_set` (or by hand)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"episode file {path} not found; create it with `python -m episodes sample`")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ep = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not JSON ({e.msg}); regenerate the episode file") from None
            out.append(validate_episode(ep, where=f"{path}:{n}"))
    if not out:
        raise UserError(f"episode file {path} is empty; regenerate it")
    return out


def describe_episode_set(episodes: Sequence[dict]) -> dict[str, Any]:
    """Summary for result records: episodes, ways, shots, queries (of episode 0) and the hash."""
    e = episodes[0]
    return {"episodes": len(episodes), "ways": len(e["classes"]), "shots": len(e["support"][0]),
            "queries": len(e["query"][0]), "hash": episode_set_hash(episodes)}
