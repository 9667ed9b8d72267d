"""Self-blended images (issue 11): the SBI blend on a real face, and the pseudo-fake data set.

The face is a frame of FaceForensics++'s ``004.mp4`` cropped as the preprocessing job crops it
(:class:`~freqforensics.data.FaceDetector`) with dlib's 68 landmarks; the photo source uses five
photographs of ``faces-real``. Both skip without the shared data (and fail in CI).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from needs import SHARED_DATA, need_module, need_path
from PIL import Image
from scipy.ndimage import distance_transform_edt
from toys import write_manifest

from freqforensics import SIDA
from freqforensics.data import FaceDetector, crop_face, detect_largest_face, read_frames
from freqforensics.data.codecs import jpeg_compress
from freqforensics.data.landmarks import face_landmarks, landmark_hull_mask, save_landmarks, to_crop
from freqforensics.data.pseudo import PseudoFakeDataset
from freqforensics.data.sbi import (
    BLEND_RATIOS,
    LOCAL_REGIONS,
    _face_template,
    detect_photo_faces,
    landmarks_fit,
    sbi_mask,
    self_blend,
    self_blend_pair,
    source_transform,
)

VIDEO = SHARED_DATA / "ffpp-mini" / "original_sequences" / "youtube" / "c23" / "videos" / "004.mp4"
PHOTOS = [
    "lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0001.jpg",
    "deep3d__000002__000002.jpg",
    "simswapsrc__1_source__1_source.jpg",
    "dlib-johns__John_Salley__000179_02159509.jpg",
    "prnet__0__0.jpg",
]
SEEDS = range(12)


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """``(crop, landmarks)``: frame 0 of 004.mp4, FF++ crop, landmarks in crop pixels."""
    need_module("dlib")
    need_module("av")
    frame = next(iter(read_frames(need_path(VIDEO, "FaceForensics++ sample video"), [0]))).image
    box = FaceDetector()(frame)
    ltrb = detect_largest_face(frame)
    assert box is not None and ltrb is not None
    return crop_face(frame, box), to_crop(face_landmarks(frame, ltrb), box)


def _blends(face: tuple[np.ndarray, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    crop, lm = face
    return [self_blend(crop, lm, np.random.default_rng(s)) for s in SEEDS]


# ----------------------------------------------------------------------------- self_blend


def test_fake_differs_only_inside_mask(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = face
    for fake, mask in _blends(face):
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        assert mask.shape == crop.shape[:2] and mask.dtype == np.float32
        assert 0 <= mask.min() and mask.max() <= 1
        outside = mask == 0
        assert outside.mean() > 0.2  # the background is kept
        assert np.array_equal(fake[outside], crop[outside])
        assert (fake[~outside] != crop[~outside]).any()
    for s in SEEDS:  # the reference's pair: the real is the target, altered half of the time
        real, fake, mask = self_blend_pair(crop, lm, np.random.default_rng(s))
        assert np.array_equal(fake[mask == 0], real[mask == 0])


def test_mask_inside_dilated_hull_and_covers_face_centre(
    face: tuple[np.ndarray, np.ndarray],
) -> None:
    crop, lm = face
    hull = landmark_hull_mask(lm, crop.shape)
    outside_hull = distance_transform_edt(hull == 0)
    size = float(np.ptp(lm, axis=0).max())
    cx, cy = np.rint(lm.mean(axis=0)).astype(int)
    nose_x, nose_y = np.rint(lm[30]).astype(int)
    for _, mask in _blends(face):
        # the "extended" hull raises the brows, then the move, the deformation, the dilation
        # and the blur spread the mask: all within 40 % of the face size of the hull
        assert outside_hull[mask > 0].max() <= 0.4 * size
        assert mask[cy, cx] > 0 and mask[nose_y, nose_x] > 0
        assert mask[cy, cx] >= 0.5 * mask.max()


def test_blend_ratios_follow_the_reference(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = face
    ratios = []
    for s in range(40):
        _, mask = self_blend(crop, lm, np.random.default_rng(100 + s))
        ratios.append(float(mask.max()))
    assert all(np.isclose(r, BLEND_RATIOS).any() for r in ratios), ratios
    assert set(np.round(ratios, 4)) == set(BLEND_RATIOS)  # every ratio occurs
    assert ratios.count(1.0) > ratios.count(0.25)  # 1 is drawn half of the time


def test_self_blend_deterministic_per_generator(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = face
    a = self_blend(crop, lm, np.random.default_rng(7))
    b = self_blend(crop, lm, np.random.default_rng(7))
    c = self_blend(crop, lm, np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    x = source_transform(crop, np.random.default_rng(1))
    assert np.array_equal(x, source_transform(crop, np.random.default_rng(1)))
    assert x.shape == crop.shape and x.dtype == np.uint8 and not np.array_equal(x, crop)


def test_sbi_mask_normalised_and_near_the_hull() -> None:
    pts = _face_template(128)  # a face in dlib's layout, no data needed
    hull = landmark_hull_mask(pts, (128, 128))
    outside_hull = distance_transform_edt(hull == 0)
    for s in range(8):
        mask = sbi_mask(pts, (128, 128), np.random.default_rng(s))
        assert mask.max() == pytest.approx(1.0) and mask[64, 64] > 0.5
        assert outside_hull[mask > 0].max() <= 0.4 * np.ptp(pts, axis=0).max()


@pytest.mark.parametrize("region", sorted(LOCAL_REGIONS))
def test_local_mask_stays_near_its_part_of_the_face(region: str) -> None:
    """A local blend's mask covers its part of the face and less than the whole-face mask;
    most of its weight lies nearer that part's landmarks than any other part's."""
    pts = _face_template(128)
    part = landmark_hull_mask(np.resize(pts[list(LOCAL_REGIONS[region])], (68, 2)), (128, 128))
    outside_part = distance_transform_edt(part == 0)
    size = float(np.ptp(pts, axis=0).max())
    cx, cy = np.rint(pts[list(LOCAL_REGIONS[region])].mean(axis=0)).astype(int)
    for s in range(6):
        local = sbi_mask(pts, (128, 128), np.random.default_rng(s), region=region)
        whole = sbi_mask(pts, (128, 128), np.random.default_rng(s))
        assert local.max() > 0.9 and local[cy, cx] > 0.3
        assert (local > 0.5).sum() < (whole > 0.5).sum()
        assert outside_part[local > 0].max() <= 0.4 * size
        assert (local * (outside_part < 0.15 * size)).sum() > 0.6 * local.sum()


def test_local_blend_changes_only_its_part(face: tuple[np.ndarray, np.ndarray]) -> None:
    """On a real face, a mouth blend leaves the eyes as they are, and the reverse."""
    crop, lm = face
    eyes = landmark_hull_mask(np.resize(lm[36:48], (68, 2)), crop.shape) > 0
    mouth = landmark_hull_mask(np.resize(lm[48:68], (68, 2)), crop.shape) > 0
    for s in SEEDS:
        real, fake, mask = self_blend_pair(crop, lm, np.random.default_rng(s), region="mouth")
        assert np.array_equal(fake[mask == 0], real[mask == 0])
        assert mask[eyes].max() == 0 and mask[mouth].mean() > 0.1
        _, _, mask = self_blend_pair(crop, lm, np.random.default_rng(s), region="eyes")
        assert mask[mouth].max() == 0 and mask[eyes].mean() > 0.1
    parts = "\\['mouth', 'lower_face', 'eyes', 'nose'\\]"
    whole = "None \\(the whole face\\)"
    with pytest.raises(ValueError, match=f"region must be {whole} or one of {parts}, got 'ears'"):
        self_blend_pair(crop, lm, np.random.default_rng(0), region="ears")
    with pytest.raises(ValueError, match=f"region must be {whole} or one of {parts}, got 3"):
        sbi_mask(lm, crop.shape[:2], np.random.default_rng(0), region=3)  # type: ignore[arg-type]


def test_landmarks_fit() -> None:
    pts = np.full((68, 2), 30.0) + np.random.default_rng(0).uniform(-10, 10, (68, 2))
    assert landmarks_fit(pts, (64, 64, 3))
    assert not landmarks_fit(None, (64, 64))
    assert not landmarks_fit(pts + 500, (64, 64))  # frame coordinates, not crop ones
    assert not landmarks_fit(pts[:5], (64, 64))
    assert not landmarks_fit(np.full((68, 2), 30.0), (64, 64))  # a point, not a face


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"crop": np.zeros((64, 64, 3), np.float32)}, ValueError, "crop.*uint8"),
        ({"crop": [[0]]}, TypeError, "crop"),
        ({"crop": np.zeros((8, 64, 3), np.uint8)}, ValueError, "16 x 16"),
        ({"landmarks": np.zeros((5, 2))}, ValueError, r"landmarks.*\(68, 2\).*\(5, 2\)"),
        ({"landmarks": [[0, 0]] * 68}, TypeError, "landmarks must be a numpy array"),
        ({"landmarks": np.full((68, 2), np.nan)}, ValueError, "finite"),
        ({"landmarks": np.full((68, 2), 700.0)}, ValueError, "crop \\(not frame\\) coordinates"),
        ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator, got int"),
    ],
)
def test_self_blend_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    args = {
        "crop": np.zeros((64, 64, 3), np.uint8),
        "landmarks": np.stack([32 + 20 * np.cos(t), 32 + 24 * np.sin(t)], axis=1),
        "rng": np.random.default_rng(0),
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        self_blend(**args)
    if "rng" not in kwargs:
        with pytest.raises(error, match=match):
            self_blend_pair(**args)


def test_bad_arguments_of_the_helpers() -> None:
    crop = np.zeros((64, 64, 3), np.uint8)
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.stack([32 + 20 * np.cos(t), 32 + 24 * np.sin(t)], axis=1)
    with pytest.raises(ValueError, match="swap_p must be a number in \\[0, 1\\], got 2"):
        self_blend_pair(crop, pts, np.random.default_rng(0), swap_p=2)
    with pytest.raises(
        ValueError, match="shape must be \\(H, W\\) with H, W >= 16, got \\(8, 8\\)"
    ):
        sbi_mask(pts, (8, 8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="upsample"):
        detect_photo_faces([], upsample=(2,))
    with pytest.raises(TypeError, match="images must"):
        detect_photo_faces(3)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- data set


@pytest.fixture(scope="module")
def face_manifest(
    tmp_path_factory: pytest.TempPathFactory, face: tuple[np.ndarray, np.ndarray]
) -> Path:
    """Two real videos with the 004 face crop: ``a`` with a landmarks sidecar, ``b`` without."""
    crop, lm = face
    videos = {"a": (0, "train"), "b": (0, "train"), "c": (1, "train")}
    path = write_manifest(tmp_path_factory.mktemp("sbi"), videos, frames=1, size=crop.shape[0])
    for name in ("a", "b"):
        Image.fromarray(crop).save(path.parent / "original" / name / "000000.png")
    save_landmarks(path.parent / "original" / "a" / "000000.png", lm)
    return path


def test_dataset_items_keys_labels_and_fallback(
    face_manifest: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.pseudo"):
        ds = PseudoFakeDataset(face_manifest, "train", image_size=64, seed=0)
    assert "1 of 2 real crops have no landmarks" in caplog.text
    assert caplog.text.count("no landmarks") == 1  # logged once
    assert len(ds) == 4 and ds.labels == [0, 1, 0, 1] and ds.ellipse_pairs == [1]
    items = [ds[i] for i in range(len(ds))]
    for k in range(2):
        real, fake = items[2 * k], items[2 * k + 1]
        assert set(real) == {"image", "sida", "label", "video_id", "frame_index"}
        assert real["image"].shape == (3, 64, 64) and real["sida"].shape == (2304,)
        assert real["image"].dtype == torch.float32 and fake["sida"].dtype == torch.float32
        assert float(real["label"]) == 0 and float(fake["label"]) == 1
        assert fake["video_id"] == real["video_id"] + "#sbi"
        assert fake["frame_index"] == real["frame_index"] == 0
    # the crop with landmarks is self-blended over the face; the other one gets the ellipse
    crop = np.asarray(Image.open(face_manifest.parent / "original" / "a" / "000000.png"))
    unflipped = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False)
    real, fake, mask = unflipped.pair(0)
    assert np.array_equal(fake[mask == 0], real[mask == 0])
    assert (mask > 0).mean() > 0.25  # a face hull, not the small central ellipse
    _, _, ellipse_mask = unflipped.pair(1)
    border = np.ones(ellipse_mask.shape, bool)
    border[30:-30, 30:-30] = False
    assert ellipse_mask[border].max() == 0  # make_pseudo_fake stays in the central 70 %
    only_ellipse = PseudoFakeDataset(face_manifest, "train", image_size=64, method="ellipse")
    assert only_ellipse.ellipse_pairs == [0, 1]
    assert crop.shape == real.shape


def test_dataset_flip_moves_the_landmarks(
    face_manifest: Path, face: tuple[np.ndarray, np.ndarray]
) -> None:
    crop, lm = face
    ds = PseudoFakeDataset(face_manifest, "train", image_size=64, flip_p=1.0, swap_p=0.0)
    real, fake, mask = ds.pair(0)
    assert np.array_equal(real, crop[:, ::-1])
    cx, cy = np.rint(lm.mean(axis=0)).astype(int)
    assert mask[cy, crop.shape[1] - 1 - cx] >= 0.5 * mask.max()
    hull = landmark_hull_mask(lm, crop.shape)[:, ::-1]
    size = float(np.ptp(lm, axis=0).max())
    assert distance_transform_edt(hull == 0)[mask > 0].max() <= 0.4 * size


def test_dataset_unusable_sidecar_falls_back(
    tmp_path: Path, face: tuple[np.ndarray, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    crop, lm = face
    path = write_manifest(tmp_path, {"a": (0, "train")}, frames=1, size=crop.shape[0])
    Image.fromarray(crop).save(path.parent / "original" / "a" / "000000.png")
    save_landmarks(path.parent / "original" / "a" / "000000.png", lm + 700)  # frame coords
    ds = PseudoFakeDataset(path, "train", image_size=64, augment=False)
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.pseudo"):
        _, _, mask = ds.pair(0)
        ds.pair(0)
    assert caplog.text.count("do not outline a face") == 1
    border = np.ones(mask.shape, bool)
    border[30:-30, 30:-30] = False
    assert mask[border].max() == 0 and mask.max() > 0  # the central ellipse blend


def test_dataset_deterministic_and_fresh_per_epoch(face_manifest: Path) -> None:
    a = PseudoFakeDataset(face_manifest, "train", image_size=64, seed=3)
    b = PseudoFakeDataset(face_manifest, "train", image_size=64, seed=3)
    first = a[1]
    assert torch.equal(first["image"], b[1]["image"]) and torch.equal(first["sida"], b[1]["sida"])
    a.set_epoch(1)
    assert not torch.equal(first["sida"], a[1]["sida"])
    a.set_epoch(0)
    assert torch.equal(first["sida"], a[1]["sida"])
    frozen = PseudoFakeDataset(
        face_manifest, "train", image_size=64, seed=3, fresh_every_epoch=False
    )
    frozen.set_epoch(4)
    assert torch.equal(frozen[1]["sida"], first["sida"])


def _sida_of(crop: np.ndarray) -> torch.Tensor:
    """The SIDA vector of an RGB ``uint8`` crop, computed here (the items' oracle)."""
    return SIDA()(torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float() / 255)[0]


def test_real_and_fake_share_the_jpeg_quality(face_manifest: Path) -> None:
    vector = _sida_of
    # JPEG as the only step after the blend: the items are the JPEG of pair()'s crops
    ds = PseudoFakeDataset(
        face_manifest, "train", image_size=64, augment=False, jpeg_p=1.0, jpeg_quality=(55, 55)
    )
    real, fake, _ = ds.pair(0)
    assert ds.jpeg_quality(0) == 55
    assert torch.allclose(ds[0]["sida"], vector(jpeg_compress(real, 55)))
    assert torch.allclose(ds[1]["sida"], vector(jpeg_compress(fake, 55)))
    # random qualities: one per pair, the same for its real and its fake
    ds = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False, jpeg_p=1.0)
    qualities = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        q = ds.jpeg_quality(0)
        assert q is not None and 40 <= q <= 100
        qualities.add(q)
        real, fake, _ = ds.pair(0)
        assert torch.allclose(ds[0]["sida"], vector(jpeg_compress(real, q)))
        assert torch.allclose(ds[1]["sida"], vector(jpeg_compress(fake, q)))
    assert len(qualities) > 1
    plain = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False)
    assert plain.jpeg_p == 0 and plain.jpeg_quality(0) is None
    assert PseudoFakeDataset(face_manifest, "train", image_size=64).jpeg_p == 0.5


