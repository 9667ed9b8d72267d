"""SIDA (Scale-Invariant Differential Analysis) differentials and statistics, paper eqs. 1 to 8."""

from __future__ import annotations

import math

import torch
from einops import rearrange

from freqforensics._checks import ShapeError, check_float, check_ndim, check_tensor
from freqforensics._tracing import is_tracing

__all__ = ["sida_differentials", "sida_statistics", "STATISTICS", "DIFFERENTIALS"]

#: Order of the statistics on axis -4 of :func:`sida_statistics`.
STATISTICS: tuple[str, ...] = ("mean", "std", "skew", "kurt")
#: Order of the differentials on axis -2 of :func:`sida_statistics`.
DIFFERENTIALS: tuple[str, ...] = ("row", "col", "intra")

# Working-set size (elements) of one chunk: keeps the several passes over a differential inside
# the CPU caches instead of streaming the whole batch from memory for each pass.
_CHUNK_ELEMENTS = 1 << 18


def _check_coeffs(coeffs: torch.Tensor, name: str, min_ndim: int, layout: str) -> None:
    check_tensor(coeffs, name)
    check_float(coeffs, name)
    check_ndim(coeffs, name, min_ndim, layout)
    k, h, w = coeffs.shape[-3:]
    if k != 64:
        raise ShapeError(
            f"{name} must have 64 DCT coefficients at dimension -3 {layout}, "
            f"got shape {tuple(coeffs.shape)}"
        )
    if h < 2 or w < 2:
        raise ShapeError(
            f"{name} must have a block grid of at least 2 x 2 (h, w >= 2) {layout}, got "
            f"shape {tuple(coeffs.shape)}: an image needs at least 16 x 16 pixels"
        )


