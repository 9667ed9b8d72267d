"""One video's face step: frames -> the main face -> crops, landmarks sidecars, manifest rows.

Two ways to find the face of each sampled frame (:class:`CropSettings`):

- **per frame** (``track=False``, the default): dlib's largest face in every frame
  (:func:`~freqforensics.data.faces.detect_largest_face`), as FaceForensics++ does;
- **tracking** (``track=True``): the frames are decoded in order and passed through
  :class:`~freqforensics.data.tracking.FaceTracker`, which runs the detector every
  ``detect_every`` frames and follows the face in between; only the main identity's boxes are
  cropped, and frames where its track is absent are ``no_face``. The tracker decides the boxes
  after the last frame (smoothing, choice of the main track), so the frames are kept in memory
  up to :data:`FRAME_CACHE_BYTES` per process and the others are decoded a second time.

Either way the crop is the FF++ 1.3x square snapped to the 8-pixel grid, and with
``landmarks=True`` each crop gets its 68 dlib landmarks in crop pixels, in the sidecar
``<frame_index:06d>.landmarks.npy`` (:func:`~freqforensics.data.landmarks.save_landmarks`),
fitted to the detector's box (per frame) or to the tracker's smoothed box. The sidecar and the
crop are each written atomically; the pair is committed by the video's journal block, so a
crop left without its sidecar by a kill belongs to an unfinished video and is redone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from freqforensics._io import atomic_write
from freqforensics.data.faces import (
    GRID,
    FaceBox,
    build_detector,
    crop_face,
    detect_largest_face,
    face_box,
)
from freqforensics.data.readers import VideoRecord
from freqforensics.data.tracking import MAX_GAP
from freqforensics.data.video import Frame, FrameError, VideoError, sample_frames

__all__ = [
    "CropSettings",
    "Face",
    "find_faces",
    "record_frames",
    "write_crops",
    "remove_crops",
    "row",
]

#: Decoded frames a tracked video keeps in memory (per process) before decoding again.
FRAME_CACHE_BYTES = 256 * 2**20
#: The files a video's crop folder holds: crops and their landmarks sidecars.
CROP_FILE = re.compile(r"^\d{6,}(?:\.png|\.landmarks\.npy)$")

_DETECTORS: dict[str, Any] = {}  # per process: building HOG takes 0.3 s, MMOD more


@dataclass(frozen=True)
class CropSettings:
    """How the faces of a video are found and written.

    Attributes:
        frames_per_video: frames sampled evenly per video.
        scale: face box enlargement (1.3, as FaceForensics++).
        upsample: dlib upsampling, 0 or 1.
        compress_level: zlib level of the PNG crops (lossless at every level).
        track: follow the main face with :class:`~freqforensics.data.tracking.FaceTracker`
            instead of detecting in every frame.
        detect_every: with ``track``, run the detector every this many frames.
        max_gap: with ``track``, also run it once the video has moved this many frames past
            the last detection (sparse sampling); ``None``: only ``detect_every`` counts.
        detector: dlib detector, ``"hog"`` or ``"cnn"``.
        landmarks: write the 68 landmarks of each crop beside it.
    """

    frames_per_video: int = 32
    scale: float = 1.3
    upsample: int = 0
    compress_level: int = 1
    track: bool = False
    detect_every: int = 5
    detector: str = "hog"
    landmarks: bool = True
    max_gap: int | None = MAX_GAP

    def identity(self) -> dict[str, Any]:
        """The settings that change the crops (stored in ``preprocess.json``).

        The compression level does not change the pixels, so it may differ between runs;
        ``detect_every`` and ``max_gap`` matter only when tracking.
        """
        return {
            "frames_per_video": self.frames_per_video,
            "scale": self.scale,
            "upsample": self.upsample,
            "grid": GRID,
            "crop": "ffpp-square-snapped-8",
            "detector": self.detector,
            "track": self.track,
            "detect_every": self.detect_every if self.track else None,
            "max_gap": self.max_gap if self.track else None,
            "landmarks": self.landmarks,
        }


class Face(NamedTuple):
    """The main face of one frame, as :func:`find_faces` yields it.

    Attributes:
        frame_index: the frame's index.
        crop: RGB ``uint8`` crop, or ``None`` when the frame has no (main) face.
        box: the crop box in frame pixels, or ``None``.
        landmarks: float32 :math:`(68, 2)` in crop pixels, or ``None`` (no face, or
            ``landmarks=False``).
    """

    frame_index: int
    crop: np.ndarray | None
    box: FaceBox | None
    landmarks: np.ndarray | None


def _detector(model: str) -> Any:
    detector = _DETECTORS.get(model)
    if detector is None:
        detector = _DETECTORS[model] = build_detector(model)
    return detector


def _per_frame(frames: Iterable[Frame], settings: CropSettings) -> Iterator[Face]:
    from freqforensics.data.landmarks import face_landmarks, to_crop

    detector = _detector(settings.detector)
    for index, image in frames:
        face = detect_largest_face(image, settings.upsample, detector, settings.detector)
        box = None if face is None else face_box(face, image.shape[:2], settings.scale, GRID)
        if face is None or box is None:
            yield Face(index, None, None, None)
            continue
        points = to_crop(face_landmarks(image, face), box) if settings.landmarks else None
        yield Face(index, crop_face(image, box), box, points)


def _tracked(
    frames: Iterable[Frame],
    settings: CropSettings,
    reread: Callable[[list[int]], Iterable[Frame]] | None,
) -> Iterator[Face]:
    from freqforensics.data.landmarks import to_crop
    from freqforensics.data.tracking import FaceTracker

    cache: dict[int, np.ndarray] = {}
    used = 0

    def keep(source: Iterable[Frame]) -> Iterator[Frame]:
        nonlocal used
        for frame in source:
            if reread is None or used + frame.image.nbytes <= FRAME_CACHE_BYTES:
                cache[frame.frame_index] = frame.image
                used += frame.image.nbytes
            yield frame

    tracker = FaceTracker(
        detect_every=settings.detect_every,
        max_gap=settings.max_gap,
        scale=settings.scale,
        grid=GRID,
        upsample=settings.upsample,
        landmarks=settings.landmarks,
        model=settings.detector,
    )
    tracked = tracker(keep(frames))
    need = [t.frame_index for t in tracked if t.box is not None and t.frame_index not in cache]
    again = iter(reread(need)) if need and reread is not None else iter(())
    for t in tracked:
        if t.box is None:
            yield Face(t.frame_index, None, None, None)
            continue
        image = cache.pop(t.frame_index, None)
        if image is None:
            frame = next(again, None)
            if frame is None or frame.frame_index != t.frame_index:
                raise ValueError(f"frame {t.frame_index} did not decode again for its crop")
            image = frame.image
        points = None
        if settings.landmarks and t.landmarks is not None:
            points = to_crop(t.landmarks, t.box)
        yield Face(t.frame_index, crop_face(image, t.box), t.box, points)


def _read_image(path: Path) -> np.ndarray:
    from freqforensics.data.codecs import read_rgb

    try:
        return read_rgb(path)
    except OSError as err:  # PIL's UnidentifiedImageError is an OSError
        raise VideoError(path, f"cannot read image ({err})") from err


def record_frames(record: VideoRecord, n: int, damaged: list[FrameError]) -> Iterator[Frame]:
    """A record's ``n`` sampled frames (its one image) that decode cleanly, in order.

    The sampled frames of a video that do not (see :mod:`~freqforensics.data.video`) are
    appended to ``damaged`` as they come. Raises :class:`~freqforensics.data.VideoError` for a
    video that cannot be opened or an image that cannot be read.
    """
    if record.is_image:
        yield Frame(0, _read_image(record.path))
        return
    for item in sample_frames(record.path, n, errors="report"):
        if isinstance(item, FrameError):
            damaged.append(item)
        else:
            yield item


def find_faces(
    frames: Iterable[Frame],
    settings: CropSettings | None = None,
    reread: Callable[[list[int]], Iterable[Frame]] | None = None,
) -> Iterator[Face]:
    """The main face of each frame, by per-frame detection or tracking (``settings.track``).

    Usable on its own (e.g. to time tracking against per-frame detection on the same frames).

    Args:
        frames: :class:`~freqforensics.data.video.Frame` tuples in order (a list, or a lazy
            iterator such as :func:`~freqforensics.data.video.sample_frames`).
        settings: how to find the faces (default :class:`CropSettings`).
        reread: with tracking, ``reread(indices)`` decodes the frames at these indices again
            (e.g. ``lambda i: read_frames(path, i)``); lets a long video's frames leave the
            memory cache. Without it every frame is kept until the end.

    Returns:
        One :class:`Face` per frame, in order (lazily for per-frame detection).

    Example:
        >>> from freqforensics.data.video import Frame
        >>> [f.crop for f in find_faces([Frame(0, np.zeros((64, 64, 3), np.uint8))])]
        [None]
    """
    settings = settings if settings is not None else CropSettings()
    if settings.track:
        return _tracked(frames, settings, reread)
    return _per_frame(frames, settings)


def row(record: VideoRecord, frame_index: int, status: str, **extra: Any) -> dict[str, Any]:
    """A manifest row of ``record`` (columns :data:`~freqforensics.data.MANIFEST_COLUMNS`)."""
    out: dict[str, Any] = {
        "video_id": record.video_id,
        "label": record.label,
        "split": record.split,
        "dataset": record.dataset,
        "method": record.method,
        "compression": record.compression,
        "frame_index": frame_index,
        "x0": "",
        "y0": "",
        "x1": "",
        "y1": "",
        "crop_path": "",
        "status": status,
        "source": str(record.path),
        "detail": "",
        "identity": record.identity,
    }
    out.update(extra)
    return out


def remove_crops(folder: Path) -> None:
    """Remove the crops and sidecars an unfinished attempt left in a video's crop folder."""
    if folder.is_dir():
        for path in folder.iterdir():
            if CROP_FILE.match(path.name):
                path.unlink(missing_ok=True)


