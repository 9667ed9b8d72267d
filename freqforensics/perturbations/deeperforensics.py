"""The DeeperForensics-1.0 distortions (:data:`DEEPERFORENSICS_LEVELS`, :func:`distort`).

The seven distortion types at five levels each of Jiang et al., "DeeperForensics-1.0: A Large-Scale
Dataset for Real-World Face Forgery Detection", CVPR 2020, with the parameters and operations
of the reference code, repository ``EndlessSora/DeeperForensics-1.0`` (MIT), files
``perturbation/add_distortion_to_video.py`` (``get_distortion_parameter``, the levels) and
``perturbation/distortions.py`` (the operations), commit ``4f6ecff``:

======== ============================= ================================= =====================
type     function                      parameter (levels 1 to 5)         values
======== ============================= ================================= =====================
``CS``   :func:`color_saturation`      chroma factor (smaller: worse)    0.4, 0.3, 0.2, 0.1, 0
``CC``   :func:`color_contrast`        intensity factor (smaller: worse) 0.85 to 0.35 by 0.125
``BW``   :func:`block_wise`            8x8 grey blocks per 256 px        16, 32, 48, 64, 80
``GNC``  :func:`gaussian_noise_color`  noise variance in YCbCr           .001 .002 .005 .01 .05
``GB``   :func:`gaussian_blur_kernel`  kernel size, sigma = size / 6     7, 9, 13, 17, 21
``JPEG`` :func:`downsample_upsample`   down-up resampling factor         2, 3, 4, 5, 6
``VC``   :func:`compress_crops`,       x264 CRF (FFmpeg defaults)        30, 32, 35, 38, 40
         :func:`compress_video`
======== ============================= ================================= =====================

Where this module settles what the reference leaves to its environment:

- ``JPEG`` is, in the reference, not a JPEG codec but its blocky look: the image is resized
  down by the factor (``w // f``, ``h // f``) and back up, both with OpenCV's bilinear
  ``INTER_LINEAR``; here with the same half-pixel bilinear sampling (PyTorch's, no antialias).
- ``BW`` places ``blocks * (min(H, W) // 256)`` blocks in the reference, which is none on a
  crop under 256 px; here ``blocks * max(1, min(H, W) // 256)``, the same from 256 px up.
- ``GNC`` adds noise of variance ``v`` in the reference's normalised YCbCr, whose scaling makes
  the effective standard deviation :math:`255^2\\sqrt{v}/219` grey levels on Y and
  :math:`255^2\\sqrt{v}/224` on Cb and Cr (9.4 at level 1, 66 at level 5); reproduced exactly.
- ``GB`` is OpenCV's ``GaussianBlur(k, k, sigma=k/6)`` with its mirrored border (SciPy's
  ``mirror``); ``CS`` scales the chroma (BT.601) around the luma, as the reference does.
- The reference truncates its float results to ``uint8``; here they are rounded (truncation
  darkens by half a grey level on average).
- ``VC`` re-encodes the source video with ``ffmpeg -crf``: :func:`compress_video` does that with
  PyAV, by default with x264's C code on one thread, which makes the bytes reproducible
  (x264's SIMD lookahead reads uninitialised memory on many frame sizes). The evaluation
  works from crops, so it uses :func:`compress_crops`, which encodes the crops of one video,
  in frame order, as one 4:2:0 clip at the level's CRF and decodes them back. That is an
  approximation: x264's quantiser choices (adaptive quantisation, the macroblock tree)
  depend on the whole frame and on the neighbouring frames, which a clip of crops sampled
  apart lacks, so the artefacts match in kind and roughly in strength, not pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqforensics._images import to_uint8
from freqforensics.data.codecs import h264_round_trip, reencode_h264
from freqforensics.perturbations._common import Seed, check_image, check_int, check_number

__all__ = [
    "DEEPERFORENSICS_LEVELS",
    "DEEPERFORENSICS_NAMES",
    "color_saturation",
    "color_contrast",
    "block_wise",
    "gaussian_noise_color",
    "gaussian_blur_kernel",
    "downsample_upsample",
    "compress_crops",
    "compress_video",
    "deeperforensics_parameter",
    "distort",
]

#: BT.601 RGB -> (Y, Cb, Cr) without offsets (OpenCV's ``COLOR_BGR2YCrCb`` coefficients):
#: ``Cb = (B - Y) / 1.772``, ``Cr = (R - Y) / 1.402``.
_RGB_TO_YCC = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.299 / 1.772, -0.587 / 1.772, 0.886 / 1.772],
        [0.701 / 1.402, -0.587 / 1.402, -0.114 / 1.402],
    ]
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def color_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Colour saturation change (``CS``): scale the chroma of each pixel around its luma.

    The reference scales Cb and Cr around their neutral value in YCbCr, which is
    ``Y + factor * (RGB - Y)`` with the BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        factor: chroma factor in [0, 1]: 1 keeps the image, 0 makes it grey.

    Returns:
        The image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.zeros((2, 2, 3), np.uint8); x[..., 0] = 200
        >>> color_saturation(x, 0.0)[0, 0].tolist()
        [60, 60, 60]
    """
    image = check_image(image)
    factor = check_number(factor, "factor", 0.0, 1.0, closed_low=True)
    rgb = image.astype(np.float32)
    luma = rgb @ _RGB_TO_YCC[0].astype(np.float32)
    return to_uint8(luma[..., None] + factor * (rgb - luma[..., None]))


