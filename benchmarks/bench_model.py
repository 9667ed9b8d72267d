"""SFCL-HCMF throughput at 380 x 380 against the bare timm EfficientNet-B4, in one run.

Forward and forward+backward images/s of the full detector and of the backbone alone (the
ratio is the cost of the frequency branches and the fusion), parameter counts and FLOPs
(``torch.utils.flop_counter``). CPU always; CUDA when a GPU is present, with ``--amp``
(bfloat16 autocast) and ``--channels-last`` options.

    python benchmarks/bench_model.py --out benchmarks/results/bench_model.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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

from freqforensics.engine.runtime import to_channels_last
from freqforensics.models import SFCLHCMF, preset  # noqa: E402


class Backbone(nn.Module):
    """timm EfficientNet-B4 with one logit: the spatial branch alone."""

    def __init__(self, name: str) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(name, pretrained=False, num_classes=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def flops(model: nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs of one image (multiply-add = 2 FLOPs)."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x[:1])
    return float(counter.get_total_flops())


def measure(model: nn.Module, x: torch.Tensor, amp: bool, repeat: int) -> dict[str, Any]:
    cuda = x.is_cuda
    y = torch.randint(0, 2, (x.shape[0],), device=x.device).float()
    loss_fn = nn.BCEWithLogitsLoss()
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else torch.enable_grad

    def fwd() -> None:
        with torch.no_grad(), ctx():
            model(x)

    def fwd_bwd() -> None:
        model.zero_grad(set_to_none=True)
        with ctx():
            loss = loss_fn(model(x).float(), y)
        loss.backward()

    model.eval()
    f = timeit(fwd, warmup=2, repeat=repeat, sync=cuda)
    model.train()
    fb = timeit(fwd_bwd, warmup=2, repeat=repeat, sync=cuda)
    n = x.shape[0]
    return {"forward_img_s": n / f["median_s"], "forward_backward_img_s": n / fb["median_s"],
            "forward": f, "forward_backward": fb}


def run_device(device: str, batch: int, size: int, amp: bool, channels_last: bool,
               repeat: int, backbone: str) -> dict[str, Any]:
    torch.manual_seed(0)
    cfg = preset("paper", img_size=size, spatial_backbone=backbone)
    models = {"SFCL-HCMF": SFCLHCMF(cfg), f"{backbone} (timm, bare)": Backbone(backbone)}
    x = torch.rand(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out: dict[str, Any] = {}
    for name, model in models.items():
        model = model.to(device)
        if channels_last:  # the 4-D weights only: SBCM's Conv3d kernels stay as they are
            model = to_channels_last(model)
        r = measure(model, x, amp, repeat)
        r["parameters"] = sum(p.numel() for p in model.parameters())
        r["gflops_per_image"] = flops(model, x) / 1e9
        out[name] = r
        print(f"  {device} {name}: fwd {r['forward_img_s']:.2f} img/s, fwd+bwd "
              f"{r['forward_backward_img_s']:.2f} img/s", flush=True)
        model.to("cpu")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--size", type=int, default=380)
    parser.add_argument("--cpu-batch", type=int, default=2)
    parser.add_argument("--gpu-batch", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backbone", default="efficientnet_b4")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument("--channels-last", action="store_true", help="channels-last on CUDA")
    add_record_arguments(parser)
    args = parser.parse_args(argv)
    check_recordable(args.out, args.allow_dirty)
    data: dict[str, Any] = {"benchmark": "model", "machine": machine(), "size": args.size,
                            "devices": {}}
    data["devices"]["cpu"] = run_device("cpu", args.cpu_batch, args.size, False, False,
                                        args.repeat, args.backbone)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        for amp in sorted({False, args.amp}):
            key = "cuda" + ("+amp" if amp else "") + ("+cl" if args.channels_last else "")
            data["devices"][key] = run_device("cuda", args.gpu_batch, args.size, amp,
                                              args.channels_last, max(5, args.repeat),
                                              args.backbone)
    rows = []
    for dev, res in data["devices"].items():
        names = list(res)
        full, bare = res[names[0]], res[names[1]]
        for name in names:
            r = res[name]
            rows.append([dev, name, f"{r['parameters'] / 1e6:.1f} M",
                         f"{r['gflops_per_image']:.1f}", f"{r['forward_img_s']:.2f}",
                         f"{r['forward_backward_img_s']:.2f}"])
        rows.append([dev, "ratio full / bare (time)", "", "",
                     f"{bare['forward_img_s'] / full['forward_img_s']:.2f}x",
                     f"{bare['forward_backward_img_s'] / full['forward_backward_img_s']:.2f}x"])
    sec = section(
        f"SFCL-HCMF at {args.size} x {args.size} (CPU batch {args.cpu_batch}"
        + (f", GPU batch {args.gpu_batch}" if torch.cuda.is_available() else "") + ")",
        ["device", "model", "parameters", "GFLOPs / image", "forward img/s", "fwd+bwd img/s"],
        rows,
        "The ratio row is the time of the full detector over the bare backbone's: the cost of "
        "the frequency branches, SIDA and the fusion.",
    )
    print(render_markdown([sec]))
    data["sections"] = [sec]
    data["command"] = command(__file__, argv)
    write_json(data, args.out)
    return data


if __name__ == "__main__":
    main()
