"""Training and evaluation engine: seeded, resumable, logged, single- or multi-process.

The defaults are the paper's (Section 4.1): Adam, learning rate 1e-3, weight decay 1e-8,
batch 20, 20 epochs. Each epoch writes a row of metrics to ``metrics.csv`` (and to TensorBoard
when it is installed), the best model on validation AUC to ``best.safetensors``, and the full
training state to ``last.safetensors`` (safetensors and JSON, never a pickle: see
:mod:`freqforensics.engine.state`), always through a temporary file and an atomic rename: a
kill at any moment leaves the previous checkpoint intact, and ``resume=True`` continues from
it, to the batch (the sampling order of each epoch is a function of the seed and the epoch).

A run folder is guarded: :meth:`Trainer.fit` holds an exclusive lock on it (a second run on the
same folder fails at once), removes the temporary files of killed runs, and refuses to resume
a state saved with other settings (:func:`~freqforensics.engine.state.config_differences`) or
a pickled ``last.pt`` of an older version. A training batch with a non-finite image, SIDA
vector or label never reaches the model: it is skipped, logged with its sample ids and counted
in the ``skipped_batches`` column of ``metrics.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from freqforensics._io import atomic_write, exclusive_lock, remove_stale_temps
from freqforensics.data.dataset import collate_frames as collate_batch
from freqforensics.engine import state as _state
from freqforensics.engine.config import TrainConfig, TrainResult
from freqforensics.engine.evaluation import (
    _forward,
    _progress,
    nonfinite_samples,
    precise_bn,
    predict,
    sample_ids,
)
from freqforensics.engine.sampler import _EpochSampler
from freqforensics.metrics import evaluate_predictions

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "predict",
    "collate_batch",
    "seed_everything",
    "atomic_save",
    "precise_bn",
]

logger = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never a half-written file.

    The engine itself writes safetensors; read a file of this function back with
    ``torch.load(path, weights_only=True)`` only (a full unpickling can run code).
    """
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


