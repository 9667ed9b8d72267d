"""A training :class:`~torch.utils.data.Dataset` over the crops of a preprocessing manifest.

Each item carries the two views the detector needs: ``image``, the crop resized to a square
(the spatial and local branches), and ``sida``, the 2304 SIDA statistics of the crop at its
original resolution (never resized: the paper's global branch depends on the codec's 8x8 blocks,
which the crops are aligned to). Training augmentation is a horizontal flip, applied to both
views, and a small brightness/contrast jitter applied to ``image`` only (a colour change rescales
the DCT coefficients SIDA summarises, so it is not a label-preserving change for that branch).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from freqforensics._checks import check_probability
from freqforensics.data.preprocess import ManifestRow, load_manifest
from freqforensics.data.readers import SPLITS
from freqforensics.layers.sida import SIDA

logger = logging.getLogger(__name__)

__all__ = ["FrameDataset", "collate_frames", "load_rows", "match_video", "prepare_crop"]


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_list(value: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(value, (str, Path)):
        return [Path(value)]
    if not isinstance(value, Sequence) or not all(isinstance(v, (str, Path)) for v in value):
        raise ValueError(
            f"manifest must be a path (a manifest.csv or its folder) or a list of paths, "
            f"got {value!r}"
        )
    return [Path(v) for v in value]


def match_video(video_id: str, patterns: Sequence[str]) -> bool:
    """Whether ``video_id`` matches one of ``patterns`` (shell-style, :mod:`fnmatch`).

    A pattern matches the whole id (``"ffpp/original/c23/519"``, ``"ffpp/original/*"``) or its
    last component, the video's name (``"519"`` matches ``"ffpp/original/c23/519"`` but not
    ``"ffpp/Deepfakes/c23/519_515"``; ``"519*"`` matches both).

    Args:
        video_id: a manifest's ``video_id``.
        patterns: one or more patterns.

    Returns:
        ``True`` when a pattern matches.

    Example:
        >>> match_video("ffpp/original/c23/519", ["519"])
        True
        >>> match_video("ffpp/Deepfakes/c23/519_515", ["519"])
        False
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    name = video_id.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(video_id, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def load_rows(
    manifest: str | Path | Sequence[str | Path],
    split: str | None = None,
    videos: Sequence[str] | None = None,
    label: int | None = None,
    allow_empty: bool = True,
) -> list[ManifestRow]:
    """The ``ok`` rows (frames with a crop) of one or more manifests, filtered.

    Args:
        manifest: a ``manifest.csv`` (or its folder), or a list of them.
        split: keep rows of this split, or ``None`` for all.
        videos: keep rows whose ``video_id`` matches one of these patterns
            (:func:`match_video`), or ``None`` for all.
        label: keep rows of this label (0 real, 1 fake), or ``None`` for both.
        allow_empty: return an empty list when nothing matches; when ``False`` raise a
            :class:`ValueError` that says which splits the manifests do hold (DFDC training
            parts are all ``"train"``, say).

    Returns:
        The rows, in manifest order.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
    if label is not None and label not in (0, 1):
        raise ValueError(f"label must be 0 (real), 1 (fake) or None, got {label!r}")
    paths = _as_list(manifest)
    every: list[ManifestRow] = []
    for path in paths:
        every.extend(load_manifest(path, status="ok"))
    rows = every
    if videos is not None:
        rows = [r for r in rows if match_video(r.video_id, videos)]
    if label is not None:
        rows = [r for r in rows if r.label == label]
    selected = rows if split is None else [r for r in rows if r.split == split]
    if not selected and not allow_empty:
        raise ValueError(_nothing_selected(paths, every, rows, split, videos, label))
    return _without_missing_crops(selected)


def _without_missing_crops(rows: list[ManifestRow]) -> list[ManifestRow]:
    """``rows`` without those whose crop file is gone (deleted, a partial copy): reported
    once, skipped, so that one lost file does not end a run at its first epoch."""
    present = [r.crop_path is not None and os.path.isfile(r.crop_path) for r in rows]
    if all(present):
        return rows
    lost = [r for r, ok in zip(rows, present) if not ok]
    shown = "; ".join(f"{r.video_id}:{r.frame_index} ({r.crop_path})" for r in lost[:5])
    logger.warning(
        "%d of %d frames have no crop file on disk and are skipped: %s%s",
        len(lost), len(rows), shown, " ..." if len(lost) > 5 else "",
    )
    return [r for r, ok in zip(rows, present) if ok]


def crop_error(row: ManifestRow, err: Exception) -> ValueError:
    """The error for a crop file that exists but cannot be decoded, naming its row."""
    return ValueError(
        f"cannot read the crop of {row.video_id} frame {row.frame_index} ({row.crop_path}): "
        f"{err}; rerun preprocess for that video, or remove its rows from the manifest"
    )


def _nothing_selected(
    paths: Sequence[Path],
    every: Sequence[ManifestRow],
    matching: Sequence[ManifestRow],
    split: str | None,
    videos: Sequence[str] | None,
    label: int | None,
) -> str:
    """Why :func:`load_rows` found nothing, with the splits the manifests do hold."""
    where = f"split {split!r}" if split is not None else "any split"
    if videos is not None:
        where += f" matching videos {list(videos)}"
    if label is not None:
        where += f" with label {label}"
    names = ", ".join(map(str, paths))
    head = f"no frames with a face in {where} of {names}"

    def splits(rows: Sequence[ManifestRow]) -> str:
        count = Counter(r.split for r in rows)
        return ", ".join(f"{s!r} ({n} frames)" for s, n in sorted(count.items()))

    if matching:
        which = "the matching frames" if videos is not None or label is not None else "they"
        return f"{head}; {which} are in split {splits(matching)}"
    if every:
        return f"{head}; the manifest holds frames with a face in split {splits(every)}"
    statuses = Counter(r.status for path in paths for r in load_manifest(path))
    held = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "no rows"
    return f"{head}; the manifest holds no frames with a face at all ({held})"


def prepare_crop(
    crop: np.ndarray, image_size: int, sida: SIDA | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The detector's two views of a face crop, as :class:`FrameDataset` makes them.

    Args:
        crop: RGB ``uint8`` face crop of shape :math:`(H, W, 3)` at its original resolution,
            H and W >= 16.
        image_size: side ``S`` of the resized image.
        sida: a :class:`~freqforensics.SIDA` module to reuse (built when ``None``).

    Returns:
        ``(image, sida)``: float32 :math:`(3, S, S)` in [0, 1] (Pillow bilinear resize) and the
        float32 :math:`(2304,)` SIDA vector of the crop at its original resolution.

    Example:
        >>> image, d = prepare_crop(np.zeros((40, 48, 3), np.uint8), 64)
        >>> image.shape, d.shape
        (torch.Size([3, 64, 64]), torch.Size([2304]))
    """
    from PIL import Image

    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3:
        got = getattr(crop, "shape", type(crop).__name__)
        raise ValueError(f"crop must be a uint8 array of shape (H, W, 3), got {got}")
    if crop.shape[2] != 3 or min(crop.shape[:2]) < 16:
        raise ValueError(f"crop must have shape (H, W, 3) with H, W >= 16, got {crop.shape}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
    vector = _sida_vector(crop, sida if sida is not None else SIDA())
    resized = Image.fromarray(crop).resize((image_size, image_size), Image.Resampling.BILINEAR)
    return _to_tensor(resized), vector


def _to_tensor(image: Any) -> torch.Tensor:
    """RGB ``uint8`` array or Pillow image ``(H, W, 3)`` -> float32 ``(3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float() / 255


def _sida_vector(crop: Any, module: SIDA) -> torch.Tensor:
    """The ``(2304,)`` SIDA vector of an RGB crop at its original resolution."""
    with torch.no_grad():
        return module(_to_tensor(crop)[None])[0]


class FrameDataset(Dataset[dict[str, Any]]):
    """Face crops listed by one or more manifests (``status == "ok"`` rows only).

    Args:
        manifest: a ``manifest.csv`` (or its folder) written by
            :func:`~freqforensics.data.preprocess`, or a list of them.
        split: keep rows of this split (``"train"``, ``"val"``, ``"test"``), or ``None`` for all.
        image_size: side ``S`` of the resized ``image`` (380, EfficientNet-B4's input).
        augment: random flip and colour jitter; defaults to ``split == "train"``.
        real_repeat: how many times each real frame is listed (the paper balances the four
            fakes per real of FaceForensics++ by repeating reals, each copy augmented
            differently); defaults to 4 for ``split="train"`` and 1 otherwise.
        brightness: jitter factor drawn from ``[1 - brightness, 1 + brightness]``.
        contrast: jitter factor drawn from ``[1 - contrast, 1 + contrast]``.
        flip_p: probability of the horizontal flip.
        videos: keep only the videos whose ``video_id`` matches one of these patterns
            (:func:`match_video`: ``"519"``, ``"ffpp/original/*"``); ``None`` keeps all.
        allow_empty: accept a selection without frames; when ``False`` an empty selection is a
            :class:`ValueError` naming the splits the manifests hold (see :func:`load_rows`).

    Each item is a dict:

    - ``image``: float32 :math:`(3, S, S)` in [0, 1].
    - ``sida``: float32 :math:`(2304,)`, ``SIDA()`` of the (possibly flipped) crop at its
      original resolution.
    - ``label``: float32 scalar tensor, 0 real, 1 fake.
    - ``video_id``: ``str``; ``frame_index``: ``int``.

    Example:
        >>> ds = FrameDataset("crops/ffpp/manifest.csv", split="train")  # doctest: +SKIP
        >>> ds[0]["image"].shape, ds[0]["sida"].shape  # doctest: +SKIP
        (torch.Size([3, 380, 380]), torch.Size([2304]))
    """

    def __init__(
        self,
        manifest: str | Path | Sequence[str | Path],
        split: str | None = "train",
        image_size: int = 380,
        augment: bool | None = None,
        real_repeat: int | None = None,
        brightness: float = 0.1,
        contrast: float = 0.1,
        flip_p: float = 0.5,
        videos: Sequence[str] | None = None,
        allow_empty: bool = True,
    ) -> None:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        if real_repeat is None:
            real_repeat = 4 if split == "train" else 1
        if isinstance(real_repeat, bool) or not isinstance(real_repeat, int) or real_repeat < 1:
            raise ValueError(f"real_repeat must be an int >= 1, got {real_repeat!r}")
        for name, value in (("brightness", brightness), ("contrast", contrast)):
            if not _real(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        check_probability(flip_p, "flip_p")
        rows = load_rows(manifest, split=split, videos=videos, allow_empty=allow_empty)
        self.rows = rows
        self.split = split
        self.image_size = image_size
        self.augment = split == "train" if augment is None else bool(augment)
        self.real_repeat = real_repeat
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.flip_p = float(flip_p)
        self.index = [
            i for i, r in enumerate(rows) for _ in range(real_repeat if r.label == 0 else 1)
        ]
        self.sida = SIDA()

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> list[int]:
        """Label of every item (after repetition), e.g. for a weighted sampler."""
        return [self.rows[i].label for i in self.index]

    def __getitem__(self, item: int) -> dict[str, Any]:
        from PIL import Image, ImageEnhance

        row = self.rows[self.index[item]]
        try:
            with Image.open(row.crop_file()) as png:
                crop = png.convert("RGB")
        except OSError as err:
            raise crop_error(row, err) from None
        if self.augment and float(torch.rand(())) < self.flip_p:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        sida = _sida_vector(crop, self.sida)
        image = crop.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        if self.augment:
            for enhancer, amount in (
                (ImageEnhance.Brightness, self.brightness),
                (ImageEnhance.Contrast, self.contrast),
            ):
                if amount > 0:
                    factor = 1 + amount * (2 * float(torch.rand(())) - 1)
                    image = enhancer(image).enhance(factor)
        return {
            "image": _to_tensor(image),
            "sida": sida,
            "label": torch.tensor(float(row.label)),
            "video_id": row.video_id,
            "frame_index": row.frame_index,
        }


def collate_frames(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate sample dicts: stack tensors, numbers to tensors, everything else to lists.

    The one collate function of the library: :func:`freqforensics.engine.collate_batch` is
    this function, for any data set of sample dicts (:class:`FrameDataset`,
    :class:`~freqforensics.data.synthetic.SelfBlendedFaces`, ...).

    Args:
        batch: items with the same keys.

    Returns:
        For :class:`FrameDataset` items: ``image`` :math:`(B, 3, S, S)`, ``sida``
        :math:`(B, 2304)`, ``label`` :math:`(B,)`, ``frame_index`` int64 :math:`(B,)` and
        ``video_id`` a list of ``B`` strings.

    Example:
        >>> import torch
        >>> out = collate_frames([{"x": torch.zeros(2), "id": "a", "i": 1},
        ...                       {"x": torch.ones(2), "id": "b", "i": 2}])
        >>> out["x"].shape, out["id"], out["i"]
        (torch.Size([2, 2]), ['a', 'b'], tensor([1, 2]))
    """
    if len(batch) == 0:
        raise ValueError("batch must hold at least one item, got an empty sequence")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        first = values[0]
        if isinstance(first, torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(first, (bool, int, float)):
            out[key] = torch.tensor(values)
        else:
            out[key] = list(values)
    return out
