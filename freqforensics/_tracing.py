"""Whether code is being traced (compiled or exported) rather than run eagerly."""

from __future__ import annotations

import torch

__all__ = ["is_compiling", "is_tracing"]


def is_compiling() -> bool:
    """True while ``torch.compile`` or ``torch.export`` traces the code."""
    compiling = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return bool(compiling is not None and compiling())


def is_tracing() -> bool:
    """True under ``torch.compile``, ``torch.export`` and both ONNX exporters.

    Eager-only shortcuts (Python loops over chunks, hand-written backward functions) are
    skipped while tracing: a graph needs the plain tensor path.
    """
    return is_compiling() or torch.onnx.is_in_onnx_export()
