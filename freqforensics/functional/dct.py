"""Orthonormal 8x8 (or any size) block DCT-II with JPEG zigzag order, and its inverse.

The 2-D DCT of a ``b x b`` block is separable: ``C X C^T`` with ``C`` the 1-D DCT matrix. The
transforms here run it as four passes over the data, each a plain copy or a matrix product
with a small fixed matrix on contiguous memory:

1. one permutation of the pixel rows into the layout ``(p, h, w, q)`` (``p, q`` the pixel's
   row and column in its block, ``h, w`` the block's): whole image rows move, at about the
   speed of a copy, whatever the input's strides;
2. (modules only) the 3 x 3 colour mix across channels, which commutes with the DCT;
3. the 1-D DCT along ``p`` (``C`` times a ``(b, h w b)`` matrix), then along ``q`` (``C``
   times the transposed ``(h w, b)`` matrix of each frequency ``u``), which lands in
   ``(u, v, h w)`` planes: ``2 b`` multiply-adds per coefficient, 16 for 8x8, against
   ``b^2 = 64`` for the ``b^2 x b^2`` Kronecker matrix of :func:`dct_matrix`;
4. the zigzag reordering, a gather of whole coefficient planes.

On the CPU the batch is processed a few images at a time through two reused workspaces of a
few MB (in cache, and no fresh allocations), and each chunk's result is written once into the
preallocated output: the input is read once and the output written once, as in a copy. A
fresh output tensor is page-faulted in by that write, which on the CPU costs about as much as
the copy itself. The inverse runs the same passes backwards with the transposed matrices, and
each direction's backward is the other direction (the transforms are orthogonal), so the
backward costs what the forward costs. While being compiled or exported, under autocast and
for 16-bit inputs the same passes run as plain differentiable tensor operations on the whole
batch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch

from freqforensics._checks import (
    ShapeError,
    autocast_active,
    check_float,
    check_multiple,
    check_ndim,
    check_nonempty,
    check_positive_int,
    check_tensor,
)
from freqforensics._tracing import is_compiling, is_tracing
from freqforensics.functional._dct_kernels import analysis_eager, exact_float32, synthesis_eager

__all__ = ["zigzag_order", "dct_matrix", "block_dct", "block_idct", "exact_float32"]


def zigzag_order(block_size: int = 8) -> torch.Tensor:
    """JPEG zigzag scan order of a ``block_size x block_size`` block.

    Entry ``p`` is the natural (row-major, ``block_size * u + v``) index of the coefficient at
    zigzag position ``p``; ``u`` is the vertical frequency, ``v`` the horizontal. For 8 this is
    ITU-T T.81, Figure A.6. (torchjpeg's ``zigzag()`` applies the inverse of this permutation.)

    Args:
        block_size: side of the block, >= 1.

    Returns:
        ``LongTensor`` of shape ``(block_size**2,)``, a permutation of ``0 .. block_size**2 - 1``.

    Example:
        >>> from freqforensics.functional import zigzag_order
        >>> zigzag_order(8)[:10].tolist()
        [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]
    """
    b = check_positive_int(block_size, "block_size")
    cells = [(u, v) for u in range(b) for v in range(b)]
    # Anti-diagonal s = u + v; odd diagonals run down-left (u rising), even ones up-right.
    cells.sort(key=lambda uv: (uv[0] + uv[1], uv[0] if (uv[0] + uv[1]) % 2 else -uv[0]))
    return torch.tensor([b * u + v for u, v in cells], dtype=torch.long)


def dct_matrix(
    block_size: int = 8,
    zigzag: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ``(block_size**2, block_size**2)`` matrix of the orthonormal 2-D block DCT-II.

    Row ``k`` holds the basis image of coefficient ``k`` (zigzag position when ``zigzag``,
    else natural ``block_size * u + v``), flattened row-major over the block's pixels. It is
    orthogonal: its transpose is the inverse transform. Built in float64, then cast.

    Example:
        >>> import torch
        >>> from freqforensics.functional import dct_matrix
        >>> m = dct_matrix(8)
        >>> torch.allclose(m @ m.T, torch.eye(64, dtype=torch.float64))
        True
    """
    b = check_positive_int(block_size, "block_size")
    if is_compiling():
        m = _build_matrix(b, bool(zigzag))
    else:
        m = _cached_matrix(b, bool(zigzag))
    return m.to(dtype=dtype, device=device, copy=True)


@functools.lru_cache(maxsize=16)
def _cached_matrix(b: int, zigzag: bool) -> torch.Tensor:
    return _build_matrix(b, zigzag)


def _basis(b: int) -> torch.Tensor:
    """``(b, b)`` float64 orthonormal 1-D DCT-II matrix: row ``u`` is frequency ``u``."""
    n = torch.arange(b, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * b))
    c[0] *= math.sqrt(1.0 / b)
    c[1:] *= math.sqrt(2.0 / b)
    return c


