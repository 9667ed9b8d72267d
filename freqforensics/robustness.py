"""Robustness of a detector to common image degradations of the face crop.

Each perturbation is a pure function on an RGB ``uint8`` array :math:`(H, W, 3)` that returns a
new array of the same shape and dtype (Pillow or SciPy, deterministic; the noise takes a seed):

========== =============================== =========================== ==========================
name       function                        strength                    default strengths
========== =============================== =========================== ==========================
``jpeg``   :func:`jpeg_compress`           JPEG quality (lower: worse) 90, 70, 50, 30
``blur``   :func:`gaussian_blur`           Gaussian sigma in pixels    0.5, 1, 2
``noise``  :func:`gaussian_noise`          std in [0, 1] units         0.01, 0.03, 0.05
``resize`` :func:`resize_down_up`          scale of the round trip     0.75, 0.5, 0.25
========== =============================== =========================== ==========================

:func:`jpeg_compress` is :func:`freqforensics.data.codecs.jpeg_compress`, re-exported: the same
JPEG round trip compresses the samples of the embedded data set.

:func:`evaluate_robustness` applies them to the *original-resolution* face crop, before the
crop is resized for the spatial branch and before its SIDA statistics are computed, as a
degraded video would reach the detector, and measures frame- and video-level metrics per
perturbation and strength next to the clean baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from freqforensics._checks import check_rgb_uint8
from freqforensics.data.codecs import jpeg_compress, read_rgb

__all__ = [
    "PERTURBATIONS",
    "DEFAULT_STRENGTHS",
    "jpeg_compress",
    "gaussian_blur",
    "gaussian_noise",
    "resize_down_up",
    "perturb",
    "PerturbedFrames",
    "evaluate_robustness",
    "robustness_rows",
    "plot_robustness",
]


_check_image = check_rgb_uint8


def _check_number(value: object, name: str, low: float, high: float, closed_low: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(v) and (v >= low if closed_low else v > low) and v <= high
    if not ok:
        bracket = "[" if closed_low else "("
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)  # type: ignore[arg-type]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel (SciPy's ``gaussian_filter``, reflected borders).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        sigma: standard deviation of the kernel in pixels, >= 0; 0 returns a copy.

    Returns:
        The blurred image, rounded to ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.zeros((9, 9, 3), np.uint8); x[4, 4] = 255
        >>> bool((gaussian_blur(x, 0) == x).all()), int(gaussian_blur(x, 1)[4, 4, 0])
        (True, 41)
    """
    from scipy.ndimage import gaussian_filter

    image = _check_image(image)
    sigma = _check_number(sigma, "sigma", 0.0, 1e3, closed_low=True)
    if sigma == 0:
        return image.copy()
    out = gaussian_filter(image.astype(np.float32), sigma=(sigma, sigma, 0), mode="reflect")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def gaussian_noise(image: np.ndarray, std: float, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise of standard deviation ``std`` (in [0, 1] units), clip, round.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        std: noise standard deviation as a fraction of the 0-255 range, in [0, 1]; 0 returns
            a copy.
        seed: seed of :func:`numpy.random.default_rng` (an int or a sequence of ints): the same
            seed gives the same noise.

    Returns:
        The noisy image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.full((16, 16, 3), 128, np.uint8)
        >>> bool((gaussian_noise(x, 0.03, seed=1) == gaussian_noise(x, 0.03, seed=1)).all())
        True
    """
    image = _check_image(image)
    std = _check_number(std, "std", 0.0, 1.0, closed_low=True)
    if std == 0:
        return image.copy()
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 255.0 * std, size=image.shape).astype(np.float32)
    return np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)


def resize_down_up(image: np.ndarray, scale: float) -> np.ndarray:
    """Downscale by ``scale`` and back to the original size (Pillow bilinear, antialiased).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        scale: size of the intermediate image relative to the original, in (0, 1]; 1 returns
            a copy.

    Returns:
        The resampled image, ``uint8`` :math:`(H, W, 3)`.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> resize_down_up(x, 0.5).shape
        (32, 32, 3)
    """
    from PIL import Image

    image = _check_image(image)
    scale = _check_number(scale, "scale", 0.0, 1.0, closed_low=False)
    if scale == 1:
        return image.copy()
    h, w = image.shape[:2]
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(image).resize(small, Image.Resampling.BILINEAR)
    return np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))


#: The perturbations by name: ``name -> function(image, strength, seed) -> image``.
PERTURBATIONS: dict[str, Callable[[np.ndarray, float, Any], np.ndarray]] = {
    "jpeg": lambda image, q, seed: jpeg_compress(image, int(q)),
    "blur": lambda image, s, seed: gaussian_blur(image, s),
    "noise": lambda image, s, seed: gaussian_noise(image, s, seed),
    "resize": lambda image, s, seed: resize_down_up(image, s),
}

#: Strengths evaluated by default, mildest first.
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "jpeg": (90, 70, 50, 30),
    "blur": (0.5, 1.0, 2.0),
    "noise": (0.01, 0.03, 0.05),
    "resize": (0.75, 0.5, 0.25),
}


def perturb(
    image: np.ndarray, name: str, strength: float, seed: int | Sequence[int] = 0
) -> np.ndarray:
    """Apply the perturbation ``name`` (a key of :data:`PERTURBATIONS`) at ``strength``.

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        name: ``"jpeg"``, ``"blur"``, ``"noise"`` or ``"resize"``.
        strength: the perturbation's parameter (see the module table).
        seed: seed of the random perturbations (``noise``); ignored by the others.

    Returns:
        The perturbed image, ``uint8`` :math:`(H, W, 3)`.
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"name must be one of {sorted(PERTURBATIONS)}, got {name!r}")
    return PERTURBATIONS[name](image, strength, seed)


