"""Self-blending augmentation (SBI style): blend masks, source alterations, blending.

Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022), make a fake
from one real image: a soft-edged, face-sized blob of the image is replaced by a slightly
transformed copy of the same image. :func:`make_self_blended` does it here, for the embedded
data set (:class:`~freqforensics.data.synthetic.SelfBlendedFaces`) and for the pseudo-fakes made
from real face crops (:func:`make_pseudo_fake`, below). It is built from
two private steps, each drawing from the caller's generator in a fixed order (so that a seed
always gives the same fake):

- ``_blend_mask``: the blob, a perturbed rotated ellipse with a Gaussian-blurred edge, scaled
  by a random blend ratio;
- ``_source_transform``: the altered copy (resampling down and up, a light blur or unsharp
  mask, a small shift or scale around the blob's centre, and a colour jitter of contrast,
  brightness and per-channel gains).

Two detail changes for whole crops live here too: :func:`soften` (resampled down and up) and
:func:`sharpen` (an unsharp mask), the steps of
:class:`~freqforensics.data.PseudoFakeDataset`'s ``quality_p``, applied to a real face and its
fake alike.

Needs SciPy and Pillow.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter

from freqforensics._checks import check_rgb_uint8
from freqforensics._images import to_uint8

__all__ = ["make_self_blended", "make_pseudo_fake", "central_box", "soften", "sharpen"]


def _blend_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A face-sized soft blob: a perturbed rotated ellipse with a Gaussian-blurred edge."""
    side = min(h, w)
    diameter = rng.uniform(0.3, 0.6) * side
    aspect = rng.uniform(0.8, 1.25)
    a, b = 0.5 * diameter * aspect, 0.5 * diameter / aspect
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    angle = rng.uniform(0.0, math.pi)
    yy = np.arange(h, dtype=np.float32)[:, None] - np.float32(cy)
    xx = np.arange(w, dtype=np.float32)[None, :] - np.float32(cx)
    cos, sin = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    u = (xx * cos + yy * sin) / np.float32(a)
    v = (-xx * sin + yy * cos) / np.float32(b)
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    # low-order harmonics of the radius keep the blob close to convex
    boundary = np.ones_like(rho)
    for k in (2, 3, 4):
        boundary += np.float32(rng.uniform(0.0, 0.08)) * np.cos(k * theta + rng.uniform(0, 6.3))
    hard = (rho <= boundary).astype(np.float32)
    sigma = rng.uniform(0.04, 0.1) * diameter
    # scipy's C filter, not a BLAS matmul: threaded BLAS stalls on a busy 2-core machine
    soft = gaussian_filter(hard, sigma, mode="constant", truncate=4.0)
    soft = np.clip(soft, 0.0, 1.0)
    soft[soft < 1e-4] = 0.0
    # SBI blends with a random ratio; keep it high so the blob is a full replacement inside
    return (soft * np.float32(rng.uniform(0.7, 1.0))).astype(np.float32)


