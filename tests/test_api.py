"""The Python API of issue 10: registry, run configs, Detector and evaluate."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from toys import TINY, texture, write_manifest

import freqforensics
from freqforensics import Detector, create_model, evaluate, list_models
from freqforensics.config import (
    RunConfig,
    config_differences,
    load_config,
    save_config,
)
from freqforensics.data import prepare_crop
from freqforensics.models import SFCLHCMF, preset

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def tiny_model() -> SFCLHCMF:
    torch.manual_seed(0)
    return create_model("sfcl_hcmf_cpu", **TINY).eval()


# ---------------------------------------------------------------------------------- registry


def test_registry_lists_the_contract_names() -> None:
    assert {"sfcl_hcmf", "sfcl_hcmf_cpu"} <= set(list_models())
    assert list_models("*cpu") == ["sfcl_hcmf_cpu"]
    assert freqforensics.list_models is list_models


def test_create_model_defaults_and_pretrained_cfg(tiny_model: SFCLHCMF) -> None:
    assert tiny_model.config == preset("cpu", **TINY)
    cfg = tiny_model.pretrained_cfg
    assert cfg["input_size"] == (3, 64, 64)
    assert cfg["sida_from"] == "original_crop" and cfg["mean"] == (0.0, 0.0, 0.0)
    assert cfg["file"] is None


def test_create_model_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        create_model("sfcl_hcmf_xl")
    with pytest.raises(ValueError, match="not SFCLHCMFConfig fields"):
        create_model("sfcl_hcmf_cpu", image_size=64)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        create_model("sfcl_hcmf_cpu", pretrained=tmp_path / "absent.safetensors")
    with pytest.raises(TypeError, match="pretrained"):
        create_model("sfcl_hcmf_cpu", pretrained=1)  # type: ignore[arg-type]


def test_create_model_round_trips_through_checkpoints(
    tiny_model: SFCLHCMF, tmp_path: Path
) -> None:
    path = tiny_model.save_checkpoint(tmp_path / "tiny.safetensors")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = tiny_model(x)
        loaded = SFCLHCMF.from_checkpoint(path).eval()
        again = create_model("sfcl_hcmf_cpu", pretrained=path, **TINY).eval()
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(again(x), expected, rtol=0, atol=0)
    assert loaded.pretrained_cfg["input_size"] == (3, 64, 64)
    assert again.pretrained_cfg["file"] == str(path)
    # the weights of another model: the settings that differ are named
    with pytest.raises(ValueError, match=r"use_sida=True \(this model: False\)"):
        create_model("sfcl_hcmf_cpu", pretrained=path, **{**TINY, "use_sida": False})


# ----------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("recipe", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_recipe_loads_and_round_trips(recipe: str, tmp_path: Path) -> None:
    config = load_config(CONFIGS / recipe)
    assert isinstance(config, RunConfig)
    saved = save_config(config, tmp_path / "config.yaml")
    assert load_config(saved) == config
    readme = (CONFIGS.parent / "README.md").read_text()
    layout = readme[readme.index("configs/ "):].split("examples/")[0]
    assert Path(recipe).stem in layout, f"the README's layout does not list {recipe}"


def test_config_defaults_follow_the_model_name() -> None:
    paper = load_config(overrides=["model.name=sfcl_hcmf"])
    cpu = load_config(overrides=["model.name=sfcl_hcmf_cpu", "model.use_sida=false"])
    assert paper.model.model_config() == preset("paper")
    assert cpu.model.model_config() == preset("cpu", use_sida=False)


def test_config_overrides_are_typed_and_errors_name_the_key(tmp_path: Path) -> None:
    config = load_config(overrides=["train.lr=1e-4", "model.sbcm_channels=[4,8,8]"])
    assert config.train.lr == 1e-4 and config.model.sbcm_channels == (4, 8, 8)
    with pytest.raises(ValueError, match="train.lr"):
        load_config(overrides=["train.lr=fast"])
    with pytest.raises(ValueError, match="train.learning_rate"):
        load_config(overrides=["train.learning_rate=1"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(overrides=["lr"])
    assert load_config(overrides=["data.h264_crf=[30,35]"]).data.h264_crf == [30, 35]
    with pytest.raises(ValueError, match=r"data.h264_crf must be \[low, high\].*\[30, 60\]"):
        load_config(overrides=["data.h264_crf=[30,60]"])
    with pytest.raises(ValueError, match="data.h264_p must be in \\[0, 1\\], got 1.5"):
        load_config(overrides=["data.h264_p=1.5"])
    assert load_config(overrides=["data.quality_p=0.5"]).data.quality_p == 0.5
    assert load_config(overrides=["data.local_p=0.5"]).data.local_p == 0.5
    with pytest.raises(ValueError, match="data.local_p must be in \\[0, 1\\], got 2.0"):
        load_config(overrides=["data.local_p=2.0"])
    with pytest.raises(ValueError, match="data.quality_p must be in \\[0, 1\\], got -0.5"):
        load_config(overrides=["data.quality_p=-0.5"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_config(bad)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.scheduler=cosin", "train.scheduler must be 'cosine' or 'none', got 'cosin'"),
        ("train.batch_size=1", "train.batch_size must be at least 2"),
        ("train.epochs=-3", "train.epochs must be a positive int, got -3"),
        ("runtime.device=gpu", "runtime.device must be auto, cpu or cuda"),
        ("train.precise_bn=-1", "train.precise_bn must be an int >= 0"),
    ],
)
def test_train_settings_are_checked_before_the_data_is_built(
    override: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import freqforensics.training as training

    def never(config: object) -> None:
        raise AssertionError("the data was built before the settings were checked")

    monkeypatch.setattr(training, "build_data", never)
    config = load_config(CONFIGS / "cpu-demo.yaml", overrides=[override])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        training.train(config, tmp_path / "run")
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_config_differences_ignore_runtime_only_settings() -> None:
    a = load_config()
    b = load_config(overrides=["runtime.workers=4", "runtime.quiet=true", "train.epochs=40"])
    assert config_differences(a, b) == []
    c = load_config(overrides=["train.lr=0.01", "model.use_faae=false"])
    assert config_differences(a, c) == [
        "model.use_faae: True -> False",
        "train.lr: 0.001 -> 0.01",
    ]
    assert dataclasses.replace(a) == a


# ---------------------------------------------------------------------------------- Detector


def test_detector_scores_like_the_training_preprocessing(tiny_model: SFCLHCMF) -> None:
    crop = texture(3, 88)[:, :72]  # not square, not resized yet: SIDA from this size
    detector = Detector(tiny_model, device="cpu", detect=False)
    result = detector.predict_image(crop)
    image, vector = prepare_crop(crop, 64)
    with torch.no_grad():
        expected = torch.sigmoid(tiny_model(image[None], sida=vector[None]))[0].item()
    assert result.frames[0].status == "ok"
    assert result.fake_probability == pytest.approx(expected, abs=1e-6)
    resized = torch.nn.functional.interpolate(image[None], size=64)  # quickstart's model(x)
    with torch.no_grad():
        naive = torch.sigmoid(tiny_model(resized))[0].item()
    assert naive != pytest.approx(expected, abs=1e-6)  # SIDA of the resized image differs


def test_detector_folder_reports_and_skips_bad_files(
    tiny_model: SFCLHCMF, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Image.fromarray(texture(1, 64)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    Image.fromarray(texture(2, 64)).save(tmp_path / "c.png")
    result = Detector(tiny_model, device="cpu", detect=False).predict_folder(tmp_path)
    assert capsys.readouterr().err == ""  # no progress bar unless asked for
    import freqforensics.inference as inference

    bars: list[dict] = []

    def bar(items: Any, enabled: bool, **kwargs: Any) -> Any:
        bars.append({"enabled": enabled, **kwargs})
        return items

    monkeypatch.setattr(inference, "_progress", bar)
    again = Detector(tiny_model, device="cpu", detect=False, progress=True).predict_folder(
        tmp_path
    )
    assert again.to_dict() == result.to_dict()
    assert bars == [{"enabled": True, "desc": tmp_path.name, "unit": "image", "delay": 1.0}]
    assert [f.status for f in result.frames] == ["ok", "error", "ok"]
    assert result.frames[1].error and "b.png" in (result.frames[1].source or "")
    assert result.frames_with_face == 2 and len(result.errors) == 1
    assert result.to_dict()["frames_with_error"] == 1


def test_detector_rejects_bad_input_and_warns_on_0_255(tiny_model: SFCLHCMF) -> None:
    detector = Detector(tiny_model, device="cpu", detect=False)
    # the hint fits what is wrong
    for shape, hint in [
        ((64, 64), r"np.stack\(\[image\] \* 3, axis=-1\)"),
        ((3, 64, 64), r"image.transpose\(1, 2, 0\)"),
        ((64, 64, 4), r"image\[\.\.\., :3\]"),
        ((2, 64, 64, 3), "one RGB image"),
    ]:
        with pytest.raises(ValueError, match=r"image must be an RGB uint8 array.*; .*" + hint):
            detector.predict_image(np.zeros(shape, np.uint8))
    with pytest.raises(FileNotFoundError):
        detector.predict_image("/nonexistent/face.png")
    with pytest.warns(UserWarning, match="far outside"):
        detector.predict_image(np.full((64, 64, 3), 200.0, np.float32))
    with pytest.raises(ValueError, match="threshold"):
        Detector(tiny_model, threshold=2.0)
    # checked when the Detector is built, not at the first face detection
    with pytest.raises(ValueError, match="scale must be a finite positive number, got -1"):
        Detector(tiny_model, device="cpu", detect=False, scale=-1)
    with pytest.raises(ValueError, match="upsample must be 0 or 1, got 5"):
        Detector(tiny_model, device="cpu", upsample=5)


# ---------------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    videos = {"r0": (0, "test"), "r1": (0, "test"), "f0": (1, "test"), "f1": (1, "test")}
    return write_manifest(tmp_path_factory.mktemp("manifest"), videos)


def test_evaluate_tables_and_files(tiny_model: SFCLHCMF, manifest: Path, tmp_path: Path) -> None:
    result = evaluate(tiny_model, [manifest], by=("dataset", "method"))
    assert list(result.groups) == ["toy", "toy: Fake", "overall"]  # overall: always there
    toy = result.groups["toy"]
    assert toy["frame"]["n"] == 8 and toy["video"]["n"] == 4
    assert result.groups["overall"]["frame"] == toy["frame"]  # one manifest: the same frames
    assert "overall" not in result.table("frame")  # so the table does not repeat the row
    assert "AUC" in result.table("frame") and "videos" in result.table("video")
    assert len(result.predictions) == 8
    written = result.save(tmp_path)
    assert {p.name for p in written} == {"metrics.csv", "predictions.csv", "roc.png", "pr.png"}
    assert all(p.stat().st_size > 0 for p in written)
    same = evaluate(Detector(tiny_model, device="cpu"), manifest, by=("dataset",))
    assert same.groups["toy"]["frame"] == toy["frame"]
    overall = evaluate(tiny_model, manifest, by=())
    assert list(overall.groups) == ["overall"] and "overall" in overall.table("frame")
    with pytest.raises(ValueError, match="by must be"):
        evaluate(tiny_model, manifest, by=("speaker",))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"workers": -1}, ValueError, "workers must be >= 0, got -1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
        ({"device": "gpu"}, ValueError, "device must be auto, cpu or cuda"),
    ],
)
def test_evaluate_checks_its_arguments(
    tiny_model: SFCLHCMF, manifest: Path, kwargs: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        evaluate(tiny_model, manifest, **kwargs)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.grad_clip=-1", "train.grad_clip must be a finite number > 0 or None"),
        ("train.grad_clip=0", "train.grad_clip must be a finite number > 0 or None"),
        ("train.lr=.nan", "train.lr must be a finite number > 0, got nan"),
        ("train.weight_decay=-1", "train.weight_decay must be a finite number >= 0"),
        ("train.precise_bn=-1", "train.precise_bn must be an int >= 0"),
        ("runtime.threads=0", "runtime.threads must be an int >= 1 or null, got 0"),
        ("runtime.workers=-1", "runtime.workers must be an int >= 0, got -1"),
        ("data.train_samples=-5", "data.train_samples must be an even int >= 2"),
        ("data.real_repeat=0", "data.real_repeat must be an int >= 1"),
        ("model.drop_rate=2", "drop_rate must be a number in \\[0, 1\\), got 2"),
    ],
)
def test_settings_that_once_failed_late_are_refused_naming_the_key(
    override: str, message: str
) -> None:
    """Review 3: a negative grad_clip trained uphill, precise_bn=-1 wiped best.safetensors."""
    from freqforensics.training import check_train_settings

    with pytest.raises(ValueError, match=message):
        check_train_settings(load_config(CONFIGS / "cpu-demo.yaml", overrides=[override]))


def test_detector_refuses_nan_images_and_bad_arguments(tiny_model: SFCLHCMF) -> None:
    detector = Detector(tiny_model, device="cpu", detect=False)
    image = np.full((72, 72, 3), 0.5, np.float32)
    image[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="image holds 1 NaN or infinite values"):
        detector.predict_image(image)  # once scored as black, status ok
    for threshold in ("abc", None, "0.7", True):
        with pytest.raises(ValueError, match="threshold must be a number in \\[0, 1\\]"):
            Detector(tiny_model, device="cpu", threshold=threshold)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="paths must be a list of image files"):
        detector.predict_images("crops")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frames must be >= 1, got 0"):
        detector.predict_video("any.mp4", frames=0)
    with pytest.raises(ValueError, match="img_size must be an int >= 64, got '64'"):
        create_model("sfcl_hcmf_cpu", img_size="64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use_sida must be True or False, got 'no'"):
        create_model("sfcl_hcmf_cpu", use_sida="no")  # once truthy: the gate was on


def test_weights_saved_at_another_size_warn(tiny_model: SFCLHCMF, tmp_path: Path) -> None:
    checkpoint = tiny_model.save_checkpoint(tmp_path / "tiny.safetensors")
    other = {k: v for k, v in TINY.items() if k != "img_size"}
    with pytest.warns(UserWarning, match="img_size=64, this model takes 128"):
        create_model("sfcl_hcmf_cpu", pretrained=str(checkpoint), **other)
    create_model("sfcl_hcmf_cpu", pretrained=str(checkpoint), **TINY)  # the same size: silent


def test_evaluate_counts_each_manifest_apart(
    tiny_model: SFCLHCMF, manifest: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="names .*manifest.csv twice"):
        evaluate(tiny_model, [manifest, manifest.parent])  # once counted every frame twice
    with pytest.raises(TypeError, match="manifests must be a path or a list of paths, got 5"):
        evaluate(tiny_model, 5)  # type: ignore[arg-type]
    # A second manifest with the same dataset name and video ids: its videos stay apart.
    twin = write_manifest(tmp_path / "twin", {"r0": (0, "test"), "f0": (1, "test")})
    result = evaluate(tiny_model, [manifest, twin])
    assert result.groups["overall"]["video"]["n"] == 4 + 2
    assert result.groups["overall"]["frame"]["n"] == 8 + 4


def test_evaluate_names_videos_without_a_face_and_drops_stale_plots(
    tiny_model: SFCLHCMF, manifest: Path, tmp_path: Path
) -> None:
    import csv

    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    faceless = dict(rows[0], video_id="toy/Fake/f9", label="1", method="Fake", crop_path="",
                    status="no_face", x0="", y0="", x1="", y1="")
    copy = tmp_path / "toy" / "manifest.csv"
    shutil.copytree(manifest.parent, copy.parent)
    with copy.open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerow(faceless)
    result = evaluate(tiny_model, copy)
    assert result.without_face == {"toy": ["toy/Fake/f9"]}
    assert result.notes() == ["toy: 1 video(s) without a face crop left out of every metric: "
                              "toy/Fake/f9"]
    out = tmp_path / "out"
    assert {p.name for p in result.save(out)} >= {"roc.png", "pr.png"}
    reals = evaluate(tiny_model, copy, videos=["*/original/*"])  # one class: no curves
    reals.save(out)
    assert not (out / "roc.png").exists() and not (out / "pr.png").exists()


def test_evaluate_names_a_missing_manifest(tiny_model: SFCLHCMF, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"manifest not found: .*nope.*freqforensics "
                       "preprocess"):
        evaluate(tiny_model, tmp_path / "nope" / "manifest.csv")
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        evaluate(tiny_model, tmp_path)  # a folder without a manifest


def test_detector_equals_the_predict_command(
    tiny_model: SFCLHCMF, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``freqforensics predict`` prints what ``Detector.predict_*`` returns, frame by frame."""
    import json

    from freqforensics.cli import main

    checkpoint = tiny_model.save_checkpoint(tmp_path / "tiny.safetensors")
    folder = tmp_path / "crops"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(texture(10 + i, 72)).save(folder / f"{i}.png")
    detector = Detector.from_checkpoint(checkpoint, device="cpu", detect=False)
    for target, python in [(folder, detector.predict_folder(folder)),
                           (folder / "1.png", detector.predict_image(folder / "1.png"))]:
        capsys.readouterr()
        argv = ["predict", str(target), "--checkpoint", str(checkpoint), "--no-detect",
                "--json", "--device", "cpu"]
        assert main(argv) == 0
        printed = json.loads(capsys.readouterr().out)
        expected = python.to_dict()
        assert printed["frames"] == expected["frames"]
        assert printed["fake_probability"] == expected["fake_probability"]
        assert printed["label"] == expected["label"]


def test_detector_video_equals_the_predict_command(
    tiny_model: SFCLHCMF, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same on a real video: face tracking off, dlib per frame, 3 frames."""
    import json

    from needs import SHARED_DATA, need_path

    from freqforensics.cli import main

    video = need_path(SHARED_DATA / "ffpp-mini" / "original_sequences" / "youtube" / "c23" /
                      "videos" / "004.mp4", "FaceForensics++ sample video 004")
    checkpoint = tiny_model.save_checkpoint(tmp_path / "tiny.safetensors")
    python = Detector.from_checkpoint(checkpoint, device="cpu").predict_video(video, frames=3)
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--frames", "3",
                 "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames"] == python.to_dict()["frames"]
    assert printed["fake_probability"] == python.fake_probability
    assert python.frames_with_face == 3 and all(f.box is not None for f in python.frames)
