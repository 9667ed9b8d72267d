"""Seeds and random-number states: a run is a function of its seed, and resumes exactly.

:func:`seed_everything` seeds Python, NumPy and torch; :func:`rng_state` and
:func:`set_rng_state` carry their states through a checkpoint, so that a resumed run draws the
same dropout masks and augmentations as an uninterrupted one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "rng_state", "set_rng_state"]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def rng_state(device: torch.device) -> dict[str, Any]:
    """The states of torch's, NumPy's and Python's generators (and ``device``'s, on CUDA)."""
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def set_rng_state(rng: Mapping[str, Any], device: torch.device) -> None:
    """Restore the states of :func:`rng_state` (those present; CUDA's on a CUDA device only)."""
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)
