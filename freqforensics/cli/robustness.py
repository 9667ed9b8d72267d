"""``freqforensics robustness``: metrics under perturbations of the face crops."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from freqforensics._io import atomic_write_json, exclusive_lock
from freqforensics.cli._common import (
    SPLITS,
    check_manifests,
    load_model,
    nan_to_none,
    non_negative_int,
    positive_int,
    runtime_options,
    setup_runtime,
    split_arg,
)


def run(args: argparse.Namespace) -> int:
    """``freqforensics robustness``: metrics under perturbations of the face crops.

    One run at a time per ``--out``: its finished passes resume a later run there.
    """
    with exclusive_lock(args.out, "freqforensics robustness"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import warnings

    from freqforensics.data import load_rows
    from freqforensics.metrics import format_table
    from freqforensics.robustness import (
        evaluate_robustness,
        plot_robustness,
        robustness_matrix,
        robustness_perturbations,
        robustness_rows,
    )

    device = setup_runtime(args)
    manifests = check_manifests(args.manifest)
    model = load_model(args.checkpoint, device)
    rows = load_rows(manifests, split=split_arg(args.split), videos=args.videos,
                     allow_empty=False)
    perturbations = robustness_perturbations(args.protocol, args.perturbations, args.levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_robustness(
            model,
            rows,
            perturbations,
            max_frames=args.max_frames,
            batch_size=args.batch_size,
            device=device,
            seed=args.seed,
            progress=not args.quiet,
            num_workers=args.workers,
            protocol=args.protocol,
            resume_dir=args.out / "passes",  # an interrupted run resumes at its next pass
        )
    print(f"{result['frames']} frames of {result['videos']} videos ({args.split} split)")
    for level in ("frame", "video"):
        print(f"{level} level")
        print(format_table(robustness_rows(result, level)))
        if args.protocol == "deeperforensics":
            print(robustness_matrix(result, level))
    args.out.mkdir(parents=True, exist_ok=True)
    data = {
        "checkpoint": str(args.checkpoint),
        "manifest": [str(m) for m in manifests],
        "split": args.split,
        "max_frames": args.max_frames,
        "seed": args.seed,
        "protocol": args.protocol,
        **result,
    }
    atomic_write_json(args.out / "robustness.json", nan_to_none(data))
    plot_robustness(result, args.out / "robustness.png")
    print(f"wrote {args.out / 'robustness.json'} and {args.out / 'robustness.png'}")
    return 0


EPILOG = """\
Perturbations are applied to the original-resolution face crop, before resizing and SIDA.
quick (the default):
  jpeg    quality 90, 70, 50, 30          blur    Gaussian sigma 0.5, 1, 2 px
  noise   Gaussian std 0.01, 0.03, 0.05   resize  down-up scale 0.75, 0.5, 0.25
deeperforensics (DeeperForensics-1.0, levels 1-5, the reference's parameters):
  CS colour saturation, CC colour contrast, BW block-wise distortion, GNC white Gaussian
  noise, GB Gaussian blur, JPEG (the reference's down-up resize), VC video compression
  (H.264 at CRF 30-40 of each video's crop sequence, deterministic x264)
Writes robustness.json and robustness.png (AUC against strength or level, one line per
perturbation); deeperforensics also prints the type x level AUC table. Each finished pass is
kept in OUT/passes/: rerunning an interrupted command skips them (other settings start over).
One run at a time per OUT: a second one fails at once.

examples:
  freqforensics robustness --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/ffpp-c23-eval/ffpp/manifest.csv --out runs/ffpp-c23/robustness
  freqforensics robustness --checkpoint best.safetensors --manifest crops/ffpp/ffpp/manifest.csv \\
      --out rob --protocol deeperforensics --perturbations GB VC --levels 1 3 5
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "robustness",
        "Metrics under perturbations of the face crops (quick mode or DeeperForensics-1.0).",
        EPILOG,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--manifest", type=Path, nargs="+", required=True, help="manifest.csv file(s)")
    p.add_argument("--split", choices=(*SPLITS, "all"), default="test", help="split to evaluate")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON and the plot")
    p.add_argument(
        "--protocol",
        choices=("quick", "deeperforensics"),
        default="quick",
        help="quick: jpeg, blur, noise, resize at 4 strengths; deeperforensics: the 7 types of "
        "DeeperForensics-1.0 (CS, CC, BW, GNC, GB, JPEG, VC) at 5 levels",
    )
    p.add_argument(
        "--perturbations",
        nargs="+",
        choices=("jpeg", "blur", "noise", "resize", "CS", "CC", "BW", "GNC", "GB", "JPEG", "VC"),
        default=None,
        metavar="NAME",
        help="perturbations to run (default: all of the protocol's): quick jpeg, blur, noise, "
        "resize; deeperforensics CS, CC, BW, GNC, GB, JPEG, VC",
    )
    p.add_argument(
        "--levels",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="deeperforensics: levels to run, 1 to 5 (default: all five)",
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="a fixed random subset of this many frames (default: all)",
    )
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="keep only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="subset and noise seed")
    p.add_argument("--batch-size", type=positive_int, default=32, help="evaluation batch")
    runtime_options(p)
    p.set_defaults(handler=run)
