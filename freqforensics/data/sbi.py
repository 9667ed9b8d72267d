"""Self-blended images (SBI) from a real face and its 68 landmarks.

Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022); reference
code: https://github.com/mapooon/SelfBlendedImages (``src/utils/sbi.py``: ``self_blending``,
``get_source_transforms``, ``randaffine``; ``src/utils/blend.py``: ``dynamic_blend``,
``get_blend_mask``; the hull masks of Face X-ray's ``bi_online_generation.py``:
``random_get_hull``, ``random_erode_dilate``).

One real face gives a source and a target: one of the two (a coin toss) is altered by the
reference's source transforms (RGB shift, hue/saturation/value, brightness/contrast, then a
down-and-up resampling or a sharpening), and the source is moved slightly (``randaffine``).
The mask is a landmark hull (one of four variants), deformed, eroded or dilated and blurred;
the fake is ``mask * source + (1 - mask) * target`` with a random blend ratio, so outside the
mask the fake *is* the target. :func:`self_blend_pair` returns ``(target, fake, mask)`` as
the reference's ``self_blending`` does; :func:`self_blend` keeps the crop itself as the
target, so its fake equals the crop wherever the mask is zero. :func:`detect_photo_faces`
finds the face and the landmarks of real photographs, for training from an image folder.

Where this module differs from the reference, and why:

- **Landmarks.** dlib's 68 points (:mod:`freqforensics.data.landmarks`), not the 81-point
  model, so the reference's draw between 68 and 81 points does not exist here; the four hull
  variants (``dfl_full``, ``extended``, ``components``, ``facehull``) are those of
  ``random_get_hull``, built as unions of :func:`~freqforensics.data.landmarks.landmark_hull_mask`.
- **Scale.** The reference builds its mask on a 192-256 pixel grid covering its own crop,
  2 x 2.4 landmark boxes (``crop_face(margin=True)``); the crops here are FaceForensics++
  1.3x squares, so the grid, the ±3 % (x) / ±1.5 % (y) translation and every kernel size are
  taken relative to that *reference frame* built from the landmark box: the blend boundary
  has the same width relative to the face as in the reference. The affine moves the landmarks
  (not a rasterised mask) and the elastic deformation (alpha 50, sigma 7 pixels) acts on the
  grid rather than on the full-resolution mask.
- **Erosion/dilation.** The reference erodes by blurring with a 5-25 kernel and keeping the
  maximum; here the erosion is explicit (a square of the same 5-25 sizes), and half of the
  masks are instead dilated by a 1-5 square as in ``random_erode_dilate``, so that some blend
  boundaries lie just outside the hull. The blur that follows is the reference's (a Gaussian
  of 5-25 taps and sigma 5-45).
- **Codecs and borders.** NumPy/SciPy/Pillow instead of OpenCV/albumentations: the same
  parameter ranges, values rounded (not truncated) to ``uint8``; the moved source is filled by
  mirroring at the crop border instead of black. The hue/saturation/value limits (±0.3 on the
  ``uint8`` scales) are kept: below one grey level, as in the reference, so the colour change
  comes from the RGB shift and the brightness/contrast.
- **No retry.** The reference draws another image when a blend fails; a mask emptied by the
  erosion keeps its un-eroded hull instead, so every item is defined by its seed.
- **No box matching or re-cropping.** The reference picks the RetinaFace box with the largest
  IoU with the landmark box (``IoUfrom2bboxes``) and cuts the final image around it with random
  margins; here the crop is the FaceForensics++ box of the same dlib face the landmarks were
  fitted to, kept as it is (the SIDA branch needs the crop's 8x8 codec grid).

The data set (:class:`~freqforensics.data.pseudo.PseudoFakeDataset`) pairs each real crop
with its fake and applies the same JPEG re-compression to both (the reference's
``ImageCompression`` of quality 40-100, half of the time); its other training augmentations
are the library's (a shared flip, a brightness/contrast jitter of the resized image only)
rather than the reference's colour transforms of both views.

Needs SciPy and Pillow; dlib only for :func:`detect_photo_faces`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics._checks import check_rgb_uint8
from freqforensics.data.faces import FaceBox, _dlib, crop_face, detect_largest_face, face_box
from freqforensics.data.landmarks import NUM_LANDMARKS, face_landmarks, landmark_hull_mask, to_crop

__all__ = [
    "BLEND_RATIOS",
    "HULL_VARIANTS",
    "PhotoFace",
    "detect_photo_faces",
    "self_blend",
    "self_blend_pair",
    "sbi_mask",
    "source_transform",
    "landmarks_fit",
]

logger = logging.getLogger(__name__)

#: The reference's blend ratios (``dynamic_blend``), drawn uniformly: 1 half of the time.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
#: The hull variants of the reference's ``random_get_hull``, drawn uniformly.
HULL_VARIANTS = ("dfl_full", "extended", "components", "facehull")

# The reference crop (crop_face(margin=True)) spans 2 landmark-box widths and 2.4 heights.
_FRAME_W, _FRAME_H = 2.0, 2.4
_GRID = (192, 257)  # get_blend_mask: the mask is resized to 192-256 pixels per side
_KERNELS = np.arange(5, 26, 2)  # get_blend_mask: random.randrange(5, 26, 2)
_DILATE = np.array([1, 3, 3, 5, 5])  # random_erode_dilate: randint(1, 5), made odd
_ELASTIC_ALPHA, _ELASTIC_SIGMA = 50.0, 7.0  # randaffine's ElasticTransform
_MAX_PHOTO_WARNINGS = 10


# ----------------------------------------------------------------------------- checks


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
    if not isinstance(landmarks, np.ndarray):
        raise TypeError(
            f"landmarks must be a numpy array of shape ({NUM_LANDMARKS}, 2) in crop pixels, "
            f"got {type(landmarks).__name__}"
        )
    if landmarks.shape != (NUM_LANDMARKS, 2) or not np.issubdtype(landmarks.dtype, np.number):
        raise ValueError(
            f"landmarks must be a numeric array of shape ({NUM_LANDMARKS}, 2) (x, y) in crop "
            f"pixels, got dtype {landmarks.dtype} and shape {landmarks.shape}"
        )
    points = landmarks.astype(np.float64)
    if not np.isfinite(points).all():
        raise ValueError("landmarks must be finite, got NaN or infinite values")
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


def landmarks_fit(landmarks: np.ndarray | None, shape: tuple[int, ...]) -> bool:
    """Whether ``landmarks`` can drive :func:`self_blend` on a crop of ``shape``.

    Args:
        landmarks: :math:`(68, 2)` ``(x, y)`` in crop pixels, or ``None``.
        shape: ``(H, W)`` or ``(H, W, 3)`` of the crop.

    Returns:
        ``False`` for ``None``, a wrong shape, non-finite values, a centre off the crop or a
        landmark box under 4 pixels; ``True`` otherwise.

    Example:
        >>> landmarks_fit(None, (64, 64)), landmarks_fit(np.full((68, 2), 500.0), (64, 64))
        (False, False)
    """
    if landmarks is None:
        return False
    try:
        _check_landmarks(landmarks, tuple(shape))
    except (TypeError, ValueError):
        return False
    return True


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


# ----------------------------------------------------------------------------- source transforms


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
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


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
        x = np.clip(x + rng.uniform(-20, 20, 3).astype(np.float32), 0, 255)
    dh, ds, dv = rng.uniform(-0.3, 0.3, 3)
    hsv = _rgb_to_hsv(x / 255)
    hsv[..., 0] += dh / 180
    hsv[..., 1:] = np.clip(hsv[..., 1:] + np.array([ds, dv]) / 255, 0, 1)
    x = _hsv_to_rgb(hsv) * 255
    gain = 1 + rng.uniform(-0.1, 0.1)
    offset = rng.uniform(-0.1, 0.1) * 255
    out = np.clip(np.rint(x * gain + offset), 0, 255).astype(np.uint8)
    return _downscale(out, rng) if rng.random() < 0.5 else _sharpen(out, rng)


# ----------------------------------------------------------------------------- mask


def _hull(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled convex hull of any number of points (repeated up to the 68 the helper takes)."""
    return landmark_hull_mask(np.resize(points, (NUM_LANDMARKS, 2)), shape)