def sida_differentials(
    coeffs: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The three SIDA differentials of block-DCT coefficients (paper eqs. 1 to 3).

    The paper's eq. 1 calls the difference between vertically adjacent blocks "row" and gives
    it the shape of the other one; this library follows its equations: ``row`` differences
    consecutive block rows (axis -2), ``col`` consecutive block columns (axis -1).

    Args:
        coeffs: coefficients of shape :math:`(*, 64, h, w)` with ``h, w >= 2``.

    Returns:
        ``(row, col, intra)``: ``row = c[..., 1:, :] - c[..., :-1, :]`` of shape
        :math:`(*, 64, h-1, w)`; ``col = c[..., :, 1:] - c[..., :, :-1]`` of shape
        :math:`(*, 64, h, w-1)`; ``intra`` the difference of consecutive (zigzag) coefficients
        ``c[..., k+1, :, :] - c[..., k, :, :]``, zero-padded at the end to 64 bands, shape
        :math:`(*, 64, h, w)`.

    Example:
        >>> import torch
        >>> from freqforensics.functional import sida_differentials
        >>> row, col, intra = sida_differentials(torch.rand(2, 3, 64, 5, 7))
        >>> row.shape, col.shape, intra.shape
        (torch.Size([2, 3, 64, 4, 7]), torch.Size([2, 3, 64, 5, 6]), torch.Size([2, 3, 64, 5, 7]))
    """
    _check_coeffs(coeffs, "coeffs", 3, "(..., 64, h, w)")
    row = coeffs[..., 1:, :] - coeffs[..., :-1, :]
    col = coeffs[..., :, 1:] - coeffs[..., :, :-1]
    intra = torch.nn.functional.pad(
        coeffs[..., 1:, :, :] - coeffs[..., :-1, :, :], (0, 0, 0, 0, 0, 1)
    )
    return row, col, intra


def _moments(a: torch.Tensor, inplace: bool) -> torch.Tensor:
    """Mean, std, skewness, Pearson kurtosis of ``|a|`` over the last axis: ``(..., 4)``.

    Two-pass (centred) moments, so float32 stays accurate when the mean is large against the
    spread; slices whose spread is at rounding level (constant maps) get skew = kurt = 0.
    """
    a = a.abs_() if inplace else a.abs()
    mean = a.mean(-1, keepdim=True)
    c = a.sub_(mean) if inplace else a - mean
    c2 = c * c
    m2 = c2.mean(-1)
    n = c.shape[-1]
    m3 = _dot(c2, c) / n
    m4 = _dot(c2, c2) / n
    mean = mean.squeeze(-1)
    eps = torch.finfo(a.dtype).eps
    # A constant map: the centred values are rounding noise of the mean.
    flat = m2 <= (32 * eps * mean.abs()) ** 2 + torch.finfo(a.dtype).tiny
    safe = torch.where(flat, torch.ones_like(m2), m2)
    zero = torch.zeros_like(m2)
    skew = torch.where(flat, zero, m3 / safe.pow(1.5))
    kurt = torch.where(flat, zero, m4 / (safe * safe))
    bad = ~(torch.isfinite(skew) & torch.isfinite(kurt))
    if not is_tracing() and bool(bad.any()):
        # A spread so small that its third and fourth powers underflow (float32: values near
        # 1e-15, e.g. the chroma of a grey image) gave 0/0: take these two from the values
        # scaled to a unit maximum, which skewness and kurtosis do not depend on. Eager only:
        # a compiled or exported graph would compute this for every input, so graphs keep
        # the plain formula.
        scale = c.abs().amax(-1, keepdim=True)
        u = c / torch.where(scale > 0, scale, torch.ones_like(scale))
        u2 = u * u
        v2 = u2.mean(-1)
        v2 = torch.where(flat | (v2 <= 0), torch.ones_like(v2), v2)
        skew = torch.where(bad, _dot(u2, u) / n / v2.pow(1.5), skew)
        kurt = torch.where(bad, _dot(u2, u2) / n / (v2 * v2), kurt)
    std = torch.where(flat, zero, safe.sqrt())
    return torch.stack((mean, std, skew, kurt), dim=-1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum(a * b)`` over the last axis; ``linalg.vecdot`` skips the product's temporary.

    The legacy TorchScript ONNX exporter has no symbolic for ``aten::linalg_vecdot``: export
    the product and sum instead (the same numbers up to summation order).
    """
    if torch.onnx.is_in_onnx_export():
        return (a * b).sum(-1)
    return torch.linalg.vecdot(a, b)


def _slice_statistics(c: torch.Tensor, inplace: bool) -> torch.Tensor:
    """``(B, 64, h, w)`` coefficients -> ``(B, 3, 64, 4)`` statistics."""
    row, col, intra = sida_differentials(c)
    return torch.stack([_moments(d.flatten(-2), inplace) for d in (row, col, intra)], dim=1)


def sida_statistics(coeffs: torch.Tensor) -> torch.Tensor:
    r"""SIDA statistics of block-DCT coefficients (paper eqs. 4 to 7).

    For each of the three differentials of :func:`sida_differentials` (order ``row, col,
    intra``), over the spatial positions of ``a = |d|``: mean, std, skewness and Pearson
    kurtosis (population moments, ``scipy.stats.kurtosis(fisher=False)``). The paper's eqs. 5
    to 7 put the absolute value around ``x - mean``; this library reads them, as the text says,
    as moments of the absolute differentials (``|x|`` first, then centred). A constant map (std
    0, e.g. the padded last intra band) gives skew 0 and kurt 0, never NaN.

    Moments are centred before the powers (two passes, chunked so the passes stay in cache):
    raw moments ``E[a^k]`` in float32 break down when the mean is large against the spread.

    Args:
        coeffs: coefficients of shape :math:`(*, C, 64, h, w)`, ``h, w >= 2``.

    Returns:
        Tensor of shape :math:`(*, 4, C, 3, 64)`: (statistic, channel, differential, band), in
        the input's dtype (float16 and bfloat16 inputs are accumulated in float32).

    Example:
        >>> import torch
        >>> from freqforensics.functional import sida_statistics
        >>> sida_statistics(torch.rand(2, 3, 64, 6, 6)).shape
        torch.Size([2, 4, 3, 3, 64])
    """
    _check_coeffs(coeffs, "coeffs", 4, "(..., C, 64, h, w)")
    lead = coeffs.shape[:-3]
    k, h, w = coeffs.shape[-3:]
    dtype = coeffs.dtype
    if dtype in (torch.float16, torch.bfloat16):
        # Fourth powers overflow float16 and the constant-map threshold (a multiple of eps) is
        # meaningless at 8 bits of mantissa: accumulate in float32, return the input dtype.
        coeffs = coeffs.float()
    # math.prod, not -1: an empty batch has no unique -1.
    flat = coeffs.reshape(math.prod(lead), k, h, w)
    inplace = not (torch.is_grad_enabled() and coeffs.requires_grad)
    per_chunk = max(1, _CHUNK_ELEMENTS // (k * h * w))
    # Traced (torch.compile, torch.export, ONNX): one graph for any batch size, no Python
    # chunk loop (its batch-size test would specialise the graph); same numbers per slice.
    if is_tracing() or flat.shape[0] <= per_chunk:
        stats = _slice_statistics(flat, inplace)
    else:
        stats = torch.cat([_slice_statistics(c, inplace) for c in flat.split(per_chunk)])
    stats = stats.reshape(*lead, 3, k, 4)
    return rearrange(stats, "... C d k s -> ... s C d k").to(dtype)
