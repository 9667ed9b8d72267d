"""The benchmark records identify their code: commit, dirty flag, and a refusal to record
results from a modified tree unless forced (``benchmarks/common.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / f"benchmarks/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def common() -> ModuleType:
    return load_benchmark("common")


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
    module = load_benchmark("profile_tracking")
    need_path(module.VIDEO, "FaceForensics++ sample video 634.mp4")
    out = tmp_path / "profile.json"
    assert module.main(["--frames", "12", "--out", str(out), "--allow-dirty"]) == 0
    import json

    record = json.loads(out.read_text())
    assert record["command"] == ("python benchmarks/profile_tracking.py --frames 12 --out "
                                 f"{out} --allow-dirty")
    p = record["profile"]
    assert p["frames"] == 12 and p["size"] == "1280x720"
    stages = p["stages_ms_per_frame"]
    assert len(stages) == len(module.STAGES) and all(v >= 0 for v in stages.values())
    assert stages["correlation tracker update"] > 0 and stages["landmarks (shape predictor)"] > 0
    assert sum(stages.values()) <= p["tracked_ms_per_frame"] + 1e-6


def test_interleaved_timing_counts_page_faults(common: ModuleType) -> None:
    """Each timed path reports the minor page faults of one call: a fresh 64 MB tensor that
    is written faults its pages in, a write into memory already held does not."""
    import sys

    import torch

    if not sys.platform.startswith("linux"):
        pytest.skip("the page-fault counts are checked where getrusage counts them (Linux)")
    held = torch.empty(1 << 24)
    timed = common.timeit_interleaved(
        {"fresh": lambda: torch.empty(1 << 24).fill_(1.0), "held": lambda: held.fill_(1.0)},
        warmup=1, repeat=3,
    )
    assert timed["fresh"]["page_faults"] > 1000  # 16384 pages of 4 kB, fewer with huge pages
    assert timed["held"]["page_faults"] < 100
    assert timed["fresh"]["repeat"] == timed["held"]["repeat"] == 3


def test_interleaved_timing_runs_before_untimed_before_every_call(common: ModuleType) -> None:
    """``before`` runs once before each timed call (not in the warm-up), outside the timing."""
    import time

    calls: list[str] = []
    timed = common.timeit_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeat=2,
        before=lambda: (calls.append("before"), time.sleep(0.05)),
    )
    assert calls == ["a", "b"] + ["before", "a", "before", "b"] * 2
    assert timed["a"]["median_s"] < 0.05 and timed["b"]["median_s"] < 0.05


def test_bench_dct_times_the_copy_ratio_with_our_paths(tmp_path: Path) -> None:
    """``bench_dct`` on a small input: the copy and BlockDCT's forward and forward+backward
    are one group, BlockDCT is timed again with the baselines, and the summary's ratios are
    those of the right group."""
    module = load_benchmark("bench_dct")
    pytest.importorskip("torch_dct")
    data = module.main(["--shapes", "2x3x32x48", "--repeat", "2", "--devices", "cpu"])
    (case,) = data["cases"]
    paths, s = case["paths"], case["summary"]
    assert set(paths) == {module.CLONE, module.OURS, module.OURS_WITH_BASELINES,
                          module.TORCH_DCT, module.SCIPY}
    ours, clone = paths[module.OURS], paths[module.CLONE]["forward"]
    assert ours["forward"]["repeat"] == 15 and paths[module.TORCH_DCT]["forward"]["repeat"] == 2
    assert s["time_vs_clone"] == pytest.approx(ours["forward"]["median_s"] / clone["median_s"])
    assert s["fwd_bwd_vs_fwd"] == pytest.approx(
        ours["forward_backward"]["median_s"] / ours["forward"]["median_s"])
    assert s["speedup_vs_torch_dct"] == pytest.approx(
        paths[module.TORCH_DCT]["forward"]["median_s"]
        / paths[module.OURS_WITH_BASELINES]["forward"]["median_s"])
    assert "copy" in data["sections"][0]["text"]


def test_bench_preprocess_tables_render_the_recorded_run() -> None:
    """The preprocessing tables, rebuilt from the committed run's raw numbers, are the tables
    that run stored (the table code lives in ``benchmarks/preprocess_tables.py``)."""
    recorded = ROOT / "benchmarks/results/bench_preprocess.json"
    if not recorded.is_file():
        pytest.skip(f"no recorded preprocessing benchmark at {recorded}")
    pytest.importorskip("av")
    module = load_benchmark("bench_preprocess")
    data = json.loads(recorded.read_text())
    tables = json.loads(json.dumps(module.sections(data)))
    assert [t["title"] for t in tables] == [t["title"] for t in data["sections"]]
    assert tables == data["sections"]


def test_export_parity_measures_each_path(tmp_path: Path) -> None:
    """``benchmarks/export_parity.py`` (the numbers of docs/export.rst's parity table) finds
    the exported BlockDCT equal to eager mode and a wrong module far from it."""
    from needs import need_module

    for name in ("onnx", "onnxscript", "onnxruntime"):
        need_module(name)
    import torch

    from freqforensics import BlockDCT

    module = load_benchmark("export_parity")

    def inputs(n: int) -> tuple[torch.Tensor, ...]:
        return (torch.rand(n, 3, 16, 24),)

    row = module.parity(BlockDCT(), inputs, {}, tmp_path, compile_=False)
    assert row["largest_output"] > 1
    for path in ("onnx_dynamo", "onnx_legacy", "torch_export"):
        assert 0 <= row[path] < 1e-4 and row[f"{path}_s"] > 0
    assert "inductor" not in row
    assert module._compare(BlockDCT(zigzag=False), BlockDCT(), inputs, {}, (1, 3)) > 0.1
    cases = module.load_test_cases()  # the layers of the table are the test suite's
    assert set(module.LAYERS) <= set(cases.CASES)