class PerturbedFrames(Dataset[dict[str, Any]]):
    """Manifest frames with a perturbation applied to the original crop (evaluation only).

    Args:
        rows: ``ok`` manifest rows (:func:`~freqforensics.data.load_rows`).
        image_size: side of the resized image.
        name: perturbation name, or ``None`` for the clean crops.
        strength: its parameter.
        seed: base seed of random perturbations; frame ``i`` uses ``(seed, i)``.

    Items have the keys of :class:`~freqforensics.data.FrameDataset`.
    """

    def __init__(
        self,
        rows: Sequence[Any],
        image_size: int,
        name: str | None = None,
        strength: float = 0.0,
        seed: int = 0,
    ) -> None:
        from freqforensics.layers.sida import SIDA

        if name is not None and name not in PERTURBATIONS:
            raise ValueError(f"name must be one of {sorted(PERTURBATIONS)} or None, got {name!r}")
        self.rows = list(rows)
        self.image_size = image_size
        self.name = name
        self.strength = strength
        self.seed = seed
        self.sida = SIDA()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from freqforensics.data.dataset import prepare_crop

        row = self.rows[index]
        crop = read_rgb(row.crop_path)
        if self.name is not None:
            crop = perturb(crop, self.name, self.strength, seed=(self.seed, index))
        image, sida = prepare_crop(crop, self.image_size, self.sida)
        return {
            "image": image,
            "sida": sida,
            "label": torch.tensor(float(row.label)),
            "video_id": row.video_id,
            "frame_index": row.frame_index,
        }


def _subsample(rows: Sequence[Any], max_frames: int | None, seed: int) -> list[Any]:
    rows = list(rows)
    if max_frames is None or len(rows) <= max_frames:
        return rows
    keep = np.random.default_rng([seed, 0xF7A]).choice(len(rows), size=max_frames, replace=False)
    return [rows[i] for i in sorted(keep.tolist())]


