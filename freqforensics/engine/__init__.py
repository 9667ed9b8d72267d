"""Training and evaluation of detectors.

Modules: :mod:`~freqforensics.engine.trainer` (the training loop),
:mod:`~freqforensics.engine.config` (its settings),
:mod:`~freqforensics.engine.state` (the training state on disk, without pickle),
:mod:`~freqforensics.engine.sampler` (the per-epoch sampling order),
:mod:`~freqforensics.engine.seeding` (seeds and random states),
:mod:`~freqforensics.engine.evaluation` (predictions, precise BatchNorm),
:mod:`~freqforensics.engine.logs` (``metrics.csv``, ``steps.csv``, TensorBoard),
:mod:`~freqforensics.engine.distributed` (``torchrun``: process group, devices, DDP),
:mod:`~freqforensics.engine.precision` (TF32, mixed precision) and
``freqforensics.engine.runtime`` (channels-last memory format, ``torch.compile``).
"""

from freqforensics.engine.evaluation import precise_bn, predict
from freqforensics.engine.logs import RunLog
from freqforensics.engine.precision import tf32_mode
from freqforensics.engine.state import TrainStateError, load_train_state, save_train_state
from freqforensics.engine.trainer import (
    TrainConfig,
    Trainer,
    TrainResult,
    atomic_save,
    collate_batch,
    seed_everything,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "predict",
    "collate_batch",
    "seed_everything",
    "atomic_save",
    "precise_bn",
    "TrainStateError",
    "save_train_state",
    "load_train_state",
    "RunLog",
    "tf32_mode",
]
