"""Inference helpers of the engine: the forward call, predictions, precise BatchNorm."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from freqforensics._progress import progress as _progress
from freqforensics.data.dataset import collate_frames as collate_batch
from freqforensics.engine.runtime import channels_last_images

__all__ = ["predict", "precise_bn", "nonfinite_samples", "sample_ids"]


def _forward(
    model: nn.Module, batch: dict[str, Any], device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    images = batch["image"].to(device, non_blocking=True)
    if channels_last:
        images = channels_last_images(images)
    sida = batch.get("sida")
    if isinstance(sida, torch.Tensor):
        return model(images, sida=sida.to(device, non_blocking=True))
    return model(images)


def nonfinite_samples(batch: dict[str, Any]) -> list[int]:
    """Indices of the samples of ``batch`` whose image, SIDA vector or label is not finite."""
    bad: torch.Tensor | None = None
    for key in ("image", "sida", "label"):
        value = batch.get(key)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        flags = ~torch.isfinite(value.reshape(len(value), -1)).all(dim=1)
        bad = flags if bad is None else bad | flags.to(bad.device)
    return [] if bad is None else bad.nonzero().flatten().tolist()


def sample_ids(batch: dict[str, Any], indices: Iterable[int]) -> list[str]:
    """Readable ids of some samples of ``batch``: ``video_id`` plus the frame index or path."""
    out = []
    for i in indices:
        parts = []
        for key in ("video_id", "frame_index", "crop_path", "path", "index"):
            value = batch.get(key)
            if value is not None and len(value) > i:
                item = value[i]
                parts.append(f"{key}={item.item() if isinstance(item, torch.Tensor) else item}")
        out.append(" ".join(parts) or f"#{i}")
    return out


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable[dict[str, Any]],
    device: torch.device | str = "cpu",
    progress: bool = False,
    channels_last: bool = False,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fake probabilities of every sample of ``loader``: ``(video_ids, labels, probs)``.

    ``channels_last`` passes the images in channels-last order (for a model converted with
    :func:`~freqforensics.engine.runtime.to_channels_last`). An enclosing ``torch.autocast``
    applies to the forward passes; the probabilities are computed in float32.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    ids: list[str] = []
    labels: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for batch in _progress(loader, progress, desc="eval"):
        logits = _forward(model, batch, device, channels_last)
        probs.append(torch.sigmoid(logits.float()).cpu().numpy())
        labels.append(np.asarray(batch["label"], dtype=np.float64).reshape(-1))
        vid = batch.get("video_id")
        if vid is None:
            vid = [str(len(ids) + i) for i in range(len(logits))]
        ids.extend(list(vid))
    model.train(was_training)
    if not probs:
        return [], np.zeros(0), np.zeros(0)
    return ids, np.concatenate(labels), np.concatenate(probs).astype(np.float64)


def precise_bn(
    model: torch.nn.Module,
    dataset: Any,
    batches: int,
    batch_size: int,
    seed: int = 0,
    group_size: int = 1,
    device: torch.device | str = "cpu",
) -> int:
    """Recompute the BatchNorm running statistics of ``model`` on training batches.

    The running means and variances a model keeps during training are exponential averages
    over batches seen while the weights were still changing; with few steps (a small data
    set, a short schedule) they lag behind the final weights and the model in eval mode
    scores differently from the model in train mode. This resets them and sets them to the
    plain average of the batch statistics over ``batches`` shuffled training batches of the
    final weights ("precise BN"), with the model otherwise in eval mode (no dropout), under
    ``torch.no_grad``. The weights do not change. Batches with a non-finite image, SIDA vector
    or label are left out.

    Args:
        model: the model (changed in place; left in eval mode).
        dataset: the training data set (items with ``image`` and optionally ``sida``); its
            ``set_epoch`` is called with a fresh epoch when it has one.
        batches: number of batches.
        batch_size: samples per batch.
        seed: seed of the shuffling.
        group_size: consecutive items kept in one batch (2 for a real and its pseudo-fake).
        device: where the model runs.

    Returns:
        The number of BatchNorm layers recalibrated.
    """
    for name, value in (("batches", batches), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            # checked before the statistics are reset: nothing to average them over
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches
    model.eval()
    for m in norms:
        m.train()
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(10_000 + seed)
    generator = torch.Generator().manual_seed(seed)
    groups = math.ceil(len(dataset) / group_size)
    order: list[int] = []
    per_batch = max(1, batch_size // group_size) * group_size
    with torch.no_grad():
        for _ in range(batches):
            if len(order) < per_batch:
                perm = torch.randperm(groups, generator=generator).tolist()
                order += [
                    i
                    for g in perm
                    for i in range(g * group_size, (g + 1) * group_size)
                    if i < len(dataset)
                ]
            chunk, order = order[:per_batch], order[per_batch:]
            batch = collate_batch([dataset[i] for i in chunk])
            if nonfinite_samples(batch):  # one NaN pixel would poison every running statistic
                continue
            _forward(model, batch, torch.device(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return len(norms)
