"""Input validation shared by the whole library.

Every public function and module validates its input here and raises
:class:`ShapeError` (a :class:`ValueError`) or :class:`TypeError` naming the argument, what was
received and what was expected. Nothing is ever checked with ``assert``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "ShapeError",
    "check_tensor",
    "check_float",
    "check_ndim",
    "check_dim_size",
    "check_multiple",
    "check_positive_int",
    "check_choice",
    "check_rgb_uint8",
    "check_nonempty",
    "check_param_dtype",
    "autocast_active",
]

# torch.is_autocast_enabled(device_type) exists from torch 2.4 on; before, it meant CUDA only.
_AUTOCAST_BY_DEVICE = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)


class ShapeError(ValueError):
    """A tensor argument has the wrong shape, size or dtype (a :class:`ValueError`)."""


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Raise :class:`TypeError` unless ``x`` is a tensor; return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(x: torch.Tensor, name: str, hint: str | None = None, image: bool = False) -> None:
    """Raise unless ``x`` has a floating-point dtype (``hint``: how to fix it; ``image``: ``x``
    holds pixels, so the default hint tells how to scale uint8 images)."""
    if not x.is_floating_point():
        scale = f"{name}.float() / 255 for uint8 images" if image else f"{name}.float()"
        hint = hint or f"convert it first, e.g. {scale}"
        raise ShapeError(
            f"{name} must be a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got dtype {x.dtype}; {hint}"
        )


def check_ndim(x: torch.Tensor, name: str, min_ndim: int, layout: str) -> None:
    """Raise unless ``x`` has at least ``min_ndim`` dimensions."""
    if x.ndim < min_ndim:
        raise ShapeError(
            f"{name} must have at least {min_ndim} dimensions {layout}, "
            f"got shape {tuple(x.shape)} ({x.ndim} dimensions)"
        )


def check_dim_size(x: torch.Tensor, name: str, dim: int, size: int, layout: str) -> None:
    """Raise unless ``x.shape[dim] == size``."""
    if x.shape[dim] != size:
        raise ShapeError(
            f"{name} must have size {size} at dimension {dim} {layout}, "
            f"got shape {tuple(x.shape)}"
        )


def check_multiple(
    x: torch.Tensor, name: str, block_size: int, hint: str = "crop or pad it"
) -> None:
    """Raise unless the last two sizes of ``x`` are multiples of ``block_size``."""
    h, w = x.shape[-2], x.shape[-1]
    for label, size in (("H", h), ("W", w)):
        if size % block_size or size == 0:
            raise ShapeError(
                f"{name} has shape {tuple(x.shape)}: {label}={size} is not a positive multiple "
                f"of block_size={block_size}; {hint}"
            )


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Raise unless ``value`` is an int >= ``minimum``; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for a
    one-line error that wraps it."""
    text = str(err)
    return text.splitlines()[0] if text else type(err).__name__


def check_loader_args(batch_size: object, workers: object, workers_name: str = "workers") -> None:
    """Raise unless ``batch_size`` is an int >= 1 and ``workers`` an int >= 0 (data loader
    arguments, checked before torch's ``DataLoader`` sees them)."""
    check_positive_int(batch_size, "batch_size")
    check_positive_int(workers, workers_name, minimum=0)


def check_face_scale(scale: object) -> float:
    """Raise unless ``scale`` (the face box's scale) is a finite positive number; return it."""
    number = not isinstance(scale, bool) and isinstance(scale, (int, float))
    if not (number and math.isfinite(scale) and scale > 0):  # type: ignore[arg-type, operator]
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    return float(scale)  # type: ignore[arg-type]


def check_upsample(upsample: object) -> int:
    """Raise unless ``upsample`` (dlib's detector upsampling) is 0 or 1; return it."""
    if isinstance(upsample, bool) or upsample not in (0, 1):
        raise ValueError(f"upsample must be 0 or 1, got {upsample!r}")
    return int(upsample)  # type: ignore[call-overload]


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of ``choices``; return it."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


