"""Footnotes and row marks that tables add from what a run recorded about its training.

- A row whose records carry a `learning_warning` (zeroi2v.training.learned: the kept epoch's train
  accuracy was not clearly above chance) is marked " (!)" and the table gets `NOTHING_NOTE`.
- The full-supervised table names the tested checkpoint of each row (`keep`, `tested_epoch`).
"""
from __future__ import annotations

from typing import Any, Iterable

NOTHING_MARK = " (!)"
NOTHING_NOTE = ("(!) the kept epoch's train accuracy was not clearly above chance (binomial test, p >= 0.01): the "
                "adapted model may have learned nothing (the record's learning_warning names causes and flags).")


def warned(records: Iterable[dict]) -> bool:
    """Whether any record carries a learning warning."""
    return any(isinstance(r.get("learning_warning"), str) and r.get("learning_warning") for r in records)


def mark(label: str, records: Iterable[dict], footnotes: list[str]) -> str:
    """`label` with NOTHING_MARK when a record warned (NOTHING_NOTE added to `footnotes` once)."""
    if not warned(records):
        return label
    if NOTHING_NOTE not in footnotes:
        footnotes.append(NOTHING_NOTE)
    return label + NOTHING_MARK


def tested_note(rows: Iterable[tuple[str, Any, Any, Any]]) -> str | None:
    """'Tested checkpoint' footnote from (label, keep, tested_epoch, epochs) per row (None: none recorded)."""
    def known(x) -> bool:
        return x is not None and x == x  # not None, not NaN

    parts = [f"{label}: epoch {int(ep)}" + (f" of {int(n)}" if known(n) else "") + f" ({keep})"
             for label, keep, ep, n in rows if isinstance(keep, str) and known(ep)]
    return ("Tested checkpoint (best = the best validated epoch, as the originals' save_best; last = the last "
            "epoch): " + "; ".join(parts) + ".") if parts else None
