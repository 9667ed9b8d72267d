"""Every script in ``examples/`` runs in a smoke mode (imported from its file: not a package)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from needs import need_module, need_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


pytestmark = pytest.mark.usefixtures("one_thread")


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"freqforensics_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def test_every_example_is_tested() -> None:
    tested = {
        "frequency_tour",
        "use_layers_in_your_detector",
        "train_sfcl_hcmf",
        "forensic_figures",
        "real_faces",
        "real_faces_ensemble",
        "real_faces_overview",
        "seen_reals",
        "video_detail",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_frequency_tour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_module("matplotlib")
    need_module("skimage")
    tour = load_example("frequency_tour")
    out = tmp_path / "t.png"
    groups = tour.main(["--out", str(out)])
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(groups) == {"DC", "low 1-9", "mid 10-35", "high 36-63"}
    assert sum(groups.values()) == pytest.approx(1.0, abs=1e-4)
    assert groups["DC"] > groups["high 36-63"]  # a photograph: energy sits at low frequencies
    printed = capsys.readouterr().out
    assert "wrote" in printed and printed.count("%") >= 64


def test_frequency_tour_on_a_file(tmp_path: Path) -> None:
    need_module("matplotlib")
    from PIL import Image

    tour = load_example("frequency_tour")
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(72, 96, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(noise).save(tmp_path / "noise.png")
    groups = tour.main([str(tmp_path / "noise.png"), "--out", str(tmp_path / "n.png")])
    assert (tmp_path / "n.png").is_file()
    assert groups["high 36-63"] > groups["DC"] * 0.01  # white noise: flat spectrum


def test_use_layers_in_your_detector() -> None:
    demo = load_example("use_layers_in_your_detector")
    losses = demo.main(["--steps", "2", "--size", "64", "--batch", "4"])
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    model = demo.FrequencyAwareResNet().eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 96, 96)).shape == (2,)


def test_train_sfcl_hcmf_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_module("matplotlib")
    need_module("skimage")
    demo = load_example("train_sfcl_hcmf")
    out = tmp_path / "demo"
    summary = demo.main(["--preset", "smoke", "--out", str(out), "--quiet"])
    for name in (
        "best.safetensors",
        "metrics.csv",
        "roc.png",
        "figure7_sida.png",
        "results.json",
        "last.safetensors",
    ):
        assert (out / name).is_file(), name
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1]  # the smoke preset trains one epoch
    results = json.loads((out / "results.json").read_text())
    assert results["preset"] == "smoke"
    full = results["results"]["full"]
    for level in ("frame", "video"):
        auc = full["test"][level]["auc"]
        assert math.isfinite(auc) and 0.0 <= auc <= 1.0
    assert full["best_epoch"] == 1 and math.isfinite(full["best_val_auc"])
    assert full["config"]["img_size"] == 64 and full["parameters"] > 0
    assert summary["results"]["full"]["test"] == full["test"]
    printed = capsys.readouterr().out
    assert "AUC" in printed and "wrote" in printed

    # the same --out again: the run is complete, so it resumes to the end and retrains nothing
    again = demo.main(["--preset", "smoke", "--out", str(out), "--quiet"])
    assert again["results"]["full"]["test"] == full["test"]
    with open(out / "metrics.csv", newline="") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1]


def test_forensic_figures(tmp_path: Path) -> None:
    """Figures 1 and 7 on two FaceForensics++ frames, and the attention overlay of a model."""
    need_module("matplotlib")
    need_module("av")
    need_module("dlib")
    figures = load_example("forensic_figures")
    need_path(figures.DEFAULT_DATA / "original_sequences", "FaceForensics++ sample videos")
    from freqforensics.models import SFCLHCMF, preset

    torch.manual_seed(0)
    model = SFCLHCMF(preset("cpu", img_size=64, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8)))
    checkpoint = model.save_checkpoint(tmp_path / "tiny.safetensors")
    out = tmp_path / "figures"
    written = figures.main(["--frames", "2", "--out", str(out), "--checkpoint", str(checkpoint)])
    names = {
        "fig1_dct_energy.png",
        "fig7_sida_mean.png",
        "fig7_sida_std.png",
        "attention_overlay.png",
    }
    assert {p.name for p in written} == names
    for path in written:
        assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


def test_real_faces_ablation_variants_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    real_faces = load_example("real_faces")
    assert list(real_faces.ABLATIONS)[0] == real_faces.RECIPE_VARIANT  # runs first, ROC's folds
    with pytest.raises(SystemExit):
        real_faces.main(["--ablation", "--variants", "no such variant"])
    assert "invalid choice: 'no such variant'" in capsys.readouterr().err


#: A model and schedule small enough for the real-faces runner's tests (``--set`` values).
TINY_REAL_FACES = ["model.img_size=64", "model.embed_dim=32", "model.num_heads=2",
                   "model.sbcm_channels=[4,8,8]", "train.epochs=1",
                   "train.max_steps_per_epoch=1", "train.batch_size=4"]


def run_real_faces_sliver(argv: list[str], settings: list[str]) -> dict[str, Any]:
    """``examples/real_faces.py`` on one fold of a sliver of the shared data (8 photos, 2 pool
    and 2 test frames), the tiny model and ``settings``; skips without the data or its tools."""
    need_module("av")
    need_module("dlib")
    need_module("matplotlib")
    real_faces = load_example("real_faces")
    need_path(real_faces.DATA / "faces-real", "real face photographs")
    need_path(real_faces.DATA / "ffpp-mini", "FaceForensics++ sample videos")
    sliver = ["--folds", "634", "--faces-limit", "8", "--pool-frames", "2", "--test-frames", "2",
              "--quiet"]
    sets = [a for s in [*TINY_REAL_FACES, *settings] for a in ("--set", s)]
    summary: dict[str, Any] = real_faces.main([*argv, *sliver, *sets])
    return summary


@pytest.mark.slow
def test_real_faces_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The leave-one-video-out runner end to end on a sliver of the shared data (one fold)."""
    summary = run_real_faces_sliver(["--out", str(tmp_path / "rf"), "--no-final"],
                                    ["data.h264_p=0.5", "data.quality_p=0.25"])
    ffpp = summary["results"]["ffpp-mini"]
    assert [f["fold"] for f in ffpp["folds"]] == ["fold-634"]
    assert ffpp["folds"][0]["test_videos"] == ["634", "634_660", "750_743"]
    assert set(ffpp["by_method"]) == {"FaceSwap", "Face2Face"}
    auc = ffpp["frame"]["auc"]
    assert auc is None or 0.0 <= auc <= 1.0
    assert summary["results"]["dfdc-mini"]["folds"][0]["frames"] > 0
    saved = json.loads((tmp_path / "rf" / "results.json").read_text())
    assert saved["results"]["ffpp-mini"]["frame"] == ffpp["frame"] and saved["commit"]
    assert (tmp_path / "rf" / "roc.png").is_file()
    # the training pool: the two other originals' real frames, pseudo-fakes only
    from freqforensics.config import load_config

    config = load_config(tmp_path / "rf" / "fold-634" / "config.yaml")
    assert config.data.real_pool_videos == ["004", "519"] and config.data.pseudo_fakes
    # the H.264 step (set here) reaches both training pools (photos and video frames)
    from freqforensics.training import build_data

    assert config.data.h264_p == 0.5 and config.data.h264_crf == [18, 40]
    parts = build_data(config).train.parts
    assert [(p.h264_p, p.quality_p) for p in parts] == [(0.5, 0.25), (0.5, 0.25)]
    # the codec check scores the training originals' real frames only
    (fold,) = summary["folds"]
    assert set(fold["codec_sensitivity"]) == {"004", "519"}
    for row in fold["codec_sensitivity"].values():
        assert list(row) == ["as is", "h264 crf 23", "h264 crf 32", "h264 crf 40",
                             "soften 50 %", "soften 35 %", "sharpen 100 %"]
        assert all(0.0 <= v <= 1.0 for v in row.values())
    # seen_reals scores the fold's model again: its own original as the fold's test did
    seen = load_example("seen_reals")
    assert seen.main([str(tmp_path / "rf"), "--out", str(tmp_path / "seen.json")]) == 0
    record = json.loads((tmp_path / "seen.json").read_text())
    assert record["models_commit"] == saved["commit"]
    entry = record["models"]["fold-634"]
    assert entry["seen_originals"] == ["004", "519"]
    swap = fold["groups"]["ffpp: FaceSwap"]["frame"]["auc"]
    assert math.isclose(entry["frame_auc_fake_vs_original"]["634_660"]["634"], 100 * swap,
                        abs_tol=1e-9)


