"""Per-stage CPU time of the data path: where a clip's decode and augmentation time goes.

The loader marks its stages (`stage("decode")`, `stage("randaugment.Rotate")`, ...); they cost one
function call when nothing records. Inside `with recording() as rec:` each stage's time is added to
`rec.seconds[name]`, exclusive of the stages nested in it (a RandAugment op inside the crop stage counts
once, as the op), so the stages of one clip add up to the time spent inside them. The clock is
`time.process_time` (this process, all threads: decord decodes in a thread of its own).
"""
from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Iterator

_ACTIVE: list["Recorder"] = []  # the recorder of this process while `recording()` runs


class Recorder:
    """Exclusive seconds and call counts per stage name."""

    def __init__(self, clock=time.process_time):
        self.clock = clock
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []  # [name, start, time of nested stages]

    def add(self, other: "Recorder") -> None:
        """Add `other`'s times and calls to these."""
        for name, t in other.seconds.items():
            self.seconds[name] += t
            self.calls[name] += other.calls[name]

    def enter(self, name: str) -> None:
        self._stack.append([name, self.clock(), 0.0])

    def exit(self) -> None:
        name, start, nested = self._stack.pop()
        spent = self.clock() - start
        self.seconds[name] += spent - nested
        self.calls[name] += 1
        if self._stack:
            self._stack[-1][2] += spent


@contextlib.contextmanager
def recording(clock=time.process_time) -> Iterator[Recorder]:
    """Record the stages run inside the block (one recorder at a time)."""
    rec = Recorder(clock)
    _ACTIVE.append(rec)
    try:
        yield rec
    finally:
        _ACTIVE.remove(rec)


@contextlib.contextmanager
def _timed(rec: Recorder, name: str) -> Iterator[None]:
    rec.enter(name)
    try:
        yield
    finally:
        rec.exit()


_NOTHING = contextlib.nullcontext()


def stage(name: str):
    """A context manager timing stage `name` when a recorder is active, else a no-op."""
    return _timed(_ACTIVE[-1], name) if _ACTIVE else _NOTHING