_cached_basis = functools.lru_cache(maxsize=16)(_basis)


def _zigzag_pair(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The zigzag gather index and its inverse permutation."""
    index = zigzag_order(b)
    return index, torch.argsort(index)


_cached_zigzag_pair = functools.lru_cache(maxsize=16)(_zigzag_pair)


def _build_matrix(b: int, zigzag: bool) -> torch.Tensor:
    c = _basis(b)
    m = torch.kron(c, c)
    if zigzag:
        m = m[zigzag_order(b)]
    return m


@dataclass(frozen=True)
class BlockPlan:
    """The fixed tensors of one block transform, in the dtype and device of its input.

    Attributes:
        basis: ``(b, b)`` 1-D DCT-II matrix (row ``u`` is frequency ``u``).
        index: ``(b^2,)`` zigzag gather (the natural index of each zigzag position), or
            ``None`` for natural order.
        inverse: the inverse permutation of ``index``, or ``None``.
        mix: ``(c, c)`` channel mix (colour conversion) applied with the transform, or ``None``.
        offset: ``(c,)`` value added to each channel's DC coefficient after the transform
            (subtracted before the inverse), or ``None``.
    """

    basis: torch.Tensor
    index: torch.Tensor | None = None
    inverse: torch.Tensor | None = None
    mix: torch.Tensor | None = None
    offset: torch.Tensor | None = None

    @property
    def block_size(self) -> int:
        return int(self.basis.shape[0])

    def adjoint(self) -> BlockPlan:
        """The plan of the transposed linear map: transposed mix, no offset."""
        mix = None if self.mix is None else self.mix.T
        return BlockPlan(self.basis, self.index, self.inverse, mix, None)

    @classmethod
    def build(
        cls,
        block_size: int,
        zigzag: bool,
        like: torch.Tensor,
        mix: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
    ) -> BlockPlan:
        """A plan from the cached float64 bases (or the given ones), cast like ``like``.

        16-bit inputs get 16-bit matrices (as ``torch.matmul`` needs one dtype).
        """
        dtype, device = like.dtype, like.device
        compiling = is_compiling()  # no lru_cache inside a traced graph
        basis = _basis(block_size) if compiling else _cached_basis(block_size)
        index = inverse = None
        if zigzag:
            pair = _zigzag_pair(block_size) if compiling else _cached_zigzag_pair(block_size)
            index, inverse = pair[0].to(device), pair[1].to(device)
        return cls(
            basis.to(dtype=dtype, device=device),
            index,
            inverse,
            None if mix is None else mix.to(dtype=dtype, device=device),
            None if offset is None else offset.to(dtype=dtype, device=device),
        )


def _eager(x: torch.Tensor) -> bool:
    """Whether the chunked eager kernels run (else: plain tensor operations on the batch)."""
    return (
        x.dtype in (torch.float32, torch.float64)
        and not is_tracing()
        and not torch.jit.is_tracing()
        and not autocast_active(x.device.type)
    )


def _analysis_graph(x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """:func:`analysis_eager` as plain differentiable operations on the whole batch."""
    c, hh, ww = x.shape[-3:]
    b = plan.block_size
    h, w, kk = hh // b, ww // b, b * b
    t = x.reshape(-1, c, h, b, ww).permute(0, 1, 3, 2, 4).reshape(-1, c, hh * ww)
    with exact_float32(t):
        if plan.mix is not None:
            t = torch.matmul(plan.mix, t)
        t = torch.matmul(plan.basis, t.reshape(-1, b, h * ww))
        t = torch.matmul(plan.basis, t.reshape(-1, h * w, b).transpose(1, 2))
    t = t.reshape(-1, c, kk, h, w)
    if plan.index is not None:
        t = t.index_select(2, plan.index)
    if plan.offset is not None:
        t = t + _dc_column(plan.offset, kk).to(t.dtype)
    return t


def _synthesis_graph(coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """:func:`synthesis_eager` as plain differentiable operations on the whole batch."""
    c, kk, h, w = coeffs.shape[-4:]
    b = plan.block_size
    t = coeffs.reshape(-1, c, kk, h, w)
    if plan.inverse is not None:
        t = t.index_select(2, plan.inverse)
    if plan.offset is not None:
        t = t - _dc_column(plan.offset, kk).to(t.dtype)
    with exact_float32(t):
        t = torch.matmul(t.reshape(-1, b, h * w).transpose(1, 2), plan.basis)
        t = torch.matmul(plan.basis.T, t.reshape(-1, b, h * w * b))
        t = t.reshape(-1, c, kk * h * w)
        if plan.mix is not None:
            t = torch.matmul(plan.mix, t)
    return t.reshape(-1, c, b, h, w * b).permute(0, 1, 3, 2, 4).reshape(-1, c, h * b, w * b)


def _dc_column(offset: torch.Tensor, kk: int) -> torch.Tensor:
    """``(c, kk, 1, 1)``: ``offset`` at coefficient 0 (the DC, first in both orders), else 0."""
    return torch.nn.functional.pad(offset.view(-1, 1, 1, 1), (0, 0, 0, 0, 0, kk - 1))


class _Analysis(torch.autograd.Function):
    """Eager block transform whose backward is the eager inverse with the adjoint plan."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:  # type: ignore[override]
        ctx.plan = plan
        return analysis_eager(x, plan)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        return _Synthesis.apply(grad, ctx.plan.adjoint()), None


class _Synthesis(torch.autograd.Function):
    """Eager inverse transform whose backward is the eager transform with the adjoint plan."""

    @staticmethod
    def forward(ctx: Any, coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:  # type: ignore[override]
        ctx.plan = plan
        return synthesis_eager(coeffs, plan)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        return _Analysis.apply(grad, ctx.plan.adjoint()), None


def block_transform(x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """Block DCT of ``(N, C, H, W)`` (validated, H and W multiples of the block size).

    Returns the contiguous ``(N, C, b^2, H/b, W/b)`` coefficients; differentiable. The eager
    kernels run for float32 and float64 outside tracing and autocast, plain tensor operations
    otherwise.
    """
    if _eager(x):
        return _Analysis.apply(x, plan)
    return _analysis_graph(x, plan)


def block_inverse(coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """Inverse of :func:`block_transform`: ``(N, C, b^2, h, w)`` -> ``(N, C, h b, w b)``."""
    if _eager(coeffs):
        return _Synthesis.apply(coeffs, plan)
    return _synthesis_graph(coeffs, plan)


def block_dct(x: torch.Tensor, block_size: int = 8, zigzag: bool = True) -> torch.Tensor:
    r"""Orthonormal 2-D DCT-II of each non-overlapping ``block_size x block_size`` block.

    Each block gives the same numbers as ``scipy.fft.dctn(block, norm="ortho")``; coefficient
    ``(u, v)`` has ``u`` the vertical frequency (block row) and ``v`` the horizontal.

    Args:
        x: tensor of shape :math:`(*, H, W)`, H and W multiples of ``block_size``.
        block_size: block side (8 as in JPEG).
        zigzag: order the coefficient axis in JPEG zigzag order (else natural ``8 u + v``).

    Returns:
        Tensor of shape :math:`(*, \text{block\_size}^2, H / \text{bs}, W / \text{bs})`.

    Example:
        >>> import torch
        >>> from freqforensics.functional import block_dct
        >>> c = block_dct(torch.rand(2, 3, 32, 48))
        >>> c.shape
        torch.Size([2, 3, 64, 4, 6])
    """
    check_tensor(x, "x")
    b = check_positive_int(block_size, "block_size")
    check_float(x, "x", image=True)
    check_ndim(x, "x", 2, "(..., H, W)")
    check_multiple(x, "x", b, "crop or pad it, or build BlockDCT(crop=True)")
    *lead, hh, ww = x.shape
    plan = BlockPlan.build(b, bool(zigzag), x)
    out = block_transform(x.reshape(-1, 1, hh, ww), plan)
    return out.view(*lead, b * b, hh // b, ww // b)


def block_idct(coeffs: torch.Tensor, block_size: int = 8, zigzag: bool = True) -> torch.Tensor:
    r"""Inverse of :func:`block_dct`: rebuild the image from its block coefficients.

    Args:
        coeffs: tensor of shape :math:`(*, \text{bs}^2, h, w)`, ``h, w >= 1``.
        block_size: block side used by :func:`block_dct`.
        zigzag: whether the coefficient axis is in zigzag order.

    Returns:
        Tensor of shape :math:`(*, h \cdot \text{bs}, w \cdot \text{bs})`.

    Example:
        >>> import torch
        >>> from freqforensics.functional import block_dct, block_idct
        >>> x = torch.rand(2, 16, 24, dtype=torch.float64)
        >>> torch.allclose(block_idct(block_dct(x)), x)
        True
    """
    check_tensor(coeffs, "coeffs")
    b = check_positive_int(block_size, "block_size")
    check_float(coeffs, "coeffs")
    layout = "(..., block_size**2, h, w)"
    check_ndim(coeffs, "coeffs", 3, layout)
    if coeffs.shape[-3] != b * b:
        raise ShapeError(
            f"coeffs must have block_size**2={b * b} coefficients at dimension -3 "
            f"(..., {b * b}, h, w), got shape {tuple(coeffs.shape)}"
        )
    check_nonempty(coeffs, "coeffs", (-2, -1), ("h", "w"), layout)
    *lead, kk, h, w = coeffs.shape
    plan = BlockPlan.build(b, bool(zigzag), coeffs)
    out = block_inverse(coeffs.reshape(-1, 1, kk, h, w), plan)
    return out.view(*lead, h * b, w * b)
