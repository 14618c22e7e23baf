"""The runner's log: stderr, and `<out>/run.log` from the run's first write on.

Until `attach_log_file` (called once every check on the inputs has passed) INFO records are held
in memory and only warnings reach stderr, so a refused run prints its one `error:` line and writes
nothing under --out; once attached, the held records go to stderr and to the file, in order.
Ranks other than 0 log warnings only.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from zeroi2v.utils.io import writing

log = logging.getLogger("fewshot")
_FMT = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")


class _Held(logging.handlers.MemoryHandler):
    """Keeps every record until the run commits."""

    def __init__(self) -> None:
        super().__init__(capacity=1 << 30, flushLevel=logging.CRITICAL + 1)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def setup_logging(*, main: bool = True) -> None:
    for h in log.handlers:
        h.close()
    log.handlers.clear()
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(_FMT)
    err.addFilter(_warnings_only)
    log.addHandler(err)
    log.addHandler(_Held())
    log.setLevel(logging.INFO if main else logging.WARNING)
    log.propagate = False


class _LogFile(logging.FileHandler):
    """run.log; a failed write (disk full) is one warning line on stderr, once, not logging's traceback."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            e = sys.exc_info()[1]
            print(f"warning: cannot write {self.baseFilename}: {getattr(e, 'strerror', None) or e}; "
                  f"the log stops here (the run goes on)", file=sys.stderr)


def attach_log_file(out: Path) -> Path:
    """From now on log everything to stderr and `<out>/run.log` (appending), starting with the held records."""
    path = out / "run.log"
    with writing(path):  # a read-only or full --out: one line, not a traceback
        out.mkdir(parents=True, exist_ok=True)
        file = _LogFile(path)
    file.setFormatter(_FMT)
    held: list[logging.LogRecord] = []
    for h in list(log.handlers):
        if isinstance(h, _Held):
            held, h.buffer = h.buffer, []
            log.removeHandler(h)
        elif isinstance(h, logging.FileHandler):
            h.close()
            log.removeHandler(h)
    err = next((h for h in log.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)), None)
    for record in held:
        if err is not None and _warnings_only in err.filters and not _warnings_only(record):
            err.handle(record)  # held back from stderr until now
        file.handle(record)
    if err is not None and _warnings_only in err.filters:
        err.removeFilter(_warnings_only)
    log.addHandler(file)
    return path
