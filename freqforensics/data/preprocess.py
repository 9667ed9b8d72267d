"""The preprocessing job: videos -> sampled frames -> face crops (lossless PNG) -> manifests.

Layout written under ``out_dir``::

    preprocess.json                      the settings; a rerun with other settings is refused
    <dataset>/manifest.csv               one manifest per dataset (columns: MANIFEST_COLUMNS)
    <dataset>/_parts/<video>.csv         one finished video's rows (written atomically)
    <dataset>/<rest of video_id>/<frame_index:06d>.png   the crops, original resolution

The job is resumable: each video's rows go to its part file through a temporary file and
:func:`os.replace`, after its crops are written, so a part file exists only for a finished
video. A rerun skips videos that have a part file and rebuilds every manifest from the parts;
a kill loses at most the videos in progress. Videos run in worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`, ``spawn`` start method, safe with the
threads of torch and tqdm: a script calling the job with ``workers > 1`` needs the usual
``if __name__ == "__main__":`` guard); ``workers=1`` runs inline.

Every sampled frame gets a row: ``ok`` (a crop), ``no_face`` (kept, never dropped), and one row
with ``frame_index=-1`` for a ``video_error`` (corrupt, truncated, unreadable: reported and
skipped) or a ``missing`` file (listed by the metadata, absent on disk).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics.data.faces import FaceDetector, crop_face
from freqforensics.data.readers import VideoRecord
from freqforensics.data.video import Frame, VideoError, sample_frames

__all__ = [
    "MANIFEST_COLUMNS",
    "STATUSES",
    "ManifestRow",
    "PreprocessReport",
    "preprocess",
    "load_manifest",
    "manifest_path",
]

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = (
    "video_id",
    "label",
    "split",
    "dataset",
    "method",
    "compression",
    "frame_index",
    "x0",
    "y0",
    "x1",
    "y1",
    "crop_path",
    "status",
    "source",
    "detail",
)
STATUSES = ("ok", "no_face", "video_error", "missing")
_SETTINGS_FILE = "preprocess.json"
_PARTS = "_parts"
_MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class ManifestRow:
    """One row of a manifest: a sampled frame, or a whole video that failed or is missing.

    Attributes:
        video_id: unique video id (``"ffpp/NeuralTextures/c23/004_982"``).
        label: 0 real, 1 fake.
        split: ``"train"``, ``"val"`` or ``"test"``.
        dataset: dataset name.
        method: manipulation method (or source of reals).
        compression: compression level (``""`` when not applicable).
        frame_index: presentation-order frame index, -1 for ``video_error`` and ``missing``.
        x0: crop box left (multiple of 8), ``None`` without a crop; same for y0, x1, y1.
        y0: crop box top.
        x1: crop box right, exclusive.
        y1: crop box bottom, exclusive.
        crop_path: absolute path of the PNG crop (``None`` without a crop). The CSV stores it
            relative to the manifest's folder.
        status: one of :data:`STATUSES`.
        source: the source video file.
        detail: error message for ``video_error``, empty otherwise.
    """

    video_id: str
    label: int
    split: str
    dataset: str
    method: str
    compression: str
    frame_index: int
    x0: int | None
    y0: int | None
    x1: int | None
    y1: int | None
    crop_path: Path | None
    status: str
    source: str
    detail: str = ""


@dataclass
class PreprocessReport:
    """What a :func:`preprocess` call did.

    Attributes:
        manifests: manifest path of each dataset touched.
        processed: ids of the videos processed by this call.
        skipped: ids of the videos already done by an earlier call (not redone).
        errors: ``video_id -> message`` for the videos that could not be read.
        missing: ids of the videos listed but absent on disk.
        counts: number of frame rows per status among the videos processed by this call.
    """

    manifests: dict[str, Path] = field(default_factory=dict)
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Settings:
    frames_per_video: int
    scale: float
    upsample: int
    compress_level: int

    def identity(self) -> dict[str, Any]:
        # The compression level does not change the pixels, so it may differ between runs.
        return {
            "frames_per_video": self.frames_per_video,
            "scale": self.scale,
            "upsample": self.upsample,
            "grid": 8,
            "crop": "ffpp-square-snapped-8",
        }


@dataclass(frozen=True)
class _Result:
    video_id: str
    counts: dict[str, int]
    error: str = ""


def manifest_path(out_dir: str | Path, dataset: str) -> Path:
    """Where :func:`preprocess` writes the manifest of ``dataset`` under ``out_dir``."""
    return Path(out_dir) / dataset / _MANIFEST


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


def _part_path(dataset_dir: Path, rest: str) -> Path:
    return dataset_dir / _PARTS / (urllib.parse.quote(rest, safe="") + ".csv")


def _write_csv_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _row(record: VideoRecord, frame_index: int, status: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "video_id": record.video_id,
        "label": record.label,
        "split": record.split,
        "dataset": record.dataset,
        "method": record.method,
        "compression": record.compression,
        "frame_index": frame_index,
        "x0": "",
        "y0": "",
        "x1": "",
        "y1": "",
        "crop_path": "",
        "status": status,
        "source": str(record.path),
        "detail": "",
    }
    row.update(extra)
    return row


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise VideoError(path, f"cannot read image ({err})") from err


def _frames(record: VideoRecord, n: int) -> Iterable[Frame]:
    if record.is_image:
        return [Frame(0, _read_image(record.path))]
    return sample_frames(record.path, n)


def _process_video(
    record: VideoRecord, out_dir: Path, settings: _Settings, detector: FaceDetector
) -> _Result:
    """Crop one video's sampled frames, then commit its rows to its part file."""
    from PIL import Image

    rest = _split_id(record)
    dataset_dir = out_dir / record.dataset
    rows: list[dict[str, Any]] = []
    error = ""
    if record.missing or not record.path.is_file():
        rows.append(_row(record, -1, "missing", detail="file not found"))
    else:
        crop_dir = dataset_dir / rest
        written: list[Path] = []
        try:
            for index, image in _frames(record, settings.frames_per_video):
                box = detector(image)
                if box is None:
                    rows.append(_row(record, index, "no_face"))
                    continue
                crop_dir.mkdir(parents=True, exist_ok=True)
                target = crop_dir / f"{index:06d}.png"
                Image.fromarray(crop_face(image, box)).save(
                    target, format="PNG", compress_level=settings.compress_level
                )
                written.append(target)
                rows.append(
                    _row(
                        record,
                        index,
                        "ok",
                        x0=box.x0,
                        y0=box.y0,
                        x1=box.x1,
                        y1=box.y1,
                        crop_path=target.relative_to(dataset_dir).as_posix(),
                    )
                )
        except VideoError as err:
            error = str(err)
            for path in written:
                path.unlink(missing_ok=True)
            rows = [_row(record, -1, "video_error", detail=error)]
    _write_csv_atomic(_part_path(dataset_dir, rest), rows)
    return _Result(record.video_id, dict(Counter(r["status"] for r in rows)), error)


