"""A timm-style model registry: ``create_model(name, pretrained=..., **overrides)``.

Each registered name is a small factory that builds :class:`SFCLHCMF` from a default config,
with a ``pretrained_cfg`` that inference code reads instead of guessing: the input size, the
mean and std to normalise with (the model takes RGB in [0, 1] and applies its backbone's
ImageNet normalisation itself, so they are 0 and 1), where the SIDA vector comes from, how the
face is cropped, and a local weights file or URL when one exists.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freqforensics.models.presets import PRESETS
from freqforensics.models.sfcl_hcmf import SFCLHCMF, SFCLHCMFConfig, pretrained_cfg_for

__all__ = ["register_model", "create_model", "list_models", "default_config"]

_Factory = Callable[..., SFCLHCMF]
_REGISTRY: dict[str, _Factory] = {}
_DEFAULTS: dict[str, tuple[SFCLHCMFConfig, dict[str, Any]]] = {}


def register_model(
    name: str, config: SFCLHCMFConfig, **pretrained_fields: Any
) -> Callable[[_Factory], _Factory]:
    """Decorator registering a factory ``fn(config) -> SFCLHCMF`` under ``name``.

    Args:
        name: the model name for :func:`create_model`.
        config: its default configuration.
        **pretrained_fields: entries of its ``pretrained_cfg`` besides the derived ones
            (``file``, ``url``).
    """

    def decorator(fn: _Factory) -> _Factory:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = fn
        _DEFAULTS[name] = (config, dict(pretrained_fields))
        return fn

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the shell ``pattern``, sorted.

    Example:
        >>> from freqforensics import list_models
        >>> list_models()
        ['sfcl_hcmf', 'sfcl_hcmf_cpu']
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"name must be one of {list_models()}, got {name!r}")
    return name


def default_config(name: str, **overrides: Any) -> SFCLHCMFConfig:
    """The config ``create_model(name, **overrides)`` builds from (no model is built)."""
    config = _DEFAULTS[_check_name(name)][0]
    fields = {f.name for f in dataclasses.fields(SFCLHCMFConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"overrides {unknown} are not SFCLHCMFConfig fields; expected some of {sorted(fields)}"
        )
    return config.replace(**overrides)


def create_model(
    name: str, pretrained: bool | str | Path = False, **overrides: Any
) -> SFCLHCMF:
    """Build a registered model, timm style.

    Args:
        name: one of :func:`list_models`.
        pretrained: ``False`` (random init), ``True`` (ImageNet weights of both backbones from
            timm's hub, which needs a network), or the path of a local weights file of the
            whole detector (safetensors from :meth:`SFCLHCMF.save_checkpoint`, or a state
            dict) loaded strictly after construction.
        **overrides: :class:`SFCLHCMFConfig` fields that differ from the entry's defaults.

    Returns:
        the model, with ``model.pretrained_cfg`` set.

    Example:
        >>> import torch
        >>> from freqforensics import create_model
        >>> model = create_model("sfcl_hcmf_cpu", img_size=64).eval()
        >>> model.pretrained_cfg["input_size"], model(torch.rand(1, 3, 64, 64)).shape
        ((3, 64, 64), torch.Size([1]))
    """
    if isinstance(pretrained, Path):
        pretrained = str(pretrained)
    if not isinstance(pretrained, bool | str):
        raise TypeError(
            f"pretrained must be False, True or a path, got {type(pretrained).__name__}"
        )
    if isinstance(pretrained, str) and not Path(pretrained).is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {pretrained}")
    config = default_config(name, **overrides).replace(pretrained=pretrained)
    model = _REGISTRY[name](config)
    fields = dict(_DEFAULTS[name][1])
    if isinstance(pretrained, str):
        fields["file"] = pretrained
    model.pretrained_cfg = pretrained_cfg_for(config, **fields)
    return model


@register_model("sfcl_hcmf", PRESETS["paper"])
def sfcl_hcmf(config: SFCLHCMFConfig) -> SFCLHCMF:
    """The paper's detector: 380 px, EfficientNet-B4 + Xception CNN-F, HCMA 1024 x 8 heads."""
    return SFCLHCMF(config)


@register_model("sfcl_hcmf_cpu", PRESETS["cpu"])
def sfcl_hcmf_cpu(config: SFCLHCMFConfig) -> SFCLHCMF:
    """A CPU-sized detector: 128 px, TinyNet-E, CNN-F without middle blocks, 128-wide fusion."""
    return SFCLHCMF(config)
