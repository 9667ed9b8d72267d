"""Faces of real photographs for SBI: dlib's face, crop box and 68 landmarks per photo.

:func:`detect_photo_faces` turns a folder, an image file or a list of images into
:class:`PhotoFace` rows (the FaceForensics++ 1.3x crop box, the landmarks in crop pixels):
the real faces :class:`~freqforensics.data.pseudo.PseudoFakeDataset` self-blends when it
trains from photographs. Photos without a usable face are skipped and reported in one
warning of the ``freqforensics.data.sbi`` logger.

Needs dlib (the ``data`` extra).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics.data.faces import FaceBox, _dlib, crop_face, detect_largest_face, face_box
from freqforensics.data.landmarks import face_landmarks, to_crop

__all__ = ["PhotoFace", "detect_photo_faces"]

# The public module's logger, as before the split: filters set on it keep working.
logger = logging.getLogger("freqforensics.data.sbi")

_MAX_PHOTO_WARNINGS = 10


@dataclass(frozen=True, eq=False)
class PhotoFace:
    """The face of a real photograph, as a row of a photo source.

    Attributes:
        path: the photograph.
        video_id: its id in the data set (``"<folder>/<file stem>"`` by default).
        box: the crop box, FaceForensics++'s 1.3x square snapped to the 8-pixel grid
            (:func:`~freqforensics.data.faces.face_box`).
        landmarks: float32 :math:`(68, 2)` ``(x, y)`` in crop pixels.
        frame_index: always 0 (a photo is a one-frame video).
        label: always 0 (real).
    """

    path: Path
    video_id: str
    box: FaceBox
    landmarks: np.ndarray = field(repr=False)
    frame_index: int = 0
    label: int = 0

    def crop(self) -> np.ndarray:
        """Read the photograph and cut the face crop, RGB ``uint8``."""
        from freqforensics.data.codecs import read_rgb

        return crop_face(read_rgb(self.path), self.box)


def _image_sources(images: Any) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """``(path, video_id)`` of the photos named by ``images``, and ``(name, why)`` skipped."""
    from freqforensics.data.readers import IMAGE_EXTENSIONS, VideoRecord

    if isinstance(images, (str, Path)):
        root = Path(images)
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            )
            if not files:
                raise ValueError(f"images must hold image files, none found under {root}")
            ids = [f"{root.name}/{p.relative_to(root).with_suffix('').as_posix()}" for p in files]
            return list(zip(files, ids)), []
        images = [root]
    if not isinstance(images, Sequence):
        raise TypeError(
            f"images must be a folder, an image file or a list of image files / VideoRecords, "
            f"got {type(images).__name__}"
        )
    out: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    for item in images:
        if isinstance(item, VideoRecord):
            if item.label != 0:
                raise ValueError(
                    f"images must be real (label 0), got {item.video_id!r} with label {item.label}"
                )
            if item.error or item.missing:
                skipped.append((item.video_id, item.error or "missing on disk"))
                continue
            out.append((Path(item.path), item.video_id))
        elif isinstance(item, (str, Path)):
            path = Path(item)
            out.append((path, f"{path.parent.name}/{path.stem}"))
        else:
            raise TypeError(
                f"images must list image paths or VideoRecords, got {type(item).__name__} "
                f"({item!r})"
            )
    clashes = sorted(v for v, n in Counter(v for _, v in out).items() if n > 1)
    if clashes:
        raise ValueError(
            f"images must have distinct ids (<folder>/<file stem>), got duplicates {clashes[:5]}; "
            "pass a folder, or VideoRecords with distinct video_id"
        )
    return out, skipped


def detect_photo_faces(
    images: str | Path | Sequence[Any], upsample: Sequence[int] = (0, 1)
) -> tuple[list[PhotoFace], list[tuple[str, str]]]:
    """Find the face and its 68 landmarks in real photographs (dlib), for self-blending.

    Each photo gets dlib's largest frontal face (tried at each ``upsample`` level in turn
    until one is found), the FaceForensics++ 1.3x crop box snapped to the photo's 8-pixel grid
    (as the video crops) and the landmarks fitted to that face, in crop pixels. Photos without
    a face (or unreadable ones) are skipped and reported once, in one log warning.

    Args:
        images: a folder (searched recursively for image files, ids
            ``"<folder>/<relative path without extension>"``), an image file, or a list of
            image files (ids ``"<parent folder>/<stem>"``) or real
            :class:`~freqforensics.data.VideoRecord` images (e.g. from
            :func:`~freqforensics.data.read_folder`; ids their ``video_id``).
        upsample: dlib upsampling levels to try, each 0 or 1.

    Returns:
        ``(faces, skipped)``: a :class:`PhotoFace` per photo with a face, in input order, and
        ``(id, reason)`` for every photo left out.

    Raises:
        TypeError: ``images`` is of another type.
        ValueError: a folder without images, duplicate ids, a fake record, or a bad
            ``upsample``.
    """
    from freqforensics.data.codecs import read_rgb

    levels = tuple(upsample) if isinstance(upsample, Sequence) else (upsample,)
    if not levels or any(isinstance(u, bool) or u not in (0, 1) for u in levels):
        raise ValueError(f"upsample must be a non-empty sequence of 0 and/or 1, got {upsample!r}")
    sources, skipped = _image_sources(images)
    total = len(sources) + len(skipped)
    detector = _dlib().get_frontal_face_detector() if sources else None
    faces: list[PhotoFace] = []
    for path, video_id in sources:
        try:
            image = read_rgb(path)
        except OSError as err:
            skipped.append((video_id, f"cannot be read ({err})"))
            continue
        face = None
        for level in levels:
            face = detect_largest_face(image, int(level), detector)
            if face is not None:
                break
        box = face_box(face, image.shape[:2]) if face is not None else None
        if face is None or box is None:
            skipped.append((video_id, "no face found"))
            continue
        landmarks = to_crop(face_landmarks(image, face), box)
        faces.append(PhotoFace(path, video_id, box, landmarks))
    if skipped:
        names = ", ".join(f"{name} ({why})" for name, why in skipped[:_MAX_PHOTO_WARNINGS])
        more = len(skipped) - _MAX_PHOTO_WARNINGS
        logger.warning(
            "%d of %d photos skipped (no usable face): %s%s",
            len(skipped),
            total,
            names,
            f" and {more} more" if more > 0 else "",
        )
    return faces, skipped
