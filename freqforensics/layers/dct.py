"""Block DCT modules: ``BlockDCT`` (RGB -> YCbCr -> 8x8 DCT -> zigzag) and its inverse."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from freqforensics._checks import (
    ShapeError,
    check_bool,
    check_choice,
    check_dim_size,
    check_float,
    check_multiple,
    check_ndim,
    check_nonempty,
    check_positive_int,
    check_tensor,
)
from freqforensics.functional.color import YCBCR_MATRIX, YCBCR_OFFSET
from freqforensics.functional.dct import (
    BlockPlan,
    _cached_basis,
    block_inverse,
    block_transform,
    zigzag_order,
)

__all__ = ["BlockDCT", "BlockIDCT"]

_COLORS = ("ycbcr", "none")
# The exact inverse of the colour matrix, computed once in float64.
_YCBCR_INVERSE = np.linalg.inv(YCBCR_MATRIX)


def _register_bases(
    module: nn.Module, block_size: int, zigzag: bool, mix: torch.Tensor | None
) -> None:
    """Non-persistent buffers: the 1-D DCT basis and colour matrix in float64, zigzag index."""
    module.register_buffer("basis", _cached_basis(block_size).clone(), persistent=False)
    module.register_buffer("mix", mix, persistent=False)
    index = inverse = None
    if zigzag:
        index = zigzag_order(block_size)
        inverse = torch.argsort(index)
    module.register_buffer("zigzag_index", index, persistent=False)
    module.register_buffer("zigzag_inverse", inverse, persistent=False)


def _plan(module: BlockDCT | BlockIDCT, like: torch.Tensor) -> BlockPlan:
    """The module's bases in ``like``'s dtype (float64 kept for float64 inputs)."""
    dtype = like.dtype
    mix, offset = module.mix, module.dc_offset
    return BlockPlan(
        module.basis.to(dtype),
        module.zigzag_index,
        module.zigzag_inverse,
        None if mix is None else mix.to(dtype),
        None if offset is None else offset.to(dtype),
    )


class BlockDCT(nn.Module):
    r"""Colour conversion and 8x8 block DCT of a batch of images (paper Section 3.2, Figure 3).

    Equal to ``block_dct(rgb_to_ycbcr(images))`` (or ``block_dct(images)`` with
    ``color="none"``). The colour matrix is linear and its offset only moves the DC
    coefficients of Cb and Cr, so it commutes with the DCT: the module permutes the pixels into
    block layout once, mixes the channels (3 multiply-adds per value), runs the separable DCT
    (8 along the block rows, 8 along the columns) and gathers the zigzag order, on cached
    chunks of the batch written once into the output (see :mod:`freqforensics.functional.dct`).
    The bases are non-persistent float64 buffers, cast to the input's dtype.

    Args:
        block_size: block side, 8 as in JPEG.
        zigzag: order the coefficient axis in JPEG zigzag order (else natural ``8 u + v``).
        color: ``"ycbcr"`` converts RGB with JPEG's constants first; ``"none"`` transforms the
            channels as given.
        crop: crop the bottom rows and right columns that do not fill a whole block, instead
            of raising.

    Shape:
        - Input: :math:`(N, 3, H, W)`, RGB in [0, 1].
        - Output: :math:`(N, 3, 64, H / 8, W / 8)`, contiguous.

    Example:
        >>> import torch
        >>> from freqforensics import BlockDCT
        >>> BlockDCT(crop=True)(torch.rand(2, 3, 380, 380)).shape
        torch.Size([2, 3, 64, 47, 47])
    """

    basis: torch.Tensor
    mix: torch.Tensor | None
    zigzag_index: torch.Tensor | None
    zigzag_inverse: torch.Tensor | None
    dc_offset: torch.Tensor | None

    def __init__(
        self,
        block_size: int = 8,
        zigzag: bool = True,
        color: str = "ycbcr",
        crop: bool = False,
    ) -> None:
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.zigzag = check_bool(zigzag, "zigzag")
        self.color = check_choice(color, "color", _COLORS)
        self.crop = check_bool(crop, "crop")
        ycbcr = self.color == "ycbcr"
        mix = torch.as_tensor(YCBCR_MATRIX, dtype=torch.float64) if ycbcr else None
        _register_bases(self, self.block_size, self.zigzag, mix)
        # +0.5 on Cb and Cr moves only their DC coefficients: a constant c over a block has
        # DC = c * block_size in the orthonormal DCT.
        offset = torch.as_tensor(YCBCR_OFFSET, dtype=torch.float64) * self.block_size
        self.register_buffer("dc_offset", offset if ycbcr else None, persistent=False)

    def extra_repr(self) -> str:
        return (
            f"block_size={self.block_size}, zigzag={self.zigzag}, color={self.color!r}, "
            f"crop={self.crop}"
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor(images, "images")
        check_float(images, "images", image=True)
        check_ndim(images, "images", 4, "(N, 3, H, W)")
        if images.ndim != 4:
            raise ShapeError(
                f"images must have shape (N, 3, H, W), got {tuple(images.shape)}; "
                "use freqforensics.functional.block_dct for other layouts"
            )
        check_dim_size(images, "images", 1, 3, "(N, 3, H, W)")
        bs = self.block_size
        if self.crop:
            hc, wc = images.shape[-2] // bs * bs, images.shape[-1] // bs * bs
            if hc == 0 or wc == 0:
                raise ShapeError(
                    f"images of shape {tuple(images.shape)} are smaller than one "
                    f"{bs} x {bs} block"
                )
            images = images[..., :hc, :wc]
        check_multiple(images, "images", bs, "crop or pad it, or build BlockDCT(crop=True)")
        return block_transform(images, _plan(self, images))


class BlockIDCT(nn.Module):
    r"""Inverse of :class:`BlockDCT`: coefficients back to an image (RGB when ``color="ycbcr"``).

    The passes of :class:`BlockDCT` backwards: the zigzag undone, the DC offset removed, the
    transposed separable DCT, the inverse colour matrix (exact, float64), the pixels back from
    block layout.

    Args:
        block_size: block side used by :class:`BlockDCT`.
        zigzag: whether the coefficient axis is in zigzag order.
        color: ``"ycbcr"`` converts back to RGB; ``"none"`` keeps the channels.

    Shape:
        - Input: :math:`(N, 3, 64, h, w)`, ``h, w >= 1``.
        - Output: :math:`(N, 3, 8h, 8w)`, contiguous.

    Example:
        >>> import torch
        >>> from freqforensics import BlockDCT, BlockIDCT
        >>> x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
        >>> torch.allclose(BlockIDCT()(BlockDCT()(x)), x)
        True
    """

    basis: torch.Tensor
    mix: torch.Tensor | None
    zigzag_index: torch.Tensor | None
    zigzag_inverse: torch.Tensor | None
    dc_offset: torch.Tensor | None

    def __init__(self, block_size: int = 8, zigzag: bool = True, color: str = "ycbcr") -> None:
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.zigzag = check_bool(zigzag, "zigzag")
        self.color = check_choice(color, "color", _COLORS)
        ycbcr = self.color == "ycbcr"
        inv = torch.as_tensor(_YCBCR_INVERSE, dtype=torch.float64) if ycbcr else None
        _register_bases(self, self.block_size, self.zigzag, inv)
        offset = torch.as_tensor(YCBCR_OFFSET, dtype=torch.float64) * self.block_size
        self.register_buffer("dc_offset", offset if ycbcr else None, persistent=False)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}, zigzag={self.zigzag}, color={self.color!r}"

    def forward(self, coeffs: torch.Tensor) -> torch.Tensor:
        bs = self.block_size
        layout = f"(N, 3, {bs * bs}, h, w)"
        check_tensor(coeffs, "coeffs")
        check_float(coeffs, "coeffs")
        if coeffs.ndim != 5 or coeffs.shape[1] != 3 or coeffs.shape[2] != bs * bs:
            raise ShapeError(f"coeffs must have shape {layout}, got {tuple(coeffs.shape)}")
        check_nonempty(coeffs, "coeffs", (3, 4), ("h", "w"), layout)
        return block_inverse(coeffs, _plan(self, coeffs))
