"""The logs of a run folder: ``metrics.csv``, ``steps.csv`` and TensorBoard.

- ``metrics.csv``: a row per finished epoch (losses, learning rate, validation metrics),
  rewritten whole and atomically from the checkpoint's history each epoch: never a torn row,
  never a row the checkpoint does not know.
- ``steps.csv``: a row per optimiser step, ``step, epoch, loss, lr, seconds`` (``step``
  counts from 1 over the whole run, ``epoch`` from 1; ``loss`` is the training loss of the
  step on rank 0, ``nan`` when all of its batches were skipped as non-finite; ``lr`` the
  learning rate it used; ``seconds`` its wall-clock time). Appended and flushed row by row; on
  resumption the rows after the checkpoint's step are dropped first (an atomic rewrite), so a
  run killed and resumed has exactly one row per step.
- TensorBoard (``tensorboard/``), when the package is installed (``pip install
  'freqforensics[tensorboard]'``): every column of ``metrics.csv`` against the epoch, and
  ``train/loss_step`` against the step. Without it, one INFO line says so and the CSV files
  are the whole log.

The module is named ``logs`` rather than ``logging``, which would be mistaken for the
standard library's.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from freqforensics._io import atomic_write

__all__ = [
    "METRICS_FILE",
    "STEPS_FILE",
    "STEP_FIELDS",
    "RunLog",
    "write_metrics",
    "truncate_steps",
    "open_tensorboard",
]

logger = logging.getLogger(__name__)

#: The per-epoch log of a run folder.
METRICS_FILE = "metrics.csv"
#: The per-step log of a run folder.
STEPS_FILE = "steps.csv"
#: The columns of ``steps.csv``.
STEP_FIELDS = ("step", "epoch", "loss", "lr", "seconds")


def write_metrics(path: str | Path, history: Sequence[Mapping[str, float]]) -> None:
    """Write ``metrics.csv`` afresh and atomically from ``history`` (removed when empty)."""
    path = Path(path)
    if not history:
        path.unlink(missing_ok=True)
        return
    fields = list(dict.fromkeys(k for row in history for k in row))
    with atomic_write(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def _complete(row: Mapping[str, str | None]) -> bool:
    """Whether a ``steps.csv`` row has all its columns and an integer step (not torn)."""
    if any(row.get(k) in (None, "") for k in STEP_FIELDS):
        return False
    try:
        int(str(row["step"]))
        float(str(row["seconds"]))
    except ValueError:
        return False
    return True


def truncate_steps(path: str | Path, last_step: int) -> int:
    """Keep the rows of ``steps.csv`` up to ``last_step`` (an atomic rewrite); return how many.

    The rows after the checkpoint's step belong to steps a resumed run takes again; a row torn
    by a kill in the middle of its write is dropped too. ``last_step=0`` removes the file.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    if last_step <= 0:
        path.unlink()
        return 0
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if _complete(r) and int(str(r["step"])) <= last_step]
    with atomic_write(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=STEP_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def open_tensorboard(folder: str | Path) -> Any | None:
    """A TensorBoard ``SummaryWriter`` on ``folder``, or ``None`` (one log line) without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.info(
            "TensorBoard is not installed (pip install 'freqforensics[tensorboard]'): "
            "logging to %s and %s only",
            METRICS_FILE,
            STEPS_FILE,
        )
        return None
    try:
        return SummaryWriter(str(folder))
    except Exception as err:  # a broken install must not stop training
        logger.warning("TensorBoard is unavailable (%s): logging to CSV files only", err)
        return None


class RunLog:
    """The logs of one :meth:`~freqforensics.engine.Trainer.fit` call (rank 0 only).

    Opening it rewrites ``metrics.csv`` from ``history`` and cuts ``steps.csv`` at
    ``global_step``: both then agree with the checkpoint the run starts from.

    Args:
        out_dir: the run folder.
        history: the checkpoint's rows of ``metrics.csv`` (empty for a fresh run).
        global_step: the checkpoint's step (0 for a fresh run).
        tensorboard: also log to TensorBoard when it is installed.
    """

    def __init__(
        self,
        out_dir: str | Path,
        history: Sequence[Mapping[str, float]] = (),
        global_step: int = 0,
        tensorboard: bool = True,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.metrics_path = self.out_dir / METRICS_FILE
        self.steps_path = self.out_dir / STEPS_FILE
        write_metrics(self.metrics_path, history)
        truncate_steps(self.steps_path, global_step)
        new = not self.steps_path.is_file()
        self._steps: IO[str] | None = open(self.steps_path, "a", newline="")
        self._writer = csv.writer(self._steps)
        if new:
            self._writer.writerow(STEP_FIELDS)
            self._steps.flush()
        self.tb = open_tensorboard(self.out_dir / "tensorboard") if tensorboard else None

    def step(self, step: int, epoch: int, loss: float, lr: float, seconds: float) -> None:
        """Append one row to ``steps.csv`` (flushed) and ``train/loss_step`` to TensorBoard."""
        if self._steps is None:
            raise ValueError("this RunLog is closed")
        self._writer.writerow((step, epoch, loss, lr, seconds))
        self._steps.flush()
        if self.tb is not None and math.isfinite(loss):
            self.tb.add_scalar("train/loss_step", loss, step)

    def epoch(self, row: Mapping[str, float], history: Sequence[Mapping[str, float]]) -> None:
        """Rewrite ``metrics.csv`` from ``history`` (ending in ``row``); ``row`` to TensorBoard."""
        write_metrics(self.metrics_path, history)  # a few rows: never a torn append
        if self.tb is not None:
            for key, value in row.items():
                if key != "epoch":
                    self.tb.add_scalar(key, value, int(row["epoch"]))
            self.tb.flush()

    def close(self) -> None:
        """Close ``steps.csv`` and the TensorBoard writer (again: nothing)."""
        if self._steps is not None:
            self._steps.close()
            self._steps = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