class Trainer:
    """Train a binary detector (one logit, positive = fake) with checkpoints and metrics.

    Works for any ``nn.Module`` whose ``forward(images, sida=None)`` returns logits ``(N,)``,
    on samples that are dicts with ``image``, ``label`` and optionally ``sida`` and
    ``video_id``. Under ``torchrun`` (``WORLD_SIZE > 1``) it trains with
    DistributedDataParallel (gloo on the CPU, NCCL on CUDA); rank 0 evaluates, logs and writes
    the checkpoints.

    Args:
        model: the detector.
        train_set: training data set; a ``set_epoch(epoch)`` method, when present, is called at
            the start of every epoch (fresh crops and masks per epoch).
        val_set: validation data set (best checkpoint on its frame-level AUC), or ``None``.
        config: the settings.
        out_dir: where ``metrics.csv``, ``last.safetensors`` and ``best.safetensors`` go.
        save_best: callback ``save_best(model, path)``; default: ``model.save_checkpoint``
            when it exists, else a torch state dict.
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset[Any],
        val_set: Dataset[Any] | None,
        config: TrainConfig,
        out_dir: str | Path,
        save_best: Callable[[nn.Module, Path], Any] | None = None,
    ) -> None:
        self.cfg = config
        self.out_dir = Path(out_dir)
        self.train_set, self.val_set = train_set, val_set
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world > 1
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and config.device != "cpu" else "gloo"
            dist.init_process_group(backend=backend)
        self.device = _device(config.device)
        if self.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        seed_everything(config.seed + self.rank, config.deterministic)
        if self.device.type == "cuda":
            # Keep float32 matmuls and convolutions in float32 (cuDNN would use TF32).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.model = model.to(self.device)
        self.ddp: nn.Module = self.model
        if self.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        n_train = len(train_set)  # type: ignore[arg-type]
        self.sampler = _EpochSampler(
            n_train, config.seed, self.rank, self.world, group_size=config.group_size
        )
        steps = math.ceil(len(self.sampler) / (config.batch_size * config.accumulate))
        if config.max_steps_per_epoch is not None:
            steps = min(steps, config.max_steps_per_epoch)
        self.steps_per_epoch = max(1, steps)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        use_amp = config.amp and self.device.type == "cuda"
        self.amp_dtype = (
            torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        )
        self.use_amp = use_amp
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=use_amp and self.amp_dtype == torch.float16
        )
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.save_best = save_best or _default_save
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.epoch_losses: list[float] = []  # step losses of the current epoch so far
        self.skipped_batches = 0  # non-finite batches of the current epoch so far
        self.best_auc = -math.inf
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []
        self._tb: Any = None

    # ------------------------------------------------------------------------------ state
    def _lr_factor(self, step: int) -> float:
        if self.cfg.scheduler == "none":
            return 1.0
        if step < self.cfg.warmup_steps:
            return (step + 1) / max(1, self.cfg.warmup_steps)
        t = (step - self.cfg.warmup_steps) / max(1, self.total_steps - self.cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumption needs: weights, optimiser, schedule, RNGs, progress."""
        rng: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": {"n": self.sampler.n, "world": self.world, "group": self.sampler.group},
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "epoch_losses": list(self.epoch_losses),
            "skipped_batches": self.skipped_batches,
            "best_auc": self.best_auc,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "config": dataclasses.asdict(self.cfg),
            "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.epoch_losses = [float(x) for x in state.get("epoch_losses", [])]
        self.skipped_batches = int(state.get("skipped_batches", 0))
        self.best_auc = float(state["best_auc"])
        self.best_epoch = int(state["best_epoch"])
        self.history = list(state["history"])
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    @property
    def state_path(self) -> Path:
        """The training state file, ``out_dir/last.safetensors``."""
        return self.out_dir / _state.STATE_FILE

    def checkpoint(self) -> None:
        """Write ``last.safetensors`` atomically (rank 0)."""
        if self.is_main:
            _state.save_train_state(self.state_path, self.state_dict())

    def resume(self) -> bool:
        """Load ``last.safetensors`` from ``out_dir`` when it exists; return whether it did.

        Raises:
            TrainStateError: a pickled ``last.pt`` of an older version is there (it is never
                read), the state file is corrupt, or it was saved with other settings (each
                named) or another training set size.
        """
        legacy = self.out_dir / _state.LEGACY_STATE_FILE
        if legacy.exists():
            raise _state.TrainStateError(_state.legacy_state_message(legacy))
        path = self.state_path
        if not path.is_file():
            return False
        state = _state.load_train_state(path)
        changed = _state.config_differences(state.get("config", {}), self.cfg)
        n_then = state.get("sampler", {}).get("n", self.sampler.n)
        if n_then != self.sampler.n:
            changed.append(f"training set size: {n_then} -> {self.sampler.n}")
        if changed:
            raise _state.TrainStateError(
                f"{path} was saved with other settings ({'; '.join(changed)}); use the same "
                "settings to resume (raising epochs extends a run), or rerun with --restart "
                "(Trainer.fit(resume=False)) to start over"
            )
        self.load_state_dict(state)
        logger.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step_in_epoch)
        return True

    # ------------------------------------------------------------------------------ loops
    def _loader(
        self, dataset: Dataset[Any], sampler: Sampler[int] | None, batch: int
    ) -> DataLoader:
        # A generator of its own (workers' seeds a function of seed, epoch and rank): without
        # one, iter(loader) draws from the global torch RNG, and a resumed epoch, which makes
        # one more iterator, would get other dropout masks than an uninterrupted run.
        generator = torch.Generator()
        generator.manual_seed(self.cfg.seed * 1_000_003 + self.epoch * 1009 + self.rank)
        return DataLoader(
            dataset,
            batch_size=batch,
            sampler=sampler,
            shuffle=False,
            num_workers=self.cfg.num_workers,
            collate_fn=collate_batch,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            generator=generator,
        )

    def train_epoch(self) -> float:
        """One epoch (from ``step_in_epoch`` on, after a resume); returns the mean loss."""
        cfg = self.cfg
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self.epoch)
        self.sampler.epoch = self.epoch
        micro = cfg.batch_size
        self.sampler.skip = self.step_in_epoch * micro * cfg.accumulate
        loader = self._loader(self.train_set, self.sampler, micro)
        self.ddp.train()
        if self.step_in_epoch == 0:
            self.epoch_losses = []
            self.skipped_batches = 0
        losses = self.epoch_losses  # the steps before a resume count in the epoch's mean
        it = iter(loader)
        bar = _progress(
            range(self.step_in_epoch, self.steps_per_epoch),
            cfg.progress and self.is_main,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
        )
        for _ in bar:
            self.optimizer.zero_grad(set_to_none=True)
            step_loss, used = 0.0, 0
            for _micro in range(cfg.accumulate):
                try:
                    batch = next(it)
                except StopIteration:
                    break
                if not self._finite(batch):
                    continue  # never forward a NaN: it would reach the weights and BatchNorm
                labels = batch["label"].float().to(self.device)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                    logits = _forward(self.ddp, batch, self.device)
                    loss = self.loss_fn(logits.float(), labels) / cfg.accumulate
                self.scaler.scale(loss).backward()
                step_loss += float(loss.detach())
                used += 1
            if used:
                if cfg.grad_clip is not None:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                losses.append(step_loss)
            with warnings.catch_warnings():  # a skipped first step: no optimizer.step() yet
                warnings.filterwarnings("ignore", "Detected call of `lr_scheduler", UserWarning)
                self.scheduler.step()  # the schedule stays a function of the step count
            self.global_step += 1
            self.step_in_epoch += 1
            if losses and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if cfg.checkpoint_every and self.step_in_epoch % cfg.checkpoint_every == 0:
                self.checkpoint()
        return float(np.mean(losses)) if losses else float("nan")

    def _finite(self, batch: dict[str, Any]) -> bool:
        """Whether ``batch`` is finite (on every process); count and log it when it is not."""
        bad = nonfinite_samples(batch)
        finite = not bad
        if self.distributed:  # every process skips the batch, or none: DDP needs them in step
            flag = torch.tensor([int(finite)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = bool(flag.item())
        if not finite:
            self.skipped_batches += 1
            ids = sample_ids(batch, bad[:10])
            logger.warning(
                "epoch %d, step %d: skipped a training batch with non-finite image, SIDA or "
                "label values (%s)",
                self.epoch + 1,
                self.step_in_epoch + 1,
                f"{len(bad)} samples: " + "; ".join(ids) + (" ..." if len(bad) > 10 else "")
                if bad
                else "on another process",
            )
        return finite

    def evaluate(self, dataset: Dataset[Any]) -> dict[str, dict[str, float]]:
        """Frame- and video-level metrics of the model on ``dataset``."""
        batch = self.cfg.eval_batch_size or 2 * self.cfg.batch_size
        loader = self._loader(dataset, None, batch)
        ids, labels, probs = predict(
            self.model, loader, self.device, progress=self.cfg.progress and self.is_main
        )
        return evaluate_predictions(ids, labels, probs)

    def _log(self, row: dict[str, float]) -> None:
        self._rewrite_log()  # the whole file each epoch (a few rows): never a torn append
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except Exception:  # TensorBoard is optional
                self._tb = False
        if self._tb:
            for key, value in row.items():
                if key != "epoch":
                    self._tb.add_scalar(key, value, int(row["epoch"]))

    def _rewrite_log(self) -> None:
        """Write ``metrics.csv`` afresh (atomically) from ``history``, the checkpoint's rows."""
        path = self.out_dir / "metrics.csv"
        if not self.history:
            path.unlink(missing_ok=True)
            return
        fields = list(dict.fromkeys(k for row in self.history for k in row))
        with atomic_write(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.history)

    def fit(self, resume: bool = True, lock: bool = True) -> TrainResult:
        """Train for ``config.epochs`` epochs, resuming from ``out_dir/last.safetensors``.

        Args:
            resume: continue from the state in ``out_dir`` when there is one; ``False`` starts
                over (and removes the state of an earlier run, a legacy ``last.pt`` included).
            lock: hold an exclusive lock on ``out_dir`` while training (rank 0), so a second
                run on it fails at once with :class:`~freqforensics._io.RunLockedError`;
                ``False`` when the caller holds it already.

        Raises:
            TrainStateError: the state in ``out_dir`` cannot be resumed (see :meth:`resume`).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        guard: Any = contextlib.nullcontext()
        if lock and self.is_main:
            guard = exclusive_lock(self.out_dir, "training run")
        with guard:
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        if self.is_main:
            for path in remove_stale_temps(self.out_dir):
                logger.info("removed %s, left by a killed run", path)
            if not resume:
                for name in (_state.STATE_FILE, _state.LEGACY_STATE_FILE):
                    (self.out_dir / name).unlink(missing_ok=True)
        resumed = self.resume() if resume else False
        if not resumed and self.global_step == 0:
            # A fresh run starts from the seed, whatever ran since the constructor.
            seed_everything(self.cfg.seed + self.rank, self.cfg.deterministic)
        if self.is_main:
            # One row per finished epoch: drop rows of an earlier run (resume=False) and a row
            # written just before a kill that came before its epoch's checkpoint.
            self._rewrite_log()
        while self.epoch < self.cfg.epochs:
            t0 = time.perf_counter()
            train_loss = self.train_epoch()
            row: dict[str, float] = {
                "epoch": self.epoch + 1,
                "step": self.global_step,
                "train_loss": train_loss,
                "lr": self.optimizer.param_groups[0]["lr"],
                "skipped_batches": self.skipped_batches,
            }
            if self.is_main and self.val_set is not None:
                metrics = self.evaluate(self.val_set)
                for level, values in metrics.items():
                    for key in ("auc", "acc", "eer", "ap"):
                        row[f"val_{level}_{key}"] = float(values[key])
                auc = row["val_frame_auc"]
                if not math.isnan(auc) and auc > self.best_auc:
                    self.best_auc, self.best_epoch = auc, self.epoch + 1
                    self.save_best(self.model, self.out_dir / "best.safetensors")
            elif self.is_main and self.val_set is None:
                self.best_epoch = self.epoch + 1
                self.save_best(self.model, self.out_dir / "best.safetensors")
            row["epoch_seconds"] = time.perf_counter() - t0
            self.history.append(row)
            if self.is_main:
                self._log(row)
                logger.info("epoch %d: %s", self.epoch + 1, row)
            self.epoch += 1
            self.step_in_epoch = 0
            self.epoch_losses = []
            self.skipped_batches = 0
            self.checkpoint()
            if self.distributed:
                dist.barrier()
        best = self.out_dir / "best.safetensors"
        if self.is_main and self.best_epoch < 0:
            # Validation AUC was undefined every epoch (e.g. one class only): keep the last model.
            logger.warning("no finite validation AUC; saving the last model as %s", best)
            self.best_epoch = self.epoch
            self.save_best(self.model, best)
        if self._tb:
            self._tb.close()
        return TrainResult(self.best_epoch, self.best_auc, self.history, self.out_dir)


def _default_save(model: nn.Module, path: Path) -> None:
    save = getattr(model, "save_checkpoint", None)
    if callable(save):
        save(path)
    else:
        _state.save_tensors(path, model.state_dict())
