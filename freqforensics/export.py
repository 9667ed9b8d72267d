"""Deployment helpers: ONNX export with a dynamic batch axis, and an onnxruntime parity check.

Every layer of the library and the reference detector export with torch's default exporter
(``torch.onnx.export(..., dynamo=True)``, built on :func:`torch.export.export`) in eval mode,
with one graph for any batch size. See the "Export and deployment" page of the docs for what
exports, the measured parity errors, and the few inputs that do not (SIDA's list of crops).

``onnx`` and ``onnxscript`` (needed by the exporter) and ``onnxruntime`` (needed by
:func:`check_onnx`) come with the ``onnx`` extra: ``pip install 'freqforensics[onnx]'``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqforensics._checks import first_line

__all__ = ["export_onnx", "check_onnx"]

_EXTRA_HINT = "install the onnx extra: pip install 'freqforensics[onnx]'"
# Weights above this size go to an external ``.data`` file (a protobuf holds at most 2 GiB).
_EXTERNAL_DATA_BYTES = 1 << 30


class _WithKwargs(nn.Module):
    """``module(*args, **kwargs)`` with constant keyword arguments baked in."""

    def __init__(self, module: nn.Module, kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.module = module
        self.kwargs = dict(kwargs)

    def forward(self, *args: torch.Tensor) -> Any:
        return self.module(*args, **self.kwargs)


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every submodule's own mode restored after it."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _as_inputs(
    inputs: torch.Tensor | tuple[torch.Tensor, ...], name: str
) -> tuple[torch.Tensor, ...]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, list):
        raise TypeError(
            f"{name} must be a tensor or a tuple of tensors (the positional arguments of "
            "forward), got a list; a graph takes tensors of fixed rank, not lists: for SIDA's "
            "list of crops, export the (N, 3, H, W) tensor path and group the crops by size "
            "outside the graph"
        )
    if not isinstance(inputs, tuple) or len(inputs) == 0:
        raise TypeError(
            f"{name} must be a tensor or a non-empty tuple of tensors (the positional arguments "
            f"of forward), got {type(inputs).__name__}"
        )
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(x).__name__}")
    return inputs


def _flat_outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_outputs(o)]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flat_outputs(v)]
    if out is None:
        return []
    raise TypeError(f"module outputs must be tensors (or tuples of them), got {type(out).__name__}")


def _input_names(module: nn.Module, n: int) -> list[str]:
    """The names of the first ``n`` positional parameters of ``forward`` (else ``input_i``)."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        params = []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind in kinds][:n]
    if len(names) < n:
        names = [f"input_{i}" for i in range(n)]
    return names


