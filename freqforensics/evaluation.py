"""Evaluation on manifests: frame- and video-level AUC, ACC, EER and AP per group.

:func:`evaluate` scores the crops of one or more manifests (written by ``freqforensics
preprocess``) and returns an :class:`Evaluation`: one row of metrics per group (each dataset;
each manipulation method's fakes against all the dataset's reals; all manifests together),
at frame and video level, plus every frame's probability. ``freqforensics evaluate`` prints
its tables and, with ``--out``, writes ``metrics.csv``, ``predictions.csv``, ``roc.png`` and
``pr.png`` (:meth:`Evaluation.save`).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqforensics._checks import check_loader_args, resolve_device
from freqforensics._io import atomic_write
from freqforensics.inference import Detector, model_input_size

__all__ = ["Evaluation", "evaluate", "method_metrics", "quiet_metrics"]

_GROUPINGS = ("dataset", "method")


def quiet_metrics(ids: Any, labels: Any, probs: Any) -> dict[str, dict[str, float]]:
    """``metrics.evaluate_predictions`` without the one-class warnings (NaN says it)."""
    from freqforensics.metrics import evaluate_predictions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_predictions(ids, labels, probs)


def method_metrics(
    ids: Sequence[str], labels: Any, probs: Any, methods: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Each manipulation method's fake frames against all the real frames, as :func:`quiet_metrics`.

    Args:
        ids: video id of each frame.
        labels: 0 (real) or 1 (fake) per frame.
        probs: fake probability per frame.
        methods: manipulation method of each frame (ignored for the real frames).

    Returns:
        ``method -> {"frame": metrics, "video": metrics}``, in sorted method order.

    Example:
        >>> from freqforensics.evaluation import method_metrics
        >>> out = method_metrics(["r", "a", "b"], [0, 1, 1], [0.5, 0.9, 0.1],
        ...                      ["original", "Deepfakes", "Face2Face"])
        >>> {m: out[m]["frame"]["auc"] for m in out}
        {'Deepfakes': 1.0, 'Face2Face': 0.0}
    """
    labels, probs = np.asarray(labels), np.asarray(probs)
    real = labels == 0
    out = {}
    for method in sorted({m for m, y in zip(methods, labels) if y == 1}):
        keep = real | np.array([m == method for m in methods])
        out[method] = quiet_metrics([i for i, k in zip(ids, keep) if k], labels[keep], probs[keep])
    return out


@dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        groups: ``name -> {"frame": metrics, "video": metrics, "manifest": path}``, in order:
            each dataset, then (with ``"method"`` in ``by``) ``"<dataset>: <method>"`` rows,
            then ``"overall"`` (every frame of every manifest; always there).
        predictions: one dict per frame: ``dataset``, ``video_id``, ``frame_index``,
            ``label``, ``method``, ``fake_probability``.
        split: the split evaluated.
        without_face: ``dataset -> video ids`` of the videos of the split whose sampled frames
            have no face crop (``no_face``, ``frame_error`` or ``video_error`` rows only): they
            are in no metric, and a detector is not judged on them.
    """

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    split: str | None = "test"
    without_face: dict[str, list[str]] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per dataset with videos left out for want of a face crop."""
        return [
            f"{name}: {len(ids)} video(s) without a face crop left out of every metric: "
            f"{', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}"
            for name, ids in self.without_face.items()
        ]

    def _shown(self) -> dict[str, dict[str, Any]]:
        """The groups of the tables and plots: ``overall`` only where it adds a row (with one
        dataset it repeats that dataset's)."""
        datasets = [n for n in self.groups if n != "overall" and ": " not in n]
        if len(datasets) == 1 and "overall" in self.groups:
            return {n: m for n, m in self.groups.items() if n != "overall"}
        return self.groups

    def table(self, level: str = "frame") -> str:
        """A plain-text table of one level (``frame`` or ``video``), in percent (``overall``
        left out where it repeats the one dataset's row)."""
        from freqforensics.metrics import format_table

        if level not in ("frame", "video"):
            raise ValueError(f"level must be 'frame' or 'video', got {level!r}")
        unit = "frames" if level == "frame" else "videos"
        rows = {
            f"{name} [{m[level]['n_real']} real / {m[level]['n_fake']} fake {unit}]": m[level]
            for name, m in self._shown().items()
        }
        return format_table(rows)

    @property
    def has_undefined(self) -> bool:
        """Whether some group holds one class only (AUC, EER and AP are NaN there)."""
        return any(math.isnan(m["frame"]["auc"]) for m in self.groups.values())

    def save(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write ``metrics.csv``, ``predictions.csv`` and (with matplotlib) ``roc.png``, ``pr.png``.

        Returns the paths written.
        """
        out = Path(out_dir)
        written = [out / "metrics.csv", out / "predictions.csv"]
        keys = ["auc", "acc", "eer", "ap", "n", "n_real", "n_fake"]
        with atomic_write(written[0], "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["group", "level", *keys])
            for name, metrics in self.groups.items():
                for level in ("frame", "video"):
                    writer.writerow([name, level, *(metrics[level].get(k) for k in keys)])
        columns = ["dataset", "video_id", "frame_index", "label", "method", "fake_probability"]
        with atomic_write(written[1], "w", newline="") as fh:
            frames = csv.DictWriter(fh, fieldnames=columns)
            frames.writeheader()
            frames.writerows(self.predictions)
        if plots:
            written += self._plots(out)
        return written

    def _curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        curves = {}
        for name in self._shown():
            rows = [p for p in self.predictions if _in_group(p, name)]
            labels = np.array([p["label"] for p in rows])
            if len(set(labels.tolist())) == 2:
                curves[name] = (labels, np.array([p["fake_probability"] for p in rows]))
        return curves

    def _plots(self, out: Path) -> list[Path]:
        from freqforensics.viz import plot_pr, plot_roc

        curves = self._curves()
        if not curves:
            for stale in ("roc.png", "pr.png"):  # an earlier evaluation's, in the same folder
                (out / stale).unlink(missing_ok=True)
            return []
        title = f"{self.split or 'all'} split, frame level"
        plot_roc(curves, path=out / "roc.png", title=f"ROC, {title}")
        plot_pr(curves, path=out / "pr.png", title=f"Precision-recall, {title}")
        return [out / "roc.png", out / "pr.png"]


def _in_group(prediction: dict[str, Any], name: str) -> bool:
    if name == "overall":
        return True
    dataset, _, method = name.partition(": ")
    if prediction["dataset"] != dataset:
        return False
    return not method or prediction["label"] == 0 or prediction["method"] == method


def _model_of(model_or_detector: Any) -> torch.nn.Module:
    if isinstance(model_or_detector, Detector):
        return model_or_detector.model
    if isinstance(model_or_detector, torch.nn.Module):
        return model_or_detector
    raise TypeError(
        "model_or_detector must be an SFCLHCMF model or a Detector, got "
        f"{type(model_or_detector).__name__}"
    )


def evaluate(
    model_or_detector: Any,
    manifests: str | Path | Sequence[str | Path],
    by: Sequence[str] = _GROUPINGS,
    split: str | None = "test",
    videos: Sequence[str] | None = None,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    workers: int = 0,
    progress: bool = False,
) -> Evaluation:
    """Score the face crops of ``manifests`` and compute the paper's metrics per group.

    Args:
        model_or_detector: an :class:`~freqforensics.models.SFCLHCMF` or a
            :class:`~freqforensics.Detector` (its model is used; the crops of a manifest are
            already faces on the 8-pixel grid, and their SIDA vectors come from the crops at
            original resolution, as in training).
        manifests: ``manifest.csv`` files or their folders; each is one ``dataset`` group.
        by: groupings besides ``overall``: ``"dataset"`` (one row per manifest) and
            ``"method"`` (each manipulation method's fakes against the dataset's reals).
        split: the manifest split (``None``: every split).
        videos: keep only videos whose id or name matches one of these shell patterns.
        batch_size: evaluation batch.
        device: where to run (default: the model's device).
        workers: data loader workers.
        progress: show a progress bar.

    Raises:
        ValueError: a bad ``by``, ``batch_size``, ``workers`` or ``device``, a manifest named
            twice, or no frame with a face in a manifest's split (the message names the splits
            the manifest holds).
        TypeError: ``manifests`` is not a path or a list of paths.
        FileNotFoundError: a manifest that does not exist.
    """
    from torch.utils.data import DataLoader

    from freqforensics.data import FrameDataset, collate_frames
    from freqforensics.engine import predict

    unknown = sorted(set(by) - set(_GROUPINGS))
    if unknown or isinstance(by, str):
        raise ValueError(f"by must be a sequence of {_GROUPINGS}, got {by!r}")
    check_loader_args(batch_size, workers)
    model = _model_of(model_or_detector)
    device = next(model.parameters()).device if device is None else resolve_device(device)
    paths = _manifest_paths(manifests)
    size = model_input_size(model)
    result = Evaluation(split=split)
    per_dataset: list[tuple[str, list[str], np.ndarray, np.ndarray]] = []
    for path in paths:
        data = FrameDataset(path, split, image_size=size, augment=False, real_repeat=1,
                            videos=videos)
        if not data.rows:
            raise ValueError(f"no frames with a face in split {split!r} of {path}")
        loader = DataLoader(data, batch_size=batch_size, num_workers=workers,
                            collate_fn=collate_frames)
        ids, labels, probs = predict(model, loader, device, progress=progress)
        name = data.rows[0].dataset
        if any(name == n for n, *_ in per_dataset):
            name = f"{name} ({path})"
        per_dataset.append((name, ids, labels, probs))
        faceless = _without_face(path, split, videos, {r.video_id for r in data.rows})
        if faceless:
            result.without_face[name] = faceless
        result.groups[name] = {"manifest": str(path), **quiet_metrics(ids, labels, probs)}
        if "method" in by:
            _method_groups(result, name, str(path), data.rows, ids, labels, probs)
        result.predictions += [
            {"dataset": name, "video_id": r.video_id, "frame_index": r.frame_index,
             "label": r.label, "method": r.method, "fake_probability": float(p)}
            for r, p in zip(data.rows, probs)
        ]
    if "dataset" not in by:
        for name, *_ in per_dataset:
            del result.groups[name]
    result.groups["overall"] = {
        "manifest": "all",
        **quiet_metrics(
            [f"{name}\x00{i}" for name, ids, _, _ in per_dataset for i in ids],
            # each manifest's videos apart, even where two share a dataset name and ids
            np.concatenate([labels for _, _, labels, _ in per_dataset]),
            np.concatenate([probs for *_, probs in per_dataset]),
        ),
    }
    return result


def _without_face(
    path: str | Path, split: str | None, videos: Sequence[str] | None, scored: set[str]
) -> list[str]:
    """The videos of ``path``'s split (and ``videos`` filter) with no frame in ``scored``."""
    from freqforensics.data import load_manifest, match_video

    listed = {
        r.video_id for r in load_manifest(path)
        if (split is None or r.split == split)
        and (videos is None or match_video(r.video_id, videos))
    }
    return sorted(listed - scored)


def _manifest_paths(manifests: object) -> list[str | Path]:
    """The manifests as a list of paths; none twice (a frame counted twice skews ``overall``)."""
    import os

    paths = [manifests] if isinstance(manifests, str | os.PathLike) else manifests
    if not isinstance(paths, list | tuple) or not all(
        isinstance(p, str | os.PathLike) for p in paths
    ):
        raise TypeError(f"manifests must be a path or a list of paths, got {manifests!r}")
    if not paths:
        raise ValueError("manifests must name at least one manifest, got none")
    seen: dict[Path, str | Path] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved.is_dir():
            resolved = resolved / "manifest.csv"
        if resolved in seen:
            raise ValueError(f"manifests names {resolved} twice ({seen[resolved]} and {path}); "
                             "each frame must be counted once")
        seen[resolved] = path
    return list(paths)


def _method_groups(
    result: Evaluation, name: str, path: str, rows: Sequence[Any], ids: list[str],
    labels: np.ndarray, probs: np.ndarray,
) -> None:
    fakes = {r.method for r in rows if r.label == 1}
    if len(fakes) < 2 and not any(r.label == 0 for r in rows):
        return
    methods = [r.method for r in rows]
    for method, metrics in method_metrics(ids, labels, probs, methods).items():
        result.groups[f"{name}: {method}"] = {"manifest": path, **metrics}
