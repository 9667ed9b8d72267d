"""What every subcommand shares: the parser classes, argument types, options and loaders."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import torch

    from freqforensics.models import SFCLHCMF

#: Manifest splits (defined once, in the readers).
from freqforensics._checks import first_line  # noqa: E402
from freqforensics.data.readers import FFPP_METHODS, SPLITS  # noqa: E402

__all__ = ["CLIError", "SPLITS", "FFPP_METHODS"]


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit code 2."""


class UsageError(Exception):
    """Bad command-line arguments (argparse), printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and do not exit the interpreter."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's line breaks; show the defaults that say something (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and "default:" not in text
            and default is not None
            and default is not False
            and default != argparse.SUPPRESS
            and not isinstance(default, list)
            and (
                action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
            )
        ):
            text += " (default: %(default)s)"
        return text


def _number(kind: type, minimum: float, strict: bool, expected: str) -> Any:
    """An argparse ``type``: parse ``kind`` and require ``> minimum`` (strict) or ``>=``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        ok = value > minimum if strict else value >= minimum
        if not (ok and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = _number(int, 0, True, "a positive integer")
non_negative_int = _number(int, 0, False, "an integer >= 0")
positive_float = _number(float, 0, True, "a positive number")
non_negative_float = _number(float, 0, False, "a number >= 0")


def runtime_options(
    parser: argparse.ArgumentParser, workers: bool = True, defaults: bool = True,
    quiet: bool = True,
) -> None:
    """``--device``, ``--threads``, ``--workers``, ``--quiet``.

    ``defaults=False`` leaves every default ``None`` (``train``: the config supplies them);
    ``quiet=False`` leaves out ``--quiet`` (a command without progress bars).
    """
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--device",
        default="auto" if defaults else None,
        help="auto (CUDA when available), cpu, cuda or cuda:N"
        + ("" if defaults else " (default: auto)"),
    )
    group.add_argument(
        "--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)"
    )
    if workers:
        group.add_argument(
            "--workers",
            type=non_negative_int,
            default=0 if defaults else None,
            help="data loader worker processes" + ("" if defaults else " (default: 0)"),
        )
    if quiet:
        group.add_argument("--quiet", action="store_true", help="no progress bars")


def face_options(parser: argparse.ArgumentParser) -> None:
    """``--scale`` and ``--upsample`` of the face detector."""
    group = parser.add_argument_group("face detection")
    group.add_argument(
        "--scale", type=positive_float, default=1.3, help="face box enlargement (FF++: 1.3)"
    )
    group.add_argument(
        "--upsample",
        type=int,
        choices=(0, 1),
        default=0,
        help="dlib upsampling: 1 finds faces down to ~40 px, 4x slower",
    )


def setup_runtime(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and return the ``--device``."""
    import torch

    from freqforensics._checks import resolve_device

    threads = getattr(args, "threads", None)
    if threads:
        torch.set_num_threads(threads)
    return resolve_device(getattr(args, "device", "auto") or "auto", "--device")


def load_model(path: Path, device: torch.device) -> SFCLHCMF:
    """A checkpoint of ``freqforensics train``, in eval mode; a one-line error otherwise."""
    from freqforensics.models import SFCLHCMF

    if not path.is_file():
        raise CLIError(f"checkpoint not found: {path}")
    try:
        model = SFCLHCMF.from_checkpoint(path)
    except Exception as err:  # noqa: BLE001 - any failure to read it is the user's file
        raise CLIError(
            f"cannot load checkpoint {path}: {first_line(err)} (expected a best.safetensors "
            "written by 'freqforensics train' or SFCLHCMF.save_checkpoint)"
        ) from None
    return model.to(device).eval()


def check_manifests(paths: Sequence[Path]) -> list[Path]:
    """The ``manifest.csv`` of each path (a file or its folder); a one-line error if absent."""
    from freqforensics.data.manifest import manifest_files

    return manifest_files(paths)


def split_arg(split: str) -> str | None:
    """``all`` means every split (``None``)."""
    return None if split == "all" else split


def nan_to_none(value: Any) -> Any:
    """NaN (undefined metrics) as JSON ``null``, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return value


def version() -> str:
    """``freqforensics X.Y.Z``."""
    from freqforensics import __version__

    return f"freqforensics {__version__}"
