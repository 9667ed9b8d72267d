"""Image codecs shared by the data sets and the robustness evaluation.

- :func:`read_rgb`: decode an image file (or a file object) to an RGB ``uint8`` array, the one
  reader of face crops (:class:`~freqforensics.data.pseudo.PseudoFakeDataset`,
  :class:`~freqforensics.robustness.PerturbedFrames`) and bundled photos.
- :func:`jpeg_compress`: the one JPEG round trip, used both to compress the samples of
  :class:`~freqforensics.data.synthetic.SelfBlendedFaces` and as the ``jpeg`` perturbation of
  :mod:`freqforensics.robustness`, so that training and evaluation see the same codec.

Both use Pillow, imported only when called.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import numpy as np

from freqforensics._checks import check_rgb_uint8

__all__ = ["read_rgb", "jpeg_compress"]


def read_rgb(source: str | Path | IO[bytes]) -> np.ndarray:
    """Decode an image with Pillow and convert it to RGB.

    Args:
        source: a path, or a binary file object positioned at the start of the image.

    Returns:
        The decoded image, RGB ``uint8`` :math:`(H, W, 3)` (grayscale and palette images
        converted, an alpha channel dropped).

    Raises:
        OSError: the file cannot be read or is not an image Pillow can decode
            (:class:`PIL.UnidentifiedImageError` is an :class:`OSError`).

    Example:
        >>> buf = io.BytesIO()
        >>> from PIL import Image
        >>> Image.new("L", (5, 4), 7).save(buf, format="PNG")
        >>> _ = buf.seek(0)
        >>> read_rgb(buf).shape
        (4, 5, 3)
    """
    from PIL import Image

    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip with Pillow (4:2:0 chroma subsampling, Pillow's default tables).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        quality: JPEG quality, an int in [1, 100] (lower: stronger compression).

    Returns:
        The decoded JPEG, ``uint8`` :math:`(H, W, 3)`.

    Raises:
        ValueError: ``image`` is not an RGB ``uint8`` array or ``quality`` is not an int in
            [1, 100].

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> y = jpeg_compress(x, 50)
        >>> y.shape, y.dtype, bool((y == jpeg_compress(x, 50)).all())
        ((32, 32, 3), dtype('uint8'), True)
    """
    from PIL import Image

    image = check_rgb_uint8(image)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise ValueError(f"quality must be an int in [1, 100], got {quality!r}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be an int in [1, 100], got {quality!r}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return read_rgb(buf)
