"""Parsing of the datasets' metadata files, with one-line errors that name the file.

The readers in :mod:`freqforensics.data.readers` take names and relative paths from these files
(FaceForensics++ split files, DFDC ``metadata.json`` and ``labels.csv``, Celeb-DF's test list).
A malformed file is a :class:`ValueError` naming the file, the entry and what was expected; an
entry whose path would leave the dataset root is not an error of the whole file but a refused
entry (:func:`entry_error`), which the readers turn into a record that is never read.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "entry_error",
    "read_text",
    "load_json",
    "ffpp_pairs",
    "dfdc_entries",
    "celebdf_test_list",
    "dfdc_test_labels",
]

_DFDC_LABELS = {"REAL": 0, "FAKE": 1}
_CELEBDF_FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}


def entry_error(root: Path, relative: str, what: str) -> str:
    """Why ``relative`` (a path read from a metadata file) is refused, or ``""`` when it is not.

    Refused: empty names, absolute paths and paths whose normalised form leaves ``root``
    (``../x.mp4``, ``a/../../x.mp4``). The check is on the path as written (symbolic links
    inside a dataset tree are followed, as dataset copies are often assembled from links).
    """
    text = str(relative)
    if not text or "\x00" in text:
        return f"{what} {text!r} is not a valid relative path; expected a file under {root}"
    if os.path.isabs(text) or text.startswith("\\"):
        return f"{what} {text!r} is an absolute path; expected a path under {root}, refused"
    norm = os.path.normpath(text.replace("\\", "/"))
    if norm == os.pardir or norm.startswith(os.pardir + os.sep) or norm == os.curdir:
        return f"{what} {text!r} points outside {root}; expected a path under it, refused"
    return ""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {list: "a list", dict: "an object", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "a value")


def _show(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_text(path: Path, expected: str) -> str:
    """The UTF-8 text of ``path``; a file that is not UTF-8 is a ValueError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); expected {expected}"
        ) from None


def load_json(path: Path, expected: str) -> Any:
    """Parse the JSON file ``path``; invalid JSON is a ValueError naming the file and position."""
    text = read_text(path, expected)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
            f"expected {expected}"
        ) from None


def ffpp_pairs(path: Path) -> list[tuple[str, str]]:
    """The ``[target, source]`` pairs of a FaceForensics++ split file."""
    expected = 'a JSON list of [target, source] pairs of video names, like [["004", "982"]]'
    data = load_json(path, expected)
    if not isinstance(data, list):
        raise ValueError(f"{path} holds {_kind(data)}; expected {expected}")
    pairs = []
    for i, item in enumerate(data):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in item)
        ):
            raise ValueError(f"{path}: entry {i} is {_show(item)}; expected {expected}")
        pairs.append((str(item[0]), str(item[1])))
    return pairs


def dfdc_entries(path: Path) -> list[tuple[str, int, str]]:
    """``(file name, label, original)`` of each video of a DFDC ``metadata.json``, sorted."""
    expected = 'a JSON object mapping video file names to {"label": "REAL"|"FAKE", ...}'
    data = load_json(path, expected)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {_kind(data)}; expected {expected}")
    out = []
    for name, entry in sorted(data.items()):
        if not isinstance(entry, dict):
            raise ValueError(
                f"{path}: the entry of {name!r} is {_kind(entry)} ({_show(entry)}); expected "
                f'an object like {{"label": "FAKE", "original": "x.mp4"}}'
            )
        label = entry.get("label")
        if not isinstance(label, str) or label.upper() not in _DFDC_LABELS:
            raise ValueError(f"{path}: label of {name} must be REAL or FAKE, got {label!r}")
        out.append((name, _DFDC_LABELS[label.upper()], str(entry.get("original") or "")))
    return out


def celebdf_test_list(path: Path) -> dict[str, int]:
    """``relative path -> label`` of Celeb-DF's test list (label from the folder)."""
    import logging

    logger = logging.getLogger("freqforensics.data.readers")
    test: dict[str, int] = {}
    text = read_text(path, "lines like '1 YouTube-real/00170.mp4'")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise ValueError(f"{path}:{lineno}: expected '<0|1> <folder>/<file>', got {line!r}")
        rel = parts[1].replace("\\", "/")
        folder = rel.split("/", 1)[0]
        if folder not in _CELEBDF_FOLDERS:
            raise ValueError(
                f"{path}:{lineno}: folder must be one of {list(_CELEBDF_FOLDERS)}, got {folder!r}"
            )
        label = _CELEBDF_FOLDERS[folder]
        if 1 - int(parts[0]) != label:
            logger.warning(
                "celebdf: %s:%d labels %s as %s but its folder says %s; using the folder",
                path.name,
                lineno,
                rel,
                parts[0],
                "fake" if label else "real",
            )
        test[rel] = label
    return test


def dfdc_test_labels(path: Path) -> list[tuple[str, int]]:
    """``(file name, label)`` of each row of the DFDC test set's ``labels.csv``."""
    rows = []
    text = read_text(path, "a CSV file with the columns filename,label")
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
        raise ValueError(
            f"labels_csv must have the columns filename,label, got {reader.fieldnames} in {path}"
        )
    for row in reader:
        text = str(row["label"]).strip()
        if text not in ("0", "1", "0.0", "1.0"):
            raise ValueError(
                f"{path}: label of {row['filename']} must be 0 (real) or 1 (fake), got {text!r}"
            )
        rows.append((str(row["filename"] or "").strip(), int(float(text))))
    return rows


def check_disjoint_splits(folder: Path, splits: Sequence[str]) -> None:
    """Refuse FF++ split files that put one video in two splits (the official ones are
    disjoint): its split would depend on which splits were asked for, and one run could train
    on what another tests on.

    Raises:
        ValueError: naming the video and the two split files.
    """
    first: dict[str, str] = {}
    for split in splits:
        path = folder / f"{split}.json"
        if path.is_file():
            for name in sorted({n for pair in ffpp_pairs(path) for n in pair}):
                other = first.setdefault(name, split)
                if other != split:
                    raise ValueError(
                        f"video {name!r} is listed in {folder}/{other}.json and in {split}.json; "
                        "a video must be in one split only (the official split files are "
                        "disjoint)"
                    )


def check_unique_ids(records: Sequence[Any], where: Path | str) -> None:
    """Refuse two entries of ``where`` (a metadata file) that give one video id: a row listed
    twice, or two keys naming one video (``x.mp4`` and ``a/x.mp4``).

    Raises:
        ValueError: naming the file, the id and both entries.
    """
    first: dict[str, Any] = {}
    for record in records:
        other = first.setdefault(record.video_id, record)
        if other is not record:
            what = ("is listed twice" if other.path == record.path
                    else f"and {record.path} give one video id")
            raise ValueError(
                f"{where}: {other.path} {what} ({record.video_id!r}); list each video once"
            )
