"""The preprocessing job: videos -> sampled frames -> face crops (lossless PNG) -> manifests.

Layout written under ``out_dir`` (see :mod:`~freqforensics.data.journal` for the journal
format and :mod:`~freqforensics.data.manifest` for the manifest's)::

    preprocess.json                      the settings; a rerun with other settings is refused
    .lock                                held while a run works on the folder
    <dataset>/manifest.csv               one manifest per dataset (``manifest.shard-I-of-N.csv``
                                         for a shard, see :mod:`~freqforensics.data.shards`)
    <dataset>/.journal/<pid>-<start>.jsonl   append-only journal of each worker process
    <dataset>/<rest of video_id>/<frame_index:06d>.png            the crops, original resolution
    <dataset>/<rest of video_id>/<frame_index:06d>.landmarks.npy  their 68 landmarks (crop px)

The faces are found per frame or by tracking (``track=True``), see
:mod:`~freqforensics.data.cropping`.

The job is resumable: crops and sidecars are written through temporary files and
:func:`os.replace`; then the video's rows are appended to its worker's journal as one block,
flushed and fsync-ed, so a complete block exists only for a finished video. A rerun skips
videos with a complete block in any journal, removes the crops a killed run left for the
videos it redoes and the temporary files of dead processes, and rebuilds every manifest from
the journals; a kill (``kill -9`` included) loses at most the videos in progress. One run at a
time works on an ``out_dir``: a second one fails at once
(:class:`~freqforensics._io.RunLockedError`). Videos run in worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`, ``spawn`` start method, safe with the
threads of torch and tqdm: a script calling the job with ``workers > 1`` needs the usual
``if __name__ == "__main__":`` guard); ``workers=1`` runs inline. Each worker watches its
parent and exits as soon as it dies, so a killed job leaves no orphan processes behind.

Every sampled frame gets a row: ``ok`` (a crop), ``no_face`` (kept, never dropped) or
``frame_error`` (it does not decode cleanly: it depends on a packet FFmpeg rejects; the others
go on, see :mod:`~freqforensics.data.video`). A video gets one row with ``frame_index=-1`` for
a ``video_error`` (it cannot be opened or indexed: corrupt, truncated, unreadable, or refused by
the reader: a path outside the dataset root, a folder that cannot be listed; reported and
skipped) or a ``missing`` file (listed by the metadata, absent on disk).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqforensics._io import exclusive_lock, remove_stale_temps, safe_component
from freqforensics.data.cropping import (
    CropSettings,
    find_faces,
    record_frames,
    remove_crops,
    row,
    write_crops,
)
from freqforensics.data.faces import FaceDetector
from freqforensics.data.journal import Journals, assemble, check_settings, completed
from freqforensics.data.manifest import (
    MANIFEST_COLUMNS,
    STATUSES,
    ManifestRow,
    crop_dir,
    load_manifest,
    manifest_path,
)
from freqforensics.data.readers import VideoRecord
from freqforensics.data.shards import Shard, manifest_name, parse_shard, shard_of
from freqforensics.data.tracking import MAX_GAP
from freqforensics.data.video import (
    FrameError,
    VideoError,
    read_frames,
    set_decode_threads,
)

__all__ = [
    "MANIFEST_COLUMNS",
    "STATUSES",
    "CropSettings",
    "ManifestRow",
    "PreprocessReport",
    "preprocess",
    "process_video",
    "load_manifest",
    "manifest_path",
]

logger = logging.getLogger(__name__)


@dataclass
class PreprocessReport:
    """What a :func:`preprocess` call did.

    Attributes:
        manifests: manifest path of each dataset touched.
        processed: ids of the videos processed by this call.
        skipped: ids of the videos already done by an earlier call (not redone).
        errors: ``video_id -> message`` for the videos that could not be read by this call
            (corrupt files, and entries the reader refused or could not list).
        damaged: ``video_id -> message`` for the videos read with some sampled frames that
            did not decode cleanly (``frame_error`` rows), by this call or an earlier one.
        missing: ids of the videos listed but absent on disk.
        counts: number of frame rows per status among the videos processed by this call.
        not_read: ``video_id -> reason`` for every listed video without frames in the manifest
            because it could not be read or is missing, by this call or an earlier one.
        other_shards: records left to the other shards (``shard`` given).
    """

    manifests: dict[str, Path] = field(default_factory=dict)
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    not_read: dict[str, str] = field(default_factory=dict)
    other_shards: int = 0


@dataclass(frozen=True)
class _Result:
    video_id: str
    counts: dict[str, int]
    error: str = ""
    damage: str = ""


def _split_id(record: VideoRecord) -> str:
    """The part of ``video_id`` below the dataset folder, validated as a relative path."""
    head, _, rest = record.video_id.partition("/")
    parts = rest.split("/")
    if head != record.dataset or not rest or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"records[...].video_id must be '<dataset>/<name>' with dataset={record.dataset!r} "
            f"and no empty, '.' or '..' components, got {record.video_id!r}"
        )
    return rest


def _unlink(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _video_rows(record: VideoRecord, out_dir: Path, settings: CropSettings) -> list[dict[str, Any]]:
    """Crop one video's sampled frames (crops and sidecars on disk); its manifest rows."""
    rest = _split_id(record)
    dataset_dir = out_dir / record.dataset
    if record.error:  # refused by the reader: never opened
        return [row(record, -1, "video_error", detail=record.error)]
    if record.missing or not record.path.is_file():
        return [row(record, -1, "missing", detail="file not found")]
    folder = crop_dir(dataset_dir, rest)
    remove_crops(folder)  # files of an earlier attempt killed before its journal block
    written: list[Path] = []
    damaged: list[FrameError] = []
    reread = None if record.is_image else (lambda idx: read_frames(record.path, idx))
    try:
        frames = record_frames(record, settings.frames_per_video, damaged)
        faces = find_faces(frames, settings, reread)
        rows = write_crops(record, faces, folder, dataset_dir, settings.compress_level, written)
        rows += [row(record, d.frame_index, "frame_error", detail=d.reason) for d in damaged]
        return sorted(rows, key=lambda r: int(r["frame_index"]))
    except VideoError as err:
        _unlink(written)
        return [row(record, -1, "video_error", detail=str(err))]
    except BaseException:
        _unlink(written)  # no crops without a journal block
        raise


