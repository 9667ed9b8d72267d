"""Detection metrics at frame and video level: AUC, accuracy, EER and average precision.

The curves come from scikit-learn (:func:`~sklearn.metrics.roc_auc_score`,
:func:`~sklearn.metrics.roc_curve`, :func:`~sklearn.metrics.average_precision_score`); this
module only validates the inputs, derives the equal error rate from the ROC curve, and groups
frames into videos.

Conventions, fixed once for the whole library:

* label ``1`` is **fake** (the positive class), label ``0`` is real;
* ``probs`` is the predicted probability that a frame is fake, in [0, 1];
* a frame is predicted fake when its probability is strictly greater than the threshold (0.5
  by default), as scikit-learn's ``predict`` does for a binary classifier;
* the EER is the point of the ROC curve where the false-positive rate equals the
  false-negative rate, linearly interpolated between the two ROC points that bracket it
  (many benchmarks instead report the nearest ROC point, which can differ by up to one step of
  the curve);
* video-level scores are the mean of the frame probabilities of each video.

Example:
    >>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(m["auc"], 4), round(m["acc"], 4), round(m["eer"], 4), round(m["ap"], 4)
    (0.75, 0.75, 0.5, 0.8333)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    from sklearn.exceptions import UndefinedMetricWarning as _SklearnUndefinedMetricWarning
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "freqforensics.metrics needs scikit-learn; install it with "
        "`pip install freqforensics[train]` or `pip install scikit-learn`"
    ) from exc

__all__ = [
    "UndefinedMetricWarning",
    "binary_metrics",
    "equal_error_rate",
    "video_level",
    "video_id",
    "evaluate_predictions",
    "format_table",
]


class UndefinedMetricWarning(_SklearnUndefinedMetricWarning):
    """A metric is undefined for the given labels (e.g. AUC with one class only); it is NaN.

    A subclass of scikit-learn's ``UndefinedMetricWarning``, so existing filters apply.
    """


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Turn a sequence, NumPy array or torch tensor into a 1-D NumPy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a 1-D sequence, array or tensor, got {type(x).__name__}"
        ) from exc
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one value per frame), got shape {arr.shape}; "
            f"flatten it first, e.g. {name}.reshape(-1)"
        )
    return arr


def _check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    arr = _to_numpy(labels, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(
            f"{name} must be numeric with values in {{0, 1}} (1 = fake), got dtype {arr.dtype}"
        )
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        found = np.unique(arr[bad])[:5].tolist()
        raise ValueError(
            f"{name} must contain only 0 (real) and 1 (fake), got other values {found}"
        )
    return arr.astype(np.int64)


def _check_probs(probs: Any, name: str = "probs") -> np.ndarray:
    arr = _to_numpy(probs, name)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be numeric probabilities in [0, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} must be finite probabilities in [0, 1], got {n_bad} NaN/inf")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(
            f"{name} must be probabilities in [0, 1], got values in "
            f"[{arr.min():.4g}, {arr.max():.4g}]; apply a sigmoid to logits first"
        )
    return arr


def _check_same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs must have the same length, got lengths {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"inputs must not be empty, got lengths {lengths}")
    return n


def equal_error_rate(labels: Any, probs: Any) -> float:
    """Equal error rate: the rate at which the ROC curve has FPR == FNR.

    The ROC curve comes from :func:`sklearn.metrics.roc_curve`. Along the curve
    ``FPR - FNR = FPR + TPR - 1`` grows strictly from -1 to 1, so it crosses zero once: either
    exactly at a ROC point, or inside one segment, where FPR and FNR are interpolated linearly.

    Args:
        labels: ground truth of shape :math:`(N,)`, 1 = fake, with both classes present.
        probs: fake probabilities of shape :math:`(N,)` in [0, 1].

    Returns:
        The EER in [0, 1].

    Example:
        >>> equal_error_rate([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])  # a tie: interpolated
        0.25
    """
    y = _check_labels(labels)
    p = _check_probs(probs)
    _check_same_length(labels=y, probs=p)
    if y.min() == y.max():
        raise ValueError(
            f"labels must contain both classes for the EER, got only class {int(y[0])}"
        )
    fpr, tpr, _ = roc_curve(y, p, pos_label=1, drop_intermediate=False)
    fnr = 1.0 - tpr
    diff = fpr - fnr
    i = int(np.argmax(diff >= 0.0))  # first point at or past the crossing; diff[-1] == 1
    if diff[i] == 0.0 or i == 0:
        return float(fpr[i])
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def binary_metrics(labels: Any, probs: Any, threshold: float = 0.5) -> dict[str, float]:
    """AUC, accuracy, EER and average precision of fake-probability predictions.

    Args:
        labels: ground truth of shape :math:`(N,)`, values in {0, 1}, 1 = fake (the positive
            class). A list, NumPy array or torch tensor.
        probs: predicted probability of *fake* of shape :math:`(N,)`, finite, in [0, 1].
        threshold: a prediction is fake when ``probs > threshold``; used for ``acc`` only.

    Returns:
        A dict with ``auc`` (ROC AUC), ``acc`` (accuracy at ``threshold``), ``eer`` (equal
        error rate, see :func:`equal_error_rate`), ``ap`` (average precision, fake positive),
        all in [0, 1], and the counts ``n``, ``n_real``, ``n_fake``. With only one class
        present, ``auc``, ``eer`` and ``ap`` are NaN and an :class:`UndefinedMetricWarning`
        is issued; ``acc`` is still computed.

    Raises:
        ValueError: lengths differ, inputs are empty or not 1-D, labels are not 0/1, or
            probabilities are not finite values in [0, 1].

    Example:
        >>> m = binary_metrics([0, 1, 1, 0], [0.2, 0.9, 0.7, 0.6])
        >>> m["auc"], m["acc"], m["n_fake"]
        (1.0, 0.75, 2)
    """
    y = _check_labels(labels)
    p = _check_probs(probs)
    n = _check_same_length(labels=y, probs=p)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"threshold must be a float in [0, 1], got {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a float in [0, 1], got {threshold!r}")
    n_fake = int(y.sum())
    n_real = n - n_fake
    acc = float(np.mean((p > threshold).astype(np.int64) == y))
    if n_fake == 0 or n_real == 0:
        warnings.warn(
            f"only one class present (n_real={n_real}, n_fake={n_fake}): AUC, EER and AP are "
            "undefined and set to NaN; accuracy is still computed",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        auc = eer = ap = math.nan
    else:
        auc = float(roc_auc_score(y, p))
        ap = float(average_precision_score(y, p, pos_label=1))
        eer = equal_error_rate(y, p)
    return {
        "auc": auc,
        "acc": acc,
        "eer": eer,
        "ap": ap,
        "n": n,
        "n_real": n_real,
        "n_fake": n_fake,
    }


def video_id(dataset: str, method: str, compression: str, name: str) -> str:
    """Build a video identifier that is unique across datasets, methods and compressions.

    Grouping frames into videos by folder or file name alone is a known fault of a popular
    deepfake benchmark: in FaceForensics++ the fakes of one target video carry the same name
    under every manipulation method (``000_003`` exists under Deepfakes, Face2Face, FaceSwap
    and NeuralTextures), so name-only grouping merges four different fake videos into one
    "video", averages their scores together and shrinks the video-level test set. Including
    the dataset, the method (or ``"original"`` for real videos) and the compression keeps them
    apart.

    Args:
        dataset: dataset tag, e.g. ``"ffpp"``, ``"celebdf"``, ``"synthetic"``.
        method: manipulation method, or the source of real videos (e.g. ``"youtube"``).
        compression: compression level, e.g. ``"raw"``, ``"c23"``, ``"c40"``.
        name: the video name within that folder, e.g. ``"004_982"``.

    Returns:
        ``"<dataset>/<method>/<compression>/<name>"``.

    Raises:
        ValueError: a part is not a non-empty string, or contains ``"/"`` (which would make
            two different tuples collide).

    Example:
        >>> video_id("ffpp", "NeuralTextures", "c23", "004_982")
        'ffpp/NeuralTextures/c23/004_982'
    """
    parts = {"dataset": dataset, "method": method, "compression": compression, "name": name}
    for arg, value in parts.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{arg} must be a non-empty str, got {value!r}")
        if "/" in value:
            raise ValueError(
                f"{arg} must not contain '/', got {value!r}; '/' separates the parts of the id"
            )
    return "/".join(parts.values())


def video_level(
    video_ids: Sequence[str] | npt.ArrayLike, labels: Any, probs: Any
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Aggregate frame predictions into one prediction per video (mean probability).

    Use ids built with :func:`video_id` so that different fake videos that share a file name
    stay apart.

    Args:
        video_ids: the video of each frame, shape :math:`(N,)`.
        labels: frame labels of shape :math:`(N,)` in {0, 1}, 1 = fake.
        probs: frame fake probabilities of shape :math:`(N,)` in [0, 1].

    Returns:
        ``(ids, video_labels, video_probs)``: the distinct ids in order of first appearance
        (a list of str), their labels (int64 array) and the mean of their frames'
        probabilities (float64 array).

    Raises:
        ValueError: bad inputs (see :func:`binary_metrics`), or the frames of one video
            disagree on the label.

    Example:
        >>> ids, y, p = video_level(["a", "b", "a"], [1, 0, 1], [0.2, 0.3, 0.6])
        >>> ids, y.tolist(), p.round(2).tolist()
        (['a', 'b'], [1, 0], [0.4, 0.3])
    """
    vid = _to_numpy(video_ids, "video_ids").astype(str)
    y = _check_labels(labels)
    p = _check_probs(probs)
    _check_same_length(video_ids=vid, labels=y, probs=p)
    uniq, first, inverse = np.unique(vid, return_index=True, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(uniq))
    label_sum = np.bincount(inverse, weights=y, minlength=len(uniq))
    mixed = (label_sum != 0) & (label_sum != counts)
    if mixed.any():
        bad = uniq[np.flatnonzero(mixed)]
        raise ValueError(
            f"labels must agree within a video, got frames labelled both real and fake in "
            f"{len(bad)} video(s), e.g. {bad[:3].tolist()}; check the video ids (build them "
            "with video_id(dataset, method, compression, name))"
        )
    prob_mean = np.bincount(inverse, weights=p, minlength=len(uniq)) / counts
    order = np.argsort(first, kind="stable")
    video_labels = (label_sum[order] > 0).astype(np.int64)
    return [str(s) for s in uniq[order]], video_labels, prob_mean[order]


