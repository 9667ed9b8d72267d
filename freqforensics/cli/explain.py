"""``freqforensics explain``: band-energy, attention and SIDA figures of one face."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from freqforensics.cli._common import (
    CLIError,
    face_options,
    load_model,
    runtime_options,
    setup_runtime,
)


def run(args: argparse.Namespace) -> int:
    """Write the figures of one face and print its fake probability."""
    from freqforensics.explain import explain_image
    from freqforensics.inference import Detector

    device = setup_runtime(args)
    for path in (args.image, args.reference):
        if path is not None and not path.is_file():
            raise CLIError(f"image not found: {path}")
    model = load_model(args.checkpoint, device)
    detector = Detector(model, device=device, detect=not args.no_detect, scale=args.scale,
                        upsample=args.upsample)
    result = explain_image(detector, args.image, args.out, reference=args.reference)
    for note in result.notes:
        print(note.replace("pass a reference real face", "pass --reference REAL_IMAGE"))
    width, height = result.face_size
    size = detector.image_size
    print(f"fake probability of {args.image.name}: {result.fake_probability:.4f} (face "
          f"{width}x{height}, model input {size}x{size})")
    for path in result.written:
        print(f"wrote {path}")
    return 0


EPILOG = """\
Writes band_energy.png (the face, its 64 Y block-DCT band maps and the band energy curve),
attention_overlay.png (FAAE attention received and, when the model exposes them, the HCMA gated
token contributions over the face) and, with --reference, sida_statistics.png (the paper's
Figure 7: SIDA means of the reference face vs this face). Prints the fake probability.

examples:
  freqforensics explain face.png --checkpoint best.safetensors --out explain/
  freqforensics explain fake_frame.png --reference real_frame.png --checkpoint best.safetensors \\
      --out explain/
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command("explain", "Band-energy, attention and SIDA figures of one face.", EPILOG)
    p.add_argument("image", type=Path, metavar="IMAGE", help="an image with a face (or a crop)")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--out", type=Path, required=True, help="folder for the figures")
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="REAL_IMAGE",
        help="a real face to compare the SIDA statistics with (Figure 7)",
    )
    p.add_argument("--no-detect", action="store_true", help="the images are face crops already")
    face_options(p)
    runtime_options(p, workers=False, quiet=False)  # one image: no progress bar
    p.set_defaults(handler=run)
