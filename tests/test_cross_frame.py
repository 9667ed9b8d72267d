"""Cross-frame blends (issue 11): the similarity fit, the alignment, the partners, the data set.

Synthetic crops with the template face's landmarks, so no dlib and no shared data are needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toys import write_manifest

from freqforensics.config import load_config
from freqforensics.data.cross_frame import (
    STABLE_POINTS,
    WINDOW,
    align_face,
    same_video_partners,
    similarity,
)
from freqforensics.data.landmarks import save_landmarks
from freqforensics.data.pseudo import PseudoFakeDataset
from freqforensics.data.sbi import _face_template

SIZE = 64
FRAMES = 2 * WINDOW + 4


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


@settings(max_examples=40, deadline=None)
@given(
    theta=st.floats(-0.6, 0.6),
    scale=st.floats(0.5, 2.0),
    shift=st.tuples(st.floats(-20, 20), st.floats(-20, 20)),
    seed=st.integers(0, 2**16),
)
def test_similarity_recovers_a_known_transform(
    theta: float, scale: float, shift: tuple[float, float], seed: int
) -> None:
    src = _face_template(96).astype(np.float64)
    src += np.random.default_rng(seed).normal(0, 2, src.shape)
    dst = scale * src @ _rotation(theta).T + np.array(shift)
    expected = np.hstack([scale * _rotation(theta), np.array(shift)[:, None]])
    np.testing.assert_allclose(similarity(src, dst), expected, atol=1e-7)


def test_similarity_is_the_least_squares_fit_without_reflection() -> None:
    """Noisy targets: no other similarity does better (a float64 check against perturbed
    fits), and a mirrored target gives a rotation (det > 0), never a reflection."""
    rng = np.random.default_rng(0)
    src = _face_template(96).astype(np.float64)
    dst = 1.1 * src @ _rotation(0.2).T + [4.0, -3.0] + rng.normal(0, 3, src.shape)
    m = similarity(src, dst)

    def cost(mat: np.ndarray) -> float:
        return float(((src @ mat[:, :2].T + mat[:, 2] - dst) ** 2).sum())

    for _ in range(50):
        a, b = rng.normal(0, 1e-3, 2)
        s, t = m[:, :2] + [[a, -b], [b, a]], m[:, 2] + rng.normal(0, 1e-2, 2)
        assert cost(np.hstack([s, t[:, None]])) >= cost(m)
    mirrored = similarity(src, src * [-1.0, 1.0])
    assert np.linalg.det(mirrored[:, :2]) > 0


@pytest.mark.parametrize(
    ("source", "target", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 3)), "must be \\(N, 2\\) point sets"),
        (np.zeros((1, 2)), np.zeros((1, 2)), "N >= 2, got \\(1, 2\\)"),
        (np.zeros((4, 2)), np.zeros((5, 2)), "got \\(4, 2\\) and \\(5, 2\\)"),
        (np.full((4, 2), np.nan), np.zeros((4, 2)), "must be finite"),
        (np.ones((4, 2)), np.zeros((4, 2)), "source must have a spread"),
    ],
)
def test_similarity_rejects_bad_points(source: np.ndarray, target: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        similarity(source, target)


def test_align_face_puts_the_source_face_on_the_target() -> None:
    """A source drawn as a smooth image moved by a known similarity comes back onto the
    target's grid (bilinear: within a grey level on average) with its landmarks on the
    target's; the output has the target's size."""
    target_lm = _face_template(96).astype(np.float64)
    forward = np.hstack([0.9 * _rotation(0.25), [[5.0], [-4.0]]])  # target -> source pixels
    source_lm = target_lm @ forward[:, :2].T + forward[:, 2]
    yy, xx = np.mgrid[0:120, 0:110].astype(np.float64)
    back = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))  # source -> target pixels
    tx = back[0, 0] * xx + back[0, 1] * yy + back[0, 2]
    ty = back[1, 0] * xx + back[1, 1] * yy + back[1, 2]

    def pattern(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 128 + 60 * np.sin(x / 9) + 50 * np.cos(y / 7)

    source = np.repeat(np.rint(pattern(tx, ty))[:, :, None], 3, axis=2).astype(np.uint8)
    aligned, moved = align_face(source, source_lm, target_lm, (96, 96, 3))
    assert aligned.shape == (96, 96, 3) and aligned.dtype == np.uint8
    gy, gx = np.mgrid[0:96, 0:96].astype(np.float64)
    error = np.abs(aligned[16:80, 16:80, 0] - pattern(gx, gy)[16:80, 16:80])
    assert error.mean() < 1.0 and error.max() <= 4
    np.testing.assert_allclose(moved[STABLE_POINTS], target_lm[STABLE_POINTS], atol=1e-6)


def test_align_face_moves_only_the_stable_points_onto_the_target() -> None:
    """An open mouth in the source stays open: the fit uses the stable points alone."""
    target_lm = _face_template(96).astype(np.float64)
    source_lm = target_lm.copy()
    source_lm[48:, 1] += 6.0  # the mouth lower
    crop = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    aligned, moved = align_face(crop, source_lm, target_lm, crop.shape)
    assert np.array_equal(aligned, crop)  # the stable points already match: identity
    np.testing.assert_allclose(moved, source_lm, atol=1e-9)


def test_align_face_rejects_bad_input() -> None:
    lm = _face_template(64)
    crop = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="crop must be an RGB uint8"):
        align_face(crop.astype(np.float32), lm, lm, crop.shape)
    with pytest.raises(ValueError, match="landmarks must outline a face"):
        align_face(crop, lm + 500, lm, crop.shape)
    with pytest.raises(ValueError, match="landmarks must outline a face"):
        align_face(crop, lm, lm, (16, 16))


@given(
    ids=st.lists(st.sampled_from(["a", "b", "c", None]), max_size=40),
    window=st.one_of(st.none(), st.integers(1, 6)),
    shuffle=st.randoms(use_true_random=False),
)
def test_partners_are_other_frames_of_the_same_video_within_the_window(
    ids: list[str | None], window: int | None, shuffle: Any
) -> None:
    """Items listed out of frame order: the partners are those within ``window`` in frame
    order, and partnership is symmetric."""
    frames = list(range(len(ids)))
    shuffle.shuffle(frames)
    partners = same_video_partners(ids, window=window, frames=frames)
    assert len(partners) == len(ids)
    for i, found in enumerate(partners):
        if ids[i] is None:
            assert found == []
            continue
        members = sorted((j for j, v in enumerate(ids) if v == ids[i]), key=lambda j: frames[j])
        k = members.index(i)
        expected = [
            j for n, j in enumerate(members) if j != i and (window is None or abs(n - k) <= window)
        ]
        assert found == expected
        assert all(i in partners[j] for j in found)  # symmetric
    assert same_video_partners(ids, window=window) == same_video_partners(
        ids, window=window, frames=list(range(len(ids)))
    )


@pytest.mark.parametrize("window", [0, -1, 1.5, True])
def test_partners_reject_a_bad_window(window: object) -> None:
    with pytest.raises(ValueError, match="window must be None or an int >= 1"):
        same_video_partners(["a", "a"], window=window)  # type: ignore[arg-type]


def test_partners_reject_frames_of_another_length() -> None:
    with pytest.raises(ValueError, match="one frame index per item \\(2\\), got 3"):
        same_video_partners(["a", "a"], frames=[0, 1, 2])


@pytest.fixture(scope="module")
def video_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Video ``a``: FRAMES crops with landmarks (each frame another texture); ``b``: one crop
    per frame without landmarks."""
    path = write_manifest(tmp_path_factory.mktemp("cross"), {"a": (0, "train"), "b": (0, "train")},
                          frames=FRAMES, size=SIZE)
    for f in range(FRAMES):
        save_landmarks(path.parent / "original" / "a" / f"{f:06d}.png", _face_template(SIZE))
    return path


