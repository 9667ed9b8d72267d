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

import contextlib
import functools
import math
import threading
from collections.abc import Iterator
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


# Bytes per workspace (there are two) for one chunk of the batch. On the CPU: small enough
# that a chunk's passes run in the cache (measured on the 2-core development machine, 4 MB
# against 16 MB: batch 8 of 384 x 384 images 2.5-3.1 ms against 3.5-4.5 ms, batch 32 24-26 ms
# against 26-30 ms), large enough that a batch takes few chunks (each pass is a parallel
# region, and parallel regions stall when other processes share the cores). The CPU
# workspaces are kept from call to call (see _workspaces). On other devices (one kernel per
# pass, memory from a caching allocator): the whole batch, up to a bound.
_CHUNK_BYTES_CPU = 4 << 20
_CHUNK_BYTES_DEVICE = 256 << 20


class _Scratch(threading.local):
    """Per-thread CPU workspaces, by dtype (two buffers each)."""

    def __init__(self) -> None:
        self.buffers: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}


_SCRATCH = _Scratch()


def _workspaces(like: torch.Tensor, numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two scratch buffers of ``numel`` elements in ``like``'s dtype and device.

    On the CPU they are kept for the next call (per thread and dtype, at most
    ``_CHUNK_BYTES_CPU`` each, so at most 8 MB per thread): a fresh allocation of a few MB is
    returned to the system when freed, and its first use page-faults it in again on every
    call, which costs about as much as a pass over the data. Larger requests and other devices
    get fresh buffers.
    """
    if like.device.type != "cpu" or numel * like.element_size() > _CHUNK_BYTES_CPU:
        return like.new_empty(numel), like.new_empty(numel)
    held = _SCRATCH.buffers.get(like.dtype)
    if held is None or held[0].numel() < numel:
        held = (like.new_empty(numel), like.new_empty(numel))
        _SCRATCH.buffers[like.dtype] = held
    return held[0][:numel], held[1][:numel]


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


def _chunk(x: torch.Tensor, per_item: int, items: int) -> int:
    """Items per chunk: chunks of equal size that each fit in one workspace (at least one item)."""
    limit = _CHUNK_BYTES_CPU if x.device.type == "cpu" else _CHUNK_BYTES_DEVICE
    fits = max(1, limit // (max(1, per_item) * x.element_size()))
    chunks = -(-items // fits)
    return max(1, -(-items // max(1, chunks)))


def _analysis_eager(x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """``(n, c, H, W)`` -> ``(n, c, b^2, h, w)`` contiguous, chunk by chunk, no autograd."""
    n, c, hh, ww = x.shape
    b = plan.block_size
    h, w, kk = hh // b, ww // b, b * b
    hw = h * w
    out = x.new_empty((n, c, kk, h, w))
    if n == 0:
        return out
    step = _chunk(x, c * hh * ww, n)
    spare = _workspaces(x, step * c * hh * ww)
    basis = plan.basis
    with exact_float32(x):
        for i in range(0, n, step):
            k = min(step, n - i)
            m = k * c
            a, z = spare[0][: m * hh * ww], spare[1][: m * hh * ww]
            dst = out[i : i + k]
            # 1. Pixel rows grouped by their row in the block: (k, c, p, h, W) = (.., p, h, w, q),
            # whole image rows moved (the only strided read, any input layout).
            a.view(k, c, b, h, ww).copy_(x[i : i + k].view(k, c, h, b, ww).permute(0, 1, 3, 2, 4))
            # 2. Colour: the channels mixed plane by plane (it commutes with the DCT).
            if plan.mix is not None:
                torch.matmul(plan.mix, a.view(k, c, -1), out=z.view(k, c, -1))
                a, z = z, a
            # 3. The DCT along p -> (u, h, w, q), then along q -> (u, v, h w): natural order.
            torch.matmul(basis, a.view(m, b, -1), out=z.view(m, b, -1))
            a, z = z, a
            rows = a.view(m * b, hw, b).transpose(1, 2)  # (q, h w) for each (channel, u)
            if plan.index is None:
                torch.matmul(basis, rows, out=dst.view(m * b, b, hw))
            else:
                torch.matmul(basis, rows, out=z.view(m * b, b, hw))
                _gather_into(dst.view(m, kk, hw), z.view(m, kk, hw), plan.index, a.view(m, kk, hw))
            if plan.offset is not None:
                _add_dc(dst.view(k, c, kk, hw), plan.offset)
    return out


def _add_dc(coeffs: torch.Tensor, offset: torch.Tensor) -> None:
    """``coeffs[:, :, 0] += offset`` for ``(k, c, K, L)``, in place, one item at a time.

    On the CPU each item's few thousand values stay below torch's threshold for a parallel
    region: a region costs a wake-up of the other threads, a time slice when the cores are
    shared with other processes.
    """
    if coeffs.device.type != "cpu":
        coeffs[:, :, 0] += offset.view(-1, 1)
        return
    for item in coeffs:
        item[:, 0] += offset.view(-1, 1)


def _gather_into(
    dst: torch.Tensor, src: torch.Tensor, index: torch.Tensor, spare: torch.Tensor
) -> None:
    """``dst = src[:, index]`` for ``(m, K, L)`` tensors: the zigzag, a gather of whole planes.

    On the CPU the gather (one thread) goes into the cached ``spare``, then one parallel copy
    writes the output, paying the page faults of fresh memory on both threads.
    """
    if src.device.type == "cpu":
        torch.index_select(src, 1, index, out=spare)
        dst.copy_(spare)
    else:
        torch.index_select(src, 1, index, out=dst)


def _synthesis_eager(coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """``(n, c, b^2, h, w)`` -> ``(n, c, H, W)`` contiguous: :func:`_analysis_eager` backwards."""
    n, c, kk, h, w = coeffs.shape
    b = plan.block_size
    hh, ww, hw = h * b, w * b, h * w
    out = coeffs.new_empty((n, c, hh, ww))
    if n == 0:
        return out
    step = _chunk(coeffs, c * kk * hw, n)
    spare = _workspaces(coeffs, step * c * kk * hw)
    basis_t = plan.basis.T
    offset = plan.offset
    if offset is not None and plan.mix is not None:
        offset = plan.mix @ offset  # the colour mix runs first: mix(y - o) = mix(y) - mix(o)
    with exact_float32(coeffs):
        for i in range(0, n, step):
            k = min(step, n - i)
            m = k * c
            a, z = spare[0][: m * kk * hw], spare[1][: m * kk * hw]
            # (reshape: any strides of the input, a copy only where a view cannot do)
            src = coeffs[i : i + k].reshape(m, kk, hw)
            # 2. Colour first: a parallel matrix product is the pass that reads the input.
            if plan.mix is not None:
                torch.matmul(plan.mix, src.reshape(k, c, -1), out=a.view(k, c, -1))
                src, a, z = a.view(m, kk, hw), z, a
            # 4. Zigzag back to natural order (or a copy: the offset must not touch the input).
            if plan.inverse is not None:
                torch.index_select(src, 1, plan.inverse, out=a.view(m, kk, hw))
                src, a, z = a.view(m, kk, hw), z, a
            elif offset is not None and plan.mix is None:
                a.view(m, kk, hw).copy_(src)
                src, a, z = a.view(m, kk, hw), z, a
            if offset is not None:
                _add_dc(src.view(k, c, kk, hw), -offset)
            # 3. The inverse DCT along v -> (u, q, h w), moved to (u, h, w, q) in the cache (a
            # product with a q-last output would be a narrow and slow one), then along u.
            torch.matmul(basis_t, src.reshape(m * b, b, hw), out=a.view(m * b, b, hw))
            z.view(m * b, hw, b).copy_(a.view(m * b, b, hw).transpose(1, 2))
            torch.matmul(basis_t, z.view(m, b, -1), out=a.view(m, b, -1))
            # 1. Pixel rows back in place, written once into the output.
            dst = out[i : i + k].view(k, c, h, b, ww)
            dst.copy_(a.view(k, c, b, h, ww).permute(0, 1, 3, 2, 4))
    return out


def _analysis_graph(x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """:func:`_analysis_eager` as plain differentiable operations on the whole batch."""
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
    """:func:`_synthesis_eager` as plain differentiable operations on the whole batch."""
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
        return _analysis_eager(x, plan)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        return _Synthesis.apply(grad, ctx.plan.adjoint()), None


class _Synthesis(torch.autograd.Function):
    """Eager inverse transform whose backward is the eager transform with the adjoint plan."""

    @staticmethod
    def forward(ctx: Any, coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:  # type: ignore[override]
        ctx.plan = plan
        return _synthesis_eager(coeffs, plan)

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
    check_float(x, "x")
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
