"""The benchmark records identify their code: commit, dirty flag, and a refusal to record
results from a modified tree unless forced (``benchmarks/common.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks/common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PORCELAIN = """\
 M freqforensics/layers/dct.py
?? notes.txt
 M benchmarks/results/bench_dct.json
 M docs/benchmarks.rst
R  old.py -> benchmarks/new.py
"""


def test_dirty_paths_skip_the_benchmarks_outputs(common: ModuleType) -> None:
    from freqforensics.provenance import dirty_paths

    assert dirty_paths(PORCELAIN, common.OUTPUTS) == [
        "freqforensics/layers/dct.py", "notes.txt", "benchmarks/new.py"
    ]
    outputs_only = " M benchmarks/results/bench_sida.json\n M docs/benchmarks.rst\n"
    assert dirty_paths(outputs_only, common.OUTPUTS) == []
    assert dirty_paths("") == []
    state = common.git_state()
    assert state["git_commit"] and state["git_dirty"] in (True, False)


def _state(dirty: bool | None, commit: str = "abc1234") -> dict:
    return {"git_commit": commit, "git_dirty": dirty,
            "git_dirty_paths": ["freqforensics/layers/dct.py"] if dirty else []}


def test_refuses_a_dirty_tree(common: ModuleType, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        common.check_recordable(Path("r.json"), False, _state(True))
    message = str(info.value.code)
    assert "\n" not in message
    assert message.startswith("error: not recording r.json")
    assert "freqforensics/layers/dct.py" in message and "--allow-dirty" in message


def test_refuses_an_unknown_tree(common: ModuleType) -> None:
    with pytest.raises(SystemExit, match="git cannot tell"):
        common.check_recordable(Path("r.json"), False, _state(None, commit=""))


@pytest.mark.parametrize(
    ("out", "allow", "dirty"),
    [(Path("r.json"), False, False), (Path("r.json"), True, True), (None, False, True)],
)
def test_records_when_clean_forced_or_not_recording(
    common: ModuleType, out: Path | None, allow: bool, dirty: bool
) -> None:
    common.check_recordable(out, allow, _state(dirty))


def test_machine_names_the_code(common: ModuleType) -> None:
    info = common.machine()
    for key in ("cpu", "torch", "torch_threads", "git_commit", "git_dirty", "date"):
        assert key in info
    assert info["git_dirty"] in (True, False, None)


def test_allow_dirty_argument(common: ModuleType) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    common.add_record_arguments(parser)
    assert parser.parse_args(["--allow-dirty"]).allow_dirty
    assert not parser.parse_args([]).allow_dirty


def test_tracking_profile_accounts_for_the_tracked_time(tmp_path: Path) -> None:
    """``benchmarks/profile_tracking.py`` (the evidence behind the tracking speedup) runs and
    its stages add up to no more than the tracked face step it profiled."""
    from needs import need_module, need_path

    need_module("dlib")
    spec = importlib.util.spec_from_file_location(
        "profile_tracking", ROOT / "benchmarks/profile_tracking.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    need_path(module.VIDEO, "FaceForensics++ sample video 634.mp4")
    out = tmp_path / "profile.json"
    assert module.main(["--frames", "12", "--out", str(out), "--allow-dirty"]) == 0
    import json

    p = json.loads(out.read_text())["profile"]
    assert p["frames"] == 12 and p["size"] == "1280x720"
    stages = p["stages_ms_per_frame"]
    assert len(stages) == len(module.STAGES) and all(v >= 0 for v in stages.values())
    assert stages["correlation tracker update"] > 0 and stages["landmarks (shape predictor)"] > 0
    assert sum(stages.values()) <= p["tracked_ms_per_frame"] + 1e-6