def test_h264_step_is_one_crf_per_pair_for_real_and_fake(face_manifest: Path) -> None:
    from freqforensics.data.codecs import h264_round_trip

    vector = _sida_of
    ds = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False, h264_p=1.0,
                           h264_crf=(30, 40))
    crfs = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        crf = ds.h264_crf(0)
        assert crf is not None and 30 <= crf <= 40
        crfs.add(crf)
        real, fake, _ = ds.pair(0)
        for item, crop in ((ds[0], real), (ds[1], fake)):
            coded = h264_round_trip([crop], crf, preset="veryfast")[0]
            assert not np.array_equal(coded, crop)  # the codec did change the crop
            assert torch.allclose(item["sida"], vector(coded))
    assert len(crfs) > 1
    assert PseudoFakeDataset(face_manifest, "train", image_size=64).h264_crf(0) is None


def test_detail_step_is_one_change_per_pair_for_real_and_fake(face_manifest: Path) -> None:
    """``quality_p``: real and fake of a pair are softened or sharpened alike, before the
    codecs; both kinds occur, with their parameters in range."""
    from freqforensics.data.blend import sharpen, soften

    ds = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False, quality_p=1.0)
    kinds = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        change = ds.quality(0)
        assert change is not None
        kind, amount = change
        kinds.add(kind)
        assert 22 <= amount <= 64 if kind == "soften" else 30 <= amount <= 150
        real, fake, _ = ds.pair(0)
        for item, crop in ((ds[0], real), (ds[1], fake)):
            changed = (soften if kind == "soften" else sharpen)(crop, amount)
            assert torch.allclose(item["sida"], _sida_of(changed))
    assert kinds == {"soften", "sharpen"}
    assert PseudoFakeDataset(face_manifest, "train", image_size=64).quality(0) is None


