"""Training input pipeline: DataLoader samples/s against the detector's forward+backward.

A synthetic manifest of ``--crops`` PNG face-sized crops (``--crop-size``, default 300 x 300,
cut from the bundled photographs of :mod:`freqforensics.data.photos`, written with zlib level
1 as ``freqforensics preprocess`` writes them) is built in a temporary folder. Then, in one run:

- the DataLoader alone (the trainer's :func:`~freqforensics.engine.sampler.seeded_loader`,
  a shuffled order, no model) over :class:`~freqforensics.data.FrameDataset` (training
  augmentation, SIDA of the crop at its original resolution) at each model's input size, over
  :class:`~freqforensics.data.PseudoFakeDataset` (ellipse blends of the real crops) and over
  the embedded :class:`~freqforensics.data.synthetic.SelfBlendedFaces`, with 0, 1 and 2 worker
  processes; samples/s over a whole pass, worker start-up included;
- forward+backward (Adam step excluded) of the CPU preset (``sfcl_hcmf_cpu``, 128 px) and the
  paper preset (``sfcl_hcmf``, 380 px, small batch), on a real batch of the loader (its
  precomputed SIDA vectors included, as in training);
- with ``--end-to-end``, a training loop of the CPU preset fed by the loader, to see what the
  workers cost the model when both share the cores;
- a profile of one FrameDataset item: PNG decode, SIDA at the original resolution, resize,
  colour jitter, tensor conversion.

    python benchmarks/bench_dataloader.py --out benchmarks/results/bench_dataloader.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

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

from freqforensics.data import FrameDataset, PseudoFakeDataset  # noqa: E402
from freqforensics.data.dataset import _sida_vector, _to_tensor  # noqa: E402
from freqforensics.data.manifest import write_csv  # noqa: E402
from freqforensics.data.synthetic import SelfBlendedFaces  # noqa: E402
from freqforensics.engine.sampler import seeded_loader  # noqa: E402
from freqforensics.models import create_model  # noqa: E402

#: The two presets: registered name, input side, batch of the forward+backward timing.
PRESETS = {"cpu": ("sfcl_hcmf_cpu", 128), "paper": ("sfcl_hcmf", 380)}


# --------------------------------------------------------------------------------- the data
def write_crops(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` RGB PNG crops of ``size`` x ``size`` and their manifest (half real, half fake)."""
    from PIL import Image

    from freqforensics.data.photos import available_sources, load_source

    rng = np.random.default_rng(seed)
    photos = [load_source(name) for name in available_sources()]
    folder = root / "synthetic"
    rows = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        if min(h, w) < size:  # upscale small photos so a crop fits
            scale = size / min(h, w)
            photo = np.asarray(Image.fromarray(photo).resize(
                (max(size, round(w * scale)), max(size, round(h * scale))),
                Image.Resampling.BILINEAR))
            h, w = photo.shape[:2]
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        crop = photo[y:y + size, x:x + size]
        label = i % 2
        method = "Fake" if label else "original"
        video = f"v{i // 8:03d}"
        rel = f"{method}/{video}/{i:06d}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(crop)).save(folder / rel, compress_level=1)
        rows.append({
            "video_id": f"synthetic/{method}/{video}", "label": label, "split": "train",
            "dataset": "synthetic", "method": method, "compression": "", "frame_index": i,
            "x0": 0, "y0": 0, "x1": size, "y1": size, "crop_path": rel, "status": "ok",
            "source": f"{video}.mp4", "detail": "",
        })
    path = folder / "manifest.csv"
    write_csv(path, rows)
    return path


def datasets(manifest: Path, crops: int) -> dict[str, tuple[Any, int]]:
    """The data sets timed: name -> (data set, image side)."""
    out: dict[str, tuple[Any, int]] = {}
    for _, size in PRESETS.values():
        out[f"FrameDataset {size} px"] = (
            FrameDataset(manifest, "train", image_size=size, augment=True, real_repeat=1), size
        )
    out["PseudoFakeDataset 128 px (ellipse)"] = (
        PseudoFakeDataset(manifest, "train", image_size=128, method="ellipse", augment=True), 128
    )
    out["SelfBlendedFaces 128 px (embedded)"] = (
        SelfBlendedFaces("train", size=128, length=crops, seed=0), 128
    )
    return out


