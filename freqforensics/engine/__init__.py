"""Training and evaluation of detectors."""

from freqforensics.engine.trainer import (
    TrainConfig,
    Trainer,
    TrainResult,
    atomic_save,
    collate_batch,
    precise_bn,
    predict,
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
]
