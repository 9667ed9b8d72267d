"""Training from a run configuration: the library behind ``freqforensics train`` and ``make demo``.

:func:`train` takes a :class:`~freqforensics.config.RunConfig` and an output folder and does
the whole job: it locks the folder, refuses to resume a run made with other settings (before
anything in the folder is rewritten), builds the data (face crops of manifests, optionally as
real frames plus self-blended pseudo-fakes, or the embedded self-blended photographs), checks
that the classes are both there and that no video is on both sides of train and validation,
builds the registered model, trains it with :class:`~freqforensics.engine.Trainer`, optionally
recomputes the BatchNorm statistics of the best checkpoint ("precise BN") and evaluates the
embedded test split. The resolved config is written to ``<out>/config.yaml``.

Example:
    >>> from freqforensics.config import load_config
    >>> from freqforensics.training import train
    >>> config = load_config("configs/cpu-demo.yaml")          # doctest: +SKIP
    >>> outcome = train(config, "runs/demo")                   # doctest: +SKIP
    >>> outcome.best_checkpoint                                # doctest: +SKIP
    PosixPath('runs/demo/best.safetensors')
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from freqforensics._checks import first_line, resolve_device
from freqforensics._io import exclusive_lock
from freqforensics.config import (
    RunConfig,
    config_differences,
    load_config,
    save_config,
)
from freqforensics.data.manifest import manifest_files
from freqforensics.engine import TrainConfig, Trainer, TrainResult
from freqforensics.engine import state as train_state
from freqforensics.models import SFCLHCMF, create_model

__all__ = [
    "RunSettingsError",
    "TrainingData",
    "TrainOutcome",
    "CONFIG_FILE",
    "build_data",
    "build_model",
    "check_run_folder",
    "check_train_settings",
    "train",
    "history_table",
]

#: The resolved config of a run, in its output folder.
CONFIG_FILE = "config.yaml"

_Echo = Callable[[str], Any]


class RunSettingsError(ValueError):
    """The output folder holds a run that cannot be resumed with the requested settings."""


@dataclass
class TrainingData:
    """The data sets of a run and what they hold, in words.

    Attributes:
        train: training items (``image``, ``sida``, ``label``, ``video_id``).
        val: validation items, or ``None`` (the last epoch's model is kept).
        test: test items (the embedded source only), or ``None``.
        group_size: consecutive items kept in one batch (2: a real and its pseudo-fake).
        notes: one line per set, for the log.
    """

    train: Any
    val: Any | None
    test: Any | None = None
    group_size: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainOutcome:
    """What :func:`train` returns.

    Attributes:
        result: the trainer's result (history, best epoch and validation AUC).
        best_checkpoint: ``<out>/best.safetensors``, or ``None`` when none was written.
        config: the resolved config.
        val_after_precise_bn: validation metrics after precise BN (when run).
        test: frame- and video-level metrics on the embedded test split (when there is one).
        test_predictions: ``(video_ids, labels, probs)`` of that test split.
    """

    result: TrainResult
    best_checkpoint: Path | None
    config: RunConfig
    val_after_precise_bn: dict[str, dict[str, float]] | None = None
    test: dict[str, dict[str, float]] | None = None
    test_predictions: tuple[list[str], Any, Any] | None = None


def _split(name: str | None) -> str | None:
    return None if name in (None, "all") else name


def _videos_of(dataset: Any) -> set[str]:
    return {r.video_id for r in dataset.rows}


def _embedded_data(config: RunConfig) -> TrainingData:
    from freqforensics.data.synthetic import SelfBlendedFaces

    d, size, seed = config.data, config.model.img_size, config.train.seed
    train = SelfBlendedFaces("train", size=size, length=d.train_samples, seed=seed)
    val = SelfBlendedFaces("val", size=size, length=d.val_samples, seed=seed,
                           fresh_every_epoch=False)
    test = SelfBlendedFaces("test", size=size, length=d.test_samples, seed=seed,
                            fresh_every_epoch=False)
    notes = [
        f"train: {d.train_samples} embedded self-blended crops, fresh every epoch",
        f"val: {d.val_samples} crops of other photos; test: {d.test_samples} of held-out photos",
    ]
    return TrainingData(train, val, test, 1, notes)


class _Pairs(ConcatDataset):
    """Pseudo-fake pair datasets one after the other (each of even length: pairs stay whole)."""

    def __init__(self, parts: Sequence[Any]) -> None:
        super().__init__(parts)
        self.parts = list(parts)
        self.rows = [row for part in self.parts for row in part.rows]

    @property
    def labels(self) -> list[int]:
        return [label for part in self.parts for label in part.labels]

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            part.set_epoch(epoch)


def _pseudo_train(config: RunConfig, manifests: list[Path]) -> tuple[Any, str]:
    from freqforensics.data import PseudoFakeDataset

    d, size, seed = config.data, config.model.img_size, config.train.seed
    if config.train.batch_size % 2:
        raise ValueError(
            "train.batch_size must be even with data.pseudo_fakes (each real frame and its "
            f"pseudo-fake share a batch), got {config.train.batch_size}"
        )
    def pool(paths: list[Path], split: str | None, videos: Any, part: int) -> PseudoFakeDataset:
        # A seed per part: pair k of each part draws its own blends.
        return PseudoFakeDataset(paths, split, image_size=size, seed=seed + 7919 * part,
                                 videos=videos, augment=True, method=d.pseudo_method,
                                 h264_p=d.h264_p, h264_crf=(d.h264_crf[0], d.h264_crf[1]),
                                 quality_p=d.quality_p, local_p=d.local_p,
                                 cross_p=d.cross_p, colour_p=d.colour_p)

    parts = [pool(manifests, _split(d.train_split), d.videos, 0)]
    if d.real_pool:
        parts.append(pool(manifest_files(d.real_pool), None, d.real_pool_videos, 1))
    pairs = parts[0] if len(parts) == 1 else _Pairs(parts)
    n = len(pairs.rows)
    note = f"train: {n} real frames of {sum(len(_videos_of(p)) for p in parts)} videos"
    if len(parts) > 1:
        note += f" ({' + '.join(str(len(p.rows)) for p in parts)} from the manifests and the pool)"
    note += (f" + {n} {d.pseudo_method} pseudo-fakes (fresh every epoch); fakes of the manifests "
             "are not used")
    return pairs, note


def _manifest_train(config: RunConfig, manifests: list[Path]) -> tuple[Any, int, str]:
    from freqforensics.data import FrameDataset

    d, size = config.data, config.model.img_size
    if d.pseudo_fakes:
        pairs, note = _pseudo_train(config, manifests)
        return pairs, 2, note
    data = FrameDataset(manifests, _split(d.train_split), image_size=size, augment=True,
                        real_repeat=d.real_repeat, videos=d.videos, allow_empty=False)
    labels = set(data.labels)
    if labels != {0, 1}:
        kind = "real" if labels == {0} else "fake"
        raise ValueError(
            f"the train split holds only {kind} frames; a detector needs both classes "
            "(set data.pseudo_fakes / --pseudo-fakes to train from real frames only)"
        )
    n_fake = sum(data.labels)
    note = (f"train: {len(data.rows)} frames of {len(_videos_of(data))} videos "
            f"({len(data) - n_fake} real items with the x{data.real_repeat} real repeat, "
            f"{n_fake} fake)")
    return data, 1, note


def _manifest_val(config: RunConfig, manifests: list[Path], train: Any) -> tuple[Any, str]:
    from freqforensics.data import FrameDataset, PseudoFakeDataset

    d = config.data
    if d.val_split is None:
        return None, "val: none; best.safetensors is the last epoch's model"
    split = _split(d.val_split)
    val: Any = FrameDataset(manifests, split, image_size=config.model.img_size, videos=d.videos)
    if not val.rows:
        return None, (f"val: no frames in split {d.val_split!r}; training without validation, "
                      "best.safetensors is the last epoch's model")
    if set(val.labels) == {0} and d.pseudo_fakes:
        val = PseudoFakeDataset(manifests, split, image_size=config.model.img_size,
                                seed=config.train.seed, videos=d.videos, augment=False,
                                fresh_every_epoch=False, method=d.pseudo_method)
    elif set(val.labels) != {0, 1}:
        return None, (f"val: {len(val.rows)} frames of one class only (AUC undefined); training "
                      "without validation, best.safetensors is the last epoch's model")
    shared = _videos_of(val) & _videos_of(train)
    if shared:
        raise ValueError(
            f"{len(shared)} videos are in both the training and the validation frames (e.g. "
            f"{sorted(shared)[0]}); choose disjoint data.train_split / data.val_split, or set "
            "data.val_split to null"
        )
    fakes = " + their fixed pseudo-fakes" if isinstance(val, PseudoFakeDataset) else ""
    return val, f"val: {len(val.rows)} frames of {len(_videos_of(val))} videos{fakes}"


def build_data(config: RunConfig) -> TrainingData:
    """The data sets ``config.data`` describes, checked (both classes, no shared video).

    Raises:
        ValueError: missing manifests, an empty or one-class training split, train and
            validation sharing a video, an odd batch with pseudo-fakes.
    """
    d = config.data
    if d.source == "embedded":
        return _embedded_data(config)
    if _split(d.train_split) is not None and d.train_split == d.val_split:
        raise ValueError(
            f"data.train_split and data.val_split must differ, got {d.train_split!r} for both"
        )
    manifests = manifest_files(d.manifests)
    train_set, group, train_note = _manifest_train(config, manifests)
    val_set, val_note = _manifest_val(config, manifests, train_set)
    return TrainingData(train_set, val_set, None, group, [train_note, val_note])


def build_model(config: RunConfig) -> SFCLHCMF:
    """The registered model ``config.model.name`` with the section's fields."""
    model_config = config.model.model_config()
    fields = {k: v for k, v in model_config.__dict__.items() if k != "pretrained"}
    return create_model(config.model.name, pretrained=model_config.pretrained, **fields)


def _train_config(config: RunConfig, group_size: int) -> TrainConfig:
    t, r = config.train, config.runtime
    return TrainConfig(
        epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, weight_decay=t.weight_decay,
        accumulate=t.accumulate, scheduler=t.scheduler, warmup_steps=t.warmup_steps,
        grad_clip=t.grad_clip, sam_rho=t.sam_rho, amp=t.amp, seed=t.seed,
        deterministic=t.deterministic,
        num_workers=r.workers, device=r.device, eval_batch_size=t.eval_batch_size,
        checkpoint_every=t.checkpoint_every, max_steps_per_epoch=t.max_steps_per_epoch,
        group_size=group_size, progress=not r.quiet, tf32=r.tf32,
        autocast=r.autocast, channels_last=r.channels_last, compile=r.compile,
    )


#: TrainConfig fields set from the ``runtime`` section, by their key there.
_RUNTIME_FIELDS = {"num_workers": "workers", "device": "device", "tf32": "tf32",
                   "autocast": "autocast", "channels_last": "channels_last", "compile": "compile"}


def check_train_settings(config: RunConfig) -> None:
    """Check the ``train`` and ``runtime`` sections before any data or model is built.

    Raises:
        ValueError: a bad value, the message naming its key (``train.batch_size``,
            ``runtime.device``).
    """
    try:
        _train_config(config, 1)
    except ValueError as err:
        name, _, rest = str(err).partition(" ")
        key = f"runtime.{_RUNTIME_FIELDS[name]}" if name in _RUNTIME_FIELDS else f"train.{name}"
        raise ValueError(f"{key} {rest}") from None
    resolve_device(config.runtime.device, "runtime.device")
    batches = config.train.precise_bn
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
        raise ValueError(f"train.precise_bn must be an int >= 0 (0: off), got {batches!r}")


def check_run_folder(out_dir: str | Path, config: RunConfig, restart: bool = False) -> None:
    """Refuse to resume the run in ``out_dir`` with other settings; nothing is written.

    A folder without a training state is a fresh run, unless it holds the ``config.yaml`` and
    the ``best.safetensors`` or ``metrics.csv`` of a run whose state was removed: that is
    refused, not overwritten. With a state, the state must be readable (a pickled ``last.pt``
    of an older version is refused unread) and ``config.yaml`` must hold the same settings as
    ``config``, except the ``runtime`` section and a larger ``train.epochs`` (which extends the
    run). ``restart=True`` skips the check.

    Raises:
        RunSettingsError: one line naming each differing setting, or the unreadable file.
    """
    out = Path(out_dir)
    if restart:
        return
    legacy = out / train_state.LEGACY_STATE_FILE
    if legacy.exists():
        raise RunSettingsError(train_state.legacy_state_message(legacy))
    state = out / train_state.STATE_FILE
    if not state.is_file():
        done = [name for name in ("best.safetensors", "metrics.csv") if (out / name).is_file()]
        if (out / CONFIG_FILE).is_file() and done:
            raise RunSettingsError(
                f"{out} holds a run ({', '.join(done)}, {CONFIG_FILE}) whose training state "
                f"{train_state.STATE_FILE} is gone: it can be neither resumed nor extended, "
                "and a new run there would overwrite it; use --restart (restart=True) to train "
                "again there, or another output folder"
            )
        return
    try:
        train_state.load_train_state(state, tensors=False)  # whole and readable
    except train_state.TrainStateError as err:
        raise RunSettingsError(str(err)) from None
    stored_path = out / CONFIG_FILE
    if not stored_path.is_file():
        raise RunSettingsError(
            f"{out} holds a training state but no {CONFIG_FILE}; rerun with --restart "
            "(restart=True) to start over there, or use another output folder"
        )
    try:
        stored = load_config(stored_path)
    except ValueError as err:
        raise RunSettingsError(
            f"cannot read {stored_path} of the run to resume ({err}); rerun with --restart to "
            "start over"
        ) from None
    changed = config_differences(stored, config)
    if config.train.epochs < stored.train.epochs:
        changed.append(f"train.epochs: {stored.train.epochs} -> {config.train.epochs} "
                       "(fewer epochs than the run has)")
    if changed:
        raise RunSettingsError(
            f"{out} holds a run with other settings: {'; '.join(changed)}; use the same "
            "settings to resume it (a larger train.epochs extends it), --restart to start "
            "over there, or another output folder"
        )


def history_table(history: Sequence[dict[str, float]]) -> str:
    """The per-epoch history as a plain-text table (AUC in percent)."""
    header = ["epoch", "step", "train_loss", "val_frame_auc", "val_video_auc", "seconds"]
    lines = ["".join(h.rjust(14) for h in header)]
    for row in history:
        cells = [f"{int(row['epoch'])}", f"{int(row['step'])}", f"{row['train_loss']:.4f}"]
        for key in ("val_frame_auc", "val_video_auc"):
            value = row.get(key)
            cells.append("-" if value is None or math.isnan(value) else f"{100 * value:.2f}")
        cells.append(f"{row.get('epoch_seconds', float('nan')):.1f}")
        lines.append("".join(c.rjust(14) for c in cells))
    return "\n".join(lines)


def _predictions(model: torch.nn.Module, dataset: Any, config: RunConfig,
                 device: torch.device) -> tuple[list[str], Any, Any]:
    from torch.utils.data import DataLoader

    from freqforensics.data import collate_frames
    from freqforensics.engine import predict

    batch = config.train.eval_batch_size or 2 * config.train.batch_size
    loader = DataLoader(dataset, batch_size=batch, num_workers=config.runtime.workers,
                        collate_fn=collate_frames)
    return predict(model, loader, device, progress=not config.runtime.quiet)


def _after_training(outcome: TrainOutcome, data: TrainingData, config: RunConfig,
                    device: torch.device, echo: _Echo) -> None:
    from freqforensics.engine import precise_bn
    from freqforensics.evaluation import quiet_metrics

    best = outcome.best_checkpoint
    assert best is not None
    try:
        model = SFCLHCMF.from_checkpoint(best).to(device).eval()
    except Exception as err:  # noqa: BLE001 - a damaged file in the run folder
        raise ValueError(f"cannot load checkpoint {best}: {first_line(err)}; rerun with --restart "
                         "to start over") from None
    batches = config.train.precise_bn
    if batches > 0:
        n = precise_bn(model, data.train, batches, config.train.batch_size, config.train.seed,
                       data.group_size, device)
        model.save_checkpoint(best)
        echo(f"precise BN: recomputed the running statistics of {n} BatchNorm layers of {best} "
             f"over {batches} training batches")
        if data.val is not None:
            metrics = quiet_metrics(*_predictions(model, data.val, config, device))
            outcome.val_after_precise_bn = metrics
            echo(f"val after precise BN: frame AUC {100 * metrics['frame']['auc']:.2f}, "
                 f"video AUC {100 * metrics['video']['auc']:.2f}")
    if data.test is not None:
        outcome.test_predictions = _predictions(model, data.test, config, device)
        outcome.test = quiet_metrics(*outcome.test_predictions)


def train(
    config: RunConfig, out_dir: str | Path, restart: bool = False, echo: _Echo = print
) -> TrainOutcome:
    """Train (or resume) the run ``config`` describes in ``out_dir``.

    Args:
        config: the run (see :mod:`freqforensics.config`).
        out_dir: the run folder: ``config.yaml``, ``last.safetensors`` (the resumable
            state), ``best.safetensors``, ``metrics.csv``.
        restart: start over, ignoring (and removing) the state of an earlier run there.
        echo: where progress lines go (``print``; ``lambda s: None`` for silence).

    Raises:
        RunLockedError: another run holds ``out_dir``.
        RunSettingsError: ``out_dir`` holds a run with other settings.
        ValueError: a bad ``train`` or ``runtime`` setting (checked first), or the data or the
            model cannot be built from ``config``.
    """
    out = Path(out_dir)
    if config.runtime.threads is not None:
        torch.set_num_threads(config.runtime.threads)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    with contextlib.ExitStack() as stack:
        if main_rank:  # rank 0 of a torchrun holds the lock for all
            stack.enter_context(exclusive_lock(out, "freqforensics train"))
        check_train_settings(config)
        check_run_folder(out, config, restart)
        data = build_data(config)
        for note in data.notes:
            echo(note)
        torch.manual_seed(config.train.seed)
        model = build_model(config)
        tcfg = _train_config(config, data.group_size)
        trainer = Trainer(model, data.train, data.val, tcfg, out)
        size = config.model.img_size
        echo(f"model: {config.model.name}, {size} x {size} input, "
             f"{model.num_parameters() / 1e6:.2f} M parameters; device {trainer.device}")
        if main_rank:
            save_config(config, out / CONFIG_FILE)
        result = trainer.fit(resume=not restart, lock=False)  # the lock is held already
        best = out / "best.safetensors"
        outcome = TrainOutcome(result, best if best.is_file() and result.best_epoch > 0 else None,
                               config)
        echo(history_table(result.history))
        if outcome.best_checkpoint is None:
            echo(f"no best checkpoint written (see {out / 'metrics.csv'})")
            return outcome
        note = f", val frame AUC {100 * result.best_val_auc:.2f}" if data.val is not None else ""
        echo(f"best checkpoint: {best} (epoch {result.best_epoch}{note})")
        if main_rank:
            _after_training(outcome, data, config, trainer.device, echo)
    return outcome

