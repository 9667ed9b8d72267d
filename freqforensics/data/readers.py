"""Readers that turn official dataset folders into lists of :class:`VideoRecord`.

Each reader follows the dataset's own metadata (split files, label lists, ``metadata.json``) and
never guesses labels from anything else. Videos the metadata lists but the disk lacks are kept
as records with ``missing=True`` and reported with :mod:`logging` (one warning per path, up to
:data:`MAX_WARNINGS`, then a summary); the preprocessing job records them as ``missing`` in the
manifest and goes on.

``video_id`` is unique across datasets, methods and compressions
(``"ffpp/NeuralTextures/c23/004_982"``), so the four FaceForensics++ fakes ``000_003`` of
different methods never collapse into one video, and frames are grouped by it downstream.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "VideoRecord",
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "FFPP_METHODS",
    "read_ffpp",
    "read_celebdf",
    "read_dfdc",
    "read_dfdc_test",
    "read_folder",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
FFPP_COMPRESSIONS = ("raw", "c23", "c40")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
#: Missing files logged one by one before the reader switches to a summary line.
MAX_WARNINGS = 20


@dataclass(frozen=True)
class VideoRecord:
    """One video (or still image) of a dataset, as listed by its official metadata.

    Attributes:
        path: the file (may not exist when ``missing``).
        label: 0 real, 1 fake.
        split: ``"train"``, ``"val"`` or ``"test"``.
        dataset: short dataset name (``"ffpp"``, ``"celebdf"``, ``"dfdc"``, or a folder name).
        method: manipulation method for fakes (``"NeuralTextures"``), the source for reals
            (``"original"``, ``"Celeb-real"``); ``"fake"`` where the dataset does not say.
        compression: ``"raw"``, ``"c23"``, ``"c40"`` for FaceForensics++, ``""`` elsewhere.
        video_id: unique id, ``dataset/method/compression/name`` (empty parts dropped).
        missing: the metadata lists the file but it is not on disk.
        original: the real video a fake was made from, when the metadata says (``""`` if not).
    """

    path: Path
    label: int
    split: str
    dataset: str
    method: str
    compression: str
    video_id: str
    missing: bool = False
    original: str = field(default="", compare=False)

    @property
    def is_image(self) -> bool:
        """Whether the file is a still image (one frame) rather than a video."""
        return self.path.suffix.lower() in IMAGE_EXTENSIONS


def _make_id(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _record(
    path: Path,
    label: int,
    split: str,
    dataset: str,
    method: str,
    compression: str,
    name: str,
    original: str = "",
) -> VideoRecord:
    return VideoRecord(
        path=path,
        label=label,
        split=split,
        dataset=dataset,
        method=method,
        compression=compression,
        video_id=_make_id(dataset, method, compression, name),
        missing=not path.is_file(),
        original=original,
    )


def _report_missing(records: Sequence[VideoRecord], dataset: str) -> None:
    missing = [r for r in records if r.missing]
    for r in missing[:MAX_WARNINGS]:
        logger.warning("%s: listed in the metadata but missing on disk: %s", dataset, r.path)
    if len(missing) > MAX_WARNINGS:
        logger.warning(
            "%s: %d more listed videos are missing on disk (%d in all); they are kept as "
            "records with missing=True",
            dataset,
            len(missing) - MAX_WARNINGS,
            len(missing),
        )


def _check_dir(root: str | Path, name: str) -> Path:
    if not isinstance(root, (str, Path)):
        raise TypeError(f"{name} must be a str or Path, got {type(root).__name__}")
    path = Path(root)
    if not path.is_dir():
        raise ValueError(f"{name} must be an existing directory, got {str(path)!r}")
    return path


def _check_subset(values: Iterable[str], name: str, choices: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(values)
    bad = [v for v in out if v not in choices]
    if bad or not out:
        raise ValueError(f"{name} must be a non-empty subset of {list(choices)}, got {list(out)}")
    return out


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _hash_fraction(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# --------------------------------------------------------------------------- FaceForensics++


def _ffpp_pairs(root: Path, split: str) -> list[tuple[str, str]]:
    path = root / "splits" / f"{split}.json"
    if not path.is_file():
        raise ValueError(
            f"root must hold the official split file splits/{split}.json, not found under {root}"
        )
    pairs = json.loads(path.read_text())
    return [(str(a), str(b)) for a, b in pairs]


def read_ffpp(
    root: str | Path,
    methods: Sequence[str] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"),
    compression: str = "c23",
    splits: Sequence[str] = SPLITS,
    include_originals: bool = True,
    include_missing: bool = True,
) -> list[VideoRecord]:
    """List FaceForensics++ videos with the labels and the official split.

    Layout: ``original_sequences/youtube/<compression>/videos/<a>.mp4`` (real) and
    ``manipulated_sequences/<method>/<compression>/videos/<a>_<b>.mp4`` (fake: target ``a``,
    source ``b``), with ``splits/{train,val,test}.json`` lists of ``[a, b]`` pairs. Originals
    ``a`` and ``b`` belong to the split of their pair; the fakes ``a_b`` and ``b_a`` too.

    Args:
        root: the FaceForensics++ folder.
        methods: manipulation methods to list (subset of :data:`FFPP_METHODS`; the
            DeepFakeDetection set has no official split and is not supported).
        compression: ``"raw"``, ``"c23"`` or ``"c40"``.
        splits: splits to list.
        include_originals: list the real videos too.
        include_missing: keep videos of the split files that are absent on disk as records with
            ``missing=True`` (each reported); when ``False`` they are dropped with one summary
            warning (for partial downloads).

    Returns:
        Records sorted by ``video_id``: ``dataset="ffpp"``, ``method`` ``"original"`` for reals,
        ids like ``"ffpp/original/c23/004"`` and ``"ffpp/NeuralTextures/c23/004_982"``.

    Example:
        >>> records = read_ffpp("FaceForensics++", methods=["Deepfakes"])  # doctest: +SKIP
    """
    root = _check_dir(root, "root")
    methods = _check_subset(methods, "methods", FFPP_METHODS)
    compression = _check_subset((compression,), "compression", FFPP_COMPRESSIONS)[0]
    splits = _check_subset(splits, "splits", SPLITS)
    records: list[VideoRecord] = []
    for split in splits:
        for a, b in _ffpp_pairs(root, split):
            if include_originals:
                folder = root / "original_sequences" / "youtube" / compression / "videos"
                for name in (a, b):
                    records.append(
                        _record(
                            folder / f"{name}.mp4", 0, split, "ffpp", "original", compression, name
                        )
                    )
            for method in methods:
                folder = root / "manipulated_sequences" / method / compression / "videos"
                for target, source in ((a, b), (b, a)):
                    name = f"{target}_{source}"
                    records.append(
                        _record(
                            folder / f"{name}.mp4",
                            1,
                            split,
                            "ffpp",
                            method,
                            compression,
                            name,
                            original=target,
                        )
                    )
    records = sorted({r.video_id: r for r in records}.values(), key=lambda r: r.video_id)
    if include_missing:
        _report_missing(records, "ffpp")
    else:
        absent = sum(r.missing for r in records)
        if absent:
            logger.warning(
                "ffpp: %d videos of the official split are missing under %s and were dropped "
                "(include_missing=False)",
                absent,
                root,
            )
        records = [r for r in records if not r.missing]
    _warn_unlisted_ffpp(root, methods, compression, include_originals, records, splits)
    return records


def _warn_unlisted_ffpp(
    root: Path,
    methods: Sequence[str],
    compression: str,
    include_originals: bool,
    records: Sequence[VideoRecord],
    splits: Sequence[str],
) -> None:
    if tuple(splits) != SPLITS:
        return  # a file outside the requested splits is expected
    listed = {r.path for r in records}
    folders = [root / "manipulated_sequences" / m / compression / "videos" for m in methods]
    if include_originals:
        folders.append(root / "original_sequences" / "youtube" / compression / "videos")
    for folder in folders:
        for path in sorted(folder.glob("*.mp4")) if folder.is_dir() else []:
            if path not in listed:
                logger.warning("ffpp: %s is in no official split; skipped", path)


# --------------------------------------------------------------------------- Celeb-DF v2

_CELEBDF_FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}


def read_celebdf(
    root: str | Path,
    val_fraction: float = 0.0,
    seed: int = 0,
    test_list: str = "List_of_testing_videos.txt",
) -> list[VideoRecord]:
    """List Celeb-DF v2 videos: the official test list, everything else for training.

    Layout: ``Celeb-real/``, ``YouTube-real/`` (real), ``Celeb-synthesis/`` (fake) and
    ``List_of_testing_videos.txt`` with lines like ``1 YouTube-real/00170.mp4``. In that file
    **1 means real and 0 fake** (its YouTube-real lines carry 1); the label is taken from the
    folder and a line whose label disagrees is reported. Test videos are never put in train or
    val (a popular benchmark trains on all videos, test included).

    Args:
        root: the Celeb-DF v2 folder.
        val_fraction: share of the non-test videos moved to ``"val"``, chosen by a hash of the
            file name and ``seed`` (deterministic, independent of listing order).
        seed: salt of that hash.
        test_list: name of the test list inside ``root``.

    Returns:
        Records sorted by ``video_id``: ``dataset="celebdf"``, ``method`` the folder name,
        ``compression=""``, ids like ``"celebdf/YouTube-real/00170"``.
    """
    root = _check_dir(root, "root")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    list_path = root / test_list
    if not list_path.is_file():
        raise ValueError(f"root must hold the test list {test_list}, not found under {root}")
    test: dict[str, int] = {}
    for lineno, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise ValueError(
                f"{list_path}:{lineno}: expected '<0|1> <folder>/<file>', got {line!r}"
            )
        rel = parts[1].replace("\\", "/")
        folder = rel.split("/", 1)[0]
        if folder not in _CELEBDF_FOLDERS:
            raise ValueError(
                f"{list_path}:{lineno}: folder must be one of {list(_CELEBDF_FOLDERS)}, "
                f"got {folder!r}"
            )
        label = _CELEBDF_FOLDERS[folder]
        if 1 - int(parts[0]) != label:
            logger.warning(
                "celebdf: %s:%d labels %s as %s but its folder says %s; using the folder",
                list_path.name,
                lineno,
                rel,
                parts[0],
                "fake" if label else "real",
            )
        test[rel] = label
    records: list[VideoRecord] = []
    for rel, label in test.items():
        folder, name = rel.split("/", 1)
        records.append(
            _record(
                root / rel,
                label,
                "test",
                "celebdf",
                folder,
                "",
                Path(name).with_suffix("").as_posix(),
            )
        )
    for folder, label in _CELEBDF_FOLDERS.items():
        directory = root / folder
        if not directory.is_dir():
            logger.warning("celebdf: folder %s is missing", directory)
            continue
        for path in sorted(directory.iterdir()):
            rel = f"{folder}/{path.name}"
            if path.suffix.lower() not in VIDEO_EXTENSIONS or rel in test:
                continue
            split = "val" if _hash_fraction(rel, seed) < val_fraction else "train"
            records.append(_record(path, label, split, "celebdf", folder, "", path.stem))
    records.sort(key=lambda r: r.video_id)
    _report_missing(records, "celebdf")
    return records


# --------------------------------------------------------------------------- DFDC

_DFDC_LABELS = {"REAL": 0, "FAKE": 1}


def read_dfdc(
    root: str | Path, split: str = "train", val_parts: Sequence[int] = ()
) -> list[VideoRecord]:
    """List DFDC training videos from the ``metadata.json`` of each part.

    Layout: ``dfdc_train_part_<N>/metadata.json`` mapping ``"name.mp4"`` to
    ``{"label": "REAL"|"FAKE", "split": "train", "original": ...}``, the videos beside it.

    Args:
        root: folder holding the ``dfdc_train_part_*`` folders, or one such folder.
        split: split given to the videos (all DFDC training parts are ``"train"``).
        val_parts: part numbers whose videos go to ``"val"`` instead (a whole part is a
            disjoint set of actors' sessions).

    Returns:
        Records sorted by ``video_id``: ``dataset="dfdc"``, ``method`` ``"original"`` or
        ``"fake"``, ids like ``"dfdc/dfdc_train_part_0/brtujopkby"``.
    """
    root = _check_dir(root, "root")
    split = _check_subset((split,), "split", SPLITS)[0]
    parts = (
        [root]
        if (root / "metadata.json").is_file()
        else sorted(p for p in root.glob("dfdc_train_part_*") if p.is_dir())
    )
    if not parts:
        raise ValueError(f"root must hold dfdc_train_part_*/metadata.json, none under {root}")
    val = {int(v) for v in val_parts}
    records: list[VideoRecord] = []
    for part in parts:
        meta_path = part / "metadata.json"
        if not meta_path.is_file():
            logger.warning("dfdc: %s has no metadata.json; skipped", part)
            continue
        meta = json.loads(meta_path.read_text())
        number = part.name.rsplit("_", 1)[-1]
        part_split = "val" if number.isdigit() and int(number) in val else split
        for name, entry in sorted(meta.items()):
            label_text = str(entry.get("label", "")).upper()
            if label_text not in _DFDC_LABELS:
                raise ValueError(
                    f"{meta_path}: label of {name} must be REAL or FAKE, got {entry.get('label')!r}"
                )
            label = _DFDC_LABELS[label_text]
            records.append(
                VideoRecord(
                    path=part / name,
                    label=label,
                    split=part_split,
                    dataset="dfdc",
                    method="fake" if label else "original",
                    compression="",
                    video_id=f"dfdc/{part.name}/{Path(name).stem}",
                    missing=not (part / name).is_file(),
                    original=str(entry.get("original") or ""),
                )
            )
    records.sort(key=lambda r: r.video_id)
    _report_missing(records, "dfdc")
    return records


def read_dfdc_test(
    labels_csv: str | Path, video_dir: str | Path | None = None, split: str = "test"
) -> list[VideoRecord]:
    """List the DFDC public test set from its ``labels.csv`` (``filename,label``, 1 = fake).

    Args:
        labels_csv: the CSV file, or the folder holding ``labels.csv``.
        video_dir: folder of the videos; defaults to the CSV's folder.
        split: split given to the videos.

    Returns:
        Records sorted by ``video_id``: ``dataset="dfdc"``, ids like ``"dfdc/test/aalscayrfi"``.
    """
    path = Path(labels_csv)
    if path.is_dir():
        path = path / "labels.csv"
    if not path.is_file():
        raise ValueError(
            f"labels_csv must be a labels.csv file or its folder, got {str(labels_csv)!r}"
        )
    folder = _check_dir(video_dir, "video_dir") if video_dir is not None else path.parent
    split = _check_subset((split,), "split", SPLITS)[0]
    records: list[VideoRecord] = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"labels_csv must have the columns filename,label, got {reader.fieldnames}"
            )
        for row in reader:
            text = str(row["label"]).strip()
            if text not in ("0", "1", "0.0", "1.0"):
                raise ValueError(
                    f"{path}: label of {row['filename']} must be 0 (real) or 1 (fake), got {text!r}"
                )
            label = int(float(text))
            name = row["filename"].strip()
            records.append(
                VideoRecord(
                    path=folder / name,
                    label=label,
                    split=split,
                    dataset="dfdc",
                    method="fake" if label else "original",
                    compression="",
                    video_id=f"dfdc/test/{Path(name).stem}",
                    missing=not (folder / name).is_file(),
                )
            )
    records.sort(key=lambda r: r.video_id)
    _report_missing(records, "dfdc")
    return records


# --------------------------------------------------------------------------- plain folders

_FOLDER_LABELS = {"real": 0, "fake": 1}


def read_folder(
    root: str | Path, dataset: str | None = None, split: str = "test"
) -> list[VideoRecord]:
    """List a plain ``real/`` + ``fake/`` folder of videos and/or images.

    Either ``root/{real,fake}/...`` (all given ``split``) or
    ``root/{train,val,test}/{real,fake}/...``. Files are found recursively; each video or image
    is one record (an image is a one-frame video).

    Args:
        root: the folder.
        dataset: dataset name for ids and manifests; defaults to the folder's name.
        split: split of the files when there are no split folders.

    Returns:
        Records sorted by ``video_id``: ``method`` ``"original"`` or ``"fake"``,
        ids like ``"<dataset>/<split>/fake/<relative path without extension>"``.
    """
    root = _check_dir(root, "root")
    split = _check_subset((split,), "split", SPLITS)[0]
    name = dataset if dataset is not None else root.name
    if not name or "/" in name:
        raise ValueError(f"dataset must be a non-empty name without '/', got {name!r}")
    layouts = [(s, root / s) for s in SPLITS if (root / s).is_dir()] or [(split, root)]
    records: list[VideoRecord] = []
    for part_split, base in layouts:
        for label_dir, label in _FOLDER_LABELS.items():
            directory = base / label_dir
            if not directory.is_dir():
                continue
            for path in sorted(directory.rglob("*")):
                suffix = path.suffix.lower()
                if not path.is_file() or suffix not in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
                    continue
                rel = path.relative_to(directory).with_suffix("").as_posix()
                records.append(
                    VideoRecord(
                        path=path,
                        label=label,
                        split=part_split,
                        dataset=name,
                        method="fake" if label else "original",
                        compression="",
                        video_id=f"{name}/{part_split}/{label_dir}/{rel}",
                    )
                )
    if not records:
        raise ValueError(
            f"root must hold real/ and/or fake/ folders (optionally under train/val/test) with "
            f"videos or images, none found under {root}"
        )
    records.sort(key=lambda r: r.video_id)
    ids = [r.video_id for r in records]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise ValueError(
            f"root holds files whose names differ only by extension, which would share a "
            f"video_id: {clashes[:5]}; rename them"
        )
    return records
