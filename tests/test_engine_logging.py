"""Tests of the engine's logs, TF32 setting and process setup.

``steps.csv`` (a row per optimiser step, one per step after a kill and a resume), TensorBoard
(optional: a fake writer stands in for it, and its absence is one INFO line), TF32 set for the
duration of ``fit`` only, and the single-process side of :mod:`freqforensics.engine.distributed`
(the two-process side is the slow DDP test of ``test_engine.py``).
"""

from __future__ import annotations

import logging
import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from test_engine import Crash, ToyDetector, ToyFaces, _cfg, _rows, _toy_trainer

import freqforensics.engine as engine
import freqforensics.engine.trainer as trainer_module
from freqforensics.engine import Trainer, load_train_state
from freqforensics.engine import distributed as dist_setup
from freqforensics.engine.logs import STEP_FIELDS, truncate_steps
from freqforensics.engine.state import config_differences

pytestmark = pytest.mark.usefixtures("one_thread")

# 16 samples, batch 4: 4 steps an epoch
STEPS_PER_EPOCH = 4


def _steps(out: Path) -> list[dict[str, str]]:
    return _rows(out / "steps.csv")


def _step_numbers(out: Path) -> list[int]:
    return [int(r["step"]) for r in _steps(out)]


# --------------------------------------------------------------------------------- steps.csv
class TestStepLog:
    def test_one_row_per_step(self, tmp_path: Path) -> None:
        cfg = _cfg(epochs=3, scheduler="cosine", warmup_steps=2)
        result = _toy_trainer(tmp_path, cfg).fit()
        rows = _steps(tmp_path)
        n = 3 * STEPS_PER_EPOCH
        assert list(rows[0].keys()) == list(STEP_FIELDS)
        assert [int(r["step"]) for r in rows] == list(range(1, n + 1))
        assert [int(r["epoch"]) for r in rows] == [1] * 4 + [2] * 4 + [3] * 4
        assert all(math.isfinite(float(r["loss"])) for r in rows)
        assert all(float(r["seconds"]) > 0 for r in rows)
        # lr: the rate the step used, from the schedule
        expected_lr = [cfg.lr * cfg.lr_factor(s - 1, n) for s in range(1, n + 1)]
        assert [float(r["lr"]) for r in rows] == pytest.approx(expected_lr, rel=1e-12)
        # an epoch's train_loss in metrics.csv is the mean of its step losses
        for epoch, summary in enumerate(result.history, start=1):
            losses = [float(r["loss"]) for r in rows if int(r["epoch"]) == epoch]
            assert summary["train_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-12)

    @pytest.mark.parametrize("checkpoint_every", [None, 2])
    def test_killed_mid_epoch_and_resumed_has_one_row_per_step(
        self, tmp_path: Path, checkpoint_every: int | None
    ) -> None:
        cfg = _cfg(epochs=3, checkpoint_every=checkpoint_every)
        _toy_trainer(tmp_path / "full", cfg).fit()
        full = _steps(tmp_path / "full")

        out = tmp_path / "crash"
        # crash while reading step 4 of epoch 2 (global step 8): steps 5-7 are done, and
        # logged, but the last checkpoint holds step 4 (or 6 with checkpoint_every=2)
        with pytest.raises(Crash):
            _toy_trainer(out, cfg, crash_after=16 + 3 * 4 + 1).fit()
        assert _step_numbers(out) == list(range(1, 8))
        saved = load_train_state(out / "last.safetensors", tensors=False)["global_step"]
        assert saved == (6 if checkpoint_every else 4)

        resumed = _toy_trainer(out, cfg, model_seed=99)
        resumed.fit()
        rows = _steps(out)
        assert _step_numbers(out) == list(range(1, 3 * STEPS_PER_EPOCH + 1))  # no duplicates
        # the resumed run retakes the same steps: the same losses as an uninterrupted run
        assert [r["loss"] for r in rows] == [r["loss"] for r in full]
        assert [r["epoch"] for r in rows] == [r["epoch"] for r in full]

    def test_fresh_run_starts_the_log_over(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        _toy_trainer(tmp_path, _cfg(epochs=1)).fit(resume=False)
        assert _step_numbers(tmp_path) == [1, 2, 3, 4]

    def test_more_epochs_append(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=1)).fit()
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        assert _step_numbers(tmp_path) == list(range(1, 9))

    def test_torn_row_is_dropped_on_resume(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=1)).fit()
        with open(tmp_path / "steps.csv", "a") as fh:
            fh.write("5,2,0.69")  # killed in the middle of step 5's row
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        rows = _steps(tmp_path)
        assert [int(r["step"]) for r in rows] == list(range(1, 9))
        assert all(r["seconds"] for r in rows)

    def test_truncate_steps(self, tmp_path: Path) -> None:
        path = tmp_path / "steps.csv"
        assert truncate_steps(path, 3) == 0 and not path.exists()
        path.write_text("step,epoch,loss,lr,seconds\n1,1,0.5,0.1,0.2\n2,1,0.4,0.1,0.2\n3,1,")
        assert truncate_steps(path, 5) == 2
        assert path.read_text().splitlines()[-1] == "2,1,0.4,0.1,0.2"
        assert truncate_steps(path, 1) == 1
        assert truncate_steps(path, 0) == 0 and not path.exists()
        assert not list(tmp_path.glob(".*.tmp"))

    def test_skipped_step_has_a_nan_loss(self, tmp_path: Path) -> None:
        class NaNFaces(ToyFaces):
            def __getitem__(self, index: int) -> dict[str, Any]:
                sample = super().__getitem__(index)
                if index < 4:
                    sample["image"] = torch.full_like(sample["image"], math.nan)
                return sample

        cfg = _cfg(epochs=1, batch_size=16)  # one step, its batch non-finite
        Trainer(ToyDetector(), NaNFaces(16), None, cfg, tmp_path).fit()
        rows = _steps(tmp_path)
        assert [int(r["step"]) for r in rows] == [1]
        assert math.isnan(float(rows[0]["loss"]))


