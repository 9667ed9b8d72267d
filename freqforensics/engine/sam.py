"""Sharpness-aware minimisation (SAM, Foret et al., ICLR 2021) around the trainer's optimiser.

SAM takes each step at the gradient of the worst nearby weights: it computes the gradient g at
the weights w, moves to ``w + rho * g / ||g||`` (the ascent step, ``||.||`` the L2 norm over all
parameters), computes the gradient there on the same batch, moves back to w, and lets the
optimiser step with that second gradient. It seeks flat minima, which its authors found to
generalise better; SBI (Shiohara & Yamasaki, CVPR 2022) trains its detector with it (SGD with
momentum inside SAM, ``rho`` 0.05). :class:`~freqforensics.engine.Trainer` runs it when
``TrainConfig.sam_rho > 0``, at twice the cost of a step.

The second pass does not update the BatchNorm running statistics (:func:`frozen_bn_stats`): they
would otherwise count every batch twice, once at weights the model never keeps. (SBI's code
defines this switch but does not call it.)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator

import torch
from torch import nn

__all__ = ["ascent_step", "undo", "frozen_bn_stats"]


Saved = tuple[nn.Parameter, torch.Tensor]


@torch.no_grad()
def ascent_step(params: Iterable[nn.Parameter], rho: float) -> list[Saved]:
    """Move ``params`` by ``rho`` along their gradient's direction; return what :func:`undo` needs.

    Args:
        params: parameters whose ``.grad`` holds the gradient of the loss (those with no
            gradient do not move).
        rho: the radius of the neighbourhood: the L2 length of the whole move. A loss scale
            the gradients carry (mixed precision) cancels out.

    Returns:
        ``(parameter, its weights before the move)`` for each parameter that moved; empty, and
        nothing moved, when the gradient is zero or not finite (the optimiser's step is then
        taken at the weights as they are, or skipped by the loss scaler).
    """
    moving = [p for p in params if p.grad is not None]
    grads = [p.grad for p in moving if p.grad is not None]
    if not grads:
        return []
    norm = float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g.float()) for g in grads]
    )))
    if not math.isfinite(norm) or norm == 0.0:
        return []
    saved = [(p, p.detach().clone()) for p in moving]
    for p, g in zip(moving, grads, strict=True):
        p.add_(g, alpha=rho / norm)
    return saved


@torch.no_grad()
def undo(saved: list[Saved]) -> None:
    """Put the parameters back exactly where :func:`ascent_step` found them."""
    for p, weights in saved:
        p.copy_(weights)


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers of ``module`` normalise with the batch but keep their running statistics.

    Sets ``momentum`` to 0 (the running mean and variance then stay as they are) and restores
    it, and the count of batches seen, on exit.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
             for m in norms]
    try:
        for m in norms:
            m.momentum = 0.0
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if count is not None and m.num_batches_tracked is not None:
                m.num_batches_tracked.copy_(count)
