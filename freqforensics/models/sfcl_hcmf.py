"""The reference detector SFCL-HCMF (paper Figure 2), assembled from the library's layers."""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import nn

from freqforensics._checks import ShapeError, check_float, check_param_dtype, check_tensor
from freqforensics._tracing import is_tracing
from freqforensics.layers import FAAE, HCMA, SBCM, SIDA, SIDA_DIM, BlockDCT

__all__ = ["SFCLHCMF", "SFCLHCMFConfig", "CHECKPOINT_FORMAT", "pretrained_cfg_for"]

logger = logging.getLogger(__name__)

#: Value of the ``format`` metadata key of the safetensors checkpoints this module writes.
CHECKPOINT_FORMAT = "freqforensics.SFCLHCMF/1"


@dataclass(frozen=True)
class SFCLHCMFConfig:
    """Configuration of :class:`SFCLHCMF` (frozen; saved as JSON inside checkpoints).

    The defaults are the paper's model (Section 4.1): 380 x 380 inputs, EfficientNet-B4 spatial
    branch, SBCM kernels 7, 5, 3, an Xception CNN-F with its 8 middle blocks, HCMA with 8 heads.

    Attributes:
        img_size: side of the square input the spatial and local branches see.
        spatial_backbone: timm model name of the spatial branch; any timm ``EfficientNet``-class
            model (``efficientnet_b0``-``b7``, ``tf_efficientnet_*``, ``mobilenetv2_*``,
            ``tinynet_*``, ``mnasnet_*`` ...).
        freq_backbone: timm model name of CNN-F (``legacy_xception``).
        pretrained: ``True`` asks timm for ImageNet weights of both backbones (needs a network);
            ``False`` starts from scratch; a path (``str``) loads a local file of the whole
            detector's weights (safetensors from :meth:`SFCLHCMF.save_checkpoint`, or a torch
            state dict) after construction, with no download. :meth:`SFCLHCMF.from_checkpoint`
            also restores the config saved with the weights.
        spatial_weights: optional local file with ImageNet weights of the spatial backbone
            (passed to timm as ``pretrained_cfg_overlay=dict(file=...)``).
        freq_weights: the same for CNN-F (its removed layers are ignored).
        xception_middle_blocks: middle-flow blocks kept in CNN-F (0 to 8; the paper: 8).
        sbcm_channels: SBCM's Conv3d widths; ``sbcm_kernels`` their band kernels.
        sbcm_out_bands: band groups after SBCM (3: 64 x 3 = 192 channels).
        embed_dim: HCMA width (the paper gives 1792 and 1024; 1024 here).
        num_heads: HCMA heads.
        faae_qk_dim: FAAE query/key width (``None``: a quarter of the spatial channels).
        faae_zero_init: FAAE starts as the identity (keeps pretrained features intact).
        drop_rate: dropout before the classifier.
        use_sbcm: off: the 192 normalised DCT channels go straight to CNN-F (Table 3).
        use_faae: off: no frequency attention in the spatial branch (Table 4).
        use_hcma: off: concatenation of the pooled features + linear (Tables 3 and 4).
        use_sida: off: no SIDA gate (Table 3).

    Example:
        >>> from freqforensics.models import SFCLHCMFConfig
        >>> cfg = SFCLHCMFConfig(use_sida=False)  # the paper's model without the SIDA gate
        >>> cfg.img_size, cfg.spatial_backbone, cfg.replace(img_size=256).img_size
        (380, 'efficientnet_b4', 256)
        >>> SFCLHCMFConfig.from_json(cfg.to_json()) == cfg
        True
    """

    img_size: int = 380
    spatial_backbone: str = "efficientnet_b4"
    freq_backbone: str = "legacy_xception"
    pretrained: bool | str = False
    spatial_weights: str | None = None
    freq_weights: str | None = None
    xception_middle_blocks: int = 8
    sbcm_channels: tuple[int, ...] = (16, 32, 64)
    sbcm_kernels: tuple[int, ...] = (7, 5, 3)
    sbcm_out_bands: int = 3
    embed_dim: int = 1024
    num_heads: int = 8
    faae_qk_dim: int | None = None
    faae_zero_init: bool = False
    drop_rate: float = 0.2
    use_sbcm: bool = True
    use_faae: bool = True
    use_hcma: bool = True
    use_sida: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.img_size < 64:
            raise ValueError(f"img_size must be >= 64, got {self.img_size}")
        if not 0 <= self.xception_middle_blocks <= 8:
            raise ValueError(
                f"xception_middle_blocks must be in [0, 8], got {self.xception_middle_blocks}"
            )
        if len(self.sbcm_channels) != len(self.sbcm_kernels):
            raise ValueError(
                "sbcm_channels and sbcm_kernels must have the same length, got "
                f"{self.sbcm_channels} and {self.sbcm_kernels}"
            )

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SFCLHCMFConfig:
        """Rebuild a config from :meth:`to_json`; unknown keys raise ``ValueError``."""
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown SFCLHCMFConfig fields in checkpoint: {sorted(unknown)}")
        for key in ("sbcm_channels", "sbcm_kernels"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def replace(self, **changes: Any) -> SFCLHCMFConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def pretrained_cfg_for(config: SFCLHCMFConfig, **fields: Any) -> dict[str, Any]:
    """The ``pretrained_cfg`` of a model built from ``config`` (timm's keys plus our own).

    Keys: ``input_size`` ``(3, S, S)``; ``mean`` and ``std`` (0 and 1: feed RGB in [0, 1], the
    model normalises inside); ``interpolation`` of the resize (``bilinear``, Pillow);
    ``sida_from`` (``"original_crop"``: the SIDA vector is computed from the face crop at its
    original resolution, before the resize); ``crop`` (the face box: dlib, enlarged 1.3x,
    snapped to the 8-pixel grid); ``file`` and ``url`` of whole-detector weights (``None``
    when none are published); ``num_classes`` (1 logit, positive = fake).
    """
    cfg: dict[str, Any] = {
        "input_size": (3, config.img_size, config.img_size),
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
        "interpolation": "bilinear",
        "sida_from": "original_crop",
        "crop": {"detector": "dlib_hog", "scale": 1.3, "grid": 8},
        "num_classes": 1,
        "file": None,
        "url": None,
    }
    cfg.update(fields)
    return cfg


def _timm() -> Any:
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "SFCLHCMF needs timm: pip install 'freqforensics[models]'"
        ) from exc
    return timm


