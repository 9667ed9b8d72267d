"""Orthonormal 8x8 (or any size) block DCT-II with JPEG zigzag order, and its inverse.

Both directions are one matrix product over the blocks: the 2-D DCT of a ``b x b`` block is the
Kronecker product ``C (x) C`` of the 1-D DCT matrix acting on the block flattened row-major, and
the zigzag reordering is folded into the rows of that ``b^2 x b^2`` matrix. The inverse is its
transpose (the matrix is orthogonal).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import torch
from einops import rearrange

from freqforensics._checks import (
    ShapeError,
    check_float,
    check_multiple,
    check_ndim,
    check_positive_int,
    check_tensor,
)
from freqforensics._tracing import is_compiling

__all__ = ["zigzag_order", "dct_matrix", "block_dct", "block_idct", "exact_float32"]


@contextlib.contextmanager
def exact_float32(x: torch.Tensor) -> Iterator[None]:
    """Keep float32 CUDA matrix products in full float32 inside the block (no TF32).

    cuBLAS may run float32 matrix products as TF32 (10-bit mantissa, about 1e-3 relative
    error: half a quantisation step on a DC coefficient) when a program set
    ``torch.set_float32_matmul_precision("high")`` or ``allow_tf32``. The transforms of this
    library must not silently lose that precision, so they ask for ``"highest"`` while they
    run, and restore the setting after. Does nothing on the CPU, for other dtypes, or while
    being compiled.
    """
    if x.is_cuda and x.dtype == torch.float32 and not is_compiling():
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(previous)
    else:
        yield


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


def _build_matrix(b: int, zigzag: bool) -> torch.Tensor:
    n = torch.arange(b, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * b))
    c[0] *= math.sqrt(1.0 / b)
    c[1:] *= math.sqrt(2.0 / b)
    m = torch.kron(c, c)
    if zigzag:
        m = m[zigzag_order(b)]
    return m


def _matrix_like(x: torch.Tensor, block_size: int, zigzag: bool) -> torch.Tensor:
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return dct_matrix(block_size, zigzag, dtype=dtype, device=x.device)


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
    check_positive_int(block_size, "block_size")
    check_float(x, "x")
    check_ndim(x, "x", 2, "(..., H, W)")
    check_multiple(x, "x", block_size, "crop or pad it, or build BlockDCT(crop=True)")
    m = _matrix_like(x, block_size, zigzag)
    h, w = x.shape[-2] // block_size, x.shape[-1] // block_size
    blocks = rearrange(x, "... (h p) (w q) -> ... (p q) (h w)", p=block_size, q=block_size)
    with exact_float32(blocks):
        out = torch.matmul(m.to(blocks.dtype), blocks)
    return out.unflatten(-1, (h, w))


def block_idct(coeffs: torch.Tensor, block_size: int = 8, zigzag: bool = True) -> torch.Tensor:
    r"""Inverse of :func:`block_dct`: rebuild the image from its block coefficients.

    Args:
        coeffs: tensor of shape :math:`(*, \text{bs}^2, h, w)`.
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
    check_ndim(coeffs, "coeffs", 3, "(..., block_size**2, h, w)")
    if coeffs.shape[-3] != b * b:
        raise ShapeError(
            f"coeffs must have block_size**2={b * b} coefficients at dimension -3 "
            f"(..., {b * b}, h, w), got shape {tuple(coeffs.shape)}"
        )
    m = _matrix_like(coeffs, b, zigzag)
    flat = coeffs.flatten(-2)
    with exact_float32(flat):
        pixels = torch.matmul(m.T.to(flat.dtype), flat)
    return rearrange(
        pixels,
        "... (p q) (h w) -> ... (h p) (w q)",
        p=b,
        q=b,
        h=coeffs.shape[-2],
    )