def test_local_p_draws_local_blends_per_pair_and_epoch(
    face_manifest: Path, face: tuple[np.ndarray, np.ndarray]
) -> None:
    """``local_p``: the fake of a pair blends one part of the face with that probability,
    every part occurs, and the pair's mask is that part's; 0 keeps the reference's masks."""
    crop, lm = face
    size = float(np.ptp(lm, axis=0).max())
    ds = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False, local_p=0.5)
    whole = PseudoFakeDataset(face_manifest, "train", image_size=64, augment=False)
    regions = []
    for epoch in range(40):
        ds.set_epoch(epoch)
        whole.set_epoch(epoch)
        regions.append(ds.region(0))
        real, fake, mask = ds.pair(0)
        assert np.array_equal(fake[mask == 0], real[mask == 0])
        expected = whole.pair(0)[2]
        if regions[-1] is None:  # the same draws as without local blends
            assert np.array_equal(mask, expected)
        else:  # the mask stays near its part (the source moves by a few per cent at most)
            part = landmark_hull_mask(np.resize(lm[list(LOCAL_REGIONS[regions[-1]])], (68, 2)),
                                      crop.shape)
            assert distance_transform_edt(part == 0)[mask > 0].max() <= 0.4 * size
        assert whole.region(0) is None
    assert set(regions) == {None, *LOCAL_REGIONS}
    assert 10 <= regions.count(None) <= 30
    assert "local_p=0.5" in repr(ds)