def _create(name: str, pretrained: bool | str, weights: str | None, **kwargs: Any) -> Any:
    timm = _timm()
    pretrained = pretrained is True  # a path means the full detector's weights, loaded later
    if weights is not None:
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
        pretrained = True
    return timm.create_model(name, pretrained=pretrained, **kwargs)


class _SpatialBranch(nn.Module):
    """A timm EfficientNet-class model split at its stride-8 stage (where FAAE goes)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, cfg: SFCLHCMFConfig) -> None:
        super().__init__()
        model = _create(
            cfg.spatial_backbone, cfg.pretrained, cfg.spatial_weights, num_classes=0
        )
        needed = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")
        if not all(hasattr(model, n) for n in needed):
            raise ValueError(
                f"spatial_backbone must be a timm EfficientNet-class model (with conv_stem, "
                f"blocks, conv_head), got {cfg.spatial_backbone!r} ({type(model).__name__})"
            )
        split = None
        for info in model.feature_info:
            if info["reduction"] == 8:
                split = int(info["module"].split(".")[1]) + 1
                self.stride8_channels = int(info["num_chs"])
        if split is None:
            raise ValueError(f"{cfg.spatial_backbone!r} has no stride-8 stage for FAAE")
        self.stem = nn.Sequential(model.conv_stem, model.bn1)
        self.early = nn.Sequential(*model.blocks[:split])
        self.late = nn.Sequential(*model.blocks[split:])
        self.head = nn.Sequential(model.conv_head, model.bn2)
        self.num_features = int(model.num_features)
        mean = torch.tensor(model.pretrained_cfg.get("mean", (0.485, 0.456, 0.406)))
        std = torch.tensor(model.pretrained_cfg.get("std", (0.229, 0.224, 0.225)))
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)


def _cnn_f(cfg: SFCLHCMFConfig, in_channels: int) -> tuple[nn.Module, int]:
    """Xception without conv1, bn1, conv2, bn2 and block1; block2 takes ``in_channels``."""
    model = _create(cfg.freq_backbone, cfg.pretrained, cfg.freq_weights, num_classes=0)
    if not all(hasattr(model, n) for n in ("block2", "block12", "conv4")):
        raise ValueError(
            f"freq_backbone must be timm's legacy_xception, got {cfg.freq_backbone!r}"
        )
    block_cls = type(model.block2)
    # The input is a signed, normalised DCT map: no ReLU before the first separable conv.
    block2 = block_cls(in_channels, 256, 2, 2, start_with_relu=False, grow_first=True)
    middle = [getattr(model, f"block{i}") for i in range(4, 4 + cfg.xception_middle_blocks)]
    layers = [block2, model.block3, *middle, model.block12]
    layers += [model.conv3, model.bn3, model.act3, model.conv4, model.bn4, model.act4]
    return nn.Sequential(*layers), int(model.num_features)


class SFCLHCMF(nn.Module):
    r"""SFCL-HCMF: spatial-frequency collaborative learning with hierarchical fusion (Figure 2).

    - Spatial branch: a timm EfficientNet (B4: 1792 features), with :class:`~freqforensics.FAAE`
      after its stride-8 stage, fed by the local branch's SBCM output (eqs. 10 to 13).
    - Local frequency branch: :class:`~freqforensics.BlockDCT` (YCbCr, zigzag) on the
      ``img_size`` input (cropped to the 8-pixel grid: 380 -> 47 x 47 blocks), a per-band
      BatchNorm (DCT bands differ in scale by orders of magnitude; the paper is silent on input
      scaling), :class:`~freqforensics.SBCM`, then CNN-F: timm ``legacy_xception`` with
      ``conv1``, ``bn1``, ``conv2``, ``bn2`` and ``block1`` removed and ``block2`` taking the 192
      SBCM channels (2048 features).
    - Global frequency branch: :class:`~freqforensics.SIDA` (2304 statistics) of the
      original-resolution face crop when ``forward(images, sida=...)`` is given it, else of
      ``images``; compressed by a signed ``log1p`` and a BatchNorm before the gate (the
      statistics span several orders of magnitude; the paper feeds them "directly").
    - Fusion: :class:`~freqforensics.HCMA` over the two branches' last feature maps as token
      sequences, gated by the SIDA vector; a linear classifier to one logit (positive = fake).

    Args:
        config: the configuration (defaults: the paper's model).
        weights: optional path of a local checkpoint (:meth:`save_checkpoint` format, or a plain
            safetensors / torch state dict) loaded after construction.

    Input rules (the library's dtype rule, see the conventions page): ``images`` must have the
    dtype of the model's parameters outside autocast (float64 images into a float32 model raise
    a :class:`~freqforensics._checks.ShapeError` that says to call ``model.double()`` or pass
    ``images.float()``; nothing is cast silently); ``sida`` must be floating point (a ``bool``
    or integer ``sida`` raises, naming ``sida``) and is cast to the parameters' dtype. Images
    far outside [0, 1] (maximum above 1.5 or minimum below -0.5, e.g. 0-255 pixel values) get
    a one-time :class:`UserWarning` per model instance, checked in eager mode only (never while
    compiled or exported; on an accelerator only on the first call, the check costs a device
    sync). NaN and inf are not checked: they propagate to the logits like any torch op's.

    Shape:
        - ``images``: :math:`(N, 3, S, S)` RGB in [0, 1], ``S = config.img_size`` (other sizes
          of at least 64 pixels work too).
        - ``sida``: :math:`(N, 2304)` or ``None``.
        - Output: logits :math:`(N,)`.

    Example:
        >>> import torch
        >>> from freqforensics.models import SFCLHCMF, SFCLHCMFConfig
        >>> cfg = SFCLHCMFConfig(img_size=96, spatial_backbone="tinynet_e",
        ...                      xception_middle_blocks=0, embed_dim=64, num_heads=4)
        >>> model = SFCLHCMF(cfg).eval()
        >>> model(torch.rand(2, 3, 96, 96)).shape
        torch.Size([2])
    """

    def __init__(self, config: SFCLHCMFConfig | None = None, weights: str | Path | None = None):
        super().__init__()
        cfg = config if config is not None else SFCLHCMFConfig()
        if not isinstance(cfg, SFCLHCMFConfig):
            raise TypeError(f"config must be an SFCLHCMFConfig, got {type(cfg).__name__}")
        self.config = cfg
        #: timm-style inference settings (input size, normalisation, SIDA source, weights).
        self.pretrained_cfg: dict[str, Any] = pretrained_cfg_for(cfg)
        self.spatial = _SpatialBranch(cfg)
        self.dct = BlockDCT(color="ycbcr", crop=True)
        self.band_norm = nn.BatchNorm2d(3 * 64)
        if cfg.use_sbcm:
            self.sbcm: SBCM | None = SBCM(
                in_channels=3,
                channels=cfg.sbcm_channels,
                kernel_sizes=cfg.sbcm_kernels,
                out_bands=cfg.sbcm_out_bands,
            )
            freq_in = self.sbcm.out_features
        else:
            self.sbcm = None
            freq_in = 3 * 64
        self.cnn_f, freq_features = _cnn_f(cfg, freq_in)
        self.faae: FAAE | None = (
            FAAE(
                self.spatial.stride8_channels,
                freq_in,
                qk_dim=cfg.faae_qk_dim,
                zero_init=cfg.faae_zero_init,
            )
            if cfg.use_faae
            else None
        )
        self.sida = SIDA()
        self.sida_norm: nn.Module | None = nn.BatchNorm1d(SIDA_DIM) if cfg.use_sida else None
        s_dim = self.spatial.num_features
        if cfg.use_hcma:
            self.hcma: HCMA | None = HCMA(
                spatial_dim=s_dim,
                freq_dim=freq_features,
                embed_dim=cfg.embed_dim,
                num_heads=cfg.num_heads,
                gate_dim=SIDA_DIM,
            )
            if not cfg.use_sida:
                # HCMA never calls its gate without d: no dead weights in the parameter count,
                # the optimiser or DistributedDataParallel (which fails on unused parameters).
                self.hcma.gate = None  # type: ignore[assignment]
            self.concat: nn.Module | None = None
        else:
            self.hcma = None
            self.concat = nn.Linear(s_dim + freq_features, cfg.embed_dim)
        self.gate: nn.Linear | None = (
            nn.Linear(SIDA_DIM, cfg.embed_dim) if (cfg.use_sida and not cfg.use_hcma) else None
        )
        self.num_features = cfg.embed_dim
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.classifier = nn.Linear(cfg.embed_dim, 1)
        if isinstance(cfg.pretrained, str):
            self.load_weights(cfg.pretrained)
        if weights is not None:
            self.load_weights(weights)

    # ------------------------------------------------------------------ weights and checkpoints
    def load_weights(self, path: str | Path, strict: bool = True) -> None:
        """Load weights from a local safetensors or torch file (a state dict).

        A safetensors training state (``last.safetensors`` of a run) gives its model weights;
        a torch file is read with ``weights_only=True`` (never a full unpickling, which can run
        code), its weights under ``"model"`` when it holds more than a state dict.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            state = load_file(str(path))
            with safe_open(str(path), framework="pt") as fh:
                kind = (fh.metadata() or {}).get("format", "")
            if kind.startswith("freqforensics.TrainState/"):  # engine.state.STATE_FORMAT
                state = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("model", state)
        self.load_state_dict(state, strict=strict)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the weights as safetensors with the config as JSON metadata (atomically)."""
        from safetensors.torch import save_file

        from freqforensics._io import atomic_write_file

        path = Path(path)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        meta = {"format": CHECKPOINT_FORMAT, "config": self.config.to_json()}
        atomic_write_file(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
        return path

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> SFCLHCMF:
        """Build the model from a checkpoint written by :meth:`save_checkpoint`.

        ``overrides`` change config fields (e.g. ``pretrained=False`` is forced: the weights come
        from the file, no download).
        """
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("format") != CHECKPOINT_FORMAT or "config" not in meta:
            raise ValueError(
                f"{path} is not an SFCLHCMF checkpoint (metadata format={meta.get('format')!r}, "
                f"expected {CHECKPOINT_FORMAT!r})"
            )
        cfg = SFCLHCMFConfig.from_json(meta["config"]).replace(
            pretrained=False, spatial_weights=None, freq_weights=None
        )
        if overrides:
            cfg = cfg.replace(**overrides)
        model = cls(cfg)
        model.load_weights(path)
        return model

    # ------------------------------------------------------------------------------ forward
    def _check_images(self, images: torch.Tensor) -> None:
        check_tensor(images, "images")
        check_float(images, "images")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ShapeError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[-2:]) < 64:
            raise ShapeError(
                f"images must be at least 64 x 64 pixels, got {tuple(images.shape[-2:])}"
            )
        check_param_dtype(images, "images", self.classifier.weight.dtype, "SFCLHCMF")
        self._warn_if_not_unit_range(images)

    _range_checked = False  # instance flags (class defaults): the range check of forward
    _range_warned = False

    def _warn_if_not_unit_range(self, images: torch.Tensor) -> None:
        """Warn once per instance when ``images`` look like 0-255 pixels rather than [0, 1].

        Eager mode only: skipped while compiled, exported or traced (no graph break, no data-
        dependent branch). On an accelerator only the first call is checked (reading the
        minimum and maximum back costs a device sync); on the CPU every call until it warns.
        """
        if self._range_warned or images.numel() == 0 or is_tracing() or torch.jit.is_tracing():
            return
        if self._range_checked and images.device.type != "cpu":
            return
        self._range_checked = True
        lo, hi = (float(v) for v in torch.aminmax(images.detach()))
        if hi > 1.5 or lo < -0.5:
            self._range_warned = True
            warnings.warn(
                f"images range from {lo:g} to {hi:g}, far outside [0, 1]: SFCLHCMF expects RGB "
                "in [0, 1] (divide 0-255 pixel values by 255); this warning is shown once per "
                "model",
                UserWarning,
                stacklevel=2,
            )

    def _sida(self, images: torch.Tensor, sida: torch.Tensor | None) -> torch.Tensor | None:
        if not self.config.use_sida:
            return None
        if sida is None:
            with torch.no_grad():
                # float32 at least: the higher moments overflow float16
                sida = self.sida(images if images.dtype == torch.float64 else images.float())
        else:
            check_tensor(sida, "sida")
            check_float(sida, "sida", "a SIDA vector is float; convert it with sida.float()")
            if sida.shape != (images.shape[0], SIDA_DIM):
                raise ShapeError(
                    f"sida must have shape (N, {SIDA_DIM}) with N={images.shape[0]}, "
                    f"got {tuple(sida.shape)}"
                )
        d = torch.sign(sida) * torch.log1p(sida.abs())
        assert self.sida_norm is not None
        norm_dtype = next(self.sida_norm.parameters()).dtype  # float64 after model.double()
        return self.sida_norm(d.to(norm_dtype))

    def forward_intermediates(
        self, images: torch.Tensor, sida: torch.Tensor | None = None, attention: bool = False
    ) -> dict[str, torch.Tensor]:
        """Run the model and return its intermediate maps for visualisation and analysis.

        Keys: ``coeffs`` (block DCT), ``freq_local`` (SBCM output, or the normalised DCT),
        ``spatial_map`` and ``freq_map`` (the branches' last feature maps), ``sida`` (the
        normalised SIDA vector, when used), ``gate`` (the SIDA gate values), ``faae_attention``
        (when ``attention=True`` and FAAE is on: ``(N, hw, hw)``), ``hcma_tokens`` (when
        ``attention=True`` and HCMA is on: the fused spatial tokens before pooling and gating,
        ``(N, Ls, E)``), ``features`` (the fused vector) and ``logits``.
        """
        self._check_images(images)
        out: dict[str, torch.Tensor] = {}
        # Local frequency branch.
        coeffs = self.dct(images)
        out["coeffs"] = coeffs
        n, _, k, h, w = coeffs.shape
        x = self.band_norm(coeffs.reshape(n, 3 * k, h, w))
        freq_local = self.sbcm(x.view(n, 3, k, h, w)) if self.sbcm is not None else x
        out["freq_local"] = freq_local
        freq_map = self.cnn_f(freq_local)
        out["freq_map"] = freq_map
        # Spatial branch with FAAE after the stride-8 stage.
        sp = self.spatial
        s = sp.early(sp.stem((images - sp.mean) / sp.std))
        if self.faae is not None:
            if attention:
                s, attn = self.faae(s, freq_local, return_attention=True)
                out["faae_attention"] = attn
            else:
                s = self.faae(s, freq_local)
        spatial_map = sp.head(sp.late(s))
        out["spatial_map"] = spatial_map
        # Global branch and fusion.
        d = self._sida(images, sida)
        if d is not None:
            out["sida"] = d
        s_tok = rearrange(spatial_map, "n c h w -> n (h w) c")
        f_tok = rearrange(freq_map, "n c h w -> n (h w) c")
        if self.hcma is not None:
            tokens = self.hcma.token_features(s_tok, f_tok)
            if attention:
                out["hcma_tokens"] = tokens
            fused, gate = self.hcma.pool_and_gate(tokens, d)
        else:
            assert self.concat is not None
            fused = self.concat(torch.cat((s_tok.mean(1), f_tok.mean(1)), dim=1))
            gate = None
            if self.gate is not None and d is not None:
                gate = torch.sigmoid(self.gate(d))
                fused = fused * gate
        if gate is not None:
            out["gate"] = gate
        out["features"] = fused
        out["logits"] = self.forward_head(fused)
        return out

    def forward_features(
        self, images: torch.Tensor, sida: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The fused, gated feature vector ``(N, embed_dim)`` before the classifier."""
        return self.forward_intermediates(images, sida)["features"]

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Dropout and the linear classifier: ``(N, embed_dim)`` -> logits ``(N,)``."""
        x = self.head_drop(features)
        if pre_logits:
            return x
        return self.classifier(x).squeeze(-1)

    def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N,)`` (positive = fake) of ``images`` ``(N, 3, H, W)`` in [0, 1]."""
        return self.forward_intermediates(images, sida)["logits"]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those that require grad)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
