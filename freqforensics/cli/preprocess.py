"""``freqforensics preprocess``: a dataset folder to face crops and a manifest (resumable)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from freqforensics.cli._common import (
    FFPP_METHODS,
    SPLITS,
    CLIError,
    face_options,
    non_negative_int,
    positive_int,
)
from freqforensics.data.sources import DATASETS  # noqa: E402
from freqforensics.data.tracking import MAX_GAP  # noqa: E402

#: Exit status of ``preprocess`` when it finished but some listed inputs could not be read.
EXIT_NOT_READ = 3


def _shard(text: str) -> Any:
    """``--shard I/N`` as a :class:`~freqforensics.data.shards.Shard`."""
    from freqforensics.data.shards import parse_shard

    try:
        return parse_shard(text, "--shard")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    """``freqforensics preprocess``: videos -> face crops + manifest (exit 3: some not read)."""
    from collections import Counter

    from freqforensics._io import RunLockedError, safe_component
    from freqforensics.data import load_manifest, preprocess
    from freqforensics.data.sources import read_dataset

    if args.name is not None:
        safe_component(args.name, "--name")
    records, notes = read_dataset(
        args.dataset, args.root, splits=args.splits, methods=args.methods,
        compression=args.compression, skip_missing=args.skip_missing,
        val_fraction=args.val_fraction, seed=args.seed, val_parts=args.val_parts,
        video_dir=args.video_dir, name=args.name, folder_split=args.folder_split,
        videos=args.videos, identity_regex=args.identity_regex,
        unknown_identity=args.unknown_identity,
    )
    for note in notes:
        print(note.replace("skip_missing:", "--skip-missing:"))
    t0 = time.perf_counter()
    try:
        report = preprocess(
            records,
            args.out,
            frames_per_video=args.frames,
            workers=args.workers,
            scale=args.scale,
            upsample=args.upsample,
            progress=not args.quiet,
            retry_errors=args.retry_errors,
            track=args.track,
            detect_every=args.detect_every,
            max_gap=args.max_gap or None,
            detector=args.detector,
            landmarks=getattr(args, "landmarks", True),
            shard=args.shard,
        )
    except RunLockedError as err:
        raise CLIError(str(err)) from None
    seconds = time.perf_counter() - t0
    done = len(report.processed) - len(report.errors) - len(report.missing)
    listed = len(records) - report.other_shards
    if args.shard:
        print(f"--shard {args.shard}: {listed} of the {len(records)} listed videos")
    print(
        f"videos: {listed} listed, {done} done now, {len(report.skipped)} already done "
        f"(skipped), {len(report.errors)} errors, {len(report.missing)} missing "
        f"({seconds:.1f} s)"
    )
    print(
        f"frames (this run): {report.counts.get('ok', 0)} ok, "
        f"{report.counts.get('no_face', 0)} no_face, {report.counts.get('frame_error', 0)} "
        "frame_error"
    )
    for video_id, message in sorted(report.errors.items()):
        print(f"  error: {video_id}: {message}")
    for video_id, message in sorted(report.damaged.items())[:20]:
        print(f"  damaged: {video_id}: {message}")
    if len(report.damaged) > 20:
        print(f"  ... and {len(report.damaged) - 20} more damaged videos")
    for dataset, path in sorted(report.manifests.items()):
        rows = load_manifest(path)
        ok = Counter(r.split for r in rows if r.status == "ok")
        no_face = sum(r.status == "no_face" for r in rows)
        per_split = ", ".join(f"{s} {ok[s]}" for s in SPLITS if ok[s])
        print(
            f"manifest {dataset}: {path} ({sum(ok.values())} frames with a face: "
            f"{per_split or 'none'}; {no_face} no_face)"
        )
    if report.damaged:
        print(
            f"finished, but {len(report.damaged)} of the {listed} listed videos have sampled "
            "frames that did not decode cleanly (a damaged packet): recorded as frame_error "
            f"rows, the others cropped (exit status {EXIT_NOT_READ}; --retry-errors redoes them)"
        )
    if not report.not_read:
        return EXIT_NOT_READ if report.damaged else 0
    earlier = {k: v for k, v in report.not_read.items() if k not in report.processed}
    for video_id, message in sorted(earlier.items())[:20]:
        print(f"  not read in an earlier run: {video_id}: {message}")
    if len(earlier) > 20:
        print(f"  ... and {len(earlier) - 20} more not read in earlier runs")
    print(
        f"finished, but {len(report.not_read)} of the {listed} listed videos could not be "
        f"read ({len(earlier)} of them in an earlier run; --retry-errors redoes unreadable ones); "
        f"they are recorded in the manifest as video_error or missing (exit status "
        f"{EXIT_NOT_READ})"
    )
    return EXIT_NOT_READ


EPILOG = """\
Writes <out>/<dataset>/manifest.csv and the face crops (lossless PNG, original resolution,
1.3x dlib box snapped to the 8-pixel grid of the frame). Rerunning the same command resumes:
finished videos are skipped. An out folder made with other --frames/--scale/--upsample is
refused (so are other --track/--detect-every/--detector/--no-landmarks/--shard): use one folder
per setting (e.g. 270 frames for train, 50 for val/test). One run at a time per --out: a second
one fails at once. Each crop gets its 68 dlib landmarks beside it (<frame>.landmarks.npy, crop
pixels). --shard I/N processes 1/N of the videos (a stable hash of the video id) into its own
--out; 'freqforensics merge' joins the N shard folders into one. Paths in the metadata that
leave --root, folders that cannot be listed and broken links are never read: like corrupt and
missing videos they are listed in the summary and recorded in the manifest (status
video_error or missing).

