"""The training loop: seeded, resumable, logged, single- or multi-process.

The defaults are the paper's (Section 4.1): Adam, learning rate 1e-3, weight decay 1e-8,
batch 20, 20 epochs. Each step writes a row to ``steps.csv`` and each epoch a row of metrics to
``metrics.csv`` (both also to TensorBoard when it is installed: see
:mod:`~freqforensics.engine.logs`), the best model on validation AUC to ``best.safetensors``,
and the full training state to ``last.safetensors`` (safetensors and JSON, never a pickle: see
:mod:`freqforensics.engine.state`), always through a temporary file and an atomic rename: a
kill at any moment leaves the previous checkpoint intact, and ``resume=True`` continues from
it, to the batch (the sampling order of each epoch is a function of the seed and the epoch).

A run folder is guarded: :meth:`Trainer.fit` holds an exclusive lock on it (a second run on the
same folder fails at once), removes the temporary files of killed runs, and refuses to resume
a state saved with other settings (:func:`~freqforensics.engine.state.config_differences`) or
a pickled ``last.pt`` of an older version. A training batch with a non-finite image, SIDA
vector or label never reaches the model: it is skipped, logged with its sample ids and counted
in the ``skipped_batches`` column of ``metrics.csv``. Where an epoch would end in a batch of
one sample (BatchNorm cannot train on it), that sample is left out of the epoch, and the
trainer says so when it is built.

With ``TrainConfig.sam_rho > 0`` each step is a sharpness-aware one
(:mod:`~freqforensics.engine.sam`): a second forward and backward pass of the same batches at
weights moved up the gradient.

Multi-process training (``torchrun``) is set up by :mod:`~freqforensics.engine.distributed`;
TF32 and mixed precision are settings of :mod:`~freqforensics.engine.precision`; the
channels-last memory format and ``torch.compile`` (``TrainConfig.channels_last``,
``TrainConfig.compile``) are applied by ``freqforensics.engine.runtime``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from freqforensics._io import exclusive_lock, remove_stale_temps
from freqforensics._progress import progress as _progress
from freqforensics.data.dataset import collate_frames as collate_batch
from freqforensics.engine import distributed as _dist
from freqforensics.engine import sam as _sam
from freqforensics.engine import state as _state
from freqforensics.engine.config import TrainConfig, TrainResult
from freqforensics.engine.evaluation import (
    _forward,
    nonfinite_samples,
    precise_bn,
    predict,
    sample_ids,
)
from freqforensics.engine.logs import RunLog
from freqforensics.engine.precision import amp_dtype, tf32_mode
from freqforensics.engine.runtime import compile_module, to_channels_last
from freqforensics.engine.sampler import _EpochSampler, seeded_loader
from freqforensics.engine.seeding import rng_state, seed_everything, set_rng_state
from freqforensics.engine.state import atomic_save
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
        out_dir: where ``metrics.csv``, ``steps.csv``, ``last.safetensors`` and
            ``best.safetensors`` go.
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
        self.procs = _dist.setup(config.device)
        self.world, self.rank = self.procs.world_size, self.procs.rank
        self.distributed, self.device = self.procs.distributed, self.procs.device
        seed_everything(config.seed + self.rank, config.deterministic)
        self.model = model.to(self.device)
        if config.channels_last:
            to_channels_last(self.model)
        self.ddp = _dist.wrap(self.model, self.procs)
        # The modules of the training and evaluation forward passes (compiled with
        # config.compile); self.model keeps the weights and writes the checkpoints. Evaluation
        # (rank 0 alone) never goes through DDP.
        self.net, self.eval_net = self.ddp, self.model
        if config.compile:
            self.net = compile_module(self.ddp)
            self.eval_net = self.net if self.ddp is self.model else compile_module(self.model)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        n_train = len(train_set)  # type: ignore[arg-type]
        self.sampler = _EpochSampler(
            n_train, config.seed, self.rank, self.world, group_size=config.group_size
        )
        if len(self.sampler) < 2:
            raise ValueError(
                f"train_set must give each of the {self.world} process(es) at least 2 samples "
                f"(BatchNorm cannot train on one), got {n_train} samples"
            )
        # BatchNorm cannot train on one sample: a last batch of one is left out of each epoch
        single_last = len(self.sampler) % config.batch_size == 1
        usable = len(self.sampler) - single_last
        if single_last:
            logger.warning(
                "%d training samples per process in batches of %d: the last batch of each epoch "
                "would hold one sample, which BatchNorm cannot train on; it is left out (a "
                "different sample each epoch when shuffled)",
                len(self.sampler),
                config.batch_size,
            )
        steps = math.ceil(usable / (config.batch_size * config.accumulate))
        if config.max_steps_per_epoch is not None:
            steps = min(steps, config.max_steps_per_epoch)
        self.steps_per_epoch = max(1, steps)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: config.lr_factor(step, self.total_steps)
        )
        dtype = amp_dtype(self.device, config.amp, config.autocast)
        self.use_amp, self.amp_dtype = dtype is not None, dtype or torch.float16
        # Evaluation autocasts only when forced (config.autocast); amp alone trains only.
        self.eval_amp = config.autocast is not None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=dtype == torch.float16)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.save_best = save_best or _state.save_model
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.epoch_losses: list[float] = []  # step losses of the current epoch so far
        self.skipped_batches = 0  # non-finite batches of the current epoch so far
        self.best_auc = -math.inf
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []
        self._log: RunLog | None = None  # rank 0, during fit

    # ------------------------------------------------------------------------------ state
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumption needs: weights, optimiser, schedule, RNGs, progress."""
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
            "rng": rng_state(self.device),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # The step about to run takes its rate from this run's schedule: the same value on a
        # plain resume, the longer schedule's when more epochs extend the run.
        sched, step = self.scheduler, self.scheduler.last_epoch
        rates = [base * lam(step) for lam, base in zip(sched.lr_lambdas, sched.base_lrs)]
        for group, rate in zip(self.optimizer.param_groups, rates):
            group["lr"] = rate
        sched._last_lr = rates  # what get_last_lr() reports
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.epoch_losses = [float(x) for x in state.get("epoch_losses", [])]
        self.skipped_batches = int(state.get("skipped_batches", 0))
        self.best_auc = float(state["best_auc"])
        self.best_epoch = int(state["best_epoch"])
        self.history = list(state["history"])
        set_rng_state(state.get("rng", {}), self.device)

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
        _state.check_resumable(path, state, self.cfg, self.sampler.n)
        self.load_state_dict(state)
        logger.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step_in_epoch)
        best = self.out_dir / "best.safetensors"
        if self.is_main and self.best_epoch > 0 and not best.is_file():
            # Else no later epoch that scores lower would be saved: the run would end with none.
            logger.warning("%s of epoch %d is gone: the model of the next finished epoch takes "
                           "its place", best, self.best_epoch)
            self.best_auc, self.best_epoch = -math.inf, -1
        return True

    # ------------------------------------------------------------------------------ loops
    def _loader(
        self, dataset: Dataset[Any], sampler: Sampler[int] | None, batch: int
    ) -> DataLoader:
        seed = self.cfg.seed * 1_000_003 + self.epoch * 1009 + self.rank
        cuda, workers = self.device.type == "cuda", self.cfg.num_workers
        return seeded_loader(dataset, sampler, batch, seed, workers, pin_memory=cuda)

    def train_epoch(self) -> float:
        """One epoch (from ``step_in_epoch`` on, after a resume); returns the mean loss."""
        cfg = self.cfg
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self.epoch)
        self.sampler.epoch = self.epoch
        micro = cfg.batch_size
        self.sampler.skip = self.step_in_epoch * micro * cfg.accumulate
        loader = self._loader(self.train_set, self.sampler, micro)
        self.net.train()
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
            t0 = time.perf_counter()
            self.optimizer.zero_grad(set_to_none=True)
            step_loss, used, kept = 0.0, 0, []  # kept: the batches SAM's second pass needs
            for _micro in range(cfg.accumulate):
                try:
                    batch = next(it)
                except StopIteration:
                    break
                if len(batch["label"]) < 2:
                    break  # the one-sample last batch of the epoch: left out (see __init__)
                if not self._finite(batch):
                    continue  # never forward a NaN: it would reach the weights and BatchNorm
                step_loss += self._backward(batch)
                used += 1
                if cfg.sam_rho > 0:
                    kept.append(batch)
            if used:
                if kept:
                    self._sharpness_aware(kept)
                if cfg.grad_clip is not None:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                losses.append(step_loss)
            lr = self.optimizer.param_groups[0]["lr"]
            with warnings.catch_warnings():  # a skipped first step: no optimizer.step() yet
                warnings.filterwarnings("ignore", "Detected call of `lr_scheduler", UserWarning)
                self.scheduler.step()  # the schedule stays a function of the step count
            self.global_step += 1
            self.step_in_epoch += 1
            if self._log is not None:
                loss_now = step_loss if used else math.nan
                seconds = time.perf_counter() - t0
                self._log.step(self.global_step, self.epoch + 1, loss_now, lr, seconds)
            if losses and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if cfg.checkpoint_every and self.step_in_epoch % cfg.checkpoint_every == 0:
                self.checkpoint()
        return float(np.mean(losses)) if losses else float("nan")

    def _backward(self, batch: dict[str, Any]) -> float:
        """Forward ``batch``, add its gradient (scaled for accumulation); return its loss."""
        cfg = self.cfg
        labels = batch["label"].float().to(self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            logits = _forward(self.net, batch, self.device, cfg.channels_last)
            loss = self.loss_fn(logits.float(), labels) / cfg.accumulate
        self.scaler.scale(loss).backward()
        return float(loss.detach())

    def _sharpness_aware(self, batches: list[dict[str, Any]]) -> None:
        """Replace the step's gradient by SAM's: the gradient of the same batches at the
        weights moved ``sam_rho`` up the gradient (:mod:`~freqforensics.engine.sam`)."""
        saved = _sam.ascent_step(self.model.parameters(), self.cfg.sam_rho)
        if not saved:
            return  # a zero or non-finite gradient: step (or skip) as without SAM
        self.optimizer.zero_grad(set_to_none=True)
        with _sam.frozen_bn_stats(self.model):
            for batch in batches:
                self._backward(batch)
        _sam.undo(saved)

    def _finite(self, batch: dict[str, Any]) -> bool:
        """Whether ``batch`` is finite (on every process); count and log it when it is not."""
        bad = nonfinite_samples(batch)
        finite = _dist.all_processes(not bad, self.procs)  # skipped by all, or by none
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
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.eval_amp):
            ids, labels, probs = predict(
                self.eval_net, loader, self.device, progress=self.cfg.progress and self.is_main,
                channels_last=self.cfg.channels_last,
            )
        return evaluate_predictions(ids, labels, probs)

    def fit(self, resume: bool = True, lock: bool = True) -> TrainResult:
        """Train for ``config.epochs`` epochs, resuming from ``out_dir/last.safetensors``.

        Args:
            resume: continue from the state in ``out_dir`` when there is one; ``False`` starts
                over (and removes the state of an earlier run, a legacy ``last.pt`` included).
            lock: hold an exclusive lock on ``out_dir`` while training (rank 0), so a second
                run on it fails at once with :class:`~freqforensics._io.RunLockedError`;
                ``False`` when the caller holds it already.

        TF32 is set as ``config.tf32`` says while it trains, and restored after
        (:func:`~freqforensics.engine.precision.tf32_mode`).

        Raises:
            TrainStateError: the state in ``out_dir`` cannot be resumed (see :meth:`resume`).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        guard: Any = contextlib.nullcontext()
        if lock and self.is_main:
            guard = exclusive_lock(self.out_dir, "training run")
        with guard, tf32_mode(self.cfg.tf32):
            try:
                return self._fit(resume)
            finally:
                if self._log is not None:
                    self._log.close()
                    self._log = None

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
            # One row per finished epoch and per step: drop rows of an earlier run
            # (resume=False) and those written after the checkpoint, before a kill.
            self._log = RunLog(self.out_dir, self.history, self.global_step)
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
            if self._log is not None:
                self._log.epoch(row, self.history)
                logger.info("epoch %d: %s", self.epoch + 1, row)
            self.epoch += 1
            self.step_in_epoch = 0
            self.epoch_losses = []
            self.skipped_batches = 0
            self.checkpoint()
            _dist.barrier(self.procs)
        best = self.out_dir / "best.safetensors"
        if self.is_main and self.best_epoch < 0:
            # Validation AUC was undefined every epoch (e.g. one class only), or the best model
            # was deleted before the last epoch: keep the last model.
            logger.warning("no best model (no finite validation AUC, or it was deleted); "
                           "saving the last model as %s", best)
            self.best_epoch = self.epoch
            self.save_best(self.model, best)
        return TrainResult(self.best_epoch, self.best_auc, self.history, self.out_dir)
