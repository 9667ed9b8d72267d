"""The SIDA global branch as a module: original-resolution crops -> 2304 statistics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from freqforensics._checks import ShapeError, check_float, check_positive_int, check_tensor
from freqforensics.functional.sida import sida_statistics
from freqforensics.layers.dct import BlockDCT

__all__ = ["SIDA", "SIDA_DIM"]

#: Length of the SIDA vector: 4 statistics x 3 channels x 3 differentials x 64 bands.
SIDA_DIM = 2304
_MIN_SIZE = 16


class SIDA(nn.Module):
    r"""Scale-Invariant Differential Analysis, the global frequency branch (paper eqs. 1 to 8).

    YCbCr conversion, 8x8 block DCT at the crop's original resolution, the three differentials
    and their four statistics (:func:`~freqforensics.functional.sida_statistics`), flattened in
    the order ``(statistic, channel, differential, band)``: the first 192 entries are the means
    for Y (64 row, 64 col, 64 intra). The vector has the same length whatever the crop size,
    so face crops are never resized before this branch (the paper's point). No parameters.

    Input rules (the library's, see the conventions page): floating-point RGB of any float
    dtype, returned in the input's dtype (float16 and bfloat16 moments are accumulated in
    float32). NaN and inf are not checked (a check would cost a device sync): they propagate
    to the statistics like any torch op's.

    Args:
        block_size: DCT block side; only 8 is accepted (the statistics are defined on 64
            bands): any other value raises :class:`ValueError` here, not in ``forward``.

    Shape:
        - Input: a tensor :math:`(N, 3, H, W)`, or a list of :math:`(3, H_i, W_i)` tensors of
          different sizes, RGB in [0, 1], each at least 16 x 16. Sizes that are not multiples of
          8 are cropped to the 8-pixel grid from the top-left (bottom rows and right columns
          are dropped).
        - Output: :math:`(N, 2304)`.

    Example:
        >>> import torch
        >>> from freqforensics import SIDA
        >>> crops = [torch.rand(3, 200, 160), torch.rand(3, 97, 131)]
        >>> SIDA()(crops).shape
        torch.Size([2, 2304])
    """

    def __init__(self, block_size: int = 8) -> None:
        super().__init__()
        check_positive_int(block_size, "block_size")
        if block_size != 8:
            raise ValueError(
                f"block_size must be 8, got {block_size}: the SIDA vector is defined on the 64 "
                f"bands of 8x8 blocks ({SIDA_DIM} = 4 statistics x 3 channels x 3 "
                "differentials x 64 bands)"
            )
        self.dct = BlockDCT(block_size=block_size, zigzag=True, color="ycbcr", crop=True)

    def _one_size(self, images: torch.Tensor) -> torch.Tensor:
        # Hand-crafted statistics, no weights: autocast would silently run the DCT in 16 bits.
        with torch.autocast(images.device.type, enabled=False):
            coeffs = self.dct(images)
            return sida_statistics(coeffs).flatten(1)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(images, torch.Tensor):
            check_float(images, "images", image=True)
            if images.ndim != 4 or images.shape[1] != 3:
                raise ShapeError(
                    f"images must have shape (N, 3, H, W) or be a list of (3, H, W) tensors, "
                    f"got a tensor of shape {tuple(images.shape)}"
                )
            _check_size(images.shape[-2:], "images")
            return self._one_size(images)
        if not isinstance(images, Sequence):
            raise TypeError(
                "images must be a tensor (N, 3, H, W) or a non-empty list of (3, H, W) tensors, "
                f"got {type(images).__name__}"
            )
        if len(images) == 0:
            raise ValueError(
                "images must be a tensor (N, 3, H, W) or a non-empty list of (3, H, W) tensors, "
                "got an empty list"
            )
        # Group crops by their grid size so each group is one batched DCT.
        bs = self.dct.block_size
        groups: dict[tuple[int, int], list[int]] = {}
        for i, crop in enumerate(images):
            name = f"images[{i}]"
            check_tensor(crop, name)
            check_float(crop, name, image=True)
            if crop.ndim != 3 or crop.shape[0] != 3:
                raise ShapeError(f"{name} must have shape (3, H, W), got {tuple(crop.shape)}")
            _check_size(crop.shape[-2:], name)
            key = (crop.shape[-2] // bs * bs, crop.shape[-1] // bs * bs)
            groups.setdefault(key, []).append(i)
        out: list[torch.Tensor | None] = [None] * len(images)
        for (h, w), idx in groups.items():
            batch = torch.stack([images[i][:, :h, :w] for i in idx])
            for i, vec in zip(idx, self._one_size(batch)):
                out[i] = vec
        return torch.stack([v for v in out if v is not None])


def _check_size(hw: Sequence[int], name: str) -> None:
    h, w = hw[0], hw[1]  # no int(): it would pin symbolic sizes under torch.export
    if h < _MIN_SIZE or w < _MIN_SIZE:
        raise ShapeError(
            f"{name} is {h} x {w} pixels; SIDA needs at least {_MIN_SIZE} x {_MIN_SIZE} "
            "(a 2 x 2 grid of 8x8 blocks)"
        )
