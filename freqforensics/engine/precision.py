"""Numerical precision of training: TF32 for the duration of a fit, mixed precision (AMP).

Two switches choose the autocast dtype (:func:`amp_dtype`): ``amp`` (``train.amp``, default
on) is mixed precision on CUDA only, bfloat16 where the GPU has it, else float16; ``autocast``
(``runtime.autocast``: ``"bf16"`` or ``"fp16"``) forces that dtype on any device, the CPU
included, and takes precedence.

TF32 (Ampere and later GPUs) runs float32 matrix products and convolutions with a 10-bit
mantissa: several times faster, about 1e-3 relative error. The block DCT of
:mod:`freqforensics.functional` stays exact float32 either way
(:func:`~freqforensics.functional.dct.exact_float32`), so TF32 only touches the learnable layers.
:func:`tf32_mode` sets it for one block and puts torch's previous settings back after, instead
of switching it for the whole process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["tf32_mode", "amp_dtype", "AUTOCAST_DTYPES"]

#: The dtypes of the ``autocast`` setting.
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


#: The per-backend precision settings of torch >= 2.9 (``torch.backends.<path>.fp32_precision``),
#: the generic ones before the specific ones (the order of a restoration).
_PER_BACKEND = (
    (),
    ("cuda", "matmul"),
    ("cudnn",),
    ("cudnn", "conv"),
    ("cudnn", "rnn"),
    ("mkldnn",),
    ("mkldnn", "matmul"),
    ("mkldnn", "conv"),
    ("mkldnn", "rnn"),
)


def _snapshot() -> Callable[[], None]:
    """A function that puts torch's TF32 settings back as they are now."""
    try:
        matmul: str | None = torch.get_float32_matmul_precision()
    except RuntimeError:  # a mix of the legacy and per-backend settings: the latter restore it
        matmul = None
    try:
        cudnn: bool | None = torch.backends.cudnn.allow_tf32
    except RuntimeError:  # cuDNN convolutions and RNNs set apart (per backend)
        cudnn = None
    knobs: list[tuple[Any, str]] = []
    for path in _PER_BACKEND:
        node: Any = torch.backends
        for name in path:
            node = getattr(node, name, None)
        if node is not None and hasattr(node, "fp32_precision"):
            knobs.append((node, node.fp32_precision))

    def restore() -> None:
        if matmul is not None:
            torch.set_float32_matmul_precision(matmul)
        if cudnn is not None:
            torch.backends.cudnn.allow_tf32 = cudnn
        for node, value in knobs:
            node.fp32_precision = value

    return restore


@contextlib.contextmanager
def tf32_mode(allow: bool | None) -> Iterator[None]:
    """Allow or forbid TF32 in CUDA matmuls and cuDNN inside the block, then restore.

    Args:
        allow: ``True`` allows TF32 for matrix products (``set_float32_matmul_precision
            ("high")``) and cuDNN (``torch.backends.cudnn.allow_tf32``), ``False`` forbids
            both (``"highest"``), ``None`` leaves torch's settings as they are (by default:
            matmuls without TF32, cuDNN convolutions with it).

    Example:
        >>> import torch
        >>> from freqforensics.engine.precision import tf32_mode
        >>> before = torch.backends.cudnn.allow_tf32
        >>> with tf32_mode(False):
        ...     torch.backends.cudnn.allow_tf32
        False
        >>> torch.backends.cudnn.allow_tf32 == before
        True
    """
    if allow is None:
        yield
        return
    restore = _snapshot()
    try:
        torch.set_float32_matmul_precision("high" if allow else "highest")
        torch.backends.cudnn.allow_tf32 = allow
        yield
    finally:
        restore()


def amp_dtype(
    device: torch.device, amp: bool, autocast: str | None = None
) -> torch.dtype | None:
    """The autocast dtype of training (``None``: no autocast, float32).

    Args:
        device: where the model runs.
        amp: mixed precision on CUDA: bfloat16 where the GPU has it, else float16; nothing on
            other devices.
        autocast: ``"bf16"`` or ``"fp16"`` forces that dtype on any device (the CPU
            included), whatever ``amp`` says; ``None`` leaves the choice to ``amp``.

    Example:
        >>> import torch
        >>> from freqforensics.engine.precision import amp_dtype
        >>> amp_dtype(torch.device("cpu"), amp=True), amp_dtype(torch.device("cpu"), True, "bf16")
        (None, torch.bfloat16)
    """
    if autocast is not None:
        if autocast not in AUTOCAST_DTYPES:
            raise ValueError(
                f"autocast must be one of {sorted(AUTOCAST_DTYPES)} or None, got {autocast!r}"
            )
        return AUTOCAST_DTYPES[autocast]
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
