"""`train --config`: a recipe and the old flags train the same model; config.yaml reruns it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from needs import need_module
from safetensors.torch import load_file
from toys import write_manifest

from freqforensics.cli import main
from freqforensics.config import load_config

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--preset", "cpu", "--image-size", "64", "--embed-dim", "32", "--num-heads", "2",
         "--sbcm-channels", "4", "8", "8", "--epochs", "1", "--batch-size", "4",
         "--max-steps-per-epoch", "2", "--device", "cpu", "--quiet"]
RECIPE = """\
model:
  name: sfcl_hcmf_cpu
  img_size: 64
  embed_dim: 32
  num_heads: 2
  sbcm_channels: [4, 8, 8]
data:
  manifests: [{manifest}]
train:
  epochs: 1
  batch_size: 4
  max_steps_per_epoch: 2
runtime:
  device: cpu
  quiet: true
"""


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "best.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    videos = {"r0": (0, "train"), "r1": (0, "train"), "f0": (1, "train"), "f1": (1, "train"),
              "r2": (0, "val"), "f2": (1, "val")}
    return write_manifest(tmp_path_factory.mktemp("manifest"), videos)


def test_recipe_and_flags_train_the_same_model(manifest: Path, tmp_path: Path) -> None:
    flags_run, recipe_run, rerun = tmp_path / "flags", tmp_path / "recipe", tmp_path / "rerun"
    assert main(["train", "--manifest", str(manifest), "--out", str(flags_run), *FLAGS]) == 0
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE.format(manifest=manifest.resolve()))
    assert main(["train", "--config", str(recipe), "--out", str(recipe_run)]) == 0
    _same(_weights(flags_run), _weights(recipe_run))
    assert load_config(flags_run / "config.yaml") == load_config(recipe_run / "config.yaml")
    # the resolved config of a run is enough to rerun it
    assert main(["train", "--config", str(flags_run / "config.yaml"), "--out", str(rerun)]) == 0
    _same(_weights(flags_run), _weights(rerun))
    # --set overrides the file and changes the model
    other = tmp_path / "other"
    argv = ["train", "--config", str(recipe), "--set", "train.lr=0.01", "--out", str(other)]
    assert main(argv) == 0
    assert load_config(other / "config.yaml").train.lr == 0.01
    assert not torch.equal(_weights(other)["classifier.weight"],
                           _weights(recipe_run)["classifier.weight"])


def test_cpu_demo_recipe_equals_the_example(tmp_path: Path) -> None:
    """``train --config configs/cpu-demo.yaml`` trains what ``make demo``'s script trains."""
    need_module("skimage")
    spec = importlib.util.spec_from_file_location("demo_example", ROOT / "examples" /
                                                  "train_sfcl_hcmf.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    demo.main(["--preset", "smoke", "--out", str(tmp_path / "example"), "--quiet",
               "--device", "cpu"])
    smoke = [f"{section}.{key}={value}" for section, values in demo.PRESETS["smoke"].items()
             for key, value in values.items()]
    sets = [arg for item in smoke for arg in ("--set", item.replace(" ", ""))]
    argv = ["train", "--config", str(ROOT / "configs" / "cpu-demo.yaml"), *sets, "--device",
            "cpu", "--quiet", "--out", str(tmp_path / "cli")]
    assert main(argv) == 0
    _same(_weights(tmp_path / "example"), _weights(tmp_path / "cli"))