def test_soften_and_sharpen_change_the_detail() -> None:
    """``soften`` removes high frequencies (less than a same-size crop keeps), ``sharpen`` adds
    them, both keep the shape; a crop no larger than ``side`` is left as it is."""
    from scipy import ndimage

    from freqforensics.data.blend import sharpen, soften

    rng = np.random.default_rng(0)
    crop = ndimage.gaussian_filter(rng.uniform(0, 255, (96, 80, 3)), (1, 1, 0)).astype(np.uint8)

    def detail(image: np.ndarray) -> float:
        return float(ndimage.laplace(image.astype(np.float64).mean(axis=2)).var())

    soft, sharp = soften(crop, 32), sharpen(crop, 100)
    assert soft.shape == sharp.shape == crop.shape and soft.dtype == sharp.dtype == np.uint8
    assert detail(soft) < 0.5 * detail(crop) < detail(crop) < detail(sharp)
    assert soften(crop, 96) is crop and np.array_equal(sharpen(crop, 0), crop)
    with pytest.raises(ValueError, match="side must be a positive int, got 0"):
        soften(crop, 0)
    with pytest.raises(ValueError, match="percent must be a non-negative int, got -5"):
        sharpen(crop, -5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quality_p": 1.5}, "quality_p must be a number in \\[0, 1\\], got 1.5"),
        ({"local_p": -0.5}, "local_p must be a number in \\[0, 1\\], got -0.5"),
        ({"method": "poisson"}, "method must be one of \\['sbi', 'ellipse'\\], got 'poisson'"),
        ({"jpeg_p": 1.5}, "jpeg_p must be a number in \\[0, 1\\], got 1.5"),
        ({"swap_p": -1}, "swap_p must be a number in \\[0, 1\\], got -1"),
        ({"jpeg_quality": (90, 40)}, "jpeg_quality must be .* got \\(90, 40\\)"),
        ({"h264_crf": (20, 60)}, "h264_crf must be .*<= 51, got \\(20, 60\\)"),
        ({"h264_p": 2}, "h264_p must be a number in \\[0, 1\\], got 2"),
        ({"manifest": None}, "manifest or images must be given"),
    ],
)
def test_dataset_rejects_bad_arguments(face_manifest: Path, kwargs: dict, match: str) -> None:
    args = {"manifest": face_manifest, "split": "train", "image_size": 64, **kwargs}
    with pytest.raises(ValueError, match=match):
        PseudoFakeDataset(**args)


