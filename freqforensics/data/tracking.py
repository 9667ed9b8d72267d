"""Face tracking: detect every k-th frame, follow the face in between, keep one identity.

Per-frame detection is slow (dlib's HOG detector takes about 70 ms on a 1280x720 frame) and
jittery (its boxes jump between the scales of its image pyramid, 10-30 pixels on a 150-pixel
face from one frame to the next). :class:`FaceTracker` instead:

1. **Detects every** ``detect_every`` **frames** (and at once when the tracker loses the face),
   and at least every ``max_gap`` frames of the video when the frames are sampled sparsely.
   While a track is alive, the search is restricted to faces near the tracked one (``window``):
   for a face of 95 pixels or more, the whole frame but only the levels of HOG's image pyramid
   from just below the face's scale (faces down to about 0.8x its size; 2-4x cheaper, and on
   the same pixel grid as a full search, so its boxes are those of per-frame detection to
   1 pixel); for a smaller face, a window twice its size around it, at every scale (10x
   cheaper, but HOG's boxes shift by up to a cell, 8-15 pixels, with the window's origin).
   When that finds no matching face, the whole frame is searched. With no track, the whole
   frame is searched every ``detect_every`` frames.
2. **Follows the face in between** with dlib's ``correlation_tracker`` (a DSST correlation
   filter, about 3 ms a frame), restarted on every detection. Its peak-to-sidelobe ratio
   (PSR, returned by ``update``) is about 12-25 on a tracked face and falls under 5 at a shot
   cut; under ``psr_threshold`` the tracker is not trusted and the frame is detected at once.
3. **Associates by IoU**: the detection with the highest IoU (at least ``iou_threshold``) with
   the tracked box continues the track (after a PSR drop: IoU with the previous frame's box,
   as the tracker may have jumped onto the new shot's face). When there is none: after a PSR
   drop the track ends at once (a shot cut, or drift) and a new one starts on the largest
   face; after a plain miss (blur, a turned head) the tracker keeps the face for up to
   ``max_misses`` detections, and if none of them confirms it the track ends where the first
   miss happened, so frames the detector never confirmed are dropped.
4. **Smooths** the boxes of each track with a centred moving average of their centre and size
   over ``smooth`` frames of the video (the window shrinks at the track's ends; never across
   tracks; sampled frames farther apart than the window are not averaged).
5. **Keeps one identity per video**: the longest track (ties: the largest mean box area). Every
   frame outside it gets ``None``, so other people's faces never enter the video's crops.

The box kept for a frame is the smoothed dlib-style box; its crop box is the usual FF++ square
of :func:`~freqforensics.data.faces.face_box`, and with ``landmarks=True`` the 68 landmarks are
fitted to the smoothed box (:mod:`~freqforensics.data.landmarks`).

Why a correlation tracker and not IoU association at detection frames plus interpolation: the
tracker sees every frame, so a shot cut is noticed (PSR drop) on the frame it happens instead of
up to ``detect_every - 1`` frames later, and no box is ever interpolated across two shots; it
costs about as much as decoding the frame.

Frame sequence positions, not frame indices, are the time axis: frames sampled sparsely from a
video are tracked in the order given (tracking works best on consecutive frames).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from freqforensics._checks import (
    check_face_scale,
    check_positive_int,
    check_rgb_uint8,
    check_upsample,
)
from freqforensics.data._boxes import (
    Box,
    _area,
    _box,
    _drect,
    _patch_landmarks,
    _Track,
    _unpack,
    _window,
    box_iou,
    smooth_boxes,
)
from freqforensics.data.faces import (
    GRID,
    FaceBox,
    _check_model,
    _dlib,
    build_detector,
    face_box,
    run_detector,
)

__all__ = ["TrackedFace", "FaceTracker", "track_faces", "box_iou"]

#: Default ``max_gap`` of :class:`FaceTracker`: detect at least every this many video frames.
MAX_GAP = 8

#: The detection window around a tracked box extends this many box sides on each side.
ROI_MARGIN = 0.5

#: Side in pixels of a face box at the HOG pyramid level where dlib's frontal detector finds it
#: (its 80 x 80 window; measured on FF++ faces, +-10% between levels 1.2x apart).
FACE_AT_LEVEL = 72.0

_DETECTORS: dict[str, Any] = {}  # per process: building HOG takes 0.3 s
_PYRAMID: list[Any] = []


def _pyramid() -> Any:
    """dlib's ``pyramid_down(6)``, the 5/6 image pyramid of its HOG detector."""
    if not _PYRAMID:
        _PYRAMID.append(_dlib().pyramid_down(6))
    return _PYRAMID[0]