# ------------------------------------------------------------------------------- TensorBoard
class _FakeWriter:
    instances: list[_FakeWriter] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        _FakeWriter.instances.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class TestTensorBoard:
    def test_step_and_epoch_scalars(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = types.ModuleType("torch.utils.tensorboard")
        fake.SummaryWriter = _FakeWriter  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
        _FakeWriter.instances.clear()
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        (writer,) = _FakeWriter.instances
        assert writer.log_dir == str(tmp_path / "tensorboard") and writer.closed
        steps = [(s, v) for tag, v, s in writer.scalars if tag == "train/loss_step"]
        rows = _steps(tmp_path)
        assert steps == [(int(r["step"]), float(r["loss"])) for r in rows]
        epochs = [s for tag, _, s in writer.scalars if tag == "val_frame_auc"]
        assert epochs == [1, 2]

    def test_missing_tensorboard_is_one_info_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
        with caplog.at_level(logging.INFO, logger="freqforensics.engine.logs"):
            _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        lines = [r for r in caplog.records if "TensorBoard" in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.INFO
        assert "pip install 'freqforensics[tensorboard]'" in lines[0].getMessage()
        assert _step_numbers(tmp_path) == list(range(1, 9))  # the CSV logs are complete


# ---------------------------------------------------------------------------------------- TF32
def _tf32_flags() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture()
def torch_defaults() -> Iterator[None]:
    """Start from torch's defaults (matmul without TF32, cuDNN with it); put them back after."""
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = True
    yield
    torch.set_float32_matmul_precision(matmul)
    torch.backends.cudnn.allow_tf32 = cudnn


class FlagRecorder(ToyDetector):
    """Records the TF32 flags at every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.flags: set[tuple[bool, bool]] = set()

    def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> torch.Tensor:
        self.flags.add(_tf32_flags())
        return super().forward(images, sida)


@pytest.mark.usefixtures("torch_defaults")
class TestTF32:
    @pytest.mark.parametrize(
        "tf32, inside", [(True, (True, True)), (False, (False, False)), (None, (False, True))]
    )
    def test_set_during_fit_and_restored(
        self, tmp_path: Path, tf32: bool | None, inside: tuple[bool, bool]
    ) -> None:
        before = _tf32_flags()
        assert before == (False, True)
        model = FlagRecorder()
        Trainer(model, ToyFaces(16), ToyFaces(8, seed=1), _cfg(epochs=1, tf32=tf32), tmp_path).fit()
        assert model.flags == {inside}  # training and validation
        assert _tf32_flags() == before
        assert torch.get_float32_matmul_precision() == "highest"

    def test_restored_after_a_crash(self, tmp_path: Path) -> None:
        torch.set_float32_matmul_precision("medium")  # a program's own choice, kept
        model = FlagRecorder()
        data = ToyFaces(16, crash_after=6)
        trainer = Trainer(model, data, None, _cfg(epochs=1, tf32=False), tmp_path)
        with pytest.raises(Crash):
            trainer.fit()
        assert model.flags == {(False, False)}
        assert torch.get_float32_matmul_precision() == "medium"
        assert torch.backends.cudnn.allow_tf32 is True

    def test_constructor_leaves_flags_alone(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(tf32=True))
        assert _tf32_flags() == (False, True)

    def test_tf32_may_change_on_resume(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=1, tf32=False)).fit()
        stored = load_train_state(tmp_path / "last.safetensors", tensors=False)["config"]
        assert config_differences(stored, _cfg(epochs=2, tf32=True)) == []
        assert _toy_trainer(tmp_path, _cfg(epochs=2, tf32=None)).fit().best_epoch >= 1

    def test_bad_value(self) -> None:
        with pytest.raises(ValueError, match="tf32"):
            _cfg(tf32="yes")


# ------------------------------------------------------------------- process setup, names
class TestSingleProcess:
    def test_setup_without_torchrun(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(name, raising=False)
        procs = dist_setup.setup("cpu")
        assert procs == dist_setup.Processes(0, 0, 1, torch.device("cpu"))
        assert procs.is_main and not procs.distributed
        model = ToyDetector()
        assert dist_setup.wrap(model, procs) is model
        assert dist_setup.all_processes(False, procs) is False
        assert dist_setup.all_processes(True, procs) is True
        dist_setup.barrier(procs)  # nothing to wait for
        dist_setup.teardown()  # no process group: nothing to leave

    def test_public_names(self) -> None:
        for name in trainer_module.__all__:
            assert getattr(trainer_module, name) is getattr(engine, name), name
        for name in engine.__all__:
            assert getattr(engine, name) is not None, name
        assert {"TrainStateError", "save_train_state", "load_train_state"} <= set(engine.__all__)
