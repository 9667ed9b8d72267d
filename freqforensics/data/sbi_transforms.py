"""SBI's transforms: the source's colour and resampling, its move, and both views' colour.

:func:`source_transform` is the reference's ``get_source_transforms`` (an RGB shift,
hue/saturation/value, brightness/contrast, then a down-and-up resampling or a sharpening);
:func:`view_transform` is the colour part of its ``get_transforms``, which alters a real face
and its fake alike;
``_Affine`` is ``randaffine``'s scale and translation of the source (and of its landmarks),
sized relative to the reference's crop frame around the landmarks. The reference, and where
this library differs from it: :mod:`freqforensics.data.sbi`.

Needs SciPy and Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from freqforensics._checks import check_probability, check_rgb_uint8
from freqforensics._images import to_uint8
from freqforensics.data._sbi_checks import _check_rng

__all__ = ["source_transform", "view_transform"]

# The reference crop (crop_face(margin=True)) spans 2 landmark-box widths and 2.4 heights.
_FRAME_W, _FRAME_H = 2.0, 2.4


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)
    s = np.where(v > 0, c / np.where(v > 0, v, 1), 0)
    safe = np.where(c > 0, c, 1)
    h = np.select(
        [c == 0, v == r, v == g],
        [0.0, ((g - b) / safe) % 6, (b - r) / safe + 2],
        (r - g) / safe + 4,
    )
    return np.stack([h / 6, s, v], axis=-1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> RGB in [0, 1]."""
    h, s, v = hsv[..., 0] % 1.0, hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6).astype(np.int64) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = [np.choose(i, [c[k] for c in choices]) for k in range(3)]
    return np.stack(out, axis=-1)


def _downscale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The reference's ``RandomDownScale``: nearest down by 2 or 4, bilinear back up."""
    from PIL import Image

    h, w = image.shape[:2]
    ratio = (2, 4)[int(rng.integers(2))]
    small = Image.fromarray(image).resize(
        (max(1, int(w / ratio)), max(1, int(h / ratio))), Image.Resampling.NEAREST
    )
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))


def _sharpen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """albumentations' ``Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0))``."""
    from scipy.ndimage import correlate

    alpha = rng.uniform(0.2, 0.5)
    lightness = rng.uniform(0.5, 1.0)
    effect = -np.ones((3, 3))
    effect[1, 1] = 8 + lightness
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    kernel = ((1 - alpha) * identity + alpha * effect).astype(np.float32)
    x = image.astype(np.float32)
    out = np.stack([correlate(x[..., c], kernel, mode="mirror") for c in range(3)], axis=-1)
    return to_uint8(out)


def source_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The reference's ``get_source_transforms``: colour, then resampling or sharpening.

    In order: an RGB shift of ±20 per channel (probability 0.3); a hue/saturation/value shift
    of ±0.3 (on the ``uint8`` scales: hue in 180 steps, saturation and value in 255); a
    brightness and contrast change of ±0.1 (``x * (1 + c) + 255 * b``); then either (even odds)
    a nearest-neighbour reduction by 2 or 4 and a bilinear enlargement back, or albumentations'
    3x3 sharpening (alpha 0.2-0.5, lightness 0.5-1, which also darkens a little, as there).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        rng: the generator that draws every parameter.

    Returns:
        The altered image, RGB ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.full((32, 32, 3), 128, np.uint8)
        >>> y = source_transform(x, np.random.default_rng(0))
        >>> y.shape, y.dtype
        ((32, 32, 3), dtype('uint8'))
    """
    image = check_rgb_uint8(image)
    rng = _check_rng(rng)
    x = image.astype(np.float32)
    if rng.random() < 0.3:
        x = _rgb_shift(x, rng)
    x = _hsv_shift(x, rng)
    out = _brightness_contrast(x, rng, 0.1)
    return _downscale(out, rng) if rng.random() < 0.5 else _sharpen(out, rng)


def view_transform(image: np.ndarray, rng: np.random.Generator, p: float = 0.3) -> np.ndarray:
    """The colour part of the reference's ``get_transforms``, applied to both views alike.

    Each with probability ``p`` (the reference: 0.3), in order: an RGB shift of ±20 per
    channel; a hue/saturation/value shift of ±0.3 (on the ``uint8`` scales, as in
    :func:`source_transform`); a brightness and contrast change of ±0.3
    (``x * (1 + c) + 255 * b``). The reference's ``ImageCompression``, the last of its
    ``get_transforms``, is the data set's JPEG step. The same generator state gives the same
    change, so a real face and its fake drawn from one seed are changed alike.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        rng: the generator that draws every parameter.
        p: probability of each of the three changes.

    Returns:
        The altered image, RGB ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.full((32, 32, 3), 128, np.uint8)
        >>> np.array_equal(view_transform(x, np.random.default_rng(0), p=0.0), x)
        True
    """
    image = check_rgb_uint8(image)
    rng = _check_rng(rng)
    p = check_probability(p, "p")
    x = image.astype(np.float32)
    if rng.random() < p:
        x = _rgb_shift(x, rng)
    if rng.random() < p:
        x = _hsv_shift(x, rng)
    if rng.random() < p:
        return _brightness_contrast(x, rng, 0.3)
    return to_uint8(x)


def _rgb_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """albumentations' ``RGBShift`` of ±20 per channel (float, 0-255)."""
    return np.clip(x + rng.uniform(-20, 20, 3).astype(np.float32), 0, 255)


