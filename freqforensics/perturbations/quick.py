"""Quick-mode perturbations: four common degradations of a face crop.

========== =============================== =========================== ==========================
name       function                        strength                    default strengths
========== =============================== =========================== ==========================
``jpeg``   :func:`jpeg_compress`           JPEG quality (lower: worse) 90, 70, 50, 30
``blur``   :func:`gaussian_blur`           Gaussian sigma in pixels    0.5, 1, 2
``noise``  :func:`gaussian_noise`          std in [0, 1] units         0.01, 0.03, 0.05
``resize`` :func:`resize_down_up`          scale of the round trip     0.75, 0.5, 0.25
========== =============================== =========================== ==========================

:func:`jpeg_compress` is :func:`freqforensics.data.codecs.jpeg_compress`, re-exported: the same
JPEG round trip compresses the samples of the embedded data set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from freqforensics._images import to_uint8
from freqforensics.data.codecs import jpeg_compress
from freqforensics.perturbations._common import Seed, check_image, check_number

__all__ = [
    "PERTURBATIONS",
    "DEFAULT_STRENGTHS",
    "jpeg_compress",
    "gaussian_blur",
    "gaussian_noise",
    "resize_down_up",
    "perturb",
]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel (SciPy's ``gaussian_filter``, reflected borders).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        sigma: standard deviation of the kernel in pixels, >= 0; 0 returns a copy.

    Returns:
        The blurred image, rounded to ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.zeros((9, 9, 3), np.uint8); x[4, 4] = 255
        >>> bool((gaussian_blur(x, 0) == x).all()), int(gaussian_blur(x, 1)[4, 4, 0])
        (True, 41)
    """
    from scipy.ndimage import gaussian_filter

    image = check_image(image)
    sigma = check_number(sigma, "sigma", 0.0, 1e3, closed_low=True)
    if sigma == 0:
        return image.copy()
    out = gaussian_filter(image.astype(np.float32), sigma=(sigma, sigma, 0), mode="reflect")
    return to_uint8(out)


def gaussian_noise(image: np.ndarray, std: float, seed: Seed = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise of standard deviation ``std`` (in [0, 1] units), clip, round.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        std: noise standard deviation as a fraction of the 0-255 range, in [0, 1]; 0 returns
            a copy.
        seed: seed of :func:`numpy.random.default_rng` (an int or a sequence of ints): the same
            seed gives the same noise.

    Returns:
        The noisy image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.full((16, 16, 3), 128, np.uint8)
        >>> bool((gaussian_noise(x, 0.03, seed=1) == gaussian_noise(x, 0.03, seed=1)).all())
        True
    """
    image = check_image(image)
    std = check_number(std, "std", 0.0, 1.0, closed_low=True)
    if std == 0:
        return image.copy()
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 255.0 * std, size=image.shape).astype(np.float32)
    return to_uint8(image.astype(np.float32) + noise)


def resize_down_up(image: np.ndarray, scale: float) -> np.ndarray:
    """Downscale by ``scale`` and back to the original size (Pillow bilinear, antialiased).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        scale: size of the intermediate image relative to the original, in (0, 1]; 1 returns
            a copy.

    Returns:
        The resampled image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> resize_down_up(x, 0.5).shape
        (32, 32, 3)
    """
    from PIL import Image

    image = check_image(image)
    scale = check_number(scale, "scale", 0.0, 1.0, closed_low=False)
    if scale == 1:
        return image.copy()
    h, w = image.shape[:2]
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(image).resize(small, Image.Resampling.BILINEAR)
    return np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))


#: The quick-mode perturbations by name: ``name -> function(image, strength, seed) -> image``.
PERTURBATIONS: dict[str, Callable[[np.ndarray, float, Any], np.ndarray]] = {
    "jpeg": lambda image, q, seed: jpeg_compress(image, int(q)),
    "blur": lambda image, s, seed: gaussian_blur(image, s),
    "noise": lambda image, s, seed: gaussian_noise(image, s, seed),
    "resize": lambda image, s, seed: resize_down_up(image, s),
}

#: Strengths evaluated by default in quick mode, mildest first.
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "jpeg": (90, 70, 50, 30),
    "blur": (0.5, 1.0, 2.0),
    "noise": (0.01, 0.03, 0.05),
    "resize": (0.75, 0.5, 0.25),
}


def perturb(image: np.ndarray, name: str, strength: float, seed: Seed = 0) -> np.ndarray:
    """Apply the quick-mode perturbation ``name`` (a key of :data:`PERTURBATIONS`).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        name: ``"jpeg"``, ``"blur"``, ``"noise"`` or ``"resize"``.
        strength: the perturbation's parameter (see the module table).
        seed: seed of the random perturbations (``noise``); ignored by the others.

    Returns:
        The perturbed image, ``uint8`` :math:`(H, W, 3)`.
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"name must be one of {sorted(PERTURBATIONS)}, got {name!r}")
    return PERTURBATIONS[name](image, strength, seed)
