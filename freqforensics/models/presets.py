"""Named configurations of SFCL-HCMF: the paper's settings and a CPU-sized one."""

from __future__ import annotations

from freqforensics.models.sfcl_hcmf import SFCLHCMFConfig

__all__ = ["PRESETS", "preset"]

#: Named configurations. ``paper``: the paper's model (380 x 380, EfficientNet-B4, the full
#: Xception CNN-F, HCMA 1024 wide with 8 heads), for a GPU. ``cpu``: a model that trains in
#: minutes on two CPU cores (128 x 128, TinyNet-E spatial branch, narrower SBCM, CNN-F without
#: middle blocks, 128-wide fusion).
PRESETS: dict[str, SFCLHCMFConfig] = {
    "paper": SFCLHCMFConfig(),
    "cpu": SFCLHCMFConfig(
        img_size=128,
        spatial_backbone="tinynet_e",
        xception_middle_blocks=0,
        sbcm_channels=(8, 16, 32),
        embed_dim=128,
        num_heads=4,
        drop_rate=0.2,
    ),
}


def preset(name: str, **changes: object) -> SFCLHCMFConfig:
    """The named preset's config, with optional field changes."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name].replace(**changes)
