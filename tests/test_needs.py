"""The CI guard: with FREQFORENSICS_REQUIRE_DATA=1 a missing data folder fails, never skips."""

from __future__ import annotations

from pathlib import Path

import needs
import pytest


def test_missing_path_skips_for_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(needs, "REQUIRED", False)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        needs.need_path(tmp_path / "absent")


def test_missing_path_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(needs, "REQUIRED", True)
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        needs.need_path(tmp_path / "absent")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_xyz"):
        needs.need_module("no_such_module_xyz")


def test_present_path_and_module_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(needs, "REQUIRED", True)
    assert needs.need_path(tmp_path) == tmp_path
    assert needs.need_module("json").__name__ == "json"