def process_video(
    record: VideoRecord, out_dir: str | Path, settings: CropSettings | None = None
) -> list[dict[str, Any]]:
    """Crop the faces of one record into ``out_dir``, without journal or manifest.

    The job's work for one video, for a benchmark or a one-off: compare
    ``CropSettings(track=True)`` with per-frame detection on the same record.

    Args:
        record: a record from the readers.
        out_dir: output folder; crops go to ``<out_dir>/<dataset>/<rest of video_id>/``.
        settings: how to find and write the faces (default :class:`CropSettings`).

    Returns:
        The video's manifest rows (column -> value), one per sampled frame (or one
        ``video_error`` / ``missing`` row).
    """
    _check_records([record])
    return _video_rows(record, Path(out_dir), settings if settings is not None else CropSettings())


def _process_video(
    record: VideoRecord, out_dir: Path, settings: CropSettings, journals: Journals
) -> _Result:
    """Crop one video, then commit its rows to this process's journal."""
    rows = _video_rows(record, out_dir, settings)
    journals(out_dir / record.dataset).commit(record.video_id, rows)
    error = rows[0]["detail"] if rows[0]["status"] == "video_error" else ""
    return _Result(record.video_id, dict(Counter(r["status"] for r in rows)), error, _damage(rows))


def _damage(rows: Sequence[dict[str, Any]]) -> str:
    """What a video's ``frame_error`` rows say, in one line ("" without any)."""
    bad = [r for r in rows if r["status"] == "frame_error"]
    if not bad:
        return ""
    return (f"{len(bad)} of {len(rows)} sampled frames did not decode cleanly, skipped "
            f"(first: {bad[0]['detail']})")


_WORKER: dict[str, Any] = {}


def _exit_with_parent() -> None:
    """Exit this worker process as soon as its parent dies (``kill -9`` included).

    A ``spawn`` child holds the read end of a pipe whose write end only its parent holds
    (:func:`multiprocessing.parent_process`'s sentinel): it turns readable when the parent
    dies. The parent pid is checked too, for start methods without that pipe. Works on Linux
    and macOS.
    """
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    parent_pid = os.getppid()

    def watch() -> None:
        while os.getppid() == parent_pid:
            if sentinel is not None and wait([sentinel], timeout=1.0):
                break
            if sentinel is None:
                threading.Event().wait(1.0)
        os._exit(70)  # the parent is gone: stop at once, nobody will read the results

    threading.Thread(target=watch, name="freqforensics-parent-watch", daemon=True).start()


def _init_worker(out_dir: Path, settings: CropSettings) -> None:
    _exit_with_parent()
    set_decode_threads(1)  # one process per core already
    _WORKER.update(out_dir=out_dir, settings=settings, journals=Journals())


def _worker_task(record: VideoRecord) -> _Result:
    return _process_video(record, _WORKER["out_dir"], _WORKER["settings"], _WORKER["journals"])


