"""``freqforensics predict``: fake probability of an image, a folder of images or a video.

The work is :meth:`freqforensics.Detector.predict`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from freqforensics.cli._common import (
    CLIError,
    face_options,
    load_model,
    positive_int,
    runtime_options,
    setup_runtime,
)

#: Exit status when no frame had a face (no prediction; the report is still printed).
EXIT_NO_FACE = 4


def _table(result: dict[str, Any], what: str) -> str:
    frames = result["frames"]
    width = max([len(Path(f.get("file", "")).name) for f in frames] + [5])
    lines = [f"{'frame'.ljust(width)}  {'status':8}  {'box (x0,y0,x1,y1)':22}  fake_probability"]
    for f in frames:
        name = Path(f["file"]).name if "file" in f else str(f["frame_index"])
        box = ",".join(map(str, f["box"])) if f["box"] else "-"
        p = "-" if f["fake_probability"] is None else f"{f['fake_probability']:.4f}"
        lines.append(f"{name.ljust(width)}  {f['status']:8}  {box:22}  {p}")
    errors, no_face = result["frames_with_error"], result["frames_without_face"]
    failed = f", {errors} with an error" if errors else ""
    mean = result["fake_probability"]
    if mean is None:
        lines.append(f"{what}: no face found in {len(frames)} frame(s){failed}; no prediction "
                     f"(exit status {EXIT_NO_FACE})")
    else:
        lines.append(f"{what}: fake probability {mean:.4f} ({result['label']}; mean over "
                     f"{result['frames_with_face']} frame(s) with a face, {no_face} "
                     f"without{failed})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Score the input; exit 0 with a prediction, 4 when no frame had a face."""
    from freqforensics.inference import Detector

    device = setup_runtime(args)
    if not args.input.exists():
        raise CLIError(f"INPUT not found: {args.input}")
    model = load_model(args.checkpoint, device)
    detector = Detector(model, device=device, detect=not args.no_detect, scale=args.scale,
                        upsample=args.upsample, threshold=args.threshold,
                        progress=not args.quiet)
    prediction = detector.predict(args.input, frames=args.frames)
    if prediction.kind == "image" and prediction.errors:
        raise CLIError(prediction.errors[0].error or f"cannot read image {args.input}")
    for frame in prediction.errors:
        name = Path(frame.source).name if prediction.kind != "video" and frame.source else (
            f"frame {frame.index}")
        print(f"freqforensics predict: skipped {name}: {frame.error}", file=sys.stderr)
    result = {
        "input": str(args.input),
        "type": prediction.kind,
        "checkpoint": str(args.checkpoint),
        "image_size": detector.image_size,
        "detect": prediction.kind == "video" or not args.no_detect,
        **{k: v for k, v in prediction.to_dict().items() if k not in ("input", "type")},
    }
    print(json.dumps(result, indent=2) if args.json else _table(result, prediction.kind))
    if prediction.frames and len(prediction.errors) == len(prediction.frames):
        raise CLIError(f"no frame of {prediction.kind} {args.input} could be read or scored; "
                       f"first: {prediction.errors[0].error}")
    return 0 if prediction.fake_probability is not None else EXIT_NO_FACE


EPILOG = """\
Faces are found with dlib (largest face, 1.3x box snapped to the 8-pixel grid), SIDA is
computed on the original-resolution crop and the crop is resized to the checkpoint's input
size. Frames without a face are listed with status no_face and left out of the mean. In a
folder, an image that cannot be read or scored (e.g. a corrupt file) is listed with status
error (its reason in "error", also on stderr) and the others go on; so is a video frame that
does not decode cleanly (it depends on a damaged packet). A video that cannot be opened, or
none of whose sampled frames decode, is an error (exit status 2).

exit status:
  0  a prediction: at least one frame had a face
  4  no frame had a face: no prediction (the report is still printed)
  2  bad arguments or a user error (missing input or checkpoint, unreadable image or video,
     a folder none of whose images could be read)
  1  an unexpected error

examples:
  freqforensics predict suspicious.mp4 --checkpoint runs/ffpp-c23/best.safetensors
  freqforensics predict face.png --checkpoint best.safetensors --json
  freqforensics predict crops/ --checkpoint best.safetensors --no-detect
"""

def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "predict",
        "Fake probability of an image, a folder of images or a video (per frame and mean).",
        EPILOG,
    )
    p.add_argument("input", type=Path, metavar="INPUT", help="image, folder of images or video")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--frames", type=positive_int, default=32, help="video: frames sampled evenly")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-detect",
        action="store_true",
        help="images are face crops already: no face detection (videos are always detected)",
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="mean probability above which it is 'fake'"
    )
    face_options(p)
    runtime_options(p, workers=False)
    p.set_defaults(handler=run)
