"""Shared argument checks of the perturbations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from freqforensics._checks import check_rgb_uint8

#: A seed of :func:`numpy.random.default_rng`: an int or a sequence of ints.
Seed = int | Sequence[int]

check_image = check_rgb_uint8


def check_number(value: object, name: str, low: float, high: float, closed_low: bool) -> float:
    """Raise unless ``value`` is a finite real number in the interval; return it as a float."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(v) and (v >= low if closed_low else v > low) and v <= high
    if not ok:
        bracket = "[" if closed_low else "("
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_int(value: object, name: str, low: int, high: int) -> int:
    """Raise unless ``value`` is an int in ``[low, high]``; return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)