def _earlier(
    rows: list[dict[str, str]] | None, record: VideoRecord, retry_errors: bool
) -> list[dict[str, str]] | None:
    """The rows of an earlier run that still hold, or ``None`` when the video must be redone."""
    if record.error or rows is None:
        return None  # reader errors are cheap to record again, and may have changed
    statuses = {r["status"] for r in rows}
    if "missing" in statuses and record.path.is_file():
        return None  # the file has arrived since
    failed = statuses & {"video_error", "frame_error"}
    return None if retry_errors and failed else rows


def _check_records(records: object) -> list[VideoRecord]:
    if isinstance(records, VideoRecord) or not isinstance(records, Sequence):
        raise TypeError(
            f"records must be a sequence of VideoRecord (from the readers), "
            f"got {type(records).__name__}"
        )
    seen: set[str] = set()
    for i, record in enumerate(records):
        if not isinstance(record, VideoRecord):
            raise TypeError(f"records[{i}] must be a VideoRecord, got {type(record).__name__}")
        if record.video_id in seen:
            raise ValueError(f"records must have unique video_id, {record.video_id!r} repeats")
        seen.add(record.video_id)
        safe_component(record.dataset, f"records[{i}].dataset")
        _split_id(record)
    return list(records)


def _check_int(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def preprocess(
    records: Sequence[VideoRecord],
    out_dir: str | Path,
    frames_per_video: int = 32,
    workers: int | None = None,
    scale: float = 1.3,
    upsample: int = 0,
    progress: bool = True,
    retry_errors: bool = False,
    compress_level: int = 1,
    *,
    track: bool = False,
    detect_every: int = 5,
    detector: str = "hog",
    landmarks: bool = True,
    shard: str | tuple[int, int] | Shard | None = None,
    max_gap: int | None = MAX_GAP,
) -> PreprocessReport:
    """Sample frames, crop the main face, write lossless PNG crops, landmarks and manifests.

    Resumable: videos with a complete journal block are skipped (missing videos are retried
    once their file appears, unreadable ones when ``retry_errors``), and the manifests are
    rebuilt from all journals at the end, also when the job stops on an exception. Records
    with ``error`` set (refused by the reader) become ``video_error`` rows without being
    opened.

    Args:
        records: videos from the readers (:func:`~freqforensics.data.read_ffpp`, ...), any
            mix of datasets; ``video_id`` must be unique.
        out_dir: output folder (created).
        frames_per_video: frames sampled evenly per video (paper: 270 train, 50 test).
        workers: worker processes; ``None`` uses every CPU, 1 runs inline.
        scale: face box enlargement (1.3, as FaceForensics++).
        upsample: dlib upsampling, 0 or 1 (finds smaller faces, 4x slower).
        progress: show a tqdm bar over videos.
        retry_errors: redo videos recorded with a ``video_error`` or a ``frame_error`` by an
            earlier run.
        compress_level: zlib level of the PNG files, 0-9 (lossless at every level; 1 writes
            fastest, 9 smallest).
        track: decode each video's sampled frames in order and follow the main face with
            :class:`~freqforensics.data.tracking.FaceTracker` (detector every
            ``detect_every`` frames; other people's faces are never cropped) instead of
            detecting in every frame.
        detect_every: with ``track``, run the detector every this many frames.
        max_gap: with ``track``, also run it once the video has moved this many frames past
            the last detection (sparsely sampled frames); ``None``: only ``detect_every``.
        detector: dlib face detector, ``"hog"`` or ``"cnn"``.
        landmarks: write each crop's 68 landmarks beside it (``<frame>.landmarks.npy``, crop
            pixels); ``False`` only to resume an output folder made before landmarks.
        shard: ``"I/N"``: process only the videos of shard ``I`` of ``N`` (a stable hash of
            ``video_id``) and write ``<dataset>/manifest.shard-I-of-N.csv``; merge the
            shards' folders with :func:`~freqforensics.data.shards.merge_manifests`.

    Returns:
        A :class:`PreprocessReport`; its ``manifests`` maps each dataset to its manifest.

    Raises:
        ValueError: bad arguments, or ``out_dir`` was made with other settings (``track``,
            ``detect_every``, ``max_gap``, ``detector``, ``landmarks`` and ``shard`` included).
        RunLockedError: another run is working on ``out_dir``
            (:class:`freqforensics._io.RunLockedError`, a :class:`RuntimeError`).

    Example:
        >>> from freqforensics.data import read_ffpp, preprocess  # doctest: +SKIP
        >>> report = preprocess(read_ffpp("FF++"), "crops", frames_per_video=32)  # doctest: +SKIP
    """
    records = _check_records(records)
    frames_per_video = _check_int(frames_per_video, "frames_per_video", 1)
    if workers is None:
        workers = os.cpu_count() or 1
    workers = _check_int(workers, "workers", 1)
    compress_level = _check_int(compress_level, "compress_level", 0, 9)
    detect_every = _check_int(detect_every, "detect_every", 1)
    max_gap = None if max_gap is None else _check_int(max_gap, "max_gap", 1)
    for name, flag in (("track", track), ("landmarks", landmarks)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    FaceDetector(scale=scale, upsample=upsample, model=detector)  # validates the three
    part = None if shard is None else parse_shard(shard)
    settings = CropSettings(
        frames_per_video, float(scale), int(upsample), compress_level, track, detect_every,
        detector, landmarks, max_gap,
    )
    out = Path(out_dir)
    with exclusive_lock(out, "preprocess run"):
        removed = remove_stale_temps(out, recursive=True)
        if removed:
            logger.info("removed %d temporary files left by a killed run in %s", len(removed), out)
        check_settings(out, {**settings.identity(), "shard": None if part is None else str(part)})
        return _run(records, out, settings, part, workers, progress, retry_errors)


def _run(
    records: list[VideoRecord],
    out: Path,
    settings: CropSettings,
    shard: Shard | None,
    workers: int,
    progress: bool,
    retry_errors: bool,
) -> PreprocessReport:
    report = PreprocessReport()
    datasets = sorted({r.dataset for r in records})
    if shard is not None:
        mine = [r for r in records if shard_of(r.video_id, shard.count) == shard.index]
        report.other_shards = len(records) - len(mine)
        records = mine
    done = {d: completed(out / d) for d in datasets}
    journals = Journals()
    todo: list[VideoRecord] = []
    void: dict[str, list[str]] = {}
    for record in records:
        earlier = done[record.dataset].get(record.video_id)
        rows = _earlier(earlier, record, retry_errors)
        if rows is None:
            todo.append(record)
            if earlier is not None:
                void.setdefault(record.dataset, []).append(record.video_id)
            continue
        report.skipped.append(record.video_id)
        for r in rows:
            if r["status"] in ("video_error", "missing"):
                report.not_read[record.video_id] = r["detail"] or r["status"]
        if damage := _damage(rows):
            report.damaged[record.video_id] = damage
    for dataset, video_ids in void.items():
        journals(out / dataset).void(video_ids)  # before their crops are touched
    if report.skipped:
        logger.info("%d videos already done in %s; skipped", len(report.skipped), out)
    # Refused entries and missing files need no worker (and are never opened).
    light = [r for r in todo if r.error or r.missing or not r.path.is_file()]
    light_ids = {r.video_id for r in light}
    heavy = [r for r in todo if r.video_id not in light_ids]

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(records),
        initial=len(report.skipped),
        desc="preprocess",
        unit="video",
        disable=not progress,
    )

    def collect(result: _Result) -> None:
        report.processed.append(result.video_id)
        report.counts.update(result.counts)
        if result.error:
            report.errors[result.video_id] = result.error
            report.not_read[result.video_id] = result.error
            logger.warning("video_error, skipped: %s", result.error)
        if result.damage:
            report.damaged[result.video_id] = result.damage
            logger.warning("%s: %s", result.video_id, result.damage)
        if "missing" in result.counts:
            report.missing.append(result.video_id)
            report.not_read[result.video_id] = "file not found"
        bar.update(1)
        bar.set_postfix(errors=len(report.errors), missing=len(report.missing), refresh=False)

    try:
        for record in light:
            collect(_process_video(record, out, settings, journals))
        if workers == 1 or len(heavy) <= 1:
            for record in heavy:
                collect(_process_video(record, out, settings, journals))
        else:
            _run_pool(heavy, out, settings, min(workers, len(heavy)), collect)
    finally:
        bar.close()
        journals.close()
        name = manifest_name(shard)
        for dataset in datasets:
            report.manifests[dataset] = assemble(out / dataset, name)
    if report.errors or report.missing:
        logger.warning(
            "preprocess: %d unreadable and %d missing videos recorded in the manifests",
            len(report.errors),
            len(report.missing),
        )
    return report


def _run_pool(
    records: Sequence[VideoRecord],
    out: Path,
    settings: CropSettings,
    workers: int,
    collect: Callable[[_Result], None],
) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(out, settings),
    ) as pool:
        futures: list[Future[_Result]] = [pool.submit(_worker_task, r) for r in records]
        try:
            for future in as_completed(futures):
                collect(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
