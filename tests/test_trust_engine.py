"""Trust in a run folder (issue 9): no pickle, no silent drift, no NaN in the weights.

Each test reproduces one way a run folder or a batch could betray the user, and checks the
fix: a planted pickle is never executed (the training state is safetensors + JSON), a rerun
with other settings is refused naming each setting, a second run on the same folder fails at
once, a non-finite batch is skipped and counted, temporary files of killed runs go away, and a
truncated state is a one-line error. The command-line tests train the tiny SFCL-HCMF of
``test_cli.py`` for one step; the library tests a toy detector.
"""

from __future__ import annotations

import csv
import logging
import os
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from toys import dead_pid, one_line_error, write_manifest

from freqforensics._io import RunLockedError, exclusive_lock
from freqforensics.cli import main
from freqforensics.engine import (
    TrainConfig,
    Trainer,
    TrainStateError,
    load_train_state,
    precise_bn,
    save_train_state,
)
from freqforensics.engine.state import config_differences
from freqforensics.models import SFCLHCMF

ROOT = Path(__file__).resolve().parents[1]
TINY_ARGS = ["--preset", "cpu", "--image-size", "64", "--embed-dim", "32", "--num-heads", "2"]
TINY_ARGS += ["--sbcm-channels", "4", "8", "8"]
FAST = ["--epochs", "1", "--batch-size", "2", "--max-steps-per-epoch", "1", "--no-val"]
FAST += ["--quiet", "--device", "cpu"]

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------- helpers
class Payload:
    """A pickle that creates the folder ``marker`` when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.marker),))


def _plant(path: Path, marker: Path) -> None:
    """Write a pickle payload as ``path`` (a torch zip pickle for ``.pt``, a raw one else)."""
    if path.suffix == ".pt":
        torch.save({"model": Payload(marker), "epoch": 1}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker)))




def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))




class ToyDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 1)

    def forward(self, images: torch.Tensor, sida: torch.Tensor | None = None) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(images))).mean(dim=(2, 3))
        if sida is not None:
            x = x + sida[:, :4]
        return self.fc(x).squeeze(-1)


class ToyFaces(Dataset):
    """Items ``toy/<i>``; the items in ``nan_image`` get a NaN pixel, ``inf_sida`` an inf."""

    def __init__(self, n: int, nan_image: tuple[int, ...] = (), inf_sida: tuple[int, ...] = ()):
        self.n, self.nan_image, self.inf_sida = n, nan_image, inf_sida

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(index)
        label = index % 2
        image = torch.rand(3, 8, 8, generator=g) * 0.8 + 0.1 * label
        sida = torch.rand(8, generator=g)
        if index in self.nan_image:
            image[1, 2, 3] = float("nan")
        if index in self.inf_sida:
            sida[5] = float("inf")
        return {"image": image, "sida": sida, "label": float(label), "video_id": f"toy/{index}"}


def _cfg(**changes: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        epochs=2, batch_size=4, lr=1e-2, device="cpu", progress=False, seed=0, amp=False
    )
    base.update(changes)
    return TrainConfig(**base)


def _trainer(out: Path, cfg: TrainConfig, data: Dataset | None = None) -> Trainer:
    torch.manual_seed(0)
    return Trainer(ToyDetector(), ToyFaces(16) if data is None else data, None, cfg, out)




@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real and two fake training videos of one 64 x 64 crop each."""
    videos = {"r0": (0, "train"), "r1": (0, "train"), "f0": (1, "train"), "f1": (1, "train")}
    return write_manifest(tmp_path_factory.mktemp("manifest"), videos, frames=1, size=64)


