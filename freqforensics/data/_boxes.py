"""Box arithmetic and per-frame helpers of :mod:`freqforensics.data.tracking`.

IoU, the per-track record, the moving average over boxes, and the grey window kept per frame
for the landmarks (so a video's frames need not stay in memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Box", "box_iou", "smooth_boxes"]

#: ``(left, top, right, bottom)`` in frame pixels, floats (dlib's convention).
Box = tuple[float, float, float, float]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes (0 when disjoint).

    Example:
        >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
        0.3333333333333333
    """
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _area(box: Sequence[float]) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


@dataclass
class _Track:
    positions: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)

    def add(self, pos: int, box: Box, detected: bool) -> None:
        self.positions.append(pos)
        self.boxes.append(box)
        self.detected.append(detected)

    def cut(self, pos: int) -> None:
        """Drop the entries at positions >= ``pos``."""
        keep = sum(p < pos for p in self.positions)
        del self.positions[keep:], self.boxes[keep:], self.detected[keep:]

    def key(self) -> tuple[int, float]:
        mean_area = float(np.mean([_area(b) for b in self.boxes])) if self.boxes else 0.0
        return len(self.positions), mean_area


def smooth_boxes(
    boxes: Sequence[Box], window: int, times: Sequence[int] | None = None
) -> list[Box]:
    """Centred moving average of the centre and size of consecutive boxes.

    The window shrinks symmetrically near the ends (the first and last boxes are kept). With
    ``times`` (the boxes' frame indices) the window spans ``window`` frames of the video, not
    ``window`` boxes: a box is averaged only with neighbours at most ``window // 2`` frames
    away on both sides, so sparsely sampled frames (seconds apart) are not blurred together.
    """
    if window <= 1 or len(boxes) < 3:
        return list(boxes)
    arr = np.asarray(boxes, dtype=np.float64)
    params = np.stack(
        [
            (arr[:, 0] + arr[:, 2]) / 2,
            (arr[:, 1] + arr[:, 3]) / 2,
            arr[:, 2] - arr[:, 0],
            arr[:, 3] - arr[:, 1],
        ],
        axis=1,
    )
    half = window // 2
    n = len(params)
    t = np.arange(n) if times is None else np.asarray(times, dtype=np.int64)
    out = np.empty_like(params)
    cumsum = np.concatenate([np.zeros((1, 4)), np.cumsum(params, axis=0)])
    for i in range(n):
        r = min(half, i, n - 1 - i)
        while r and (t[i + r] - t[i] > half or t[i] - t[i - r] > half):
            r -= 1
        out[i] = (cumsum[i + r + 1] - cumsum[i - r]) / (2 * r + 1)
    cx, cy, w, h = out.T
    return [
        (float(x - a / 2), float(y - b / 2), float(x + a / 2), float(y + b / 2))
        for x, y, a, b in zip(cx, cy, w, h)
    ]


def _unpack(item: Any, pos: int) -> tuple[int, np.ndarray]:
    try:
        frame_index, image = item
    except (TypeError, ValueError):
        raise TypeError(
            f"frames[{pos}] must be a Frame (frame_index, image) tuple, got {type(item).__name__}"
        ) from None
    if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
        raise TypeError(
            f"frames[{pos}].frame_index must be an int, got {type(frame_index).__name__}"
        )
    return int(frame_index), image


def _box(rect: Any) -> Box:
    return float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom())


def _drect(dlib: Any, box: Box) -> Any:
    return dlib.drectangle(*box)


def _window(image: np.ndarray, box: Box) -> tuple[int, int, np.ndarray]:
    """The intensity window around ``box`` that the shape predictor needs later.

    dlib's shape predictor reads an RGB pixel as ``(r + g + b) / 3`` (integer division), so
    keeping that grey window gives exactly the landmarks of the RGB frame at a third of the
    memory (a whole video's frames are not kept).
    """
    height, width = image.shape[:2]
    side = max(box[2] - box[0], box[3] - box[1])
    x0 = max(int(box[0] - side), 0)
    y0 = max(int(box[1] - side), 0)
    x1 = min(int(box[2] + side) + 1, width)
    y1 = min(int(box[3] + side) + 1, height)
    window = image[y0:y1, x0:x1]
    # Channel by channel: numpy's sum over a last axis of length 3 is about 20x slower.
    total = window[..., 0].astype(np.uint16)
    total += window[..., 1]
    total += window[..., 2]
    total //= 3
    return x0, y0, total.astype(np.uint8)


def _patch_landmarks(predictor: Any, patch: tuple[int, int, np.ndarray], face: Box) -> np.ndarray:
    from freqforensics.data.landmarks import _predict

    x0, y0, grey = patch
    local = (face[0] - x0, face[1] - y0, face[2] - x0, face[3] - y0)
    points = _predict(predictor, grey, local)
    points += np.array([x0, y0], dtype=np.float32)
    return points