def _hsv_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``HueSaturationValue`` of ±0.3 on the ``uint8`` scales (float, 0-255)."""
    dh, ds, dv = rng.uniform(-0.3, 0.3, 3)
    hsv = _rgb_to_hsv(x / 255)
    hsv[..., 0] += dh / 180
    hsv[..., 1:] = np.clip(hsv[..., 1:] + np.array([ds, dv]) / 255, 0, 1)
    return _hsv_to_rgb(hsv) * 255


def _brightness_contrast(x: np.ndarray, rng: np.random.Generator, limit: float) -> np.ndarray:
    """``RandomBrightnessContrast`` of ±limit, brightness by the maximum, rounded to uint8."""
    gain = 1 + rng.uniform(-limit, limit)
    offset = rng.uniform(-limit, limit) * 255
    return to_uint8(x * gain + offset)


@dataclass(frozen=True)
class _Affine:
    """``randaffine``'s move of the source: scale about the crop centre, then translate."""

    scale_x: float
    scale_y: float
    shift_x: float  # pixels
    shift_y: float

    @classmethod
    def draw(cls, lm: np.ndarray, rng: np.random.Generator) -> _Affine:
        width, height = _reference_frame(lm)
        tx, ty = rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.015, 0.015) * height
        sx, sy = rng.uniform(0.95, 1 / 0.95, 2)
        return cls(float(sx), float(sy), float(tx), float(ty))

    def points(self, pts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        h, w = shape[:2]
        cx, cy = (w - 1) / 2, (h - 1) / 2
        out = np.empty_like(pts)
        out[:, 0] = cx + self.scale_x * (pts[:, 0] - cx) + self.shift_x
        out[:, 1] = cy + self.scale_y * (pts[:, 1] - cy) + self.shift_y
        return out

    def image(self, image: np.ndarray) -> np.ndarray:
        from scipy.ndimage import affine_transform

        h, w = image.shape[:2]
        cx, cy = (w - 1) / 2, (h - 1) / 2
        # output o = c + s (i - c) + t  <=>  input i = o / s + c - (c + t) / s
        matrix = np.diag([1 / self.scale_y, 1 / self.scale_x, 1.0])
        offset = [
            cy - (cy + self.shift_y) / self.scale_y,
            cx - (cx + self.shift_x) / self.scale_x,
            0,
        ]
        moved = affine_transform(
            image.astype(np.float32), matrix, offset=offset, order=1, mode="mirror"
        )
        return to_uint8(moved)


def _reference_frame(lm: np.ndarray) -> tuple[float, float]:
    """Width and height of the reference's crop around these landmarks, in pixels."""
    width, height = np.maximum(np.ptp(lm, axis=0), 1.0)
    return float(_FRAME_W * width), float(_FRAME_H * height)
