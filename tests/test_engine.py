"""Tests of the training engine (``freqforensics.engine``): fit, checkpoints, resume, DDP.

Most tests train a toy detector (a convolution, BatchNorm, dropout and a linear layer) on a
toy data set of dicts, so that resuming can be compared bit for bit with an uninterrupted run
in a fraction of a second; the tests that need the real thing use a tiny SFCL-HCMF (64 px,
TinyNet-E, CNN-F without middle blocks) and the embedded ``SelfBlendedFaces``.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, Dataset
from toys import dead_pid

from freqforensics.engine import (
    TrainConfig,
    Trainer,
    atomic_save,
    collate_batch,
    load_train_state,
    predict,
    seed_everything,
)
from freqforensics.engine.sampler import _EpochSampler
from freqforensics.metrics import evaluate_predictions
from freqforensics.models import SFCLHCMF, SFCLHCMFConfig, preset

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------- toy pieces
class ToyDetector(nn.Module):
    """A detector with the engine's interface: BatchNorm and dropout, like the real one."""

    def __init__(self, drop: float = 0.5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(drop)
        self.fc = nn.Linear(8, 1)

    def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(images))).mean(dim=(2, 3))
        return self.fc(self.drop(x)).squeeze(-1)


class Crash(RuntimeError):
    """Raised by :class:`ToyFaces` to simulate a crash in the middle of an epoch."""


class ToyFaces(Dataset):
    """Deterministic samples (a function of index and epoch): fakes are brighter, noisily.

    ``crash_after``: raise :class:`Crash` from ``__getitem__`` once that many items were read.
    """

    def __init__(
        self, n: int, size: int = 16, seed: int = 0, crash_after: int | None = None
    ) -> None:
        self.n, self.size, self.seed, self.crash_after = n, size, seed, crash_after
        self.epoch = 0
        self.reads = 0
        self.seen: list[tuple[int, int]] = []  # (epoch, index) of every read

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.crash_after is not None and self.reads >= self.crash_after:
            raise Crash(f"simulated crash after {self.reads} items")
        self.reads += 1
        self.seen.append((self.epoch, index))
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch * 1009 + index)
        label = index % 2
        image = torch.rand(3, self.size, self.size, generator=g) * 0.8 + 0.1 * label
        return {"image": image, "label": float(label), "video_id": f"toy/{index}"}


def _cfg(**changes: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        epochs=2, batch_size=4, lr=1e-2, device="cpu", progress=False, seed=0, amp=False
    )
    base.update(changes)
    return TrainConfig(**base)


def _toy_trainer(
    out: Path,
    cfg: TrainConfig,
    n_train: int = 16,
    crash_after: int | None = None,
    val: bool = True,
    model_seed: int = 0,
) -> Trainer:
    torch.manual_seed(model_seed)
    model = ToyDetector()
    train = ToyFaces(n_train, crash_after=crash_after)
    val_set = ToyFaces(8, seed=1) if val else None
    return Trainer(model, train, val_set, cfg, out)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _no_time(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """History rows without the wall-clock column."""
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


def _assert_same_weights(a: nn.Module, b: nn.Module, atol: float = 0.0) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if atol == 0.0:
            assert torch.equal(sa[key], sb[key]), key
        else:
            torch.testing.assert_close(sa[key], sb[key], atol=atol, rtol=0, msg=key)




def _tiny_sfcl(**changes: Any) -> SFCLHCMFConfig:
    return preset("cpu", img_size=64, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8), **changes)


