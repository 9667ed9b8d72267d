"""SBI's colour changes of both views (``view_transform``, the data set's ``colour_p``).

Synthetic crops with the template face's landmarks, so no dlib and no shared data are needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from toys import write_manifest

from freqforensics.config import load_config
from freqforensics.data.landmarks import save_landmarks
from freqforensics.data.pseudo import PseudoFakeDataset
from freqforensics.data.sbi import _face_template
from freqforensics.data.sbi_transforms import view_transform

SIZE = 64


@settings(max_examples=30, deadline=None)
@given(image=arrays(np.uint8, (9, 7, 3)), seed=st.integers(0, 2**16))
def test_p_zero_is_the_identity(image: np.ndarray, seed: int) -> None:
    assert np.array_equal(view_transform(image, np.random.default_rng(seed), p=0.0), image)


@pytest.mark.parametrize("seed", range(20))
def test_every_change_is_one_gain_and_a_shift_per_channel(seed: int) -> None:
    """With ``p=1`` all three changes apply: away from the clipping, each channel is
    ``x * g + o_c`` with one gain ``g`` in [0.7, 1.3] for all channels (the contrast) and
    offsets within the RGB shift (±20) times that gain plus the brightness (±0.3 * 255); the
    hue/saturation/value shift moves a saturated pixel by a few grey levels at most."""
    rng = np.random.default_rng(1000 + seed)
    image = rng.integers(20, 236, (32, 32, 3)).astype(np.uint8)  # the RGB shift never clips
    out = view_transform(image, np.random.default_rng(seed), p=1.0).astype(np.float64)
    x = image.astype(np.float64)
    gains, offsets = [], []
    for c in range(3):
        kept = (out[..., c] > 0) & (out[..., c] < 255)  # the brightness may clip some
        assert kept.sum() > 100
        design = np.stack([x[..., c][kept], np.ones(kept.sum())], axis=1)
        (g, o), *_ = np.linalg.lstsq(design, out[..., c][kept], rcond=None)
        assert np.abs(design @ [g, o] - out[..., c][kept]).max() <= 4
        gains.append(g)
        offsets.append(o)
    assert np.ptp(gains) < 0.02
    g = float(np.mean(gains))
    assert 0.7 - 0.01 <= g <= 1.3 + 0.01
    assert all(abs(o) <= 20 * g + 0.3 * 255 + 2 for o in offsets)
    # the per-channel part of the offset is the RGB shift: at most 40 * g apart, and drawn
    assert np.ptp(offsets) <= 40 * g + 3


def test_changes_are_drawn_with_probability_p() -> None:
    """Each change has probability ``p``: an image is left as it is when neither the RGB shift
    nor the brightness/contrast is drawn (probability ``(1 - p)^2``; the hue/saturation/value
    shift alone may round to nothing), and always changed at ``p=1``."""
    image = np.random.default_rng(5).integers(60, 200, (8, 8, 3)).astype(np.uint8)
    n = 600
    unchanged = sum(
        np.array_equal(view_transform(image, np.random.default_rng(s)), image) for s in range(n)
    )
    # between (1 - p)^3 = 0.343 (the HSV shift always visible) and (1 - p)^2 = 0.49 (never)
    assert 0.343 - 0.06 <= unchanged / n <= 0.49 + 0.06
    assert not any(
        np.array_equal(view_transform(image, np.random.default_rng(s), p=1.0), image)
        for s in range(50)
    )


def test_same_generator_state_same_change() -> None:
    image = np.random.default_rng(7).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    a = view_transform(image, np.random.default_rng([3, 1, 4]), p=0.5)
    b = view_transform(image, np.random.default_rng([3, 1, 4]), p=0.5)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"p": 1.5}, ValueError, "p must be a number in \\[0, 1\\], got 1.5"),
        ({"image": np.zeros((8, 8), np.uint8)}, ValueError, "image must be"),
        ({"rng": 3}, TypeError, "rng"),
    ],
)
def test_view_transform_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    args = {"image": np.zeros((8, 8, 3), np.uint8), "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(error, match=match):
        view_transform(**args)


# ----------------------------------------------------------------------------- the data set


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real video with two frames, each with the template face's landmarks."""
    path = write_manifest(tmp_path_factory.mktemp("views"), {"a": (0, "train")}, size=SIZE)
    for frame in path.parent.glob("original/a/*.png"):
        save_landmarks(frame, _face_template(SIZE).astype(np.float32))
    return path


def test_real_and_fake_are_changed_alike(manifest: Path) -> None:
    """``colour_p``: the real face and its fake get one colour change, so the fake still equals
    the real wherever the blend mask is zero, and the real differs from the unchanged one."""
    args = {"image_size": SIZE, "augment": False, "jpeg_p": 0.0, "seed": 3}
    plain = PseudoFakeDataset(manifest, "train", **args)
    coloured = PseudoFakeDataset(manifest, "train", colour_p=1.0, **args)
    assert coloured.colour_p == 1.0 and plain.colour_p == 0.0
    for pair in range(len(coloured.rows)):
        _, _, mask = coloured.pair(pair)
        outside = torch.from_numpy(mask == 0)
        assert outside.float().mean() > 0.1 and (~outside).float().mean() > 0.1
        real, fake = coloured[2 * pair]["image"], coloured[2 * pair + 1]["image"]
        assert torch.equal(real[:, outside], fake[:, outside])
        assert not torch.equal(real[:, ~outside], fake[:, ~outside])
        assert not torch.equal(real, plain[2 * pair]["image"])
        assert torch.equal(plain[2 * pair]["image"], plain[2 * pair]["image"])


def test_colour_p_is_checked_in_the_data_set_and_the_config(manifest: Path) -> None:
    with pytest.raises(ValueError, match="colour_p must be a number in \\[0, 1\\], got 2"):
        PseudoFakeDataset(manifest, "train", image_size=SIZE, colour_p=2)
    assert load_config(overrides=["data.colour_p=0.3"]).data.colour_p == 0.3
    with pytest.raises(ValueError, match="data.colour_p must be in \\[0, 1\\], got -0.1"):
        load_config(overrides=["data.colour_p=-0.1"])
