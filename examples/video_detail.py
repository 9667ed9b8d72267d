"""What the real-faces scores follow: each test video's detail against its mean fake probability.

For the folds of a ``make real-faces`` run (``examples/real_faces.py``): per test video, the mean
detail of its face crops (variance of the Laplacian of the grey crop resized to the model's
input side, as the model sees it; no label is used) and the mean fake probability each fold
gave it, with the Spearman rank correlation of the two over all (fold, video) pairs. A
detector that reads the blend scores a video by its manipulation; one that read "soft = fake"
from its pseudo-fakes ranks the videos by detail instead, real or fake.

    python examples/video_detail.py runs/real-faces --out docs/results/real_faces_detail.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage, stats

from freqforensics.config import load_config
from freqforensics.data.codecs import read_rgb
from freqforensics.data.dataset import load_rows
from freqforensics.provenance import command, machine

ROOT = Path(__file__).resolve().parents[1]


def detail(crop: np.ndarray, side: int) -> float:
    """Variance of the Laplacian of ``crop``'s grey image at ``side`` x ``side`` (bilinear)."""
    grey = Image.fromarray(crop).convert("L").resize((side, side), Image.Resampling.BILINEAR)
    return float(ndimage.laplace(np.asarray(grey, dtype=np.float64)).var())


def fold_scores(run: Path) -> dict[str, dict[str, float]]:
    """``{fold: {video_id: mean fake probability}}`` from each fold's ``test/predictions.csv``."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted(run.glob("fold-*/test/predictions.csv")):
        per_video: dict[str, list[float]] = {}
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                per_video.setdefault(row["video_id"], []).append(float(row["fake_probability"]))
        out[path.parent.parent.name] = {v: statistics.fmean(p) for v, p in per_video.items()}
    return out


def analyse(run: Path, frames: int = 32) -> dict[str, Any]:
    """The detail of every scored video and its rank correlation with the folds' scores."""
    scores = fold_scores(run)
    if not scores:
        raise ValueError(f"run must hold fold-*/test/predictions.csv, got none in {run}")
    side = load_config(run / next(iter(scores)) / "config.yaml").model.img_size
    manifest = next(run.glob("crops/*/ffpp-test/ffpp/manifest.csv"), None)
    if manifest is None:
        raise ValueError(f"run must hold crops/*/ffpp-test/ffpp/manifest.csv, got none in {run}")
    by_video: dict[str, list[Any]] = {}
    for row in load_rows(manifest, split=None):
        by_video.setdefault(row.video_id, []).append(row)
    videos: dict[str, Any] = {}
    for video in sorted({v for s in scores.values() for v in s}):
        rows = by_video.get(video, [])[:frames]
        if not rows:
            continue
        videos[video] = {
            "label": rows[0].label,
            "method": rows[0].method,
            "frames": len(rows),
            "detail": statistics.fmean(detail(read_rgb(r.crop_path), side) for r in rows),
            "face_box_side": statistics.median(r.x1 - r.x0 for r in rows),
        }
    pairs = [(videos[v]["detail"], p, fold, v) for fold, s in scores.items()
             for v, p in s.items() if v in videos]
    rho, p_value = stats.spearmanr([d for d, *_ in pairs], [p for _, p, *_ in pairs])
    summary = run / "results.json"
    return {
        "run": str(run),
        "run_commit": json.loads(summary.read_text()).get("commit") if summary.is_file() else None,
        "model_input_side": side,
        "videos": videos,
        "scores": [{"fold": f, "video": v, "mean_fake_probability": p} for _, p, f, v in pairs],
        "spearman_detail_vs_score": {"rho": float(rho), "p_value": float(p_value),
                                     "pairs": len(pairs)},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the output folder of examples/real_faces.py")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--frames", type=int, default=32, help="crops per video")
    args = parser.parse_args(argv)
    result = analyse(args.run, args.frames)
    result["command"] = command("examples/video_detail.py", argv)
    result["machine"] = machine(ROOT)
    for video, v in result["videos"].items():
        print(f"{video:40s} label {v['label']} detail {v['detail']:7.1f}  " + "  ".join(
            f"{s['fold']} {s['mean_fake_probability']:.2f}" for s in result["scores"]
            if s["video"] == video))
    r = result["spearman_detail_vs_score"]
    print(f"Spearman rho (detail, mean fake probability) = {r['rho']:.2f} over {r['pairs']} "
          f"(fold, video) pairs, p = {r['p_value']:.3f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
