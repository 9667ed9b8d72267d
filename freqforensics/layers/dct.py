"""Block DCT modules: ``BlockDCT`` (RGB -> YCbCr -> 8x8 DCT -> zigzag) and its inverse."""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torch import nn

from freqforensics._checks import (
    ShapeError,
    check_choice,
    check_dim_size,
    check_float,
    check_multiple,
    check_ndim,
    check_positive_int,
    check_tensor,
)
from freqforensics._tracing import is_tracing
from freqforensics.functional.color import YCBCR_MATRIX, YCBCR_OFFSET
from freqforensics.functional.dct import dct_matrix, exact_float32

__all__ = ["BlockDCT", "BlockIDCT"]

_COLORS = ("ycbcr", "none")


def _transform_matrix(block_size: int, zigzag: bool, color: str) -> torch.Tensor:
    """``(3 * bs^2, 3 * bs^2)`` float64 matrix: colour mixing and block DCT folded together.

    Colour conversion (a 3x3 channel mix) and the block DCT (a mix of the pixels of one block)
    act on different axes, so they commute and fold into one Kronecker product: one matrix
    product over the blocks does both.
    """
    d = dct_matrix(block_size, zigzag, dtype=torch.float64)
    m = torch.as_tensor(YCBCR_MATRIX) if color == "ycbcr" else torch.eye(3, dtype=torch.float64)
    return torch.kron(m, d)


def _block_transform(images: torch.Tensor, m: torch.Tensor, bs: int, dc: float) -> torch.Tensor:
    """``(n, 3, H, W)`` -> ``(n, 3 bs^2, h w)``: one matrix product over the blocks."""
    blocks = rearrange(images, "n c (h p) (w q) -> n (c p q) (h w)", p=bs, q=bs)
    with exact_float32(blocks):
        out = torch.matmul(m, blocks)
    if dc:
        k = bs * bs
        out[:, k::k] += dc  # the DC rows of Cb and Cr, in place: no pass over the output
    return out


