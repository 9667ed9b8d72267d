"""Export and deployment: ONNX with a dynamic batch, torch.export and torch.compile parity.

Every layer is exported once (batch 2) and run at two other batch sizes (1 and 3) from the same
file. The fast suite compiles with the ``aot_eager`` backend (dynamo capture with
``fullgraph=True`` and AOTAutograd, no C++ code generation); the inductor runs and the full
detector are in the slow suite.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from needs import need_module
from torch import nn

from freqforensics import FAAE, HCMA, SBCM, SIDA, BlockDCT, BlockIDCT, SIDAGate
from freqforensics.export import check_onnx, export_onnx

Inputs = tuple[torch.Tensor, ...]


@dataclass
class Case:
    make: Callable[[], nn.Module]
    inputs: Callable[[int], Inputs]
    kwargs: dict[str, Any] = field(default_factory=dict)


def _randomize_norms(module: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so eval-mode BN is tested."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert m.running_mean is not None and m.running_var is not None
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return module.eval()


def _faae() -> nn.Module:
    return _randomize_norms(FAAE(spatial_channels=16, freq_channels=24, gamma_init=0.5))


def _hcma() -> nn.Module:
    return _randomize_norms(HCMA(spatial_dim=32, freq_dim=48, embed_dim=16, num_heads=2))


CASES: dict[str, Case] = {
    "BlockDCT": Case(BlockDCT, lambda n: (torch.rand(n, 3, 32, 48),)),
    "BlockIDCT": Case(BlockIDCT, lambda n: (torch.randn(n, 3, 64, 4, 6),)),
    # Not a multiple of 8: the crop to the 8-pixel grid is part of the graph.
    "SIDA": Case(SIDA, lambda n: (torch.rand(n, 3, 43, 58),)),
    "SBCM": Case(
        lambda: _randomize_norms(SBCM(channels=(4, 8, 8))),
        lambda n: (torch.randn(n, 3, 64, 5, 6),),
    ),
    # x_f on another grid than x_s: the bilinear resize is part of the graph.
    "FAAE": Case(_faae, lambda n: (torch.randn(n, 16, 6, 6), torch.randn(n, 24, 5, 5))),
    "FAAE-attention": Case(
        _faae,
        lambda n: (torch.randn(n, 16, 6, 6), torch.randn(n, 24, 5, 5)),
        {"return_attention": True},
    ),
    "HCMA": Case(
        _hcma, lambda n: (torch.randn(n, 9, 32), torch.randn(n, 4, 48), torch.randn(n, 2304))
    ),
    "HCMA-no-gate": Case(_hcma, lambda n: (torch.randn(n, 9, 32), torch.randn(n, 4, 48))),
    "HCMA-gate_dim-None": Case(
        lambda: _randomize_norms(
            HCMA(spatial_dim=32, freq_dim=48, embed_dim=16, num_heads=2, gate_dim=None)
        ),
        lambda n: (torch.randn(n, 9, 32), torch.randn(n, 4, 48)),
    ),
    "SIDAGate": Case(
        lambda: SIDAGate(gate_dim=64, embed_dim=16).eval(),
        lambda n: (torch.randn(n, 16), torch.randn(n, 64)),
    ),
}
IDS = list(CASES)


def _call(module: nn.Module, inputs: Inputs, kwargs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = module(*inputs, **kwargs)
    return out if isinstance(out, tuple) else (out,)


def _assert_outputs_close(
    actual: tuple[torch.Tensor, ...], expected: tuple[torch.Tensor, ...], tol: float
) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, atol=tol, rtol=tol)


@pytest.fixture(scope="module")
def ort() -> Any:
    need_module("onnx")
    need_module("onnxscript")
    return need_module("onnxruntime")


def _batch_dim_is_symbolic(path: Path) -> bool:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return all(bool(i.type.tensor_type.shape.dim[0].dim_param) for i in graph.input)


# ------------------------------------------------------------------------------------ ONNX


@pytest.mark.parametrize("name", IDS)
def test_onnx_dynamic_batch(name: str, ort: Any, tmp_path: Path) -> None:
    case = CASES[name]
    module = case.make()
    path = export_onnx(module, case.inputs(2), tmp_path / f"{name}.onnx", kwargs=case.kwargs)
    assert path.is_file()
    assert _batch_dim_is_symbolic(path)
    for n in (1, 3):
        err = check_onnx(path, module, case.inputs(n), kwargs=case.kwargs)
        assert err < 1e-3  # the elementwise atol + rtol * |x| check is inside check_onnx


# The legacy exporter warns that it is deprecated, that it traces shape checks as constants
# (right: only the batch is symbolic) and that it cannot constant-fold strided slices.
@pytest.mark.filterwarnings(
    "ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning", "ignore:Constant folding"
)
@pytest.mark.parametrize("name", IDS)
def test_onnx_legacy_exporter(name: str, ort: Any, tmp_path: Path) -> None:
    case = CASES[name]
    module = case.make()
    path = tmp_path / f"{name}.onnx"
    export_onnx(module, case.inputs(2), path, kwargs=case.kwargs, dynamo=False)
    for n in (1, 3):
        check_onnx(path, module, case.inputs(n), kwargs=case.kwargs)


@pytest.mark.slow
def test_onnx_sida_any_image_size(ort: Any, tmp_path: Path) -> None:
    """One SIDA graph for any batch and any crop size on the 8-pixel grid."""
    batch = torch.export.Dim("batch", min=1)
    h, w = torch.export.Dim("h", min=3, max=512), torch.export.Dim("w", min=3, max=512)
    module = SIDA()
    path = export_onnx(
        module,
        torch.rand(2, 3, 40, 56),
        tmp_path / "sida.onnx",
        dynamic_shapes=({0: batch, 2: 8 * h, 3: 8 * w},),
    )
    for shape in ((1, 3, 16, 16), (3, 3, 200, 152)):
        check_onnx(path, module, torch.rand(shape))


@pytest.mark.slow
def test_onnx_opset_18(ort: Any, tmp_path: Path) -> None:
    import onnx

    case = CASES["FAAE-attention"]
    module = case.make()
    path = export_onnx(module, case.inputs(2), tmp_path / "faae.onnx", opset=18, kwargs=case.kwargs)
    model = onnx.load(str(path), load_external_data=False)
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {18}
    check_onnx(path, module, case.inputs(3), kwargs=case.kwargs)


def test_export_onnx_names_mode_and_static_batch(ort: Any, tmp_path: Path) -> None:
    module = _faae().train()
    module.norm.eval()  # a mixed mode (e.g. frozen BatchNorm) is restored as it was
    x = (torch.randn(2, 16, 6, 6), torch.randn(2, 24, 6, 6))
    path = export_onnx(module, x, tmp_path / "sub" / "faae.onnx", dynamic_batch=False)
    assert module.training and module.proj.training and not module.norm.training
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x_s", "x_f"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    assert list(session.get_inputs()[0].shape) == [2, 16, 6, 6]
    # Exported in eval mode: running statistics, not the batch's.
    module.norm.train()
    check_onnx(path, module, x)
    assert module.training and module.norm.training


def test_export_onnx_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="group the crops by size"):
        export_onnx(SIDA(), [torch.rand(3, 32, 32), torch.rand(3, 40, 24)], tmp_path / "s.onnx")
    with pytest.raises(TypeError, match="module must be"):
        export_onnx(lambda x: x, torch.rand(2, 3), tmp_path / "s.onnx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch of at least 2"):
        export_onnx(BlockDCT(), torch.rand(1, 3, 16, 16), tmp_path / "d.onnx")
    with pytest.raises(ValueError, match="same batch size"):
        export_onnx(_faae(), (torch.rand(2, 16, 4, 4), torch.rand(3, 24, 4, 4)), tmp_path / "f")
    with pytest.raises(ValueError, match="input_names"):
        export_onnx(BlockDCT(), torch.rand(2, 3, 16, 16), tmp_path / "d", input_names=["a", "b"])


def test_export_onnx_external_data_lands_beside_it(ort: Any, tmp_path: Path) -> None:
    """The weights file refers to the ``.onnx`` by name: both are moved into place."""
    module = _faae()
    x = (torch.randn(2, 16, 6, 6), torch.randn(2, 24, 6, 6))
    path = export_onnx(module, x, tmp_path / "faae.onnx", external_data=True)
    assert path == tmp_path / "faae.onnx"
    names = sorted(f.name for f in tmp_path.iterdir())
    assert names[0] == "faae.onnx" and len(names) == 2 and names[1].startswith("faae.onnx")
    check_onnx(path, module, x)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_an_interrupted_export_leaves_the_old_file(
    ort: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = export_onnx(BlockDCT(), torch.rand(2, 3, 16, 16), tmp_path / "d.onnx", dynamo=False)
    before = path.read_bytes()

    def half_written(module, args, f, **kwargs):  # noqa: ANN001, ANN003, ANN202
        Path(f).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", half_written)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(BlockDCT(), torch.rand(2, 3, 16, 16), path, dynamo=False)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["d.onnx"]  # no temporary folder left


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_check_onnx_detects_mismatch(ort: Any, tmp_path: Path) -> None:
    # The legacy exporter: faster, and the same helper.
    path = export_onnx(BlockIDCT(), torch.randn(2, 3, 64, 2, 2), tmp_path / "idct", dynamo=False)
    with pytest.raises(AssertionError, match="differ by more than"):
        check_onnx(path, BlockIDCT(zigzag=False), torch.randn(2, 3, 64, 2, 2))
    with pytest.raises(ValueError, match="takes 1 inputs"):
        check_onnx(path, _faae(), (torch.randn(2, 16, 2, 2), torch.randn(2, 24, 2, 2)))
    with pytest.raises(FileNotFoundError, match="ONNX model not found: .*absent.onnx"):
        check_onnx(tmp_path / "absent.onnx", BlockIDCT(), torch.randn(2, 3, 64, 2, 2))
    (tmp_path / "weights.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="weights.onnx is not an ONNX model onnxruntime can load"):
        check_onnx(tmp_path / "weights.onnx", BlockIDCT(), torch.randn(2, 3, 64, 2, 2))


def test_check_onnx_without_onnxruntime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"freqforensics\[onnx\]"):
        check_onnx(tmp_path / "x.onnx", BlockDCT(), torch.rand(2, 3, 16, 16))


# ------------------------------------------------------------------------- torch.export


@pytest.mark.parametrize("name", IDS)
def test_torch_export_dynamic_batch(name: str) -> None:
    case = CASES[name]
    module = case.make()
    example = case.inputs(2)
    batch = torch.export.Dim("batch", min=1)
    # By parameter name: the constant keyword arguments get no spec.
    params = list(inspect.signature(module.forward).parameters)
    shapes: dict[str, Any] = {p: {0: batch} for p in params[: len(example)]}
    shapes.update(dict.fromkeys(case.kwargs))
    program = torch.export.export(module, example, kwargs=case.kwargs, dynamic_shapes=shapes)
    exported = program.module()
    for n in (1, 3):
        x = case.inputs(n)
        with torch.no_grad():
            out = exported(*x, **case.kwargs)
        out = out if isinstance(out, tuple) else (out,)
        _assert_outputs_close(out, _call(module, x, case.kwargs), tol=1e-5)


# ------------------------------------------------------------------------ torch.compile


@pytest.mark.parametrize("name", IDS)
def test_compile_aot_eager(name: str) -> None:
    """Dynamo captures every layer as one graph (no graph break) and keeps its numbers."""
    torch._dynamo.reset()
    case = CASES[name]
    module = case.make()
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    for n in (2, 3):
        x = case.inputs(n)
        _assert_outputs_close(_call(compiled, x, case.kwargs), _call(module, x, case.kwargs), 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", IDS)
def test_compile_inductor(name: str) -> None:
    torch._dynamo.reset()
    case = CASES[name]
    module = case.make()
    compiled = torch.compile(module, fullgraph=True)
    for n in (2, 3):
        x = case.inputs(n)
        _assert_outputs_close(_call(compiled, x, case.kwargs), _call(module, x, case.kwargs), 1e-4)


# ----------------------------------------------------------------------- the detector


def _detector(img_size: int = 64, small: bool = True) -> nn.Module:
    need_module("timm")
    from freqforensics.models import SFCLHCMF, preset

    if small:
        cfg = preset("cpu", img_size=img_size, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8))
    else:
        cfg = preset("cpu", img_size=img_size)
    return _randomize_norms(SFCLHCMF(cfg))


@pytest.mark.slow
def test_detector_onnx(ort: Any, tmp_path: Path) -> None:
    model = _detector()
    path = export_onnx(model, torch.rand(2, 3, 64, 64), tmp_path / "sfcl.onnx")
    assert _batch_dim_is_symbolic(path)
    for n in (1, 3):
        check_onnx(path, model, torch.rand(n, 3, 64, 64))


@pytest.mark.slow
def test_detector_onnx_precomputed_sida(ort: Any, tmp_path: Path) -> None:
    """The deployment split: SIDA of the original-resolution crop computed beside the graph."""
    model = _detector()
    sida = SIDA()

    def inputs(n: int) -> Inputs:
        return torch.rand(n, 3, 64, 64), sida(torch.rand(n, 3, 120, 96))

    path = export_onnx(model, inputs(2), tmp_path / "sfcl.onnx")
    for n in (1, 3):
        check_onnx(path, model, inputs(n))


@pytest.mark.slow
def test_detector_cpu_preset_onnx(ort: Any, tmp_path: Path) -> None:
    model = _detector(128, small=False)
    path = export_onnx(model, torch.rand(2, 3, 128, 128), tmp_path / "sfcl.onnx")
    for n in (1, 4):
        check_onnx(path, model, torch.rand(n, 3, 128, 128))


@pytest.mark.slow
def test_detector_torch_export() -> None:
    model = _detector()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (torch.rand(2, 3, 64, 64),), dynamic_shapes=({0: batch},))
    exported = program.module()
    for n in (1, 3):
        x = torch.rand(n, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(exported(x), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_detector_compile() -> None:
    torch._dynamo.reset()
    model = _detector()
    compiled = torch.compile(model, fullgraph=True)
    for n in (2, 3):
        x = torch.rand(n, 3, 64, 64)
        torch._dynamo.mark_dynamic(x, 0)  # one symbolic-batch graph, not one per size
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), atol=1e-4, rtol=1e-4)