def _skip_levels(side: float) -> int:
    """Pyramid levels below the one where a face of ``side`` pixels is found, less one."""
    if side <= 0:
        return 0
    level = round(np.log(side / FACE_AT_LEVEL) / np.log(1.2))
    return max(int(level) - 1, 0)


def _boxes(faces: list[tuple[int, int, int, int]]) -> list[Box]:
    return [(float(a), float(b), float(c), float(d)) for a, b, c, d in faces]


class TrackedFace(NamedTuple):
    """The main face of one frame, as :func:`track_faces` returns it.

    Attributes:
        frame_index: the frame's index (from its :class:`~freqforensics.data.video.Frame`).
        box: FF++ crop box (1.3x square on the 8-pixel grid), or ``None`` when the main face
            is absent from the frame (or its box is too small).
        face: smoothed ``(left, top, right, bottom)`` box of the main face (dlib convention,
            floats, may lie partly outside the frame), or ``None``.
        detected: whether the detector confirmed the face on this frame (otherwise the box
            comes from the correlation tracker).
        landmarks: float32 :math:`(68, 2)` ``(x, y)`` in frame pixels when asked for and a face
            is there, else ``None`` (:func:`~freqforensics.data.landmarks.to_crop` moves them
            into the crop).
    """

    frame_index: int
    box: FaceBox | None
    face: Box | None
    detected: bool
    landmarks: np.ndarray | None


