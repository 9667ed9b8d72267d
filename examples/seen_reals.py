"""Each model of a ``make real-faces`` run against every ffpp-mini fake and every original.

A diagnostic, not a result of the protocol. Leave-one-video-out tests each fold's model on an
original it has never seen; this script also scores it on the originals it trained on (as
reals, never with their fakes), and scores the final model, which trained on all three. If a
fake scores above its original only where the original is unseen, the model detects nothing of
that manipulation; if it scores below its original even where the original was seen, the
manipulation itself is invisible to the model. No fake frame is trained on in either case.
Training and test frames of an original may coincide (both are spread evenly over the video),
so a seen original is the most favourable real the model can meet.

    python examples/seen_reals.py runs/real-faces --out docs/results/real_faces_seen_reals.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics.config import load_config
from freqforensics.evaluation import evaluate
from freqforensics.metrics import binary_metrics
from freqforensics.models import SFCLHCMF
from freqforensics.provenance import command, machine

ROOT = Path(__file__).resolve().parents[1]


def _seen(model_dir: Path) -> list[str]:
    """The originals a model trained on: its ``data.real_pool_videos``."""
    config = load_config(model_dir / "config.yaml")
    return [str(v) for v in (config.data.real_pool_videos or [])]


def score_model(model_dir: Path, manifest: Path) -> dict[str, Any]:
    """Mean fake probability of every video, and each fake's frame AUC against each original."""
    model = SFCLHCMF.from_checkpoint(model_dir / "best.safetensors").eval()
    result = evaluate(model, manifest, by=(), split=None)
    frames: dict[str, list[float]] = {}
    reals: set[str] = set()
    for p in result.predictions:
        name = p["video_id"].rsplit("/", 1)[-1]
        frames.setdefault(name, []).append(p["fake_probability"])
        if p["label"] == 0:
            reals.add(name)
    auc = {fake: {real: 100 * binary_metrics(
                      np.r_[np.zeros(len(frames[real])), np.ones(len(frames[fake]))],
                      np.r_[frames[real], frames[fake]])["auc"]
                  for real in sorted(reals)}
           for fake in sorted(set(frames) - reals)}
    return {"seen_originals": _seen(model_dir),
            "mean_fake_probability": {v: float(np.mean(s)) for v, s in sorted(frames.items())},
            "frame_auc_fake_vs_original": auc}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the --out folder of examples/real_faces.py")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    manifest = args.run / "crops" / "tracked" / "ffpp-test" / "ffpp" / "manifest.csv"
    models = sorted(p.parent for p in args.run.glob("*/best.safetensors"))
    if not manifest.is_file() or not models:
        parser.error(f"run must hold crops/tracked/ffpp-test/ffpp/manifest.csv and model folders "
                     f"with best.safetensors (a finished make real-faces), got {args.run}")
    scores = {m.name: score_model(m, manifest) for m in models}
    for name, entry in scores.items():
        seen = ", ".join(entry["seen_originals"])
        print(f"{name} (trained on originals {seen}):")
        for fake, row in entry["frame_auc_fake_vs_original"].items():
            cells = "  ".join(f"vs {r}{'*' if r in entry['seen_originals'] else ' '} {a:6.2f}"
                              for r, a in row.items())
            print(f"  {fake:8s} {cells}")
    print("(* an original the model trained on, as a real)")
    trained = args.run / "results.json"
    record = {"command": command("examples/seen_reals.py", argv),
              "run": str(args.run),
              "models_commit": json.loads(trained.read_text()).get("commit")
              if trained.is_file() else None,
              "machine": machine(ROOT), "models": scores}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
