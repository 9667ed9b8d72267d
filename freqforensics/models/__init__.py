"""Reference detectors assembled from the library's layers, and their registry."""

from freqforensics.models.presets import PRESETS, preset
from freqforensics.models.registry import create_model, default_config, list_models, register_model
from freqforensics.models.sfcl_hcmf import (
    CHECKPOINT_FORMAT,
    SFCLHCMF,
    Features,
    SFCLHCMFConfig,
    pretrained_cfg_for,
)

__all__ = [
    "SFCLHCMF",
    "SFCLHCMFConfig",
    "Features",
    "CHECKPOINT_FORMAT",
    "PRESETS",
    "preset",
    "create_model",
    "list_models",
    "register_model",
    "default_config",
    "pretrained_cfg_for",
]