class _BlockTransform(torch.autograd.Function):
    """:func:`_block_transform` with a hand-written backward: one product with the transposed
    matrix and one permutation back to the image layout (autograd's own backward of the
    rearrangement, the matrix product and the in-place offset makes several extra copies)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, images: torch.Tensor, m: torch.Tensor, bs: int, dc: float
    ) -> torch.Tensor:
        ctx.save_for_backward(m)
        ctx.bs, ctx.h = bs, images.shape[-2] // bs
        return _block_transform(images, m, bs, dc)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        (m,) = ctx.saved_tensors
        with exact_float32(grad):
            g = torch.matmul(m.T, grad)
        g = rearrange(g, "n (c p q) (h w) -> n c (h p) (w q)", c=3, p=ctx.bs, q=ctx.bs, h=ctx.h)
        return g, None, None, None


class BlockDCT(nn.Module):
    r"""Colour conversion and 8x8 block DCT of a batch of images (paper Section 3.2, Figure 3).

    Equal to ``block_dct(rgb_to_ycbcr(images))`` (or ``block_dct(images)`` with
    ``color="none"``), computed as one matrix product over the blocks with the colour matrix,
    the DCT basis and the zigzag order folded into a single ``192 x 192`` matrix, registered as
    a non-persistent buffer (float64 kept for float64 inputs).

    Args:
        block_size: block side, 8 as in JPEG.
        zigzag: order the coefficient axis in JPEG zigzag order (else natural ``8 u + v``).
        color: ``"ycbcr"`` converts RGB with JPEG's constants first; ``"none"`` transforms the
            channels as given.
        crop: crop the bottom rows and right columns that do not fill a whole block, instead
            of raising.

    Shape:
        - Input: :math:`(N, 3, H, W)`, RGB in [0, 1].
        - Output: :math:`(N, 3, 64, H / 8, W / 8)`.

    Example:
        >>> import torch
        >>> from freqforensics import BlockDCT
        >>> BlockDCT(crop=True)(torch.rand(2, 3, 380, 380)).shape
        torch.Size([2, 3, 64, 47, 47])
    """

    matrix: torch.Tensor
    matrix64: torch.Tensor

    def __init__(
        self,
        block_size: int = 8,
        zigzag: bool = True,
        color: str = "ycbcr",
        crop: bool = False,
    ) -> None:
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.zigzag = bool(zigzag)
        self.color = check_choice(color, "color", _COLORS)
        self.crop = bool(crop)
        m = _transform_matrix(self.block_size, self.zigzag, self.color)
        self.register_buffer("matrix", m.float(), persistent=False)
        self.register_buffer("matrix64", m, persistent=False)

    def extra_repr(self) -> str:
        return (
            f"block_size={self.block_size}, zigzag={self.zigzag}, color={self.color!r}, "
            f"crop={self.crop}"
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor(images, "images")
        check_float(images, "images")
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
        n, h, w = images.shape[0], images.shape[-2] // bs, images.shape[-1] // bs
        m = self.matrix64 if images.dtype == torch.float64 else self.matrix
        m = m.to(images.dtype)
        # +0.5 on Cb and Cr moves only their DC coefficients (a constant c over a block has
        # DC = c * block_size in the orthonormal DCT, at index 0 in both orders).
        dc = 0.5 * bs if self.color == "ycbcr" else 0.0
        if torch.is_grad_enabled() and images.requires_grad and not is_tracing():
            out = _BlockTransform.apply(images, m, bs, dc)
        else:
            out = _block_transform(images, m, bs, dc)
        return out.view(n, 3, bs * bs, h, w)


class BlockIDCT(nn.Module):
    r"""Inverse of :class:`BlockDCT`: coefficients back to an image (RGB when ``color="ycbcr"``).

    Args:
        block_size: block side used by :class:`BlockDCT`.
        zigzag: whether the coefficient axis is in zigzag order.
        color: ``"ycbcr"`` converts back to RGB; ``"none"`` keeps the channels.

    Shape:
        - Input: :math:`(N, 3, 64, h, w)`.
        - Output: :math:`(N, 3, 8h, 8w)`.

    Example:
        >>> import torch
        >>> from freqforensics import BlockDCT, BlockIDCT
        >>> x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
        >>> torch.allclose(BlockIDCT()(BlockDCT()(x)), x)
        True
    """

    matrix: torch.Tensor
    matrix64: torch.Tensor
    offset: torch.Tensor

    def __init__(self, block_size: int = 8, zigzag: bool = True, color: str = "ycbcr") -> None:
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.zigzag = bool(zigzag)
        self.color = check_choice(color, "color", _COLORS)
        inv = torch.linalg.inv(_transform_matrix(self.block_size, self.zigzag, self.color))
        self.register_buffer("matrix", inv.float(), persistent=False)
        self.register_buffer("matrix64", inv, persistent=False)
        off = torch.zeros(3, self.block_size**2, 1, dtype=torch.float64)
        if self.color == "ycbcr":
            off[:, 0, 0] = torch.as_tensor(YCBCR_OFFSET) * self.block_size
        self.register_buffer("offset", off, persistent=False)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}, zigzag={self.zigzag}, color={self.color!r}"

    def forward(self, coeffs: torch.Tensor) -> torch.Tensor:
        bs = self.block_size
        layout = f"(N, 3, {bs * bs}, h, w)"
        check_tensor(coeffs, "coeffs")
        check_float(coeffs, "coeffs")
        if coeffs.ndim != 5 or coeffs.shape[1] != 3 or coeffs.shape[2] != bs * bs:
            raise ShapeError(f"coeffs must have shape {layout}, got {tuple(coeffs.shape)}")
        n, _, _, h, w = coeffs.shape
        if coeffs.dtype == torch.float64:
            m, off = self.matrix64, self.offset
        else:
            m, off = self.matrix.to(coeffs.dtype), self.offset.to(coeffs.dtype)
        flat = coeffs.reshape(n, 3, bs * bs, h * w)
        if self.color == "ycbcr":
            flat = flat - off
        with exact_float32(flat):
            pixels = torch.matmul(m, flat.reshape(n, 3 * bs * bs, h * w))
        return rearrange(pixels, "n (c p q) (h w) -> n c (h p) (w q)", c=3, p=bs, q=bs, h=h)
