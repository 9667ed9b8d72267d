"""Landmarks (68-point dlib model, sidecars, hull mask), the MMOD detector, and face tracking.

The real-video tests read a few frames of the FaceForensics++ sample in ``../shared/data``
(skipped without it, failing in CI); the synthetic clips paste crops of those frames onto a
plain canvas.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from needs import SHARED_DATA, need_module, need_path

from freqforensics.data.faces import (
    FaceBox,
    FaceDetector,
    build_detector,
    crop_face,
    detect_largest_face,
    face_box,
)
from freqforensics.data.video import Frame, read_frames

need_module("av")
need_module("dlib")
need_module("PIL")

from freqforensics.data.landmarks import (  # noqa: E402
    face_landmarks,
    landmark_hull_mask,
    landmarks_path,
    load_landmarks,
    model_path,
    save_landmarks,
    to_crop,
)
from freqforensics.data.tracking import (  # noqa: E402
    FaceTracker,
    TrackedFace,
    box_iou,
    smooth_boxes,
    track_faces,
)

VIDEOS = SHARED_DATA / "ffpp-mini" / "original_sequences" / "youtube" / "c23" / "videos"


def _video(name: str) -> str:
    return str(need_path(VIDEOS / name, "FaceForensics++ sample videos"))


_HOG: list = []


def _detect(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """Per-frame detection with one shared detector (building one takes 0.3-0.6 s)."""
    if not _HOG:
        _HOG.append(build_detector("hog"))
    return detect_largest_face(image, 0, _HOG[0])


def _clip(name: str, count: int) -> list[Frame]:
    """``count`` consecutive frames of a 1280x720 FF++ video, cut to the 640x480 region that
    holds the face (x 480-1120, y 0-480; at the 8-pixel grid): the same faces and motion, a
    third of the pixels, so per-frame detection stays cheap on the 2-core CI machine."""
    return [
        Frame(f.frame_index, np.ascontiguousarray(f.image[:480, 480:1120]))
        for f in read_frames(_video(name), range(count))
    ]


@pytest.fixture(scope="module")
def clip_004() -> list[Frame]:
    """40 consecutive frames of 004.mp4 (one face)."""
    return _clip("004.mp4", 40)


@pytest.fixture(scope="module")
def clip_634() -> list[Frame]:
    """20 consecutive frames of 634.mp4 (another person, elsewhere in the frame)."""
    return _clip("634.mp4", 20)


@pytest.fixture(scope="module")
def face_004(clip_004: list[Frame]) -> tuple[int, int, int, int]:
    face = _detect(clip_004[0].image)
    assert face is not None
    return face


def _jitter(faces: list[tuple[float, float, float, float]]) -> float:
    """Mean absolute second difference of the box centre and size over consecutive frames."""
    arr = np.array(
        [[(f[0] + f[2]) / 2, (f[1] + f[3]) / 2, f[2] - f[0], f[3] - f[1]] for f in faces], float
    )
    return float(np.abs(np.diff(arr, n=2, axis=0)).mean())


# -- landmarks --------------------------------------------------------------------------------


class TestLandmarks:
    def test_model_files_found(self) -> None:
        for name in ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat"):
            path = model_path(name)
            assert path.is_file() and path.parent.name == "models"

    def test_missing_model_file(self) -> None:
        with pytest.raises(FileNotFoundError, match="no_such_model.dat"):
            model_path("no_such_model.dat")

    def test_points_in_order(self, clip_004: list[Frame], face_004: tuple) -> None:
        pts = face_landmarks(clip_004[0].image, face_004)
        assert pts.shape == (68, 2) and pts.dtype == np.float32
        left, top, right, bottom = face_004
        margin = 0.1 * (right - left)
        inside = (
            (pts[:, 0] >= left - margin)
            & (pts[:, 0] <= right + margin)
            & (pts[:, 1] >= top - margin)
            & (pts[:, 1] <= bottom + margin)
        )
        assert inside.mean() >= 0.9
        nose, chin = pts[30], pts[8]
        right_eye, left_eye = pts[36:42].mean(0), pts[42:48].mean(0)  # subject's right, left
        assert right_eye[0] < nose[0] < left_eye[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < pts[51, 1] < chin[1]  # eyes/nose/lip
        assert pts[0, 0] < pts[16, 0]  # jaw runs from the image's left to its right

    def test_bad_input(self, face_004: tuple) -> None:
        image = np.zeros((32, 32, 3), np.uint8)
        with pytest.raises(ValueError, match="image must be an RGB uint8"):
            face_landmarks(image.astype(np.float32), face_004)
        with pytest.raises(ValueError, match="right > left"):
            face_landmarks(image, (10, 10, 5, 20))
        with pytest.raises(TypeError, match="face must be"):
            face_landmarks(image, None)  # type: ignore[arg-type]

    def test_to_crop(self) -> None:
        pts = np.arange(136, dtype=np.float64).reshape(68, 2)
        out = to_crop(pts, FaceBox(8, 16, 72, 80))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, pts - [8, 16])
        with pytest.raises(ValueError, match=r"shape \(68, 2\)"):
            to_crop(pts[:5], FaceBox(8, 16, 72, 80))
        with pytest.raises(TypeError, match="box must be a FaceBox"):
            to_crop(pts, (8, 16, 72, 80))  # type: ignore[arg-type]

    def test_sidecar_round_trip(self, tmp_path) -> None:
        crop = tmp_path / "real" / "004" / "000123.png"
        assert landmarks_path(crop) == tmp_path / "real" / "004" / "000123.landmarks.npy"
        assert load_landmarks(crop) is None  # no sidecar: allowed
        pts = np.random.default_rng(0).uniform(0, 200, (68, 2))
        path = save_landmarks(crop, pts)
        assert path == landmarks_path(crop) and path.is_file()
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
        back = load_landmarks(crop)
        assert back is not None and back.dtype == np.float32
        np.testing.assert_array_equal(back, pts.astype(np.float32))

    def test_corrupt_sidecar(self, tmp_path) -> None:
        crop = tmp_path / "000001.png"
        landmarks_path(crop).write_bytes(b"\x93NUMPY garbage")
        with pytest.raises(ValueError, match="000001.landmarks.npy"):
            load_landmarks(crop)
        np.save(landmarks_path(crop), np.zeros((5, 2), np.float32))
        with pytest.raises(ValueError, match=r"000001.landmarks.npy.*\(68, 2\)"):
            load_landmarks(crop)
        np.save(landmarks_path(crop), np.zeros((68, 2), np.float64))
        with pytest.raises(ValueError, match="float32"):
            load_landmarks(crop)
        with pytest.raises(ValueError, match="finite"):
            save_landmarks(crop, np.full((68, 2), np.nan))

    def test_hull_mask(self, clip_004: list[Frame], face_004: tuple) -> None:
        box = face_box(face_004, clip_004[0].image.shape[:2])
        assert box is not None
        pts = to_crop(face_landmarks(clip_004[0].image, face_004), box)
        mask = landmark_hull_mask(pts, (box.height, box.width, 3))
        assert mask.shape == (box.height, box.width) and mask.dtype == np.float32
        assert set(np.unique(mask)) == {0.0, 1.0}
        cx, cy = pts.mean(0).round().astype(int)
        assert mask[cy, cx] == 1.0 and mask[0, 0] == 0.0
        assert 0.2 < mask.mean() < 0.8
        with pytest.raises(ValueError, match="shape must be"):
            landmark_hull_mask(pts, (0, 10))


# -- the MMOD detector ------------------------------------------------------------------------


class TestCnnDetector:
    def test_finds_face(self, clip_004: list[Frame]) -> None:
        from PIL import Image

        # MMOD costs about 1 s per 0.1 megapixel on a CPU: half size (the face is 75 px).
        image = np.asarray(Image.fromarray(clip_004[0].image).resize((320, 240)))
        hog = _detect(image)
        box = FaceDetector(model="cnn")(image)
        assert hog is not None and box is not None
        assert box_iou((box.x0, box.y0, box.x1, box.y1), _crop_box(hog, image)) >= 0.7

    def test_picklable_and_checked(self) -> None:
        detector = FaceDetector(model="cnn")
        assert detector.model == "cnn"
        assert pickle.loads(pickle.dumps(detector)).model == "cnn"
        assert FaceDetector().model == "hog"
        with pytest.raises(ValueError, match="model must be one of"):
            FaceDetector(model="mtcnn")
        with pytest.raises(ValueError, match="model must be one of"):
            build_detector("mtcnn")


def _crop_box(face: tuple, image: np.ndarray) -> tuple[int, int, int, int]:
    box = face_box(face, image.shape[:2])
    assert box is not None
    return box.x0, box.y0, box.x1, box.y1


# -- tracking ---------------------------------------------------------------------------------


class TestTracking:
    def test_jitter_lower_than_per_frame(self, clip_004: list[Frame]) -> None:
        tracked = track_faces(iter(clip_004), detect_every=5)  # a lazy iterator works
        assert [t.frame_index for t in tracked] == list(range(40))
        assert all(t.face is not None and t.box is not None for t in tracked)
        detected = [i for i, t in enumerate(tracked) if t.detected]
        assert detected[0] == 0 and len(detected) <= 40 // 5 + 2
        per_frame = [_detect(f.image) for f in clip_004]
        assert all(f is not None for f in per_frame)
        assert _jitter([t.face for t in tracked]) < _jitter(per_frame)  # type: ignore[misc]
        ious = [box_iou(t.face, f) for t, f in zip(tracked, per_frame)]  # type: ignore[arg-type]
        assert np.mean(ious) > 0.85
        # Unsmoothed, a detection frame's box is per-frame detection's box to 1 pixel: the
        # restricted search skips pyramid levels but keeps HOG's grid.
        raw = FaceTracker(detect_every=5, smooth=1)(clip_004)
        for t, face in zip(raw, per_frame):
            if t.detected:
                assert np.abs(np.subtract(t.face, face)).max() <= 1, (t, face)
        box = tracked[0].box
        assert box is not None and box.x0 % 8 == box.y0 % 8 == box.width % 8 == 0

    def test_two_faces_keep_identity(self, clip_004: list[Frame], clip_634: list[Frame]) -> None:
        from PIL import Image

        def crop_of(frame: Frame) -> Image.Image:
            face = _detect(frame.image)
            assert face is not None
            box = face_box(face, frame.image.shape[:2])
            assert box is not None
            return Image.fromarray(crop_face(frame.image, box))

        first, other = crop_of(clip_004[0]), crop_of(clip_634[0])
        n, frames, where = 24, [], []
        for i in range(n):  # the first face shrinks 220 -> 150 px, the other grows 150 -> 220
            canvas = Image.new("RGB", (640, 360), (110, 120, 130))
            a, b = round(220 - 70 * i / (n - 1)), round(150 + 70 * i / (n - 1))
            x = 40 + 2 * i  # and moves slowly to the right
            canvas.paste(first.resize((a, a)), (x, 60))
            canvas.paste(other.resize((b, b)), (400, 70))
            frames.append(Frame(i, np.asarray(canvas)))
            where.append((x, 60, x + a, 60 + a))
        # The last frame's largest face is the other one: per-frame detection switches.
        last = _detect(frames[-1].image)
        assert last is not None and last[0] > 320
        tracked = track_faces(frames, detect_every=5)
        assert sum(t.face is not None for t in tracked) >= n - 1
        for t, (x0, y0, x1, y1) in zip(tracked, where):
            if t.face is not None:
                cx, cy = (t.face[0] + t.face[2]) / 2, (t.face[1] + t.face[3]) / 2
                assert x0 < cx < x1 and y0 < cy < y1, (t.frame_index, t.face)
        assert any(t.detected for t in tracked[n // 2 :])  # re-detected, still the first face

    def test_shot_cut_redetects(self, clip_004: list[Frame], clip_634: list[Frame]) -> None:
        cut = 10
        frames = [Frame(i, f.image) for i, f in enumerate(clip_004[:cut] + clip_634[:20])]
        tracked = track_faces(frames, detect_every=5)
        assert any(t.detected for t in tracked[cut : cut + 2])  # detected at/just after the cut
        # The longer shot is the video's identity: the first person's frames are left out.
        assert all(t.box is None for t in tracked[:cut])
        assert all(t.face is not None for t in tracked[cut:])
        for t, frame in zip(tracked[cut::4], clip_634[::4]):  # on the second person's face
            face = _detect(frame.image)
            assert face is not None and t.face is not None
            assert box_iou(t.face, face) >= 0.5

    def test_face_leaves_and_returns(self, clip_004: list[Frame]) -> None:
        blank = np.full_like(clip_004[0].image, 100)
        frames = [Frame(i, f.image) for i, f in enumerate(clip_004[:8])]
        frames += [Frame(i, blank) for i in range(8, 16)]
        frames += [Frame(i, f.image) for i, f in zip(range(16, 28), clip_004[8:20])]
        tracked = track_faces(frames, detect_every=5)
        assert all(t.box is None for t in tracked[8:16])  # nothing to track: no box
        # Without a track the frame is searched every 5 frames: found again within 5 frames,
        # and that (longer) track is the one kept.
        back = next(i for i in range(16, 28) if tracked[i].box is not None)
        assert back < 16 + 5 and tracked[back].detected
        assert all(t.box is not None for t in tracked[back:])
        assert all(t.box is None for t in tracked[:back])

    def test_landmarks_follow_smoothed_box(self, clip_004: list[Frame]) -> None:
        tracked = FaceTracker(detect_every=3, landmarks=True)(clip_004[:7])
        for t, frame in zip(tracked, clip_004):
            assert t.landmarks is not None and t.face is not None
            # The tracker keeps a grey window per frame, not the frame: same points exactly.
            np.testing.assert_array_equal(t.landmarks, face_landmarks(frame.image, t.face))
        assert track_faces(clip_004[:2])[0].landmarks is None

    def test_max_gap_detects_sparse_frames_more_often(self, clip_004: list[Frame]) -> None:
        # Every 5th frame of the video, as when sampling 64 of 300: the tracker alone would
        # bridge 20 frames between detections; max_gap=8 detects every second sampled frame.
        sparse = [Frame(5 * i, f.image) for i, f in enumerate(clip_004[:8])]
        gapped = FaceTracker(detect_every=5, max_gap=8)(sparse)
        plain = FaceTracker(detect_every=5, max_gap=None)(sparse)
        assert [t.detected for t in gapped] == [True, False] * 4
        assert [t.detected for t in plain] == [True, False, False, False, False, True, False, False]
        # Consecutive frames: detect_every (5 <= 8) decides alone, as before.
        dense = FaceTracker(detect_every=5)(clip_004[:11])
        assert [i for i, t in enumerate(dense) if t.detected] == [0, 5, 10]
        with pytest.raises(ValueError, match="max_gap"):
            FaceTracker(max_gap=0)

    def test_no_face(self) -> None:
        frames = [Frame(i, np.full((96, 128, 3), 90, np.uint8)) for i in range(7)]
        out = track_faces(frames, detect_every=3)
        assert out == [TrackedFace(i, None, None, False, None) for i in range(7)]
        assert track_faces([]) == []

    def test_smooth_boxes(self) -> None:
        boxes = [(0.0, 0.0, 10.0, 10.0), (4.0, 0.0, 14.0, 10.0), (2.0, 0.0, 12.0, 10.0)]
        out = smooth_boxes(boxes, 3)
        assert out[0] == boxes[0] and out[2] == boxes[2]  # the window shrinks at the ends
        assert out[1] == pytest.approx((2.0, 0.0, 12.0, 10.0))
        assert smooth_boxes(boxes, 1) == boxes
        # With frame indices the window spans frames of the video: neighbours 10 frames away
        # are not averaged by a 5-frame window, 2 frames away they are.
        assert smooth_boxes(boxes, 5, [0, 10, 20]) == boxes
        assert smooth_boxes(boxes, 5, [0, 2, 4])[1] == pytest.approx((2.0, 0.0, 12.0, 10.0))

    def test_picklable(self) -> None:
        tracker = FaceTracker(detect_every=3, smooth=7)
        tracker([Frame(0, np.zeros((32, 32, 3), np.uint8))])  # builds the detector
        clone = pickle.loads(pickle.dumps(tracker))
        assert repr(clone) == repr(tracker)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"detect_every": 0}, ValueError, "detect_every must be >= 1, got 0"),
            ({"detect_every": 2.5}, TypeError, "detect_every must be an int"),
            ({"smooth": 4}, ValueError, "smooth must be an odd window"),
            ({"iou_threshold": 1.5}, ValueError, r"iou_threshold must lie in \[0.0, 1.0\]"),
            ({"model": "yolo"}, ValueError, "model must be one of"),
            ({"upsample": 2}, ValueError, "upsample must be 0 or 1"),
            ({"landmarks": 1}, TypeError, "landmarks must be a bool"),
            ({"scale": -1}, ValueError, "scale must be a finite positive number"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            FaceTracker(**kwargs)

    def test_bad_frames(self) -> None:
        with pytest.raises(TypeError, match=r"frames\[0\] must be a Frame"):
            track_faces([np.zeros((8, 8, 3), np.uint8)])
        with pytest.raises(ValueError, match=r"frames\[1\].image must be an RGB uint8"):
            track_faces([Frame(0, np.zeros((8, 8, 3), np.uint8)), Frame(1, np.zeros((8, 8)))])