def export_onnx(
    module: nn.Module,
    example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
    path: str | os.PathLike[str],
    dynamic_batch: bool = True,
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    *,
    kwargs: dict[str, Any] | None = None,
    dynamo: bool = True,
    dynamic_shapes: Any = None,
    external_data: bool | None = None,
) -> Path:
    """Export ``module`` to an ONNX file, with one graph for any batch size.

    The module is exported in eval mode (BatchNorm with its running statistics, no dropout);
    its previous mode is restored afterwards. With ``dynamic_batch`` axis 0 of every input and
    output is symbolic (``batch``), shared by all inputs; the other sizes are fixed to those of
    ``example_inputs``.

    Args:
        module: the layer or model.
        example_inputs: a tensor or a tuple of tensors, the positional arguments of
            ``forward``. With ``dynamic_batch``, use a batch of at least 2: torch.export
            specialises sizes 0 and 1 to constants.
        path: the ``.onnx`` file to write (parent folders are created). It is written beside
            and moved into place when complete: an interrupted export leaves no partial file.
        dynamic_batch: make axis 0 symbolic (else every size is fixed).
        opset: ONNX opset version; ``None`` takes torch's default (20 with torch 2.14).
        input_names: names of the graph inputs; default the names of ``forward``'s parameters
            (``images``, ``x_s``, ...).
        output_names: names of the graph outputs; default ``output`` (one output) or
            ``output_0``, ``output_1``, ...
        kwargs: constant keyword arguments of ``forward`` baked into the graph, e.g.
            ``{"return_attention": True}`` for :class:`~freqforensics.FAAE`.
        dynamo: ``True`` (default) uses torch's ``torch.export``-based exporter; ``False`` the
            legacy TorchScript exporter (deprecated by torch; faster to export).
        dynamic_shapes: advanced: a ``torch.export`` dynamic-shapes spec for the inputs used
            instead of the batch-only one (e.g. symbolic image sizes for SIDA); dynamo only.
        external_data: store the weights in a separate ``<path>.data`` file; default only when
            they exceed 1 GiB (a single ONNX protobuf holds at most 2 GiB).

    Returns:
        The path of the written ``.onnx`` file.

    Raises:
        TypeError: ``example_inputs`` is not a tensor or a tuple of tensors (a list, e.g.
            SIDA's list of crops, is refused: a graph takes tensors).
        ValueError: ``dynamic_batch`` with a batch size below 2, or inputs whose batch sizes
            differ.
        ImportError: ``onnx`` or ``onnxscript`` is missing (the ``onnx`` extra).

    Example:
        >>> import torch
        >>> from freqforensics import BlockDCT
        >>> from pathlib import Path
        >>> from freqforensics.export import check_onnx, export_onnx
        >>> import tempfile
        >>> tmp_dir = Path(tempfile.mkdtemp())
        >>> path = export_onnx(BlockDCT(), torch.rand(2, 3, 32, 32), tmp_dir / "dct.onnx")
        >>> check_onnx(path, BlockDCT(), torch.rand(5, 3, 32, 32)) < 1e-4
        True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    inputs = _as_inputs(example_inputs, "example_inputs")
    if dynamic_batch and dynamic_shapes is None:
        sizes = {x.shape[0] if x.ndim else -1 for x in inputs}
        if len(sizes) != 1 or -1 in sizes:
            raise ValueError(
                "dynamic_batch needs every input to have the same batch size on axis 0, got "
                f"shapes {[tuple(x.shape) for x in inputs]}; pass dynamic_batch=False to export "
                "fixed sizes"
            )
        if next(iter(sizes)) < 2:
            raise ValueError(
                f"dynamic_batch needs example inputs with a batch of at least 2, got "
                f"{next(iter(sizes))}: torch.export specialises sizes 0 and 1 to constants"
            )
    if dynamic_shapes is not None and not dynamo:
        raise ValueError("dynamic_shapes needs dynamo=True (the legacy exporter takes axes only)")
    try:
        import onnx  # noqa: F401
        if dynamo:
            import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"ONNX export needs onnx and onnxscript: {_EXTRA_HINT}") from exc

    target = _WithKwargs(module, kwargs) if kwargs else module
    in_names = list(input_names) if input_names is not None else _input_names(module, len(inputs))
    if len(in_names) != len(inputs):
        raise ValueError(
            f"input_names must name the {len(inputs)} inputs, got {len(in_names)}: {in_names}"
        )
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _written_in_place_of(final) as path, _eval_mode(target):
        if output_names is None:
            with torch.no_grad():
                n_out = len(_flat_outputs(target(*inputs)))
            out_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
        else:
            out_names = list(output_names)
        if dynamo:
            if dynamic_shapes is None and dynamic_batch:
                batch = torch.export.Dim("batch", min=1)
                dynamic_shapes = tuple({0: batch} for _ in inputs)
            if dynamic_shapes is not None and target is not module:
                dynamic_shapes = (tuple(dynamic_shapes),)  # one spec: the wrapper's *args
            if external_data is None:
                size = sum(t.numel() * t.element_size() for t in module.state_dict().values())
                external_data = size > _EXTERNAL_DATA_BYTES
            with warnings.catch_warnings():
                # One Dim shared by all inputs: torch notes that the later ones reuse its name.
                warnings.filterwarnings("ignore", message=r".*axis name: .* will not be used")
                torch.onnx.export(
                    target,
                    inputs,
                    str(path),
                    dynamo=True,
                    input_names=in_names,
                    output_names=out_names,
                    opset_version=opset,
                    dynamic_shapes=dynamic_shapes,
                    external_data=external_data,
                    verbose=False,
                )
        else:
            axes = {n: {0: "batch"} for n in (*in_names, *out_names)} if dynamic_batch else None
            torch.onnx.export(
                target,
                inputs,
                str(path),
                dynamo=False,
                input_names=in_names,
                output_names=out_names,
                opset_version=opset,
                dynamic_axes=axes,
            )
    return final


@contextlib.contextmanager
def _written_in_place_of(final: Path) -> Iterator[Path]:
    """A path of the same name in a new hidden folder beside ``final``; on success its files
    (the ``.onnx``, and a ``.data`` file that refers to it by name) replace those at
    ``final``, the ``.onnx`` last, so that an interrupted export never leaves a partial
    ``.onnx`` where the old one was."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield folder / final.name
        written = sorted(folder.iterdir(), key=lambda f: f.name == final.name)
        for file in written:
            os.replace(file, final.parent / file.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_onnx(
    path: str | os.PathLike[str],
    module: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    atol: float = 1e-4,
    rtol: float = 1e-4,
    *,
    kwargs: dict[str, Any] | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> float:
    """Run an exported file in onnxruntime and compare it with ``module`` in eval mode.

    Every output must satisfy ``|onnx - torch| <= atol + rtol * |torch|`` elementwise (the
    relative part matters for large values, e.g. SIDA's kurtosis) and have the same shape.

    Args:
        path: the ``.onnx`` file (from :func:`export_onnx`).
        module: the module that was exported (run in eval mode; its mode is restored).
        inputs: a tensor or a tuple of tensors, any batch size the graph accepts.
        atol: absolute tolerance.
        rtol: relative tolerance.
        kwargs: the constant keyword arguments given to :func:`export_onnx`.
        providers: onnxruntime execution providers.

    Returns:
        The largest absolute difference over all outputs.

    Raises:
        ImportError: onnxruntime is missing (the ``onnx`` extra).
        FileNotFoundError: no file at ``path``.
        ValueError: ``path`` is not an ONNX model onnxruntime can load.
        AssertionError: an output differs beyond the tolerance or has another shape (as
            :func:`torch.testing.assert_close` raises).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError(f"check_onnx needs onnxruntime: {_EXTRA_HINT}") from exc
    import numpy as np

    xs = _as_inputs(inputs, "inputs")
    target = _WithKwargs(module, kwargs) if kwargs else module
    with _eval_mode(target), torch.no_grad():
        expected = [t.detach().cpu().numpy() for t in _flat_outputs(target(*xs))]
    if not Path(path).is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        session = ort.InferenceSession(str(path), providers=list(providers))
    except Exception as load_err:  # onnxruntime's own error classes (InvalidProtobuf, ...)
        raise ValueError(
            f"{path} is not an ONNX model onnxruntime can load ({first_line(load_err)})"
        ) from None
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(xs):
        raise ValueError(
            f"{path} takes {len(names)} inputs {names}, got {len(xs)} tensors; an input the "
            "graph does not use is dropped by the exporter"
        )
    feeds = {n: x.detach().cpu().numpy() for n, x in zip(names, xs)}
    actual = session.run(None, feeds)
    if len(actual) != len(expected):
        raise AssertionError(
            f"{path} has {len(actual)} outputs, the module returns {len(expected)}"
        )
    worst = 0.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a.shape != e.shape:
            raise AssertionError(f"output {i}: ONNX shape {a.shape} != torch shape {e.shape}")
        if a.size == 0:
            continue
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
        both = np.isfinite(a64) & np.isfinite(e64)
        diff = np.where(both, np.abs(a64 - e64), 0.0)
        err = float(diff.max())
        worst = max(worst, err)
        if not close.all():
            j = int(np.flatnonzero(~close)[0])
            raise AssertionError(
                f"output {i}: {int((~close).sum())} of {a.size} values differ by more than "
                f"atol={atol} + rtol={rtol} * |torch| (max abs error {err:.3g}; first at flat "
                f"index {j}: onnx {a64.flat[j]:.6g}, torch {e64.flat[j]:.6g})"
            )
    return worst
