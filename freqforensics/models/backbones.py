"""Backbone surgery for SFCL-HCMF: timm models cut and rebuilt for the two branches.

- :class:`_SpatialBranch`: a timm EfficientNet-class model split at its stride-8 stage, where
  FAAE goes (paper Section 3.2.3).
- :func:`_cnn_f`: CNN-F, timm ``legacy_xception`` without ``conv1``, ``bn1``, ``conv2``, ``bn2``
  and ``block1``, with ``block2`` rebuilt to take the SBCM channels (Section 3.2.2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__: list[str] = []  # internal: used by freqforensics.models.sfcl_hcmf


def _timm() -> Any:
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "SFCLHCMF needs timm: pip install 'freqforensics[models]'"
        ) from exc
    return timm


def _create(name: str, pretrained: bool | str, weights: str | None, **kwargs: Any) -> Any:
    """``timm.create_model``; ImageNet weights when ``pretrained is True`` or from ``weights``.

    A ``str`` ``pretrained`` is a file of the whole detector's weights, loaded by the detector
    after construction: the backbone itself starts from scratch then.
    """
    timm = _timm()
    pretrained = pretrained is True
    if weights is not None:
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
        pretrained = True
    return timm.create_model(name, pretrained=pretrained, **kwargs)


class _SpatialBranch(nn.Module):
    """A timm EfficientNet-class model split at its stride-8 stage (where FAAE goes).

    Attributes: ``stem``, ``early`` (the blocks up to stride 8), ``late`` (the rest), ``head``
    (``conv_head`` and ``bn2``), ``stride8_channels``, ``num_features``, and the backbone's
    ImageNet ``mean`` and ``std`` (non-persistent buffers).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, name: str, pretrained: bool | str = False, weights: str | None = None):
        super().__init__()
        model = _create(name, pretrained, weights, num_classes=0)
        needed = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")
        if not all(hasattr(model, n) for n in needed):
            raise ValueError(
                f"spatial_backbone must be a timm EfficientNet-class model (with conv_stem, "
                f"blocks, conv_head), got {name!r} ({type(model).__name__})"
            )
        split = None
        for info in model.feature_info:
            if info["reduction"] == 8:
                split = int(info["module"].split(".")[1]) + 1
                self.stride8_channels = int(info["num_chs"])
        if split is None:
            raise ValueError(f"{name!r} has no stride-8 stage for FAAE")
        self.stem = nn.Sequential(model.conv_stem, model.bn1)
        self.early = nn.Sequential(*model.blocks[:split])
        self.late = nn.Sequential(*model.blocks[split:])
        self.head = nn.Sequential(model.conv_head, model.bn2)
        self.num_features = int(model.num_features)
        mean = torch.tensor(model.pretrained_cfg.get("mean", (0.485, 0.456, 0.406)))
        std = torch.tensor(model.pretrained_cfg.get("std", (0.229, 0.224, 0.225)))
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] to the backbone's ImageNet normalisation."""
        return (images - self.mean) / self.std


def _cnn_f(
    name: str,
    in_channels: int,
    middle_blocks: int = 8,
    pretrained: bool | str = False,
    weights: str | None = None,
) -> tuple[nn.Module, int]:
    """Xception without conv1, bn1, conv2, bn2 and block1; block2 takes ``in_channels``.

    ``block2`` is rebuilt for ``in_channels`` (randomly initialised, even when ImageNet weights
    were loaded); ``middle_blocks`` of the 8 middle-flow blocks are kept.

    Returns:
        ``(cnn_f, num_features)``: an ``nn.Sequential`` and its output channels (2048).
    """
    model = _create(name, pretrained, weights, num_classes=0)
    if not all(hasattr(model, n) for n in ("block2", "block12", "conv4")):
        raise ValueError(f"freq_backbone must be timm's legacy_xception, got {name!r}")
    block_cls = type(model.block2)
    # The input is a signed, normalised DCT map: no ReLU before the first separable conv.
    block2 = block_cls(in_channels, 256, 2, 2, start_with_relu=False, grow_first=True)
    middle = [getattr(model, f"block{i}") for i in range(4, 4 + middle_blocks)]
    layers = [block2, model.block3, *middle, model.block12]
    layers += [model.conv3, model.bn3, model.act3, model.conv4, model.bn4, model.act4]
    return nn.Sequential(*layers), int(model.num_features)