def test_dataset_cross_p_takes_the_source_from_a_near_frame(video_manifest: Path) -> None:
    """With ``cross_p=1`` each crop of ``a`` blends a partner of the same video at most WINDOW
    crops away, under the very mask the reference draws; the crops without landmarks have no
    partner; outside the mask the fake is the real."""
    ds = PseudoFakeDataset(video_manifest, "train", image_size=32, augment=False, cross_p=1.0)
    plain = PseudoFakeDataset(video_manifest, "train", image_size=32, augment=False)
    a = [k for k, row in enumerate(ds.rows) if row.video_id.endswith("/a")]
    assert len(a) == FRAMES
    for k in range(len(ds.rows)):
        partner = ds.partner(k)
        if k not in a:
            assert partner is None and plain.partner(k) is None
            continue
        assert partner is not None and partner in a and partner != k
        assert abs(a.index(partner) - a.index(k)) <= WINDOW
        real, fake, mask = ds.pair(k)
        plain_real, plain_fake, plain_mask = plain.pair(k)
        assert np.array_equal(real, plain_real) and np.array_equal(mask, plain_mask)
        assert np.array_equal(fake[mask == 0], real[mask == 0])
        assert not np.array_equal(fake, plain_fake)  # another frame's face, not the crop's own
        assert plain.partner(k) is None
    assert "cross_p=1.0" in repr(ds)


