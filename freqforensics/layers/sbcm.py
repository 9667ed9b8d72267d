"""SBCM: the Spectral Band Convolution Module (paper Section 3.2.2, eq. 9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from einops import rearrange
from torch import nn

from freqforensics._checks import (
    ShapeError,
    check_float,
    check_nonempty,
    check_param_dtype,
    check_positive_int,
    check_tensor,
)

__all__ = ["SBCM"]


class SBCM(nn.Module):
    r"""Stacked 3-D convolutions along the 64 DCT bands, never across blocks (paper eq. 9).

    Each stage is ``Conv3d`` with kernel ``(k, 1, 1)`` (``k = 7, 5, 3`` by default: long-range
    band interactions first, then ever more local ones), ``"same"`` padding along the bands,
    normalisation and activation. The 64 bands are then reduced to ``out_bands`` band groups by a
    learnable per-channel linear map along the band axis (initialised as the averages of
    ``out_bands`` contiguous zigzag ranges: low, mid and high frequencies for 3), and the output
    is flattened over ``(channel, band group)``: ``C * out_bands = 192`` features per block.

    The paper says only that the bands end up as 3 groups of 64 channels; the learnable
    grouped reduction initialised as low/mid/high averages is this library's reading.
    Every operation acts on one block position at a time: changing the coefficients of one block
    changes the output at that block only (with BatchNorm in eval mode; in training mode batch
    statistics couple all positions, as in any BatchNorm network).

    Input rules (as for every layer of the library, see the conventions page): ``coeffs`` must
    have the dtype of the parameters outside autocast (a :class:`~freqforensics._checks.ShapeError`
    names both dtypes otherwise: convert the input or the module with ``.to(dtype)``); the
    block grid must be non-empty (``h, w >= 1``), while an empty batch (``N = 0``) gives an
    empty output. NaN and inf are not checked (a check would cost a device sync): they
    propagate to the output like any torch op's.

    Args:
        in_channels: colour channels of the input (3 for YCbCr).
        channels: output channels of each Conv3d stage.
        kernel_sizes: band-axis kernel size of each stage.
        out_bands: number of band groups after the reduction.
        bands: number of DCT coefficients per block (64).
        norm_layer: normalisation after each convolution (``nn.BatchNorm3d`` by default).
        act_layer: activation after each normalisation (``nn.ReLU`` by default).

    Shape:
        - Input: :math:`(N, C_{in}, 64, h, w)`, e.g. the output of :class:`BlockDCT`.
        - Output: :math:`(N, C_{last} \cdot \text{out\_bands}, h, w)`.

    Example:
        >>> import torch
        >>> from freqforensics import SBCM
        >>> SBCM()(torch.randn(2, 3, 64, 10, 12)).shape
        torch.Size([2, 192, 10, 12])
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (16, 32, 64),
        kernel_sizes: Sequence[int] = (7, 5, 3),
        out_bands: int = 3,
        bands: int = 64,
        norm_layer: Callable[[int], nn.Module] | None = None,
        act_layer: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_bands, "out_bands")
        self.bands = check_positive_int(bands, "bands")
        if len(channels) != len(kernel_sizes) or len(channels) == 0:
            raise ValueError(
                f"channels and kernel_sizes must be non-empty and of equal length, got "
                f"channels={tuple(channels)} and kernel_sizes={tuple(kernel_sizes)}"
            )
        if out_bands > bands:
            raise ValueError(f"out_bands must be <= bands={bands}, got {out_bands}")
        norm = norm_layer or nn.BatchNorm3d
        act = act_layer or (lambda: nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        prev = in_channels
        for c, k in zip(channels, kernel_sizes):
            check_positive_int(c, "channels[i]")
            if check_positive_int(k, "kernel_sizes[i]") % 2 == 0:
                raise ValueError(
                    f"kernel_sizes must be odd (same padding), got {tuple(kernel_sizes)}"
                )
            layers += [
                nn.Conv3d(prev, c, kernel_size=(k, 1, 1), padding=(k // 2, 0, 0), bias=False),
                norm(c),
                act(),
            ]
            prev = c
        self.blocks = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_channels = prev
        self.out_bands = out_bands
        # Grouped (per-channel) linear map over the band axis: bands -> out_bands.
        self.reduce = nn.Conv3d(prev, prev * out_bands, kernel_size=(bands, 1, 1), groups=prev)
        with torch.no_grad():
            w = torch.zeros(out_bands, bands)
            for g, idx in enumerate(torch.arange(bands).tensor_split(out_bands)):
                w[g, idx] = 1.0 / len(idx)
            self.reduce.weight.copy_(w.repeat(prev, 1).view(prev * out_bands, 1, bands, 1, 1))
            assert self.reduce.bias is not None
            self.reduce.bias.zero_()

    @property
    def out_features(self) -> int:
        """Channels of the output map: ``channels[-1] * out_bands``."""
        return self.out_channels * self.out_bands

    def forward(self, coeffs: torch.Tensor) -> torch.Tensor:
        check_tensor(coeffs, "coeffs")
        check_float(coeffs, "coeffs")
        layout = f"(N, {self.in_channels}, {self.bands}, h, w)"
        if coeffs.ndim != 5 or coeffs.shape[1] != self.in_channels or coeffs.shape[2] != self.bands:
            raise ShapeError(f"coeffs must have shape {layout}, got {tuple(coeffs.shape)}")
        check_nonempty(coeffs, "coeffs", (3, 4), ("h", "w"), layout)
        check_param_dtype(coeffs, "coeffs", self.reduce.weight.dtype, "SBCM")
        x = self.reduce(self.blocks(coeffs))  # (N, C * G, 1, h, w)
        return rearrange(x, "n cg 1 h w -> n cg h w")
