"""Pseudo-fakes: self-blended fakes made from real faces (SBI, with an ellipse fallback).

Training on self-blended images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended
Images", CVPR 2022) needs only real faces: each real face is paired with a fake made by
replacing the face with a slightly altered copy of itself. The detector learns the blending
boundary and the local inconsistencies common to face swaps instead of the fingerprints of one
manipulation method. :class:`PseudoFakeDataset` makes the pairs from the real crops of a
manifest and/or from real photographs, two ways:

- **SBI** (:mod:`freqforensics.data.sbi`, the default) follows the paper's reference code: a
  landmark hull mask, the reference's source transforms and blend ratios, and the same JPEG
  re-compression for the real and its fake. It needs the 68 landmarks of each face: a crop's
  sidecar file (:func:`~freqforensics.data.landmarks.landmarks_path`), or those dlib finds in
  a photograph.
- **The ellipse blend** (:func:`make_pseudo_fake`), the fallback for crops without landmarks
  (and ``method="ellipse"``): :func:`~freqforensics.data.blend.make_self_blended` inside the
  central ``central`` fraction of the crop, everything outside it left exactly unchanged.
- **Cross-frame sources** (``cross_p``, off by default): the source of an SBI fake is another
  frame of the same video, aligned (:mod:`~freqforensics.data.cross_frame`).

The fakes are made at the crop's original resolution, so the SIDA statistics see the blend and
the codec's 8x8 grid exactly as they would in a real manipulated video, and only then is the
image resized for the spatial branch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from freqforensics._checks import check_choice, check_int_range, check_probability
from freqforensics.data.blend import (
    _check_fraction,
    central_box,
    make_pseudo_fake,
    sharpen,
    soften,
)
from freqforensics.data.codecs import h264_round_trip, jpeg_compress, read_rgb
from freqforensics.data.cross_frame import WINDOW, align_face, same_video_partners
from freqforensics.data.dataset import crop_error, load_rows, prepare_crop
from freqforensics.data.landmarks import LANDMARKS_SUFFIX, landmarks_path, load_landmarks
from freqforensics.data.manifest import ManifestRow
from freqforensics.data.sbi import (
    LOCAL_REGIONS,
    PhotoFace,
    _blend,
    _pick_target,
    detect_photo_faces,
    landmarks_fit,
)
from freqforensics.data.sbi_transforms import view_transform
from freqforensics.layers.sida import SIDA

__all__ = ["PseudoFakeDataset", "make_pseudo_fake", "central_box", "PSEUDO_SUFFIX", "METHODS"]

logger = logging.getLogger(__name__)

#: Fakes :class:`PseudoFakeDataset` makes: SBI where landmarks exist, or the ellipse blend.
METHODS = ("sbi", "ellipse")

#: Suffix of the ``video_id`` of a pseudo-fake: ``"<real video_id>#sbi"``.
PSEUDO_SUFFIX = "#sbi"


class PseudoFakeDataset(Dataset[dict[str, Any]]):
    """Real faces, each followed by its self-blended pseudo-fake (SBI, ellipse fallback).

    The real faces are the real frames (``label == 0``, status ``ok``) of the manifest(s)
    and/or the faces of real photographs (``images``, found with dlib once, at construction,
    and kept in memory: :func:`~freqforensics.data.sbi.detect_photo_faces`; photos without a
    face are reported once and skipped). Item ``2k`` is real face ``k``, item ``2k + 1`` its
    pseudo-fake, so every pair of consecutive items is balanced (train with
    ``TrainConfig(group_size=2)`` to keep each pair in one batch, as SBI does). An item depends
    only on ``(seed, epoch, index)``; :meth:`set_epoch` draws fresh blends (and augmentations)
    every epoch.

    With ``method="sbi"`` (the default) a face with landmarks (a crop's
    :func:`~freqforensics.data.landmarks.landmarks_path` sidecar, or a photo's detected
    landmarks) is self-blended as in the SBI reference
    (:func:`~freqforensics.data.sbi.self_blend_pair`; the real item is the pair's target,
    which the reference alters half of the time); a crop without usable landmarks falls back to
    the ellipse blend (:func:`make_pseudo_fake`), counted and logged once
    (:attr:`ellipse_pairs`). ``method="ellipse"`` uses the ellipse blend for every crop.

    Args:
        manifest: a ``manifest.csv`` (or its folder), a list of them, or ``None`` (photos
            only).
        split: split whose real frames are used (``None``: all splits); manifests only.
        image_size: side ``S`` of the resized ``image``.
        seed: non-negative int behind every random draw.
        videos: keep only videos matching these patterns
            (:func:`~freqforensics.data.dataset.match_video`), or ``None``; manifests only.
        central: fraction of each crop side the ellipse blend may touch (0.7: inside the face,
            the crops being 1.3x face boxes).
        augment: a horizontal flip (both views) and a brightness/contrast jitter (``image``
            only), the same for a real and its fake; defaults to ``split == "train"``.
        fresh_every_epoch: whether :meth:`set_epoch` changes the blends.
        brightness: jitter factor drawn from ``[1 - brightness, 1 + brightness]``.
        contrast: jitter factor drawn from ``[1 - contrast, 1 + contrast]``.
        flip_p: probability of the horizontal flip.
        images: real photographs: a folder, an image file, or a list of image files or real
            :class:`~freqforensics.data.VideoRecord` images (see
            :func:`~freqforensics.data.sbi.detect_photo_faces`); ``None`` for none.
        method: ``"sbi"`` or ``"ellipse"``.
        jpeg_p: probability that a pair is JPEG re-compressed, real and fake with the same
            quality, before the SIDA statistics and the resize (the reference's
            ``ImageCompression``); defaults to 0.5 with ``augment`` and 0 without.
        jpeg_quality: ``(low, high)``, the quality drawn uniformly from ``low..high``
            (the reference: 40-100).
        h264_p: probability that a pair is H.264 re-encoded (one intra frame, libx264
            ``veryfast``), real and fake with the same CRF, before the JPEG step; 0 by default
            (an addition to the reference: video frames are H.264, and a detector that never
            saw stronger H.264 than its training videos' calls a heavily compressed real
            video fake).
        h264_crf: ``(low, high)``, the CRF drawn uniformly from ``low..high`` (18-40 spans
            FaceForensics++ from above c23 to c40).
        quality_p: probability that a pair's detail is changed, real and fake alike, before
            the codecs (:meth:`quality`): half of the time softened (:func:`soften` to a side
            of 35-100 % of ``image_size``), else sharpened (:func:`sharpen`, 30-150 %); 0 by
            default (an addition to the reference: SBI's blends change the detail of the face,
            and a detector that took the amount of detail for the label would call a real
            video with little detail fake and a sharp fake real).
        swap_p: probability that SBI alters the target instead of the source (the
            reference: 0.5).
        local_p: probability that an SBI fake blends one part of the face
            (:data:`~freqforensics.data.sbi_masks.LOCAL_REGIONS`, drawn uniformly) instead
            of the whole face; 0 by default (an addition to the reference, after SLADD:
            reenactments such as NeuralTextures re-render the mouth alone).
        cross_p: probability that an SBI fake of a video crop takes its source from another
            frame of the same video, aligned on the stable landmarks
            (:mod:`~freqforensics.data.cross_frame`: a change of expression, as in a
            reenactment); 0 by default (an addition to the reference).
        colour_p: probability of each of the reference's colour changes of both views
            (:func:`~freqforensics.data.sbi_transforms.view_transform`: RGB shift,
            hue/saturation/value, brightness/contrast), real and fake alike, before the other
            steps; 0 by default (the library's own jitter of ``image`` is on with ``augment``).

    Each item has the keys of :class:`~freqforensics.data.FrameDataset`: ``image`` float32
    :math:`(3, S, S)` in [0, 1], ``sida`` float32 :math:`(2304,)` of the (blended,
    re-compressed) crop at its original resolution, ``label`` a float32 scalar tensor
    (1 = fake), ``video_id`` (the real id, or ``"<real id>#sbi"`` for a fake) and
    ``frame_index``.

    Raises:
        ValueError: no real face at all, or a bad argument (the message names it).
        TypeError: ``images`` of another type.

    Example:
        >>> ds = PseudoFakeDataset("crops/ffpp/manifest.csv", image_size=128)  # doctest: +SKIP
        >>> [ds[i]["label"].item() for i in range(4)]  # doctest: +SKIP
        [0.0, 1.0, 0.0, 1.0]
        >>> photos = PseudoFakeDataset(images="faces-real/", image_size=128)  # doctest: +SKIP
    """

    def __init__(
        self,
        manifest: str | Path | Sequence[str | Path] | None = None,
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
        *,
        images: str | Path | Sequence[Any] | None = None,
        method: str = "sbi",
        jpeg_p: float | None = None,
        jpeg_quality: tuple[int, int] = (40, 100),
        swap_p: float = 0.5,
        h264_p: float = 0.0,
        h264_crf: tuple[int, int] = (18, 40),
        quality_p: float = 0.0,
        local_p: float = 0.0,
        cross_p: float = 0.0,
        colour_p: float = 0.0,
    ) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.central = _check_fraction(central, "central", 0.0, 1.0)
        for name, value in (("brightness", brightness), ("contrast", contrast)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        self.method = check_choice(method, "method", METHODS)
        self.augment = split == "train" if augment is None else bool(augment)
        probabilities = {"flip_p": flip_p, "swap_p": swap_p, "h264_p": h264_p,
                         "quality_p": quality_p, "local_p": local_p, "cross_p": cross_p,
                         "colour_p": colour_p}
        probabilities["jpeg_p"] = (0.5 if self.augment else 0.0) if jpeg_p is None else jpeg_p
        for name, value in probabilities.items():
            check_probability(value, name)
        self.jpeg_quality_range = check_int_range(jpeg_quality, "jpeg_quality", 1, 100)
        self.h264_crf_range = check_int_range(h264_crf, "h264_crf", 0, 51)
        if manifest is None and images is None:
            raise ValueError(
                "manifest or images must be given (real face crops or real photographs), "
                "got neither"
            )
        rows: list[ManifestRow | PhotoFace] = []
        if manifest is not None:
            rows.extend(load_rows(manifest, split=split, videos=videos, label=0))
            if not rows:
                where = f"split {split!r}" if split is not None else "any split"
                raise ValueError(
                    f"manifest must list real frames (label 0, status ok) in {where}"
                    + (f" matching videos={list(videos)}" if videos is not None else "")
                    + f", got none in {manifest!s}"
                )
        self.skipped_images: list[tuple[str, str]] = []
        if images is not None:
            faces, self.skipped_images = detect_photo_faces(images)
            if not faces:
                raise ValueError(
                    f"images must hold photos with a face dlib can find, got none of "
                    f"{len(self.skipped_images)} in {images!s}"
                )
            rows.extend(faces)
        self.rows = rows
        self.split = split
        self.image_size = image_size
        self.seed = int(seed)
        self.fresh_every_epoch = bool(fresh_every_epoch)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.flip_p = float(flip_p)
        self.swap_p = float(swap_p)
        self.jpeg_p = float(probabilities["jpeg_p"])
        self.h264_p = float(probabilities["h264_p"])
        self.quality_p = float(probabilities["quality_p"])
        self.local_p = float(probabilities["local_p"])
        self.cross_p = float(probabilities["cross_p"])
        self.colour_p = float(probabilities["colour_p"])
        self.epoch = 0
        self.sida = SIDA()
        self._has_landmarks = [
            self.method == "sbi"
            and (isinstance(r, PhotoFace) or landmarks_path(r.crop_file()).is_file())
            for r in rows
        ]
        self._partners = same_video_partners([
            None if isinstance(r, PhotoFace) or not has else r.video_id
            for r, has in zip(rows, self._has_landmarks)
        ], window=WINDOW, frames=[r.frame_index for r in rows])
        self._warned_bad_landmarks = False
        missing = len(rows) - sum(self._has_landmarks)
        if self.method == "sbi" and missing:
            logger.warning(
                "%d of %d real crops have no landmarks (no %s sidecar next to the crop): they "
                "get the ellipse blend (make_pseudo_fake) instead of SBI",
                missing,
                len(rows),
                LANDMARKS_SUFFIX,
            )

    @property
    def ellipse_pairs(self) -> list[int]:
        """Pairs whose fake is the ellipse blend (no landmarks, or ``method="ellipse"``).

        Landmarks found unusable only when read (a corrupt sidecar, points off the crop) also
        fall back, with one warning, but are not listed here.
        """
        return [k for k, has in enumerate(self._has_landmarks) if not has]

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
        # streams: 0 flip, 1 ellipse blend / SBI alteration, 2 jitter, 3 JPEG, 4 SBI blend,
        # 5 H.264, 6 detail, 7 SBI region, 8 cross-frame source, 9 colour of both views
        epoch = self.epoch if self.fresh_every_epoch else 0
        return np.random.default_rng([self.seed, epoch, pair, stream])

    def _real_crop(self, pair: int) -> np.ndarray:
        row = self.rows[pair]
        if isinstance(row, PhotoFace):
            return row.crop()
        try:
            return read_rgb(row.crop_file())
        except OSError as err:
            raise crop_error(row, err) from None

    def _landmarks(self, pair: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """The pair's landmarks in crop pixels, or ``None`` (ellipse fallback)."""
        if not self._has_landmarks[pair]:
            return None
        row = self.rows[pair]
        where = row.video_id if isinstance(row, PhotoFace) else row.crop_file()
        why = f"the landmarks of {where} do not outline a face on the crop"
        if isinstance(row, PhotoFace):
            landmarks: np.ndarray | None = row.landmarks
        else:
            try:
                landmarks = load_landmarks(row.crop_file())
            except ValueError as err:
                landmarks, why = None, str(err)
        if landmarks_fit(landmarks, shape):
            return landmarks
        if not self._warned_bad_landmarks:
            self._warned_bad_landmarks = True
            logger.warning("%s: using the ellipse blend (warned once)", why)
        return None

    def _views(self, pair: int, row: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The (flipped) real crop and its (flipped) landmarks (of ``row``, flipped as ``pair``)."""
        row = pair if row is None else row
        crop = self._real_crop(row)
        landmarks = self._landmarks(row, crop.shape)
        if self.augment and self._rng(pair, 0).random() < self.flip_p:
            crop = np.ascontiguousarray(crop[:, ::-1])
            if landmarks is not None:
                landmarks = landmarks.astype(np.float32).copy()
                landmarks[:, 0] = crop.shape[1] - 1 - landmarks[:, 0]
        return crop, landmarks

    def pair(self, pair: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Real crop, pseudo-fake and blend mask of pair ``pair`` at the current epoch.

        At the crop's original resolution, flipped when the pair's augmentation says so, before
        the JPEG re-compression (:meth:`jpeg_quality`). With SBI the real crop is the blend's
        target, altered half of the time (:func:`~freqforensics.data.sbi.self_blend_pair`);
        the fake equals it wherever the mask is 0.

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.

        Returns:
            ``(real, fake, mask)``: ``uint8`` :math:`(H, W, 3)` twice, float32 :math:`(H, W)`.
        """
        self._check_pair(pair)
        crop, landmarks = self._views(pair)
        if landmarks is None:
            fake, mask = make_pseudo_fake(crop, self._rng(pair, 1), self.central)
            return crop, fake, mask
        target, source = _pick_target(crop, self._rng(pair, 1), self.swap_p)
        partner = self.partner(pair)
        if partner is not None:
            other, other_landmarks = self._views(pair, partner)
            if other_landmarks is not None:
                source = align_face(other, other_landmarks, landmarks, crop.shape)[0]
        fake, mask = _blend(target, source, landmarks.astype(np.float64), self._rng(pair, 4),
                            self.region(pair))
        return target, fake, mask

    def region(self, pair: int) -> str | None:
        """Part of the face that pair ``pair``'s SBI fake blends at the current epoch.

        ``None`` for the whole face (the reference), else a key of
        :data:`~freqforensics.data.sbi_masks.LOCAL_REGIONS` (with probability ``local_p``).

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.
        """
        rng = self._drawn(pair, 7, self.local_p)
        if rng is None:
            return None
        return list(LOCAL_REGIONS)[int(rng.integers(len(LOCAL_REGIONS)))]

    def partner(self, pair: int) -> int | None:
        """The other frame whose face is pair ``pair``'s source at the current epoch, or ``None``.

        With probability ``cross_p``, a video crop with landmarks takes its SBI source from
        another frame of the same video at most
        :data:`~freqforensics.data.cross_frame.WINDOW` crops away
        (:func:`~freqforensics.data.cross_frame.align_face`), drawn uniformly; ``None``
        means the reference's altered copy of the crop itself.

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.
        """
        self._check_pair(pair)
        partners = self._partners[pair]
        rng = self._drawn(pair, 8, self.cross_p) if partners else None
        if rng is None:
            return None
        return partners[int(rng.integers(len(partners)))]

    def _real(self, pair: int) -> np.ndarray:
        """The real item's crop: :meth:`pair`'s ``real`` without building the fake."""
        crop, landmarks = self._views(pair)
        if landmarks is None:
            return crop
        return _pick_target(crop, self._rng(pair, 1), self.swap_p)[0]

    def jpeg_quality(self, pair: int) -> int | None:
        """JPEG quality of pair ``pair`` at the current epoch (real and fake), or ``None``.

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.
        """
        return self._draw(pair, 3, self.jpeg_p, self.jpeg_quality_range)

    def h264_crf(self, pair: int) -> int | None:
        """H.264 CRF of pair ``pair`` at the current epoch (real and fake), or ``None``.

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.
        """
        return self._draw(pair, 5, self.h264_p, self.h264_crf_range)

    def quality(self, pair: int) -> tuple[str, int] | None:
        """Detail change of pair ``pair`` at the current epoch (real and fake), or ``None``.

        ``("soften", side)`` (:func:`~freqforensics.data.blend.soften`) or
        ``("sharpen", percent)`` (:func:`~freqforensics.data.blend.sharpen`).

        Args:
            pair: index of the real face, in ``[0, len(self) // 2)``.
        """
        rng = self._drawn(pair, 6, self.quality_p)
        if rng is None:
            return None
        if rng.random() < 0.5:
            low, high = round(0.35 * self.image_size), self.image_size
            return "soften", int(rng.integers(low, high + 1))
        return "sharpen", int(rng.integers(30, 151))

    def _draw(self, pair: int, stream: int, p: float, bounds: tuple[int, int]) -> int | None:
        rng = self._drawn(pair, stream, p)
        return None if rng is None else int(rng.integers(bounds[0], bounds[1] + 1))

    def _drawn(self, pair: int, stream: int, p: float) -> np.random.Generator | None:
        """The pair's generator of ``stream`` when its step happens (probability ``p``) at the
        current epoch, its first draw spent on that; else ``None``."""
        self._check_pair(pair)
        if p == 0:
            return None
        rng = self._rng(pair, stream)
        return rng if rng.random() < p else None

    def _check_pair(self, pair: int) -> None:
        if isinstance(pair, bool) or not isinstance(pair, (int, np.integer)):
            raise TypeError(f"pair must be an int, got {type(pair).__name__}")
        if not 0 <= pair < len(self.rows):
            raise IndexError(f"pair {pair} out of range for {len(self.rows)} real faces")

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
        crop = self.pair(pair)[1] if label else self._real(pair)
        if self.colour_p:
            crop = view_transform(crop, self._rng(pair, 9), self.colour_p)
        detail = self.quality(pair)
        if detail is not None:
            crop = (soften if detail[0] == "soften" else sharpen)(crop, detail[1])
        crf = self.h264_crf(pair)
        if crf is not None:
            crop = h264_round_trip([crop], crf, preset="veryfast")[0]
        quality = self.jpeg_quality(pair)
        if quality is not None:
            crop = jpeg_compress(crop, quality)
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
        photos = sum(isinstance(r, PhotoFace) for r in self.rows)
        return (
            f"{type(self).__name__}(real_faces={len(self.rows)}, photos={photos}, "
            f"split={self.split!r}, method={self.method!r}, image_size={self.image_size}, "
            f"seed={self.seed}, augment={self.augment}, jpeg_p={self.jpeg_p}, "
            f"h264_p={self.h264_p}, quality_p={self.quality_p}, local_p={self.local_p}, "
            f"cross_p={self.cross_p}, colour_p={self.colour_p}, "
            f"ellipse_fallbacks={len(self.ellipse_pairs)})"
        )