def test_dataset_cross_p_draws_per_pair_and_epoch(video_manifest: Path) -> None:
    ds = PseudoFakeDataset(video_manifest, "train", image_size=32, cross_p=0.5)
    draws = []
    for epoch in range(40):
        ds.set_epoch(epoch)
        draws.append(ds.partner(0))
        assert ds.partner(0) == draws[-1]  # a function of (seed, epoch, pair)
    assert 10 <= draws.count(None) <= 30
    assert len({d for d in draws if d is not None}) > 1


def test_cross_p_is_checked_in_the_data_set_and_the_config(video_manifest: Path) -> None:
    with pytest.raises(ValueError, match="cross_p must be a number in \\[0, 1\\], got 1.5"):
        PseudoFakeDataset(video_manifest, "train", image_size=32, cross_p=1.5)
    assert load_config(overrides=["data.cross_p=0.5"]).data.cross_p == 0.5
    with pytest.raises(ValueError, match="data.cross_p must be in \\[0, 1\\], got -1"):
        load_config(overrides=["data.cross_p=-1"])


def test_dataset_cross_pair_is_the_documented_composition(video_manifest: Path) -> None:
    """The partner is flipped as its *target* is (crops and landmarks alike, whatever its own
    pair draws), then aligned, moved, masked and blended: each pair equals that composition
    built by hand."""
    from freqforensics.data.codecs import read_rgb
    from freqforensics.data.landmarks import load_landmarks
    from freqforensics.data.sbi import _blend, _pick_target

    ds = PseudoFakeDataset(video_manifest, "train", image_size=32, augment=True, flip_p=0.5,
                           cross_p=1.0, seed=3)

    def view(row: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        path = ds.rows[row].crop_path
        crop, lm = read_rgb(path), load_landmarks(path).astype(np.float32).copy()
        if flip:
            lm[:, 0] = crop.shape[1] - 1 - lm[:, 0]
            crop = np.ascontiguousarray(crop[:, ::-1])
        return crop, lm

    flips = []
    for k in range(FRAMES):  # the crops of video a
        partner = ds.partner(k)
        assert partner is not None
        flip = bool(ds._rng(k, 0).random() < 0.5)
        flips.append((flip, bool(ds._rng(partner, 0).random() < 0.5)))
        crop, lm = view(k, flip)
        other, other_lm = view(partner, flip)
        target, _ = _pick_target(crop, ds._rng(k, 1), ds.swap_p)
        source = align_face(other, other_lm, lm, crop.shape)[0]
        fake, mask = _blend(target, source, lm.astype(np.float64), ds._rng(k, 4))
        real, got_fake, got_mask = ds.pair(k)
        assert np.array_equal(real, target) and np.array_equal(got_mask, mask)
        assert np.array_equal(got_fake, fake)
    assert any(own != theirs for own, theirs in flips)  # the case that tells the two apart