def test_seen_reals_refuses_an_unfinished_run(tmp_path: Path) -> None:
    seen = load_example("seen_reals")
    with pytest.raises(SystemExit):
        seen.main([str(tmp_path)])


@pytest.mark.slow
def test_real_faces_ablation_subset(tmp_path: Path) -> None:
    """``--ablation --variants`` trains only the variants named, and the results file holds
    exactly those (here one, without the recipe)."""
    out = tmp_path / "abl"
    summary = run_real_faces_sliver(
        ["--out", str(out), "--ablation", "--variants", "ellipse blend"], [])
    assert list(summary["results"]["ablation"]) == ["ellipse blend"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["crops", "ellipse_blend"]
    from freqforensics.config import load_config

    config = load_config(out / "ellipse_blend" / "fold-634" / "config.yaml")
    assert config.data.pseudo_method == "ellipse"
    saved = json.loads((out / "results_ablation.json").read_text())
    assert [f["fold"] for f in saved["folds"]] == ["fold-634"]


def _fold_run(fold: str, probs: list[float]) -> dict[str, Any]:
    """A results file of ``examples/real_faces.py`` with one fold: frames of a real video (the
    first two probabilities) and of two fakes (one frame each)."""
    videos = [("orig", 0, "original"), ("orig", 0, "original"), ("a", 1, "Deepfakes"),
              ("b", 1, "Face2Face")]
    predictions = [{"dataset": "ffpp", "video_id": v, "frame_index": i, "label": label,
                    "method": method, "fake_probability": p}
                   for i, ((v, label, method), p) in enumerate(zip(videos, probs))]
    return {"commit": "abc1234", "folds": [{"fold": fold, "predictions": predictions}]}


def test_real_faces_ensemble_averages_the_members(tmp_path: Path) -> None:
    ens = load_example("real_faces_ensemble")
    # member 1 ranks the Face2Face frame below both reals, member 2 ranks Deepfakes below them;
    # their mean ranks both fakes above both reals
    runs = {"one": _fold_run("fold-x", [0.1, 0.2, 0.9, 0.05]),
            "two": _fold_run("fold-x", [0.1, 0.2, 0.05, 0.9])}
    scored = ens.ensemble(runs)
    (fold,) = scored["folds"]
    assert fold["members"]["one"]["all"]["frame"]["auc"] == pytest.approx(0.5)
    assert fold["members"]["one"]["Deepfakes"]["frame"]["auc"] == 1.0
    assert fold["members"]["one"]["Face2Face"]["frame"]["auc"] == 0.0
    assert fold["ensemble"]["all"]["frame"]["auc"] == 1.0
    assert scored["mean_over_folds"]["ensemble"]["Face2Face"]["frame"] == 1.0
    assert scored["mean_over_folds"]["two"]["all"]["frame"] == pytest.approx(0.5)
    need_module("matplotlib")
    fig = ens.plot(runs, tmp_path / "videos.png")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["x: orig (real)", "x: a (fake)", "x: b (fake)"]  # the real first
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["one", "two",
                                                                            "ensemble"]
    assert (tmp_path / "videos.png").is_file()


def test_real_faces_ensemble_refuses_runs_that_do_not_match() -> None:
    ens = load_example("real_faces_ensemble")
    one = _fold_run("fold-x", [0.1, 0.2, 0.9, 0.05])
    with pytest.raises(ValueError, match="at least 2 results files, got 1"):
        ens.ensemble({"one": one})
    with pytest.raises(ValueError, match="two: fold 'fold-x' does not hold the test frames"):
        ens.ensemble({"one": one, "two": _fold_run("fold-y", [0.1, 0.2, 0.9, 0.05])})
    with pytest.raises(ValueError, match="two: expected the 'folds' of examples/real_faces.py"):
        ens.ensemble({"one": one, "two": {"results": {}}})


@pytest.mark.parametrize(
    "name", ["real_faces_seed_ensemble.json", "real_faces_quality_seed_ensemble.json"]
)
def test_real_faces_ensemble_rebuilds_the_recorded_file(name: str) -> None:
    """Each committed seed-ensemble file is what the script computes from the committed runs,
    and its members score exactly as their own runs recorded."""
    ens = load_example("real_faces_ensemble")
    results = EXAMPLES.parent / "docs" / "results"
    recorded = json.loads((results / name).read_text())
    runs = {p: json.loads((EXAMPLES.parent / p).read_text()) for p in recorded["members"]}
    scored = ens.ensemble(runs)
    assert scored["mean_over_folds"] == recorded["mean_over_folds"]
    for path, run in runs.items():
        own = run["results"]["ffpp-mini"]
        assert scored["mean_over_folds"][path]["all"]["frame"] == pytest.approx(own["frame"]["auc"])


def _three_folds(aucs: list[float]) -> dict[str, Any]:
    folds = [{"fold": f, "frame": {"auc": a}} for f, a in zip(("fold-634", "fold-004",
                                                               "fold-519"), aucs)]
    return {"ffpp-mini": {"folds": folds}}


def test_real_faces_overview_reads_runs_and_variants(tmp_path: Path) -> None:
    """Fold AUCs in fold order (whatever the file's order), their mean, ablation variants,
    the runs that reach the target, the provenance and the figure's rows."""
    ov = load_example("real_faces_overview")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"commit": "abc1234", "results": _three_folds([0.5, 0.8, 0.95]),
                               "folds": [{"fold": "fold-519", "best_val_auc": 0.9,
                                          "best_epoch": 3, "history": [{}] * 4}]}))
    ablation = tmp_path / "ablation.json"
    ablation.write_text(json.dumps({"results": {"ablation": {"v one": _three_folds([1, 1, .7])}}}))
    rows = ov.main([f"a run={run}", f"a variant={ablation}#v one",
                    "--out", str(tmp_path / "o.json")])
    assert [r["label"] for r in rows] == ["a run", "a variant"]
    assert list(rows[0]["frame_auc"].values()) == pytest.approx([80.0, 95.0, 50.0])
    assert rows[0]["mean"] == pytest.approx(75.0) and rows[0]["commit"] == "abc1234"
    assert rows[1]["mean"] == pytest.approx(90.0) and rows[1]["variant"] == "v one"
    assert rows[0]["val_auc"] == {"fold-004": None, "fold-519": pytest.approx(90.0),
                                  "fold-634": None}
    assert set(rows[1]["val_auc"].values()) == {None}  # a variant's: not recorded
    assert rows[0]["best_epoch"]["fold-519"] == [3, 4]
    assert rows[0]["best_epoch"]["fold-004"] == [None, None]
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["reaching_target"] == ["a run", "a variant"]
    assert saved["validation"]["folds"]["fold-519"] == {
        "runs": 1, "spearman_val_vs_test": None,
        "picked": {"label": "a run", "val_auc": pytest.approx(90.0), "frame_auc": 95.0}}
    assert saved["validation"]["picked_mean"] is None  # folds 004 and 634: no validation AUC
    assert saved["validation"]["selected_epoch"] == {"folds": 1, "last_or_next_to_last": 1}
    assert saved["command"].startswith("python examples/real_faces_overview.py 'a run=")
    assert "git_commit" in saved["machine"]
    need_module("matplotlib")
    fig = ov.plot(rows, tmp_path / "o.png")
    ax = fig.axes[0]
    rows_at = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks()))
    assert rows_at["a run"] > rows_at["a variant"]  # the first run on top
    assert (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"
    points = fig.axes[1].collections[1].get_offsets()  # fold 519's: validation, test
    assert points.tolist() == [pytest.approx([90.0, 95.0])]


def test_real_faces_overview_asks_whether_validation_picks_the_better_run() -> None:
    """Per fold, the rank correlation of validation and test AUC and the run validation picks."""
    ov = load_example("real_faces_overview")

    def row(label: str, val: float, test: float) -> dict[str, Any]:
        return {"label": label, "val_auc": dict.fromkeys(ov.FOLDS, val),
                "frame_auc": {"fold-004": test, "fold-519": test + 10, "fold-634": 100 - test},
                "best_epoch": dict.fromkeys(ov.FOLDS, [{"a": 9, "b": 8, "c": 2}[label], 9])}

    check = ov.validation_check([row("a", 80.0, 60.0), row("b", 85.0, 40.0),
                                 row("c", 90.0, 20.0)])
    assert check["folds"]["fold-004"]["spearman_val_vs_test"] == pytest.approx(-1.0)
    assert check["folds"]["fold-634"]["spearman_val_vs_test"] == pytest.approx(1.0)
    assert check["folds"]["fold-004"]["picked"] == {"label": "c", "val_auc": 90.0,
                                                    "frame_auc": 20.0}
    assert check["folds"]["fold-519"]["runs"] == 3
    assert check["picked_mean"] == pytest.approx((20.0 + 30.0 + 80.0) / 3)
    assert check["selected_epoch"] == {"folds": 9, "last_or_next_to_last": 6}  # a's and b's


def test_real_faces_overview_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    ov = load_example("real_faces_overview")
    two = tmp_path / "two.json"
    folds = [{"fold": f, "frame": {"auc": 0.5}} for f in ("fold-004", "fold-519")]
    two.write_text(json.dumps({"results": {"ffpp-mini": {"folds": folds}}}))
    with pytest.raises(ValueError, match="expected the folds .* got \\['fold-004', 'fold-519'"):
        ov.overview([f"x={two}"])
    with pytest.raises(ValueError, match="no ablation variant 'w'"):
        ov.overview([f"x={two}#w"])
    with pytest.raises(ValueError, match="expected results\\['ffpp-mini'\\]\\['folds'\\]"):
        ov.overview([f"x={_empty(tmp_path)}"])
    with pytest.raises(ValueError, match="run 'x' must name a results file, got '.*nothing.json'"):
        ov.overview([f"x={tmp_path / 'nothing.json'}"])
    with pytest.raises(ValueError, match="run must be LABEL=PATH or LABEL=PATH#VARIANT, got 'p'"):
        ov.parse_run("p")


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"results": {}}))
    return path