def write_crops(
    record: VideoRecord,
    faces: Iterable[Face],
    folder: Path,
    dataset_dir: Path,
    compress_level: int,
    written: list[Path],
) -> list[dict[str, Any]]:
    """Write each face's PNG crop (and its landmarks sidecar); return the frames' rows.

    Every file written is appended to ``written`` as soon as it exists, so that a caller can
    remove them when the video fails half-way.
    """
    from PIL import Image

    from freqforensics.data.landmarks import landmarks_path, save_landmarks

    rows: list[dict[str, Any]] = []
    for face in faces:
        if face.crop is None or face.box is None:
            rows.append(row(record, face.frame_index, "no_face"))
            continue
        target = folder / f"{face.frame_index:06d}.png"
        if face.landmarks is not None:
            written.append(landmarks_path(target))
            save_landmarks(target, face.landmarks)
        written.append(target)
        with atomic_write(target, "wb") as fh:
            Image.fromarray(face.crop).save(fh, format="PNG", compress_level=compress_level)
        box = face.box
        rows.append(
            row(
                record,
                face.frame_index,
                "ok",
                x0=box.x0,
                y0=box.y0,
                x1=box.x1,
                y1=box.y1,
                crop_path=target.relative_to(dataset_dir).as_posix(),
            )
        )
    return rows

