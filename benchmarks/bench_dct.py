"""Block DCT speed: BlockDCT against torch-dct, scipy and a plain copy, in one run.

All paths produce the same output, ``(N, 3, 64, H/8, W/8)`` YCbCr coefficients in zigzag
order, from RGB images (the colour conversion is done the same way, with
``freqforensics.functional.rgb_to_ycbcr``, in the baselines). ``clone`` is a plain copy of the
input: the memory-bandwidth ceiling. Forward+backward uses a dense upstream gradient.

    python benchmarks/bench_dct.py --out benchmarks/results/bench_dct.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, render_markdown, section, timeit, write_json  # noqa: E402

from freqforensics import BlockDCT  # noqa: E402
from freqforensics.functional import rgb_to_ycbcr, zigzag_order  # noqa: E402

ZZ = zigzag_order(8)


def torch_dct_path(x: torch.Tensor) -> torch.Tensor:
    """torch-dct's dct_2d on the 8x8 blocks, then the zigzag gather."""
    import torch_dct

    blocks = rearrange(rgb_to_ycbcr(x), "n c (h p) (w q) -> n c h w p q", p=8, q=8)
    coeffs = torch_dct.dct_2d(blocks, norm="ortho").flatten(-2)[..., ZZ]
    return rearrange(coeffs, "n c h w k -> n c k h w")


def scipy_path(x: torch.Tensor) -> np.ndarray:
    """scipy.fft.dctn on the blocks (all cores), then the zigzag gather."""
    from scipy.fft import dctn

    blocks = rearrange(rgb_to_ycbcr(x), "n c (h p) (w q) -> n c h w p q", p=8, q=8).numpy()
    coeffs = dctn(blocks, axes=(-2, -1), norm="ortho", workers=-1)
    coeffs = coeffs.reshape(*coeffs.shape[:4], 64)[..., ZZ.numpy()]
    return np.ascontiguousarray(coeffs.transpose(0, 1, 4, 2, 3))


def run(shape: tuple[int, ...], repeat: int) -> dict[str, Any]:
    torch.manual_seed(0)
    x = torch.rand(*shape)
    module = BlockDCT()
    ref = module(x)
    # Every path must agree before it is timed.
    torch.testing.assert_close(torch_dct_path(x), ref, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(scipy_path(x), ref.numpy(), atol=1e-4, rtol=1e-4)
    grad = torch.randn_like(ref)
    xg = x.clone().requires_grad_(True)

    def fwd_bwd(fn: Any) -> Any:
        def call() -> None:
            xg.grad = None
            fn(xg).backward(grad)

        return call

    paths = {
        "clone (memory ceiling)": (lambda: x.clone(), None),
        "BlockDCT": (lambda: module(x), fwd_bwd(module)),
        "torch-dct dct_2d + zigzag": (lambda: torch_dct_path(x), fwd_bwd(torch_dct_path)),
        "scipy.fft.dctn + zigzag": (lambda: scipy_path(x), None),
    }
    mpix = shape[0] * shape[2] * shape[3] / 1e6
    results: dict[str, Any] = {}
    for name, (fwd, bwd) in paths.items():
        with torch.no_grad():
            r = {"forward": timeit(fwd, repeat=repeat)}
        if bwd is not None:
            r["forward_backward"] = timeit(bwd, repeat=max(3, repeat // 2))
        results[name] = r
        print(f"  {name:28s} fwd {r['forward']['median_s'] * 1e3:8.1f} ms", flush=True)
    base = results["BlockDCT"]["forward"]["median_s"]
    for r in results.values():
        r["forward"]["mpixel_per_s"] = mpix / r["forward"]["median_s"]
        r["forward"]["time_vs_blockdct"] = r["forward"]["median_s"] / base
    bd = results["BlockDCT"]
    summary = {
        "speedup_vs_torch_dct": results["torch-dct dct_2d + zigzag"]["forward"]["median_s"] / base,
        "speedup_vs_scipy": results["scipy.fft.dctn + zigzag"]["forward"]["median_s"] / base,
        "time_vs_clone": base / results["clone (memory ceiling)"]["forward"]["median_s"],
        "fwd_bwd_vs_fwd": bd["forward_backward"]["median_s"] / base,
    }
    return {"shape": list(shape), "megapixels": mpix, "paths": results, "summary": summary}


def sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for case in data["cases"]:
        rows = []
        for name, r in case["paths"].items():
            f = r["forward"]
            fb = r.get("forward_backward")
            rows.append([
                name,
                f"{f['median_s'] * 1e3:.1f}",
                f"{f['mpixel_per_s']:.0f}",
                f"{f['time_vs_blockdct']:.2f}x",
                f"{fb['median_s'] * 1e3:.1f}" if fb else "n/a",
            ])
        s = case["summary"]
        out.append(section(
            f"Input {tuple(case['shape'])} float32 ({case['megapixels']:.1f} MPixel)",
            ["path", "forward ms", "MPixel/s", "time / BlockDCT", "fwd+bwd ms"], rows,
            f"BlockDCT forward: {s['speedup_vs_torch_dct']:.1f}x faster than torch-dct, "
            f"{s['speedup_vs_scipy']:.1f}x faster than scipy, {s['time_vs_clone']:.2f}x the time "
            f"of the plain copy; forward+backward {s['fwd_bwd_vs_fwd']:.2f}x its forward.",
        ))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--shapes", default="32x3x384x384,4x3x1024x1024",
                        help="comma-separated NxCxHxW")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"benchmark": "block_dct", "machine": machine(), "cases": []}
    for spec in args.shapes.split(","):
        shape = tuple(int(v) for v in spec.split("x"))
        print(f"input {shape}", flush=True)
        data["cases"].append(run(shape, args.repeat))
    data["sections"] = sections(data)
    print(render_markdown(data["sections"]))
    write_json(data, args.out)
    return data


if __name__ == "__main__":
    main()