def _hull_variant(lm: np.ndarray, shape: tuple[int, int], variant: str) -> np.ndarray:
    """One mask of ``random_get_hull`` (Face X-ray's ``DeepFakeMask``): a union of hulls."""
    if variant == "facehull":
        return _hull(lm, shape)
    pts = lm.copy()
    if variant == "extended":  # raise the brows by half their height above the eyes
        ml, mr = (pts[36] + pts[0]) / 2, (pts[16] + pts[45]) / 2
        ql, qr = (pts[36] + ml) / 2, (pts[45] + mr) / 2
        bot_l = np.stack([ql, pts[36], pts[37], pts[38], pts[39]])
        bot_r = np.stack([pts[42], pts[43], pts[44], pts[45], qr])
        pts[17:22] = pts[17:22] + (pts[17:22] - bot_l) / 2
        pts[22:27] = pts[22:27] + (pts[22:27] - bot_r) / 2
    if variant == "dfl_full":
        parts = [
            [pts[0:17], pts[48:68], pts[0:1], pts[8:9], pts[16:17]],
            [pts[27:31], pts[33:34]],
            [pts[17:27], pts[0:1], pts[27:28], pts[16:17], pts[33:34]],
        ]
    else:  # components, extended
        parts = [
            [pts[0:9], pts[17:18]],
            [pts[8:17], pts[26:27]],
            [pts[17:20], pts[8:9]],
            [pts[24:27], pts[8:9]],
            [pts[19:25], pts[8:9]],
            [pts[17:22], pts[27:28], pts[31:36], pts[8:9]],
            [pts[22:27], pts[27:28], pts[31:36], pts[8:9]],
            [pts[27:31], pts[31:36]],
        ]
    mask = np.zeros(shape, np.float32)
    for part in parts:
        np.maximum(mask, _hull(np.concatenate(part), shape), out=mask)
    return mask


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
        return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