def evaluate_robustness(
    model: nn.Module,
    rows: Sequence[Any],
    perturbations: Mapping[str, Sequence[float]] | None = None,
    image_size: int | None = None,
    max_frames: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = False,
    num_workers: int = 0,
) -> dict[str, Any]:
    """Frame- and video-level metrics of ``model`` on clean and perturbed face crops.

    Args:
        model: a detector whose ``forward(images, sida=None)`` returns logits (positive =
            fake), e.g. :class:`~freqforensics.models.SFCLHCMF`.
        rows: the ``ok`` manifest rows to evaluate (:func:`~freqforensics.data.load_rows`).
        perturbations: ``name -> strengths``; defaults to :data:`DEFAULT_STRENGTHS`.
        image_size: input side of the model; defaults to ``model.config.img_size``.
        max_frames: evaluate a fixed random subset of this many frames (drawn from ``seed``),
            the same for every perturbation; ``None`` uses all.
        batch_size: evaluation batch size.
        device: where the model runs.
        seed: seed of the subset and of the noise.
        progress: show progress bars.
        num_workers: data loader workers.

    Returns:
        A dict with ``frames`` and ``videos`` (how many were evaluated), ``clean`` (the metrics
        without perturbation) and ``perturbations``, mapping each name to a list of
        ``{"strength": s, "metrics": m}`` in the order of the strengths. Every metrics entry is
        :func:`~freqforensics.metrics.evaluate_predictions`'s ``{"frame": ..., "video": ...}``.

    Raises:
        ValueError: no rows, an unknown perturbation or a bad strength.
    """
    from freqforensics.engine.trainer import collate_batch, predict
    from freqforensics.metrics import evaluate_predictions

    if perturbations is None:
        perturbations = DEFAULT_STRENGTHS
    for name, strengths in perturbations.items():
        if name not in PERTURBATIONS:
            raise ValueError(
                f"perturbations must have keys among {sorted(PERTURBATIONS)}, got {name!r}"
            )
        probe = np.zeros((16, 16, 3), np.uint8)
        for s in strengths:
            perturb(probe, name, s)  # validates the strength before any model work
    if image_size is None:
        config = getattr(model, "config", None)
        image_size = getattr(config, "img_size", None)
        if image_size is None:
            raise ValueError("image_size must be given for a model without config.img_size")
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}")
    subset = _subsample(rows, max_frames, seed)
    if not subset:
        raise ValueError("rows must hold at least one frame, got none")

    def run(name: str | None, strength: float) -> dict[str, dict[str, float]]:
        data = PerturbedFrames(subset, int(image_size), name, strength, seed)
        loader = DataLoader(
            data, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_batch
        )
        ids, labels, probs = predict(model, loader, device, progress=progress)
        return evaluate_predictions(ids, labels, probs)

    result: dict[str, Any] = {
        "frames": len(subset),
        "videos": len({r.video_id for r in subset}),
        "clean": run(None, 0.0),
        "perturbations": {},
    }
    for name, strengths in perturbations.items():
        result["perturbations"][name] = [
            {"strength": float(s), "metrics": run(name, float(s))} for s in strengths
        ]
    return result


def robustness_rows(result: Mapping[str, Any], level: str = "frame") -> dict[str, Any]:
    """Flatten an :func:`evaluate_robustness` result into ``label -> metrics`` table rows.

    Args:
        result: the result.
        level: ``"frame"`` or ``"video"``.

    Returns:
        An ordered dict for :func:`~freqforensics.metrics.format_table`: ``"clean"``, then
        ``"jpeg 90"``, ``"jpeg 70"``, ...
    """
    if level not in ("frame", "video"):
        raise ValueError(f"level must be 'frame' or 'video', got {level!r}")
    rows: dict[str, Any] = {"clean": result["clean"][level]}
    for name, entries in result["perturbations"].items():
        for entry in entries:
            rows[f"{name} {entry['strength']:g}"] = entry["metrics"][level]
    return rows


def plot_robustness(result: Mapping[str, Any], path: str | Path | None = None) -> Any:
    """AUC against strength, one panel per perturbation, the clean AUC as a dashed line.

    Args:
        result: an :func:`evaluate_robustness` result.
        path: where to save the PNG (``None``: only return the figure).

    Returns:
        The matplotlib figure.
    """
    from freqforensics.viz import _finish, _plt

    plt = _plt()
    names = list(result["perturbations"])
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.6 * max(1, len(names)), 3.4))
    axes = np.atleast_1d(axes)
    labels = {
        "jpeg": "JPEG quality",
        "blur": "blur sigma (px)",
        "noise": "noise std",
        "resize": "resize scale",
    }
    for ax, name in zip(axes, names):
        entries = result["perturbations"][name]
        x = [e["strength"] for e in entries]
        for level, marker in (("frame", "o"), ("video", "s")):
            y = [e["metrics"][level]["auc"] for e in entries]
            (line,) = ax.plot(x, y, marker=marker, label=f"{level} AUC")
            ax.axhline(result["clean"][level]["auc"], color=line.get_color(), ls="--", lw=0.8)
        if name in ("jpeg", "resize"):
            ax.invert_xaxis()  # stronger degradation to the right
        ax.set(xlabel=labels.get(name, name), ylabel="AUC", title=name, ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="lower left")
    return _finish(fig, path)
