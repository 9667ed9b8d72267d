"""How closely exported layers and the detector reproduce eager PyTorch: the numbers behind
the "Measured parity" table of ``docs/export.rst``.

The modules and inputs are those of ``tests/test_export.py`` (its ``CASES``, BatchNorm
statistics randomised, and its small and ``cpu``-preset detectors), which asserts a tolerance;
this script records the largest absolute difference to eager PyTorch (float32, CPU), over batch
sizes 1 and 3 run from one file exported at batch 2 (ONNX with the dynamo and the legacy
exporter, ``torch.export``) and over batches 2 and 3 for ``torch.compile`` (inductor), with the
time each export took.

Usage::

    python benchmarks/export_parity.py --out benchmarks/results/export_parity.json
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from freqforensics.export import check_onnx, export_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Inputs = tuple[torch.Tensor, ...]
#: The layers of the table, by their name in ``tests/test_export.py`` and as the table says it.
LAYERS = {
    "BlockDCT": "BlockDCT",
    "BlockIDCT": "BlockIDCT",
    "SIDA": "SIDA (43 x 58 crops)",
    "SBCM": "SBCM",
    "FAAE": "FAAE",
    "FAAE-attention": "FAAE, with the attention map",
    "HCMA": "HCMA with the gate d",
    "HCMA-no-gate": "HCMA, d=None",
    "SIDAGate": "SIDAGate",
}


def load_test_cases() -> ModuleType:
    """``tests/test_export.py`` as a module (its helper ``needs`` sits beside it)."""
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("export_cases", ROOT / "tests/test_export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _outputs(module: Callable[..., Any], x: Inputs, kwargs: dict[str, Any]) -> list[torch.Tensor]:
    with torch.no_grad():
        out = module(*x, **kwargs)
    return list(out) if isinstance(out, tuple) else [out]


def _diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def parity(module: nn.Module, inputs: Callable[[int], Inputs], kwargs: dict[str, Any],
           tmp: Path, compile_: bool) -> dict[str, Any]:
    """The largest output and the largest difference of each export path to eager mode."""
    row: dict[str, Any] = {
        "largest_output": max(float(o.abs().max()) for n in (1, 3)
                              for o in _outputs(module, inputs(n), kwargs)),
    }
    for name, dynamo in (("onnx_dynamo", True), ("onnx_legacy", False)):
        path = tmp / f"{name}.onnx"
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            export_onnx(module, inputs(2), path, kwargs=kwargs, dynamo=dynamo)
        seconds = time.perf_counter() - start
        # atol 1e30: every difference passes, check_onnx only measures (inf makes numpy warn)
        row[name] = max(check_onnx(path, module, inputs(n), atol=1e30, kwargs=kwargs)
                        for n in (1, 3))
        row[f"{name}_s"] = seconds
    batch = torch.export.Dim("batch", min=1)
    params = list(inspect.signature(module.forward).parameters)
    example = inputs(2)
    shapes: dict[str, Any] = {p: {0: batch} for p in params[: len(example)]}
    shapes.update(dict.fromkeys(kwargs))
    start = time.perf_counter()
    program = torch.export.export(module, example, kwargs=kwargs, dynamic_shapes=shapes)
    row["torch_export_s"] = time.perf_counter() - start
    row["torch_export"] = _compare(program.module(), module, inputs, kwargs, (1, 3))
    if compile_:
        torch._dynamo.reset()
        compiled = torch.compile(module, fullgraph=True)
        start = time.perf_counter()
        row["inductor"] = _compare(compiled, module, inputs, kwargs, (2, 3))
        row["inductor_s"] = time.perf_counter() - start
    return row


def _compare(other: Callable[..., Any], module: nn.Module, inputs: Callable[[int], Inputs],
             kwargs: dict[str, Any], batches: tuple[int, ...]) -> float:
    """The largest difference of ``other`` to ``module`` on the same inputs, over ``batches``."""
    diffs = []
    for n in batches:
        x = inputs(n)
        diffs.append(_diff(_outputs(other, x, kwargs), _outputs(module, x, kwargs)))
    return max(diffs)


def _fmt(value: float | None) -> str:
    return "" if value is None else ("0" if value == 0 else f"{value:.2g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave out torch.compile (minutes on 2 cores)")
    common.add_record_arguments(parser)
    args = parser.parse_args(argv)
    common.check_recordable(args.out, args.allow_dirty)
    cases = load_test_cases()
    torch.manual_seed(0)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="export_parity_") as tmp:
        for key, label in LAYERS.items():
            case = cases.CASES[key]
            rows[label] = parity(case.make(), case.inputs, case.kwargs, Path(tmp),
                                 not args.no_compile)
            print(f"{label}: {rows[label]}", flush=True)
        for label, model, side, compile_ in (
            ("SFCLHCMF, small, 64 px (logits)", cases._detector(), 64, not args.no_compile),
            ("SFCLHCMF, cpu preset, 128 px (logits)", cases._detector(128, small=False), 128,
             False),
        ):
            rows[label] = parity(model, lambda n, s=side: (torch.rand(n, 3, s, s),), {},
                                 Path(tmp), compile_)
            print(f"{label}: {rows[label]}", flush=True)
    import onnxruntime

    machine = common.machine()
    machine["onnxruntime"] = onnxruntime.__version__
    headers = ["module", "largest output", "ONNX (dynamo)", "ONNX (legacy)", "torch.export",
               "torch.compile (inductor)"]
    table = [[label, f"{r['largest_output']:.2g}", _fmt(r["onnx_dynamo"]),
              _fmt(r["onnx_legacy"]), _fmt(r["torch_export"]), _fmt(r.get("inductor"))]
             for label, r in rows.items()]
    text = ("Largest absolute difference to eager PyTorch, float32, CPU: batches 1 and 3 from "
            "one file exported at batch 2 (torch.compile: batches 2 and 3).")
    result = {
        "benchmark": "export_parity",
        "command": common.command(__file__, argv),
        "machine": machine,
        "rows": rows,
        "sections": [common.section("Export parity", headers, table, text)],
    }
    print(common.render_markdown(result["sections"]))
    common.write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
