"""Block DCT speed: BlockDCT against torch-dct, scipy and a plain copy, in one run.

All paths produce the same output, ``(N, 3, 64, H/8, W/8)`` YCbCr coefficients in zigzag
order, from RGB images (the colour conversion is done the same way, with
``freqforensics.functional.rgb_to_ycbcr``, in the baselines). ``clone`` is a plain copy of the
input: the memory ceiling (one read, one write of the same number of bytes as the transform).
The paths are timed in turns (interleaved repeats, medians), each call after one untimed read
of the input (so that none finds it in the cache, or not, because of the path before it), and
every ratio compares calls made under the same conditions, in two groups: first the copy and
BlockDCT's forward and forward+backward, then BlockDCT again with the baselines. Once the
baselines have run, their large temporaries make the allocator serve some later calls from
memory it already holds (no page faults, 3-5 times faster) and not others, so the ratios
between our own paths are taken before (the page faults of each call are recorded).
Forward+backward uses a dense upstream gradient. Every path's effective bandwidth (bytes read +
bytes written over its time) is reported as a fraction of the copy's, on the CPU and, when
there is one, on the CUDA device.

    python benchmarks/bench_dct.py --out benchmarks/results/bench_dct.json [--allow-dirty]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    add_record_arguments,
    check_recordable,
    command,
    machine,
    render_markdown,
    section,
    timeit_interleaved,
    write_json,
)

from freqforensics import BlockDCT  # noqa: E402
from freqforensics.functional import rgb_to_ycbcr, zigzag_order  # noqa: E402

ZZ = zigzag_order(8)
CLONE, OURS, OURS_WITH_BASELINES, TORCH_DCT, SCIPY = (
    "clone (copy ceiling)",
    "BlockDCT",
    "BlockDCT (in turns with the baselines)",
    "torch-dct dct_2d + zigzag",
    "scipy.fft.dctn + zigzag",
)
FB = " fwd+bwd"
#: The targets of issue 12 (CPU, float32): shape -> (speed-up over torch-dct, time / clone,
#: forward+backward / forward); None where the shape has no such target.
TARGETS: dict[tuple[int, ...], tuple[float | None, float | None, float | None]] = {
    (32, 3, 384, 384): (12.0, 2.5, 2.2),
    (8, 3, 384, 384): (6.0, None, None),
}


def torch_dct_path(x: torch.Tensor) -> torch.Tensor:
    """torch-dct's dct_2d on the 8x8 blocks, then the zigzag gather."""
    import torch_dct

    blocks = rearrange(rgb_to_ycbcr(x), "n c (h p) (w q) -> n c h w p q", p=8, q=8)
    coeffs = torch_dct.dct_2d(blocks, norm="ortho").flatten(-2)[..., ZZ.to(x.device)]
    return rearrange(coeffs, "n c h w k -> n c k h w")


def scipy_path(x: torch.Tensor) -> np.ndarray:
    """scipy.fft.dctn on the blocks (all cores), then the zigzag gather."""
    from scipy.fft import dctn

    blocks = rearrange(rgb_to_ycbcr(x), "n c (h p) (w q) -> n c h w p q", p=8, q=8).numpy()
    coeffs = dctn(blocks, axes=(-2, -1), norm="ortho", workers=-1)
    coeffs = coeffs.reshape(*coeffs.shape[:4], 64)[..., ZZ.numpy()]
    return np.ascontiguousarray(coeffs.transpose(0, 1, 4, 2, 3))