def color_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Colour contrast change (``CC``): multiply every intensity by ``factor``.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        factor: intensity factor in [0, 1] (the reference's 0.85 to 0.35).

    Returns:
        The image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> color_contrast(np.full((1, 1, 3), 200, np.uint8), 0.6)[0, 0].tolist()
        [120, 120, 120]
    """
    image = check_image(image)
    factor = check_number(factor, "factor", 0.0, 1.0, closed_low=True)
    return to_uint8(image.astype(np.float32) * factor)


def block_wise(image: np.ndarray, blocks: int, seed: Seed = 0, block_size: int = 8) -> np.ndarray:
    """Local block-wise distortion (``BW``): grey (128) squares at random places.

    ``blocks * max(1, min(H, W) // 256)`` squares of ``block_size`` pixels are painted one
    after the other, each at a top-left corner drawn uniformly in
    ``[0, W - 1 - block_size] x [0, H - 1 - block_size]`` (they may overlap), as in the
    reference, which would paint none on a crop under 256 px.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        blocks: squares per 256 px of the shorter side, >= 0.
        seed: seed of :func:`numpy.random.default_rng`.
        block_size: side of a square in pixels (the reference's 8).

    Returns:
        The image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.zeros((64, 64, 3), np.uint8)
        >>> int((block_wise(x, 1, seed=0) == 128).all(axis=2).sum())
        64
    """
    image = check_image(image)
    blocks = check_int(blocks, "blocks", 0, 1 << 20)
    block_size = check_int(block_size, "block_size", 1, 1 << 16)
    out = image.copy()
    h, w = image.shape[:2]
    count = blocks * max(1, min(h, w) // 256)
    rng = np.random.default_rng(seed)
    xs = rng.integers(0, max(0, w - 1 - block_size), count, endpoint=True)
    ys = rng.integers(0, max(0, h - 1 - block_size), count, endpoint=True)
    for x, y in zip(xs.tolist(), ys.tolist()):
        out[y : y + block_size, x : x + block_size] = 128
    return out


def gaussian_noise_color(image: np.ndarray, variance: float, seed: Seed = 0) -> np.ndarray:
    """White Gaussian noise in the colour components (``GNC``): noise on Y, Cb and Cr.

    The reference adds noise of variance ``variance`` to YCbCr normalised by 255 after a
    studio-range mapping; its effective standard deviation in grey levels is
    :math:`255^2 \\sqrt{v} / 219` on Y and :math:`255^2 \\sqrt{v} / 224` on Cb and Cr, which
    this function adds (BT.601, the inverse transform back to RGB, then clip and round).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        variance: noise variance in [0, 1] (the reference's 0.001 to 0.05); 0 returns a copy.
        seed: seed of :func:`numpy.random.default_rng`.

    Returns:
        The noisy image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.full((32, 32, 3), 128, np.uint8)
        >>> y = gaussian_noise_color(x, 0.001, seed=0)
        >>> bool((y == gaussian_noise_color(x, 0.001, seed=0)).all()), round(float(y.std()))
        (True, 16)
    """
    image = check_image(image)
    variance = check_number(variance, "variance", 0.0, 1.0, closed_low=True)
    if variance == 0:
        return image.copy()
    sigma = 255.0**2 * math.sqrt(variance) / np.array([219.0, 224.0, 224.0])
    noise = np.random.default_rng(seed).standard_normal(image.shape) * sigma
    ycc = image.astype(np.float64) @ _RGB_TO_YCC.T + noise
    return to_uint8(ycc @ _YCC_TO_RGB.T)


def gaussian_blur_kernel(image: np.ndarray, kernel_size: int) -> np.ndarray:
    """Gaussian blur (``GB``) with OpenCV's parametrisation: a ``k x k`` kernel, sigma ``k / 6``.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        kernel_size: odd kernel side ``k`` >= 1 (the reference's 7 to 21); 1 returns a copy.

    Returns:
        The blurred image, ``uint8`` :math:`(H, W, 3)` (mirrored borders, OpenCV's default).

    Example:
        >>> x = np.zeros((15, 15, 3), np.uint8); x[7, 7] = 255
        >>> int(gaussian_blur_kernel(x, 7)[7, 7, 0])
        30
    """
    from scipy.ndimage import gaussian_filter

    image = check_image(image)
    k = check_int(kernel_size, "kernel_size", 1, 1001)
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (OpenCV's rule), got {kernel_size!r}")
    if k == 1:
        return image.copy()
    sigma = k / 6.0
    truncate = (k - 1) / 2 / sigma  # SciPy's radius int(truncate * sigma + 0.5) = (k - 1) / 2
    out = gaussian_filter(
        image.astype(np.float32), sigma=(sigma, sigma, 0), mode="mirror", truncate=truncate
    )
    return to_uint8(out)


def _bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


def downsample_upsample(image: np.ndarray, factor: int) -> np.ndarray:
    """DeeperForensics' ``JPEG`` type: resize to ``(H // f, W // f)`` and back, bilinear.

    Both resizes sample with half-pixel centres and no antialiasing, as OpenCV's
    ``INTER_LINEAR``; each intermediate side is at least 1.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        factor: integer down-sampling factor >= 1 (the reference's 2 to 6); 1 returns a copy.

    Returns:
        The resampled image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2)
        >>> downsample_upsample(x, 2)[..., 0].tolist()[0]
        [2, 2, 4, 4]
    """
    image = check_image(image)
    factor = check_int(factor, "factor", 1, 1 << 16)
    if factor == 1:
        return image.copy()
    h, w = image.shape[:2]
    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    small = _bilinear(x, (max(1, h // factor), max(1, w // factor)))
    small = small.round().clamp(0, 255)  # OpenCV returns the small image as uint8
    out = _bilinear(small, (h, w))[0].permute(1, 2, 0).numpy()
    return to_uint8(out)


#: The DeeperForensics-1.0 distortion parameters of levels 1 to 5 (``get_distortion_parameter``
#: of the reference code), mildest first.
DEEPERFORENSICS_LEVELS: dict[str, tuple[float, ...]] = {
    "CS": (0.4, 0.3, 0.2, 0.1, 0.0),
    "CC": (0.85, 0.725, 0.6, 0.475, 0.35),
    "BW": (16, 32, 48, 64, 80),
    "GNC": (0.001, 0.002, 0.005, 0.01, 0.05),
    "GB": (7, 9, 13, 17, 21),
    "JPEG": (2, 3, 4, 5, 6),
    "VC": (30, 32, 35, 38, 40),
}

#: What each DeeperForensics-1.0 type is, for tables and plots.
DEEPERFORENSICS_NAMES: dict[str, str] = {
    "CS": "colour saturation",
    "CC": "colour contrast",
    "BW": "local block-wise",
    "GNC": "Gaussian noise (colour)",
    "GB": "Gaussian blur",
    "JPEG": "JPEG (down-up resampling)",
    "VC": "video compression (H.264)",
}


def deeperforensics_parameter(kind: str, level: int) -> float:
    """The parameter of DeeperForensics-1.0 type ``kind`` at ``level`` (1 mildest, 5 worst).

    Example:
        >>> deeperforensics_parameter("GB", 3), deeperforensics_parameter("VC", 5)
        (13, 40)
    """
    if kind not in DEEPERFORENSICS_LEVELS:
        raise ValueError(f"kind must be one of {list(DEEPERFORENSICS_LEVELS)}, got {kind!r}")
    level = check_int(level, "level", 1, 5)
    return DEEPERFORENSICS_LEVELS[kind][level - 1]


def compress_crops(
    crops: Sequence[np.ndarray], level: int, preset: str = "medium"
) -> list[np.ndarray]:
    """``VC`` on the crops of one video: one H.264 clip at the level's CRF, decoded back.

    The crops are encoded in the order given (pass them in frame order) with
    :func:`~freqforensics.data.codecs.h264_round_trip` (libx264, 4:2:0, one thread, x264's C
    code: the result is the same on every run and machine).

    Args:
        crops: RGB ``uint8`` crops :math:`(H_i, W_i, 3)` of one video.
        level: DeeperForensics level, 1 to 5 (CRF 30, 32, 35, 38, 40).
        preset: x264 preset (FFmpeg's default ``"medium"``, as the reference's ``ffmpeg``).

    Returns:
        The compressed crops, each the shape of its input, ``uint8``.
    """
    crf = int(deeperforensics_parameter("VC", level))
    return h264_round_trip(crops, crf, preset=preset)


def compress_video(
    path: str | Path, level: int, out_path: str | Path, preset: str = "medium", simd: bool = False
) -> Path:
    """``VC`` on a source video: re-encode it with libx264 at the level's CRF (PyAV).

    The reference runs ``ffmpeg -i path -crf CRF out_path``; this is
    :func:`~freqforensics.data.codecs.reencode_h264` with the same CRF and FFmpeg's default
    preset (the audio is dropped). Frame ``i`` of the output is frame ``i`` of the source, so
    a manifest's crop boxes apply to it.

    Args:
        path: the source video.
        level: DeeperForensics level, 1 to 5 (CRF 30, 32, 35, 38, 40).
        out_path: the output video (``.mp4``).
        preset: x264 preset.
        simd: x264's SIMD code, about 4x faster but not bit-reproducible (see
            :func:`~freqforensics.data.codecs.reencode_h264`); the default is reproducible.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    crf = int(deeperforensics_parameter("VC", level))
    return reencode_h264(path, out_path, crf, preset=preset, simd=simd)


_DISTORTIONS: dict[str, Callable[[np.ndarray, Any, Seed], np.ndarray]] = {
    "CS": lambda image, p, seed: color_saturation(image, p),
    "CC": lambda image, p, seed: color_contrast(image, p),
    "BW": lambda image, p, seed: block_wise(image, int(p), seed),
    "GNC": lambda image, p, seed: gaussian_noise_color(image, p, seed),
    "GB": lambda image, p, seed: gaussian_blur_kernel(image, int(p)),
    "JPEG": lambda image, p, seed: downsample_upsample(image, int(p)),
}


def distort(image: np.ndarray, kind: str, level: int, seed: Seed = 0) -> np.ndarray:
    """Apply DeeperForensics-1.0 distortion ``kind`` at ``level`` to one image.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        kind: ``"CS"``, ``"CC"``, ``"BW"``, ``"GNC"``, ``"GB"``, ``"JPEG"`` or ``"VC"`` (on
            one image, a one-frame clip; use :func:`compress_crops` for a video's crops).
        level: 1 (mildest) to 5.
        seed: seed of the random types (``BW``, ``GNC``); ignored by the others.

    Returns:
        The distorted image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> [distort(x, k, 3).shape for k in ("CS", "VC")]
        [(32, 32, 3), (32, 32, 3)]
    """
    parameter = deeperforensics_parameter(kind, level)
    if kind == "VC":
        return compress_crops([check_image(image)], level)[0]
    return _DISTORTIONS[kind](image, parameter, seed)