# ------------------------------------------------------------------------------ small parts
class TestParts:
    def test_train_config_rejects_bad_values(self) -> None:
        with pytest.raises(ValueError, match="epochs"):
            TrainConfig(epochs=0)
        with pytest.raises(ValueError, match="batch_size"):
            TrainConfig(batch_size=2.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="lr"):
            TrainConfig(lr=0.0)
        with pytest.raises(ValueError, match="scheduler"):
            TrainConfig(scheduler="step")

    def test_collate_batch(self) -> None:
        samples = [
            {"image": torch.zeros(3, 4, 4), "label": 1.0, "video_id": "a", "q": 7},
            {"image": torch.ones(3, 4, 4), "label": 0.0, "video_id": "b", "q": 9},
        ]
        batch = collate_batch(samples)
        assert batch["image"].shape == (2, 3, 4, 4)
        assert batch["label"].tolist() == [1.0, 0.0]
        assert batch["q"].tolist() == [7, 9]
        assert batch["video_id"] == ["a", "b"]

    def test_seed_everything_repeats(self) -> None:
        seed_everything(3)
        a = (torch.rand(3), np.random.rand(3))
        seed_everything(3)
        b = (torch.rand(3), np.random.rand(3))
        assert torch.equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    @pytest.mark.parametrize("n", [16, 17])
    def test_epoch_sampler_shards_and_skips(self, n: int) -> None:
        shards = [_EpochSampler(n, seed=5, rank=r, world=2) for r in range(2)]
        orders = [s.order() for s in shards]
        assert len(orders[0]) == len(orders[1]) == math.ceil(n / 2)
        assert sorted(set(orders[0]) | set(orders[1])) == list(range(n))
        if n % 2 == 0:
            assert not set(orders[0]) & set(orders[1])
        one = _EpochSampler(n, seed=5)
        first = one.order()
        assert sorted(first) == list(range(n))
        one.epoch = 1
        assert one.order() != first  # a new permutation every epoch...
        one.epoch = 0
        assert one.order() == first  # ...that is a function of (seed, epoch)
        one.skip = 6
        assert list(one) == first[6:] and len(one) == n - 6

    @pytest.mark.parametrize("world", [1, 2, 3])
    def test_epoch_sampler_keeps_groups_together(self, world: int) -> None:
        """group_size=2 (a real crop and its fake): pairs stay adjacent on one process."""
        n = 20
        shards = [_EpochSampler(n, seed=1, rank=r, world=world, group_size=2) for r in range(world)]
        orders = [s.order() for s in shards]
        assert len({len(o) for o in orders}) == 1 and len(orders[0]) == len(shards[0])
        assert len(orders[0]) % 2 == 0
        assert set().union(*orders) == set(range(n))
        for order in orders:
            pairs = list(zip(order[::2], order[1::2]))
            assert all(a % 2 == 0 and b == a + 1 for a, b in pairs), pairs
            assert {a % 2 for a in order} == {0, 1}  # both classes on every process
        if world == 2:
            assert not set(orders[0]) & set(orders[1])


class TestPredict:
    def test_lengths_and_mode(self) -> None:
        model = ToyDetector().train()
        ds = ToyFaces(10)
        loader = DataLoader(ds, batch_size=4, collate_fn=collate_batch)
        ids, labels, probs = predict(model, loader)
        assert len(ids) == len(labels) == len(probs) == 10
        assert ids == [f"toy/{i}" for i in range(10)]
        assert labels.tolist() == [float(i % 2) for i in range(10)]
        assert probs.dtype == np.float64 and ((probs >= 0) & (probs <= 1)).all()
        assert model.training  # predict restores the mode
        metrics = evaluate_predictions(ids, labels, probs)
        assert 0.0 <= metrics["frame"]["auc"] <= 1.0

    def test_without_video_ids(self) -> None:
        class NoIds(ToyFaces):
            def __getitem__(self, index: int) -> dict[str, Any]:
                item = super().__getitem__(index)
                del item["video_id"]
                return item

        loader = DataLoader(NoIds(6), batch_size=4, collate_fn=collate_batch)
        ids, labels, probs = predict(ToyDetector(), loader)
        assert len(ids) == len(set(ids)) == len(labels) == len(probs) == 6

    def test_precomputed_sida_reaches_the_model(self) -> None:
        seen: list[torch.Tensor | None] = []

        class Recorder(ToyDetector):
            def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> Any:
                seen.append(sida)
                return super().forward(images)

        class WithSida(ToyFaces):
            def __getitem__(self, index: int) -> dict[str, Any]:
                return {**super().__getitem__(index), "sida": torch.full((5,), float(index))}

        loader = DataLoader(WithSida(6), batch_size=4, collate_fn=collate_batch)
        ids, _, _ = predict(Recorder(), loader)
        assert len(ids) == 6 and [s.shape for s in seen if s is not None] == [(4, 5), (2, 5)]
        assert seen[1] is not None and seen[1][:, 0].tolist() == [4.0, 5.0]

    def test_empty_loader(self) -> None:
        ids, labels, probs = predict(ToyDetector(), [])
        assert ids == [] and labels.shape == probs.shape == (0,)


