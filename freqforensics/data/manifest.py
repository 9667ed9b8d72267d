"""The manifest format (and the part files of earlier versions of the preprocessing job).

Layout under a preprocessing ``out_dir`` (the job's journals: :mod:`~freqforensics.data.journal`)::

    <dataset>/manifest.csv               one manifest per dataset (columns: MANIFEST_COLUMNS)
    <dataset>/<rest of video_id>/<frame_index:06d>.png             the crops, original resolution
    <dataset>/<rest of video_id>/<frame_index:06d>.landmarks.npy   their 68 landmarks

Crop file names come from ``video_id`` and stay within the file system's limits: a crop folder
keeps the id's components, each hashed only when too long
(:func:`~freqforensics._io.bounded_name`), so non-ASCII names keep working. Output folders of
earlier versions also hold ``<dataset>/_parts/<video>.csv`` (one finished video's rows), still
read on resume. Reading a manifest checks every row: a ``crop_path`` that is absolute or leaves
the manifest's folder, or a malformed value, is a :class:`ValueError` naming the file and line.
The ``identity`` column (the person, for the ``images`` source; empty elsewhere) is optional
when reading: manifests written before it existed read as ``identity=""``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqforensics._io import MAX_NAME_BYTES, atomic_write, bounded_name, resolve_inside
from freqforensics.data.readers import SPLITS

__all__ = [
    "MANIFEST_COLUMNS",
    "STATUSES",
    "ManifestRow",
    "load_manifest",
    "manifest_path",
    "manifest_files",
]

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
    "identity",
)
#: Columns a manifest must have (``detail`` and ``identity`` may be absent).
REQUIRED_COLUMNS = MANIFEST_COLUMNS[:-2]
#: Row statuses: a frame's ``ok`` (a crop), ``no_face`` or ``frame_error`` (it does not decode
#: cleanly; see :mod:`~freqforensics.data.video`), a whole video's ``video_error`` or
#: ``missing`` (``frame_index`` -1).
STATUSES = ("ok", "no_face", "frame_error", "video_error", "missing")
PARTS = "_parts"
_BLANK = dict.fromkeys(MANIFEST_COLUMNS, "")
MANIFEST = "manifest.csv"


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
        detail: error message for ``video_error`` and ``frame_error``, empty otherwise.
        identity: the person shown (``images`` source: ``<source>__<name>``, see
            :func:`~freqforensics.data.read_images`), ``""`` where unknown.
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
    identity: str = ""

    def crop_file(self) -> Path:
        """:attr:`crop_path`, or a ``ValueError`` naming the row when it has no crop."""
        if self.crop_path is None:
            raise ValueError(
                f"row {self.video_id}:{self.frame_index} has no crop (status {self.status!r})"
            )
        return self.crop_path


def manifest_path(out_dir: str | Path, dataset: str) -> Path:
    """Where :func:`~freqforensics.data.preprocess` writes the manifest of ``dataset``."""
    return Path(out_dir) / dataset / MANIFEST


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"manifest not found: {path} (expected a manifest.csv written by "
        "'freqforensics preprocess', or its folder)"
    )


def manifest_files(paths: Sequence[str | Path]) -> list[Path]:
    """The ``manifest.csv`` of each path (the file itself, or the one in a folder).

    Raises:
        ValueError: no path given.
        FileNotFoundError: a path without a manifest (named).
    """
    if not paths:
        raise ValueError("manifests must name at least one manifest.csv (or its folder)")
    out = []
    for path in map(Path, paths):
        candidate = path / "manifest.csv" if path.is_dir() else path
        if not candidate.is_file():
            raise _missing(path)
        out.append(candidate)
    return out


def part_path(dataset_dir: Path, rest: str) -> Path:
    """The part file (earlier versions) of the video whose id below the dataset is ``rest``."""
    return dataset_dir / PARTS / bounded_name(rest, ".csv")


def crop_dir(dataset_dir: Path, rest: str) -> Path:
    """The crop folder of a video: its id's components, each hashed only when too long."""
    parts = [p if len(p.encode()) <= MAX_NAME_BYTES else bounded_name(p) for p in rest.split("/")]
    return dataset_dir.joinpath(*parts)


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a manifest or part file as dicts (missing optional columns read as ``""``)."""
    with path.open(newline="", encoding="utf-8") as f:
        return [{**_BLANK, **row} for row in csv.DictReader(f)]


def write_csv(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write manifest rows atomically (a reader never sees a half-written file)."""
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _int(raw: dict[str, str], key: str, where: str) -> int:
    text = raw.get(key) or ""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: {key} must be an integer, got {text!r}") from None