def test_real_faces_overview_rebuilds_the_recorded_file() -> None:
    """The committed overview holds what the script reads from the committed runs."""
    ov = load_example("real_faces_overview")
    recorded = json.loads((EXAMPLES.parent / "docs" / "results" /
                           "real_faces_overview.json").read_text())
    specs = [f"{r['label']}={r['file']}" + (f"#{r['variant']}" if r["variant"] else "")
             for r in recorded["runs"]]
    rows = ov.overview(specs)
    assert rows == recorded["runs"]
    assert ov.validation_check(rows) == recorded["validation"]
    assert recorded["reaching_target"] == []


def test_video_detail_ranks_the_videos_detail_against_their_scores(tmp_path: Path) -> None:
    """``examples/video_detail.py`` on a made-up run: the detail of a sharp video is above a
    blurred one's, and scores that fall as detail rises give a Spearman rho of -1."""
    from PIL import Image
    from scipy import ndimage

    from freqforensics.config import load_config, save_config
    from freqforensics.data.manifest import MANIFEST_COLUMNS, write_csv

    vd = load_example("video_detail")
    rng = np.random.default_rng(0)
    crops = tmp_path / "run" / "crops" / "tracked" / "ffpp-test" / "ffpp"
    crops.mkdir(parents=True)
    rows, scores = [], {"a": 0.8, "b": 0.5, "c": 0.2}
    for k, (video, sigma) in enumerate((("a", 3.0), ("b", 1.0), ("c", 0.0))):
        for i in range(2):
            noise = rng.uniform(0, 255, (48, 48, 3))
            crop = ndimage.gaussian_filter(noise, (sigma, sigma, 0)).astype(np.uint8)
            Image.fromarray(crop).save(crops / f"{video}{i}.png")
            rows.append({**dict.fromkeys(MANIFEST_COLUMNS, ""), "video_id": video,
                         "label": k % 2, "split": "test", "dataset": "ffpp", "method": "m",
                         "frame_index": i, "x0": 0, "y0": 0, "x1": 48, "y1": 48,
                         "crop_path": f"{video}{i}.png", "status": "ok"})
    write_csv(crops / "manifest.csv", rows)
    fold = tmp_path / "run" / "fold-x"
    (fold / "test").mkdir(parents=True)
    save_config(load_config(overrides=["model.img_size=64"]), fold / "config.yaml")
    with (fold / "test" / "predictions.csv").open("w") as f:
        f.write("video_id,fake_probability\n")
        f.writelines(f"{v},{p}\n" for v, p in scores.items())
    result = vd.main([str(tmp_path / "run"), "--out", str(tmp_path / "detail.json")])
    d = {v: r["detail"] for v, r in result["videos"].items()}
    assert d["a"] < d["b"] < d["c"]
    assert result["spearman_detail_vs_score"]["rho"] == pytest.approx(-1.0)
    assert result["model_input_side"] == 64 and result["videos"]["a"]["face_box_side"] == 48
    saved = json.loads((tmp_path / "detail.json").read_text())
    assert saved["command"].startswith("python examples/video_detail.py")
    assert "git_commit" in saved["machine"] and saved["run_commit"] is None
    with pytest.raises(ValueError, match="run must hold fold-"):
        vd.analyse(tmp_path)