def evaluate_predictions(
    video_ids: Sequence[str] | npt.ArrayLike, labels: Any, probs: Any
) -> dict[str, dict[str, float]]:
    """Frame-level and video-level metrics of one set of predictions.

    Args:
        video_ids: the video of each frame, shape :math:`(N,)` (see :func:`video_id`).
        labels: frame labels of shape :math:`(N,)` in {0, 1}, 1 = fake.
        probs: frame fake probabilities of shape :math:`(N,)` in [0, 1].

    Returns:
        ``{"frame": binary_metrics(labels, probs), "video": binary_metrics(...)}`` where the
        video entry scores the per-video mean probabilities (see :func:`video_level`).

    Example:
        >>> r = evaluate_predictions(["a", "a", "b", "b"], [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
        >>> r["frame"]["auc"], r["video"]["auc"], r["video"]["n"]
        (0.75, 1.0, 2)
    """
    _, y_video, p_video = video_level(video_ids, labels, probs)
    return {"frame": binary_metrics(labels, probs), "video": binary_metrics(y_video, p_video)}


def format_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """Plain-text table of AUC, ACC, EER and AP, in percent with two decimals.

    Args:
        rows: row name -> a metrics dict as returned by :func:`binary_metrics` (missing or NaN
            values print as ``nan``).

    Returns:
        The table as one string, columns aligned, without a trailing newline.

    Example:
        >>> print(format_table({"frame": {"auc": 0.75, "acc": 0.75, "eer": 0.5, "ap": 5 / 6}}))
        name      AUC     ACC     EER      AP
        frame   75.00   75.00   50.00   83.33
    """
    if not isinstance(rows, Mapping):
        raise ValueError(f"rows must be a dict of name -> metrics dict, got {type(rows).__name__}")
    columns = ("auc", "acc", "eer", "ap")
    header = ["name", *(c.upper() for c in columns)]
    body: list[list[str]] = []
    for name, metrics in rows.items():
        if not isinstance(metrics, Mapping):
            raise ValueError(f"rows[{name!r}] must be a metrics dict, got {type(metrics).__name__}")
        cells = [str(name)]
        for c in columns:
            value = metrics.get(c, math.nan)
            cells.append("nan" if value is None or math.isnan(value) else f"{100 * value:.2f}")
        body.append(cells)
    name_width = max(len(r[0]) for r in [header, *body])
    lines = [r[0].ljust(name_width) + "".join(c.rjust(8) for c in r[1:]) for r in [header, *body]]
    return "\n".join(lines)
