"""Speed switches of the engine: channels-last memory format and ``torch.compile``.

Neither changes what a model computes beyond float rounding. :func:`to_channels_last` stores
the 4-D weights (convolution kernels) in ``torch.channels_last`` (NHWC) order, which cuDNN and
oneDNN convolutions prefer, and :func:`channels_last_images` does the same for a batch of
images; the 5-D kernels of the SBCM band convolutions and every other tensor keep their layout.
:func:`compile_module` wraps a module in ``torch.compile`` for the forward passes, while the
module itself keeps the parameters: its ``state_dict`` (and so every checkpoint) has the
plain names and loads into an uncompiled model.
"""

from __future__ import annotations

import itertools
from typing import cast

import torch
from torch import nn

__all__ = ["to_channels_last", "channels_last_images", "compile_module"]


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put the 4-D parameters and buffers of ``model`` in channels-last order, in place.

    Unlike ``model.to(memory_format=torch.channels_last)``, which refuses a model with 5-D
    weights (the ``Conv3d`` kernels of :class:`~freqforensics.SBCM`), this converts the 4-D
    tensors only. The tensors keep their identity (an optimiser built before still holds
    them); checkpoints are written contiguous and load back into either layout.

    Returns:
        ``model`` itself.

    Example:
        >>> import torch
        >>> from freqforensics.engine.runtime import to_channels_last
        >>> conv = to_channels_last(torch.nn.Conv2d(3, 8, 3))
        >>> conv.weight.is_contiguous(memory_format=torch.channels_last)
        True
    """
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


def channels_last_images(images: torch.Tensor) -> torch.Tensor:
    """``images`` :math:`(N, C, H, W)` in channels-last order (other ranks unchanged)."""
    if images.dim() != 4:
        return images
    return images.contiguous(memory_format=torch.channels_last)


def compile_module(module: nn.Module) -> nn.Module:
    """``torch.compile(module)`` (default mode, inductor): the module for the forward passes.

    The compiled wrapper shares the parameters of ``module``; train/eval mode set on it reaches
    ``module``. Keep ``module`` for ``state_dict``, the optimiser and checkpoints. Compilation
    happens at the first call (tens of seconds for the detector on a CPU) and again for a new
    mode (eval), or a new batch size (then with dynamic shapes).
    """
    return cast(nn.Module, torch.compile(module))
