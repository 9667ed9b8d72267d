"""The ``freqforensics`` command line: from dataset folders to crops, models and figures.

Subcommands (``freqforensics <command> --help`` explains every option, with examples), one
module each, which parses its arguments, calls the library and prints:

- ``preprocess``: a dataset folder (FaceForensics++, Celeb-DF v2, DFDC, the DFDC test set or a
  plain ``real/`` + ``fake/`` folder) to face crops and a manifest (resumable);
  :func:`freqforensics.data.preprocess`.
- ``train``: SFCL-HCMF from a config recipe and flags (resumable);
  :func:`freqforensics.training.train`.
- ``evaluate``: frame- and video-level AUC, ACC, EER and AP per manifest, method and overall;
  :func:`freqforensics.evaluate`.
- ``predict``: fake probabilities of an image, a folder of images or a video;
  :meth:`freqforensics.Detector.predict`.
- ``robustness``: metrics under perturbations of the face crops;
  :func:`freqforensics.robustness.evaluate_robustness`.
- ``explain``: band-energy, attention and SIDA figures of one face;
  :func:`freqforensics.explain.explain_image`.
- ``merge``: the manifests of ``preprocess --shard I/N`` runs joined into one;
  :func:`freqforensics.data.merge_manifests`.

Exit status: 0 success; 2 bad arguments or a user error (a missing file, a bad checkpoint, an
empty split, a corrupt video, reported as one line on stderr, never a traceback: ``--debug``
shows it); 3 ``preprocess`` finished but some inputs could not be read; 4 ``predict`` found
no face; 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys

from freqforensics.cli import evaluate, explain, merge, predict, preprocess, robustness, train
from freqforensics.cli._common import CLIError, Formatter, Parser, UsageError, version
from freqforensics.cli.predict import EXIT_NO_FACE
from freqforensics.cli.preprocess import EXIT_NOT_READ

__all__ = ["main", "build_parser", "CLIError", "EXIT_NOT_READ", "EXIT_NO_FACE"]

#: The subcommands in the order ``--help`` lists them: (name, module, one-line help).
COMMANDS = (
    ("preprocess", preprocess,
     "Sample frames, crop the largest face, write PNG crops and a manifest (resumable)."),
    ("merge", merge, "Join the output folders of 'preprocess --shard I/N' runs into one."),
    ("train", train, "Train SFCL-HCMF from a config recipe and/or flags (resumable)."),
    ("evaluate", evaluate,
     "Frame- and video-level AUC/ACC/EER/AP of a checkpoint, per manifest and overall."),
    ("predict", predict,
     "Fake probability of an image, a folder of images or a video (per frame and mean)."),
    ("robustness", robustness,
     "Metrics under perturbations of the face crops (quick mode or DeeperForensics-1.0)."),
    ("explain", explain, "Band-energy, attention and SIDA figures of one face."),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``freqforensics`` command (all subcommands)."""
    parser = Parser(
        prog="freqforensics",
        description="Frequency-forensics deepfake detection: preprocess datasets, train, "
        "evaluate and explain SFCL-HCMF.",
        epilog="Run 'freqforensics <command> --help' for the options and examples of a command.",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    helps = {name: text for name, _, text in COMMANDS}

    def command(name: str, help_text: str, epilog: str) -> argparse.ArgumentParser:
        text = helps.get(name, help_text)
        return sub.add_parser(
            name, help=text, description=text, epilog=epilog, formatter_class=Formatter
        )

    for _, module, _ in COMMANDS:
        module.register(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``freqforensics`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (see the module docstring).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the records a command writes
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(
            f"freqforensics {args.command}: interrupted (rerun the same command to resume)",
            file=sys.stderr,
        )
        return 130
    except (CLIError, ValueError, OSError, RuntimeError) as err:
        if args.debug or (isinstance(err, RuntimeError) and not _user_runtime_error(err)):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"freqforensics {args.command}: error: {message}", file=sys.stderr)
        return 2


def _user_runtime_error(err: RuntimeError) -> bool:
    """A ``RuntimeError`` that is the user's doing: another run holds the output folder."""
    from freqforensics._io import RunLockedError

    return isinstance(err, RunLockedError)
