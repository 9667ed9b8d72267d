"""``freqforensics merge``: join the output folders of ``preprocess --shard`` into one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from freqforensics.cli._common import CLIError


def run(args: argparse.Namespace) -> int:
    """``freqforensics merge``: shard folders -> one output folder (exit 0)."""
    from collections import Counter

    from freqforensics._io import RunLockedError
    from freqforensics.data import load_manifest, merge_manifests

    try:
        manifests = merge_manifests(args.shards, args.out)
    except RunLockedError as err:
        raise CLIError(str(err)) from None
    for dataset, path in sorted(manifests.items()):
        rows = load_manifest(path)
        status = Counter(r.status for r in rows)
        videos = len({r.video_id for r in rows})
        print(
            f"manifest {dataset}: {path} ({videos} videos, {status.get('ok', 0)} frames with a "
            f"face, {status.get('no_face', 0)} no_face, {status.get('frame_error', 0)} "
            "frame_error, "
            f"{status.get('video_error', 0) + status.get('missing', 0)} videos not read)"
        )
    return 0


EPILOG = """\
Each SHARD_OUT is the --out of one 'freqforensics preprocess --shard I/N' run; all N shards of
one job must be given, made with the same settings. OUT must be new or empty: it gets the
settings, the crops and landmarks (hard links, or copies across file systems), a journal and
<dataset>/manifest.csv, exactly as one run over all the videos would have written them (so
'preprocess --out OUT' with the same settings resumes there). A video found in two shards is an
error naming it.

examples:
  freqforensics preprocess --dataset ffpp --root /data/FF++ --out crops/s0 --shard 0/2
  freqforensics preprocess --dataset ffpp --root /data/FF++ --out crops/s1 --shard 1/2
  freqforensics merge crops/s0 crops/s1 --out crops/ffpp
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "merge", "Join the output folders of 'preprocess --shard I/N' runs into one.", EPILOG
    )
    p.add_argument("shards", nargs="+", type=Path, metavar="SHARD_OUT", help="shard folders")
    p.add_argument("--out", type=Path, required=True, help="new output folder")
    p.set_defaults(handler=run)
