"""Reading a detector's weights from a local file, with errors that say what is wrong.

A file that is not safetensors (or a torch state dict), and a checkpoint saved from a model of
other settings, raise a ``ValueError`` that names the file and, for a checkpoint of ours, the
settings that differ, instead of torch's list of every missing key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqforensics._checks import first_line

__all__ = ["read_metadata", "read_state", "load_state"]

#: Config fields that do not shape the weights: a checkpoint may differ in them.
_NOT_WEIGHTS = ("pretrained", "spatial_weights", "freq_weights", "drop_rate")


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata of the safetensors file ``path``.

    Raises:
        ValueError: ``path`` is not a safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of ``path`` (safetensors, or a torch state dict read with
    ``weights_only=True``) and its safetensors metadata (empty for a torch file).

    A training state (``last.safetensors`` of a run) gives its model's weights; a torch file
    gives the weights under ``"model"`` when it holds more than a state dict.

    Raises:
        ValueError: the file is neither.
    """
    if path.suffix != ".safetensors":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # UnpicklingError, EOFError, RuntimeError ...: not weights
            raise ValueError(
                f"{path} is not a torch state dict that loads with weights_only=True "
                f"({first_line(err)}); "
                "expected a .safetensors checkpoint or a torch file of tensors"
            ) from None
        if not isinstance(state, dict):
            raise ValueError(f"{path} holds a {type(state).__name__}, expected a state dict")
        return state.get("model", state), {}
    from safetensors.torch import load_file

    meta = read_metadata(path)
    state = load_file(str(path))
    if meta.get("format", "").startswith("freqforensics.TrainState/"):  # engine.state
        state = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
    return state, meta


def _saved_config(meta: dict[str, str]) -> dict[str, Any] | None:
    text = meta.get("config")
    if text is None:
        return None
    try:
        saved = json.loads(text)
    except json.JSONDecodeError:
        return None
    return saved if isinstance(saved, dict) else None


def load_state(
    model: nn.Module, path: Path, config: dict[str, Any] | None = None, strict: bool = True
) -> None:
    """Load the weights of ``path`` into ``model``.

    Args:
        model: the model.
        path: the weights file (see :func:`read_state`).
        config: the model's config as a dict; where the file records the config it was saved
            from, the fields that differ are named when the weights do not fit.
        strict: every key must match (``load_state_dict(strict=...)``).

    Warns:
        UserWarning: the file records another ``img_size`` than ``config``'s.

    Raises:
        ValueError: the file is unreadable, or its weights do not fit ``model``.
    """
    state, meta = read_state(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        saved = _saved_config(meta)
        if saved is not None and config is not None:
            diffs = [
                f"{key}={saved[key]!r} (this model: {config.get(key)!r})"
                for key in sorted(saved)
                if key not in _NOT_WEIGHTS and saved[key] != config.get(key)
            ]
            if diffs:
                raise ValueError(
                    f"the weights in {path} do not fit this model: they were saved from a model "
                    f"with {', '.join(diffs)}; build the model with those settings, or load the "
                    "file with SFCLHCMF.from_checkpoint, which takes them from the file"
                ) from None
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
        detail = "; ".join(lines)
        detail = detail if len(detail) <= 400 else detail[:400] + " ..."
        raise ValueError(f"the weights in {path} do not fit this model: {detail}") from None
    saved = _saved_config(meta)
    if saved and config and "img_size" in saved and saved["img_size"] != config.get("img_size"):
        import warnings

        # The weights fit any input size; the one they were trained at is what scores right.
        warnings.warn(
            f"the weights in {path} were saved from a model with img_size={saved.get('img_size')}"
            f", this model takes {config.get('img_size')}: its inputs are resized to that (pass "
            "img_size to match, or load with SFCLHCMF.from_checkpoint, which takes it from the "
            "file)",
            UserWarning,
            stacklevel=4,
        )
