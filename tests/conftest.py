"""Shared test configuration: hypothesis profiles, seeding and the shared data folder.

Hypothesis profiles: ``dev`` (the default, hypothesis' usual number of examples) and ``ci``
(few examples, for the 2-core CI machines); pick one with ``HYPOTHESIS_PROFILE=ci``. Both have
``deadline=None``: torch's first call of an op is slow and would trip hypothesis' timer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings
from needs import SHARED_DATA, need_path

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))



@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Every test starts from the same torch seed, so failures reproduce."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Path of the shared data folder; skips the test when it is missing (fails in CI)."""
    return need_path(SHARED_DATA, "shared data folder")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module of model-sized tests.

    The CI machines have two busy cores; two OpenMP threads there oversubscribe and make a
    training step several times slower. Use with ``pytestmark =
    pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
