"""One entry point for every dataset layout: :func:`read_dataset`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from freqforensics._io import safe_component
from freqforensics.data._folder import read_folder, read_images
from freqforensics.data.dataset import match_video
from freqforensics.data.readers import (
    SPLITS,
    VideoRecord,
    read_celebdf,
    read_dfdc,
    read_dfdc_test,
    read_ffpp,
)

__all__ = ["DATASETS", "PAPER_METHODS", "read_dataset"]

#: The layouts :func:`read_dataset` reads.
DATASETS = ("ffpp", "celebdf", "dfdc", "dfdc-test", "folder", "images")
#: The four FaceForensics++ methods of the paper (all but FaceShifter).
PAPER_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def read_dataset(
    dataset: str,
    root: str | Path,
    splits: Sequence[str] = SPLITS,
    methods: Sequence[str] = PAPER_METHODS,
    compression: str = "c23",
    skip_missing: bool = False,
    val_fraction: float | None = None,
    seed: int = 0,
    val_parts: Sequence[int] = (),
    video_dir: str | Path | None = None,
    name: str | None = None,
    folder_split: str = "test",
    videos: Sequence[str] | None = None,
    identity_regex: str | None = None,
    unknown_identity: str = "unk",
) -> tuple[list[VideoRecord], list[str]]:
    """The videos of a dataset folder in one of the :data:`DATASETS` layouts, filtered.

    Args:
        dataset: the layout of ``root``.
        root: the dataset folder (``dfdc-test``: ``labels.csv`` or its folder).
        splits: keep these splits.
        methods: ``ffpp``: manipulation methods.
        compression: ``ffpp``: ``raw``, ``c23`` or ``c40``.
        skip_missing: leave out videos the metadata lists but the disk lacks (else they are
            records with ``missing=True``, reported in the manifest).
        val_fraction: ``celebdf``: share of the non-test videos put in val (default 0);
            ``images``: share of the identities put in val (default 0.15).
        seed: ``celebdf``, ``images``: seed of that selection.
        val_parts: ``dfdc``: part numbers used as val.
        video_dir: ``dfdc-test``: folder of the videos (default: beside ``labels.csv``).
        name: ``folder``, ``images``: the dataset name (one folder name; default: the
            folder's).
        folder_split: ``folder``: split of files not under ``train/val/test`` subfolders.
        videos: keep only videos whose id or name matches one of these shell patterns
            (records the reader refused stay: they may hide videos that would match).
        identity_regex: ``images``: regex giving the identity from the file name (see
            :func:`~freqforensics.data.read_images`); default: the subfolder.
        unknown_identity: ``images``: the identity that means "unknown" (one per file).

    Returns:
        ``(records, notes)``: the records, and lines saying what was left out.

    Raises:
        ValueError: an unknown layout, a missing root, malformed metadata, or no video left.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, got {dataset!r}")
    root = Path(root)
    if not root.exists():
        raise ValueError(f"root not found: {root}")
    if dataset == "ffpp":
        records = read_ffpp(root, methods=methods, compression=compression,
                            splits=tuple(splits), include_missing=not skip_missing)
    elif dataset == "celebdf":
        records = read_celebdf(root, val_fraction=val_fraction or 0.0, seed=seed)
    elif dataset == "dfdc":
        records = read_dfdc(root, val_parts=val_parts)
    elif dataset == "dfdc-test":
        records = read_dfdc_test(root, video_dir=video_dir)
    else:
        if name is not None:
            safe_component(name, "name")
        if dataset == "images":
            records = read_images(
                root,
                dataset=name,
                identity_regex=identity_regex,
                unknown_identity=unknown_identity,
                val_fraction=0.15 if val_fraction is None else val_fraction,
                seed=seed,
            )
        else:
            records = read_folder(root, dataset=name, split=folder_split)
    records = [r for r in records if r.split in splits]
    notes = []
    if skip_missing:
        dropped = sum(r.missing for r in records)
        records = [r for r in records if not r.missing]
        if dropped:
            notes.append(f"skip_missing: {dropped} listed videos absent on disk left out")
    if videos:
        records = [r for r in records if r.error or match_video(r.video_id, videos)]
    if not records:
        where = f" matching videos {' '.join(videos)}" if videos else ""
        raise ValueError(
            f"no videos listed under {root} for dataset {dataset!r} in splits "
            f"{list(splits)}{where}"
        )
    return records, notes
