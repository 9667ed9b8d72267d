"""The blend mask of SBI: landmark hull variants, deformed, eroded or dilated, and blurred.

:func:`sbi_mask` is the reference's mask (``get_blend_mask`` on one hull of Face X-ray's
``random_get_hull``, :data:`HULL_VARIANTS`): elastically deformed, eroded or dilated
(``random_erode_dilate``), Gaussian-blurred and normalised to a maximum of 1, on a 192-256
pixel grid over the reference's crop frame, then resized to the image. The reference, and
where this library differs from it: :mod:`freqforensics.data.sbi`.

Needs SciPy and Pillow.
"""

from __future__ import annotations

import numpy as np

from freqforensics.data._sbi_checks import _check_landmarks, _check_rng
from freqforensics.data._sbi_checks import _face_template as _face_template  # the examples
from freqforensics.data.landmarks import NUM_LANDMARKS, landmark_hull_mask
from freqforensics.data.sbi_transforms import _Affine, _reference_frame

__all__ = ["HULL_VARIANTS", "LOCAL_REGIONS", "sbi_mask"]

#: The hull variants of the reference's ``random_get_hull``, drawn uniformly.
HULL_VARIANTS = ("dfl_full", "extended", "components", "facehull")
#: Parts of the face for local blends (not in the reference; SLADD, Chen et al., CVPR 2022,
#: blends such regions): the landmark indices whose hull is the region. ``lower_face`` spans
#: the nose to the chin, the region a reenactment (Face2Face, NeuralTextures) re-renders.
LOCAL_REGIONS: dict[str, tuple[int, ...]] = {
    "mouth": tuple(range(48, 68)),
    "lower_face": tuple(range(3, 14)) + tuple(range(29, 36)),
    "eyes": tuple(range(17, 27)) + tuple(range(36, 48)),
    "nose": tuple(range(27, 36)),
}
_GRID = (192, 257)  # get_blend_mask: the mask is resized to 192-256 pixels per side
_KERNELS = np.arange(5, 26, 2)  # get_blend_mask: random.randrange(5, 26, 2)
_DILATE = np.array([1, 3, 3, 5, 5])  # random_erode_dilate: randint(1, 5), made odd
_ELASTIC_ALPHA, _ELASTIC_SIGMA = 50.0, 7.0  # randaffine's ElasticTransform


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


def _odd(rng: np.random.Generator, choices: np.ndarray) -> int:
    return int(choices[int(rng.integers(len(choices)))])


def _sbi_mask(
    lm: np.ndarray,
    shape: tuple[int, int],
    affine: _Affine | None,
    rng: np.random.Generator,
    region: str | None = None,
) -> np.ndarray:
    from PIL import Image
    from scipy.ndimage import gaussian_filter, map_coordinates, maximum_filter, minimum_filter

    h, w = shape
    variant = HULL_VARIANTS[int(rng.integers(len(HULL_VARIANTS)))] if region is None else None
    size_h, size_w = rng.integers(*_GRID, size=2)
    frame_w, frame_h = _reference_frame(lm)
    gw = int(np.clip(round(w * size_w / frame_w), 16, 1024))
    gh = int(np.clip(round(h * size_h / frame_h), 16, 1024))
    pts = affine.points(lm, shape) if affine is not None else lm
    grid_pts = (pts + 0.5) * np.array([gw / w, gh / h]) - 0.5
    if variant is not None:
        hull = _hull_variant(grid_pts, (gh, gw), variant)
    else:  # a local blend: the hull of one part of the face
        hull = _hull(grid_pts[list(LOCAL_REGIONS[str(region)])], (gh, gw))
    # elastic deformation (randaffine's ElasticTransform on the mask)
    noise = rng.uniform(-1, 1, (2, gh, gw))
    dx = gaussian_filter(noise[0], _ELASTIC_SIGMA) * _ELASTIC_ALPHA
    dy = gaussian_filter(noise[1], _ELASTIC_SIGMA) * _ELASTIC_ALPHA
    yy, xx = np.mgrid[0:gh, 0:gw]
    warped = map_coordinates(hull, [yy + dy, xx + dx], order=1, mode="mirror") >= 0.5
    mask = (warped if warped.any() else hull > 0.5).astype(np.float32)
    # erode (get_blend_mask's first blur + threshold) or dilate (random_erode_dilate); a
    # part of the face is only dilated: the reference's erosions (5-25 pixels) would empty it
    if rng.random() < 0.5 and variant is not None:
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


def sbi_mask(
    landmarks: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    region: str | None = None,
) -> np.ndarray:
    """The reference's blend mask for a face, before the blend ratio (no source move).

    A hull variant of the landmarks (:data:`HULL_VARIANTS`), elastically deformed, eroded or
    dilated, Gaussian-blurred and normalised to a maximum of 1, built on a 192-256 pixel grid
    over the reference's crop frame and resized to ``shape`` (see the notes of
    :mod:`freqforensics.data.sbi`). With ``region``, the hull is that of one part of the
    face (:data:`LOCAL_REGIONS`) instead, processed the same way: a local blend.

    Args:
        landmarks: :math:`(68, 2)` ``(x, y)`` in the pixels of the image of ``shape``.
        shape: ``(H, W)``, each at least 16.
        rng: the generator that draws every parameter.
        region: ``None`` (the whole face, the reference) or a key of :data:`LOCAL_REGIONS`.

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
    return _sbi_mask(lm, (h, w), None, rng, _check_region(region))


def _check_region(region: object) -> str | None:
    """``None`` (the whole face) or a key of :data:`LOCAL_REGIONS`."""
    if region is None or (isinstance(region, str) and region in LOCAL_REGIONS):
        return region
    raise ValueError(
        f"region must be None (the whole face) or one of {list(LOCAL_REGIONS)}, got {region!r}"
    )
