"""Robustness of a detector to degradations of its input: tables and plots per perturbation.

:func:`evaluate_robustness` runs one of two protocols over the face crops of a manifest and
measures frame- and video-level metrics per perturbation and strength next to the clean
baseline. The perturbations are in :mod:`freqforensics.perturbations` (their names are
importable from here too):

- ``protocol="quick"`` (the default): JPEG, blur, noise and down-up resizing at the strengths
  of :data:`~freqforensics.perturbations.DEFAULT_STRENGTHS`.
- ``protocol="deeperforensics"``: the field's protocol, the seven distortion types of
  DeeperForensics-1.0 (``CS``, ``CC``, ``BW``, ``GNC``, ``GB``, ``JPEG``, ``VC``) at levels 1
  to 5, with the reference code's parameters
  (:data:`~freqforensics.perturbations.DEEPERFORENSICS_LEVELS`).

Each perturbation acts on the *original-resolution* face crop, before the crop is resized for
the spatial branch and before its SIDA statistics are computed, as a degraded video would
reach the detector. ``VC`` (video compression) acts on a video in the reference; here the
crops of each video in the evaluated subset are encoded together, in frame order, as one H.264
clip at the level's CRF and decoded back
(:func:`~freqforensics.perturbations.compress_crops`). To compress the source videos
themselves, use :func:`~freqforensics.perturbations.compress_video` and preprocess the result.
The random types (``noise``, ``BW``, ``GNC``) draw frame ``i`` of the subset from
``(seed, i)``: a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from freqforensics._checks import check_loader_args, resolve_device
from freqforensics.data.codecs import read_rgb
from freqforensics.perturbations import (
    DEEPERFORENSICS_LEVELS,
    DEEPERFORENSICS_NAMES,
    DEFAULT_STRENGTHS,
    PERTURBATIONS,
    compress_crops,
    deeperforensics_parameter,
    distort,
    gaussian_blur,
    gaussian_noise,
    jpeg_compress,
    perturb,
    resize_down_up,
)

__all__ = [
    "PERTURBATIONS",
    "DEFAULT_STRENGTHS",
    "DEEPERFORENSICS_LEVELS",
    "PROTOCOLS",
    "jpeg_compress",
    "gaussian_blur",
    "gaussian_noise",
    "resize_down_up",
    "perturb",
    "PerturbedFrames",
    "robustness_perturbations",
    "evaluate_robustness",
    "robustness_rows",
    "robustness_matrix",
    "plot_robustness",
]

#: The protocols of :func:`evaluate_robustness`.
PROTOCOLS = ("quick", "deeperforensics")

#: How a DeeperForensics parameter reads in a progress bar.
_PARAMETER_LABELS = {
    "CS": "saturation x{:g}",
    "CC": "contrast x{:g}",
    "BW": "{:g} blocks",
    "GNC": "noise variance {:g}",
    "GB": "kernel {:g}",
    "JPEG": "down-up /{:g}",
    "VC": "CRF {:g}",
}


def _run_label(name: str | None, strength: float, level: int | None) -> str:
    if name is None:
        return "clean"
    if level is None:
        return f"{name} {strength:g}"
    parameter = _PARAMETER_LABELS[name].format(deeperforensics_parameter(name, level))
    return f"{name} level {level} ({parameter})"


class PerturbedFrames(Dataset[dict[str, Any]]):
    """Manifest frames with a perturbation applied to the original crop (evaluation only).

    Args:
        rows: ``ok`` manifest rows (:func:`~freqforensics.data.load_rows`).
        image_size: side of the resized image.
        name: a quick-mode perturbation (``"jpeg"``, ...), a DeeperForensics type (``"CS"``,
            ...), or ``None`` for the clean crops.
        strength: the quick-mode perturbation's parameter.
        seed: base seed of random perturbations; frame ``i`` uses ``(seed, i)``.
        level: the DeeperForensics level, 1 to 5 (required with a DeeperForensics type).

    Items have the keys of :class:`~freqforensics.data.FrameDataset`. With ``name="VC"`` the
    crops of one video are compressed together (in ``frame_index`` order) the first time one
    of them is read; the last video's result is kept.
    """

    def __init__(
        self,
        rows: Sequence[Any],
        image_size: int,
        name: str | None = None,
        strength: float = 0.0,
        seed: int = 0,
        level: int | None = None,
    ) -> None:
        from freqforensics.layers.sida import SIDA

        if name is not None and name not in PERTURBATIONS and name not in DEEPERFORENSICS_LEVELS:
            raise ValueError(
                f"name must be one of {sorted(PERTURBATIONS)}, {list(DEEPERFORENSICS_LEVELS)} "
                f"or None, got {name!r}"
            )
        if name in DEEPERFORENSICS_LEVELS:
            if level is None:
                raise ValueError(f"level (1 to 5) must be given with name={name!r}, got None")
            deeperforensics_parameter(name, level)  # validates the level
        self.rows = list(rows)
        self.image_size = image_size
        self.name = name
        self.strength = strength
        self.seed = seed
        self.level = level
        self.sida = SIDA()
        self._videos: dict[str, list[int]] | None = None
        self._cache: tuple[str, dict[int, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def _compressed(self, index: int) -> np.ndarray:
        """The ``VC`` crop of frame ``index``: its video's crops encoded as one clip."""
        video_id = self.rows[index].video_id
        if self.level is None:  # pragma: no cover - __init__ requires a level with "VC"
            raise RuntimeError("PerturbedFrames(name='VC') has no level")
        if self._cache is None or self._cache[0] != video_id:
            if self._videos is None:
                self._videos = {}
                for i, row in enumerate(self.rows):
                    self._videos.setdefault(row.video_id, []).append(i)
            members = sorted(self._videos[video_id], key=lambda i: (self.rows[i].frame_index, i))
            crops = compress_crops([read_rgb(self.rows[i].crop_path) for i in members], self.level)
            self._cache = (video_id, dict(zip(members, crops)))
        return self._cache[1][index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        from freqforensics.data.dataset import prepare_crop

        row = self.rows[index]
        if self.name == "VC":
            crop = self._compressed(index)
        else:
            crop = read_rgb(row.crop_path)
            if self.name in PERTURBATIONS:
                crop = perturb(crop, self.name, self.strength, seed=(self.seed, index))
            elif self.name is not None:
                crop = distort(crop, self.name, int(self.level or 0), seed=(self.seed, index))
        image, sida = prepare_crop(crop, self.image_size, self.sida)
        return {
            "image": image,
            "sida": sida,
            "label": torch.tensor(float(row.label)),
            "video_id": row.video_id,
            "frame_index": row.frame_index,
        }


def robustness_perturbations(
    protocol: str = "quick",
    names: Iterable[str] | None = None,
    levels: Iterable[int] | None = None,
) -> dict[str, tuple[float, ...]]:
    """The ``perturbations`` argument of :func:`evaluate_robustness` for a protocol.

    Args:
        protocol: ``"quick"`` or ``"deeperforensics"``.
        names: the perturbations to keep (quick: ``jpeg``, ``blur``, ``noise``, ``resize``;
            deeperforensics: ``CS``, ``CC``, ``BW``, ``GNC``, ``GB``, ``JPEG``, ``VC``);
            ``None`` keeps all of the protocol's, in its order.
        levels: DeeperForensics levels to run (1 to 5; ``None``: all five); quick mode runs
            :data:`DEFAULT_STRENGTHS` and takes no levels.

    Returns:
        ``name -> strengths`` (quick) or ``type -> levels`` (deeperforensics).

    Example:
        >>> robustness_perturbations("deeperforensics", ["GB", "VC"], [1, 5])
        {'GB': (1, 5), 'VC': (1, 5)}
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    table: Mapping[str, Any] = DEFAULT_STRENGTHS if protocol == "quick" else DEEPERFORENSICS_LEVELS
    chosen = list(table) if names is None else list(names)
    for name in chosen:
        if name not in table:
            raise ValueError(
                f"names must be among {list(table)} for protocol={protocol!r}, got {name!r}"
            )
    if protocol == "quick":
        if levels is not None:
            raise ValueError(f"levels apply to protocol='deeperforensics' only, got {levels!r}")
        return {name: tuple(DEFAULT_STRENGTHS[name]) for name in chosen}
    chosen_levels = (1, 2, 3, 4, 5) if levels is None else tuple(levels)
    if not chosen_levels:
        raise ValueError("levels must hold at least one level in 1 to 5, got none")
    for level in chosen_levels:
        deeperforensics_parameter("CS", level)  # every type has levels 1 to 5
    return {name: tuple(int(level) for level in chosen_levels) for name in chosen}


def _subsample(rows: Sequence[Any], max_frames: int | None, seed: int) -> list[Any]:
    rows = list(rows)
    if max_frames is None or len(rows) <= max_frames:
        return rows
    keep = np.random.default_rng([seed, 0xF7A]).choice(len(rows), size=max_frames, replace=False)
    return [rows[i] for i in sorted(keep.tolist())]


def _validate(protocol: str, perturbations: Mapping[str, Sequence[float]]) -> None:
    """Raise on an unknown name or a bad strength or level, before any model work."""
    table: Mapping[str, Any] = PERTURBATIONS if protocol == "quick" else DEEPERFORENSICS_LEVELS
    probe = np.zeros((16, 16, 3), np.uint8)
    for name, strengths in perturbations.items():
        if name not in table:
            raise ValueError(
                f"perturbations must have keys among {sorted(table)} for protocol="
                f"{protocol!r}, got {name!r}"
            )
        for s in strengths:
            if protocol == "quick":
                perturb(probe, name, s)
            else:
                deeperforensics_parameter(name, s)  # type: ignore[arg-type]  # checks an int


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
    protocol: str = "quick",
    resume_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Frame- and video-level metrics of ``model`` on clean and perturbed face crops.

    Args:
        model: a detector whose ``forward(images, sida=None)`` returns logits (positive =
            fake), e.g. :class:`~freqforensics.models.SFCLHCMF`.
        rows: the ``ok`` manifest rows to evaluate (:func:`~freqforensics.data.load_rows`).
        perturbations: quick: ``name -> strengths``, defaults to :data:`DEFAULT_STRENGTHS`;
            deeperforensics: ``type -> levels`` (1 to 5), defaults to all seven types at all
            five levels (:func:`robustness_perturbations` builds either).
        image_size: input side of the model; defaults to ``model.config.img_size``.
        max_frames: evaluate a fixed random subset of this many frames (drawn from ``seed``),
            the same for every perturbation; ``None`` uses all.
        batch_size: evaluation batch size.
        device: where the model runs.
        seed: seed of the subset and of the random perturbations.
        progress: show a progress bar per run, named after its perturbation and strength
            (``"GB level 3 (kernel 13)"``).
        num_workers: data loader workers.
        protocol: ``"quick"`` or ``"deeperforensics"`` (see the module docs).
        resume_dir: keep each finished pass here (one JSON file each, written atomically);
            a rerun with the same model, frames and settings skips them, one with others
            starts over. ``None``: nothing kept.

    Returns:
        A dict with ``protocol``, ``frames`` and ``videos`` (how many were evaluated),
        ``clean`` (the metrics without perturbation) and ``perturbations``, mapping each name
        to a list of ``{"strength": s, "metrics": m}`` in the order given; deeperforensics
        entries are ``{"level": l, "strength": parameter, "metrics": m}``. Every metrics entry
        is :func:`~freqforensics.metrics.evaluate_predictions`'s ``{"frame": ..., "video":
        ...}``.

    Raises:
        ValueError: no rows, an unknown protocol or perturbation, a bad strength or level,
            or a bad batch_size, num_workers or device.
    """
    from freqforensics.engine.evaluation import collate_batch, predict
    from freqforensics.metrics import evaluate_predictions

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    check_loader_args(batch_size, num_workers, "num_workers")
    device = resolve_device(device)
    if perturbations is None:
        perturbations = robustness_perturbations(protocol)
    _validate(protocol, perturbations)
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

    def run(name: str | None, strength: float, level: int | None) -> dict[str, dict[str, float]]:
        data = PerturbedFrames(subset, int(image_size), name, strength, seed, level=level)
        loader = DataLoader(
            data, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_batch
        )
        batches: Iterable[dict[str, Any]] = loader
        if progress:
            from tqdm.auto import tqdm

            label = _run_label(name, strength, level)
            batches = tqdm(loader, desc=label, dynamic_ncols=True, leave=False)
        ids, labels, probs = predict(model, batches, device)
        return evaluate_predictions(ids, labels, probs)

    if resume_dir is not None:
        from freqforensics._resume import PassCache, model_fingerprint, rows_fingerprint

        frames = [(r.video_id, r.frame_index, r.label, str(r.crop_path)) for r in subset]
        run = PassCache(resume_dir, {
            "model": model_fingerprint(model), "frames": rows_fingerprint(frames),
            "protocol": protocol, "image_size": int(image_size), "seed": int(seed),
        }).wrap(run)

    result: dict[str, Any] = {
        "protocol": protocol,
        "frames": len(subset),
        "videos": len({r.video_id for r in subset}),
        "clean": run(None, 0.0, None),
        "perturbations": {},
    }
    for name, strengths in perturbations.items():
        entries = []
        for s in strengths:
            if protocol == "quick":
                entries.append({"strength": float(s), "metrics": run(name, float(s), None)})
            else:
                level = int(s)
                parameter = float(deeperforensics_parameter(name, level))
                metrics = run(name, parameter, level)
                entries.append({"level": level, "strength": parameter, "metrics": metrics})
        result["perturbations"][name] = entries
    return result


def robustness_rows(result: Mapping[str, Any], level: str = "frame") -> dict[str, Any]:
    """Flatten an :func:`evaluate_robustness` result into ``label -> metrics`` table rows.

    Args:
        result: the result.
        level: ``"frame"`` or ``"video"``.

    Returns:
        An ordered dict for :func:`~freqforensics.metrics.format_table`: ``"clean"``, then
        ``"jpeg 90"``, ``"jpeg 70"``, ... (quick) or ``"CS 1"``, ..., ``"VC 5"``
        (deeperforensics: type and level).
    """
    if level not in ("frame", "video"):
        raise ValueError(f"level must be 'frame' or 'video', got {level!r}")
    rows: dict[str, Any] = {"clean": result["clean"][level]}
    for name, entries in result["perturbations"].items():
        for entry in entries:
            tag = entry["level"] if "level" in entry else f"{entry['strength']:g}"
            rows[f"{name} {tag}"] = entry["metrics"][level]
    return rows


def robustness_matrix(result: Mapping[str, Any], level: str = "frame", metric: str = "auc") -> str:
    """One metric as a type x level table, with each type's mean over its levels.

    The layout of the robustness tables of the DeeperForensics-1.0 literature: one row per
    distortion type, one column per level, the mean of the row, and a last row with the mean
    over types; values in percent.

    Args:
        result: a ``protocol="deeperforensics"`` :func:`evaluate_robustness` result.
        level: ``"frame"`` or ``"video"``.
        metric: ``"auc"``, ``"acc"``, ``"eer"`` or ``"ap"``.

    Returns:
        The table as one string, without a trailing newline.
    """
    if level not in ("frame", "video"):
        raise ValueError(f"level must be 'frame' or 'video', got {level!r}")
    if metric not in ("auc", "acc", "eer", "ap"):
        raise ValueError(f"metric must be one of 'auc', 'acc', 'eer', 'ap', got {metric!r}")
    entries = result["perturbations"]
    if any("level" not in e for es in entries.values() for e in es):
        raise ValueError("result must come from protocol='deeperforensics' (entries with levels)")
    levels = sorted({e["level"] for es in entries.values() for e in es})

    def cell(value: float | None) -> str:
        return "nan" if value is None or np.isnan(value) else f"{100 * value:.2f}"

    header = ["type", *(f"L{lv}" for lv in levels), "mean"]
    body = []
    means = []
    for name, es in entries.items():
        by_level = {e["level"]: e["metrics"][level].get(metric, np.nan) for e in es}
        values = [by_level.get(lv, np.nan) for lv in levels]
        mean = float(np.mean([by_level[lv] for lv in by_level])) if by_level else np.nan
        means.append(mean)
        body.append([name, *map(cell, values), cell(mean)])
    overall = float(np.mean(means)) if means else np.nan
    body.append(["mean", *([""] * len(levels)), cell(overall)])
    body.append(["clean", *([""] * len(levels)), cell(result["clean"][level].get(metric))])
    width = max(len(r[0]) for r in [header, *body])
    lines = [r[0].ljust(width) + "".join(c.rjust(8) for c in r[1:]) for r in [header, *body]]
    return "\n".join(lines)


def _plot_levels(result: Mapping[str, Any], path: str | Path | None) -> Any:
    from freqforensics.viz import _finish, _plt

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    names = list(result["perturbations"])
    levels = sorted({e["level"] for es in result["perturbations"].values() for e in es})
    markers = "osD^v<>ph*"
    lowest = 0.5
    for ax, level in zip(axes, ("frame", "video")):
        clean = result["clean"][level]["auc"]
        ax.axhline(clean, color="0.5", ls="--", lw=0.8, label="clean")
        for i, name in enumerate(names):
            entries = sorted(result["perturbations"][name], key=lambda e: e["level"])
            x = [0, *(e["level"] for e in entries)]
            y = [clean, *(e["metrics"][level]["auc"] for e in entries)]
            lowest = min([lowest, *(v for v in y if np.isfinite(v))])
            label = f"{name}: {DEEPERFORENSICS_NAMES.get(name, name)}"
            ax.plot(x, y, marker=markers[i % len(markers)], ms=4, label=label)
        ax.set_xticks([0, *levels], ["clean", *map(str, levels)])
        ax.set(xlabel="distortion level", ylabel="AUC", title=f"{level}-level AUC")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(max(0.0, np.floor(lowest * 10) / 10 - 0.02), 1.02)  # shared by both
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _finish(fig, path)


def plot_robustness(result: Mapping[str, Any], path: str | Path | None = None) -> Any:
    """AUC against strength or level, with the clean AUC as a dashed line.

    Quick mode: one panel per perturbation, frame and video AUC against its strength.
    DeeperForensics: two panels (frame and video AUC), one line per distortion type against
    its level, starting from the clean AUC at level 0.

    Args:
        result: an :func:`evaluate_robustness` result.
        path: where to save the PNG (``None``: only return the figure).

    Returns:
        The matplotlib figure.
    """
    from freqforensics.viz import _finish, _plt

    if result.get("protocol") == "deeperforensics":
        return _plot_levels(result, path)
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