def test_dataset_rejects_bad_index(face_manifest: Path) -> None:
    ds = PseudoFakeDataset(face_manifest, "train", image_size=64)
    with pytest.raises(IndexError, match="pair 2 out of range for 2 real faces"):
        ds.pair(2)
    with pytest.raises(TypeError, match="index must be an int, got str"):
        ds["0"]  # type: ignore[index]


def test_photo_source(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    need_module("dlib")
    folder = need_path(SHARED_DATA / "faces-real", "real face photographs")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (120, 120), (128, 128, 128)).save(blank)
    photos = [folder / name for name in PHOTOS] + [blank]
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.sbi"):
        ds = PseudoFakeDataset(images=photos, image_size=64, seed=1, augment=False)
    assert caplog.text.count("photos skipped") == 1 and "blank" in caplog.text
    assert ds.skipped_images == [(f"{tmp_path.name}/blank", "no face found")]
    assert len(ds) == 2 * len(PHOTOS) and ds.ellipse_pairs == []
    assert [r.video_id for r in ds.rows] == [f"faces-real/{Path(n).stem}" for n in PHOTOS]
    for k, row in enumerate(ds.rows):
        crop = row.crop()
        assert crop.shape[:2] == (row.box.height, row.box.width) and row.box.x0 % 8 == 0
        assert landmarks_fit(row.landmarks, crop.shape)
        real, fake, mask = ds.pair(k)
        assert np.array_equal(fake[mask == 0], real[mask == 0]) and mask.max() > 0
        cx, cy = np.rint(row.landmarks.mean(axis=0)).astype(int)
        assert mask[cy, cx] > 0
    item = ds[1]
    assert item["video_id"] == ds.rows[0].video_id + "#sbi" and item["sida"].shape == (2304,)
    with pytest.raises(ValueError, match="images must hold photos with a face"):
        PseudoFakeDataset(images=[blank], image_size=64)
