"""Finished passes of a long evaluation kept on disk, so that a rerun skips them.

A :class:`PassCache` is a folder of small JSON files, one per finished pass, written
atomically, and a ``settings.json`` naming what the passes were computed from. A rerun with the
same settings reads the finished passes back; one with other settings starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from freqforensics._io import atomic_write_json

__all__ = ["PassCache", "model_fingerprint", "rows_fingerprint"]

logger = logging.getLogger(__name__)


def model_fingerprint(model: torch.nn.Module) -> str:
    """A SHA-256 of the model's parameters and buffers (names, dtypes, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def rows_fingerprint(keys: Iterable[Any]) -> str:
    """A SHA-256 of a sequence of JSON-able keys (the frames a pass reads, say)."""
    return hashlib.sha256(json.dumps(list(keys), default=str).encode()).hexdigest()


class PassCache:
    """One JSON file per finished pass in ``folder``, valid for ``settings``.

    Args:
        folder: where the passes go (created).
        settings: what the passes depend on (JSON-able); stored in ``settings.json``. Passes
            stored with other settings are removed, with a warning.
    """

    def __init__(self, folder: str | Path, settings: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        stored = self.folder / "settings.json"
        settings = json.loads(json.dumps(settings, default=str))
        if stored.is_file():
            try:
                before = json.loads(stored.read_text())
            except ValueError:
                before = None
            if before != settings:
                old = list(self.folder.glob("pass-*.json"))
                if old:
                    logger.warning("%s: %d passes made with other settings are discarded",
                                   self.folder, len(old))
                for path in old:
                    path.unlink()
        atomic_write_json(stored, settings)

    def _path(self, name: str) -> Path:
        return self.folder / f"pass-{re.sub(r'[^A-Za-z0-9_.=-]+', '_', name)}.json"

    def get(self, name: str) -> Any | None:
        """The stored result of pass ``name``, or ``None``."""
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            value = json.loads(path.read_text())
        except ValueError:  # cannot happen with atomic writes, but never trust a file
            return None
        return value

    def put(self, name: str, value: Any) -> None:
        """Store the result of pass ``name`` (atomically)."""
        atomic_write_json(self._path(name), value)

    def wrap(self, run: Callable[..., Any]) -> Callable[..., Any]:
        """``run`` with its results kept here, keyed on its arguments (their ``repr``)."""

        def cached(*args: Any) -> Any:
            name = "-".join(map(repr, args))
            result = self.get(name)
            if result is None:
                result = run(*args)
                self.put(name, result)
            return result

        return cached
