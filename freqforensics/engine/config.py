"""Settings and result of the training engine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TrainConfig", "TrainResult", "AUTOCAST_CHOICES"]

#: The values of ``autocast`` (``None``: ``amp`` decides).
AUTOCAST_CHOICES = (None, "bf16", "fp16")


@dataclass
class TrainConfig:
    """Settings of :class:`Trainer` (the paper's defaults).

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per optimiser step (per process), before accumulation; at
            least 2 (BatchNorm cannot train on one sample).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        accumulate: micro-batches per optimiser step (gradient accumulation).
        scheduler: ``"cosine"`` (per step, with ``warmup_steps``) or ``"none"``.
        warmup_steps: linear warm-up steps of the cosine schedule.
        grad_clip: clip the gradient norm to this value (``None``: no clipping).
        sam_rho: sharpness-aware minimisation around Adam with this radius (SBI uses 0.05);
            0 is off. Each step then costs two forward and backward passes
            (:mod:`~freqforensics.engine.sam`).
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with a scaler);
            ignored on the CPU, and overridden by ``autocast``.
        tf32: TF32 in CUDA matmuls and cuDNN convolutions while :meth:`Trainer.fit` runs:
            ``True`` allows it (faster on Ampere and later GPUs, about 1e-3 relative error),
            ``False`` forbids it, ``None`` leaves torch's settings as they are. The previous
            settings are restored when ``fit`` returns; the block DCT stays exact float32
            either way (:func:`~freqforensics.functional.dct.exact_float32`).
        seed: seeds Python, NumPy and torch, and the sampling order of every epoch.
        deterministic: ask torch for deterministic algorithms.
        num_workers: data loader workers.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        eval_batch_size: batch size of evaluation (default: ``2 * batch_size``).
        checkpoint_every: also write ``last.safetensors`` every this many steps inside an
            epoch.
        max_steps_per_epoch: cap the steps of an epoch (``None``: the whole data set).
        group_size: shuffle the training set in groups of this many consecutive indices, kept
            together in one batch (2 with :class:`~freqforensics.data.synthetic.SelfBlendedFaces`
            keeps each real crop next to its self-blended fake, as SBI trains).
        progress: show progress bars.
        autocast: ``"bf16"`` or ``"fp16"``: autocast to that dtype on any device, the CPU
            included, whatever ``amp`` says, in training and evaluation (float16 with a loss
            scaler); ``None``: ``amp`` decides (training on CUDA only). See
            :func:`~freqforensics.engine.precision.amp_dtype`.
        channels_last: the model's 4-D weights and the input images in
            ``torch.channels_last`` memory format (faster convolutions on GPUs with tensor
            cores; the same numbers up to float rounding).
        compile: run the forward passes of training and evaluation through
            ``torch.compile`` of the model (default mode); the uncompiled module keeps the
            weights, the optimiser state and the checkpoints. The first steps are slow
            (compilation, again for evaluation and for a smaller last batch).
    """

    epochs: int = 20
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-8
    accumulate: int = 1
    scheduler: str = "none"
    warmup_steps: int = 0
    grad_clip: float | None = None
    sam_rho: float = 0.0
    amp: bool = True
    tf32: bool | None = None
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    device: str = "auto"
    eval_batch_size: int | None = None
    checkpoint_every: int | None = None
    max_steps_per_epoch: int | None = None
    group_size: int = 1
    progress: bool = True
    autocast: str | None = None
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulate", "group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be at least 2 (BatchNorm cannot train on a batch of one "
                f"sample), got {self.batch_size}"
            )
        for name in ("num_workers", "warmup_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in ("eval_batch_size", "checkpoint_every", "max_steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if not (_finite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (_finite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(
                f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}"
            )
        if self.grad_clip is not None and not (_finite(self.grad_clip) and self.grad_clip > 0):
            # clip_grad_norm_ with a negative norm flips the gradients; with 0 it zeroes them
            raise ValueError(
                f"grad_clip must be a finite number > 0 or None (off), got {self.grad_clip!r}"
            )
        if not (_finite(self.sam_rho) and self.sam_rho >= 0):
            raise ValueError(f"sam_rho must be a finite number >= 0 (0: off), got {self.sam_rho!r}")
        if self.scheduler not in ("cosine", "none"):
            raise ValueError(f"scheduler must be 'cosine' or 'none', got {self.scheduler!r}")
        if self.tf32 is not None and not isinstance(self.tf32, bool):
            raise ValueError(f"tf32 must be True, False or None, got {self.tf32!r}")
        if self.autocast not in AUTOCAST_CHOICES:
            raise ValueError(
                f"autocast must be one of {list(AUTOCAST_CHOICES)}, got {self.autocast!r}"
            )
        for name in ("channels_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def lr_factor(self, step: int, total_steps: int) -> float:
        """The learning rate of optimiser step ``step`` (from 0) over ``lr``: the schedule."""
        if self.scheduler == "none":
            return 1.0
        if step < self.warmup_steps:
            return (step + 1) / max(1, self.warmup_steps)
        t = (step - self.warmup_steps) / max(1, total_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def _finite(value: object) -> bool:
    """A real number (not a bool) that is finite."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value)  # type: ignore[arg-type]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    best_epoch: int
    best_val_auc: float
    history: list[dict[str, float]]
    out_dir: Path
