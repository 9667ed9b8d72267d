"""The chunked eager kernels of :mod:`freqforensics.functional.dct` (float32 and float64).

:func:`analysis_eager` and :func:`synthesis_eager` run the four passes described in that
module's docstring a few images at a time through two reused workspaces, writing each chunk's
result once into the preallocated output. They are the forward of the autograd functions there;
``dct.py`` keeps the public transforms, the plan and the plain whole-batch operations (the
path under compilation, tracing and autocast).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from freqforensics._tracing import is_compiling

if TYPE_CHECKING:
    from freqforensics.functional.dct import BlockPlan

__all__ = ["analysis_eager", "exact_float32", "synthesis_eager"]


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


def _chunk(x: torch.Tensor, per_item: int, items: int) -> int:
    """Items per chunk: chunks of equal size that each fit in one workspace (at least one item)."""
    limit = _CHUNK_BYTES_CPU if x.device.type == "cpu" else _CHUNK_BYTES_DEVICE
    fits = max(1, limit // (max(1, per_item) * x.element_size()))
    chunks = -(-items // fits)
    return max(1, -(-items // max(1, chunks)))


def analysis_eager(x: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
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


def synthesis_eager(coeffs: torch.Tensor, plan: BlockPlan) -> torch.Tensor:
    """``(n, c, b^2, h, w)`` -> ``(n, c, H, W)`` contiguous: :func:`analysis_eager` backwards."""
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