def _argv(manifest: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--manifest", str(manifest), "--out", str(out), *TINY_ARGS, *FAST, *extra]


@pytest.fixture(scope="module")
def finished(manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch CLI run (copy it before changing it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(_argv(manifest, out)) == 0
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out, ignore=shutil.ignore_patterns(".lock"))
    return out


# ------------------------------------------------------------------ item 1: no pickle, ever
class TestNoPickle:
    def test_payload_is_live(self, tmp_path: Path) -> None:
        """The control: unpickling the payload does create the marker."""
        marker = tmp_path / "PWNED"
        pickle.loads(pickle.dumps(Payload(marker)))
        assert marker.is_dir()

    def test_package_never_unpickles(self) -> None:
        for path in (ROOT / "freqforensics").rglob("*.py"):
            text = path.read_text()
            assert "weights_only=False" not in text, path
            assert not re.search(r"^\s*(import|from) (c?pickle|dill)\b", text, re.M), path
            for call in re.findall(r"torch\.load\([^)]*\)", text):
                assert "weights_only=True" in call, (path, call)

    def test_state_round_trip_is_exact(self, tmp_path: Path) -> None:
        random.seed(7)
        np.random.seed(7)
        state = {
            "optimizer": {"state": {0: {"step": torch.tensor(3.0), "m": torch.rand(2, 3)}}},
            "groups": [{"betas": (0.9, 0.999), "params": [0, 1], "foreach": None}],
            "rng": {"numpy": np.random.get_state(), "python": random.getstate()},
            "floats": [float("nan"), -float("inf"), 0.1 + 0.2, 1e-300],
            "u8": torch.randint(0, 255, (9,), dtype=torch.uint8),
            "bf16": torch.rand(4).to(torch.bfloat16),
            "text": "a.b", "flag": True,
        }  # fmt: skip
        shared = torch.arange(6.0)
        state["views"] = [shared, shared]  # shared memory: copied, not refused
        path = save_train_state(tmp_path / "s.safetensors", state)
        back = load_train_state(path)
        assert back["optimizer"]["state"][0]["step"].item() == 3.0  # int keys stay ints
        assert torch.equal(back["optimizer"]["state"][0]["m"], state["optimizer"]["state"][0]["m"])
        assert back["groups"] == [{"betas": (0.9, 0.999), "params": [0, 1], "foreach": None}]
        assert back["floats"][1:] == state["floats"][1:] and np.isnan(back["floats"][0])
        assert back["u8"].dtype == torch.uint8 and torch.equal(back["u8"], state["u8"])
        assert back["bf16"].dtype == torch.bfloat16 and torch.equal(back["bf16"], state["bf16"])
        assert back["text"] == "a.b" and back["flag"] is True
        assert all(torch.equal(v, shared) for v in back["views"])
        # the RNG states restore the same draws
        a = (np.random.rand(3), random.random())
        np.random.set_state(back["rng"]["numpy"])
        random.setstate(back["rng"]["python"])
        assert back["rng"]["numpy"][1].dtype == np.uint32
        np.testing.assert_array_equal(np.random.rand(3), a[0])
        assert random.random() == a[1]
        assert not list(tmp_path.glob(".*.tmp"))

    def test_unsupported_entry_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(TypeError, match=r"'a\.b'.*object"):
            save_train_state(tmp_path / "s.safetensors", {"a": {"b": object()}})
        with pytest.raises(TypeError, match="state must be a dict"):
            save_train_state(tmp_path / "s.safetensors", [1])  # type: ignore[arg-type]
        assert not list(tmp_path.iterdir())

    def test_legacy_last_pt_is_refused_unread(self, tmp_path: Path) -> None:
        marker = tmp_path / "PWNED"
        out = tmp_path / "run"
        out.mkdir()
        _plant(out / "last.pt", marker)
        trainer = _trainer(out, _cfg(epochs=1))
        with pytest.raises(TrainStateError, match=r"older version \(pickle\).*--restart"):
            trainer.fit()
        assert not marker.exists()
        trainer.fit(resume=False)  # starting over removes it
        assert not (out / "last.pt").exists() and (out / "last.safetensors").is_file()
        assert not marker.exists()

    def test_cli_planted_pickles_in_a_fresh_folder(
        self, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        marker = tmp_path / "PWNED"
        # the state files: refused with one line, never unpickled
        for name, words in [
            ("last.pt", ("older version", "--restart")),
            ("last.safetensors", ("cannot read the training state", "last.safetensors")),
        ]:
            out = tmp_path / name
            out.mkdir()
            _plant(out / name, marker)
            capsys.readouterr()
            assert main(_argv(manifest, out, "--precise-bn", "1")) == 2
            one_line_error(capsys, *words, "--restart")
            assert not marker.exists(), name
            assert not (out / "config.yaml").exists()  # refused before any write
            assert main(_argv(manifest, out, "--precise-bn", "1", "--restart")) == 0
            assert not marker.exists(), name
        # everything else the trainer reads or writes: ignored (rewritten) in a fresh run
        out = tmp_path / "others"
        out.mkdir()
        others = ["best.safetensors", "metrics.csv", "config.yaml", "train_args.json"]
        others += ["precise_bn.json", ".lock", ".last.safetensors.1.tmp"]
        for name in others:
            _plant(out / name, marker)
        # best.safetensors, metrics.csv and config.yaml without a state look like a finished
        # run whose state was deleted: refused unread, not overwritten; --restart goes on.
        capsys.readouterr()
        assert main(_argv(manifest, out, "--precise-bn", "1")) == 2
        one_line_error(capsys, "last.safetensors is gone", "--restart")
        assert not marker.exists()
        assert main(_argv(manifest, out, "--precise-bn", "1", "--restart")) == 0
        assert not marker.exists()
        SFCLHCMF.from_checkpoint(out / "best.safetensors")
        assert len(_rows(out / "metrics.csv")) == 1

    @pytest.mark.parametrize(
        ("name", "code", "words"),
        [
            ("config.yaml", 2, ("cannot read", "config.yaml", "--restart")),
            ("train_args.json", 0, ()),  # written by older versions; never read
            ("best.safetensors", 2, ("cannot load checkpoint", "best.safetensors")),
            ("metrics.csv", 0, ()),
            ("precise_bn.json", 0, ()),
        ],
    )
    def test_cli_planted_pickles_in_a_finished_run(
        self,
        finished: Path,
        manifest: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        name: str,
        code: int,
        words: tuple[str, ...],
    ) -> None:
        marker = tmp_path / "PWNED"
        out = _copy(finished, tmp_path)
        _plant(out / name, marker)
        capsys.readouterr()
        assert main(_argv(manifest, out, "--precise-bn", "1")) == code
        if code:
            one_line_error(capsys, *words)
        else:
            assert len(_rows(out / "metrics.csv")) == 1
        assert not marker.exists()

    def test_load_weights_from_a_training_state(self, finished: Path) -> None:
        """``last.safetensors`` gives its model weights (--no-val: best is the last epoch)."""
        best = SFCLHCMF.from_checkpoint(finished / "best.safetensors")
        model = SFCLHCMF(best.config)
        model.load_weights(finished / "last.safetensors")
        for key, value in best.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), key


# ---------------------------------------------------------------- item 6: truncated state
class TestCorruptState:
    def test_truncated_state_is_one_line(self, tmp_path: Path) -> None:
        out = tmp_path / "run"
        _trainer(out, _cfg(epochs=1)).fit()
        data = (out / "last.safetensors").read_bytes()
        (out / "last.safetensors").write_bytes(data[: len(data) - 100])
        with pytest.raises(TrainStateError) as info:
            _trainer(out, _cfg(epochs=2)).fit()
        message = str(info.value)
        assert len(message.splitlines()) == 1
        assert "last.safetensors" in message and "truncated" in message
        assert "--restart" in message

    def test_cli_truncated_state(
        self, finished: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = _copy(finished, tmp_path)
        data = (out / "last.safetensors").read_bytes()
        (out / "last.safetensors").write_bytes(data[: len(data) // 2])
        args_before = (out / "config.yaml").read_bytes()
        capsys.readouterr()
        assert main(_argv(manifest, out, "--epochs", "2")) == 2
        one_line_error(capsys, "last.safetensors", "truncated", "--restart")
        assert (out / "config.yaml").read_bytes() == args_before


# ---------------------------------------------------------- item 7: drift and concurrency
class TestRunSettings:
    def test_cli_other_lr_is_refused_naming_it(
        self, finished: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = _copy(finished, tmp_path)
        before = {
            p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"
        }
        capsys.readouterr()
        assert main(_argv(manifest, out, "--lr", "0.01", "--seed", "3")) == 2
        err = one_line_error(
            capsys, "train.lr (--lr): 0.001 -> 0.01", "train.seed (--seed): 0 -> 3", "--restart"
        )
        assert "epochs" not in err.split("settings:")[1].split(";")[0]  # only what differs
        assert "max_steps" not in err
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"}
        assert after == before  # nothing was rewritten
        assert main(_argv(manifest, out, "--embed-dim", "16")) == 2
        one_line_error(capsys, "other settings", "model.embed_dim (--embed-dim): 32 -> 16")

    def test_cli_more_epochs_extend_and_neutral_settings_may_differ(
        self, finished: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = _copy(finished, tmp_path)
        first = _rows(out / "metrics.csv")
        assert main(_argv(manifest, out, "--epochs", "2", "--threads", "1")) == 0
        rows = _rows(out / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert rows[0]["train_loss"] == first[0]["train_loss"]  # resumed, not restarted
        assert load_train_state(out / "last.safetensors", tensors=False)["epoch"] == 2
        capsys.readouterr()
        assert main(_argv(manifest, out, "--epochs", "1")) == 2  # fewer epochs: refused
        one_line_error(capsys, "train.epochs (--epochs): 2 -> 1")

    def test_trainer_refuses_other_settings(self, tmp_path: Path) -> None:
        _trainer(tmp_path, _cfg(epochs=1)).fit()
        with pytest.raises(TrainStateError, match=r"lr: 0\.01 -> 0\.001"):
            _trainer(tmp_path, _cfg(epochs=1, lr=1e-3)).fit()
        with pytest.raises(TrainStateError, match="training set size: 16 -> 12"):
            _trainer(tmp_path, _cfg(epochs=1), ToyFaces(12)).fit()
        # neutral settings and more epochs resume
        _trainer(tmp_path, _cfg(epochs=2, num_workers=0, progress=False, device="cpu")).fit()
        stored = load_train_state(tmp_path / "last.safetensors", tensors=False)["config"]
        assert config_differences(stored, _cfg(epochs=3, checkpoint_every=5)) == []
        assert config_differences(stored, _cfg(epochs=1)) == ["epochs: 2 -> 1"]

    def test_cli_second_run_fails_at_once(
        self, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "run"
        with exclusive_lock(out, "training run"):
            capsys.readouterr()
            assert main(_argv(manifest, out)) == 2
            one_line_error(capsys, str(out), "in use", f"pid {os.getpid()}")
            assert sorted(p.name for p in out.iterdir()) == [".lock"]  # it wrote nothing
        assert main(_argv(manifest, out)) == 0  # the lock is gone with the first run

    def test_trainer_second_fit_fails_at_once(self, tmp_path: Path) -> None:
        with exclusive_lock(tmp_path):
            with pytest.raises(RunLockedError, match="in use"):
                _trainer(tmp_path, _cfg(epochs=1)).fit()
        assert not (tmp_path / "metrics.csv").exists()
        _trainer(tmp_path, _cfg(epochs=1)).fit()

    def test_an_output_folder_that_is_a_file_is_named(self, tmp_path: Path) -> None:
        """It used to be the OS error "[Errno 17] File exists", which says nothing of --out."""
        out = tmp_path / "video.mp4"
        out.write_bytes(b"x")
        with pytest.raises(ValueError, match=r"output folder of the preprocess run must be a "
                           r"folder, got the file .*video.mp4"):
            with exclusive_lock(out, "preprocess run"):
                pass
        assert out.read_bytes() == b"x"

    def test_robustness_holds_its_output_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Two robustness runs on one --out once mixed their passes (review 3)."""
        def argv(out: Path) -> list[str]:
            return ["robustness", "--checkpoint", str(tmp_path / "best.safetensors"),
                    "--manifest", str(tmp_path / "manifest.csv"), "--out", str(out)]

        out = tmp_path / "rob"
        with exclusive_lock(out, "freqforensics robustness"):
            capsys.readouterr()
            assert main(argv(out)) == 2
            one_line_error(capsys, "is in use by another freqforensics robustness")
        (tmp_path / "afile").write_text("")
        assert main(argv(tmp_path / "afile")) == 2
        one_line_error(capsys, "must be a folder, got the file")


# ---------------------------------------------------------------- item 9: non-finite inputs
class TestFinishedRuns:
    """A run whose state or best model was deleted, and a cosine run extended (review 3)."""

    def test_cli_a_run_without_its_state_is_not_overwritten(
        self, finished: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = _copy(finished, tmp_path)
        (out / "last.safetensors").unlink()  # three times the size of best: deleted to save disk
        files = lambda: {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}  # noqa: E731
        before = files()
        capsys.readouterr()
        assert main(_argv(manifest, out, "--lr", "0.01")) == 2
        one_line_error(capsys, "last.safetensors is gone", "--restart")
        assert files() == before
        assert main(_argv(manifest, out, "--lr", "0.01", "--restart")) == 0

    def test_resume_without_the_best_model_keeps_a_later_one(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        torch.manual_seed(0)
        Trainer(ToyDetector(), ToyFaces(16), ToyFaces(8), _cfg(epochs=1), tmp_path).fit()
        (tmp_path / "best.safetensors").unlink()
        torch.manual_seed(0)
        trainer = Trainer(ToyDetector(), ToyFaces(16), ToyFaces(8), _cfg(epochs=2), tmp_path)
        with caplog.at_level(logging.WARNING):
            result = trainer.fit()
        assert "best.safetensors of epoch 1 is gone" in caplog.text
        assert result.best_epoch == 2 and (tmp_path / "best.safetensors").is_file()

    def test_an_extended_cosine_run_takes_the_longer_schedule_at_once(self, tmp_path: Path) -> None:
        _trainer(tmp_path, _cfg(epochs=1, scheduler="cosine")).fit()
        plain = _trainer(tmp_path, _cfg(epochs=1, scheduler="cosine"))
        plain.resume()
        stored = load_train_state(tmp_path / "last.safetensors", tensors=False)
        assert plain.optimizer.param_groups[0]["lr"] == stored["optimizer"]["param_groups"][0]["lr"]
        cfg = _cfg(epochs=2, scheduler="cosine")
        longer = _trainer(tmp_path, cfg)
        longer.resume()
        step = longer.global_step
        assert plain.optimizer.param_groups[0]["lr"] == 0.0  # the end of the one-epoch schedule
        expected = cfg.lr * cfg.lr_factor(step, longer.total_steps)
        assert longer.optimizer.param_groups[0]["lr"] == pytest.approx(expected) and expected > 0


class TestNonFinite:
    @pytest.mark.parametrize("where", ["image", "sida"])
    def test_nan_batch_is_skipped_and_counted(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
    ) -> None:
        bad = {"nan_image": (5,)} if where == "image" else {"inf_sida": (5,)}
        trainer = _trainer(tmp_path, _cfg(epochs=2), ToyFaces(16, **bad))
        with caplog.at_level(logging.WARNING, logger="freqforensics.engine.trainer"):
            result = trainer.fit()
        for name, value in trainer.model.state_dict().items():
            assert torch.isfinite(value.float()).all(), name
        bn = trainer.model.bn
        assert bn.running_mean is not None and bn.running_var is not None
        assert torch.isfinite(bn.running_mean).all() and torch.isfinite(bn.running_var).all()
        assert bn.num_batches_tracked.item() == 2 * 3  # 4 batches an epoch, 1 skipped
        rows = _rows(tmp_path / "metrics.csv")
        assert [int(r["skipped_batches"]) for r in rows] == [1, 1]
        assert all(np.isfinite(float(r["train_loss"])) for r in rows)
        assert [r["skipped_batches"] for r in result.history] == [1, 1]
        warnings = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
        assert len(warnings) == 2 and all("video_id=toy/5" in w for w in warnings)
        assert trainer.global_step == 8  # the step still counts: resume arithmetic holds

    def test_skipped_batch_resumes_exactly(self, tmp_path: Path) -> None:
        data = ToyFaces(16, nan_image=(2,))
        full = _trainer(tmp_path / "full", _cfg(epochs=2, checkpoint_every=1), data)
        full.fit()
        part = _trainer(tmp_path / "part", _cfg(epochs=1, checkpoint_every=1), data)
        part.fit()
        rest = _trainer(tmp_path / "part", _cfg(epochs=2, checkpoint_every=1), data)
        rest.fit()
        for key, value in full.model.state_dict().items():
            assert torch.equal(rest.model.state_dict()[key], value), key
        assert [r["skipped_batches"] for r in rest.history] == [1, 1]

    def test_precise_bn_refuses_no_batches_before_resetting(self) -> None:
        """-1 batches once reset every BatchNorm of best.safetensors and saved it (review 3)."""
        model = ToyDetector()
        model.bn.running_mean.fill_(0.5)
        with pytest.raises(ValueError, match="batches must be an int >= 1, got -1"):
            precise_bn(model, ToyFaces(8), -1, 4)
        assert torch.all(model.bn.running_mean == 0.5)

    def test_precise_bn_leaves_out_nan_batches(self) -> None:
        torch.manual_seed(0)
        model = ToyDetector()
        assert precise_bn(model, ToyFaces(8, nan_image=(0, 1, 2, 3)), 4, 4) == 1
        assert torch.isfinite(model.bn.running_mean).all()  # type: ignore[arg-type]
        assert torch.isfinite(model.bn.running_var).all()  # type: ignore[arg-type]


# ---------------------------------------------------------------- item 10: temporary files
class TestTemporaryFiles:
    def test_stale_temps_of_killed_runs_are_removed(self, tmp_path: Path) -> None:
        pid = dead_pid()
        stale = [tmp_path / f".last.safetensors.{pid}.tmp", tmp_path / f".metrics.csv.{pid}.tmp"]
        stale.append(tmp_path / f".last.pt.{pid}.tmp")  # of an older version
        for path in stale:
            path.write_bytes(b"half a file")
        _trainer(tmp_path, _cfg(epochs=1)).fit()
        assert not [p for p in stale if p.exists()]
        assert not list(tmp_path.glob(".*.tmp"))

    def test_failed_first_save_leaves_no_temp(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import safetensors.torch

        def killed(tensors: Any, filename: str, metadata: Any = None) -> None:
            Path(filename).write_bytes(b"partial")
            raise KeyboardInterrupt

        monkeypatch.setattr(safetensors.torch, "save_file", killed)
        with pytest.raises(KeyboardInterrupt):
            _trainer(tmp_path, _cfg(epochs=1)).fit()
        monkeypatch.undo()
        assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "last.safetensors").exists()
