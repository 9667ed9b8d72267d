"""The embedded default data set: self-blended crops of bundled photographs.

**This is a proxy task, not FaceForensics++.** It lets the library train and test a detector
end to end with no download and no face data: real samples are random crops of the
photographs that ship inside installed Python packages (:mod:`~freqforensics.data.photos`),
and fakes are *self-blended images* in the style of Shiohara & Yamasaki, "Detecting Deepfakes
with Self-Blended Images" (CVPR 2022): a soft-edged, face-sized blob of a crop is replaced by a
slightly transformed copy of the same crop (:mod:`~freqforensics.data.blend`). What a detector
learns here is to find blending boundaries and local resampling, sharpness and colour
inconsistencies, the generic traces that SBI training targets. None of the photographs is a
face, so numbers on this set say nothing about accuracy on real deepfake benchmarks.

The pipeline, identical for both classes except the blending step:

1. pick a source photograph of the split and a random square crop (random position, side,
   horizontal flip), resized to ``size`` x ``size`` (antialiased bilinear);
2. fakes only: :func:`~freqforensics.data.blend.make_self_blended` on the resized crop;
3. JPEG compression with Pillow (:func:`~freqforensics.data.codecs.jpeg_compress`) at a
   quality drawn from the same range for both classes, so that compression is not a cue.

Resizing happens *before* blending and JPEG, so the blending traces and the JPEG grid of a
fake are at the output resolution exactly as for a real sample.

Splits are made **by source photograph**, never by crop
(:func:`~freqforensics.data.photos.split_sources`): no photo feeds two splits. Everything is
deterministic: a sample depends only on ``(seed, split, epoch, index)``.

This module holds the :class:`SelfBlendedFaces` data set; the photo sources, the blending and
the codec live in :mod:`~freqforensics.data.photos`, :mod:`~freqforensics.data.blend` and
:mod:`~freqforensics.data.codecs`, and their public names are re-exported here
(``freqforensics.data.synthetic.make_self_blended`` and the others keep working).

Needs scikit-image (and the SciPy it depends on) and Pillow, the ``train`` extra; scikit-learn
and matplotlib only add photos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from freqforensics.data.blend import make_self_blended
from freqforensics.data.codecs import jpeg_compress
from freqforensics.data.photos import (
    SOURCES,
    SPLITS,
    _check_seed,
    _photo,
    available_sources,
    load_source,
    split_sources,
)

__all__ = [
    "SOURCES",
    "SPLITS",
    "DEFAULT_LENGTHS",
    "SelfBlendedFaces",
    "available_sources",
    "split_sources",
    "make_self_blended",
    "load_source",
]

#: Samples per split when ``length`` is not given.
DEFAULT_LENGTHS: dict[str, int] = {"train": 4096, "val": 1024, "test": 1024}

_LOW_CONTRAST_STD = 3.0  # crops flatter than this (0-255 scale) are redrawn, up to 8 times


def _check_quality(jpeg_quality: object) -> tuple[int, int] | None:
    if jpeg_quality is None:
        return None
    if isinstance(jpeg_quality, (int, np.integer)) and not isinstance(jpeg_quality, bool):
        lo = hi = int(jpeg_quality)
    elif (
        isinstance(jpeg_quality, Sequence)
        and len(jpeg_quality) == 2
        and all(isinstance(q, (int, np.integer)) and not isinstance(q, bool) for q in jpeg_quality)
    ):
        lo, hi = int(jpeg_quality[0]), int(jpeg_quality[1])
    else:
        raise ValueError(
            f"jpeg_quality must be None, an int or a (low, high) pair of ints, got {jpeg_quality!r}"
        )
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"jpeg_quality must satisfy 1 <= low <= high <= 100, got {jpeg_quality!r}")
    return lo, hi


class SelfBlendedFaces(Dataset):
    """Self-blended crops of bundled photographs: the embedded, download-free data set.

    A proxy for a face-forgery data set, not FaceForensics++ (see the module docstring): even
    indices are real crops, odd indices are fakes made by
    :func:`~freqforensics.data.blend.make_self_blended`, so any window of consecutive indices
    is balanced. Samples ``2k`` and ``2k + 1`` come from the same crop (the fake is the
    self-blended version of the real one, before JPEG), like SBI's paired batches; each sample
    then gets its own JPEG quality, drawn from the same range for both classes.

    A sample depends only on ``(seed, split, epoch, index)``. With ``fresh_every_epoch`` each
    :meth:`set_epoch` call draws new crops, masks and qualities (fresh crops every epoch keep a
    detector from memorising a fixed set); otherwise the epoch is ignored. The epoch starts at
    0, so a validation or test set is a fixed set unless you call :meth:`set_epoch` on it. With
    a :class:`~torch.utils.data.DataLoader`, call :meth:`set_epoch` before iterating, and use
    ``persistent_workers=False`` so that the workers see the new epoch.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; splits use disjoint source photos
            (:func:`~freqforensics.data.photos.split_sources`).
        size: output side S in pixels, >= 32 (a multiple of 8 keeps the JPEG grid aligned with
            block-DCT layers).
        length: number of samples, a positive even int; defaults to :data:`DEFAULT_LENGTHS`.
        seed: non-negative int; selects the split assignment of the photos and every draw.
        fresh_every_epoch: whether :meth:`set_epoch` changes the samples.
        jpeg_quality: JPEG quality range ``(low, high)`` (inclusive, drawn uniformly), a single
            int, or None for no compression.
        return_sida_crop: also return ``"raw_crop"``, the crop at the photo's original
            resolution before resizing, blending and JPEG (``uint8`` :math:`(3, h, w)`, flipped
            like ``image``; its size varies: use ``batch_size=1`` or a custom ``collate_fn``).
            It is the *untouched real* crop for both classes (the fake is made at the output
            resolution), so it is for inspection, not a model input: compute SIDA statistics
            on ``image``, whose blending and JPEG grid are at the output resolution.

    Shape:
        Each item is a dict with ``image`` :math:`(3, S, S)` float32 in [0, 1], ``label`` a
        float (1.0 = fake), ``source`` the photo name, ``video_id``
        ``"synthetic/<photo>/<index>"`` (unique per sample), ``mask`` :math:`(1, S, S)` float32
        blend mask (zeros for real samples) and ``jpeg_quality`` an int (0 when JPEG is off).

    Example:
        >>> ds = SelfBlendedFaces("train", size=64, length=8, seed=0)
        >>> item = ds[1]
        >>> item["image"].shape, item["label"], item["mask"].shape
        (torch.Size([3, 64, 64]), 1.0, torch.Size([1, 64, 64]))
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = None,
        seed: int = 0,
        fresh_every_epoch: bool = True,
        jpeg_quality: int | tuple[int, int] | None = (70, 95),
        return_sida_crop: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
            raise ValueError(f"size must be an int >= 32, got {size!r}")
        if length is None:
            length = DEFAULT_LENGTHS[split]
        if (
            isinstance(length, bool)
            or not isinstance(length, (int, np.integer))
            or length < 2
            or length % 2
        ):
            raise ValueError(
                f"length must be a positive even int (even indices real, odd fake), got {length!r}"
            )
        for arg, value in (
            ("fresh_every_epoch", fresh_every_epoch),
            ("return_sida_crop", return_sida_crop),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{arg} must be a bool, got {value!r}")
        self.split = split
        self.size = int(size)
        self.length = int(length)
        self.seed = _check_seed(seed)
        self.fresh_every_epoch = fresh_every_epoch
        self.jpeg_quality = _check_quality(jpeg_quality)
        self.return_sida_crop = return_sida_crop
        self.sources: list[str] = split_sources(self.seed)[split]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; with ``fresh_every_epoch`` the crops and masks change with it.

        Args:
            epoch: non-negative int.
        """
        self.epoch = _check_seed(epoch, "epoch")

    def __len__(self) -> int:
        return self.length

    def _rng(self, key: int, stream: int) -> np.random.Generator:
        epoch = self.epoch if self.fresh_every_epoch else 0
        return np.random.default_rng([self.seed, SPLITS.index(self.split), epoch, key, stream])

    def _crop(self, pair: int) -> tuple[str, np.ndarray, tuple[int, int, int, int], bool]:
        """Source name, resized crop (uint8 SxSx3), crop box and flip of a real/fake pair."""
        rng = self._rng(pair, 0)
        name = self.sources[int(rng.integers(len(self.sources)))]
        photo = _photo(name)
        w, h = photo.size
        hi = min(w, h)
        lo = min(hi, max(self.size, int(0.35 * hi)))
        best: tuple[float, np.ndarray, tuple[int, int, int, int]] | None = None
        for _ in range(8):
            side = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi) + 1e-9))))
            side = min(max(side, lo), hi)
            x0 = int(rng.integers(0, w - side + 1))
            y0 = int(rng.integers(0, h - side + 1))
            box = (x0, y0, x0 + side, y0 + side)
            crop = np.asarray(
                photo.resize(
                    (self.size, self.size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0
                )
            )
            std = float(crop.std())
            if best is None or std > best[0]:
                best = (std, crop, box)
            if std >= _LOW_CONTRAST_STD:
                break
        if best is None:  # pragma: no cover - the loop runs at least once
            raise RuntimeError("no crop drawn")
        _, crop, box = best
        flip = bool(rng.random() < 0.5)
        if flip:
            crop = crop[:, ::-1]
        return name, np.ascontiguousarray(crop), box, flip

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a data set of length {self.length}")
        index = int(index)
        name, crop, box, flip = self._crop(index // 2)
        label = index % 2
        if label:
            image, mask = make_self_blended(crop, self._rng(index, 1))
        else:
            image, mask = crop, np.zeros(crop.shape[:2], np.float32)
        quality = 0
        if self.jpeg_quality is not None:
            lo, hi = self.jpeg_quality
            quality = int(self._rng(index, 2).integers(lo, hi + 1))
            image = jpeg_compress(image, quality)
        sample: dict[str, Any] = {
            "image": torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
            ),
            "label": float(label),
            "source": name,
            "video_id": f"synthetic/{name}/{index}",
            "mask": torch.from_numpy(np.ascontiguousarray(mask[None], dtype=np.float32)),
            "jpeg_quality": quality,
        }
        if self.return_sida_crop:
            raw = np.asarray(_photo(name).crop(box))
            if flip:
                raw = raw[:, ::-1]
            sample["raw_crop"] = torch.from_numpy(np.ascontiguousarray(raw.transpose(2, 0, 1)))
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, size={self.size}, length={self.length}, "
            f"seed={self.seed}, fresh_every_epoch={self.fresh_every_epoch}, "
            f"jpeg_quality={self.jpeg_quality}, sources={self.sources})"
        )
