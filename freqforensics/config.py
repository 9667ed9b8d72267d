"""Run configurations: one frozen dataclass tree, loaded from YAML recipes with dotted overrides.

A run is described by :class:`RunConfig`, with four parts:

- ``model`` (:class:`ModelSection`): a registered model ``name`` (see
  :func:`freqforensics.list_models`) and every :class:`~freqforensics.models.SFCLHCMFConfig`
  field, whose defaults are that model's;
- ``data`` (:class:`DataSection`): where the crops come from (manifests, or the embedded
  self-blended data set) and which splits train and validate;
- ``train`` (:class:`TrainSection`): optimiser, schedule, epochs, seed;
- ``runtime`` (:class:`RuntimeSection`): device, threads, workers, progress bars, TF32 — the
  settings that change speed, not results.

Recipes live as YAML files in ``configs/``; OmegaConf does the typed merge of the defaults, the
file and ``section.key=value`` overrides (wrong types and unknown keys are errors naming the
key). The resolved config is written beside the run as ``config.yaml`` and is enough to rerun
it: ``freqforensics train --config runs/x/config.yaml --out runs/x``.

Example:
    >>> from freqforensics.config import load_config
    >>> cfg = load_config(overrides=["model.name=sfcl_hcmf_cpu", "train.lr=1e-4"])
    >>> cfg.model.img_size, cfg.train.lr, cfg.model.use_sida
    (128, 0.0001, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqforensics._io import atomic_write_text
from freqforensics.models.registry import default_config, list_models
from freqforensics.models.sfcl_hcmf import SFCLHCMFConfig

__all__ = [
    "RunConfig",
    "ModelSection",
    "DataSection",
    "TrainSection",
    "RuntimeSection",
    "DEFAULT_MODEL",
    "RESULT_NEUTRAL",
    "load_config",
    "config_to_dict",
    "config_to_yaml",
    "save_config",
    "config_differences",
]

#: The model a config without ``model.name`` builds.
DEFAULT_MODEL = "sfcl_hcmf_cpu"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelSection(SFCLHCMFConfig):
    """The model: a registered ``name`` plus every :class:`SFCLHCMFConfig` field.

    Fields a recipe leaves out take the defaults of the model ``name`` (``sfcl_hcmf``: the
    paper's; ``sfcl_hcmf_cpu``: the CPU-sized one).
    """

    name: str = DEFAULT_MODEL

    @classmethod
    def from_registry(cls, name: str) -> ModelSection:
        """The section holding the registered model's defaults."""
        base = default_config(name)
        return cls(name=name, **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})

    def model_config(self) -> SFCLHCMFConfig:
        """The :class:`SFCLHCMFConfig` this section describes (without ``name``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(SFCLHCMFConfig)}
        values["sbcm_channels"] = tuple(values["sbcm_channels"])
        values["sbcm_kernels"] = tuple(values["sbcm_kernels"])
        values["extra"] = dict(values["extra"])
        return SFCLHCMFConfig(**values)


@dataclass(frozen=True)
class DataSection:
    """The training data.

    Attributes:
        source: ``"manifests"`` (crops written by ``freqforensics preprocess``) or
            ``"embedded"`` (the self-blended photographs of
            :mod:`freqforensics.data.synthetic`, no download; ``make demo``).
        manifests: manifest files or their folders (``source: manifests``).
        train_split: manifest split to train on (``all``: every split).
        val_split: manifest split to validate on; ``null``: no validation (the last epoch's
            model is kept).
        videos: keep only videos whose id or name matches one of these shell patterns.
        pseudo_fakes: train on the real frames only, each paired with a self-blended
            pseudo-fake (fakes of the manifest are not used); a validation split that holds
            real frames only is validated against their pseudo-fakes (fixed blends).
        pseudo_method: ``sbi`` (self-blended images with landmark masks; crops without
            landmarks fall back to the ellipse) or ``ellipse``.
        real_pool: more manifests whose real frames (of every split, filtered by
            ``real_pool_videos``) join the training pool of pseudo-fakes, never validation
            (the in-domain video frames of the real-faces recipe).
        real_pool_videos: shell patterns selecting the ``real_pool`` videos.
        h264_p: pseudo-fake training: probability that a real face and its fake are both
            H.264 re-encoded with one CRF (:class:`~freqforensics.data.PseudoFakeDataset`).
        h264_crf: ``[low, high]`` of that CRF.
        quality_p: pseudo-fake training: probability that a real face and its fake are both
            softened or sharpened alike (:meth:`~freqforensics.data.PseudoFakeDataset.quality`).
        local_p: SBI pseudo-fakes: probability that a fake blends one part of the face
            (mouth, lower face, eyes or nose) instead of the whole face
            (:meth:`~freqforensics.data.PseudoFakeDataset.region`).
        cross_p: SBI pseudo-fakes: probability that a video crop's fake takes its source from
            another frame of the same video, aligned on the landmarks
            (:meth:`~freqforensics.data.PseudoFakeDataset.partner`).
        colour_p: pseudo-fake training: probability of each of SBI's colour changes of a real
            face and its fake alike (:func:`~freqforensics.data.sbi_transforms.view_transform`).
        real_repeat: list each real frame this many times (FF++ has four fakes per real).
        train_samples: embedded source: fresh samples per training epoch.
        val_samples: embedded source: validation samples.
        test_samples: embedded source: test samples.
    """

    source: str = "manifests"
    manifests: list[str] = field(default_factory=list)
    train_split: str = "train"
    val_split: str | None = "val"
    videos: list[str] | None = None
    pseudo_fakes: bool = False
    pseudo_method: str = "sbi"
    real_pool: list[str] = field(default_factory=list)
    real_pool_videos: list[str] | None = None
    h264_p: float = 0.0
    h264_crf: list[int] = field(default_factory=lambda: [18, 40])
    quality_p: float = 0.0
    local_p: float = 0.0
    cross_p: float = 0.0
    colour_p: float = 0.0
    real_repeat: int = 4
    train_samples: int = 1024
    val_samples: int = 256
    test_samples: int = 512

    def __post_init__(self) -> None:
        if self.source not in ("manifests", "embedded"):
            raise ValueError(
                f"data.source must be 'manifests' or 'embedded', got {self.source!r}"
            )
        if self.pseudo_method not in ("sbi", "ellipse"):
            raise ValueError(
                f"data.pseudo_method must be 'sbi' or 'ellipse', got {self.pseudo_method!r}"
            )
        for name in ("h264_p", "quality_p", "local_p", "cross_p", "colour_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"data.{name} must be in [0, 1], got {getattr(self, name)!r}")
        crf = self.h264_crf
        if len(crf) != 2 or not 0 <= crf[0] <= crf[1] <= 51:
            raise ValueError(f"data.h264_crf must be [low, high] with 0 <= low <= high <= 51, "
                             f"got {list(crf)!r}")
        if not _is_int(self.real_repeat) or self.real_repeat < 1:
            raise ValueError(f"data.real_repeat must be an int >= 1, got {self.real_repeat!r}")
        for name in ("train_samples", "val_samples", "test_samples"):
            value = getattr(self, name)
            if not _is_int(value) or value < 2 or value % 2:
                raise ValueError(f"data.{name} must be an even int >= 2 (half real, half "
                                 f"fake), got {value!r}")
        if self.real_pool and not self.pseudo_fakes:
            raise ValueError("data.real_pool needs data.pseudo_fakes: true (it adds real frames "
                             "to the pseudo-fake pool)")


@dataclass(frozen=True)
class TrainSection:
    """Optimisation (the paper's defaults: Adam, lr 1e-3, weight decay 1e-8, batch 20, 20 epochs).

    ``batch_size`` is per process. The paper trains with "a batch size of 20" on two GPUs and
    does not say whether that is per GPU or in total; the paper recipes read it as the total:
    ``batch_size: 10`` under ``torchrun --nproc-per-node 2``, or 20 on one GPU.
    ``sam_rho``: sharpness-aware minimisation around Adam with this radius (0: off; SBI trains
    with 0.05), at twice the cost of a step (:mod:`freqforensics.engine.sam`).
    ``precise_bn``: after training, recompute the BatchNorm running statistics of the best
    checkpoint over this many training batches (0: off).
    """

    epochs: int = 20
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-8
    scheduler: str = "none"
    warmup_steps: int = 0
    accumulate: int = 1
    grad_clip: float | None = None
    sam_rho: float = 0.0
    amp: bool = True
    max_steps_per_epoch: int | None = None
    checkpoint_every: int | None = None
    eval_batch_size: int | None = None
    precise_bn: int = 0
    seed: int = 0
    deterministic: bool = False


@dataclass(frozen=True)
class RuntimeSection:
    """Where and how fast the run goes; none of these change the numbers it produces beyond
    float rounding, except ``autocast``.

    Attributes:
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        threads: torch CPU threads (``null``: torch's default).
        workers: data loader worker processes.
        quiet: no progress bars.
        tf32: ``true`` allows TF32 matmuls and convolutions on CUDA (faster on Ampere and
            later), ``false`` forbids both, ``null`` leaves torch's defaults; the block DCT
            stays exact float32 either way.
        channels_last: the model's 4-D weights and the input images in channels-last (NHWC)
            memory format (faster convolutions on GPUs with tensor cores).
        autocast: ``bf16`` or ``fp16`` forces autocast to that dtype in training and
            evaluation on any device, the CPU included, whatever ``train.amp`` says (``fp16``
            with a loss scaler); ``null`` leaves mixed precision to ``train.amp`` (training on
            CUDA only). It changes the numbers (bfloat16 keeps 8 bits of mantissa): a run
            resumes only with the same value.
        compile: ``torch.compile`` (default mode) of the model for the forward passes of
            training and evaluation; checkpoints hold the plain model. The first steps are
            slower (compilation).
    """

    device: str = "auto"
    threads: int | None = None
    workers: int = 0
    quiet: bool = False
    tf32: bool | None = None
    channels_last: bool = False
    autocast: str | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        threads, workers = self.threads, self.workers
        if threads is not None and (not _is_int(threads) or threads < 1):
            raise ValueError(f"runtime.threads must be an int >= 1 or null, got {threads!r}")
        if not _is_int(workers) or workers < 0:
            raise ValueError(f"runtime.workers must be an int >= 0, got {workers!r}")
        if self.autocast not in (None, "bf16", "fp16"):
            raise ValueError(
                f"runtime.autocast must be bf16, fp16 or null, got {self.autocast!r}"
            )


@dataclass(frozen=True)
class RunConfig:
    """A whole run: model, data, training and runtime settings."""

    model: ModelSection = field(default_factory=lambda: ModelSection.from_registry(DEFAULT_MODEL))
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)


#: Settings that do not change what a run computes: a rerun may change them freely.
RESULT_NEUTRAL: frozenset[str] = frozenset(
    {"runtime.device", "runtime.threads", "runtime.workers", "runtime.quiet", "train.epochs"}
    | {"runtime.channels_last", "runtime.compile", "runtime.tf32"}  # speed, not results
    | {"train.precise_bn"}  # post-processing of the final weights, redone on each run
)


def _omegaconf() -> Any:
    try:
        import omegaconf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("configs need omegaconf: pip install 'freqforensics[train]'") from exc
    return omegaconf


def _user_error(err: Exception, source: str) -> ValueError:
    key = getattr(err, "full_key", None)
    message = str(getattr(err, "msg", None) or err).splitlines()[0]
    where = f" (key {key})" if key else ""
    return ValueError(f"{source}: {message}{where}")


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    model: str | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunConfig:
    """Build a :class:`RunConfig` from defaults, an optional YAML file and dotted overrides.

    Args:
        path: a YAML recipe (``configs/*.yaml``) or a run's ``config.yaml``; ``None``: the
            defaults.
        overrides: ``section.key=value`` strings applied last, in order (YAML syntax for
            values: ``model.sbcm_channels=[8,16,32]``, ``data.val_split=null``).
        model: the registered model name when neither the file, ``values`` nor the overrides
            give ``model.name``.
        values: ``{section: {key: value}}`` applied after the file and before ``overrides``
            (the command line's flags), typed and validated like the file.

    Raises:
        ValueError: a missing or malformed file, an unknown key, a value of the wrong type or
            an unknown model name, naming the file and the key.
    """
    oc = _omegaconf()
    source = str(path) if path is not None else "config"
    try:
        if path is not None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"config file not found: {path}")
            raw = oc.OmegaConf.load(path)
            if not isinstance(raw, oc.DictConfig):
                raise ValueError(
                    f"{path}: expected a mapping of sections (model, data, train, runtime)"
                )
        else:
            raw = oc.OmegaConf.create()
        for item in overrides:
            if "=" not in item or not item.split("=", 1)[0].strip():
                raise ValueError(f"override must look like section.key=value, got {item!r}")
        dots = oc.OmegaConf.from_dotlist(list(overrides))
        given = oc.OmegaConf.create(_plain(dict(values or {})))
        untyped = oc.OmegaConf.merge(raw, given, dots)
        name = oc.OmegaConf.select(untyped, "model.name", default=None) or model or DEFAULT_MODEL
        if name not in list_models():
            raise ValueError(f"model.name must be one of {list_models()}, got {name!r}")
        schema = oc.OmegaConf.structured(RunConfig(model=ModelSection.from_registry(name)))
        merged = oc.OmegaConf.merge(schema, raw, given, dots)
        config = oc.OmegaConf.to_object(merged)
    except oc.errors.OmegaConfBaseException as err:
        raise _user_error(err, source) from None
    except (FileNotFoundError, ValueError) as err:
        text = str(err)
        raise ValueError(text if text.startswith(source) else f"{source}: {text}") from None
    except Exception as err:  # yaml.YAMLError and friends: a malformed file
        raise ValueError(f"{source}: cannot read it as YAML: {str(err).splitlines()[0]}") from None
    assert isinstance(config, RunConfig)  # to_object of a RunConfig schema
    return config


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain dicts, lists and scalars (``name`` first in ``model``)."""
    data = _plain(config)
    data["model"] = {"name": data["model"].pop("name"), **data["model"]}
    return data


def config_to_yaml(config: RunConfig) -> str:
    """The config as YAML text, every field explicit (so it reruns identically)."""
    oc = _omegaconf()
    return str(oc.OmegaConf.to_yaml(oc.OmegaConf.create(config_to_dict(config))))


def save_config(config: RunConfig, path: str | Path) -> Path:
    """Write :func:`config_to_yaml` to ``path`` atomically; return the path."""
    atomic_write_text(path, config_to_yaml(config))
    return Path(path)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "extra":
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(
    stored: RunConfig, requested: RunConfig, ignore: frozenset[str] = RESULT_NEUTRAL
) -> list[str]:
    """The dotted keys whose values differ, as ``key: stored -> requested`` lines."""
    a = _flatten(config_to_dict(stored))
    b = _flatten(config_to_dict(requested))
    return [
        f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if key not in ignore and a.get(key) != b.get(key)
    ]
