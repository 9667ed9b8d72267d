"""The state of a preprocessing output folder: its settings and its append-only journals.

Layout under ``out_dir``::

    preprocess.json                          the settings; a rerun with other settings is refused
    <dataset>/.journal/<pid>-<start>.jsonl   one append-only journal per process that wrote rows
    <dataset>/manifest.csv                   assembled from the journals
                                             (``manifest.shard-I-of-N.csv`` for a shard)

**Journal format** (JSON Lines, UTF-8). Each process appends to its own file, created when it
commits its first video (one file per worker and run, not one per video). A finished video is
one line, written with a single ``write`` and then flushed and ``fsync``-ed::

    {"video_id": "...", "time_ns": 1700000000000000000, "rows": [{"video_id": ...}, ...],
     "end": 3}

``rows`` holds the video's manifest rows (column -> text); ``end``, the last key, is the number
of rows: the block's end marker. A video about to be redone (a missing file that has arrived,
``retry_errors``) first gets a line ``{"video_id": ..., "time_ns": ..., "void": true}`` that
voids its earlier blocks. A line counts only when it ends with a newline, parses, and its
``end`` equals its number of rows; a line cut by ``kill -9`` (always the last one of its file)
is ignored, so its video is redone and the crops it left are removed. Per video the line with
the largest ``time_ns`` wins. The ``_parts/<video>.csv`` files of earlier versions (one per
finished video) are still read, as blocks older than every journal line.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from freqforensics._io import atomic_write_json
from freqforensics.data.manifest import MANIFEST, MANIFEST_COLUMNS, PARTS, read_csv, write_csv

__all__ = [
    "JOURNAL",
    "SETTINGS_FILE",
    "JournalWriter",
    "Journals",
    "assemble",
    "check_settings",
    "completed",
    "read_settings",
]

logger = logging.getLogger(__name__)

#: Folder of the journals, inside each dataset folder.
JOURNAL = ".journal"
#: The settings file of an output folder.
SETTINGS_FILE = "preprocess.json"
#: Values of the settings that output folders of earlier versions did not record.
LEGACY_SETTINGS: dict[str, Any] = {
    "detector": "hog",
    "track": False,
    "detect_every": None,
    "max_gap": None,  # tracked folders before max_gap: only detect_every counted
    "landmarks": False,
    "shard": None,
}

Rows = list[dict[str, str]]


# --------------------------------------------------------------------------- settings


def read_settings(out_dir: Path) -> dict[str, Any] | None:
    """The settings stored in ``out_dir`` (legacy keys filled in), ``None`` when there are none.

    Raises:
        ValueError: the file is not a JSON object (the message names it).
    """
    path = out_dir / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); expected the settings written by preprocess "
            f"(delete it only if the crops in {out_dir} were all made with one setting)"
        ) from None
    if not isinstance(found, dict):
        raise ValueError(f"{path} must hold a JSON object of settings, got {type(found).__name__}")
    return {**LEGACY_SETTINGS, **found}


def check_settings(out_dir: Path, wanted: Mapping[str, Any]) -> None:
    """Store ``wanted`` in a new ``out_dir``; refuse an ``out_dir`` made with other settings.

    Raises:
        ValueError: the stored settings differ (the message lists each one, stored and
            requested) or cannot be read.
    """
    path = out_dir / SETTINGS_FILE
    wanted = dict(wanted)
    found = read_settings(out_dir)
    if found is None:
        atomic_write_json(path, wanted)
        return
    if any(found.get(k) != v for k, v in wanted.items()):
        diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
        hint = ""
        if diff.get("landmarks") == (False, True):
            hint = " (a folder made before landmarks existed resumes with landmarks=False)"
        raise ValueError(
            f"out_dir {out_dir} holds crops made with other settings "
            f"(setting: (stored, requested)) {diff}; use a new out_dir or the stored values{hint}"
        )
    if set(wanted) - set(json.loads(path.read_text(encoding="utf-8"))):
        atomic_write_json(path, {**found, **wanted})  # record the legacy values explicitly


# --------------------------------------------------------------------------- writing


class JournalWriter:
    """This process's append-only journal in one dataset folder (opened on first write)."""

    def __init__(self, dataset_dir: Path) -> None:
        self.folder = dataset_dir / JOURNAL
        self.path: Path | None = None
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f"{os.getpid()}-{time.time_ns():x}.jsonl"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
            self._fd = os.open(self.path, flags, 0o644)
        return self._fd

    def _append(self, lines: Iterable[dict[str, Any]]) -> None:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        if not data:
            return
        fd = self._open()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)

    def commit(self, video_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append one finished video's rows as one block, flushed and fsync-ed."""
        texts = [{c: _text(row.get(c)) for c in MANIFEST_COLUMNS} for row in rows]
        block = {"video_id": video_id, "time_ns": time.time_ns(), "rows": texts}
        block["end"] = len(texts)
        self._append([block])

    def void(self, video_ids: Iterable[str]) -> None:
        """Void the earlier blocks of videos about to be redone (one fsync for all)."""
        self._append({"video_id": v, "time_ns": time.time_ns(), "void": True} for v in video_ids)

    def close(self) -> None:
        """Close the file (a later write opens a new one)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Journals:
    """One :class:`JournalWriter` per dataset folder, for one process."""

    def __init__(self) -> None:
        self._writers: dict[Path, JournalWriter] = {}

    def __call__(self, dataset_dir: Path) -> JournalWriter:
        writer = self._writers.get(dataset_dir)
        if writer is None:
            writer = self._writers[dataset_dir] = JournalWriter(dataset_dir)
        return writer

    def close(self) -> None:
        """Close every journal."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- reading


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """The complete, well-formed lines of one journal (a cut last line is skipped)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"journal {path} cannot be read ({err.strerror or err})") from None
    *complete, tail = data.split(b"\n")
    if tail:
        logger.info("%s: a line cut by a killed run is ignored (its video is redone)", path)
    for number, raw in enumerate(complete, 1):
        try:
            line = json.loads(raw)
        except ValueError:
            logger.warning("%s:%d: not a journal line, ignored (its video is redone)", path, number)
            continue
        if _well_formed(line):
            yield number, line
        else:
            logger.warning("%s:%d: malformed journal line, ignored", path, number)


def _well_formed(line: object) -> bool:
    if not isinstance(line, dict) or not isinstance(line.get("video_id"), str):
        return False
    if not isinstance(line.get("time_ns"), int):
        return False
    if line.get("void") is True:
        return True
    rows = line.get("rows")
    return (
        isinstance(rows, list)
        and line.get("end") == len(rows) > 0
        and all(isinstance(r, dict) for r in rows)
    )


def completed(dataset_dir: Path) -> dict[str, Rows]:
    """The rows of every finished video of a dataset folder: ``video_id -> rows``.

    Reads every journal under ``<dataset_dir>/.journal`` and the part files of earlier
    versions; per video the latest complete block wins, and a video whose latest line voids
    it is not finished.
    """
    latest: dict[str, tuple[int, Rows | None]] = {}
    parts = dataset_dir / PARTS
    for part in sorted(parts.glob("*.csv")) if parts.is_dir() else []:
        rows = read_csv(part)
        if rows:
            latest[rows[0]["video_id"]] = (-1, rows)
    folder = dataset_dir / JOURNAL
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for _, line in _lines(path):
            video_id, stamp = line["video_id"], line["time_ns"]
            if stamp >= latest.get(video_id, (-2, None))[0]:
                block = None if line.get("void") else [_row(r) for r in line["rows"]]
                latest[video_id] = (stamp, block)
    return {video_id: rows for video_id, (_, rows) in latest.items() if rows is not None}


def _row(raw: dict[str, Any]) -> dict[str, str]:
    return {c: _text(raw.get(c)) for c in MANIFEST_COLUMNS}


def assemble(dataset_dir: Path, name: str = MANIFEST) -> Path:
    """Rebuild the manifest ``name`` of a dataset folder from its journals; returns its path."""
    rows = [row for video in completed(dataset_dir).values() for row in video]
    rows.sort(key=lambda r: (r["video_id"], int(r["frame_index"])))
    path = dataset_dir / name
    write_csv(path, rows)
    return path
