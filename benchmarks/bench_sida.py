"""SIDA statistics speed: eager and compiled against a naive scipy pipeline and BlockDCT.

``sida_statistics`` on a ``(32, 3, 64, 48, 48)`` float32 batch (the block DCT of
``(32, 3, 384, 384)`` images), against the same statistics with NumPy differentials and
``scipy.stats`` (float64, as a user would write it), and against the time of ``BlockDCT``
forward on the images it came from (target: at most 2x).

    python benchmarks/bench_sida.py --out benchmarks/results/bench_sida.json [--compile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    add_record_arguments,
    check_recordable,
    command,
    machine,
    render_markdown,
    section,
    timeit,
    write_json,
)

from freqforensics import BlockDCT  # noqa: E402
from freqforensics.functional import sida_statistics  # noqa: E402


def scipy_pipeline(c: np.ndarray) -> np.ndarray:
    """Differentials with NumPy, moments with scipy.stats (float64): the naive baseline."""
    from scipy import stats

    row = np.abs(np.diff(c, axis=-2)).reshape(*c.shape[:-2], -1)
    col = np.abs(np.diff(c, axis=-1)).reshape(*c.shape[:-2], -1)
    intra = np.diff(c, axis=-3)
    intra = np.abs(np.concatenate([intra, np.zeros_like(intra[..., :1, :, :])], axis=-3))
    intra = intra.reshape(*c.shape[:-2], -1)
    out = []
    for a in (row, col, intra):
        out.append(np.stack([
            a.mean(-1), a.std(-1),
            np.nan_to_num(stats.skew(a, axis=-1)),
            np.nan_to_num(stats.kurtosis(a, axis=-1, fisher=False)),
        ], axis=-2))  # (..., C, 4, 64)
    stacked = np.stack(out, axis=-2)  # (..., C, 4, 3, 64)
    return np.moveaxis(stacked, -3, -4)  # (..., 4, C, 3, 64)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--shape", default="32x3x384x384", help="image batch NxCxHxW")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    add_record_arguments(parser)
    args = parser.parse_args(argv)
    check_recordable(args.out, args.allow_dirty)
    shape = tuple(int(v) for v in args.shape.split("x"))
    torch.manual_seed(0)
    images = torch.rand(*shape)
    dct = BlockDCT()
    with torch.no_grad():
        coeffs = dct(images)
    print(f"coefficients {tuple(coeffs.shape)}", flush=True)
    ref = sida_statistics(coeffs.double())
    got = sida_statistics(coeffs)
    naive = scipy_pipeline(coeffs.double().numpy())
    np.testing.assert_allclose(naive, ref.numpy(), rtol=1e-6, atol=1e-9)
    rel = ((got.double() - ref).abs() / ref.abs().clamp_min(1e-6)).max().item()
    results: dict[str, Any] = {}
    with torch.no_grad():
        results["BlockDCT forward (images)"] = timeit(lambda: dct(images), repeat=args.repeat)
        results["sida_statistics eager"] = timeit(lambda: sida_statistics(coeffs),
                                                  repeat=args.repeat)
        if args.compile:
            fn = torch.compile(sida_statistics)
            t0 = time.perf_counter()
            fn(coeffs)
            compile_s = time.perf_counter() - t0
            results["sida_statistics torch.compile"] = timeit(lambda: fn(coeffs),
                                                              repeat=args.repeat)
            results["sida_statistics torch.compile"]["first_call_s"] = compile_s
    naive_in = coeffs.numpy()
    results["numpy + scipy.stats (float64)"] = timeit(
        lambda: scipy_pipeline(naive_in.astype(np.float64)), warmup=1, repeat=3)
    dct_t = results["BlockDCT forward (images)"]["median_s"]
    eager_t = results["sida_statistics eager"]["median_s"]
    rows = []
    for name, r in results.items():
        rows.append([name, f"{r['median_s'] * 1e3:.1f}", f"{r['median_s'] / dct_t:.2f}x",
                     f"{r['median_s'] / eager_t:.2f}x"])
    summary = {
        "eager_vs_blockdct": eager_t / dct_t,
        "speedup_vs_scipy": results["numpy + scipy.stats (float64)"]["median_s"] / eager_t,
        "max_rel_error_float32_vs_float64": rel,
    }
    sec = section(
        f"SIDA statistics of {tuple(coeffs.shape)} float32 (from images {shape})",
        ["path", "ms", "time / BlockDCT fwd", "time / eager"], rows,
        f"Eager `sida_statistics`: {summary['eager_vs_blockdct']:.2f}x the time of BlockDCT "
        f"forward (target <= 2x), {summary['speedup_vs_scipy']:.1f}x faster than the scipy "
        f"pipeline; float32 max relative error against float64: {rel:.1e}.",
    )
    print(render_markdown([sec]))
    data = {"benchmark": "sida", "machine": machine(), "shape": list(shape),
            "paths": results, "summary": summary, "sections": [sec]}
    data["command"] = command(__file__, argv)
    write_json(data, args.out)
    return data


if __name__ == "__main__":
    main()