def _reference_frame(lm: np.ndarray) -> tuple[float, float]:
    """Width and height of the reference's crop around these landmarks, in pixels."""
    width, height = np.maximum(np.ptp(lm, axis=0), 1.0)
    return float(_FRAME_W * width), float(_FRAME_H * height)


def _odd(rng: np.random.Generator, choices: np.ndarray) -> int:
    return int(choices[int(rng.integers(len(choices)))])


def _sbi_mask(
    lm: np.ndarray, shape: tuple[int, int], affine: _Affine | None, rng: np.random.Generator
) -> np.ndarray:
    from PIL import Image
    from scipy.ndimage import gaussian_filter, map_coordinates, maximum_filter, minimum_filter

    h, w = shape
    variant = HULL_VARIANTS[int(rng.integers(len(HULL_VARIANTS)))]
    size_h, size_w = rng.integers(*_GRID, size=2)
    frame_w, frame_h = _reference_frame(lm)
    gw = int(np.clip(round(w * size_w / frame_w), 16, 1024))
    gh = int(np.clip(round(h * size_h / frame_h), 16, 1024))
    pts = affine.points(lm, shape) if affine is not None else lm
    grid_pts = (pts + 0.5) * np.array([gw / w, gh / h]) - 0.5
    hull = _hull_variant(grid_pts, (gh, gw), variant)
    # elastic deformation (randaffine's ElasticTransform on the mask)
    noise = rng.uniform(-1, 1, (2, gh, gw))
    dx = gaussian_filter(noise[0], _ELASTIC_SIGMA) * _ELASTIC_ALPHA
    dy = gaussian_filter(noise[1], _ELASTIC_SIGMA) * _ELASTIC_ALPHA
    yy, xx = np.mgrid[0:gh, 0:gw]
    warped = map_coordinates(hull, [yy + dy, xx + dx], order=1, mode="mirror") >= 0.5
    mask = (warped if warped.any() else hull > 0.5).astype(np.float32)
    # erode (get_blend_mask's first blur + threshold) or dilate (random_erode_dilate)
    if rng.random() < 0.5:
        eroded = minimum_filter(mask, size=_odd(rng, _KERNELS), mode="nearest")
        mask = eroded if eroded.max() > 0 else mask
    else:
        mask = maximum_filter(mask, size=_odd(rng, _DILATE), mode="nearest")
    # get_blend_mask's second blur: a Gaussian of 5-25 taps, sigma 5-45, normalised to max 1
    radius = _odd(rng, _KERNELS) // 2
    sigma = float(rng.integers(5, 46))
    soft = gaussian_filter(mask, sigma, mode="mirror", radius=radius)
    soft = soft / soft.max()
    full = Image.fromarray(soft.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(full, dtype=np.float32), 0.0, 1.0)