def _source_transform(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slightly altered copy of ``image`` (uint8 HxWx3) as float32 in [0, 255]."""
    h, w = image.shape[:2]
    grey = bool((image[:, :, :1] == image[:, :, 1:]).all())
    pil = Image.fromarray(image, mode="RGB")
    # 1) resample down and up
    factor = rng.uniform(0.5, 0.9)
    small = (max(8, round(w * factor)), max(8, round(h * factor)))
    pil = pil.resize(small, Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
    # 2) sharpness: a light blur or a light unsharp mask
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    else:
        pil = pil.filter(
            ImageFilter.UnsharpMask(
                radius=float(rng.uniform(1.0, 2.0)), percent=int(rng.integers(30, 81)), threshold=0
            )
        )
    # 3) a small shift (a few px) or scale (+-3 %) around the blob's centre
    ys, xs = (
        np.nonzero(mask > 0.5 * mask.max())
        if mask.max() > 0
        else (np.array([h / 2]), np.array([w / 2]))
    )
    cy, cx = float(ys.mean()), float(xs.mean())
    max_shift = max(1.0, 0.025 * min(h, w))
    if rng.random() < 0.5:
        scale, dx, dy = 1.0, rng.uniform(-max_shift, max_shift), rng.uniform(-max_shift, max_shift)
    else:
        scale, dx, dy = rng.uniform(0.97, 1.03), 0.0, 0.0
    pad = int(math.ceil(max_shift + 0.03 * max(h, w))) + 2
    padded = Image.fromarray(np.pad(np.asarray(pil), ((pad, pad), (pad, pad), (0, 0)), "reflect"))
    # output (x, y) samples input ((x - c) / scale + c - d), in padded coordinates
    pcx, pcy = cx + pad, cy + pad
    coeffs = (1 / scale, 0.0, pcx - pcx / scale - dx, 0.0, 1 / scale, pcy - pcy / scale - dy)
    moved = padded.transform(
        padded.size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR
    )
    out = np.asarray(moved, dtype=np.float32)[pad : pad + h, pad : pad + w]
    # 4) small contrast, brightness and (colour photos only) per-channel gain changes
    mean = out.mean(axis=(0, 1), keepdims=True)
    contrast = np.float32(rng.uniform(0.95, 1.05))
    bright = np.float32(rng.uniform(-0.03, 0.03) * 255.0)
    gains = rng.uniform(0.97, 1.03, size=3).astype(np.float32)
    if grey:
        gains[:] = 1.0
    return (out - mean) * contrast * gains + mean + bright


def make_self_blended(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Make a self-blended fake from one real image (SBI style).

    A soft-edged, face-sized blob (a rotated ellipse with a slightly wavy outline, 30-60 % of
    the image side across, Gaussian-blurred edge, random position) is replaced by a transformed
    copy of the same image: resampled down and up by a factor in [0.5, 0.9], lightly blurred or
    sharpened, shifted by a few pixels or scaled by up to 3 %, with contrast, brightness and
    (colour images only) per-channel gains changed by a few percent. Pixels where the mask is 0
    are left exactly unchanged. The changes are kept subtle on purpose: the blob's colour and
    texture stay close to its surroundings, as in a well-made face swap.

    Args:
        image: real image, ``uint8`` array of shape :math:`(H, W, 3)`, H and W >= 16.
        rng: the random generator that draws every parameter (deterministic per its state).

    Returns:
        ``(fake, mask)``: the fake, ``uint8`` :math:`(H, W, 3)`, and the blend mask, ``float32``
        :math:`(H, W)` in [0, 1] (``fake = mask * altered + (1 - mask) * image``, rounded).

    Raises:
        ValueError: ``image`` is not a uint8 (H, W, 3) array with sides >= 16, or ``rng`` is
            not a :class:`numpy.random.Generator`.

    Example:
        >>> from freqforensics.data.photos import load_source
        >>> real = load_source("coffee")[:128, :128]
        >>> fake, mask = make_self_blended(real, np.random.default_rng(0))
        >>> fake.shape, fake.dtype, mask.shape, bool(mask.max() <= 1.0)
        ((128, 128, 3), dtype('uint8'), (128, 128), True)
    """
    image = check_rgb_uint8(image)
    if min(image.shape[:2]) < 16:
        raise ValueError(f"image must be at least 16x16 pixels, got shape {image.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "use np.random.default_rng(seed)"
        )
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    mask = _blend_mask(h, w, rng)
    altered = _source_transform(image, mask, rng)
    base = image.astype(np.float32)
    m = mask[:, :, None]
    fake = base + m * (altered - base)
    fake = to_uint8(fake)
    return fake, mask


def _check_fraction(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise ValueError(f"{name} must be a number in ({low}, {high}], got {value!r}")
    return float(value)


def central_box(height: int, width: int, central: float = 0.7) -> tuple[int, int, int, int]:
    """The central region ``(y0, x0, y1, x1)`` covering ``central`` of each side, centred.

    Args:
        height: crop height in pixels.
        width: crop width in pixels.
        central: fraction of each side kept, in (0, 1].

    Returns:
        ``(y0, x0, y1, x1)``, end-exclusive.

    Example:
        >>> central_box(200, 100, 0.7)
        (30, 15, 170, 85)
    """
    central = _check_fraction(central, "central", 0.0, 1.0)
    my = int(round(height * (1 - central) / 2))
    mx = int(round(width * (1 - central) / 2))
    return my, mx, height - my, width - mx


def _taper(h: int, w: int, ramp: float) -> np.ndarray:
    """A separable window rising smoothly from 0 at the edge to 1 at ``ramp`` of the side."""

    def axis(n: int) -> np.ndarray:
        width = max(1.0, ramp * min(h, w))
        dist = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
        t = np.clip(dist / width, 0.0, 1.0)
        return (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep

    return axis(h)[:, None] * axis(w)[None, :]


def make_pseudo_fake(
    crop: np.ndarray, rng: np.random.Generator, central: float = 0.7, ramp: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Self-blend the central face area of a real face crop.

    :func:`~freqforensics.data.blend.make_self_blended` runs on the central region
    (:func:`central_box`); its blend is then faded to zero over the outer ``ramp`` of that
    region, so the effective mask is ``mask * taper`` and the fake is exactly
    ``crop + mask * taper * (altered - crop)`` (rounded) inside the region and ``crop``
    outside it.

    Args:
        crop: real face crop, RGB ``uint8`` of shape :math:`(H, W, 3)`; the central region
            must be at least 16 x 16 pixels.
        rng: the generator that draws the blob and the alteration.
        central: fraction of each side of the crop the blend may touch, in (0, 1].
        ramp: width of the fade at the region's edge, as a fraction of its shorter side,
            in (0, 0.5].

    Returns:
        ``(fake, mask)``: ``uint8`` :math:`(H, W, 3)` and the effective blend mask, float32
        :math:`(H, W)` in [0, 1], zero outside the central region.

    Example:
        >>> crop = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
        >>> fake, mask = make_pseudo_fake(crop, np.random.default_rng(1))
        >>> fake.shape, bool((fake[:14] == crop[:14]).all()), bool(mask[:14].max() == 0)
        ((96, 96, 3), True, True)
    """
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3:
        got = getattr(crop, "shape", type(crop).__name__)
        raise ValueError(f"crop must be a uint8 array of shape (H, W, 3), got {got}")
    ramp = _check_fraction(ramp, "ramp", 0.0, 0.5)
    h, w = crop.shape[:2]
    y0, x0, y1, x1 = central_box(h, w, central)
    if min(y1 - y0, x1 - x0) < 16:
        raise ValueError(
            f"crop must have a central region of at least 16 x 16 pixels, got {y1 - y0} x "
            f"{x1 - x0} for crop shape {crop.shape} and central={central}; use a larger crop "
            "or central"
        )
    inner = np.ascontiguousarray(crop[y0:y1, x0:x1])
    blended, inner_mask = make_self_blended(inner, rng)
    taper = _taper(y1 - y0, x1 - x0, ramp)
    base = inner.astype(np.float32)
    out = base + taper[:, :, None] * (blended.astype(np.float32) - base)
    fake = crop.copy()
    fake[y0:y1, x0:x1] = to_uint8(out)
    mask = np.zeros((h, w), np.float32)
    mask[y0:y1, x0:x1] = inner_mask * taper
    return fake, mask


def soften(crop: np.ndarray, side: int) -> np.ndarray:
    """``crop`` resampled down to ``side`` pixels on its longer side and back up (bilinear).

    The detail of a face recorded small or compressed hard, at the crop's own size (a crop
    already no larger than ``side`` is returned as it is).

    Args:
        crop: ``uint8`` :math:`(H, W, 3)`.
        side: positive int.
    """
    check_rgb_uint8(crop, "crop")
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise ValueError(f"side must be a positive int, got {side!r}")
    h, w = crop.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return crop
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.fromarray(crop).resize(small, Image.Resampling.BILINEAR)
    return np.asarray(image.resize((w, h), Image.Resampling.BILINEAR))


def sharpen(crop: np.ndarray, percent: int) -> np.ndarray:
    """``crop`` through an unsharp mask of radius 2 and strength ``percent`` (Pillow).

    Args:
        crop: ``uint8`` :math:`(H, W, 3)`.
        percent: non-negative int (100: the high frequencies added once more).
    """
    check_rgb_uint8(crop, "crop")
    if isinstance(percent, bool) or not isinstance(percent, (int, np.integer)) or percent < 0:
        raise ValueError(f"percent must be a non-negative int, got {percent!r}")
    unsharp = ImageFilter.UnsharpMask(radius=2, percent=int(percent), threshold=0)
    return np.asarray(Image.fromarray(crop).filter(unsharp))
