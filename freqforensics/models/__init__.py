"""Reference detectors assembled from the library's layers."""

from freqforensics.models.presets import PRESETS, preset
from freqforensics.models.sfcl_hcmf import CHECKPOINT_FORMAT, SFCLHCMF, SFCLHCMFConfig

__all__ = ["SFCLHCMF", "SFCLHCMFConfig", "CHECKPOINT_FORMAT", "PRESETS", "preset"]