def sbi_mask(landmarks: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The reference's blend mask for a face, before the blend ratio (no source move).

    A hull variant of the landmarks (:data:`HULL_VARIANTS`), elastically deformed, eroded or
    dilated, Gaussian-blurred and normalised to a maximum of 1, built on a 192-256 pixel grid
    over the reference's crop frame and resized to ``shape`` (see the module notes).

    Args:
        landmarks: :math:`(68, 2)` ``(x, y)`` in the pixels of the image of ``shape``.
        shape: ``(H, W)``, each at least 16.
        rng: the generator that draws every parameter.

    Returns:
        float32 :math:`(H, W)` in [0, 1], maximum 1.

    Example:
        >>> pts = _face_template(96)  # a rough face in dlib's layout
        >>> m = sbi_mask(pts, (96, 96), np.random.default_rng(0))
        >>> m.shape, float(m.max()), float(m[0, 0]), bool(m[48, 48] > 0.5)
        ((96, 96), 1.0, 0.0, True)
    """
    rng = _check_rng(rng)
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape)
        or min(shape) < 16
    ):
        raise ValueError(f"shape must be (H, W) with H, W >= 16, got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    lm = _check_landmarks(landmarks, (h, w))
    return _sbi_mask(lm, (h, w), None, rng)


# ----------------------------------------------------------------------------- blending


def _blend(
    target: np.ndarray, source: np.ndarray, lm: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``randaffine`` + ``dynamic_blend``: move the source, build the mask, blend."""
    affine = _Affine.draw(lm, rng)
    moved = affine.image(source)
    mask = _sbi_mask(lm, target.shape[:2], affine, rng)
    mask *= np.float32(BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))])
    base = target.astype(np.float32)
    m = mask[:, :, None]
    fake = base + m * (moved.astype(np.float32) - base)
    return np.clip(np.rint(fake), 0, 255).astype(np.uint8), mask


