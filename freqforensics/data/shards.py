"""Past one machine: split a preprocessing job into shards, then merge their output folders.

``preprocess(..., shard="I/N")`` (``--shard I/N``, ``0 <= I < N``) processes the videos whose
:func:`shard_of` is ``I``: a stable hash of ``video_id`` (SHA-256), independent of the order
the readers list the videos in and of the machine, so the ``N`` shards of one listing are
disjoint and together hold every video. Each shard writes **its own output folder** (its
settings record the shard, its manifest is ``<dataset>/manifest.shard-I-of-N.csv``): one run
per folder, as for any output folder, so that the lock, the cleanup of a killed run's temporary
files (by process id, which means nothing across machines) and the journals stay local.

:func:`merge_manifests` (``freqforensics merge SHARD_OUT... --out OUT``) then joins the shards
into a new folder ``OUT`` laid out exactly as a single run's: it checks that the shards were
made with the same settings, that together they are the shards ``0..N-1`` of one ``N``, and
that no video appears twice; it reads each shard's finished videos from its journals (what its
manifest is assembled from; finish or rerun a shard before merging it), hard-links each crop
and landmarks sidecar into ``OUT`` (a copy when ``OUT`` is on another file system), writes
``OUT``'s settings and a journal, and assembles ``OUT/<dataset>/manifest.csv``. The merged
manifest equals the one a single run over all the videos writes, row for row, and
``preprocess`` resumes on ``OUT`` like on any folder.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqforensics._io import atomic_write_json, exclusive_lock, resolve_inside
from freqforensics.data.journal import (
    JOURNAL,
    SETTINGS_FILE,
    JournalWriter,
    assemble,
    completed,
    read_settings,
)
from freqforensics.data.manifest import MANIFEST, PARTS

__all__ = ["Shard", "parse_shard", "shard_of", "manifest_name", "merge_manifests"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: object, name: str = "shard") -> Shard:
    """A :class:`Shard` from ``"I/N"``, ``(I, N)`` or a :class:`Shard`.

    Example:
        >>> parse_shard("1/4")
        Shard(index=1, count=4)
    """
    parts: Sequence[Any]
    if isinstance(value, Shard):
        return value
    if isinstance(value, str):
        parts = value.split("/")
        try:
            parts = [int(p) for p in parts]
        except ValueError:
            parts = []
    elif isinstance(value, (tuple, list)):
        parts = value
    else:
        parts = []
    if (
        len(parts) != 2
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts)
        or not 0 <= parts[0] < parts[1]
    ):
        raise ValueError(f"{name} must be 'I/N' with 0 <= I < N (e.g. '0/4'), got {value!r}")
    return Shard(int(parts[0]), int(parts[1]))


def shard_of(video_id: str, count: int) -> int:
    """The shard (``0..count-1``) of a video: a stable hash of its id.

    Example:
        >>> shard_of("ffpp/original/c23/004", 1)
        0
    """
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def manifest_name(shard: Shard | None) -> str:
    """File name of a dataset's manifest: ``manifest.csv``, or ``manifest.shard-I-of-N.csv``."""
    return MANIFEST if shard is None else f"manifest.shard-{shard.index}-of-{shard.count}.csv"


def _check_shards(folders: list[Path], settings: list[dict[str, Any]]) -> None:
    first = {k: v for k, v in settings[0].items() if k != "shard"}
    for folder, found in zip(folders[1:], settings[1:]):
        other = {k: v for k, v in found.items() if k != "shard"}
        if other != first:
            diff = {
                k: (first.get(k), other.get(k))
                for k in sorted(set(first) | set(other))
                if first.get(k) != other.get(k)
            }
            raise ValueError(
                f"paths: {folder} was made with other settings than {folders[0]} "
                f"(setting: ({folders[0].name}, {folder.name})) {diff}; merge shards of one job"
            )
    shards = [s["shard"] for s in settings]
    if all(s is None for s in shards):
        return
    if any(s is None for s in shards):
        plain = folders[shards.index(None)]
        raise ValueError(f"paths: {plain} is not a shard (no --shard) but others are")
    parsed = [parse_shard(s, f"{f / SETTINGS_FILE}: shard") for f, s in zip(folders, shards)]
    count = parsed[0].count
    for folder, shard in zip(folders, parsed):
        if shard.count != count:
            raise ValueError(f"paths: {folder} is shard {shard}, not one of {count} shards")
    seen: dict[int, Path] = {}
    for folder, shard in zip(folders, parsed):
        if shard.index in seen:
            raise ValueError(f"paths: shard {shard} is given twice ({seen[shard.index]}, {folder})")
        seen[shard.index] = folder
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise ValueError(f"paths: shards {missing} are missing; merge all {count} shards")


