"""Skips that turn into failures in CI.

A user who cloned only the project lacks ``../shared/data`` (and may lack an optional
dependency): the tests that need them skip, with the reason. CI has both, so there a skip
would hide a broken setup: ``.ci/run`` sets ``FREQFORENSICS_REQUIRE_DATA=1`` and these
helpers then fail the test instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

#: ``/work/shared/data``: the small datasets shared by the project (next to the checkout).
SHARED_DATA: Path = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: Set by ``.ci/run``: missing shared data or optional dependencies fail instead of skipping.
REQUIRED: bool = os.environ.get("FREQFORENSICS_REQUIRE_DATA", "") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; in CI (``FREQFORENSICS_REQUIRE_DATA=1``) fail with it instead."""
    if REQUIRED:
        pytest.fail(f"{reason}, and FREQFORENSICS_REQUIRE_DATA=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


def need_path(path: Path, what: str = "shared sample data") -> Path:
    """Return ``path`` when it exists; else skip (fail in CI)."""
    if not path.exists():
        skip_or_fail(f"{what} not found at {path} (only in the dev workspace)")
    return path


def need_module(name: str) -> ModuleType:
    """``pytest.importorskip`` that fails in CI, where every optional dependency is installed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        skip_or_fail(f"optional dependency {name!r} is not installed")
        raise  # unreachable: skip_or_fail raises