def _opt_int(raw: dict[str, str], key: str, where: str) -> int | None:
    return None if not raw.get(key) else _int(raw, key, where)


class _Crops:
    """Resolves ``crop_path`` values under a manifest's folder (one check per crop folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, Path] = {}

    def __call__(self, text: str, where: str) -> Path:
        what = f"{where}: crop_path"
        folder, _, name = text.replace("\\", "/").rpartition("/")
        if name in ("", ".", "..") or folder not in self.folders:
            path = resolve_inside(self.root, text, what)  # absolute paths and escapes raise
            if name in ("", ".", "..") or path == self.root:
                raise ValueError(f"{what} {text!r} must name a file under {self.root}")
            self.folders[folder] = resolve_inside(self.root, folder or ".", what)
        return self.folders[folder] / name


def _parse(raw: dict[str, str], crops: _Crops, where: str) -> ManifestRow:
    label = _int(raw, "label", where)
    if label not in (0, 1):
        raise ValueError(f"{where}: label must be 0 (real) or 1 (fake), got {raw['label']!r}")
    status = raw["status"]
    if status not in STATUSES:
        raise ValueError(f"{where}: status must be one of {list(STATUSES)}, got {status!r}")
    if raw["split"] not in SPLITS:
        raise ValueError(f"{where}: split must be one of {list(SPLITS)}, got {raw['split']!r}")
    crop = raw["crop_path"]
    if status == "ok" and not crop:
        raise ValueError(f"{where}: an 'ok' row needs a crop_path, got an empty one")
    return ManifestRow(
        video_id=raw["video_id"],
        label=label,
        split=raw["split"],
        dataset=raw["dataset"],
        method=raw["method"],
        compression=raw["compression"],
        frame_index=_int(raw, "frame_index", where),
        x0=_opt_int(raw, "x0", where),
        y0=_opt_int(raw, "y0", where),
        x1=_opt_int(raw, "x1", where),
        y1=_opt_int(raw, "y1", where),
        crop_path=crops(crop, where) if crop else None,
        status=status,
        source=raw["source"],
        detail=raw.get("detail") or "",
        identity=raw.get("identity") or "",
    )


def load_manifest(path: str | Path, status: str | Sequence[str] | None = None) -> list[ManifestRow]:
    """Read a manifest written by :func:`~freqforensics.data.preprocess`.

    Args:
        path: the ``manifest.csv`` file, or its dataset folder.
        status: keep only rows with this status (or these statuses); all rows when ``None``.

    Returns:
        :class:`ManifestRow` objects in file order, ``crop_path`` resolved to absolute paths.

    Raises:
        FileNotFoundError: no manifest at ``path``.
        ValueError: ``path`` is not a manifest, a column is missing, a value is malformed or a
            ``crop_path`` is absolute or leaves the manifest's folder (the message names the
            file and line; nothing outside the folder is ever opened).
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise _missing(path)
    wanted: set[str] | None = None
    if status is not None:
        wanted = {status} if isinstance(status, str) else set(status)
        bad = wanted - set(STATUSES)
        if bad:
            raise ValueError(f"status must be among {list(STATUSES)}, got {sorted(bad)}")
    crops = _Crops(path.parent.resolve())
    rows: list[ManifestRow] = []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"{path} is not a manifest: columns {missing} are missing (expected the "
                    f"columns {list(MANIFEST_COLUMNS)} written by preprocess)"
                )
            seen: dict[tuple[str, int], int] = {}  # (video_id, frame_index) -> line
            for raw in reader:
                where = f"{path}:{reader.line_num}"
                row = _parse(raw, crops, where)
                key = (row.video_id, row.frame_index)
                if row.frame_index >= 0 and key in seen:
                    raise ValueError(
                        f"{where}: frame {row.frame_index} of {row.video_id} is listed again "
                        f"(first on line {seen[key]}); a frame counted twice would skew the "
                        "metrics: remove the repeat"
                    )
                seen[key] = reader.line_num
                if wanted is None or row.status in wanted:
                    rows.append(row)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not a UTF-8 manifest (byte {err.start}: {err.reason})"
        ) from None
    return rows
