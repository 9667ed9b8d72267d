"""RGB <-> YCbCr conversion with the exact JPEG (JFIF, ITU-R BT.601 full range) constants."""

from __future__ import annotations

import numpy as np
import torch

from freqforensics._checks import check_dim_size, check_float, check_ndim, check_tensor

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "YCBCR_MATRIX", "YCBCR_OFFSET"]

#: Rows give Y, Cb, Cr as weights of R, G, B (JFIF section 7, as libjpeg and Pillow use).
YCBCR_MATRIX: np.ndarray = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=np.float64,
)
#: Offsets added to Y, Cb, Cr for images in [0, 1] (128/255 in 8-bit JPEG is 0.5 here).
YCBCR_OFFSET: np.ndarray = np.array([0.0, 0.5, 0.5], dtype=np.float64)
# The exact inverse, computed once in float64 (not the rounded 1.402 / 1.772 constants).
_INVERSE: np.ndarray = np.linalg.inv(YCBCR_MATRIX)

_LAYOUT = "(..., 3, H, W)"


def _check(image: torch.Tensor, name: str) -> None:
    check_tensor(image, name)
    check_float(image, name, image=True)
    check_ndim(image, name, 3, _LAYOUT)
    check_dim_size(image, name, -3, 3, _LAYOUT)


def _mix(
    image: torch.Tensor, matrix: np.ndarray, pre: np.ndarray, post: np.ndarray
) -> torch.Tensor:
    m = torch.as_tensor(matrix, dtype=image.dtype, device=image.device)
    out = torch.einsum("ij,...jhw->...ihw", m, image - _col(pre, image))
    return out + _col(post, image)


def _col(offset: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(offset, dtype=like.dtype, device=like.device).view(3, 1, 1)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    r"""Convert RGB images in [0, 1] to YCbCr with JPEG's constants.

    .. math::
        Y = .299 R + .587 G + .114 B,\quad
        C_b = .5 - .168736 R - .331264 G + .5 B,\quad
        C_r = .5 + .5 R - .418688 G - .081312 B

    Times 255 the result matches Pillow's ``Image.convert("YCbCr")`` to within 1 (Pillow
    rounds to integers). kornia uses rounded constants (0.564, 0.713); this does not.

    Args:
        image: RGB tensor of shape :math:`(*, 3, H, W)` with values in [0, 1].

    Returns:
        YCbCr tensor of the same shape and dtype; Y in [0, 1], Cb and Cr in [0, 1].

    Example:
        >>> import torch
        >>> from freqforensics.functional import rgb_to_ycbcr
        >>> y = rgb_to_ycbcr(torch.ones(2, 3, 8, 8))
        >>> y[0, :, 0, 0]
        tensor([1.0000, 0.5000, 0.5000])
    """
    _check(image, "image")
    return _mix(image, YCBCR_MATRIX, np.zeros(3), YCBCR_OFFSET)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Convert YCbCr back to RGB: the exact (float64-computed) inverse of :func:`rgb_to_ycbcr`.

    Args:
        image: YCbCr tensor of shape :math:`(*, 3, H, W)`.

    Returns:
        RGB tensor of the same shape and dtype. Values are not clamped.

    Example:
        >>> import torch
        >>> from freqforensics.functional import rgb_to_ycbcr, ycbcr_to_rgb
        >>> x = torch.rand(4, 3, 16, 16, dtype=torch.float64)
        >>> torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x)
        True
    """
    _check(image, "image")
    return _mix(image, _INVERSE, YCBCR_OFFSET, np.zeros(3))