def _place(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (a copy across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)


def merge_manifests(paths: Sequence[str | Path], out: str | Path) -> dict[str, Path]:
    """Merge the output folders of ``preprocess`` shards into a new folder ``out``.

    Args:
        paths: the shards' output folders (their ``--out``), all ``N`` shards of one job
            (or plain output folders of disjoint videos, made with the same settings).
        out: a new (or empty) folder; gets the settings, crops, sidecars, a journal and
            ``<dataset>/manifest.csv`` per dataset, as a single run would.

    Returns:
        ``dataset -> manifest path`` in ``out``.

    Raises:
        ValueError: a folder is not an output of ``preprocess``, the settings differ, a shard
            is missing or given twice, a video appears in two folders (the message names the
            first one), a crop is missing, or ``out`` is not empty.
        RunLockedError: a shard or ``out`` is in use by a preprocess run or another merge.
    """
    folders = [Path(p) for p in paths]
    if not folders:
        raise ValueError("paths must name at least one shard output folder, got none")
    out = Path(out)
    for folder in folders:
        if not folder.is_dir():
            raise ValueError(f"paths: {folder} is not a folder")
        if folder.resolve() == out.resolve():
            raise ValueError(f"out must be a new folder, not the shard {folder}")
    if len({f.resolve() for f in folders}) != len(folders):
        raise ValueError(f"paths must be distinct folders, got {[str(f) for f in folders]}")
    if out.exists() and any(p.name != ".lock" for p in out.iterdir()):
        raise ValueError(
            f"out must be a new or empty folder, {out} holds files (after a failed merge, "
            f"delete it and merge again)"
        )
    with ExitStack() as stack:
        for folder in folders:
            stack.enter_context(exclusive_lock(folder, "preprocess run or merge"))
        stack.enter_context(exclusive_lock(out, "preprocess run or merge"))
        settings = []
        for folder in folders:
            found = read_settings(folder)
            if found is None:
                raise ValueError(f"paths: {folder} has no {SETTINGS_FILE}; not a preprocess --out")
            settings.append(found)
        _check_shards(folders, settings)
        return _merge(folders, settings, out)


def _merge(folders: list[Path], settings: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    # The rows come from each shard's journals, the truth its manifest is assembled from
    # (a shard killed before it assembled its manifest still merges what it finished).
    sources: dict[str, list[Path]] = {}  # dataset -> its folders in the shards
    for folder in folders:
        for dataset_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if any((dataset_dir / n).is_dir() for n in (JOURNAL, PARTS)):
                sources.setdefault(dataset_dir.name, []).append(dataset_dir)
    if not sources:
        raise ValueError(f"paths: no finished videos found in {[str(f) for f in folders]}")
    owner: dict[str, Path] = {}
    plan: list[tuple[str, str, list[dict[str, str]], Path]] = []
    for dataset, found_in in sorted(sources.items()):
        for dataset_dir in found_in:
            for video_id, rows in sorted(completed(dataset_dir).items()):
                if video_id in owner:
                    raise ValueError(
                        f"paths: video {video_id!r} appears twice, in {owner[video_id]} and "
                        f"{dataset_dir}; shards must hold disjoint videos"
                    )
                owner[video_id] = dataset_dir
                plan.append((dataset, video_id, rows, dataset_dir))
    from freqforensics.data.landmarks import landmarks_path

    merged = {**settings[0], "shard": None}
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, JournalWriter] = {}
    try:
        for dataset, video_id, rows, dataset_dir in plan:
            for row in rows:
                if not row["crop_path"]:
                    continue
                source = resolve_inside(dataset_dir, row["crop_path"], f"{dataset_dir}: crop_path")
                if not source.is_file():
                    raise ValueError(f"paths: crop {source} of {video_id!r} is missing")
                target = out / dataset / row["crop_path"]
                _place(source, target)
                if landmarks_path(source).is_file():
                    _place(landmarks_path(source), landmarks_path(target))
                elif merged.get("landmarks"):
                    raise ValueError(f"paths: landmarks {landmarks_path(source)} are missing")
            if dataset not in writers:
                writers[dataset] = JournalWriter(out / dataset)
            writers[dataset].commit(video_id, rows)
    finally:
        for writer in writers.values():
            writer.close()
    atomic_write_json(out / SETTINGS_FILE, merged)
    return {dataset: assemble(out / dataset) for dataset in sorted(sources)}