_WORKER: dict[str, Any] = {}


def _init_worker(out_dir: Path, settings: _Settings) -> None:
    _WORKER.update(
        out_dir=out_dir,
        settings=settings,
        detector=FaceDetector(scale=settings.scale, upsample=settings.upsample),
    )


def _worker_task(record: VideoRecord) -> _Result:
    return _process_video(record, _WORKER["out_dir"], _WORKER["settings"], _WORKER["detector"])


def _check_settings(out_dir: Path, settings: _Settings) -> None:
    path = out_dir / _SETTINGS_FILE
    wanted = settings.identity()
    if path.is_file():
        found = json.loads(path.read_text())
        if found != wanted:
            diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
            raise ValueError(
                f"out_dir {out_dir} holds crops made with other settings "
                f"(setting: (stored, requested)) {diff}; use a new out_dir or the stored values"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(wanted, indent=2) + "\n")
    os.replace(tmp, path)


def _is_done(part: Path, record: VideoRecord, retry_errors: bool) -> bool:
    if not part.is_file():
        return False
    rows = _read_csv(part)
    statuses = {r["status"] for r in rows}
    if "missing" in statuses and record.path.is_file():
        return False  # the file has arrived since
    return not (retry_errors and "video_error" in statuses)


def _assemble(dataset_dir: Path) -> Path:
    rows: list[dict[str, str]] = []
    parts_dir = dataset_dir / _PARTS
    for part in sorted(parts_dir.glob("*.csv")) if parts_dir.is_dir() else []:
        rows.extend(_read_csv(part))
    rows.sort(key=lambda r: (r["video_id"], int(r["frame_index"])))
    path = dataset_dir / _MANIFEST
    _write_csv_atomic(path, rows)
    return path


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
) -> PreprocessReport:
    """Sample frames, crop the largest face, write lossless PNG crops and the manifests.

    Resumable: videos whose part file exists are skipped (missing videos are retried once
    their file appears, unreadable ones when ``retry_errors``), and the manifests are rebuilt
    from all finished parts at the end, also when the job stops on an exception.

    Args:
        records: videos from the readers (:func:`~freqforensics.data.read_ffpp`, ...), any
            mix of datasets; ``video_id`` must be unique.
        out_dir: output folder (created).
        frames_per_video: frames sampled evenly per video (paper: 270 train, 50 test).
        workers: worker processes; ``None`` uses every CPU, 1 runs inline.
        scale: face box enlargement (1.3, as FaceForensics++).
        upsample: dlib upsampling, 0 or 1 (finds smaller faces, 4x slower).
        progress: show a tqdm bar over videos.
        retry_errors: redo videos recorded as ``video_error`` by an earlier run.
        compress_level: zlib level of the PNG files, 0-9 (lossless at every level; 1 writes
            fastest, 9 smallest).

    Returns:
        A :class:`PreprocessReport`; its ``manifests`` maps each dataset to its manifest.

    Raises:
        ValueError: bad arguments, or ``out_dir`` was made with other settings.

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
    detector = FaceDetector(scale=scale, upsample=upsample)  # validates scale and upsample
    settings = _Settings(frames_per_video, float(scale), int(upsample), compress_level)
    out = Path(out_dir)
    _check_settings(out, settings)

    report = PreprocessReport()
    datasets = sorted({r.dataset for r in records})
    todo: list[VideoRecord] = []
    for record in records:
        part = _part_path(out / record.dataset, _split_id(record))
        if _is_done(part, record, retry_errors):
            report.skipped.append(record.video_id)
        else:
            todo.append(record)
    if report.skipped:
        logger.info("%d videos already done in %s; skipped", len(report.skipped), out)
    # Missing files need no worker.
    absent = [r for r in todo if r.missing or not r.path.is_file()]
    absent_ids = {r.video_id for r in absent}
    heavy = [r for r in todo if r.video_id not in absent_ids]

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
            logger.warning("video_error, skipped: %s", result.error)
        if "missing" in result.counts:
            report.missing.append(result.video_id)
        bar.update(1)
        bar.set_postfix(errors=len(report.errors), missing=len(report.missing), refresh=False)

    try:
        for record in absent:
            collect(_process_video(record, out, settings, detector))
        if workers == 1 or len(heavy) <= 1:
            for record in heavy:
                collect(_process_video(record, out, settings, detector))
        else:
            _run_pool(heavy, out, settings, min(workers, len(heavy)), collect)
    finally:
        bar.close()
        for dataset in datasets:
            report.manifests[dataset] = _assemble(out / dataset)
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
    settings: _Settings,
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


def _opt_int(text: str) -> int | None:
    return int(text) if text != "" else None


def load_manifest(path: str | Path, status: str | Sequence[str] | None = None) -> list[ManifestRow]:
    """Read a manifest written by :func:`preprocess`.

    Args:
        path: the ``manifest.csv`` file, or its dataset folder.
        status: keep only rows with this status (or these statuses); all rows when ``None``.

    Returns:
        :class:`ManifestRow` objects in file order, ``crop_path`` resolved to absolute paths.
    """
    path = Path(path)
    if path.is_dir():
        path = path / _MANIFEST
    if not path.is_file():
        raise ValueError(f"path must be a manifest.csv or its folder, got {str(path)!r}")
    wanted: set[str] | None = None
    if status is not None:
        wanted = {status} if isinstance(status, str) else set(status)
        bad = wanted - set(STATUSES)
        if bad:
            raise ValueError(f"status must be among {list(STATUSES)}, got {sorted(bad)}")
    root = path.parent.resolve()
    rows: list[ManifestRow] = []
    for raw in _read_csv(path):
        if wanted is not None and raw["status"] not in wanted:
            continue
        rows.append(
            ManifestRow(
                video_id=raw["video_id"],
                label=int(raw["label"]),
                split=raw["split"],
                dataset=raw["dataset"],
                method=raw["method"],
                compression=raw["compression"],
                frame_index=int(raw["frame_index"]),
                x0=_opt_int(raw["x0"]),
                y0=_opt_int(raw["y0"]),
                x1=_opt_int(raw["x1"]),
                y1=_opt_int(raw["y1"]),
                crop_path=root / raw["crop_path"] if raw["crop_path"] else None,
                status=raw["status"],
                source=raw["source"],
                detail=raw.get("detail", ""),
            )
        )
    return rows
