"""Small image helpers shared by the data pipeline and the perturbations."""

from __future__ import annotations

import numpy as np

__all__ = ["to_uint8"]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer (half to even), clip to [0, 255] and cast to ``uint8``."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)
