"""Training and evaluation engine: seeded, resumable, logged, single- or multi-process.

The defaults are the paper's (Section 4.1): Adam, learning rate 1e-3, weight decay 1e-8,
batch 20, 20 epochs. Each epoch writes a row of metrics to ``metrics.csv`` (and to TensorBoard
when it is installed), the best model on validation AUC to ``best.safetensors``, and the full
training state to ``last.pt``, always through a temporary file and an atomic rename: a kill at
any moment leaves the previous checkpoint intact, and ``resume=True`` continues from it, to the
batch (the sampling order of each epoch is a function of the seed and the epoch).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from freqforensics.data.dataset import collate_frames as collate_batch
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


@dataclass
class TrainConfig:
    """Settings of :class:`Trainer` (the paper's defaults).

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per optimiser step (per process), before accumulation.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        accumulate: micro-batches per optimiser step (gradient accumulation).
        scheduler: ``"cosine"`` (per step, with ``warmup_steps``) or ``"none"``.
        warmup_steps: linear warm-up steps of the cosine schedule.
        grad_clip: clip the gradient norm to this value (``None``: no clipping).
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with a scaler);
            ignored on the CPU.
        seed: seeds Python, NumPy and torch, and the sampling order of every epoch.
        deterministic: ask torch for deterministic algorithms.
        num_workers: data loader workers.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        eval_batch_size: batch size of evaluation (default: ``2 * batch_size``).
        checkpoint_every: also write ``last.pt`` every this many steps inside an epoch.
        max_steps_per_epoch: cap the steps of an epoch (``None``: the whole data set).
        group_size: shuffle the training set in groups of this many consecutive indices, kept
            together in one batch (2 with :class:`~freqforensics.data.synthetic.SelfBlendedFaces`
            keeps each real crop next to its self-blended fake, as SBI trains).
        progress: show progress bars.
    """

    epochs: int = 20
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-8
    accumulate: int = 1
    scheduler: str = "none"
    warmup_steps: int = 0
    grad_clip: float | None = None
    amp: bool = True
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    device: str = "auto"
    eval_batch_size: int | None = None
    checkpoint_every: int | None = None
    max_steps_per_epoch: int | None = None
    group_size: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulate", "group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.scheduler not in ("cosine", "none"):
            raise ValueError(f"scheduler must be 'cosine' or 'none', got {self.scheduler!r}")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    best_epoch: int
    best_val_auc: float
    history: list[dict[str, float]]
    out_dir: Path


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # after a failed save; gone after a successful rename


class _EpochSampler(Sampler[int]):
    """A permutation per epoch from ``(seed, epoch)``, sharded across processes, skippable."""

    def __init__(
        self,
        n: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        shuffle: bool = True,
        group_size: int = 1,
    ):
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.group = group_size
        self.epoch = 0
        self.skip = 0

    def order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            groups = torch.randperm(math.ceil(self.n / self.group), generator=g).tolist()
            idx = [i for k in groups for i in range(k * self.group, (k + 1) * self.group)]
            idx = [i for i in idx if i < self.n]
        else:
            idx = list(range(self.n))
        idx += idx[: self._per_rank() * self.world - self.n]  # every process the same count
        # deal whole groups to the processes: a group (a real and its fake) stays together
        size = self.group
        chunks = [idx[i : i + size] for i in range(0, len(idx), size)]
        return [i for chunk in chunks[self.rank :: self.world] for i in chunk]

    def _per_rank(self) -> int:
        return math.ceil(self.n / (self.group * self.world)) * self.group

    def __iter__(self) -> Any:
        return iter(self.order()[self.skip :])

    def __len__(self) -> int:
        return max(0, self._per_rank() - self.skip)


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def _progress(iterable: Iterable[Any], enabled: bool, **kwargs: Any) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, dynamic_ncols=True, leave=False, **kwargs)


def _forward(model: nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    images = batch["image"].to(device, non_blocking=True)
    sida = batch.get("sida")
    if isinstance(sida, torch.Tensor):
        return model(images, sida=sida.to(device, non_blocking=True))
    return model(images)


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable[dict[str, Any]],
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fake probabilities of every sample of ``loader``: ``(video_ids, labels, probs)``."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    ids: list[str] = []
    labels: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for batch in _progress(loader, progress, desc="eval"):
        logits = _forward(model, batch, device)
        probs.append(torch.sigmoid(logits.float()).cpu().numpy())
        labels.append(np.asarray(batch["label"], dtype=np.float64).reshape(-1))
        vid = batch.get("video_id")
        if vid is None:
            vid = [str(len(ids) + i) for i in range(len(logits))]
        ids.extend(list(vid))
    model.train(was_training)
    if not probs:
        return [], np.zeros(0), np.zeros(0)
    return ids, np.concatenate(labels), np.concatenate(probs).astype(np.float64)


def precise_bn(
    model: torch.nn.Module,
    dataset: Any,
    batches: int,
    batch_size: int,
    seed: int = 0,
    group_size: int = 1,
    device: torch.device | str = "cpu",
) -> int:
    """Recompute the BatchNorm running statistics of ``model`` on training batches.

    The running means and variances a model keeps during training are exponential averages
    over batches seen while the weights were still changing; with few steps (a small data
    set, a short schedule) they lag behind the final weights and the model in eval mode
    scores differently from the model in train mode. This resets them and sets them to the
    plain average of the batch statistics over ``batches`` shuffled training batches of the
    final weights ("precise BN"), with the model otherwise in eval mode (no dropout), under
    ``torch.no_grad``. The weights do not change.

    Args:
        model: the model (changed in place; left in eval mode).
        dataset: the training data set (items with ``image`` and optionally ``sida``); its
            ``set_epoch`` is called with a fresh epoch when it has one.
        batches: number of batches.
        batch_size: samples per batch.
        seed: seed of the shuffling.
        group_size: consecutive items kept in one batch (2 for a real and its pseudo-fake).
        device: where the model runs.

    Returns:
        The number of BatchNorm layers recalibrated.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches
    model.eval()
    for m in norms:
        m.train()
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(10_000 + seed)
    generator = torch.Generator().manual_seed(seed)
    groups = math.ceil(len(dataset) / group_size)
    order: list[int] = []
    per_batch = max(1, batch_size // group_size) * group_size
    with torch.no_grad():
        for _ in range(batches):
            if len(order) < per_batch:
                perm = torch.randperm(groups, generator=generator).tolist()
                order += [
                    i
                    for g in perm
                    for i in range(g * group_size, (g + 1) * group_size)
                    if i < len(dataset)
                ]
            chunk, order = order[:per_batch], order[per_batch:]
            _forward(model, collate_batch([dataset[i] for i in chunk]), torch.device(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return len(norms)


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
        out_dir: where ``metrics.csv``, ``last.pt`` and ``best.safetensors`` go.
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
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "epoch_losses": list(self.epoch_losses),
            "best_auc": self.best_auc,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "config": dataclasses.asdict(self.cfg),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
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
        self.best_auc = float(state["best_auc"])
        self.best_epoch = int(state["best_epoch"])
        self.history = list(state["history"])
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])

    def checkpoint(self) -> None:
        """Write ``last.pt`` atomically (rank 0)."""
        if self.is_main:
            atomic_save(self.state_dict(), self.out_dir / "last.pt")

    def resume(self) -> bool:
        """Load ``last.pt`` from ``out_dir`` when it exists; return whether it did."""
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.load_state_dict(state)
        logger.info(
            "resumed from %s at epoch %d, step %d", path, self.epoch, self.step_in_epoch
        )
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
        losses = self.epoch_losses  # the steps before a resume count in the epoch's mean
        it = iter(loader)
        bar = _progress(
            range(self.step_in_epoch, self.steps_per_epoch),
            cfg.progress and self.is_main,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
        )
        for _ in bar:
            self.optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for _micro in range(cfg.accumulate):
                try:
                    batch = next(it)
                except StopIteration:
                    break
                labels = batch["label"].float().to(self.device)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                    logits = _forward(self.ddp, batch, self.device)
                    loss = self.loss_fn(logits.float(), labels) / cfg.accumulate
                self.scaler.scale(loss).backward()
                step_loss += float(loss.detach())
            if cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.global_step += 1
            self.step_in_epoch += 1
            losses.append(step_loss)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if cfg.checkpoint_every and self.step_in_epoch % cfg.checkpoint_every == 0:
                self.checkpoint()
        return float(np.mean(losses)) if losses else float("nan")

    def evaluate(self, dataset: Dataset[Any]) -> dict[str, dict[str, float]]:
        """Frame- and video-level metrics of the model on ``dataset``."""
        batch = self.cfg.eval_batch_size or 2 * self.cfg.batch_size
        loader = self._loader(dataset, None, batch)
        ids, labels, probs = predict(
            self.model, loader, self.device, progress=self.cfg.progress and self.is_main
        )
        return evaluate_predictions(ids, labels, probs)

    def _log(self, row: dict[str, float]) -> None:
        path = self.out_dir / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
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
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows(self.history)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def fit(self, resume: bool = True) -> TrainResult:
        """Train for ``config.epochs`` epochs, resuming from ``out_dir/last.pt`` if asked."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
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
        atomic_save(model.state_dict(), path.with_suffix(".pt"))
