"""The readers of plain folders (re-exported by :mod:`.readers`).

:func:`read_folder` reads ``real/`` + ``fake/`` folders of videos and images;
:func:`read_images` reads a folder of real photographs, with identities and identity-disjoint
train/val splits. Every file with a video or image extension is a record; a folder that cannot
be listed, a broken link, a link to a folder (not followed) or an entry that is not a regular
file is a record with ``error`` set, recorded as ``video_error`` by the preprocessing job:
nothing is dropped silently.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from freqforensics._io import safe_component
from freqforensics.data.readers import (
    IMAGE_EXTENSIONS,
    SPLITS,
    VIDEO_EXTENSIONS,
    VideoRecord,
    _check_dir,
    _check_fraction,
    _check_subset,
    _hash_fraction,
    _report_missing,
)

__all__ = ["read_folder", "read_images"]

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
                parts = (name, part_split, label_dir, _printable(rel.as_posix()))
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
    return _finish(records, name)


def _finish(records: list[VideoRecord], name: str) -> list[VideoRecord]:
    records.sort(key=lambda r: r.video_id)
    clashes = sorted(i for i, n in Counter(r.video_id for r in records).items() if n > 1)
    if clashes:
        raise ValueError(
            f"root holds files whose names differ only by extension, which would share a "
            f"video_id: {clashes[:5]}; rename them"
        )
    _report_missing(records, name)
    return records


def read_images(
    root: str | Path,
    dataset: str | None = None,
    identity_regex: str | None = None,
    unknown_identity: str = "unk",
    val_fraction: float = 0.15,
    seed: int = 0,
) -> list[VideoRecord]:
    """List a folder of real photographs (recursively), with identity-disjoint train/val.

    Every image is a one-frame video of label 0 (``method`` ``"original"``). Its identity
    (the person) is the path of its folder below ``root`` (``root/alice/1.jpg`` -> ``alice``; a
    file directly in ``root`` is its own identity), or, with ``identity_regex``, taken from the
    file name: the named group ``identity`` of the first match (:func:`re.search`), or the
    whole match. An identity equal to ``unknown_identity``, or ending in
    ``__<unknown_identity>`` or ``/<unknown_identity>``, is unknown: each such file is its own
    identity (``<identity>#<path without extension>``). For ``faces-real``
    (``<source>__<identity>__<file>``) the regex ``^(?P<identity>.+?__.+?)__`` gives
    ``<source>__<identity>``, and the ``deepface__unk`` files each become one identity.

    The split is ``"val"`` for the identities whose hash with ``seed`` falls under
    ``val_fraction`` and ``"train"`` for the others, so all the photos of a person lie on one
    side. Videos in ``root``, and names the regex does not match, are records with ``error``
    set (reported as ``video_error``, never read).

    Args:
        root: the folder.
        dataset: dataset name for ids and manifests (default: the folder's name).
        identity_regex: a Python regex applied to the file name; ``None``: the folder.
        unknown_identity: the identity that means "unknown" (``""``: none).
        val_fraction: share of the identities put in ``"val"``, in ``[0, 1)``.
        seed: seed of that selection.

    Returns:
        Records sorted by ``video_id`` (``"<dataset>/<relative path without extension>"``),
        with ``identity`` set.
    """
    root = _check_dir(root, "root")
    name = safe_component(dataset if dataset is not None else root.resolve().name, "dataset")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    pattern = None
    if identity_regex is not None:
        try:
            pattern = re.compile(identity_regex)
        except re.error as err:
            raise ValueError(
                f"identity_regex {identity_regex!r} is not a valid regex ({err})"
            ) from None
    files, problems = _walk_folder(root)
    records: list[VideoRecord] = []
    for path, problem in [(p, "") for p in files] + problems:
        rel = path.relative_to(root)
        stem = rel.with_suffix("").as_posix() if path.suffix.lower() in IMAGE_EXTENSIONS else ""
        identity = ""
        if not problem and not stem:
            problem = f"{path} is a video; the images source reads still images only, refused"
        elif not problem:
            identity, problem = _identity(rel, pattern, unknown_identity)
        split = "val" if identity and _hash_fraction(identity, seed) < val_fraction else "train"
        video_id = _printable(f"{name}/{stem or rel.as_posix()}")
        records.append(
            VideoRecord.listed(
                path, 0, split, name, "original", "", video_id, problem=problem, identity=identity
            )
        )
    if not records:
        raise ValueError(f"root must hold images (found recursively), none found under {root}")
    return _finish(records, name)


def _identity(rel: Path, pattern: re.Pattern[str] | None, unknown: str) -> tuple[str, str]:
    """``(identity, "")`` of one image, or ``("", why it is refused)``."""
    if pattern is None:
        folder = rel.parent.as_posix()
        identity = folder if folder != "." else rel.with_suffix("").as_posix()
    else:
        match = pattern.search(rel.name)
        identity = ""
        if match is not None:
            identity = (
                match.group("identity") if "identity" in pattern.groupindex else match.group(0)
            ) or ""
        if not identity:
            return "", (
                f"file name {rel.name!r} gives no identity with identity_regex "
                f"{pattern.pattern!r}; refused"
            )
    if unknown and (
        identity == unknown or identity.endswith((f"__{unknown}", f"/{unknown}"))
    ):
        identity = f"{identity}#{rel.with_suffix('').as_posix()}"
    return identity, ""


def _printable(text: str) -> str:
    """``text`` with the bytes of a file name that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


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
            shown = _printable(str(path))
            if shown != str(path):  # bytes that are not UTF-8 (an old archive): never read,
                problems.append(  # so its record may carry the printable name
                    (Path(shown), f"{shown}: the name is not valid UTF-8, refused (rename it)")
                )
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