def check_probability(value: object, name: str) -> float:
    """Raise unless ``value`` is a number in [0, 1]; return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_int_range(value: object, name: str, low: int, high: int) -> tuple[int, int]:
    """Raise unless ``value`` is ``(lo, hi)`` ints with ``low <= lo <= hi <= high``."""
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
        and low <= value[0] <= value[1] <= high
    )
    if not ok:
        raise ValueError(
            f"{name} must be (low, high) ints with {low} <= low <= high <= {high}, got {value!r}"
        )
    return int(value[0]), int(value[1])  # type: ignore[index]


def check_rgb_uint8(image: object, name: str = "image") -> np.ndarray:
    """Raise unless ``image`` is an RGB ``uint8`` array ``(H, W, 3)``; return it."""
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy uint8 array (H, W, 3), got {type(image).__name__}"
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        if image.dtype != np.uint8:
            hint = "convert float images with (x * 255).round().astype(np.uint8)"
        elif image.ndim == 3 and image.shape[0] == 3:
            hint = f"for a channels-first image use {name}.transpose(1, 2, 0)"
        elif image.ndim == 2:
            hint = f"for a grey image use np.stack([{name}] * 3, axis=-1)"
        elif image.ndim == 3 and image.shape[2] == 4:
            hint = f"for RGBA use {name}[..., :3]"
        else:
            hint = "pass one RGB image, height x width x 3"
        raise ValueError(
            f"{name} must be an RGB uint8 array of shape (H, W, 3), got dtype {image.dtype} and "
            f"shape {image.shape}; {hint}"
        )
    return image


def check_nonempty(
    x: torch.Tensor, name: str, dims: Sequence[int], labels: Sequence[str], layout: str
) -> None:
    """Raise unless the sizes of ``x`` at ``dims`` (the grid or token axes) are non-zero.

    An empty batch (``N = 0``) is not checked here: the layers accept it and return an empty
    output. An empty grid or token sequence has nothing to convolve or attend over.
    """
    for dim, label in zip(dims, labels):
        if x.shape[dim] == 0:
            raise ShapeError(
                f"{name} must have a non-empty {label} axis {layout}, got shape "
                f"{tuple(x.shape)} ({label}=0)"
            )


def autocast_active(device_type: str) -> bool:
    """Whether autocast is enabled for ``device_type`` (``"cpu"``, ``"cuda"`` ...)."""
    if _AUTOCAST_BY_DEVICE:
        return bool(torch.is_autocast_enabled(device_type))
    if device_type == "cpu":  # pragma: no cover - torch < 2.4
        return bool(torch.is_autocast_cpu_enabled())
    return bool(torch.is_autocast_enabled())  # pragma: no cover


def check_param_dtype(x: torch.Tensor, name: str, dtype: torch.dtype, owner: str) -> None:
    """Raise unless ``x`` has ``dtype``, the dtype of ``owner``'s parameters (outside autocast).

    The library's dtype rule for modules with parameters: the first input must have the
    parameters' dtype (nothing is cast silently that would lose precision or double memory);
    the other inputs are cast to the first one's dtype. Under autocast neither applies.
    """
    if x.dtype != dtype and not autocast_active(x.device.type):
        raise ShapeError(
            f"{name} has dtype {x.dtype}, but the parameters of {owner} are {dtype}; convert "
            f"the input ({name}.to({dtype})) or the {owner} module (.to({x.dtype})), or run "
            "under torch.autocast"
        )


def resolve_device(spec: object, name: str = "device") -> torch.device:
    """Parse a device argument: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:i]"``.

    Raises:
        ValueError: an unknown spec, or CUDA asked for on a machine without it.
    """
    if isinstance(spec, torch.device):
        device = spec
    elif spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(spec)  # type: ignore[call-overload]
        except (RuntimeError, TypeError):
            raise ValueError(f"{name} must be auto, cpu or cuda[:i], got {spec!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {spec}: CUDA is not available on this machine; use cpu")
    return device


class UnitRangeCheck:
    """Warn once when images look like 0-255 pixels rather than RGB in [0, 1].

    Args:
        owner: what expects [0, 1] (named in the warning).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.checked = False
        self.warned = False

    def __call__(self, lo: float, hi: float, stacklevel: int = 3) -> None:
        """Check the value range ``[lo, hi]``; warn the first time it is far outside [0, 1]."""
        self.checked = True
        if self.warned or not (hi > 1.5 or lo < -0.5):
            return
        self.warned = True
        import warnings

        warnings.warn(
            f"images range from {lo:g} to {hi:g}, far outside [0, 1]: {self.owner} expects RGB "
            "in [0, 1] (divide 0-255 pixel values by 255); this warning is shown once",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_batchnorm_values(module: torch.nn.Module, x: torch.Tensor, name: str, values: int,
                           owner: str) -> None:
    """Raise where ``module`` trains and its BatchNorm would see one value per channel."""
    if module.training and values == 1:
        raise ShapeError(
            f"{owner} in training mode normalises over the batch (BatchNorm), and {name} of "
            f"shape {tuple(x.shape)} gives it one value per channel: use a batch of at least 2, "
            "or call .eval()"
        )


def check_bool(value: object, name: str) -> bool:
    """Raise unless ``value`` is True or False (a str such as ``"no"`` is truthy); return it."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value
