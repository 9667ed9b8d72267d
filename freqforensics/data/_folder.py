"""The reader of plain ``real/`` + ``fake/`` folders (re-exported by :mod:`.readers`).

Every file with a video or image extension is a record; a folder that cannot be listed, a broken
link, a link to a folder (not followed) or an entry that is not a regular file is a record with
``error`` set, recorded as ``video_error`` by the preprocessing job: nothing is dropped
silently.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from freqforensics._io import safe_component
from freqforensics.data.readers import (
    IMAGE_EXTENSIONS,
    SPLITS,
    VIDEO_EXTENSIONS,
    VideoRecord,
    _check_dir,
    _check_subset,
    _report_missing,
)

__all__ = ["read_folder"]

_FOLDER_LABELS = {"real": 0, "fake": 1}


def read_folder(
    root: str | Path, dataset: str | None = None, split: str = "test"
) -> list[VideoRecord]:
    """List a plain ``real/`` + ``fake/`` folder of videos and/or images.

    Either ``root/{real,fake}/...`` (all given ``split``) or
    ``root/{train,val,test}/{real,fake}/...``. Files are found recursively; each video or image
    is one record (an image is a one-frame video). A folder that cannot be listed, a broken
    link or a link to a folder is a record with ``error`` set (its id is its path like a
    video's), so that the preprocessing job reports it instead of dropping it.

    Args:
        root: the folder.
        dataset: dataset name for ids and manifests, one folder name (no ``/``, not ``..``);
            defaults to the folder's name.
        split: split of the files when there are no split folders.

    Returns:
        Records sorted by ``video_id``: ``method`` ``"original"`` or ``"fake"``,
        ids like ``"<dataset>/<split>/fake/<relative path without extension>"``.
    """
    root = _check_dir(root, "root")
    split = _check_subset((split,), "split", SPLITS)[0]
    name = safe_component(dataset if dataset is not None else root.resolve().name, "dataset")
    layouts = [(s, root / s) for s in SPLITS if (root / s).is_dir()] or [(split, root)]
    records: list[VideoRecord] = []
    for part_split, base in layouts:
        for label_dir, label in _FOLDER_LABELS.items():
            directory = base / label_dir
            if not directory.is_dir():
                continue
            files, problems = _walk_folder(directory)
            for path, problem in [(p, "") for p in files] + problems:
                rel = path.relative_to(directory)
                if path.suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
                    rel = rel.with_suffix("")  # a file; a folder keeps its whole name
                parts = (name, part_split, label_dir, rel.as_posix())
                video_id = "/".join(p for p in parts if p != ".")
                method = "fake" if label else "original"
                records.append(
                    VideoRecord.listed(
                        path, label, part_split, name, method, "", video_id, problem=problem
                    )
                )
    if not records:
        raise ValueError(
            f"root must hold real/ and/or fake/ folders (optionally under train/val/test) with "
            f"videos or images, none found under {root}"
        )
    records.sort(key=lambda r: r.video_id)
    clashes = sorted(i for i, n in Counter(r.video_id for r in records).items() if n > 1)
    if clashes:
        raise ValueError(
            f"root holds files whose names differ only by extension, which would share a "
            f"video_id: {clashes[:5]}; rename them"
        )
    _report_missing(records, name)
    return records


def _walk_folder(directory: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The video and image files under ``directory``, and the entries that cannot be read.

    Folders that cannot be listed, broken links, entries that are not regular files and links
    to folders (not followed) come back as ``(path, reason)`` instead of being skipped silently.
    """
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []

    def failed(err: OSError) -> None:
        where = Path(err.filename) if err.filename else directory
        problems.append((where, f"cannot list folder {where}: {err.strerror or err}"))

    wanted = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
    for top, dirs, names in os.walk(directory, onerror=failed):
        for sub in sorted(dirs):
            if os.path.islink(os.path.join(top, sub)):
                link = Path(top, sub)
                problems.append((link, f"{link} is a link to a folder, not followed"))
        for entry in sorted(names):
            path = Path(top, entry)
            if path.suffix.lower() not in wanted:
                continue
            try:
                if path.is_file():
                    files.append(path)
                    continue
                reason = "is a broken link" if path.is_symlink() else "is not a regular file"
            except OSError as err:
                reason = f"cannot be read ({err.strerror or err})"
            problems.append((path, f"{path} {reason}"))
    return files, problems