def _pick_target(
    crop: np.ndarray, rng: np.random.Generator, swap_p: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(target, source)``: the reference alters the source or (with ``swap_p``) the target."""
    altered = source_transform(crop, rng)
    return (altered, crop) if rng.random() < swap_p else (crop, altered)


def self_blend(
    crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Self-blend a real face crop (SBI): its face replaced by an altered, moved copy.

    The source is :func:`source_transform` of the crop, moved by the reference's
    ``randaffine`` (translation ±3 % in x and ±1.5 % in y of the reference frame, scale
    0.95-1/0.95 per axis about the crop centre); the mask is :func:`sbi_mask` moved with the
    source, times a blend ratio drawn from :data:`BLEND_RATIOS`. The target is the crop
    itself: ``fake == crop`` wherever ``mask == 0`` (the reference alters the target instead
    half of the time; :func:`self_blend_pair` does that).

    Args:
        crop: real face crop, RGB ``uint8`` :math:`(H, W, 3)`, H and W >= 16.
        landmarks: its 68 landmarks, :math:`(68, 2)` ``(x, y)`` in crop pixels (the centre on
            the crop).
        rng: the generator that draws every parameter (same state, same fake).

    Returns:
        ``(fake, mask)``: ``uint8`` :math:`(H, W, 3)` and the blend weight, float32
        :math:`(H, W)` in [0, 1] whose maximum is the blend ratio
        (``fake = rint(mask * source + (1 - mask) * crop)``).

    Raises:
        TypeError: ``crop`` or ``landmarks`` is not a numpy array, or ``rng`` is not a
            :class:`numpy.random.Generator`.
        ValueError: ``crop`` is not RGB ``uint8`` of at least 16 x 16 pixels, or
            ``landmarks`` is not a finite :math:`(68, 2)` array outlining a face on the crop.

    Example:
        >>> crop = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
        >>> pts = _face_template(96)  # a rough face in dlib's layout
        >>> fake, mask = self_blend(crop, pts, np.random.default_rng(1))
        >>> fake.shape, mask.shape, bool((fake[mask == 0] == crop[mask == 0]).all())
        ((96, 96, 3), (96, 96), True)
        >>> float(mask.max()) in BLEND_RATIOS, bool(mask[48, 48] > 0), float(mask[0, 0])
        (True, True, 0.0)
    """
    crop = _check_crop(crop)
    lm = _check_landmarks(landmarks, crop.shape)
    rng = _check_rng(rng)
    target, source = _pick_target(crop, rng, swap_p=0.0)
    return _blend(target, source, lm, rng)


def self_blend_pair(
    crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, swap_p: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's ``self_blending``: ``(real, fake, mask)`` from one real face crop.

    As :func:`self_blend`, but with probability ``swap_p`` (the reference: 0.5) the
    *target* is altered by :func:`source_transform` and the unaltered crop is the (moved)
    source; the returned real is the target, so ``fake == real`` wherever ``mask == 0``
    and the alteration alone never tells the fake from the real.

    Args:
        crop: real face crop, RGB ``uint8`` :math:`(H, W, 3)`, H and W >= 16.
        landmarks: :math:`(68, 2)` ``(x, y)`` in crop pixels.
        rng: the generator that draws every parameter.
        swap_p: probability of altering the target instead of the source, in [0, 1].

    Returns:
        ``(real, fake, mask)``: ``uint8`` :math:`(H, W, 3)` twice and float32 :math:`(H, W)`.

    Example:
        >>> crop = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        >>> pts = _face_template(64)  # a rough face in dlib's layout
        >>> real, fake, mask = self_blend_pair(crop, pts, np.random.default_rng(3), swap_p=1)
        >>> bool((real != crop).any()), bool((fake[mask == 0] == real[mask == 0]).all())
        (True, True)
    """
    crop = _check_crop(crop)
    lm = _check_landmarks(landmarks, crop.shape)
    rng = _check_rng(rng)
    if isinstance(swap_p, bool) or not isinstance(swap_p, (int, float)) or not 0 <= swap_p <= 1:
        raise ValueError(f"swap_p must be a number in [0, 1], got {swap_p!r}")
    target, source = _pick_target(crop, rng, float(swap_p))
    fake, mask = _blend(target, source, lm, rng)
    return target, fake, mask


# ----------------------------------------------------------------------------- photographs


@dataclass(frozen=True, eq=False)
class PhotoFace:
    """The face of a real photograph, as a row of a photo source.

    Attributes:
        path: the photograph.
        video_id: its id in the data set (``"<folder>/<file stem>"`` by default).
        box: the crop box, FaceForensics++'s 1.3x square snapped to the 8-pixel grid
            (:func:`~freqforensics.data.faces.face_box`).
        landmarks: float32 :math:`(68, 2)` ``(x, y)`` in crop pixels.
        frame_index: always 0 (a photo is a one-frame video).
        label: always 0 (real).
    """

    path: Path
    video_id: str
    box: FaceBox
    landmarks: np.ndarray = field(repr=False)
    frame_index: int = 0
    label: int = 0

    def crop(self) -> np.ndarray:
        """Read the photograph and cut the face crop, RGB ``uint8``."""
        from freqforensics.data.codecs import read_rgb

        return crop_face(read_rgb(self.path), self.box)


def _image_sources(images: Any) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """``(path, video_id)`` of the photos named by ``images``, and ``(name, why)`` skipped."""
    from freqforensics.data.readers import IMAGE_EXTENSIONS, VideoRecord

    if isinstance(images, (str, Path)):
        root = Path(images)
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            )
            if not files:
                raise ValueError(f"images must hold image files, none found under {root}")
            ids = [f"{root.name}/{p.relative_to(root).with_suffix('').as_posix()}" for p in files]
            return list(zip(files, ids)), []
        images = [root]
    if not isinstance(images, Sequence):
        raise TypeError(
            f"images must be a folder, an image file or a list of image files / VideoRecords, "
            f"got {type(images).__name__}"
        )
    out: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    for item in images:
        if isinstance(item, VideoRecord):
            if item.label != 0:
                raise ValueError(
                    f"images must be real (label 0), got {item.video_id!r} with label {item.label}"
                )
            if item.error or item.missing:
                skipped.append((item.video_id, item.error or "missing on disk"))
                continue
            out.append((Path(item.path), item.video_id))
        elif isinstance(item, (str, Path)):
            path = Path(item)
            out.append((path, f"{path.parent.name}/{path.stem}"))
        else:
            raise TypeError(
                f"images must list image paths or VideoRecords, got {type(item).__name__} "
                f"({item!r})"
            )
    clashes = sorted(v for v, n in Counter(v for _, v in out).items() if n > 1)
    if clashes:
        raise ValueError(
            f"images must have distinct ids (<folder>/<file stem>), got duplicates {clashes[:5]}; "
            "pass a folder, or VideoRecords with distinct video_id"
        )
    return out, skipped


def detect_photo_faces(
    images: str | Path | Sequence[Any], upsample: Sequence[int] = (0, 1)
) -> tuple[list[PhotoFace], list[tuple[str, str]]]:
    """Find the face and its 68 landmarks in real photographs (dlib), for self-blending.

    Each photo gets dlib's largest frontal face (tried at each ``upsample`` level in turn
    until one is found), the FaceForensics++ 1.3x crop box snapped to the photo's 8-pixel grid
    (as the video crops) and the landmarks fitted to that face, in crop pixels. Photos without
    a face (or unreadable ones) are skipped and reported once, in one log warning.

    Args:
        images: a folder (searched recursively for image files, ids
            ``"<folder>/<relative path without extension>"``), an image file, or a list of
            image files (ids ``"<parent folder>/<stem>"``) or real
            :class:`~freqforensics.data.VideoRecord` images (e.g. from
            :func:`~freqforensics.data.read_folder`; ids their ``video_id``).
        upsample: dlib upsampling levels to try, each 0 or 1.

    Returns:
        ``(faces, skipped)``: a :class:`PhotoFace` per photo with a face, in input order, and
        ``(id, reason)`` for every photo left out.

    Raises:
        TypeError: ``images`` is of another type.
        ValueError: a folder without images, duplicate ids, a fake record, or a bad
            ``upsample``.
    """
    from freqforensics.data.codecs import read_rgb

    levels = tuple(upsample) if isinstance(upsample, Sequence) else (upsample,)
    if not levels or any(isinstance(u, bool) or u not in (0, 1) for u in levels):
        raise ValueError(f"upsample must be a non-empty sequence of 0 and/or 1, got {upsample!r}")
    sources, skipped = _image_sources(images)
    total = len(sources) + len(skipped)
    detector = _dlib().get_frontal_face_detector() if sources else None
    faces: list[PhotoFace] = []
    for path, video_id in sources:
        try:
            image = read_rgb(path)
        except OSError as err:
            skipped.append((video_id, f"cannot be read ({err})"))
            continue
        face = None
        for level in levels:
            face = detect_largest_face(image, int(level), detector)
            if face is not None:
                break
        box = face_box(face, image.shape[:2]) if face is not None else None
        if face is None or box is None:
            skipped.append((video_id, "no face found"))
            continue
        landmarks = to_crop(face_landmarks(image, face), box)
        faces.append(PhotoFace(path, video_id, box, landmarks))
    if skipped:
        names = ", ".join(f"{name} ({why})" for name, why in skipped[:_MAX_PHOTO_WARNINGS])
        more = len(skipped) - _MAX_PHOTO_WARNINGS
        logger.warning(
            "%d of %d photos skipped (no usable face): %s%s",
            len(skipped),
            total,
            names,
            f" and {more} more" if more > 0 else "",
        )
    return faces, skipped
