"""Per-epoch experiment tracking: metrics.csv + metrics.jsonl, and optionally TensorBoard and W&B.

Every epoch the trainer hands its history (one dict per finished epoch) to `Tracker.log_epoch`;
`<out>/metrics.csv` and `<out>/metrics.jsonl` are rewritten atomically from it, so a resumed run's
files hold exactly the epochs its checkpoint holds. Columns (empty cell / null when not measured):

    epoch, step, lr, train_loss, train_acc, val_metric, val_metric_name, seconds, throughput, peak_mem_mb

TensorBoard (`tensorboard=True`, needs the optional `tensorboard` package) writes event files under
`<out>/tensorboard/`; W&B (`wandb_project=...`, needs `wandb`) logs the same scalars, offline unless
WANDB_MODE says otherwise or an API key is configured. Both are imported only when asked for.
Only rank 0 writes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from zeroi2v.training import distributed as D
from zeroi2v.training.checkpoint_state import disk_errors
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import atomic_write_text

COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_metric", "val_metric_name", "seconds",
           "throughput", "peak_mem_mb")
SCALARS = ("lr", "train_loss", "train_acc", "val_metric", "seconds", "throughput", "peak_mem_mb")


def metrics_row(row: dict[str, Any]) -> dict[str, Any]:
    """The tracked columns of one history row (None where not measured; non-finite numbers -> None)."""
    out = {}
    for c in COLUMNS:
        v = row.get(c)
        out[c] = None if isinstance(v, float) and not math.isfinite(v) else v
    return out


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def require_tensorboard():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard "
                        "(or pip install 'zeroi2v-suite[tracking]')") from None
    return SummaryWriter


def require_wandb():
    try:
        import wandb
    except ImportError:
        raise UserError("--wandb needs the wandb package: pip install wandb "
                        "(or pip install 'zeroi2v-suite[tracking]')") from None
    return wandb


def wandb_mode() -> str:
    """WANDB_MODE if set; online when an API key is configured (env or ~/.netrc); else offline."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path.home() / ".netrc"
    keyed = os.environ.get("WANDB_API_KEY") or (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))
    return "online" if keyed else "offline"


class Tracker:
    """Writes the per-epoch metrics of one run folder (rank 0 only; a no-op elsewhere)."""

    def __init__(self, out: str | Path, *, tensorboard: bool = False, wandb_project: str | None = None,
                 run_name: str | None = None, config: dict | None = None) -> None:
        self.out = Path(out)
        self.main = D.is_main()
        self.csv, self.jsonl = self.out / "metrics.csv", self.out / "metrics.jsonl"
        self._tb = self._wandb = None
        self._opened = False
        # check the optional packages up front (every rank: one clear line, not a hang); nothing is
        # written before the first epoch's metrics
        self._writer_cls = require_tensorboard() if tensorboard else None
        self._wandb_mod = require_wandb() if wandb_project else None
        self._wandb_args = dict(project=wandb_project, name=run_name, config=config or {})

    def _open(self) -> None:
        self._opened = True
        if self._writer_cls is not None:
            self._tb = self._writer_cls(log_dir=str(self.out / "tensorboard"))
        if self._wandb_mod is not None:
            self._wandb = self._wandb_mod.init(dir=str(self.out), mode=wandb_mode(), reinit=True, **self._wandb_args)

    def log_epoch(self, history: list[dict]) -> None:
        """Rewrite metrics.csv/.jsonl from the whole history; send the last row to TensorBoard/W&B."""
        if not self.main or not history:
            return
        if not self._opened:
            self._open()
        rows = [metrics_row(r) for r in history]
        with disk_errors(self.csv):
            atomic_write_text(self.csv, _csv_text(rows))
        with disk_errors(self.jsonl):
            atomic_write_text(self.jsonl, "".join(json.dumps(r, sort_keys=False) + "\n" for r in rows))
        last = rows[-1]
        scalars = {k: float(last[k]) for k in SCALARS if isinstance(last.get(k), (int, float))}
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k if k != "val_metric" else f"val/{last['val_metric_name'] or 'metric'}", v,
                                    global_step=int(last["epoch"]))
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(dict(scalars, epoch=last["epoch"]), step=int(last["step"] or last["epoch"]))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
