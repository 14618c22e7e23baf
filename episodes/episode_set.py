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
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_bytes

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


class EpisodeList(list):
    """The episodes of a file, with `lines[i]` = the file line of episode i (for error messages)."""

    lines: list[int]
    source: str


def _where(episodes: Sequence[dict], i: int, source: str) -> str:
    lines = getattr(episodes, "lines", None)
    return f"{source}:{lines[i]}" if lines is not None and i < len(lines) else f"{source}: episode {i + 1}"


def _is_id_lists(v: Any, ways: int) -> bool:
    return (isinstance(v, list) and len(v) == ways
            and all(isinstance(c, list) and all(isinstance(x, str) and x for x in c) for c in v))


def validate_episode(ep: Any, *, where: str = "episode") -> dict:
    """Check one episode's structure: keys and JSON types, >= 2 distinct classes, one non-empty
    support and query list per class with equal lengths, no video twice."""
    if not isinstance(ep, dict) or tuple(sorted(ep)) != KEYS:
        raise UserError(f"{where}: expected an object with keys {', '.join(KEYS)}; regenerate the "
                        "episode file with `python -m episodes sample`")
    classes = ep["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise UserError(f"{where}: 'classes' must be a list of class names (strings)")
    if not isinstance(ep["index"], int) or isinstance(ep["index"], bool) or ep["index"] < 0:
        raise UserError(f"{where}: 'index' must be an integer >= 0, got {ep['index']!r}")
    ways = len(classes)
    if ways < 2:
        raise UserError(f"{where}: {ways} class(es); an episode needs at least 2 ways (1-way is 100 % "
                        "by construction)")
    if len(set(classes)) != ways:
        raise UserError(f"{where}: a class is listed twice in 'classes'; each way is one class")
    for key in ("support", "query"):
        if not _is_id_lists(ep[key], ways):
            raise UserError(f"{where}: '{key}' needs one list per class ({ways} classes), each a list "
                            "of video ids (strings)")
        if any(not c for c in ep[key]):
            raise UserError(f"{where}: an empty '{key}' list; every class needs its videos")
    if len({len(v) for v in ep["support"]}) != 1 or len({len(v) for v in ep["query"]}) != 1:
        raise UserError(f"{where}: every class needs the same number of support and query videos")
    ids = [v for vs in ep["support"] + ep["query"] for v in vs]
    if len(set(ids)) != len(ids):
        raise UserError(f"{where}: a video appears twice (support and query must be disjoint)")
    return ep


def check_unique(episodes: Sequence[dict], *, source: str) -> None:
    """Each episode index once, and not the same episodes over again (a file concatenated with
    itself, renumbered or not): both would count episodes twice and narrow the CI by sqrt(2).
    Two equal episodes under different indices are allowed: the sampler draws with replacement,
    and on a small split it draws the same episode again."""
    seen: dict[int, int] = {}
    for i, ep in enumerate(episodes):
        j = seen.setdefault(ep["index"], i)
        if j != i:
            raise UserError(f"{_where(episodes, i, source)}: episode index {ep['index']} again (first at "
                            f"{_where(episodes, j, source).rpartition(':')[2]}); each episode once -- was the file "
                            "listed or concatenated twice? regenerate it with `python -m episodes sample`")
    n = len(episodes)
    if n < 2:
        return
    body = [json.dumps({k: v for k, v in ep.items() if k != "index"}, sort_keys=True) for ep in episodes]
    for p in range(1, n // 2 + 1):
        if n % p == 0 and all(body[k] == body[k % p] for k in range(p, n)):
            raise UserError(f"episode file {source}: its {n} episodes are the first {p} repeated {n // p} "
                            "times; each episode once -- regenerate it with `python -m episodes sample`")


def validate_episode_set(episodes: Sequence[dict], split_entries: Sequence[SplitEntry], *,
                         source: str) -> None:
    """Check every episode against the split it claims to sample (a one-line UserError naming the
    file line otherwise): each episode once (`check_unique`), the structure (`validate_episode`), the same ways/shots/queries in every
    episode, each class a class of the split, each video a video of the split listed under its
    own class (catches rotated rows, base-class videos in test episodes, foreign ids)."""
    if not episodes:
        raise UserError(f"episode file {source} is empty; regenerate it")
    check_unique(episodes, source=source)
    class_of = {e.video_id: e.class_key for e in split_entries}
    classes = set(class_of.values())
    shape = None
    for i, ep in enumerate(episodes):
        where = _where(episodes, i, source)
        validate_episode(ep, where=where)
        s = (len(ep["classes"]), len(ep["support"][0]), len(ep["query"][0]))
        if shape is not None and s != shape:
            raise UserError(f"{where}: {s[0]} ways, {s[1]} shots, {s[2]} queries, but the first episode "
                            f"has {shape[0]}, {shape[1]}, {shape[2]}; one episode file holds one setting")
        shape = s
        for c in ep["classes"]:
            if c not in classes:
                raise UserError(f"{where}: class {c!r} is not a class of the split the file is used "
                                "with; sample the episode set for this dataset and split")
        for c, sup, qry in zip(ep["classes"], ep["support"], ep["query"]):
            for v in sup + qry:
                if v not in class_of:
                    raise UserError(f"{where}: video {v!r} is not in the split the file is used with "
                                    "(another split's or dataset's video); regenerate the episode file")
                if class_of[v] != c:
                    raise UserError(f"{where}: video {v!r} is listed under class {c!r} but belongs to "
                                    f"{class_of[v]!r}; regenerate the episode file")


def read_episode_set(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL episode set written by `write_episode_set` (or by hand), checking each
    episode's structure (`validate_episode`); one-line UserErrors name the file and line."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"episode file {path} is a directory; pass a .jsonl file written by "
                        "`python -m episodes sample`")
    if not path.is_file():
        raise UserError(f"episode file {path} not found; create it with `python -m episodes sample`")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read episode file {path}: {e.strerror}; check its permissions") from None
    out = EpisodeList()
    out.lines, out.source = [], str(path)
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path}:{n}: not UTF-8 text; regenerate the episode file") from None
        if not line.strip():
            continue
        try:
            ep = json.loads(line)
        except ValueError as e:  # JSONDecodeError, or an integer too long to parse
            msg = getattr(e, "msg", "malformed")
            raise UserError(f"{path}:{n}: not JSON ({msg}); regenerate the episode file") from None
        except RecursionError:
            raise UserError(f"{path}:{n}: not an episode (nested too deeply); regenerate the "
                            "episode file") from None
        out.append(validate_episode(ep, where=f"{path}:{n}"))
        out.lines.append(n)
    if not out:
        raise UserError(f"episode file {path} is empty; regenerate it")
    check_unique(out, source=str(path))
    return out


def describe_episode_set(episodes: Sequence[dict]) -> dict[str, Any]:
    """Summary for result records: episodes, ways, shots, queries (of episode 0) and the hash."""
    e = episodes[0]
    return {"episodes": len(episodes), "ways": len(e["classes"]), "shots": len(e["support"][0]),
            "queries": len(e["query"][0]), "hash": episode_set_hash(episodes)}
