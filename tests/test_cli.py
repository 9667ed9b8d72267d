"""Tests of the ``freqforensics`` command line, the robustness perturbations and pseudo-fakes.

The fast tests build small manifests of synthetic crops in a temporary folder and a tiny
freshly saved checkpoint; the tests that need real faces read a frame of the FaceForensics++
sample in ``../shared/data`` and skip when it is absent. The end-to-end chain on the shared
samples (preprocess, train, evaluate, predict, robustness, explain) is in the slow suite.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from needs import need_path
from PIL import Image
from toys import TINY, one_line_error, texture, write_manifest

from freqforensics import SIDA
from freqforensics.cli import build_parser, main
from freqforensics.data import FrameDataset, load_manifest, prepare_crop
from freqforensics.data.pseudo import PseudoFakeDataset, central_box, make_pseudo_fake
from freqforensics.models import SFCLHCMF, preset
from freqforensics.robustness import (
    DEFAULT_STRENGTHS,
    PerturbedFrames,
    evaluate_robustness,
    gaussian_blur,
    gaussian_noise,
    jpeg_compress,
    perturb,
    resize_down_up,
    robustness_rows,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FFPP = DATA / "ffpp-mini"
VIDEO_004 = FFPP / "original_sequences" / "youtube" / "c23" / "videos" / "004.mp4"
VIDEO_982 = FFPP / "manipulated_sequences" / "NeuralTextures" / "c23" / "videos" / "004_982.mp4"
TINY_ARGS = ["--preset", "cpu", "--image-size", "64", "--embed-dim", "32", "--num-heads", "2"]
TINY_ARGS += ["--sbcm-channels", "4", "8", "8"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _need_data() -> None:
    need_path(VIDEO_004, "FaceForensics++ sample video 004")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = SFCLHCMF(preset("cpu", **TINY))
    return model.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    videos = {
        "r0": (0, "train"),
        "r1": (0, "train"),
        "f0": (1, "train"),
        "r2": (0, "test"),
        "r3": (0, "test"),
        "f1": (1, "test"),
        "f2": (1, "test"),
    }
    return write_manifest(tmp_path_factory.mktemp("manifest"), videos)


@pytest.fixture(scope="module")
def face_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frame 100 of FF++ 004 (a face) as PNG."""
    _need_data()
    from freqforensics.data import read_frames

    frame = next(iter(read_frames(VIDEO_004, [100])))
    path = tmp_path_factory.mktemp("face") / "004_000100.png"
    Image.fromarray(frame.image).save(path)
    return path


# ------------------------------------------------------------------------------- arguments

KEY_OPTIONS = {
    "preprocess": ["--dataset", "--root", "--out", "--methods", "--compression", "--splits",
                   "--frames", "--workers", "--upsample", "--scale", "--skip-missing"],
    "train": ["--manifest", "--out", "--preset", "--image-size", "--epochs", "--batch-size",
              "--lr", "--device", "--workers", "--max-steps-per-epoch", "--pseudo-fakes",
              "--no-sbcm", "--no-faae", "--no-hcma", "--no-sida", "--restart", "--seed",
              "--videos", "--train-split"],
    "evaluate": ["--checkpoint", "--manifest", "--split", "--json", "--batch-size", "--videos",
                 "--by-method"],
    "predict": ["INPUT", "--checkpoint", "--frames", "--json", "--no-detect"],
    "robustness": ["--checkpoint", "--manifest", "--split", "--out", "--perturbations",
                   "--max-frames"],
    "explain": ["IMAGE", "--checkpoint", "--out", "--no-detect", "--reference"],
}