class FaceTracker:
    """Track the main face of a video; see the module docstring for the method.

    The tracker holds only its settings: the dlib detector is built on first use and cached per
    process, so a tracker pickles cheaply into worker processes.

    Args:
        detect_every: run the detector every this many frames (1: every frame; the tracker
            then only bridges frames the detector misses).
        scale: crop box enlargement (1.3, as FaceForensics++).
        grid: block size the crop boxes are aligned to (8).
        upsample: dlib upsampling of the detector, 0 or 1.
        landmarks: also fit the 68 dlib landmarks to each kept face.
        model: face detector, ``"hog"`` (default) or ``"cnn"``.
        iou_threshold: smallest IoU between a detection and the tracked box for the detection
            to continue the track.
        psr_threshold: a tracker update under this peak-to-sidelobe ratio triggers a detection
            at once, and ends the track unless a detection matches.
        max_misses: detections in a row that may miss a tracked face (the tracker bridges them)
            before the track ends.
        smooth: window of the moving average over boxes, in frames (odd; 1 disables it).
        window: restrict the scheduled detections to faces near the tracked one (default;
            see the module docstring); ``False`` searches the whole frame at every scale each
            time (about 2x slower at 720p).
        max_gap: also detect once the frame index is this many frames past the last detection
            (sparsely sampled frames: the correlation tracker is not trusted across long gaps;
            at 64 of 300 frames this detects every second sampled frame); ``None``: only
            ``detect_every`` counts. Consecutive frames never reach it before ``detect_every``
            when ``detect_every <= max_gap``.

    Example:
        >>> import numpy as np
        >>> from freqforensics.data.video import Frame
        >>> out = FaceTracker()([Frame(0, np.zeros((64, 64, 3), np.uint8))])
        >>> out[0].box is None, out[0].detected
        (True, False)
    """

    def __init__(
        self,
        detect_every: int = 5,
        scale: float = 1.3,
        grid: int = GRID,
        upsample: int = 0,
        landmarks: bool = False,
        model: str = "hog",
        iou_threshold: float = 0.3,
        psr_threshold: float = 7.0,
        max_misses: int = 2,
        smooth: int = 5,
        window: bool = True,
        max_gap: int | None = MAX_GAP,
    ) -> None:
        self.detect_every = check_positive_int(detect_every, "detect_every")
        self.scale = check_face_scale(scale)
        self.grid = check_positive_int(grid, "grid")
        self.upsample = check_upsample(upsample)
        if not isinstance(landmarks, bool):
            raise TypeError(f"landmarks must be a bool, got {type(landmarks).__name__}")
        self.landmarks = landmarks
        self.model = _check_model(model)
        for name, value, low, high in (
            ("iou_threshold", iou_threshold, 0.0, 1.0),
            ("psr_threshold", psr_threshold, 0.0, float("inf")),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not low <= value <= high:
                raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
        self.iou_threshold = float(iou_threshold)
        self.psr_threshold = float(psr_threshold)
        self.max_misses = check_positive_int(max_misses, "max_misses", minimum=0)
        self.smooth = check_positive_int(smooth, "smooth")
        if self.smooth % 2 == 0:
            raise ValueError(f"smooth must be an odd window (1, 3, 5, ...), got {smooth}")
        if not isinstance(window, bool):
            raise TypeError(f"window must be a bool, got {type(window).__name__}")
        self.window = window
        self.max_gap = None if max_gap is None else check_positive_int(max_gap, "max_gap")

    def __repr__(self) -> str:
        return (
            f"FaceTracker(detect_every={self.detect_every}, scale={self.scale}, "
            f"grid={self.grid}, upsample={self.upsample}, landmarks={self.landmarks}, "
            f"model={self.model!r}, iou_threshold={self.iou_threshold}, "
            f"psr_threshold={self.psr_threshold}, max_misses={self.max_misses}, "
            f"smooth={self.smooth}, window={self.window}, max_gap={self.max_gap})"
        )

    # -- detection -------------------------------------------------------------------------

    def _detect(self, image: np.ndarray, around: Box | None = None) -> list[Box]:
        """Faces in ``image`` (grey for HOG, RGB for CNN); only near ``around`` when given.

        Near means: for HOG (no upsampling) and a face of at least ``2 * FACE_AT_LEVEL``
        pixels, the whole frame at the pyramid levels from one below the face's own (faces
        down to about 0.8x its size; same grid as a full search, so the same boxes to 1 px);
        otherwise a window :data:`ROI_MARGIN` box sides around it, at every level.
        """
        detector = _DETECTORS.get(self.model)
        if detector is None:
            detector = _DETECTORS[self.model] = build_detector(self.model)
        if around is None:
            return _boxes(run_detector(detector, image, self.upsample, self.model))
        side = max(around[2] - around[0], around[3] - around[1])
        levels = _skip_levels(side) if self.model == "hog" and self.upsample == 0 else 0
        if levels:
            dlib = _dlib()
            pyramid = _pyramid()
            for _ in range(levels):
                image = pyramid(image)
            faces = run_detector(detector, image, 0, "hog")
            return [_box(pyramid.rect_up(dlib.rectangle(*f), levels)) for f in faces]
        height, width = image.shape[:2]
        x0 = max(int(around[0] - ROI_MARGIN * side), 0)
        y0 = max(int(around[1] - ROI_MARGIN * side), 0)
        x1 = min(int(around[2] + ROI_MARGIN * side) + 1, width)
        y1 = min(int(around[3] + ROI_MARGIN * side) + 1, height)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        window = np.ascontiguousarray(image[y0:y1, x0:x1])
        faces = run_detector(detector, window, self.upsample, self.model)
        return [(a + x0, b + y0, c + x0, d + y0) for a, b, c, d in _boxes(faces)]

    def _match(self, faces: list[Box], box: Box) -> Box | None:
        best = max(faces, key=lambda f: box_iou(f, box), default=None)
        if best is None or box_iou(best, box) < self.iou_threshold:
            return None
        return best

    # -- tracking --------------------------------------------------------------------------

    def __call__(self, frames: Iterable[Any]) -> list[TrackedFace]:
        """Track the main face through ``frames``.

        Args:
            frames: :class:`~freqforensics.data.video.Frame` tuples ``(frame_index, image)``
                in order (a list or a lazy iterator such as
                :func:`~freqforensics.data.video.read_frames`), ``image`` RGB ``uint8``
                :math:`(H, W, 3)`.

        Returns:
            One :class:`TrackedFace` per frame, in order.
        """
        from PIL import Image

        dlib = _dlib()
        k = self.detect_every
        indices: list[int] = []
        shapes: list[tuple[int, int]] = []
        patches: dict[int, tuple[int, int, np.ndarray]] = {}  # landmarks: pos -> grey window
        tracks: list[_Track] = []
        track: _Track | None = None
        tracker: Any = None
        last_attempt = -k  # sequence position of the last detection
        last_index = 0  # its frame index

        def due(pos: int, frame_index: int) -> bool:
            """Whether a scheduled detection is due (``detect_every`` or ``max_gap``)."""
            if pos - last_attempt >= k:
                return True
            return self.max_gap is not None and frame_index - last_index >= self.max_gap

        misses = 0
        first_miss = 0
        shape: tuple[int, ...] | None = None

        def end(at: int) -> None:
            nonlocal track
            if track is not None:
                track.cut(at)
                if track.positions:
                    tracks.append(track)
            track = None

        def start(pos: int, box: Box, grey: np.ndarray) -> None:
            nonlocal track, tracker, misses
            track = _Track()
            track.add(pos, box, True)
            tracker = dlib.correlation_tracker()
            tracker.start_track(grey, _drect(dlib, box))
            misses = 0

        for pos, item in enumerate(frames):
            frame_index, image = _unpack(item, pos)
            image = check_rgb_uint8(image, f"frames[{pos}].image")
            indices.append(frame_index)
            shapes.append((image.shape[0], image.shape[1]))
            grey = np.asarray(Image.fromarray(image).convert("L"))
            detect_on = grey if self.model == "hog" else image
            if image.shape != shape:  # first frame, or the frame size changed: a new shot
                end(pos)
                shape = image.shape
                last_attempt, last_index = pos - k, frame_index

            if track is None:
                if due(pos, frame_index):
                    last_attempt, last_index = pos, frame_index
                    faces = self._detect(detect_on)
                    if faces:
                        start(pos, max(faces, key=_area), grey)
            else:
                psr = tracker.update(grey)
                predicted = _box(tracker.get_position())
                if psr < self.psr_threshold:
                    # Lost (shot cut, occlusion, drift): search the whole frame now, and compare
                    # with the last trusted box (after a cut the tracker may jump onto the new
                    # shot's face).
                    last_attempt, last_index = pos, frame_index
                    faces = self._detect(detect_on)
                    match = self._match(faces, track.boxes[-1])
                    if match is not None:
                        track.add(pos, match, True)
                        tracker.start_track(grey, _drect(dlib, match))
                        misses = 0
                    else:
                        end(pos)
                        if faces:
                            start(pos, max(faces, key=_area), grey)
                elif due(pos, frame_index):
                    last_attempt, last_index = pos, frame_index
                    faces = self._detect(detect_on, predicted if self.window else None)
                    match = self._match(faces, predicted)
                    if match is None and self.window:  # not in the window: search everywhere
                        faces = self._detect(detect_on)
                        match = self._match(faces, predicted)
                    if match is not None:
                        track.add(pos, match, True)
                        tracker.start_track(grey, _drect(dlib, match))
                        misses = 0
                    else:
                        misses += 1
                        if misses == 1:
                            first_miss = pos
                        if misses > self.max_misses:
                            end(first_miss)
                            if faces:
                                start(pos, max(faces, key=_area), grey)
                        else:
                            track.add(pos, predicted, False)
                else:
                    track.add(pos, predicted, False)

            if self.landmarks and track is not None and track.positions[-1] == pos:
                patches[pos] = _window(image, track.boxes[-1])
        end(len(indices))
        return self._assemble(indices, shapes, tracks, patches)

    def _assemble(
        self,
        indices: list[int],
        shapes: list[tuple[int, int]],
        tracks: list[_Track],
        patches: dict[int, tuple[int, int, np.ndarray]],
    ) -> list[TrackedFace]:
        out = [TrackedFace(i, None, None, False, None) for i in indices]
        if not tracks:
            return out
        main = max(tracks, key=_Track.key)
        predictor = None
        if self.landmarks:
            from freqforensics.data.landmarks import shape_predictor

            predictor = shape_predictor()
        times = [indices[pos] for pos in main.positions]
        boxes = smooth_boxes(main.boxes, self.smooth, times)
        for pos, face, detected in zip(main.positions, boxes, main.detected):
            rounded = tuple(int(round(v)) for v in face)
            box = face_box(rounded, shapes[pos], self.scale, self.grid)  # type: ignore[arg-type]
            points = None
            if predictor is not None:
                points = _patch_landmarks(predictor, patches[pos], face)
            out[pos] = TrackedFace(indices[pos], box, face, detected, points)
        return out


def track_faces(
    frames: Iterable[Any],
    detect_every: int = 5,
    scale: float = 1.3,
    grid: int = GRID,
    upsample: int = 0,
    landmarks: bool = False,
    **kwargs: Any,
) -> list[TrackedFace]:
    """Track the main face of a video and give each frame its FF++ crop box.

    A one-call wrapper of :class:`FaceTracker` (build the tracker once to reuse its detector).

    Args:
        frames: :class:`~freqforensics.data.video.Frame` tuples in order, RGB ``uint8``.
        detect_every: detect every this many frames (1: every frame).
        scale: crop enlargement (1.3).
        grid: crop grid (8).
        upsample: dlib upsampling, 0 or 1.
        landmarks: also fit the 68 landmarks (frame coordinates).
        **kwargs: other :class:`FaceTracker` options (``model``, ``iou_threshold``,
            ``psr_threshold``, ``max_misses``, ``smooth``).

    Returns:
        One :class:`TrackedFace` per frame, in order; ``box`` is ``None`` where the main face
        is absent.
    """
    tracker = FaceTracker(
        detect_every=detect_every,
        scale=scale,
        grid=grid,
        upsample=upsample,
        landmarks=landmarks,
        **kwargs,
    )
    return tracker(frames)
