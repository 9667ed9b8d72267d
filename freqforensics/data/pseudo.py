"""Pseudo-fakes: self-blended fakes made from the *real* face crops of a manifest.

Training on self-blended images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended
Images", CVPR 2022) needs only real videos: each real face crop is paired with a fake made by
replacing a soft-edged blob of the face with a slightly altered copy of itself
(:func:`~freqforensics.data.blend.make_self_blended`: resampling, blur or sharpening, a
shift of a few pixels, small colour changes). The detector learns the blending boundary and the
local inconsistencies common to face swaps instead of the fingerprints of one manipulation
method.

The manifest crops are FaceForensics++ squares, 1.3 times the dlib face box, so the face fills
about the central 77 % of each side. :func:`make_pseudo_fake` blends only inside the central
``central`` fraction of the crop (70 % by default) and fades the blend to zero over a margin at
the edge of that region (so no straight seam appears); everything outside is left exactly
unchanged, background and hair included.

The fakes are made at the crop's original resolution, so the SIDA statistics see the blend and
the codec's 8x8 grid exactly as they would in a real manipulated video, and only then is the
image resized for the spatial branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from freqforensics.data.blend import make_self_blended
from freqforensics.data.codecs import read_rgb
from freqforensics.data.dataset import load_rows, prepare_crop
from freqforensics.layers.sida import SIDA

__all__ = ["PseudoFakeDataset", "make_pseudo_fake", "central_box", "PSEUDO_SUFFIX"]

#: Suffix of the ``video_id`` of a pseudo-fake: ``"<real video_id>#sbi"``.
PSEUDO_SUFFIX = "#sbi"


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
    fake[y0:y1, x0:x1] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[y0:y1, x0:x1] = inner_mask * taper
    return fake, mask


class PseudoFakeDataset(Dataset[dict[str, Any]]):
    """Real face crops of a manifest, each followed by its self-blended pseudo-fake.

    Only the real frames (``label == 0``, status ``ok``) of the manifest(s) are used. Item
    ``2k`` is real frame ``k``, item ``2k + 1`` its pseudo-fake (:func:`make_pseudo_fake`),
    so every pair of consecutive items is balanced (train with
    ``TrainConfig(group_size=2)`` to keep each pair in one batch, as SBI does). An item
    depends only on ``(seed, epoch, index)``; :meth:`set_epoch` draws fresh blends (and
    augmentations) every epoch.

    Args:
        manifest: a ``manifest.csv`` (or its folder), or a list of them.
        split: split whose real frames are used (``None``: all splits).
        image_size: side ``S`` of the resized ``image``.
        seed: non-negative int behind every random draw.
        videos: keep only videos matching these patterns
            (:func:`~freqforensics.data.dataset.match_video`), or ``None``.
        central: fraction of each crop side the blend may touch (0.7: inside the face, the
            crops being 1.3x face boxes).
        augment: a horizontal flip (both views) and a brightness/contrast jitter (``image``
            only), the same for a real and its fake; defaults to ``split == "train"``.
        fresh_every_epoch: whether :meth:`set_epoch` changes the blends.
        brightness: jitter factor drawn from ``[1 - brightness, 1 + brightness]``.
        contrast: jitter factor drawn from ``[1 - contrast, 1 + contrast]``.
        flip_p: probability of the horizontal flip.

    Each item has the keys of :class:`~freqforensics.data.FrameDataset`: ``image`` float32
    :math:`(3, S, S)` in [0, 1], ``sida`` float32 :math:`(2304,)` of the (blended) crop at
    its original resolution, ``label`` a float32 scalar tensor (1 = fake), ``video_id`` (the
    real id, or ``"<real id>#sbi"`` for a fake) and ``frame_index``.

    Example:
        >>> ds = PseudoFakeDataset("crops/ffpp/manifest.csv", image_size=128)  # doctest: +SKIP
        >>> [ds[i]["label"].item() for i in range(4)]  # doctest: +SKIP
        [0.0, 1.0, 0.0, 1.0]
    """

    def __init__(
        self,
        manifest: str | Path | Sequence[str | Path],
        split: str | None = "train",
        image_size: int = 380,
        seed: int = 0,
        videos: Sequence[str] | None = None,
        central: float = 0.7,
        augment: bool | None = None,
        fresh_every_epoch: bool = True,
        brightness: float = 0.1,
        contrast: float = 0.1,
        flip_p: float = 0.5,
    ) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.central = _check_fraction(central, "central", 0.0, 1.0)
        for name, value in (("brightness", brightness), ("contrast", contrast)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        if isinstance(flip_p, bool) or not isinstance(flip_p, (int, float)) or not 0 <= flip_p <= 1:
            raise ValueError(f"flip_p must be a number in [0, 1], got {flip_p!r}")
        self.rows = load_rows(manifest, split=split, videos=videos, label=0)
        if not self.rows:
            where = f"split {split!r}" if split is not None else "any split"
            raise ValueError(
                f"manifest must list real frames (label 0, status ok) in {where}"
                + (f" matching videos={list(videos)}" if videos is not None else "")
                + f", got none in {manifest!s}"
            )
        self.split = split
        self.image_size = image_size
        self.seed = int(seed)
        self.augment = split == "train" if augment is None else bool(augment)
        self.fresh_every_epoch = bool(fresh_every_epoch)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.flip_p = float(flip_p)
        self.epoch = 0
        self.sida = SIDA()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (fresh blends and augmentations when ``fresh_every_epoch``).

        Args:
            epoch: non-negative int.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return 2 * len(self.rows)

    @property
    def labels(self) -> list[int]:
        """Label of every item: ``[0, 1, 0, 1, ...]``."""
        return [0, 1] * len(self.rows)

    def _rng(self, pair: int, stream: int) -> np.random.Generator:
        epoch = self.epoch if self.fresh_every_epoch else 0
        return np.random.default_rng([self.seed, epoch, pair, stream])

    def _real_crop(self, pair: int) -> np.ndarray:
        row = self.rows[pair]
        if row.crop_path is None:  # pragma: no cover - load_rows keeps ok rows only
            raise ValueError(f"row {row.video_id}:{row.frame_index} has no crop")
        return read_rgb(row.crop_path)

    def pair(self, pair: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Real crop, pseudo-fake and blend mask of pair ``pair`` at the current epoch.

        The crops are at their original resolution, flipped when the pair's augmentation
        says so.

        Args:
            pair: index of the real frame, in ``[0, len(self) // 2)``.

        Returns:
            ``(real, fake, mask)``: ``uint8`` :math:`(H, W, 3)` twice, float32 :math:`(H, W)`.
        """
        if not 0 <= pair < len(self.rows):
            raise IndexError(f"pair {pair} out of range for {len(self.rows)} real frames")
        real = self._real_crop(pair)
        if self.augment and self._rng(pair, 0).random() < self.flip_p:
            real = np.ascontiguousarray(real[:, ::-1])
        fake, mask = make_pseudo_fake(real, self._rng(pair, 1), self.central)
        return real, fake, mask

    def _jitter(self, image: torch.Tensor, pair: int) -> torch.Tensor:
        rng = self._rng(pair, 2)
        b = 1 + self.brightness * (2 * rng.random() - 1)
        c = 1 + self.contrast * (2 * rng.random() - 1)
        image = image * float(b)
        luma = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]).mean()
        return ((image - luma) * float(c) + luma).clamp(0, 1)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for a data set of length {n}")
        pair, label = divmod(int(index), 2)
        row = self.rows[pair]
        if label:
            _, crop, _ = self.pair(pair)
        else:
            crop = self._real_crop(pair)
            if self.augment and self._rng(pair, 0).random() < self.flip_p:
                crop = np.ascontiguousarray(crop[:, ::-1])
        image, sida = prepare_crop(crop, self.image_size, self.sida)
        if self.augment:
            image = self._jitter(image, pair)
        return {
            "image": image,
            "sida": sida,
            "label": torch.tensor(float(label)),
            "video_id": row.video_id + (PSEUDO_SUFFIX if label else ""),
            "frame_index": row.frame_index,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(real_frames={len(self.rows)}, split={self.split!r}, "
            f"image_size={self.image_size}, seed={self.seed}, central={self.central}, "
            f"augment={self.augment})"
        )
