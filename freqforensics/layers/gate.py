"""The SIDA gate: features scaled by a sigmoid of the global statistics (paper eqs. 16, 17)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from freqforensics._checks import (
    ShapeError,
    autocast_active,
    check_float,
    check_param_dtype,
    check_positive_int,
    check_tensor,
)

__all__ = ["SIDAGate"]


class SIDAGate(nn.Module):
    r"""Multiply features by a gate computed from a global vector (eqs. 16 and 17).

    .. math::
        g = \sigma(W_g D + b_g),\quad y = x \odot g

    Eq. 16 writes :math:`\alpha` for the sigmoid; it is read as :math:`\sigma`. :class:`HCMA`
    applies this gate to its pooled tokens, and the reference detector applies the same layer
    to the concatenated features when HCMA is ablated: the gate is written once.

    ``weight`` and ``bias`` are initialised as those of ``nn.Linear(gate_dim, embed_dim)``
    (and named the same, so state dicts of an ``nn.Linear`` gate load unchanged).

    Input rules (the library's, see the conventions page): ``x`` must have the dtype of the
    parameters outside autocast (a :class:`~freqforensics._checks.ShapeError` names both
    dtypes otherwise); ``d`` is cast to ``x``'s dtype; both must be floating point (a ``bool``
    or integer ``d`` raises, naming ``d``). An empty batch (``N = 0``) gives an empty output.
    NaN and inf are not checked: they propagate to the output like any torch op's.

    Args:
        gate_dim: length of the gating vector ``d`` (2304 for SIDA).
        embed_dim: features of ``x`` (and of the gate).

    Shape:
        - ``x``: :math:`(N, \text{embed\_dim})`; ``d``: :math:`(N, \text{gate\_dim})`.
        - Output: :math:`(N, \text{embed\_dim})` (and the gate :math:`g`, the same shape, with
          ``return_gate=True``).

    Example:
        >>> import torch
        >>> from freqforensics import SIDAGate
        >>> gate = SIDAGate(gate_dim=2304, embed_dim=32)
        >>> y, g = gate(torch.randn(2, 32), torch.randn(2, 2304), return_gate=True)
        >>> y.shape, bool(((g > 0) & (g < 1)).all())
        (torch.Size([2, 32]), True)
    """

    def __init__(self, gate_dim: int = 2304, embed_dim: int = 1024) -> None:
        super().__init__()
        self.gate_dim = check_positive_int(gate_dim, "gate_dim")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.weight = nn.Parameter(torch.empty(embed_dim, gate_dim))  # W_g of eq. 16
        self.bias = nn.Parameter(torch.empty(embed_dim))  # b_g
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation (the same random draws, in the same order)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.gate_dim)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: torch.Tensor, d: torch.Tensor, return_gate: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_tensor(x, "x")
        check_float(x, "x")
        if x.ndim != 2 or x.shape[1] != self.embed_dim:
            raise ShapeError(f"x must have shape (N, {self.embed_dim}), got {tuple(x.shape)}")
        check_tensor(d, "d")
        check_float(d, "d", "the gate vector is float; convert it with d.float()")
        if d.ndim != 2 or d.shape != (x.shape[0], self.gate_dim):
            raise ShapeError(
                f"d must have shape (N, {self.gate_dim}) with N={x.shape[0]}, "
                f"got {tuple(d.shape)}"
            )
        check_param_dtype(x, "x", self.weight.dtype, "SIDAGate")
        if not autocast_active(x.device.type):
            d = d.to(x.dtype)  # the second input follows the first (the dtype rule)
        g = torch.sigmoid(F.linear(d, self.weight, self.bias))  # eq. 16
        y = x * g  # eq. 17
        return (y, g) if return_gate else y

    def extra_repr(self) -> str:
        return f"gate_dim={self.gate_dim}, embed_dim={self.embed_dim}"
