"""Tests of the DeeperForensics-1.0 robustness protocol (issue 11).

The seven distortion types at their five levels on synthetic crops: shape, dtype and
determinism, strength growing with the level, the H.264 round trips through PyAV (crops and a
whole video), and an end-to-end evaluation of a tiny model on a manifest of synthetic crops.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from toys import TINY, texture, write_manifest

from freqforensics import create_model
from freqforensics.data import load_rows
from freqforensics.data.codecs import h264_round_trip, reencode_h264
from freqforensics.perturbations import (
    DEEPERFORENSICS_LEVELS,
    block_wise,
    color_contrast,
    color_saturation,
    compress_crops,
    compress_video,
    deeperforensics_parameter,
    distort,
    downsample_upsample,
    gaussian_blur_kernel,
    gaussian_noise_color,
)
from freqforensics.robustness import (
    PerturbedFrames,
    evaluate_robustness,
    plot_robustness,
    robustness_matrix,
    robustness_perturbations,
    robustness_rows,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TYPES = ("CS", "CC", "BW", "GNC", "GB", "JPEG", "VC")
LEVELS = (1, 2, 3, 4, 5)


def _smooth(seed: int, size: int = 96) -> np.ndarray:
    """A face-like crop: the toy texture without its pixel-level noise."""
    x = gaussian_filter(texture(seed, size).astype(np.float64), sigma=(1, 1, 0))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def _chroma(a: np.ndarray) -> float:
    rgb = a.astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    return float(np.abs(rgb - luma[..., None]).mean())


def _clip(frames: int = 8, size: int = 64) -> list[np.ndarray]:
    """A small synthetic video: a window panning over a texture."""
    big = texture(3, size + 3 * frames)
    return [
        np.ascontiguousarray(big[2 * i : 2 * i + size, 3 * i : 3 * i + size]) for i in range(frames)
    ]


# ------------------------------------------------------------------------------- the levels


def test_levels_are_the_reference_parameters() -> None:
    # get_distortion_parameter of EndlessSora/DeeperForensics-1.0, add_distortion_to_video.py
    assert DEEPERFORENSICS_LEVELS == {
        "CS": (0.4, 0.3, 0.2, 0.1, 0.0),
        "CC": (0.85, 0.725, 0.6, 0.475, 0.35),
        "BW": (16, 32, 48, 64, 80),
        "GNC": (0.001, 0.002, 0.005, 0.01, 0.05),
        "GB": (7, 9, 13, 17, 21),
        "JPEG": (2, 3, 4, 5, 6),
        "VC": (30, 32, 35, 38, 40),
    }
    assert deeperforensics_parameter("CC", 3) == 0.6


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("kind", TYPES)
def test_each_type_and_level_keeps_shape_dtype_and_is_deterministic(kind: str, level: int) -> None:
    x = texture(7, 70)[:, :66]  # not square, sides not multiples of 8 or of the factors
    before = x.copy()
    y = distort(x, kind, level, seed=4)
    assert y.shape == x.shape and y.dtype == np.uint8
    assert np.array_equal(y, distort(x, kind, level, seed=4))
    assert np.array_equal(x, before)  # the input is not modified
    assert not np.array_equal(y, x)


@pytest.mark.parametrize("kind", ["BW", "GNC"])
def test_random_types_follow_the_seed(kind: str) -> None:
    x = _smooth(0)
    assert not np.array_equal(distort(x, kind, 2, seed=0), distort(x, kind, 2, seed=1))
    assert np.array_equal(distort(x, kind, 2, seed=(3, 1)), distort(x, kind, 2, seed=(3, 1)))


# ---------------------------------------------------------------- strength grows with level


@pytest.mark.parametrize("kind", ["GNC", "GB", "JPEG", "BW", "VC"])
def test_error_grows_with_the_level(kind: str) -> None:
    x = _smooth(2)
    errors = [_err(distort(x, kind, level, seed=5), x) for level in LEVELS]
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


def test_saturation_and_contrast_move_with_the_level() -> None:
    x = _smooth(1)
    chroma = [_chroma(distort(x, "CS", level)) for level in LEVELS]
    assert _chroma(x) > chroma[0] and all(a > b for a, b in zip(chroma, chroma[1:]))
    assert chroma[-1] < 0.5  # level 5 (factor 0) is grey
    # the luma is kept: a grey image is a fixed point
    grey = np.full((8, 8, 3), 77, np.uint8)
    assert np.array_equal(color_saturation(grey, 0.2), grey)
    contrast = [distort(x, "CC", level) for level in LEVELS]
    means = [float(c.mean()) for c in contrast]
    stds = [float(c.std()) for c in contrast]
    assert all(a > b for a, b in zip(means, means[1:]))
    assert all(a > b for a, b in zip(stds, stds[1:]))
    assert np.array_equal(
        color_contrast(np.full((2, 2, 3), 200, np.uint8), 0.6), np.full((2, 2, 3), 120)
    )


# --------------------------------------------------------------- the operations themselves


def test_operations_follow_the_reference_definitions() -> None:
    x = texture(5, 64)
    # BW: grey 8x8 squares; under 256 px the count is the level's parameter
    y = block_wise(np.zeros((64, 64, 3), np.uint8), 3, seed=0)
    assert set(np.unique(y).tolist()) == {0, 128} and 64 < (y[..., 0] == 128).sum() <= 3 * 64
    big = block_wise(np.zeros((512, 600, 3), np.uint8), 1, seed=0)
    assert 64 < (big[..., 0] == 128).sum() <= 2 * 64  # min side 512 -> 2 blocks per unit
    # GNC: the reference's effective standard deviations in grey levels
    flat = np.full((256, 256, 3), 128, np.uint8)
    noisy = gaussian_noise_color(flat, 0.001, seed=0).astype(np.float64)
    luma = noisy @ np.array([0.299, 0.587, 0.114])
    assert abs(luma.std() - 255**2 * 0.001**0.5 / 219) < 0.3
    # GB: a k x k kernel of sigma k / 6, normalised (a constant image is a fixed point)
    assert np.array_equal(gaussian_blur_kernel(flat, 21), flat)
    impulse = np.zeros((31, 31, 3), np.uint8)
    impulse[15, 15] = 255
    spread = gaussian_blur_kernel(impulse, 7)[..., 0]
    assert spread[15, 12] > 0 and spread[15, 11] == 0  # radius (7 - 1) / 2
    # JPEG: down by the factor and up again; piecewise-constant blocks survive a factor 2
    blocks = np.kron(texture(1, 16), np.ones((2, 2, 1))).astype(np.uint8)
    assert np.array_equal(downsample_upsample(blocks, 1), blocks)
    assert downsample_upsample(x, 6).shape == x.shape
    assert downsample_upsample(np.zeros((4, 5, 3), np.uint8), 6).shape == (4, 5, 3)


def test_bad_arguments_name_what_was_expected() -> None:
    x = texture(0, 32)
    with pytest.raises(ValueError, match="level must be an int in \\[1, 5\\], got 6"):
        distort(x, "GB", 6)
    with pytest.raises(TypeError, match="level must be an int"):
        distort(x, "GB", 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be one of .*'FOG'"):
        distort(x, "FOG", 1)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        gaussian_blur_kernel(x, 8)
    with pytest.raises(ValueError, match="factor must be a number in \\[0.0, 1.0\\], got 1.5"):
        color_saturation(x, 1.5)
    with pytest.raises(ValueError, match="image must be an RGB uint8"):
        distort(x.astype(np.float32), "CS", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="crf must be an int in \\[0, 51\\]"):
        h264_round_trip([x], 60)
    with pytest.raises(ValueError, match="frames must hold at least one"):
        h264_round_trip([], 30)
    with pytest.raises(ValueError, match="levels apply to protocol='deeperforensics'"):
        robustness_perturbations("quick", levels=[1])
    with pytest.raises(ValueError, match="names must be among .* got 'jpeg'"):
        robustness_perturbations("deeperforensics", ["jpeg"])
    with pytest.raises(ValueError, match="protocol must be one of"):
        robustness_perturbations("celebdf")


# ------------------------------------------------------------------ video compression (VC)


def test_h264_round_trip_of_a_clip() -> None:
    clip = _clip()
    out = h264_round_trip(clip, 30)
    assert [o.shape for o in out] == [c.shape for c in clip] and out[0].dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(out, h264_round_trip(clip, 30)))
    assert _err(out[3], clip[3]) < 20  # the same picture, compressed
    # crops of different (odd) sizes in one clip come back at their own sizes
    mixed = [texture(1, 40)[:37, :33], texture(2, 50)[:45]]
    assert [o.shape for o in h264_round_trip(mixed, 35)] == [(37, 33, 3), (45, 50, 3)]
    errors = []
    for level in LEVELS:
        compressed = compress_crops(clip, level)
        errors.append(np.mean([_err(a, b) for a, b in zip(compressed, clip)]))
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.options = {"crf": "10", "threads": "1"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


def test_compress_video_reencodes_every_frame(tmp_path: Path) -> None:
    from freqforensics.data.video import probe_video, read_frames

    clip = _clip(frames=10)
    source = tmp_path / "clip.mp4"
    _write_video(source, clip)
    original = [f.image for f in read_frames(source, range(10))]
    errors = []
    for level in (1, 5):
        out = compress_video(source, level, tmp_path / f"vc{level}.mp4")
        info = probe_video(out)
        assert (info.num_frames, info.width, info.height, info.fps) == (10, 64, 64, 25.0)
        decoded = [f.image for f in read_frames(out, range(10))]
        errors.append(np.mean([_err(a, b) for a, b in zip(decoded, original)]))
    assert errors[0] < errors[1] < 25  # CRF 30 then 40, frame i still frame i
    again = reencode_h264(source, tmp_path / "again.mp4", 30)
    assert again.read_bytes() == (tmp_path / "vc1.mp4").read_bytes()  # deterministic
    with pytest.raises(ValueError, match="destination must differ"):
        reencode_h264(source, source, 30)


# ------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list:
    videos = {"r0": (0, "test"), "r1": (0, "test"), "f0": (1, "test"), "f1": (1, "test")}
    root = tmp_path_factory.mktemp("df")
    return load_rows(write_manifest(root, videos, frames=2, size=72), split="test")


def test_vc_frames_compress_each_video_as_one_clip(rows: list) -> None:
    from freqforensics.data.codecs import read_rgb

    data = PerturbedFrames(rows, 64, "VC", level=4)
    video = rows[0].video_id
    members = [i for i, r in enumerate(rows) if r.video_id == video]
    expected = compress_crops([read_rgb(rows[i].crop_path) for i in members], 4)
    assert np.array_equal(data._compressed(members[1]), expected[1])
    assert data[members[0]]["image"].shape == (3, 64, 64)
    with pytest.raises(ValueError, match="level \\(1 to 5\\) must be given"):
        PerturbedFrames(rows, 64, "GB")


def test_evaluate_deeperforensics_end_to_end(rows: list, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("sfcl_hcmf_cpu", **TINY).eval()
    result = evaluate_robustness(
        model, rows, protocol="deeperforensics", batch_size=8, seed=3, progress=True
    )
    assert result["protocol"] == "deeperforensics" and (result["frames"], result["videos"]) == (
        8,
        4,
    )
    assert list(result["perturbations"]) == list(TYPES)
    for kind, entries in result["perturbations"].items():
        assert [e["level"] for e in entries] == list(LEVELS)
        assert [e["strength"] for e in entries] == [float(p) for p in DEEPERFORENSICS_LEVELS[kind]]
    for level in ("frame", "video"):
        table = robustness_rows(result, level)
        assert len(table) == 36 and list(table)[:3] == ["clean", "CS 1", "CS 2"]
        assert list(table)[-1] == "VC 5"
        assert all(0 <= m["auc"] <= 1 for m in table.values())
    matrix = robustness_matrix(result, "video").splitlines()
    assert matrix[0].split() == ["type", "L1", "L2", "L3", "L4", "L5", "mean"]
    assert [line.split()[0] for line in matrix[1:]] == [*TYPES, "mean", "clean"]
    fig = plot_robustness(result, tmp_path / "df.png")
    assert (tmp_path / "df.png").read_bytes()[:4] == b"\x89PNG" and len(fig.axes) == 2
    # a selection, and the same numbers on a rerun
    subset = robustness_perturbations("deeperforensics", ["GNC", "BW"], [2])
    again = evaluate_robustness(
        model, rows, subset, batch_size=8, seed=3, protocol="deeperforensics"
    )
    assert again["perturbations"]["GNC"] == [result["perturbations"]["GNC"][1]]
    with pytest.raises(ValueError, match="for protocol='deeperforensics', got 'jpeg'"):
        evaluate_robustness(model, rows, {"jpeg": [90]}, protocol="deeperforensics")
    with pytest.raises(TypeError, match="level must be an int"):
        evaluate_robustness(model, rows, {"GB": [1.5]}, protocol="deeperforensics")
    with pytest.raises(ValueError, match="robustness_matrix|protocol='deeperforensics'"):
        robustness_matrix(evaluate_robustness(model, rows, {"blur": [1.0]}, batch_size=8))


def test_quick_mode_is_unchanged(rows: list) -> None:
    torch.manual_seed(0)
    model = create_model("sfcl_hcmf_cpu", **TINY).eval()
    assert robustness_perturbations() == {
        "jpeg": (90, 70, 50, 30),
        "blur": (0.5, 1.0, 2.0),
        "noise": (0.01, 0.03, 0.05),
        "resize": (0.75, 0.5, 0.25),
    }
    result = evaluate_robustness(model, rows, {"jpeg": [90, 30], "blur": [0.0]}, batch_size=8)
    assert result["protocol"] == "quick"
    assert [e["strength"] for e in result["perturbations"]["jpeg"]] == [90.0, 30.0]
    assert "level" not in result["perturbations"]["jpeg"][0]
    assert list(robustness_rows(result)) == ["clean", "jpeg 90", "jpeg 30", "blur 0"]
    assert result["perturbations"]["blur"][0]["metrics"] == result["clean"]
