"""The reference detector SFCL-HCMF (paper Figure 2), assembled from the library's layers."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from einops import rearrange
from torch import nn

from freqforensics._checks import (
    ShapeError,
    UnitRangeCheck,
    check_bool,
    check_float,
    check_param_dtype,
    check_tensor,
)
from freqforensics._tracing import is_tracing
from freqforensics.layers import FAAE, HCMA, SBCM, SIDA, SIDA_DIM, BlockDCT, SIDAGate
from freqforensics.models.backbones import _cnn_f, _SpatialBranch

__all__ = ["SFCLHCMF", "SFCLHCMFConfig", "Features", "CHECKPOINT_FORMAT", "pretrained_cfg_for"]

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
        pretrained: ``True`` asks timm for ImageNet weights of both backbones (needs a network;
            CNN-F's rebuilt ``block2`` stays random); ``False`` starts from scratch; a path
            (``str``) loads a local file of the whole detector's weights (safetensors from
            :meth:`SFCLHCMF.save_checkpoint`, or a torch state dict) after construction, with no
            download. :meth:`SFCLHCMF.from_checkpoint` also restores the config.
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
        size = self.img_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 64:
            raise ValueError(f"img_size must be an int >= 64, got {size!r}")
        rate = self.drop_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError(f"drop_rate must be a number in [0, 1), got {rate!r}")
        for name in ("use_sbcm", "use_faae", "use_hcma", "use_sida", "faae_zero_init"):
            check_bool(getattr(self, name), name)
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

    Keys: ``input_size`` ``(3, S, S)``; ``mean``, ``std`` (0 and 1: feed RGB in [0, 1], the model
    normalises inside); ``interpolation`` (``bilinear``); ``sida_from`` (``"original_crop"``:
    SIDA of the face crop before the resize); ``crop`` (dlib box, 1.3x, on the 8-pixel grid);
    ``file``, ``url`` (whole-detector weights, or ``None``); ``num_classes`` (1, positive = fake).
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


class Features(NamedTuple):
    """The unpooled outputs of the three branches, from :meth:`SFCLHCMF.forward_features`.

    Attributes:
        spatial: the spatial branch's last map :math:`(N, C_s, h, w)`, after FAAE and the last
            stage (EfficientNet-B4: 1792 channels, 12 x 12 at 380 pixels).
        frequency: CNN-F's output map :math:`(N, C_f, h', w')` (Xception: 2048 channels).
        sida: the SIDA vector :math:`(N, 2304)` as the gate reads it (signed ``log1p`` and
            BatchNorm), or ``None`` when ``use_sida`` is off.
    """

    spatial: torch.Tensor
    frequency: torch.Tensor
    sida: torch.Tensor | None


class SFCLHCMF(nn.Module):
    r"""SFCL-HCMF: spatial-frequency collaborative learning with hierarchical fusion (Figure 2).

    - Spatial branch: a timm EfficientNet (B4: 1792 features) with :class:`~freqforensics.FAAE`
      after its stride-8 stage, fed by the local branch's SBCM output (eqs. 10 to 13).
    - Local frequency branch: :class:`~freqforensics.BlockDCT` (YCbCr, zigzag; cropped to the
      8-pixel grid), a per-band BatchNorm, :class:`~freqforensics.SBCM`, then CNN-F (timm
      ``legacy_xception`` without its RGB stem and ``block1``; 2048 features).
    - Global frequency branch: :class:`~freqforensics.SIDA` (2304 statistics) of the
      original-resolution face crop when ``forward(images, sida=...)`` is given it, else of
      ``images``; compressed by a signed ``log1p`` and a BatchNorm.
    - Fusion: :class:`~freqforensics.HCMA` over the two branches' last feature maps as token
      sequences, gated by the SIDA vector (:class:`~freqforensics.SIDAGate`); dropout and a
      linear classifier to one logit (positive = fake).

    timm's split: :meth:`forward_features` returns the branches' unpooled outputs
    (:class:`Features`), :meth:`forward_head` fuses, pools, gates and classifies them;
    ``forward(x) == forward_head(forward_features(x))``. :meth:`forward_intermediates` also
    returns the maps along the way (FAAE attention, HCMA tokens, gate) for visualisation.
    The design page says where the paper leaves a choice open and what the library chose.

    Args:
        config: the configuration (defaults: the paper's model).
        weights: optional path of a local checkpoint (:meth:`save_checkpoint` format, or a plain
            safetensors / torch state dict) loaded after construction.

    Input rules (the library's, see the conventions page): ``images`` must have the dtype of
    the parameters outside autocast (else a :class:`~freqforensics._checks.ShapeError`; nothing
    is cast silently); ``sida`` must be floating point and is cast to the parameters' dtype.
    Images far outside [0, 1] (e.g. 0-255 pixel values) get a one-time :class:`UserWarning`, in
    eager mode only. NaN and inf are not checked: they propagate to the logits.

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
        self._range_check = UnitRangeCheck("SFCLHCMF")  # the 0-255 warning, once per model
        self.spatial = _SpatialBranch(cfg.spatial_backbone, cfg.pretrained, cfg.spatial_weights)
        self.dct = BlockDCT(color="ycbcr", crop=True)
        self.band_norm = nn.BatchNorm2d(3 * 64)
        self.sbcm: SBCM | None = None
        freq_in = 3 * 64  # without SBCM the normalised DCT channels go straight to CNN-F
        if cfg.use_sbcm:
            self.sbcm = SBCM(3, cfg.sbcm_channels, cfg.sbcm_kernels, cfg.sbcm_out_bands)
            freq_in = self.sbcm.out_features
        self.cnn_f, self.freq_features = _cnn_f(
            cfg.freq_backbone, freq_in, cfg.xception_middle_blocks, cfg.pretrained, cfg.freq_weights
        )
        self.faae: FAAE | None = None
        if cfg.use_faae:
            c8, qk, zero = self.spatial.stride8_channels, cfg.faae_qk_dim, cfg.faae_zero_init
            self.faae = FAAE(c8, freq_in, qk_dim=qk, zero_init=zero)
        self.sida = SIDA()
        self.sida_norm: nn.Module | None = nn.BatchNorm1d(SIDA_DIM) if cfg.use_sida else None
        s_dim, gate_dim = self.spatial.num_features, (SIDA_DIM if cfg.use_sida else None)
        # Without SIDA no gate is built: no dead weights in the parameter count, the optimiser
        # or DistributedDataParallel (which fails on unused parameters).
        self.hcma: HCMA | None = None
        self.concat: nn.Linear | None = None
        self.gate: SIDAGate | None = None  # the concatenation path's gate (HCMA has its own)
        if cfg.use_hcma:
            self.hcma = HCMA(s_dim, self.freq_features, cfg.embed_dim, cfg.num_heads, gate_dim)
        else:
            self.concat = nn.Linear(s_dim + self.freq_features, cfg.embed_dim)
            if gate_dim is not None:
                self.gate = SIDAGate(gate_dim, cfg.embed_dim)
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

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is unreadable, or its weights do not fit this model (naming
                the settings it was saved with that differ, where it records them).
        """
        from freqforensics.models.weights import load_state

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        load_state(self, path, json.loads(self.config.to_json()), strict=strict)

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
        from freqforensics.models.weights import read_metadata

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        meta = read_metadata(path)
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
        check_float(images, "images", image=True)
        if images.ndim != 4 or images.shape[1] != 3:
            raise ShapeError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[-2:]) < 64:
            raise ShapeError(
                f"images must be at least 64 x 64 pixels, got {tuple(images.shape[-2:])}"
            )
        check_param_dtype(images, "images", self.classifier.weight.dtype, "SFCLHCMF")
        self._warn_if_not_unit_range(images)

    def _warn_if_not_unit_range(self, images: torch.Tensor) -> None:
        """Warn once per instance when ``images`` look like 0-255 pixels rather than [0, 1].

        Eager mode only (no graph break while compiled, exported or traced). On an accelerator
        only the first call is checked (it costs a device sync); on the CPU every call.
        """
        check = self._range_check
        if check.warned or images.numel() == 0 or is_tracing() or torch.jit.is_tracing():
            return
        if check.checked and images.device.type != "cpu":
            return
        lo, hi = (float(v) for v in torch.aminmax(images.detach()))
        check(lo, hi, stacklevel=3)

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

    def _branches(
        self, images: torch.Tensor, sida: torch.Tensor | None, attention: bool
    ) -> tuple[Features, dict[str, torch.Tensor]]:
        """The three branches: their :class:`Features` and the maps along the way."""
        self._check_images(images)
        maps: dict[str, torch.Tensor] = {}
        # Local frequency branch: block DCT, per-band BatchNorm, SBCM, CNN-F.
        coeffs = self.dct(images)
        maps["coeffs"] = coeffs
        n, _, k, h, w = coeffs.shape
        x = self.band_norm(coeffs.reshape(n, 3 * k, h, w))
        freq_local = self.sbcm(x.view(n, 3, k, h, w)) if self.sbcm is not None else x
        maps["freq_local"] = freq_local
        freq_map = self.cnn_f(freq_local)
        # Spatial branch with FAAE after the stride-8 stage.
        sp = self.spatial
        s = sp.early(sp.stem(sp.normalize(images)))
        if self.faae is not None:
            if attention:
                s, maps["faae_attention"] = self.faae(s, freq_local, return_attention=True)
            else:
                s = self.faae(s, freq_local)
        spatial_map = sp.head(sp.late(s))
        return Features(spatial_map, freq_map, self._sida(images, sida)), maps

    def _fuse(self, features: Features) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """Fusion, pooling and the SIDA gate: ``(embedding, gate, HCMA tokens)``."""
        if not isinstance(features, tuple) or len(features) != 3:
            kind = type(features).__name__
            raise TypeError(f"features must be the Features of forward_features, got {kind}")
        spatial, frequency, d = features
        channels = {"spatial": self.spatial.num_features, "frequency": self.freq_features}
        for (name, c), x in zip(channels.items(), (spatial, frequency)):
            check_tensor(x, f"features.{name}")
            check_float(x, f"features.{name}")
            if x.ndim != 4 or x.shape[1] != c or x.shape[0] != spatial.shape[0]:
                raise ShapeError(
                    f"features.{name} must have shape (N, {c}, h, w) with N={spatial.shape[0]}, "
                    f"got {tuple(x.shape)}"
                )
        if not self.config.use_sida:
            d = None  # no gate: ignored, as forward(sida=...) ignores it
        elif d is None:
            raise ValueError("features.sida is None, but this model has the SIDA gate (use_sida)")
        s_tok = rearrange(spatial, "n c h w -> n (h w) c")
        f_tok = rearrange(frequency, "n c h w -> n (h w) c")
        if self.hcma is not None:
            tokens = self.hcma.token_features(s_tok, f_tok)
            fused, gate = self.hcma.pool_and_gate(tokens, d)  # d's shape is checked there
            return fused, gate, tokens
        assert self.concat is not None
        fused = self.concat(torch.cat((s_tok.mean(1), f_tok.mean(1)), dim=1))
        gate = None
        if self.gate is not None and d is not None:
            fused, gate = self.gate(fused, d, return_gate=True)
        return fused, gate, None

    def _logits(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_drop(embedding)).squeeze(-1)

    def forward_features(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> Features:
        """The branches' unpooled outputs: spatial map, frequency map and SIDA vector.

        Args:
            images: RGB :math:`(N, 3, H, W)` in [0, 1].
            sida: optional precomputed SIDA vector :math:`(N, 2304)` of the original-resolution
                face crops (computed from ``images`` when omitted; unused without SIDA).

        Returns:
            :class:`Features` ``(spatial, frequency, sida)``; ``sida`` is ``None`` when
            ``use_sida`` is off.
        """
        return self._branches(images, sida, attention=False)[0]

    def forward_head(self, features: Features, pre_logits: bool = False) -> torch.Tensor:
        """Fusion, pooling, the SIDA gate and the classifier: :class:`Features` -> logits.

        HCMA over the two maps as token sequences and the mean over its tokens (``use_hcma``
        off: the mean-pooled maps concatenated, through a linear layer), the SIDA gate, then
        dropout (``drop_rate``) and the linear classifier.

        Args:
            features: the :class:`Features` of :meth:`forward_features`.
            pre_logits: return the gated embedding ``(N, embed_dim)``, before the dropout.

        Returns:
            logits :math:`(N,)` (positive = fake), or the embedding with ``pre_logits``.
        """
        fused = self._fuse(features)[0]
        return fused if pre_logits else self._logits(fused)

    def forward_intermediates(
        self, images: torch.Tensor, sida: torch.Tensor | None = None, attention: bool = False
    ) -> dict[str, torch.Tensor]:
        """Run the model and return its intermediate maps for visualisation and analysis.

        Keys: ``coeffs`` (block DCT), ``freq_local`` (SBCM output, or the normalised DCT),
        ``spatial_map``, ``freq_map`` and ``sida`` (the :class:`Features`; ``sida`` when used),
        ``gate`` (the SIDA gate values), ``faae_attention`` (with ``attention=True`` and FAAE:
        ``(N, hw, hw)``), ``hcma_tokens`` (with ``attention=True`` and HCMA: the fused spatial
        tokens before pooling and gating, ``(N, Ls, E)``), ``features`` (the gated embedding,
        as ``forward_head(..., pre_logits=True)``) and ``logits``.
        """
        features, out = self._branches(images, sida, attention)
        out["freq_map"], out["spatial_map"] = features.frequency, features.spatial
        if features.sida is not None:
            out["sida"] = features.sida
        fused, gate, tokens = self._fuse(features)
        if gate is not None:
            out["gate"] = gate
        if attention and tokens is not None:
            out["hcma_tokens"] = tokens
        out["features"] = fused
        out["logits"] = self._logits(fused)
        return out

    def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N,)`` (positive = fake) of ``images`` ``(N, 3, H, W)`` in [0, 1].

        The same as ``forward_head(forward_features(images, sida))``.
        """
        return self.forward_head(self.forward_features(images, sida))

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those that require grad)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
