"""``freqforensics evaluate``: frame- and video-level metrics per manifest, method and overall.

The work is :func:`freqforensics.evaluate`; this module parses, prints and writes files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from freqforensics._io import atomic_write_json
from freqforensics.cli._common import (
    SPLITS,
    check_manifests,
    load_model,
    nan_to_none,
    positive_int,
    runtime_options,
    setup_runtime,
    split_arg,
)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, write the files asked for."""
    from freqforensics.evaluation import evaluate

    device = setup_runtime(args)
    manifests = check_manifests(args.manifest)
    model = load_model(args.checkpoint, device)
    by = ("dataset", "method") if args.by_method else ("dataset",)
    result = evaluate(model, manifests, by=by, split=split_arg(args.split), videos=args.videos,
                      batch_size=args.batch_size, device=device, workers=args.workers,
                      progress=not args.quiet)
    for level in ("frame", "video"):
        print(f"{level} level ({args.split} split)")
        print(result.table(level))
    if result.has_undefined:
        print("nan: AUC, EER and AP are undefined where only one class is present")
    for note in result.notes():
        print(note)
    groups = {k: v for k, v in result.groups.items() if k != "overall" or len(manifests) > 1}
    overall = result.groups["overall"]
    if args.json is not None:
        from freqforensics.provenance import command, machine

        atomic_write_json(args.json, nan_to_none({
            "command": command("freqforensics", getattr(args, "argv", None)),
            "machine": machine(Path(__file__).resolve().parents[2]),
            "checkpoint": str(args.checkpoint),
            "config": json.loads(model.config.to_json()),
            "split": args.split,
            "videos": args.videos,
            "results": groups,
            "overall": {k: v for k, v in overall.items() if k != "manifest"},
            "without_face": result.without_face,
            "predictions": result.predictions,
        }))
        print(f"wrote {args.json}")
    if args.out is not None:
        for path in result.save(args.out):
            print(f"wrote {path}")
    return 0


EPILOG = """\
One row per manifest (cross-dataset evaluation: pass several), plus 'overall' with several
manifests; --by-method adds one row per manipulation method (its fakes against all reals).
Video level = mean frame probability per video_id. The model input size comes from the
checkpoint; SIDA is computed on the original-resolution crops. --out writes metrics.csv (one
row per group and level), predictions.csv (every frame's probability), roc.png and pr.png.

examples:
  freqforensics evaluate --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/ffpp-c23-eval/ffpp/manifest.csv --by-method --json runs/ffpp-c23/test.json
  freqforensics evaluate --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/celebdf/celebdf/manifest.csv crops/dfdc/dfdc/manifest.csv --out runs/x
  freqforensics evaluate --checkpoint runs/sbi/best.safetensors \\
      --manifest crops/ffpp/ffpp/manifest.csv --split all --videos 004 004_982
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "evaluate",
        "Frame- and video-level AUC/ACC/EER/AP of a checkpoint, per manifest and overall.",
        EPILOG,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument(
        "--manifest",
        type=Path,
        nargs="+",
        required=True,
        help="manifest.csv file(s) or folders; one result row each (cross-dataset)",
    )
    p.add_argument("--split", choices=(*SPLITS, "all"), default="test", help="split to evaluate")
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="keep only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument(
        "--by-method",
        action="store_true",
        help="also one row per manipulation method (its fakes against all reals)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write all metrics and every frame's probability to this JSON file, with the "
        "command line, the code's commit and the machine",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write metrics.csv, predictions.csv, roc.png and pr.png to this folder",
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="evaluation batch")
    runtime_options(p)
    p.set_defaults(handler=run)