# ------------------------------------------------------------------------------- the loader
def loader_pass(dataset: Any, batch: int, workers: int, seed: int = 0) -> dict[str, float]:
    """One shuffled pass: samples/s (start-up included) and the first batch's latency."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    loader = seeded_loader(dataset, order, batch, seed, workers)  # type: ignore[arg-type]
    n = 0
    t0 = time.perf_counter()
    first = None
    for item in loader:
        n += len(item["image"])
        if first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return {"samples": n, "seconds": total, "samples_per_s": n / total,
            "first_batch_s": first or 0.0}


# -------------------------------------------------------------------------------- the model
def model_step(name: str, batch: dict[str, Any]) -> tuple[nn.Module, Callable[[], None]]:
    """The preset and a forward+backward on ``batch`` (images and their SIDA vectors)."""
    size = batch["image"].shape[-1]
    torch.manual_seed(0)
    model = create_model(name, img_size=size).train()
    images, sida = batch["image"], batch["sida"]
    labels = batch["label"].float()
    loss_fn = nn.BCEWithLogitsLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(images, sida=sida), labels).backward()

    return model, step


def end_to_end(dataset: Any, name: str, batch: int, workers: int, steps: int) -> dict[str, float]:
    """Loader + forward+backward + Adam of the preset: samples/s after the first step."""
    torch.manual_seed(0)
    model = create_model(name, img_size=dataset.image_size).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1)).tolist()
    loader = seeded_loader(dataset, order, batch, 1, workers)  # type: ignore[arg-type]
    t0, n = 0.0, 0
    for i, item in enumerate(loader):
        if i == steps + 1:
            break
        if i == 1:  # the first step (worker start-up, first-call overheads) is not counted
            t0, n = time.perf_counter(), 0
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(item["image"], sida=item["sida"]), item["label"].float()).backward()
        optimizer.step()
        n += len(item["image"])
    return {"samples": n, "seconds": time.perf_counter() - t0,
            "samples_per_s": n / (time.perf_counter() - t0)}


# ------------------------------------------------------------------------------ the profile
def profile_item(manifest: Path, size: int, repeat: int) -> dict[str, dict[str, float]]:
    """Median seconds of each stage of one :class:`FrameDataset` item at ``size`` px."""
    from PIL import Image, ImageEnhance

    ds = FrameDataset(manifest, "train", image_size=size, augment=True, real_repeat=1)
    path = ds.rows[0].crop_path
    assert path is not None

    def decode() -> Any:
        with Image.open(path) as png:
            return png.convert("RGB")

    crop = decode()
    resized = crop.resize((size, size), Image.Resampling.BILINEAR)

    def jitter() -> Any:
        return ImageEnhance.Contrast(ImageEnhance.Brightness(resized).enhance(1.05)).enhance(0.95)

    stages: dict[str, Callable[[], Any]] = {
        "PNG decode (open + RGB)": decode,
        "flip": lambda: crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "SIDA at the original resolution": lambda: _sida_vector(crop, ds.sida),
        f"resize to {size} (Pillow bilinear)": lambda: crop.resize(
            (size, size), Image.Resampling.BILINEAR),
        "colour jitter (brightness, contrast)": jitter,
        "to tensor (uint8 -> float32 CHW)": lambda: _to_tensor(resized),
        "whole item (ds[i])": lambda: ds[0],
    }
    out = {name: timeit(fn, warmup=2, repeat=repeat) for name, fn in stages.items()}
    threads = torch.get_num_threads()
    if threads > 1:  # small per-item tensor ops: intra-op threads can cost more than they save
        torch.set_num_threads(1)
        try:
            out["SIDA, 1 torch thread"] = timeit(lambda: _sida_vector(crop, ds.sida), warmup=2,
                                                 repeat=repeat)
        finally:
            torch.set_num_threads(threads)
    return out


# ---------------------------------------------------------------------------------- running
def run(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {"benchmark": "dataloader", "machine": machine(),
                            "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    data["settings"]["out"] = str(args.out) if args.out else None
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench_dataloader_") as tmp:
        t0 = time.perf_counter()
        manifest = write_crops(Path(tmp), args.crops, args.crop_size)
        sizes = [p.stat().st_size for p in manifest.parent.rglob("*.png")]
        data["crops"] = {"n": len(sizes), "side": args.crop_size,
                         "mean_png_kib": float(np.mean(sizes)) / 1024,
                         "write_s": time.perf_counter() - t0}
        print(f"{len(sizes)} crops of {args.crop_size} px, {np.mean(sizes) / 1024:.0f} KiB "
              "per PNG", flush=True)

        data["loader"] = []
        sets = datasets(manifest, args.crops)
        for name, (dataset, _size) in sets.items():
            for w in workers:
                r = loader_pass(dataset, args.loader_batch, w)
                data["loader"].append({"dataset": name, "workers": w, **r})
                print(f"  loader {name}, {w} workers: {r['samples_per_s']:.1f} samples/s "
                      f"(first batch {r['first_batch_s']:.2f} s)", flush=True)

        data["model"] = []
        for preset, (name, size) in PRESETS.items():
            if preset not in args.presets.split(","):
                continue
            batch_size = args.cpu_batch if preset == "cpu" else args.paper_batch
            ds = sets[f"FrameDataset {size} px"][0]
            batch = next(iter(seeded_loader(ds, None, batch_size, 0, 0)))
            _, step = model_step(name, batch)
            reps = args.repeat if preset == "cpu" else max(2, args.repeat // 2)
            t = timeit(step, warmup=1, repeat=reps)
            r = {"preset": preset, "model": name, "size": size, "batch": batch_size, **t,
                 "samples_per_s": batch_size / t["median_s"]}
            data["model"].append(r)
            print(f"  {name} {size} px fwd+bwd, batch {batch_size}: "
                  f"{r['samples_per_s']:.2f} samples/s", flush=True)

        data["end_to_end"] = []
        if args.end_to_end:
            ds = sets["FrameDataset 128 px"][0]
            for w in workers:
                r = end_to_end(ds, PRESETS["cpu"][0], args.cpu_batch, w, args.end_to_end)
                data["end_to_end"].append({"workers": w, "batch": args.cpu_batch, **r})
                print(f"  training loop sfcl_hcmf_cpu, {w} workers: "
                      f"{r['samples_per_s']:.2f} samples/s", flush=True)

        data["profile"] = {}
        for size in sorted({s for _, s in PRESETS.values()}):
            data["profile"][str(size)] = profile_item(manifest, size, args.repeat * 3)
    data["sections"] = sections(data)
    return data


def sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    model_rate = {m["size"]: m["samples_per_s"] for m in data["model"]}
    rows = []
    for r in data["loader"]:
        size = int(r["dataset"].split(" px")[0].split()[-1])
        need = model_rate.get(size)
        ratio = f"{r['samples_per_s'] / need:.1f}x" if need else "-"
        rows.append([r["dataset"], r["workers"], f"{r['samples_per_s']:.1f}",
                     f"{r['first_batch_s']:.2f}", ratio])
    crops = data["crops"]
    out = [section(
        f"DataLoader alone: {crops['n']} crops of {crops['side']} px "
        f"({crops['mean_png_kib']:.0f} KiB PNG), batch {data['settings']['loader_batch']}",
        ["data set", "workers", "samples/s", "first batch s", "loader / model fwd+bwd"],
        rows,
        "Samples/s over one shuffled pass, worker start-up included. The last column divides "
        "by the forward+backward samples/s of the preset of the same input size (cpu preset at "
        "128 px, paper preset at 380 px): above 1x the loader keeps up with the model.",
    )]
    out.append(section(
        "Forward+backward of the presets (on a loader batch, with its SIDA vectors)",
        ["model", "input", "batch", "samples/s", "median s / step"],
        [[m["model"], m["size"], m["batch"], f"{m['samples_per_s']:.2f}", f"{m['median_s']:.3f}"]
         for m in data["model"]],
        "No optimiser step. The model runs on every core torch is given (torch_threads).",
    ))
    if data["end_to_end"]:
        out.append(section(
            "Training loop of sfcl_hcmf_cpu at 128 px fed by the loader (Adam step included)",
            ["workers", "batch", "samples/s"],
            [[r["workers"], r["batch"], f"{r['samples_per_s']:.2f}"] for r in data["end_to_end"]],
            "Loader and model share the machine's cores: the loss against the model alone is "
            "what the input pipeline costs in practice.",
        ))
    for size, stages in data["profile"].items():
        whole = stages["whole item (ds[i])"]["median_s"]
        out.append(section(
            f"One FrameDataset item at {size} px ({crops['side']} px crop), median ms",
            ["stage", "ms", "share of the item"],
            [[name, f"{1000 * t['median_s']:.2f}", f"{100 * t['median_s'] / whole:.0f}%"]
             for name, t in stages.items()],
            "Stages timed one by one on the same crop (the flip applies to half the training "
            f"items, the jitter to all); torch threads: {data['machine']['torch_threads']}.",
        ))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--crops", type=int, default=256, help="crops in the manifest (even)")
    parser.add_argument("--crop-size", type=int, default=300)
    parser.add_argument("--loader-batch", type=int, default=32)
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--cpu-batch", type=int, default=32, help="cpu-demo.yaml's batch")
    parser.add_argument("--paper-batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--end-to-end", type=int, default=0, metavar="STEPS",
                        help="also time this many training steps of the CPU preset fed by the "
                             "loader, per worker count (0: off)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    add_record_arguments(parser)
    args = parser.parse_args(argv)
    check_recordable(args.out, args.allow_dirty)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = run(args)
    print(render_markdown(data["sections"]))
    data["command"] = command(__file__, argv)
    write_json(data, args.out)
    return data


if __name__ == "__main__":
    main()