@pytest.mark.parametrize("command", sorted(KEY_OPTIONS))
def test_help_of_every_subcommand(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for option in KEY_OPTIONS[command]:
        assert option in out, f"{command} --help does not mention {option}"
    assert "examples:" in out and f"freqforensics {command}" in out


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in KEY_OPTIONS:
        assert command in out
    assert main(["--version"]) == 0


def test_every_option_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, child in sub.choices.items():  # type: ignore[attr-defined]
        for action in child._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nosuch"],
        ["train"],
        ["train", "--manifest", "m.csv", "--out", "o", "--epochs", "0"],
        ["train", "--manifest", "m.csv", "--out", "o", "--preset", "gpu"],
        ["evaluate", "--manifest", "m.csv"],
        ["predict", "x.png", "--checkpoint", "c", "--frames", "-3"],
        ["robustness", "--checkpoint", "c", "--manifest", "m", "--out", "o",
         "--perturbations", "fog"],
        ["preprocess", "--dataset", "imagenet", "--root", ".", "--out", "o"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "error:" in err and "Traceback" not in err




def test_user_errors_exit_2(
    tmp_path: Path, checkpoint: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.safetensors"
    assert main(["evaluate", "--checkpoint", str(missing), "--manifest", str(manifest)]) == 2
    one_line_error(capsys, "checkpoint not found")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    assert main(["evaluate", "--checkpoint", str(garbage), "--manifest", str(manifest)]) == 2
    one_line_error(capsys, "cannot load checkpoint")
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    assert main([*argv, "--split", "val"]) == 2
    one_line_error(capsys, "no frames", "'val'")
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(tmp_path)]) == 2
    one_line_error(capsys, "manifest not found")
    assert main(["predict", str(tmp_path / "x.png"), "--checkpoint", str(checkpoint)]) == 2
    one_line_error(capsys, "INPUT not found")
    (tmp_path / "x.txt").write_text("hello")
    assert main(["predict", str(tmp_path / "x.txt"), "--checkpoint", str(checkpoint)]) == 2
    one_line_error(capsys, "must be an image", "x.txt")
    out = tmp_path / "run"
    argv = ["train", "--manifest", str(manifest), "--out", str(out), *TINY_ARGS]
    assert main([*argv, "--pseudo-fakes", "--batch-size", "3"]) == 2
    one_line_error(capsys, "batch_size (--batch-size) must be even")
    assert main([*argv, "--image-size", "32"]) == 2
    one_line_error(capsys, "img_size")


def test_corrupt_video_is_a_clear_error(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main(["predict", str(bad), "--checkpoint", str(checkpoint)]) == 2
    one_line_error(capsys, "cannot read video", "broken.mp4")


# ---------------------------------------------------------------------------------- predict


def test_predict_face_image_json(
    face_png: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(face_png), "--checkpoint", str(checkpoint), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["type"] == "image" and result["frames_with_face"] == 1
    frame = result["frames"][0]
    assert frame["status"] == "ok"
    x0, y0, x1, y1 = frame["box"]
    assert x0 % 8 == 0 and y0 % 8 == 0 and x1 % 8 == 0 and y1 % 8 == 0
    assert 0.0 <= frame["fake_probability"] <= 1.0
    assert result["fake_probability"] == frame["fake_probability"]
    assert result["label"] in ("real", "fake")


def test_predict_matches_the_dataset_path(
    face_png: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probability equals the model's on prepare_crop of the detected crop."""
    from freqforensics.data import FaceDetector, crop_face

    image = np.asarray(Image.open(face_png).convert("RGB"))
    box = FaceDetector()(image)
    assert box is not None
    x, d = prepare_crop(crop_face(image, box), 64)
    model = SFCLHCMF.from_checkpoint(checkpoint).eval()
    with torch.no_grad():
        expected = torch.sigmoid(model(x[None], sida=d[None]))[0].item()
    assert main(["predict", str(face_png), "--checkpoint", str(checkpoint), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["fake_probability"]
    assert got == pytest.approx(expected, abs=1e-6)


def test_predict_folder_reports_frames_without_a_face(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(texture(i, 80)).save(folder / f"{i}.png")
    no_face = main(["predict", str(folder), "--checkpoint", str(checkpoint), "--json"])
    assert no_face == 4  # EXIT_NO_FACE
    result = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in result["frames"]] == ["no_face", "no_face"]
    assert result["fake_probability"] is None and result["frames_without_face"] == 2
    assert main(["predict", str(folder), "--checkpoint", str(checkpoint), "--no-detect"]) == 0
    out = capsys.readouterr().out
    assert "0.png" in out and "mean over 2 frame(s)" in out


def test_predict_video_table(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_data()
    argv = ["predict", str(VIDEO_982), "--checkpoint", str(checkpoint), "--frames", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "video: fake probability" in out
    assert len([line for line in out.splitlines() if " ok " in line]) == 2


# ------------------------------------------------------------------- evaluate and robustness


def test_evaluate_writes_json(
    tmp_path: Path, checkpoint: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    assert main([*argv, "--json", str(out), "--by-method"]) == 0
    text = capsys.readouterr().out
    assert "frame level" in text and "video level" in text and "AUC" in text
    result = json.loads(out.read_text())
    toy = result["results"]["toy"]
    assert toy["frame"]["n"] == 8 and toy["video"]["n"] == 4  # 4 test videos x 2 frames
    assert 0 <= toy["frame"]["auc"] <= 1
    assert "toy: Fake" in result["results"] and "overall" in result
    assert len(result["predictions"]) == 8
    assert all(0 <= p["fake_probability"] <= 1 for p in result["predictions"])
    # the record names its command (quoted as a shell reads it), code and machine
    assert shlex.split(result["command"]) == ["freqforensics", *argv, "--json", str(out),
                                              "--by-method"]
    assert result["machine"]["git_commit"] and result["machine"]["date"]
    # the --videos filter: one real and one fake video
    assert main([*argv, "--videos", "r2", "f1", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["results"]["toy"]["video"]["n"] == 2


def test_robustness_command(
    tmp_path: Path, checkpoint: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["robustness", "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    argv += ["--out", str(tmp_path), "--perturbations", "jpeg", "noise", "--max-frames", "6"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "clean" in text and "jpeg 30" in text and "noise 0.05" in text
    result = json.loads((tmp_path / "robustness.json").read_text())
    assert result["frames"] == 6
    assert [e["strength"] for e in result["perturbations"]["jpeg"]] == [90, 70, 50, 30]
    assert set(result["perturbations"]) == {"jpeg", "noise"}
    assert (tmp_path / "robustness.png").read_bytes()[:4] == b"\x89PNG"


def test_perturbed_frames_clean_equal_frame_dataset(manifest: Path) -> None:
    data = FrameDataset(manifest, "test", image_size=64, augment=False, real_repeat=1)
    clean = PerturbedFrames(data.rows, 64)
    for i in range(len(data)):
        a, b = data[i], clean[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["sida"], b["sida"])
        assert a["video_id"] == b["video_id"] and float(a["label"]) == float(b["label"])


def test_evaluate_robustness_api(checkpoint: Path, manifest: Path) -> None:
    model = SFCLHCMF.from_checkpoint(checkpoint).eval()
    rows = FrameDataset(manifest, "test", image_size=64).rows
    result = evaluate_robustness(model, rows, {"blur": [0.0, 2.0]}, max_frames=4, seed=1)
    assert result["frames"] == 4
    clean = result["clean"]["frame"]["auc"]
    # sigma 0 is the identity: the same metrics as the clean run
    assert result["perturbations"]["blur"][0]["metrics"]["frame"]["auc"] == clean
    table = robustness_rows(result, "video")
    assert list(table) == ["clean", "blur 0", "blur 2"]
    with pytest.raises(ValueError, match="perturbations"):
        evaluate_robustness(model, rows, {"fog": [1.0]})
    with pytest.raises(ValueError, match="quality"):
        evaluate_robustness(model, rows, {"jpeg": [0]})
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        evaluate_robustness(model, rows, {"jpeg": [90]}, batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be >= 0, got -1"):
        evaluate_robustness(model, rows, {"jpeg": [90]}, num_workers=-1)
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        evaluate_robustness(model, rows, {"jpeg": [90]}, device="gpu")


# ---------------------------------------------------------------------------- perturbations


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_perturbations_keep_shape_dtype_and_are_deterministic() -> None:
    image = texture(3, 72)
    for name, strengths in DEFAULT_STRENGTHS.items():
        for s in strengths:
            out = perturb(image, name, s, seed=5)
            assert out.shape == image.shape and out.dtype == np.uint8
            assert np.array_equal(out, perturb(image, name, s, seed=5))
            assert not np.array_equal(out, image), (name, s)
    assert np.array_equal(image, texture(3, 72))  # the input is never modified


def test_jpeg_lower_quality_larger_error() -> None:
    image = texture(4, 128)
    errors = [_err(jpeg_compress(image, q), image) for q in (95, 90, 70, 50, 30, 10)]
    assert errors == sorted(errors) and errors[-1] > 1.5 * errors[0]


def test_blur_identity_and_smoothing() -> None:
    image = texture(5, 64)
    assert np.array_equal(gaussian_blur(image, 0), image)
    grads = [np.abs(np.diff(gaussian_blur(image, s).astype(float), axis=1)).mean()
             for s in (0, 0.5, 1, 2)]
    assert grads == sorted(grads, reverse=True)
    flat = np.full((16, 16, 3), 77, np.uint8)
    assert np.array_equal(gaussian_blur(flat, 2), flat)  # a constant stays constant


def test_noise_seeded_and_scaled() -> None:
    grey = np.full((128, 128, 3), 128, np.uint8)
    assert np.array_equal(gaussian_noise(grey, 0), grey)
    a, b = gaussian_noise(grey, 0.03, seed=1), gaussian_noise(grey, 0.03, seed=2)
    assert not np.array_equal(a, b)
    for std in (0.01, 0.03, 0.05):
        measured = (gaussian_noise(grey, std, seed=0).astype(float) - 128).std()
        assert measured == pytest.approx(255 * std, rel=0.05)


def test_resize_identity_and_stronger_is_worse() -> None:
    image = texture(6, 96)
    assert np.array_equal(resize_down_up(image, 1.0), image)
    errors = [_err(resize_down_up(image, s), image) for s in (0.75, 0.5, 0.25)]
    assert errors == sorted(errors)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: jpeg_compress(x, 0), "quality"),
        (lambda x: jpeg_compress(x, 50.5), "quality"),
        (lambda x: gaussian_blur(x, -1), "sigma"),
        (lambda x: gaussian_noise(x, 2.0), "std"),
        (lambda x: resize_down_up(x, 0), "scale"),
        (lambda x: perturb(x, "fog", 1), "name"),
        (lambda x: jpeg_compress(x.astype(np.float32), 50), "uint8"),
    ],
)
def test_perturbations_reject_bad_input(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call(texture(0, 32))


# ----------------------------------------------------------------------------- pseudo-fakes


@pytest.fixture(scope="module")
def pseudo_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    videos = {"a": (0, "train"), "b": (0, "train"), "c": (1, "train"), "d": (0, "val")}
    return write_manifest(tmp_path_factory.mktemp("pseudo"), videos, frames=2, size=120)


def test_pseudo_fakes_pairs_and_labels(pseudo_manifest: Path) -> None:
    ds = PseudoFakeDataset(pseudo_manifest, "train", image_size=64, seed=0)
    assert len(ds) == 8  # 2 real videos x 2 frames, each with its fake; the fake video unused
    assert ds.labels == [0, 1] * 4
    items = [ds[i] for i in range(len(ds))]
    for k in range(4):
        real, fake = items[2 * k], items[2 * k + 1]
        assert float(real["label"]) == 0.0 and float(fake["label"]) == 1.0
        assert fake["video_id"] == real["video_id"] + "#sbi"
        assert "/original/" in real["video_id"]
        assert fake["frame_index"] == real["frame_index"]
        assert real["image"].shape == (3, 64, 64) and real["sida"].shape == (2304,)
        assert real["image"].dtype == torch.float32 and fake["sida"].dtype == torch.float32
        assert not torch.equal(real["sida"], fake["sida"])
    assert {i["video_id"] for i in items} == {
        "toy/original/a", "toy/original/a#sbi", "toy/original/b", "toy/original/b#sbi"
    }


def test_pseudo_fakes_deterministic_and_fresh_per_epoch(pseudo_manifest: Path) -> None:
    a = PseudoFakeDataset(pseudo_manifest, "train", image_size=64, seed=3)
    b = PseudoFakeDataset(pseudo_manifest, "train", image_size=64, seed=3)
    c = PseudoFakeDataset(pseudo_manifest, "train", image_size=64, seed=4)
    first = a[1]
    assert torch.equal(first["image"], b[1]["image"])
    assert torch.equal(first["sida"], b[1]["sida"])
    assert not torch.equal(first["sida"], c[1]["sida"])
    a.set_epoch(1)
    assert not torch.equal(first["sida"], a[1]["sida"])
    a.set_epoch(0)
    assert torch.equal(first["image"], a[1]["image"])
    frozen = PseudoFakeDataset(
        pseudo_manifest, "train", image_size=64, seed=3, fresh_every_epoch=False
    )
    frozen.set_epoch(5)
    assert torch.equal(frozen[1]["sida"], first["sida"])


def test_pseudo_fake_mask_inside_central_area(pseudo_manifest: Path) -> None:
    ds = PseudoFakeDataset(pseudo_manifest, "train", image_size=64, seed=0, augment=False)
    sida = SIDA()
    for k in range(len(ds) // 2):
        real, fake, mask = ds.pair(k)
        y0, x0, y1, x1 = central_box(*real.shape[:2], 0.7)
        outside = np.ones(mask.shape, bool)
        outside[y0:y1, x0:x1] = False
        assert mask[outside].max() == 0 and mask.max() > 0.3
        assert np.array_equal(fake[outside], real[outside])
        assert not np.array_equal(fake, real)
        # the item's SIDA is that of the blended crop at its original resolution
        expected = sida(torch.from_numpy(fake.copy()).permute(2, 0, 1)[None].float() / 255)[0]
        assert torch.allclose(ds[2 * k + 1]["sida"], expected)
        assert real.shape == (120, 120, 3)


def test_make_pseudo_fake_fades_to_zero_and_rejects_bad_input() -> None:
    crop = texture(9, 160)
    fake, mask = make_pseudo_fake(crop, np.random.default_rng(0), central=0.7)
    y0, x0, y1, x1 = central_box(160, 160, 0.7)
    assert mask[y0, :].max() < 0.05 and mask[:, x1 - 1].max() < 0.05  # no seam at the edge
    assert fake.dtype == np.uint8 and fake.shape == crop.shape
    with pytest.raises(ValueError, match="central region"):
        make_pseudo_fake(texture(0, 20), np.random.default_rng(0))
    with pytest.raises(ValueError, match="central"):
        make_pseudo_fake(crop, np.random.default_rng(0), central=1.5)


def test_pseudo_fakes_need_real_frames(pseudo_manifest: Path) -> None:
    with pytest.raises(ValueError, match="real frames"):
        PseudoFakeDataset(pseudo_manifest, "test", image_size=64)
    only = PseudoFakeDataset(pseudo_manifest, None, image_size=64, videos=["d"])
    assert len(only) == 4 and {r.split for r in only.rows} == {"val"}


def test_train_pseudo_fakes_tiny(
    tmp_path: Path, pseudo_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--manifest", str(pseudo_manifest), "--out", str(out), *TINY_ARGS]
    argv += ["--pseudo-fakes", "--epochs", "1", "--batch-size", "4", "--max-steps-per-epoch",
             "1", "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 real frames of 2 videos" in text
    # the val split holds one real video: validated against its fixed pseudo-fakes
    assert "val: 2 frames of 1 videos + their fixed pseudo-fakes" in text
    assert "val frame AUC" in text
    assert (out / "best.safetensors").is_file() and (out / "last.safetensors").is_file()
    assert SFCLHCMF.from_checkpoint(out / "best.safetensors").config.img_size == 64
    # a different model in the same --out is refused unless --restart
    assert main([*argv, "--embed-dim", "16"]) == 2
    one_line_error(capsys, "model.embed_dim (--embed-dim): 32 -> 16")


# ------------------------------------------------------------------------------------ explain


def test_explain_writes_figures(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    face, ref = tmp_path / "face.png", tmp_path / "ref.png"
    Image.fromarray(texture(1, 96)).save(face)
    Image.fromarray(texture(2, 104)).save(ref)
    argv = ["explain", str(face), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x")]
    assert main([*argv, "--no-detect"]) == 0
    text = capsys.readouterr().out
    assert "fake probability" in text and "--reference" in text
    assert {p.name for p in (tmp_path / "x").iterdir()} == {
        "band_energy.png", "attention_overlay.png"
    }
    assert main([*argv, "--no-detect", "--reference", str(ref)]) == 0
    assert (tmp_path / "x" / "sida_statistics.png").is_file()
    capsys.readouterr()
    assert main(argv) == 2  # a texture has no face
    one_line_error(capsys, "no face found", "--no-detect")


# ------------------------------------------------------------------ end to end (slow suite)


@pytest.mark.slow
def test_end_to_end_on_the_shared_samples(
    tmp_path: Path, face_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_data()
    crops = tmp_path / "crops"
    pre = ["preprocess", "--dataset", "ffpp", "--root", str(FFPP), "--out", str(crops)]
    pre += ["--frames", "2", "--workers", "1", "--skip-missing", "--quiet"]
    assert main(pre) == 0
    text = capsys.readouterr().out
    assert "7 listed, 7 done now" in text and "14 ok" in text
    manifest = crops / "ffpp" / "manifest.csv"
    assert len(load_manifest(manifest, status="ok")) == 14
    assert main(pre) == 0  # resumed: nothing to redo
    assert "0 done now, 7 already done" in capsys.readouterr().out

    run = tmp_path / "run"
    train = ["train", "--manifest", str(manifest), "--out", str(run), *TINY_ARGS]
    train += ["--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "4", "--quiet"]
    assert main(train) == 0
    text = capsys.readouterr().out
    assert "val: 4 frames of 2 videos" in text and "best checkpoint" in text
    ckpt = run / "best.safetensors"

    report = tmp_path / "eval.json"
    evaluate = ["evaluate", "--checkpoint", str(ckpt), "--manifest", str(manifest)]
    assert main([*evaluate, "--split", "all", "--by-method", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["results"]["ffpp"]["frame"]["n"] == 14
    assert result["results"]["ffpp"]["video"]["n"] == 7
    assert "ffpp: NeuralTextures" in result["results"]
    capsys.readouterr()

    assert main(["predict", str(VIDEO_004), "--checkpoint", str(ckpt), "--frames", "2",
                 "--json"]) == 0
    video = json.loads(capsys.readouterr().out)
    assert video["frames_with_face"] == 2 and 0 <= video["fake_probability"] <= 1

    pseudo = ["train", "--manifest", str(manifest), "--out", str(tmp_path / "sbi"), *TINY_ARGS]
    pseudo += ["--pseudo-fakes", "--train-split", "all", "--videos", "519", "634", "--no-val",
               "--epochs", "1", "--batch-size", "4", "--max-steps-per-epoch", "1", "--quiet"]
    assert main(pseudo) == 0
    assert "4 real frames of 2 videos" in capsys.readouterr().out

    rob = ["robustness", "--checkpoint", str(ckpt), "--manifest", str(manifest), "--split",
           "all", "--out", str(tmp_path / "rob"), "--perturbations", "resize"]
    assert main(rob) == 0
    assert (tmp_path / "rob" / "robustness.png").is_file()

    exp = ["explain", str(face_png), "--checkpoint", str(ckpt), "--out", str(tmp_path / "exp"),
           "--reference", str(face_png)]
    assert main(exp) == 0
    assert (tmp_path / "exp" / "sida_statistics.png").is_file()


def test_attention_maps_from_intermediates() -> None:
    from freqforensics.viz import attention_maps

    attn = torch.softmax(torch.rand(2, 16, 16), dim=-1)
    tokens, gate = torch.rand(2, 6, 8), torch.rand(2, 8)
    out = {"faae_attention": attn, "hcma_tokens": tokens, "gate": gate}
    out["spatial_map"] = torch.rand(2, 5, 2, 3)
    maps = attention_maps(out, index=1)
    faae = maps["FAAE: attention received"]
    assert faae.shape == (4, 4) and torch.allclose(faae.flatten(), attn[1].mean(0))
    hcma = maps["HCMA: gated token contribution"]
    assert hcma.shape == (2, 3)
    assert torch.allclose(hcma.flatten(), (tokens[1] * gate[1]).norm(dim=-1))
    assert list(attention_maps({"spatial_map": out["spatial_map"]})) == []


def _help_examples(epilog: str) -> list[str]:
    """The command lines of a ``--help`` epilog, continuation lines joined."""
    commands, current = [], ""
    for line in epilog.splitlines():
        text = line.strip()
        if not current and not text.startswith("freqforensics "):
            continue
        current += " " + text.removesuffix("\\")
        if not text.endswith("\\"):
            commands.append(current.strip())
            current = ""
    assert not current, f"an example ends in a continuation: {current}"
    return commands


def test_every_help_example_parses() -> None:
    """Each example of each ``freqforensics <command> --help`` is one valid command line, as a
    user would paste it (a lone backslash in the epilog once ran two examples together)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(getattr(a, "choices", None), dict))
    examples = {name: _help_examples(p.epilog or "") for name, p in sub.choices.items()}
    assert all(examples.values()), [name for name, found in examples.items() if not found]
    for name, lines in examples.items():
        for line in lines:
            try:
                parser.parse_args(shlex.split(line)[1:])
            except SystemExit:
                pytest.fail(f"the example of '{name} --help' does not parse: {line}")


def test_robustness_resumes_at_its_next_pass(
    checkpoint: Path, manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted run keeps its finished passes; the rerun computes only the rest and
    gives the same result as an uninterrupted one. Other settings start over."""
    from freqforensics.engine import evaluation

    model = SFCLHCMF.from_checkpoint(checkpoint).eval()
    rows = FrameDataset(manifest, "test", image_size=64).rows
    plan = {"blur": [1.0, 2.0], "noise": [0.05]}
    whole = evaluate_robustness(model, rows, plan, max_frames=4, seed=1)
    predict, calls = evaluation.predict, []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return predict(*args, **kwargs)

    monkeypatch.setattr(evaluation, "predict", counted)  # imported when evaluate_robustness runs
    folder, interrupt_at = tmp_path / "passes", 3  # clean and blur 1 finish, blur 2 does not
    with pytest.raises(KeyboardInterrupt):
        evaluate_robustness(model, rows, plan, max_frames=4, seed=1, resume_dir=folder)
    assert len(list(folder.glob("pass-*.json"))) == 2
    calls.clear()
    interrupt_at = 0
    resumed = evaluate_robustness(model, rows, plan, max_frames=4, seed=1, resume_dir=folder)
    assert len(calls) == 2  # blur 2 and noise 0.05 only
    assert json.dumps(resumed, sort_keys=True) == json.dumps(whole, sort_keys=True)
    calls.clear()
    evaluate_robustness(model, rows, plan, max_frames=4, seed=2, resume_dir=folder)
    assert len(calls) == 4  # another seed: every pass again
