"""Readers that turn official dataset folders into lists of :class:`VideoRecord`.

Each reader follows the dataset's own metadata (split files, label lists, ``metadata.json``) and
never guesses labels from anything else. Videos the metadata lists but the disk lacks are kept
as records with ``missing=True`` and reported with :mod:`logging` (one warning per path, up to
:data:`MAX_WARNINGS`, then a summary); the preprocessing job records them as ``missing`` in the
manifest and goes on.

Nothing is dropped silently and nothing is read outside the dataset root: an entry of the
metadata whose path is absolute or leaves the root (``../../x.mp4``), a folder that cannot be
listed and a broken link are kept as records with ``error`` set, which the preprocessing job
records as ``video_error`` without reading them. A malformed metadata file is a
:class:`ValueError` naming the file and what was expected.

``video_id`` is unique across datasets, methods and compressions
(``"ffpp/NeuralTextures/c23/004_982"``), so the four FaceForensics++ fakes ``000_003`` of
different methods never collapse into one video, and frames are grouped by it downstream.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from freqforensics.data import _metadata

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
    "read_images",
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
        error: why the entry is not read (a path outside the root, a folder that cannot be
            listed, a broken link); ``""`` for a normal record. The preprocessing job records it
            as ``video_error`` without opening anything.
        identity: the person shown, where the reader knows it (``read_images``), else ``""``.
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
    error: str = field(default="", compare=False)
    identity: str = field(default="", compare=False)

    @property
    def is_image(self) -> bool:
        """Whether the file is a still image (one frame) rather than a video."""
        return self.path.suffix.lower() in IMAGE_EXTENSIONS

    @classmethod
    def listed(
        cls,
        path: Path,
        label: int,
        split: str,
        dataset: str,
        method: str,
        compression: str,
        video_id: str,
        original: str = "",
        problem: str = "",
        identity: str = "",
    ) -> VideoRecord:
        """The record of a listed file, as every reader builds it.

        ``missing`` comes from the disk; with a ``problem`` (a path outside the root, a folder
        that cannot be listed) the record is refused: it is never opened, and the
        preprocessing job records it as ``video_error``.
        """
        return cls(
            path=path,
            label=label,
            split=split,
            dataset=dataset,
            method=method,
            compression=compression,
            video_id=video_id,
            missing=False if problem else not path.is_file(),
            original=original,
            error=problem,
            identity=identity,
        )


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
    problem: str = "",
) -> VideoRecord:
    """A record of ``path``; with a ``problem`` a refused record (safe id, never touched)."""
    video_id = _make_id(dataset, method, compression, _encoded(name) if problem else name)
    return VideoRecord.listed(
        path, label, split, dataset, method, compression, video_id, original, problem
    )


def _encoded(name: str) -> str:
    """One safe ``video_id`` component for a refused entry (``/`` and ``.`` percent-encoded)."""
    return urllib.parse.quote(name, safe="").replace(".", "%2E") or "%22%22"


def _entry_problem(root: Path, rel: str, what: str) -> str:
    """Why the metadata entry ``rel`` (relative to ``root``) is refused, ``""`` if it is not."""
    problem = _metadata.entry_error(root, rel, what)
    if not problem and any(p in ("", ".", "..") for p in rel.replace("\\", "/").split("/")):
        problem = (
            f"{what} {rel!r} has empty, '.' or '..' components; expected a plain relative "
            f"path under {root}, refused"
        )
    return problem


def _report_missing(records: Sequence[VideoRecord], dataset: str) -> None:
    for r in [r for r in records if r.error][:MAX_WARNINGS]:
        logger.warning("%s: %s (recorded as video_error, not read)", dataset, r.error)
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
    return _metadata.ffpp_pairs(path)


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
    Split files that name one video in two splits are refused.

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
    _metadata.check_disjoint_splits(root / "splits", SPLITS)
    records: list[VideoRecord] = []
    for split in splits:
        what = f"{root / 'splits' / split}.json: video name"
        for a, b in _ffpp_pairs(root, split):
            if include_originals:
                folder = root / "original_sequences" / "youtube" / compression / "videos"
                for name in (a, b):
                    problem = _entry_problem(folder, name, what)
                    records.append(
                        _record(
                            folder / f"{name}.mp4",
                            0,
                            split,
                            "ffpp",
                            "original",
                            compression,
                            name,
                            problem=problem,
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
                            problem=_entry_problem(folder, name, what),
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

_CELEBDF_FOLDERS = _metadata._CELEBDF_FOLDERS


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
    test = _metadata.celebdf_test_list(list_path)
    records: list[VideoRecord] = []
    for rel, label in test.items():
        folder, _, name = rel.partition("/")
        records.append(
            _record(
                root / rel,
                label,
                "test",
                "celebdf",
                folder,
                "",
                Path(name).with_suffix("").as_posix() if name else name,
                problem=_entry_problem(root / folder, name, f"{list_path}: test video"),
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


def _dfdc_record(
    path: Path, label: int, split: str, head: str, name: str, problem: str, original: str = ""
) -> VideoRecord:
    video_id = f"dfdc/{head}/{_encoded(name) if problem else Path(name).stem}"
    method = "fake" if label else "original"
    return VideoRecord.listed(path, label, split, "dfdc", method, "", video_id, original, problem)


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
        number = part.name.rsplit("_", 1)[-1]
        part_split = "val" if number.isdigit() and int(number) in val else split
        listed = [
            _dfdc_record(part / name, label, part_split, part.name, name,
                         _entry_problem(part, name, f"{meta_path}: key"), original)
            for name, label, original in _metadata.dfdc_entries(meta_path)
        ]
        _metadata.check_unique_ids(listed, meta_path)
        records += listed
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
    records = [
        _dfdc_record(
            folder / name,
            label,
            split,
            "test",
            name,
            _entry_problem(folder, name, f"{path}: filename"),
        )
        for name, label in _metadata.dfdc_test_labels(path)
    ]
    _metadata.check_unique_ids(records, path)
    records.sort(key=lambda r: r.video_id)
    _report_missing(records, "dfdc")
    return records


# The plain-folder reader lives in its own module and is re-exported here (it needs the names
# above, hence the import at the end).
from freqforensics.data._folder import read_folder, read_images  # noqa: E402