def _no_grad(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return fn(x)

    return call


def run(shape: tuple[int, ...], repeat: int, device: str) -> dict[str, Any]:
    torch.manual_seed(0)
    x = torch.rand(*shape, device=device)
    module = BlockDCT().to(device)
    with torch.no_grad():
        ref = module(x)
    assert ref.is_contiguous() and ref.shape == (shape[0], 3, 64, shape[2] // 8, shape[3] // 8)
    grad = torch.randn_like(ref)
    xg = x.clone().requires_grad_(True)
    sync = device != "cpu"

    def read_input() -> None:
        # Every timed call starts with the input as warm as one read leaves it (in the cache
        # where it fits: 14 MB at batch 8), whichever path ran before it.
        float(x.sum())

    def fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            xg.grad = None
            fn(xg).backward(grad)

        return call

    # Our paths and the copy first, in turns, before any baseline has run: afterwards the
    # baselines' large temporaries leave the allocator holding mapped memory that some later
    # calls reuse (no page faults, 3-5 times faster) and others do not, a lottery for the ratios
    # between our own paths.
    own = timeit_interleaved(
        {CLONE: x.clone, OURS: _no_grad(module, x), OURS + FB: fwd_bwd(module)},
        repeat=max(repeat, 15), sync=sync, before=read_input,
    )
    with torch.no_grad():
        # Every path must agree before it is timed.
        torch.testing.assert_close(torch_dct_path(x), ref, atol=1e-4, rtol=1e-4)
        if device == "cpu":
            np.testing.assert_allclose(scipy_path(x), ref.numpy(), atol=1e-4, rtol=1e-4)
    fns: dict[str, Callable[[], Any]] = {
        OURS_WITH_BASELINES: _no_grad(module, x),
        TORCH_DCT: _no_grad(torch_dct_path, x),
    }
    if device == "cpu":
        fns[SCIPY] = _no_grad(scipy_path, x)
    fns[TORCH_DCT + FB] = fwd_bwd(torch_dct_path)
    other = timeit_interleaved(fns, repeat=repeat, sync=sync, before=read_input)

    moved = x.numel() * x.element_size() + ref.numel() * ref.element_size()  # read + write
    mpix = shape[0] * shape[2] * shape[3] / 1e6
    base = other[OURS_WITH_BASELINES]["median_s"]
    copy_bw = moved / own[CLONE]["median_s"]
    results: dict[str, Any] = {}
    for block, ours in ((own, own[OURS]["median_s"]), (other, base)):
        for name in (n for n in block if not n.endswith(FB)):
            f = dict(block[name])
            f["mpixel_per_s"] = mpix / f["median_s"]
            f["time_vs_blockdct"] = f["median_s"] / ours
            f["bandwidth_gb_s"] = moved / f["median_s"] / 1e9
            f["bandwidth_vs_copy"] = moved / f["median_s"] / copy_bw
            results[name] = {"forward": f}
            if name + FB in block:
                results[name]["forward_backward"] = block[name + FB]
    for name, r in results.items():
        print(f"  {device} {name:36s} fwd {r['forward']['median_s'] * 1e3:8.1f} ms", flush=True)
    bd = results[OURS]
    summary = {
        "speedup_vs_torch_dct": results[TORCH_DCT]["forward"]["median_s"] / base,
        "time_vs_clone": 1 / bd["forward"]["bandwidth_vs_copy"],
        "fwd_bwd_vs_fwd": bd["forward_backward"]["median_s"] / bd["forward"]["median_s"],
        "bandwidth_vs_copy": bd["forward"]["bandwidth_vs_copy"],
    }
    if SCIPY in results:
        summary["speedup_vs_scipy"] = results[SCIPY]["forward"]["median_s"] / base
    targets = {}
    if device == "cpu" and tuple(shape) in TARGETS:
        speedup, vs_clone, fb = TARGETS[tuple(shape)]
        for key, value, limit, higher in (
            ("speedup_vs_torch_dct", summary["speedup_vs_torch_dct"], speedup, True),
            ("time_vs_clone", summary["time_vs_clone"], vs_clone, False),
            ("fwd_bwd_vs_fwd", summary["fwd_bwd_vs_fwd"], fb, False),
        ):
            if limit is not None:
                met = value >= limit if higher else value <= limit
                targets[key] = {"value": value, "target": limit, "met": bool(met),
                                "direction": ">=" if higher else "<="}
    return {"shape": list(shape), "device": device, "dtype": "float32", "megapixels": mpix,
            "bytes_moved": moved, "paths": results, "summary": summary, "targets": targets}


def _faults(case: dict[str, Any]) -> str:
    """The page faults of one call of the copy and of BlockDCT, where they were counted."""
    clone, ours = (case["paths"][name]["forward"] for name in (CLONE, OURS))
    if "page_faults" not in clone:
        return ""
    return (f"; page faults per call: copy {clone['page_faults']:.0f}, "
            f"BlockDCT {ours['page_faults']:.0f}")


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
                f"{f['bandwidth_gb_s']:.1f} ({100 * f['bandwidth_vs_copy']:.0f} %)",
                f"{f['time_vs_blockdct']:.2f}x",
                f"{fb['median_s'] * 1e3:.1f}" if fb else "n/a",
            ])
        s = case["summary"]
        device = case.get("device", "cpu")
        text = (
            f"BlockDCT forward: {s['speedup_vs_torch_dct']:.1f}x faster than torch-dct, "
            + (f"{s['speedup_vs_scipy']:.1f}x faster than scipy, " if "speedup_vs_scipy" in s
               else "")
            + f"{s['time_vs_clone']:.2f}x the time of the plain copy (effective bandwidth "
            f"{100 * s['bandwidth_vs_copy']:.0f} % of the copy's{_faults(case)}); "
            f"forward+backward {s['fwd_bwd_vs_fwd']:.2f}x its forward."
        )
        if case.get("targets"):
            names = {"speedup_vs_torch_dct": "speed-up over torch-dct",
                     "time_vs_clone": "time / copy", "fwd_bwd_vs_fwd": "fwd+bwd / fwd"}
            text += " Targets: " + "; ".join(
                f"{names[k]} {t['direction']} {t['target']:g}: {t['value']:.2f}, "
                + ("met" if t["met"] else "NOT met")
                for k, t in case["targets"].items()
            ) + "."
        out.append(section(
            f"Input {tuple(case['shape'])} float32 on {device.upper()} "
            f"({case['megapixels']:.1f} MPixel)",
            ["path", "forward ms", "MPixel/s", "GB/s (of copy)", "time / BlockDCT",
             "fwd+bwd ms"],
            rows, text,
        ))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--shapes", default="32x3x384x384,8x3x384x384,4x3x1024x1024",
                        help="comma-separated NxCxHxW")
    parser.add_argument("--devices", default="cpu,cuda",
                        help="comma-separated; cuda is skipped where there is no CUDA device")
    add_record_arguments(parser)
    args = parser.parse_args(argv)
    check_recordable(args.out, args.allow_dirty)
    devices = [d for d in args.devices.split(",")
               if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    data: dict[str, Any] = {"benchmark": "block_dct", "machine": machine(), "cases": []}
    for device in devices:
        for spec in args.shapes.split(","):
            shape = tuple(int(v) for v in spec.split("x"))
            print(f"input {shape} on {device}", flush=True)
            data["cases"].append(run(shape, args.repeat, device))
    data["sections"] = sections(data)
    print(render_markdown(data["sections"]))
    data["command"] = command(__file__, argv)
    write_json(data, args.out)
    return data


if __name__ == "__main__":
    main()
