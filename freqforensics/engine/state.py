"""The resumable training state on disk, without pickle.

A :class:`~freqforensics.engine.Trainer` state (weights, optimiser, scheduler, scaler, RNG
states, epoch, step, history, settings) is a tree of dicts, lists and tuples whose leaves are
tensors, NumPy arrays, numbers, strings, booleans and ``None``. :func:`save_train_state` splits
it into a flat ``{key: tensor}`` dict, written as safetensors, and a JSON skeleton of the rest,
written into the same file's metadata: one file, replaced atomically, so the two parts always
belong together. :func:`load_train_state` reads it back exactly (``float`` through ``repr``,
integers and NumPy ``uint32`` RNG words unchanged). Neither part can run code when read, unlike
a pickle, which this package never loads (``torch.load`` only ever with ``weights_only=True``):
a training state from an older version (``last.pt``, a pickle) is refused unread, with a
message saying how to start over.

In the JSON skeleton every dict is ``{"__dict__": [[key, value], ...]}`` (keys stay ints or
strings, as the optimiser's per-parameter state needs), a tuple is ``{"__tuple__": [...]}``, a
tensor is ``{"__tensor__": key}`` and an array is ``{"__ndarray__": key, "dtype": ...}``; lists,
numbers, strings, booleans and ``None`` are themselves.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqforensics._io import atomic_write, atomic_write_file

__all__ = [
    "STATE_FILE",
    "LEGACY_STATE_FILE",
    "STATE_FORMAT",
    "TrainStateError",
    "save_train_state",
    "save_tensors",
    "load_train_state",
    "legacy_state_message",
    "config_differences",
    "check_resumable",
    "save_model",
    "atomic_save",
    "RESULT_NEUTRAL_FIELDS",
]

#: File name of the training state in a run folder.
STATE_FILE = "last.safetensors"
#: File name of the pickled training state of older versions (never loaded).
LEGACY_STATE_FILE = "last.pt"
#: Value of the ``format`` metadata key of a training state file.
STATE_FORMAT = "freqforensics.TrainState/1"

#: :class:`~freqforensics.engine.TrainConfig` fields that may change between a run and its
#: resumption: they change speed, placement or output, not what is trained (``epochs`` may
#: grow: that extends the run; ``tf32``, ``channels_last`` and ``compile``, like ``device``,
#: change float32 rounding only, as the run's ``runtime`` section does; ``autocast`` is not
#: among them: it changes the numbers, as ``amp`` does).
RESULT_NEUTRAL_FIELDS = frozenset(
    {"num_workers", "device", "progress", "eval_batch_size", "checkpoint_every", "tf32"}
    | {"channels_last", "compile"}
)

_RESTART = "rerun with --restart (Trainer.fit(resume=False)) to start over"


class TrainStateError(ValueError):
    """A training state file that cannot be resumed from (corrupt, foreign or too old)."""


def legacy_state_message(path: str | Path) -> str:
    """The one-line refusal of a pickled ``last.pt`` of an older version."""
    return (
        f"{path} is a training state from an older version (pickle), which freqforensics no "
        f"longer loads; {_RESTART}"
    )


# ------------------------------------------------------------------------------------ encode
class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._storages: set[int] = set()

    def _key(self, path: str) -> str:
        key, n = path or "_", 1
        while key in self.tensors:
            key, n = f"{path}#{n}", n + 1
        return key

    def _tensor(self, path: str, tensor: torch.Tensor) -> str:
        key = self._key(path)
        tensor = tensor.detach().cpu().contiguous()
        storage = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        if storage and storage in self._storages:  # safetensors refuses shared memory
            tensor = tensor.clone()
        elif storage:
            self._storages.add(storage)
        self.tensors[key] = tensor
        return key

    def encode(self, value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            return {"__tensor__": self._tensor(path, value)}
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise TypeError(
                    f"training state entry {path!r} is a {value.dtype} array; expected a "
                    "boolean, integer or float array"
                )
            wide = value.astype(np.float64 if value.dtype.kind == "f" else np.int64)
            key = self._tensor(path, torch.from_numpy(np.ascontiguousarray(wide)))
            return {"__ndarray__": key, "dtype": value.dtype.str}
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            pairs = []
            for key, item in value.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(
                        f"training state entry {path!r} has a key {key!r} of type "
                        f"{type(key).__name__}; expected str or int keys"
                    )
                pairs.append([key, self.encode(item, f"{path}.{key}" if path else str(key))])
            return {"__dict__": pairs}
        raise TypeError(
            f"training state entry {path!r} is a {type(value).__name__}, which cannot be saved "
            "without pickle; expected tensors, arrays, numbers, strings, lists, tuples or dicts"
        )


def _decode(value: Any, tensors: Mapping[str, torch.Tensor] | None) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__dict__" in value:
        return {key: _decode(item, tensors) for key, item in value["__dict__"]}
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__tensor__" in value:
        return None if tensors is None else tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        if tensors is None:
            return None
        return tensors[value["__ndarray__"]].numpy().astype(np.dtype(value["dtype"]))
    raise ValueError(f"unknown entry {sorted(value)} in the state's JSON skeleton")


# ---------------------------------------------------------------------------------- file I/O
def save_tensors(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``{name: tensor}`` as safetensors atomically (tensors sharing memory are copied).

    Args:
        path: the file.
        tensors: the tensors (a model's ``state_dict()``, say); moved to the CPU.
        metadata: string metadata of the file's header.

    Returns:
        ``path``.
    """
    encoder = _Encoder()
    names = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"tensors[{name!r}] must be a torch.Tensor, got {type(tensor).__name__}"
            )
        names[name] = encoder._tensor(name, tensor)
    return _write(Path(path), {name: encoder.tensors[key] for name, key in names.items()}, metadata)


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> Path:
    from safetensors.torch import save_file

    atomic_write_file(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return path


def save_train_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: tensors as safetensors, the rest as JSON metadata.

    Args:
        path: the file (conventionally ``<out>/last.safetensors``).
        state: a dict tree of tensors, NumPy arrays, numbers, strings, booleans, ``None``,
            lists, tuples and dicts with ``str`` or ``int`` keys.

    Returns:
        ``path``.

    Raises:
        TypeError: an entry of another type (named by its dotted key).
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    encoder = _Encoder()
    skeleton = encoder.encode(state, "")
    metadata = {"format": STATE_FORMAT, "state": json.dumps(skeleton)}
    return _write(Path(path), encoder.tensors, metadata)


def load_train_state(path: str | Path, tensors: bool = True) -> dict[str, Any]:
    """Read a state written by :func:`save_train_state`; nothing in the file can run code.

    Args:
        path: the state file.
        tensors: ``False`` reads only the header (settings, epoch, history), tensors are
            ``None``: a cheap check that the file is whole and what it holds.

    Raises:
        TrainStateError: the file is missing, truncated, corrupt or not a training state; the
            message (one line) names the file and says how to start over.
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != STATE_FORMAT or "state" not in meta:
                raise ValueError(
                    f"metadata format={meta.get('format')!r}, expected {STATE_FORMAT!r}"
                )
            loaded = {k: fh.get_tensor(k) for k in fh.keys()} if tensors else None
        state = _decode(json.loads(meta["state"]), loaded)
        if not isinstance(state, dict):
            raise ValueError(f"the state is a {type(state).__name__}, expected a dict")
    except Exception as err:  # noqa: BLE001 - any failure to read it is the file's
        reason = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, KeyError):
            reason = f"missing tensor {reason}"
        raise TrainStateError(
            f"cannot read the training state {path}: {reason}; it is truncated, corrupt or not "
            f"written by freqforensics; {_RESTART}"
        ) from None
    return state


# ------------------------------------------------------------------------------ drift check
def config_differences(stored: Mapping[str, Any], current: Any) -> list[str]:
    """The settings of ``current`` (a ``TrainConfig``) that differ from a stored run's.

    Fields in :data:`RESULT_NEUTRAL_FIELDS` are ignored and ``epochs`` may grow (extending a
    run); every other differing field gives one ``"name: stored -> current"`` entry.
    """
    now = dataclasses.asdict(current)
    out = []
    for name, value in now.items():
        if name in RESULT_NEUTRAL_FIELDS or name not in stored:
            continue
        old = stored[name]
        if name == "epochs" and isinstance(old, int) and value >= old:
            continue
        if old != value:
            out.append(f"{name}: {old!r} -> {value!r}")
    return out


def check_resumable(path: str | Path, state: Mapping[str, Any], config: Any, n_train: int) -> None:
    """Refuse to resume ``state`` (read from ``path``) under other settings or another data set.

    Raises:
        TrainStateError: naming every setting that changed (:func:`config_differences`) and a
            changed training set size.
    """
    changed = config_differences(state.get("config", {}), config)
    n_then = state.get("sampler", {}).get("n", n_train)
    if n_then != n_train:
        changed.append(f"training set size: {n_then} -> {n_train}")
    if changed:
        raise TrainStateError(
            f"{path} was saved with other settings ({'; '.join(changed)}); use the same "
            "settings to resume (raising epochs extends a run), or rerun with --restart "
            "(Trainer.fit(resume=False)) to start over"
        )


def save_model(model: torch.nn.Module, path: Path) -> None:
    """The trainer's default ``save_best``: ``model.save_checkpoint(path)`` when the model has
    one, else its state dict as safetensors."""
    save = getattr(model, "save_checkpoint", None)
    if callable(save):
        save(path)
    else:
        save_tensors(path, model.state_dict())


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never a half-written file.

    The engine itself writes safetensors; read a file of this function back with
    ``torch.load(path, weights_only=True)`` only (a full unpickling can run code).
    """
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)
