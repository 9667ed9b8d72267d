"""Degradations of face crops and videos for the robustness evaluation.

Every image perturbation is a pure function on an RGB ``uint8`` array :math:`(H, W, 3)` that
returns a new array of the same shape and dtype; the random ones take a seed, so the result is
a function of the arguments. :mod:`freqforensics.robustness` runs them over a manifest.

- :mod:`~freqforensics.perturbations.quick`: JPEG, blur, noise and down-up resizing
  (:data:`PERTURBATIONS`, :data:`DEFAULT_STRENGTHS`), the quick mode.
- :mod:`~freqforensics.perturbations.deeperforensics`: the seven distortion types of
  DeeperForensics-1.0 at five levels each (:data:`DEEPERFORENSICS_LEVELS`, :func:`distort`),
  the protocol of the field, including H.264 compression of crops and videos.
"""

from freqforensics.perturbations.deeperforensics import (
    DEEPERFORENSICS_LEVELS,
    DEEPERFORENSICS_NAMES,
    block_wise,
    color_contrast,
    color_saturation,
    compress_crops,
    compress_video,
    deeperforensics_parameter,
    distort,
    downsample_upsample,
    gaussian_blur_kernel,
    gaussian_noise_color,
)
from freqforensics.perturbations.quick import (
    DEFAULT_STRENGTHS,
    PERTURBATIONS,
    gaussian_blur,
    gaussian_noise,
    jpeg_compress,
    perturb,
    resize_down_up,
)

__all__ = [
    # quick mode
    "PERTURBATIONS",
    "DEFAULT_STRENGTHS",
    "jpeg_compress",
    "gaussian_blur",
    "gaussian_noise",
    "resize_down_up",
    "perturb",
    # DeeperForensics-1.0
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
