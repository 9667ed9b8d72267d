"""Throughput of the preprocessing stages on the shared FaceForensics++ / DFDC samples.

Measures, per frame, separately: decoding (keyframe seeking + RGB conversion, as the job does
it), dlib detection at upsample 0 and 1 (grey input, as the job does it; RGB input as the
baseline), cropping (FF++ square snapped to the 8-pixel grid; a plain copy of the frame is the
memory-bandwidth baseline) and lossless PNG writing (zlib level 1, the job's default, and
Pillow's default level 6). Prints a table and writes JSON with the machine information.

Usage::

    .venv/bin/python benchmarks/bench_preprocess.py --frames 4 --out bench_preprocess.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
T = TypeVar("T")


def _videos(data: Path) -> list[Path]:
    videos = sorted((data / "ffpp-mini").rglob("*.mp4")) + sorted(
        (data / "dfdc-mini").rglob("*.mp4")
    )
    if not videos:
        raise SystemExit(f"no sample videos under {data}; pass --data")
    return videos


def _time(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """Seconds taken by ``fn(*args, **kwargs)`` and its result."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def _summary(
    name: str, seconds: list[float], per_entry: int = 1, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Throughput of ``seconds`` (one entry per call, each over ``per_entry`` frames)."""
    frames = per_entry * len(seconds)
    total = sum(seconds)
    per = sorted(s / per_entry for s in seconds) if seconds else [0.0]
    row = {
        "stage": name,
        "frames": frames,
        "total_s": total,
        "frames_per_s": frames / total if total else float("inf"),
        "median_ms_per_frame": 1000 * statistics.median(per),
        "p10_ms": 1000 * per[max(0, len(per) // 10)],
        "p90_ms": 1000 * per[min(len(per) - 1, (9 * len(per)) // 10)],
    }
    row.update(extra or {})
    return row


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    """Platform, CPU count, load and library versions."""
    import av
    import dlib
    import PIL
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "av": av.__version__,
        "dlib": dlib.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "git_commit": _git_commit(),
    }


def run(data: Path, frames: int) -> dict[str, Any]:
    """Time every stage over ``frames`` frames of each sample video."""
    import dlib
    from PIL import Image

    from freqforensics.data.faces import FaceBox, crop_face, detect_largest_face, face_box
    from freqforensics.data.video import Frame, sample_frames

    detector = dlib.get_frontal_face_detector()
    videos = _videos(data)
    # Warm-up: first decode and first detection pay for library initialisation.
    warm = next(iter(sample_frames(videos[0], 1))).image
    detect_largest_face(warm, 0, detector)

    def decode(path: Path) -> list[Frame]:
        return list(sample_frames(path, frames))

    decode_s: list[float] = []
    images: list[tuple[str, np.ndarray]] = []
    per_video: list[dict[str, Any]] = []
    for path in videos:
        elapsed, got = _time(decode, path)
        decode_s.append(elapsed)
        h, w = got[0].image.shape[:2]
        per_video.append(
            {"video": str(path.relative_to(data)), "size": f"{w}x{h}", "decode_s": elapsed}
        )
        images.extend((f"{w}x{h}", f.image) for f in got)

    def detect(image: np.ndarray, upsample: int, grey: bool) -> tuple[int, int, int, int] | None:
        if grey:
            return detect_largest_face(image, upsample, detector)
        rects = detector(image, upsample)
        return None if len(rects) == 0 else (0, 0, 0, 0)

    rows = [_summary("decode (seek + rgb24)", decode_s, frames)]
    by_size: dict[str, dict[str, list[float]]] = {}
    faces: list[tuple[np.ndarray, FaceBox]] = []
    for stage, upsample, grey in (
        ("detect up0 rgb (baseline)", 0, False),
        ("detect up0 grey (job)", 0, True),
        ("detect up1 grey", 1, True),
    ):
        detect_s: list[float] = []
        found = 0
        for size, image in images:
            elapsed, face = _time(detect, image, upsample, grey)
            detect_s.append(elapsed)
            by_size.setdefault(size, {}).setdefault(stage, []).append(elapsed)
            if face is None:
                continue
            found += 1
            if stage == "detect up0 grey (job)":
                box = face_box(face, (image.shape[0], image.shape[1]))
                if box is not None:
                    faces.append((image, box))
        rows.append(_summary(stage, detect_s, 1, {"frames_with_face": found}))

    copy_s = [_time(np.array, image, copy=True)[0] for _, image in images]
    rows.append(_summary("frame copy (baseline)", copy_s))
    crop_s: list[float] = []
    crops: list[np.ndarray] = []
    for image, box in faces:
        elapsed, crop = _time(crop_face, image, box)
        crop_s.append(elapsed)
        crops.append(crop)
    rows.append(_summary("crop (snapped box, copy)", crop_s))

    def write_png(crop: np.ndarray, target: Path, level: int) -> None:
        Image.fromarray(crop).save(target, format="PNG", compress_level=level)

    with tempfile.TemporaryDirectory() as tmp:
        for level in (1, 6):
            write_s: list[float] = []
            nbytes = 0
            for i, crop in enumerate(crops):
                target = Path(tmp) / f"{level}_{i}.png"
                elapsed, _ = _time(write_png, crop, target, level)
                write_s.append(elapsed)
                nbytes += target.stat().st_size
            name = f"png write level {level}" + (" (job)" if level == 1 else "")
            mean_kib = nbytes / 1024 / max(len(crops), 1)
            rows.append(_summary(name, write_s, 1, {"mean_kib": mean_kib}))
    detect_by_size = {
        size: {stage: len(t) / sum(t) for stage, t in stages.items()}
        for size, stages in sorted(by_size.items())
    }
    return {
        "machine": machine(),
        "frames_per_video": frames,
        "videos": len(videos),
        "stages": rows,
        "detect_frames_per_s_by_size": detect_by_size,
        "per_video": per_video,
        "mean_crop_side": float(np.mean([c.shape[0] for c in crops])) if crops else 0.0,
    }


def _print(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(
        f"{m['platform']} | {m['cpu_count']} CPUs | load {m['load_average_1_5_15']} | "
        f"torch {m['torch']} | av {m['av']} | dlib {m['dlib']}"
    )
    print(f"{result['videos']} videos x {result['frames_per_video']} frames")
    print(f"{'stage':30s} {'frames':>6s} {'frames/s':>9s} {'median ms':>10s} {'p10-p90 ms':>16s}")
    for row in result["stages"]:
        print(
            f"{row['stage']:30s} {row['frames']:6d} {row['frames_per_s']:9.1f} "
            f"{row['median_ms_per_frame']:10.2f} {row['p10_ms']:7.2f}-{row['p90_ms']:<8.2f}"
            + (f" face {row['frames_with_face']}" if "frames_with_face" in row else "")
            + (f" {row['mean_kib']:.0f} KiB" if "mean_kib" in row else "")
        )
    print("detection frames/s by frame size:")
    for size, stages in result["detect_frames_per_s_by_size"].items():
        print(f"  {size:10s} " + "  ".join(f"{k}: {v:.2f}" for k, v in stages.items()))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared sample folder")
    parser.add_argument("--frames", type=int, default=4, help="frames sampled per video")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    result = run(args.data, args.frames)
    _print(result)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
