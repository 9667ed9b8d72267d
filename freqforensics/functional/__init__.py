"""Stateless tensor functions: colour conversion, block DCT, SIDA statistics."""

from freqforensics.functional.color import rgb_to_ycbcr, ycbcr_to_rgb
from freqforensics.functional.dct import block_dct, block_idct, dct_matrix, zigzag_order
from freqforensics.functional.sida import sida_differentials, sida_statistics

__all__ = [
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "zigzag_order",
    "dct_matrix",
    "block_dct",
    "block_idct",
    "sida_differentials",
    "sida_statistics",
]
