"""Hypothesis strategies shared by the test suite (all of them live here).

Tensors are not drawn element by element (slow and pointless for floats): a strategy draws the
shape, a seed and a few scale parameters, and builds the tensor with a seeded
``torch.Generator``. Shrinking then acts on the shape and the parameters, which is what a
failure report needs.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

__all__ = [
    "seeds",
    "float_dtypes",
    "lead_shapes",
    "grids",
    "randn",
    "block_inputs",
    "images",
    "sida_coefficients",
    "sbcm_inputs",
]

#: Seeds for ``torch.Generator``.
seeds = st.integers(min_value=0, max_value=2**31 - 1)

#: The dtypes every public op must support exactly.
float_dtypes = st.sampled_from([torch.float32, torch.float64])


def lead_shapes(max_dims: int = 2, max_size: int = 3, min_dims: int = 0) -> st.SearchStrategy:
    """Leading batch shapes ``(...)``: 0 to ``max_dims`` axes of 1 to ``max_size`` each."""
    return st.lists(
        st.integers(min_value=1, max_value=max_size), min_size=min_dims, max_size=max_dims
    ).map(tuple)


def grids(min_blocks: int = 1, max_blocks: int = 4) -> st.SearchStrategy:
    """Block grids ``(h, w)``, each side in ``[min_blocks, max_blocks]``."""
    side = st.integers(min_value=min_blocks, max_value=max_blocks)
    return st.tuples(side, side)


def randn(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Standard normal tensor from a seeded generator (float64 drawn, then cast)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


@st.composite
def block_inputs(
    draw: st.DrawFn,
    dtype: torch.dtype | None = None,
    block_sizes: tuple[int, ...] = (8,),
    max_blocks: int = 4,
) -> tuple[torch.Tensor, int]:
    """``(x, block_size)``: any ``(..., H, W)`` tensor with H, W multiples of ``block_size``."""
    bs = draw(st.sampled_from(block_sizes))
    lead = draw(lead_shapes())
    h, w = draw(grids(1, max_blocks))
    dt = dtype if dtype is not None else draw(float_dtypes)
    scale = draw(st.sampled_from([1e-3, 1.0, 255.0]))
    x = randn((*lead, h * bs, w * bs), draw(seeds), dt) * scale
    return x, bs


@st.composite
def images(
    draw: st.DrawFn,
    dtype: torch.dtype | None = None,
    min_blocks: int = 1,
    max_blocks: int = 4,
    batch: bool = True,
) -> torch.Tensor:
    """RGB images in [0, 1], ``(N, 3, H, W)`` (or ``(..., 3, H, W)`` with ``batch=False``)."""
    lead = (draw(st.integers(1, 3)),) if batch else draw(lead_shapes())
    h, w = draw(grids(min_blocks, max_blocks))
    dt = dtype if dtype is not None else draw(float_dtypes)
    g = torch.Generator().manual_seed(draw(seeds))
    return torch.rand((*lead, 3, 8 * h, 8 * w), generator=g, dtype=torch.float64).to(dt)


@st.composite
def sida_coefficients(
    draw: st.DrawFn,
    dtype: torch.dtype | None = None,
    max_blocks: int = 5,
) -> torch.Tensor:
    """Block-DCT-like coefficients ``(..., C, 64, h, w)`` for the SIDA statistics.

    Three kinds, at scales from 1e-3 to 1e3:

    - ``noise``: Gaussian coefficients around an offset;
    - ``ramp``: cumulative sums of ``offset + noise`` along both grid axes, so the row and col
      differentials have a mean up to 1000 times their spread (where raw moments in float32
      break down);
    - ``quantized``: integer coefficients (ties, exact zeros, possibly constant maps), as read
      from JPEG files.
    """
    lead = draw(lead_shapes(max_dims=1, max_size=2))
    c = draw(st.integers(1, 3))
    h, w = draw(grids(2, max_blocks))
    dt = dtype if dtype is not None else draw(float_dtypes)
    kind = draw(st.sampled_from(["noise", "ramp", "quantized"]))
    scale = 10.0 ** draw(st.integers(-3, 3))
    seed = draw(seeds)
    shape = (*lead, c, 64, h, w)
    if kind == "quantized":
        x = torch.round(randn(shape, seed) * max(scale, 1.0))
    else:
        offset = draw(st.sampled_from([0.0, 10.0, 1000.0])) * scale
        noise_h = randn(shape, seed) * scale
        noise_w = randn(shape, seed + 1) * scale
        if kind == "noise":
            x = offset + noise_h
        else:
            x = torch.cumsum(offset + noise_h, dim=-2) + torch.cumsum(offset + noise_w, dim=-1)
    return x.to(dt)


@st.composite
def sbcm_inputs(draw: st.DrawFn, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """SBCM input ``(N, 3, 64, h, w)`` for small grids."""
    n = draw(st.integers(1, 3))
    h, w = draw(grids(1, 4))
    return randn((n, 3, 64, h, w), draw(seeds), dtype)
