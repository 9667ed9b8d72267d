"""HCMA: Hybrid Cross-Modal Attention fusion with the SIDA gate (paper Section 3.3.2)."""

from __future__ import annotations

import torch
from torch import nn

from freqforensics._checks import (
    ShapeError,
    autocast_active,
    check_batchnorm_values,
    check_float,
    check_nonempty,
    check_param_dtype,
    check_positive_int,
    check_tensor,
)
from freqforensics.layers.gate import SIDAGate

__all__ = ["HCMA"]


class HCMA(nn.Module):
    r"""Cross-attention fusion of spatial and frequency features, gated by SIDA (eqs. 14 to 17).

    .. math::
        S' = S W_s,\ F' = F W_f,\quad
        A = \mathrm{MHA}(Q{=}S',\ K{=}F',\ V{=}F'),\quad
        A_{res} = A + \mathrm{BN}(\mathrm{Conv}_{1\times1}(S'))

    .. math::
        g = \sigma(W_g D + b_g),\quad F_{fused} = \overline{A_{res}} \odot g

    where :math:`\overline{\cdot}` is the mean over the query tokens and the gate is a
    :class:`SIDAGate`. The paper gives the projected width as 1792 in one place and 1024 in
    another; ``embed_dim`` is an argument, 1024 by default. With single vectors (``L = 1``)
    attention is over one key and degenerates to the value path, so the reference model feeds
    token sequences (the backbones' last feature maps, flattened). ``d=None`` skips the gate;
    ``gate_dim=None`` builds no gate at all (the paper's "without SIDA" ablation: no unused
    weights), and then ``d`` must be ``None``.

    Input rules (the library's, see the conventions page): ``s`` must have the dtype of the
    parameters outside autocast (a :class:`~freqforensics._checks.ShapeError` names both dtypes
    otherwise); ``f`` and ``d`` are cast to ``s``'s dtype; all three must be floating point
    (a ``bool`` or integer ``d`` raises, naming ``d``). ``s`` and ``f`` need at least one token
    (``L >= 1``); an empty batch (``N = 0``) gives an empty output. NaN and inf are not checked
    (a check would cost a device sync): they propagate to the output like any torch op's.

    Args:
        spatial_dim: features of ``s`` (1792 for EfficientNet-B4).
        freq_dim: features of ``f`` (2048 for Xception).
        embed_dim: shared embedding width ``E``.
        num_heads: attention heads (``E`` must be divisible by it).
        gate_dim: length of the gating vector ``d`` (2304 for SIDA); ``None``: no gate.
        dropout: attention dropout.

    Shape:
        - ``s``: :math:`(N, L_s, C_s)` or :math:`(N, C_s)`; ``f``: :math:`(N, L_f, C_f)` or
          :math:`(N, C_f)`; ``d``: :math:`(N, \text{gate\_dim})` or ``None``.
        - Output: :math:`(N, E)`.

    Example:
        >>> import torch
        >>> from freqforensics import HCMA
        >>> hcma = HCMA(spatial_dim=64, freq_dim=96, embed_dim=32, num_heads=4, gate_dim=2304)
        >>> hcma(torch.randn(2, 9, 64), torch.randn(2, 4, 96), torch.randn(2, 2304)).shape
        torch.Size([2, 32])
    """

    def __init__(
        self,
        spatial_dim: int = 1792,
        freq_dim: int = 2048,
        embed_dim: int = 1024,
        num_heads: int = 8,
        gate_dim: int | None = 2304,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.spatial_dim = check_positive_int(spatial_dim, "spatial_dim")
        self.freq_dim = check_positive_int(freq_dim, "freq_dim")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        self.gate_dim = None if gate_dim is None else check_positive_int(gate_dim, "gate_dim")
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                f"num_heads={num_heads}"
            )
        self.proj_s = nn.Linear(spatial_dim, embed_dim)
        self.proj_f = nn.Linear(freq_dim, embed_dim)
        # W_Q, W_K, W_V (and the heads' output projection) of eq. 14.
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)
        self.res_conv = nn.Conv1d(embed_dim, embed_dim, kernel_size=1)  # eq. 15
        self.res_norm = nn.BatchNorm1d(embed_dim)
        # W_g, b_g of eq. 16 (built last: the random initialisation of the layers above
        # does not depend on whether there is a gate)
        self.gate = None if gate_dim is None else SIDAGate(gate_dim, embed_dim)

    def _tokens(self, x: torch.Tensor, name: str, dim: int) -> torch.Tensor:
        check_tensor(x, name)
        check_float(x, name)
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[-1] != dim:
            raise ShapeError(
                f"{name} must have shape (N, L, {dim}) or (N, {dim}), got {tuple(x.shape)}"
            )
        check_nonempty(x, name, (1,), ("L",), f"(N, L, {dim})")
        return x

    def token_features(self, s: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The fused tokens before pooling and gating: :math:`A_{res}` of eq. 15, ``(N, Ls, E)``.

        Useful to see which spatial tokens carry the fused representation (e.g. their norms
        over the image grid).
        """
        given, s = s, self._tokens(s, "s", self.spatial_dim)
        f = self._tokens(f, "f", self.freq_dim)
        if s.shape[0] != f.shape[0]:
            raise ShapeError(
                f"s and f must have the same batch size, got {s.shape[0]} and {f.shape[0]}"
            )
        check_param_dtype(s, "s", self.proj_s.weight.dtype, "HCMA")
        check_batchnorm_values(self, given, "s", s.shape[0] * s.shape[1], "HCMA")
        if not autocast_active(s.device.type):
            f = f.to(s.dtype)  # the second modality follows the first (the dtype rule)
        s_p = self.proj_s(s)
        f_p = self.proj_f(f)
        a, _ = self.attn(s_p, f_p, f_p, need_weights=False)  # eq. 14
        res = self.res_norm(self.res_conv(s_p.transpose(1, 2))).transpose(1, 2)
        return a + res  # eq. 15

    def pool_and_gate(
        self, tokens: torch.Tensor, d: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean over the tokens of :meth:`token_features`, times the gate (eqs. 16, 17).

        Returns:
            ``(fused, gate)``: ``(N, E)`` and the gate values ``(N, E)`` (``None`` without ``d``).
        """
        fused = tokens.mean(dim=1)  # pooled over the query tokens
        if d is None:
            return fused, None
        if self.gate is None:
            raise ValueError(
                "d was given, but this HCMA was built with gate_dim=None (no gate); pass d=None, "
                "or build HCMA(gate_dim=...) with the length of d"
            )
        fused, g = self.gate(fused, d, return_gate=True)  # eqs. 16, 17
        return fused, g

    def forward(
        self,
        s: torch.Tensor,
        f: torch.Tensor,
        d: torch.Tensor | None = None,
        return_gate: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        fused, g = self.pool_and_gate(self.token_features(s, f), d)
        if return_gate:
            return fused, g
        return fused