# ------------------------------------------------------------------------------------ fit
class TestFit:
    def test_sfcl_hcmf_on_self_blended_faces(self, tmp_path: Path) -> None:
        from freqforensics.data.synthetic import SelfBlendedFaces

        torch.manual_seed(0)
        model = SFCLHCMF(_tiny_sfcl())
        train = SelfBlendedFaces("train", size=64, length=12, seed=0)
        val = SelfBlendedFaces("val", size=64, length=8, seed=0, fresh_every_epoch=False)
        cfg = _cfg(epochs=2, batch_size=4, lr=1e-3)
        result = Trainer(model, train, val, cfg, tmp_path).fit()

        for name in ("metrics.csv", "last.safetensors", "best.safetensors"):
            assert (tmp_path / name).is_file(), name
        assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
        rows = _rows(tmp_path / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert [int(r["step"]) for r in rows] == [3, 6]  # 12 samples / batch 4 per epoch
        for key in ("train_loss", "val_frame_auc", "val_video_auc", "val_frame_eer"):
            assert all(math.isfinite(float(r[key])) for r in rows), key
        aucs = [float(r["val_frame_auc"]) for r in rows]
        assert result.best_epoch == int(np.argmax(aucs)) + 1
        assert result.best_val_auc == pytest.approx(max(aucs))
        assert len(result.history) == 2 and result.out_dir == tmp_path

        # best.safetensors is the model of the best epoch: it scores the same AUC again
        best = SFCLHCMF.from_checkpoint(tmp_path / "best.safetensors")
        assert best.config == model.config
        loader = DataLoader(val, batch_size=8, collate_fn=collate_batch)
        ids, labels, probs = predict(best, loader)
        assert len(ids) == len(labels) == len(probs) == len(val)
        auc = evaluate_predictions(ids, labels, probs)["frame"]["auc"]
        assert auc == pytest.approx(result.best_val_auc, abs=1e-9)

        state = load_train_state(tmp_path / "last.safetensors")
        assert state["epoch"] == 2 and state["step_in_epoch"] == 0
        assert state["global_step"] == 6 and len(state["history"]) == 2

    def test_best_epoch_matches_metrics_csv(self, tmp_path: Path) -> None:
        saved: list[int] = []

        def save_best(model: nn.Module, path: Path) -> None:
            saved.append(trainer.epoch + 1)
            atomic_save(model.state_dict(), path.with_suffix(".pt"))

        torch.manual_seed(0)
        trainer = Trainer(
            ToyDetector(),
            ToyFaces(16),
            ToyFaces(16, seed=1),
            _cfg(epochs=5),
            tmp_path,
            save_best=save_best,
        )
        result = trainer.fit()
        rows = _rows(tmp_path / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
        aucs = [float(r["val_frame_auc"]) for r in rows]
        assert result.best_epoch == int(np.argmax(aucs)) + 1  # the first epoch with the max
        assert result.best_val_auc == pytest.approx(max(aucs))
        assert saved[-1] == result.best_epoch and saved == sorted(saved)
        # a save only when the AUC strictly improved
        running = [aucs[e - 1] for e in saved]
        assert running == sorted(running) and len(set(running)) == len(running)

    def test_without_val_set(self, tmp_path: Path) -> None:
        result = _toy_trainer(tmp_path, _cfg(epochs=2), val=False).fit()
        assert result.best_epoch == 2 and math.isinf(result.best_val_auc)
        # no save_checkpoint: the state dict as plain safetensors
        model = ToyDetector()
        model.load_state_dict(load_file(tmp_path / "best.safetensors"))
        assert len(_rows(tmp_path / "metrics.csv")) == 2

    def test_seeded_runs_are_identical(self, tmp_path: Path) -> None:
        a = _toy_trainer(tmp_path / "a", _cfg(epochs=2, scheduler="cosine", warmup_steps=2))
        b = _toy_trainer(tmp_path / "b", _cfg(epochs=2, scheduler="cosine", warmup_steps=2))
        ra, rb = a.fit(), b.fit()
        assert _no_time(ra.history) == _no_time(rb.history)
        _assert_same_weights(a.model, b.model)
        c = _toy_trainer(tmp_path / "c", _cfg(epochs=2, seed=1))
        rc = c.fit()
        assert [r["train_loss"] for r in rc.history] != [r["train_loss"] for r in ra.history]

    def test_accumulate_and_max_steps(self, tmp_path: Path) -> None:
        trainer = _toy_trainer(
            tmp_path,
            _cfg(epochs=2, batch_size=2, accumulate=2, max_steps_per_epoch=3),
            n_train=32,
        )
        assert trainer.steps_per_epoch == 3
        trainer.fit()
        assert trainer.global_step == 6
        assert len(trainer.train_set.seen) == 2 * 3 * 2 * 2  # epochs * steps * accumulate * batch

    def test_set_epoch_is_called(self, tmp_path: Path) -> None:
        trainer = _toy_trainer(tmp_path, _cfg(epochs=3))
        trainer.fit()
        assert sorted({e for e, _ in trainer.train_set.seen}) == [0, 1, 2]

    @pytest.mark.parametrize("accumulate", [1, 2])
    def test_a_last_batch_of_one_is_left_out(
        self, tmp_path: Path, accumulate: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        # 9 samples in batches of 4: the last batch would hold one, and BatchNorm cannot train
        # on one sample (torch raises "Expected more than 1 value per channel")
        with caplog.at_level("WARNING", logger="freqforensics.engine.trainer"):
            trainer = _toy_trainer(tmp_path, _cfg(epochs=3, accumulate=accumulate), n_train=9)
        assert any("left out" in r.getMessage() for r in caplog.records)
        assert trainer.steps_per_epoch == 2 // accumulate
        result = trainer.fit()
        assert all(math.isfinite(h["train_loss"]) for h in result.history)
        left_out = []
        for epoch in range(3):
            read = [i for e, i in trainer.train_set.seen if e == epoch]
            assert len(read) == len(set(read)) == 8
            left_out.append(set(range(9)) - set(read))
        assert len(set.union(*left_out)) > 1  # shuffled: not always the same sample

    def test_too_few_samples_or_a_batch_of_one(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"batch_size must be at least 2.*got 1"):
            _cfg(batch_size=1)
        with pytest.raises(ValueError, match=r"train_set must give .* at least 2 .*got 1 samp"):
            _toy_trainer(tmp_path, _cfg(), n_train=1)


# --------------------------------------------------------------------------------- resume
class TestResume:
    def test_in_process_resume_continues_at_the_next_epoch(self, tmp_path: Path) -> None:
        first = _toy_trainer(tmp_path / "run", _cfg(epochs=2))
        first.fit()
        second = _toy_trainer(tmp_path / "run", _cfg(epochs=3), model_seed=123)
        result = second.fit(resume=True)
        assert [e for e, _ in second.train_set.seen] == [2] * 16  # epoch index 2 only
        assert len(result.history) == 3
        rows = _rows(tmp_path / "run" / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
        assert _no_time(result.history[:2]) == _no_time(first.history)
        # and it ends where an uninterrupted 3-epoch run ends
        full = _toy_trainer(tmp_path / "full", _cfg(epochs=3))
        full_result = full.fit()
        _assert_same_weights(second.model, full.model)
        assert _no_time(result.history) == _no_time(full_result.history)

    def test_resume_when_finished_does_nothing(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        again = _toy_trainer(tmp_path, _cfg(epochs=2))
        result = again.fit(resume=True)
        assert again.train_set.seen == [] and len(result.history) == 2
        assert len(_rows(tmp_path / "metrics.csv")) == 2

    def test_fresh_run_replaces_old_metrics(self, tmp_path: Path) -> None:
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit()
        _toy_trainer(tmp_path, _cfg(epochs=2)).fit(resume=False)
        assert [int(r["epoch"]) for r in _rows(tmp_path / "metrics.csv")] == [1, 2]

    def test_kill_between_log_and_checkpoint_logs_each_epoch_once(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """metrics.csv got epoch 2's row, but the state says epoch 1: no duplicate row."""
        calls = {"n": 0}
        original = Trainer.checkpoint

        def flaky(self: Trainer) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # killed at the end of epoch 2, after the csv row
            original(self)

        monkeypatch.setattr(Trainer, "checkpoint", flaky)
        with pytest.raises(KeyboardInterrupt):
            _toy_trainer(tmp_path, _cfg(epochs=3)).fit()
        monkeypatch.undo()
        assert [int(r["epoch"]) for r in _rows(tmp_path / "metrics.csv")] == [1, 2]
        result = _toy_trainer(tmp_path, _cfg(epochs=3)).fit()
        assert [int(r["epoch"]) for r in _rows(tmp_path / "metrics.csv")] == [1, 2, 3]
        assert [int(r["epoch"]) for r in result.history] == [1, 2, 3]

    @pytest.mark.parametrize("crash_after", [4 * 4, 16 + 2 * 4 + 2])  # epoch 1 end; mid epoch 2
    def test_crash_mid_epoch_then_resume_equals_uninterrupted(
        self, tmp_path: Path, crash_after: int
    ) -> None:
        # dropout 0.5 and a cosine schedule: the RNG and scheduler states must resume too
        cfg = _cfg(epochs=3, checkpoint_every=1, scheduler="cosine", warmup_steps=3)
        full = _toy_trainer(tmp_path / "full", cfg)
        full_result = full.fit()

        out = tmp_path / "crash"
        crashed = _toy_trainer(out, cfg, crash_after=crash_after)
        with pytest.raises(Crash):
            crashed.fit()
        done_steps = crash_after // 4  # the step being read when it crashed is lost

        resumed = _toy_trainer(out, cfg, model_seed=99)  # other initial weights: all reloaded
        assert resumed.resume()
        assert resumed.global_step == done_steps
        assert (resumed.epoch, resumed.step_in_epoch) == divmod(done_steps, 4)
        result = resumed.fit(resume=True)
        # it read only the rest of the data, in the same order
        n_rest = 3 * 16 - done_steps * 4
        assert resumed.train_set.seen == full.train_set.seen[-n_rest:]
        _assert_same_weights(resumed.model, full.model)
        for mine, ref in zip(
            resumed.optimizer.state_dict()["state"].values(),
            full.optimizer.state_dict()["state"].values(),
        ):
            assert torch.equal(mine["exp_avg"], ref["exp_avg"])
            assert torch.equal(mine["exp_avg_sq"], ref["exp_avg_sq"])
        assert _no_time(result.history) == _no_time(full_result.history)
        rows = _rows(out / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
        assert [float(r["train_loss"]) for r in rows] == pytest.approx(
            [r["train_loss"] for r in full_result.history], abs=1e-12
        )

    def test_sfcl_hcmf_crash_mid_epoch_then_resume(self, tmp_path: Path) -> None:
        """The real detector, dropout 0.2 included, resumes to the same weights."""

        class Faces64(ToyFaces):
            def __init__(self, n: int, **kwargs: Any) -> None:
                super().__init__(n, size=64, **kwargs)

        def run(out: Path, crash_after: int | None = None, model_seed: int = 0) -> Trainer:
            torch.manual_seed(model_seed)
            model = SFCLHCMF(_tiny_sfcl(drop_rate=0.2))
            cfg = _cfg(epochs=2, batch_size=4, lr=1e-3, checkpoint_every=1)
            trainer = Trainer(model, Faces64(8, crash_after=crash_after), None, cfg, out)
            trainer.fit()
            return trainer

        full = run(tmp_path / "full")
        with pytest.raises(Crash):
            run(tmp_path / "crash", crash_after=12)  # in the middle of epoch 2
        resumed = run(tmp_path / "crash", model_seed=1)
        assert [e for e, _ in resumed.train_set.seen] == [1] * 4  # only the last step
        _assert_same_weights(resumed.model, full.model)
        assert _no_time(resumed.history) == _no_time(full.history)

    def test_real_kill_and_restart(self, tmp_path: Path) -> None:
        """SIGKILL a training process once its state exists; the restart finishes the job."""
        script = tmp_path / "train.py"
        script.write_text(KILL_SCRIPT)
        out = tmp_path / "run"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, str(script), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while not (out / "last.safetensors").exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no last.safetensors after 120 s"
                time.sleep(0.05)
            time.sleep(0.3)  # let it go on a little: a kill at a random point
            assert proc.poll() is None, "the run finished before it was killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        state = load_train_state(out / "last.safetensors")  # intact after the kill
        killed_at = state["global_step"]
        assert 0 < killed_at < 4 * 8

        done = subprocess.run(
            [sys.executable, str(script), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "resumed from" in done.stderr and "DONE 32" in done.stdout
        rows = _rows(out / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
        assert [int(r["step"]) for r in rows] == [8, 16, 24, 32]
        assert (out / "best.safetensors").is_file()


KILL_SCRIPT = textwrap.dedent(
    """
    import logging
    import sys
    import time

    import torch
    from torch import nn

    from freqforensics.engine import TrainConfig, Trainer

    logging.basicConfig(level=logging.INFO)


    class Faces(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            time.sleep(0.01)
            g = torch.Generator().manual_seed(i)
            label = i % 2
            image = torch.rand(3, 16, 16, generator=g) * 0.8 + 0.1 * label
            return {"image": image, "label": float(label), "video_id": f"v/{i}"}


    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 1)

        def forward(self, images, sida=None):
            return self.fc(self.conv(images).mean((2, 3))).squeeze(-1)


    torch.manual_seed(0)
    cfg = TrainConfig(epochs=4, batch_size=4, device="cpu", progress=False, checkpoint_every=2)
    trainer = Trainer(Toy(), Faces(32), Faces(8), cfg, sys.argv[1])
    trainer.fit()
    print("DONE", trainer.global_step)
    """
)


# -------------------------------------------------------------------------- atomic writes
class TestAtomicSave:
    def test_no_temp_files_left(self, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "last.pt"
        atomic_save({"a": torch.arange(3)}, path)
        atomic_save({"a": torch.arange(4)}, path)
        assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
        assert torch.equal(torch.load(path)["a"], torch.arange(4))

    def test_failed_save_keeps_the_old_file(self, tmp_path: Path) -> None:
        path = tmp_path / "last.pt"
        atomic_save({"a": torch.arange(3)}, path)

        class Unpicklable:
            def __reduce__(self) -> Any:
                raise RuntimeError("cannot pickle this")

        with pytest.raises(RuntimeError, match="cannot pickle"):
            atomic_save({"a": torch.arange(5), "b": Unpicklable()}, path)
        assert torch.equal(torch.load(path)["a"], torch.arange(3))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]

    def test_interrupted_rename_keeps_the_old_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "last.pt"
        atomic_save({"a": torch.arange(3)}, path)

        def killed(*args: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            atomic_save({"a": torch.arange(5)}, path)
        monkeypatch.undo()
        assert torch.equal(torch.load(path)["a"], torch.arange(3))

    def test_partial_temp_file_is_ignored_on_resume(self, tmp_path: Path) -> None:
        trainer = _toy_trainer(tmp_path, _cfg(epochs=1))
        trainer.fit()
        good = (tmp_path / "last.safetensors").read_bytes()
        # what a kill in the middle of a save leaves: a truncated temporary file
        stale = tmp_path / f".last.safetensors.{dead_pid()}.tmp"
        stale.write_bytes(good[: len(good) // 2])
        again = _toy_trainer(tmp_path, _cfg(epochs=2))
        assert again.resume() and again.epoch == 1
        again.fit()
        assert not stale.exists()  # removed when the trainer started
        assert load_train_state(tmp_path / "last.safetensors")["epoch"] == 2
        assert [int(r["epoch"]) for r in _rows(tmp_path / "metrics.csv")] == [1, 2]


# ---------------------------------------------------------------------------- distributed
DDP_SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import sys

    import torch
    import torch.distributed as dist

    from freqforensics.engine import TrainConfig, Trainer
    from freqforensics.models import SFCLHCMF, preset

    out, use_sida = sys.argv[1], sys.argv[2] == "1"
    torch.set_num_threads(1)


    class Faces(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n, self.seen = n, []

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            self.seen.append((self.epoch, i))
            g = torch.Generator().manual_seed(i)
            label = i % 2
            image = torch.rand(3, 64, 64, generator=g) * 0.8 + 0.1 * label
            return {"image": image, "label": float(label), "video_id": f"v/{i}"}


    class Val(Faces):
        epoch = 0


    rank = int(os.environ["RANK"])
    torch.manual_seed(rank)  # different initial weights per rank: DDP must broadcast rank 0's
    cfg = preset("cpu", img_size=64, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8),
                 use_sida=use_sida)
    model = SFCLHCMF(cfg)
    train = Faces(16)
    tcfg = TrainConfig(epochs=2, batch_size=2, lr=1e-3, device="cpu", progress=False,
                       checkpoint_every=1, group_size=2)
    trainer = Trainer(model, train, Val(8), tcfg, out)
    assert trainer.distributed and dist.get_world_size() == 2
    result = trainer.fit()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    report = {"rank": rank, "steps": trainer.global_step, "seen": train.seen,
              "checksum": float(flat.double().sum()), "first": flat[:50].tolist(),
              "best_epoch": result.best_epoch}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump(report, fh)
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("use_sida", [True, False], ids=["full", "no_sida"])
def test_ddp_two_processes_gloo(tmp_path: Path, use_sida: bool) -> None:
    import json

    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "run"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(out),
        "1" if use_sida else "0",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    rows = _rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r["val_frame_auc"])) for r in rows)
    assert (out / "best.safetensors").is_file() and (out / "last.safetensors").is_file()
    best = SFCLHCMF.from_checkpoint(out / "best.safetensors")
    assert best.config.use_sida is use_sida
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    # 16 samples, 2 ranks, batch 2: 4 steps per epoch per rank
    assert [r["steps"] for r in reports] == [8, 8]
    assert [int(r["step"]) for r in _rows(out / "steps.csv")] == list(range(1, 9))  # rank 0
    assert reports[0]["best_epoch"] in (1, 2)
    # the same weights on both ranks, after different initialisations
    assert reports[0]["checksum"] == pytest.approx(reports[1]["checksum"], rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(reports[0]["first"], reports[1]["first"], rtol=1e-6, atol=1e-7)
    # each epoch, the ranks read disjoint halves of the data set
    for epoch in (0, 1):
        halves = [{i for e, i in r["seen"] if e == epoch} for r in reports]
        assert len(halves[0]) == len(halves[1]) == 8
        assert not halves[0] & halves[1]
        for half in halves:  # group_size=2: each real crop trains next to its fake
            assert all((i ^ 1) in half for i in half)
