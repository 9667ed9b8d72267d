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

Where this library differs from the reference, and why:

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
- **Local blends (an addition, off by default).** With ``region`` (the data set's
  ``local_p``) the mask is the hull of one part of the face (:data:`LOCAL_REGIONS`: mouth,
  lower face, eyes, nose) instead of the whole face, as SLADD (Chen et al., CVPR 2022) blends
  regions; it is deformed, dilated and blurred like the others but never eroded, which would
  empty it.
- **No box matching or re-cropping.** The reference picks the RetinaFace box with the largest
  IoU with the landmark box (``IoUfrom2bboxes``) and cuts the final image around it with random
  margins; here the crop is the FaceForensics++ box of the same dlib face the landmarks were
  fitted to, kept as it is (the SIDA branch needs the crop's 8x8 codec grid).

The data set (:class:`~freqforensics.data.pseudo.PseudoFakeDataset`) pairs each real crop
with its fake and applies the same JPEG re-compression to both (the reference's
``ImageCompression`` of quality 40-100, half of the time); its other training augmentations
are the library's (a shared flip, a brightness/contrast jitter of the resized image only). The
reference's colour transforms of both views are an option, off by default (``colour_p``:
:func:`~freqforensics.data.sbi_transforms.view_transform`).

Needs SciPy and Pillow; dlib only for :func:`detect_photo_faces`.

The code is split by job, and every public name is importable from here: the blend
(:func:`self_blend`, :func:`self_blend_pair`) and :func:`landmarks_fit` live here, the
source transforms in :mod:`~freqforensics.data.sbi_transforms`, the mask in
:mod:`~freqforensics.data.sbi_masks` and the photographs' faces in
:mod:`~freqforensics.data.sbi_photos`.
"""

from __future__ import annotations

import numpy as np

from freqforensics._checks import check_probability
from freqforensics._images import to_uint8
from freqforensics.data._sbi_checks import _check_crop, _check_landmarks, _check_rng
from freqforensics.data._sbi_checks import _face_template as _face_template  # tests, examples
from freqforensics.data.sbi_masks import (
    HULL_VARIANTS,
    LOCAL_REGIONS,
    _check_region,
    _sbi_mask,
    sbi_mask,
)
from freqforensics.data.sbi_photos import PhotoFace, detect_photo_faces
from freqforensics.data.sbi_transforms import _Affine, source_transform

__all__ = [
    "BLEND_RATIOS",
    "HULL_VARIANTS",
    "LOCAL_REGIONS",
    "PhotoFace",
    "detect_photo_faces",
    "self_blend",
    "self_blend_pair",
    "sbi_mask",
    "source_transform",
    "landmarks_fit",
]

#: The reference's blend ratios (``dynamic_blend``), drawn uniformly: 1 half of the time.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


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


# ----------------------------------------------------------------------------- blending


def _blend(
    target: np.ndarray,
    source: np.ndarray,
    lm: np.ndarray,
    rng: np.random.Generator,
    region: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``randaffine`` + ``dynamic_blend``: move the source, build the mask, blend."""
    affine = _Affine.draw(lm, rng)
    moved = affine.image(source)
    mask = _sbi_mask(lm, target.shape[:2], affine, rng, region)
    mask *= np.float32(BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))])
    base = target.astype(np.float32)
    m = mask[:, :, None]
    fake = base + m * (moved.astype(np.float32) - base)
    return to_uint8(fake), mask


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
    crop: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    swap_p: float = 0.5,
    region: str | None = None,
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
        region: ``None`` (the reference's whole-face masks) or a key of
            :data:`~freqforensics.data.sbi_masks.LOCAL_REGIONS`: a local blend of that part
            of the face (:func:`sbi_mask`).

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
    swap_p = check_probability(swap_p, "swap_p")
    region = _check_region(region)
    target, source = _pick_target(crop, rng, swap_p)
    fake, mask = _blend(target, source, lm, rng, region)
    return target, fake, mask
