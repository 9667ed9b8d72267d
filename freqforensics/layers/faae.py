"""FAAE: Frequency-Aware Attention Enhancement (paper Section 3.3.1, eqs. 10 to 13)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
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

__all__ = ["FAAE"]


class FAAE(nn.Module):
    r"""Frequency-aware attention that enhances a shallow spatial feature map (eqs. 10 to 13).

    .. math::
        Q = [\mathrm{Conv}^F_q(X_f);\ \mathrm{Conv}^S_q(X_s)],\quad
        K = [\mathrm{Conv}^F_k(X_f);\ \mathrm{Conv}^S_k(X_s)],\quad
        \alpha = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right)

    .. math::
        Y_s = X_s + \mathrm{BN}\!\left(\mathrm{Conv}_S\big(\alpha\, \mathrm{Conv}_F(X_f)
        \cdot \sigma(\gamma)\big)\right)

    Queries and keys are built from both modalities by parallel 1x1 projections (each to
    ``qk_dim / 2`` channels) concatenated along the channel axis; attention runs over the
    ``h * w`` block positions. The paper scales by :math:`\sqrt{2H}`; this library reads it as
    the usual square root of the key width ``qk_dim`` (the concatenation of two halves).
    ``gamma`` is a learnable scalar (:math:`\sigma(\gamma)` starts at ``sigmoid(gamma_init)``).
    When the frequency map's grid differs from the spatial one (47 x 47 DCT blocks of a
    380-pixel face against EfficientNet-B4's 48 x 48 stride-8 map) it is resized bilinearly.

    Input rules (the library's, see the conventions page): ``x_s`` must have the dtype of the
    parameters outside autocast (a :class:`~freqforensics._checks.ShapeError` names both dtypes
    otherwise); ``x_f`` is cast to ``x_s``'s dtype. Both grids must be non-empty
    (``h, w, h', w' >= 1``); an empty batch (``N = 0``) gives an empty output. NaN and inf are
    not checked (a check would cost a device sync): they propagate to the output like any torch
    op's (through the softmax, a NaN at one position reaches every position).

    Memory: the attention matrix has :math:`(h w)^2` entries per image and head (48 x 48
    positions: 5.3 M floats, 21 MB per image in float32). Unless the map is requested,
    :func:`torch.nn.functional.scaled_dot_product_attention` computes the result without
    storing it where the backend allows (flash / memory-efficient kernels).

    Args:
        spatial_channels: channels ``Cs`` of ``x_s``.
        freq_channels: channels ``Cf`` of ``x_f`` (192 for :class:`SBCM`'s output).
        qk_dim: width of queries and keys (half from each modality). Default ``max(8, Cs // 4)``
            rounded up to even.
        value_dim: width of the values projected from ``x_f``. Default ``Cs``.
        gamma_init: initial value of ``gamma``.
        zero_init: start the final BatchNorm's scale at 0, so the module is the identity at
            initialisation (useful when inserted into a pretrained backbone).

    Shape:
        - ``x_s``: :math:`(N, C_s, h, w)`; ``x_f``: :math:`(N, C_f, h', w')`.
        - Output: :math:`(N, C_s, h, w)`; with ``return_attention=True`` also the attention
          map :math:`(N, h w, h w)` (rows are query positions).

    Example:
        >>> import torch
        >>> from freqforensics import FAAE
        >>> faae = FAAE(spatial_channels=56, freq_channels=192)
        >>> y, attn = faae(torch.randn(2, 56, 12, 12), torch.randn(2, 192, 11, 11),
        ...                return_attention=True)
        >>> y.shape, attn.shape
        (torch.Size([2, 56, 12, 12]), torch.Size([2, 144, 144]))
    """

    def __init__(
        self,
        spatial_channels: int,
        freq_channels: int,
        qk_dim: int | None = None,
        value_dim: int | None = None,
        gamma_init: float = 0.0,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        cs = check_positive_int(spatial_channels, "spatial_channels")
        cf = check_positive_int(freq_channels, "freq_channels")
        qk = qk_dim if qk_dim is not None else max(8, cs // 4)
        qk = check_positive_int(qk, "qk_dim", minimum=2)
        qk += qk % 2
        dv = check_positive_int(value_dim if value_dim is not None else cs, "value_dim")
        self.spatial_channels, self.freq_channels, self.qk_dim, self.value_dim = cs, cf, qk, dv
        self.q_freq = nn.Conv2d(cf, qk // 2, 1)
        self.q_spatial = nn.Conv2d(cs, qk // 2, 1)
        self.k_freq = nn.Conv2d(cf, qk // 2, 1)
        self.k_spatial = nn.Conv2d(cs, qk // 2, 1)
        self.value = nn.Conv2d(cf, dv, 1)  # Conv_F of eq. 13
        self.proj = nn.Conv2d(dv, cs, 1, bias=False)  # Conv_S of eq. 13
        self.norm = nn.BatchNorm2d(cs)
        self.gamma = nn.Parameter(torch.tensor(float(gamma_init)))
        if zero_init:
            nn.init.zeros_(self.norm.weight)

    def _check(self, x: torch.Tensor, name: str, channels: int, label: str) -> None:
        check_tensor(x, name)
        check_float(x, name)
        if x.ndim != 4 or x.shape[1] != channels:
            raise ShapeError(
                f"{name} must have shape (N, {channels}, {label}), got {tuple(x.shape)}"
            )
        check_nonempty(x, name, (2, 3), label.split(", "), f"(N, {channels}, {label})")

    def forward(
        self, x_s: torch.Tensor, x_f: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        self._check(x_s, "x_s", self.spatial_channels, "h, w")
        self._check(x_f, "x_f", self.freq_channels, "h', w'")
        if x_f.shape[0] != x_s.shape[0]:
            raise ShapeError(
                f"x_s and x_f must have the same batch size, got {x_s.shape[0]} and {x_f.shape[0]}"
            )
        check_param_dtype(x_s, "x_s", self.proj.weight.dtype, "FAAE")
        h, w = x_s.shape[-2:]
        check_batchnorm_values(self, x_s, "x_s", x_s.shape[0] * h * w, "FAAE")
        if not autocast_active(x_s.device.type):
            x_f = x_f.to(x_s.dtype)  # the second modality follows the first (the dtype rule)
        if x_f.shape[-2:] != x_s.shape[-2:]:
            x_f = F.interpolate(x_f, size=(h, w), mode="bilinear", align_corners=False)
        q = torch.cat((self.q_freq(x_f), self.q_spatial(x_s)), dim=1)  # eq. 10
        k = torch.cat((self.k_freq(x_f), self.k_spatial(x_s)), dim=1)  # eq. 11
        v = self.value(x_f)
        q, k, v = (rearrange(t, "n c h w -> n (h w) c") for t in (q, k, v))
        attn: torch.Tensor | None = None
        if return_attention:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.qk_dim)
            attn = scores.softmax(dim=-1)  # eq. 12
            out = torch.matmul(attn, v)
        else:
            out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1))
            out = out.squeeze(1)
        out = out * torch.sigmoid(self.gamma)
        out = rearrange(out, "n (h w) c -> n c h w", h=h, w=w)
        y = x_s + self.norm(self.proj(out))  # eq. 13
        if return_attention:
            assert attn is not None
            return y, attn
        return y
