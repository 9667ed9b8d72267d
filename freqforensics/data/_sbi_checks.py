"""Argument checks shared by the SBI modules, and the template face of their examples."""

from __future__ import annotations

import numpy as np

from freqforensics._checks import check_rgb_uint8
from freqforensics.data.landmarks import _check_landmarks as _check_points


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "use np.random.default_rng(seed)"
        )
    return rng


def _check_crop(crop: object) -> np.ndarray:
    crop = check_rgb_uint8(crop, "crop")
    if min(crop.shape[:2]) < 16:
        raise ValueError(f"crop must be at least 16 x 16 pixels, got shape {crop.shape}")
    return np.ascontiguousarray(crop)


def _check_landmarks(landmarks: object, shape: tuple[int, ...]) -> np.ndarray:
    """The landmarks as float64 :math:`(68, 2)`, checked to outline a face on the crop."""
    points = _check_points(landmarks).astype(np.float64)
    h, w = shape[:2]
    cx, cy = points.mean(axis=0)
    width, height = np.ptp(points, axis=0)
    if not (0 <= cx < w and 0 <= cy < h) or min(width, height) < 4:
        raise ValueError(
            f"landmarks must outline a face on the crop of shape {shape[:2]} (centre inside, "
            f"box at least 4 px), got centre ({cx:.1f}, {cy:.1f}) and box {width:.1f} x "
            f"{height:.1f}; are they in crop (not frame) coordinates?"
        )
    return points


def _face_template(size: int) -> np.ndarray:
    """A rough frontal face in dlib's 68-point layout, placed as in a 1.3x crop of ``size``.

    For examples and tests without a face detector: jaw, brows, nose, eyes and mouth in their
    iBUG 300-W order, the face box the central ``1 / 1.3`` of the crop.
    """

    def arc(
        cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int
    ) -> np.ndarray:
        t = np.linspace(start, stop, n)
        return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)

    def ring(cx: float, cy: float, rx: float, ry: float, n: int) -> np.ndarray:
        return arc(cx, cy, rx, ry, np.pi, 3 * np.pi, n + 1)[:n]

    brow = np.sin(np.linspace(0, np.pi, 5))
    parts = [
        arc(0.5, 0.25, 0.5, 0.75, np.pi, 0.0, 17),  # jaw 0-16
        np.stack([np.linspace(0.1, 0.42, 5), 0.15 - 0.05 * brow], axis=1),  # brows 17-26
        np.stack([np.linspace(0.58, 0.9, 5), 0.15 - 0.05 * brow], axis=1),
        np.stack([np.full(4, 0.5), np.linspace(0.25, 0.55, 4)], axis=1),  # nose 27-35
        np.stack([np.linspace(0.4, 0.6, 5), 0.64 - 0.02 * brow], axis=1),
        ring(0.3, 0.3, 0.08, 0.035, 6),  # eyes 36-47
        ring(0.7, 0.3, 0.08, 0.035, 6),
        ring(0.5, 0.8, 0.18, 0.07, 12),  # mouth 48-67
        ring(0.5, 0.8, 0.12, 0.03, 8),
    ]
    side = size / 1.3
    return (np.concatenate(parts) * side + (size - side) / 2).astype(np.float32)