exit status: 0 every listed video was read; 3 finished, but some listed videos, or some of
their sampled frames, could not be read (unreadable, corrupt, damaged, refused or missing;
--skip-missing leaves absent files out); 2 a user error (bad arguments, malformed metadata,
--out in use); 130 interrupted (rerun to resume).

examples:
  freqforensics preprocess --dataset ffpp --root /data/FaceForensics++ --out crops/ffpp-c23 \\
      --compression c23 --splits train --frames 270 --workers 8
  freqforensics preprocess --dataset ffpp --root /data/FaceForensics++ --out crops/ffpp-c23-eval \\
      --compression c23 --splits val test --frames 50
  freqforensics preprocess --dataset celebdf --root /data/Celeb-DF-v2 --out crops/celebdf \\
      --splits test --frames 50
  freqforensics preprocess --dataset dfdc-test --root /data/dfdc_test/labels.csv \\
      --out crops/dfdc --frames 50
  freqforensics preprocess --dataset folder --root my_videos --out crops/mine --frames 32
  # shard 0 of 2 here, --shard 1/2 on another machine:
  freqforensics preprocess --dataset ffpp --root /data/FaceForensics++ --out crops/ffpp-s0 \\
      --frames 270 --track --detect-every 5 --shard 0/2
  freqforensics preprocess --dataset images --root ../shared/data/faces-real --out crops/faces \\
      --identity-regex '^(?P<identity>.+?__.+?)__' --val-fraction 0.15 --seed 0
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "preprocess",
        "Sample frames, crop the largest face, write PNG crops and a manifest (resumable).",
        EPILOG,
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        required=True,
        help="layout of --root (images: a folder of real photographs, identity-disjoint "
        "train/val)",
    )
    p.add_argument(
        "--root",
        type=Path,
        required=True,
        help="dataset folder (dfdc-test: labels.csv or its folder)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (crops + manifests)")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=FFPP_METHODS,
        default=["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"],
        metavar="METHOD",
        help="ffpp: manipulation methods, among "
        + ", ".join(FFPP_METHODS)
        + " (default: the four of the paper, all but FaceShifter)",
    )
    p.add_argument(
        "--compression", choices=("raw", "c23", "c40"), default="c23", help="ffpp: compression"
    )
    p.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        metavar="SPLIT",
        help="splits to process: train, val, test (default: all three)",
    )
    p.add_argument(
        "--frames",
        type=positive_int,
        default=32,
        help="frames sampled evenly per video (paper: 270 train, 50 test)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all CPUs)",
    )
    face_options(p)
    track = p.add_argument_group("tracking, landmarks and sharding")
    track.add_argument(
        "--track",
        action="store_true",
        help="decode each video's sampled frames in order and follow the main face (detector "
        "every --detect-every frames; other people's faces are never cropped) instead of "
        "detecting in every frame",
    )
    track.add_argument(
        "--detect-every",
        type=positive_int,
        default=5,
        metavar="K",
        help="with --track: run the detector every K sampled frames",
    )
    track.add_argument(
        "--max-gap",
        type=non_negative_int,
        default=MAX_GAP,
        metavar="G",
        help="with --track: also run it once the video is G frames past the last detection "
        "(sparse sampling; 0: off)",
    )
    track.add_argument(
        "--detector", choices=("hog", "cnn"), default="hog", help="dlib face detector"
    )
    track.add_argument(
        "--no-landmarks",
        dest="landmarks",
        action="store_false",
        default=argparse.SUPPRESS,
        help="no landmarks sidecars (only to resume an --out made before they existed)",
    )
    track.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="process shard I of N (0 <= I < N; a stable hash of the video id) into its own "
        "--out, writing <dataset>/manifest.shard-I-of-N.csv; join with 'freqforensics merge'",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out videos the metadata lists but the disk lacks (partial downloads) "
        "instead of recording them as 'missing' in the manifest",
    )
    p.add_argument(
        "--retry-errors", action="store_true", help="redo videos that failed in an earlier run"
    )
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="celebdf: share of the non-test videos put in val (default 0); images: share of "
        "the identities put in val (default 0.15)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="celebdf, images: seed of the val selection"
    )
    p.add_argument(
        "--val-parts", type=int, nargs="*", default=[], help="dfdc: part numbers used as val"
    )
    p.add_argument(
        "--video-dir",
        type=Path,
        default=None,
        help="dfdc-test: folder of the videos (default: beside labels.csv)",
    )
    p.add_argument(
        "--name", default=None, help="folder, images: dataset name (default: the folder's name)"
    )
    p.add_argument(
        "--identity-regex",
        default=None,
        metavar="REGEX",
        help="images: Python regex on the file name; its group 'identity' (or the whole match) "
        "is the person (default: the subfolder). faces-real: '^(?P<identity>.+?__.+?)__'",
    )
    p.add_argument(
        "--unknown-identity",
        default="unk",
        metavar="NAME",
        help="images: an identity NAME (or ending in __NAME or /NAME) is unknown: each such "
        "file is its own identity ('' disables)",
    )
    p.add_argument(
        "--folder-split",
        choices=SPLITS,
        default="test",
        help="folder: split of files not under train/val/test subfolders",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
