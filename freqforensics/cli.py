"""The ``freqforensics`` command line: from dataset folders to crops, models and figures.

Subcommands (``freqforensics <command> --help`` explains every option, with examples):

- ``preprocess``: a dataset folder (FaceForensics++, Celeb-DF v2, DFDC, the DFDC test set or a
  plain ``real/`` + ``fake/`` folder) to face crops and a manifest (resumable).
- ``train``: SFCL-HCMF on the crops of one or more manifests (resumable), optionally with
  self-blended pseudo-fakes made from the real crops.
- ``evaluate``: frame- and video-level AUC, ACC, EER and AP per manifest and overall.
- ``predict``: fake probabilities of an image, a folder of images or a video.
- ``robustness``: metrics under JPEG, blur, noise and resizing of the face crops.
- ``explain``: band-energy, attention and SIDA figures of one face.

User errors (a missing file, a bad checkpoint, an empty split, a corrupt video) are reported as
one line on stderr with exit code 2, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import numpy as np
    import torch

    from freqforensics.models import SFCLHCMF

__all__ = ["main", "build_parser", "CLIError"]

logger = logging.getLogger("freqforensics.cli")

SPLITS = ("train", "val", "test")
DATASETS = ("ffpp", "celebdf", "dfdc", "dfdc-test", "folder")
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit code 2."""


class _UsageError(Exception):
    """Bad command-line arguments (argparse), printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and do not exit the interpreter."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's line breaks; show the defaults that say something (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and "default:" not in text
            and default is not None
            and default is not False
            and default != argparse.SUPPRESS
            and not isinstance(default, list)
            and (
                action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
            )
        ):
            text += " (default: %(default)s)"
        return text


# ------------------------------------------------------------------------------------ helpers


def _number(kind: type, minimum: float, strict: bool, expected: str) -> Any:
    """An argparse ``type``: parse ``kind`` and require ``> minimum`` (strict) or ``>=``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        ok = value > minimum if strict else value >= minimum
        if not (ok and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


_positive_int = _number(int, 0, True, "a positive integer")
_non_negative_int = _number(int, 0, False, "an integer >= 0")
_positive_float = _number(float, 0, True, "a positive number")
_non_negative_float = _number(float, 0, False, "a number >= 0")


def _device(spec: str) -> torch.device:
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise CLIError(f"--device must be auto, cpu or cuda[:i], got {spec!r} ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {spec}: CUDA is not available on this machine; use cpu")
    return device


def _setup_runtime(args: argparse.Namespace) -> None:
    import torch

    threads = getattr(args, "threads", None)
    if threads:
        torch.set_num_threads(threads)


def _load_model(path: Path, device: torch.device) -> SFCLHCMF:
    from freqforensics.models import SFCLHCMF

    if not path.is_file():
        raise CLIError(f"checkpoint not found: {path}")
    try:
        model = SFCLHCMF.from_checkpoint(path)
    except Exception as err:  # noqa: BLE001 - any failure to read it is the user's file
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CLIError(
            f"cannot load checkpoint {path}: {reason} (expected a best.safetensors written by "
            "'freqforensics train' or SFCLHCMF.save_checkpoint)"
        ) from None
    return model.to(device).eval()


def _check_manifests(paths: Sequence[Path]) -> list[Path]:
    out = []
    for path in paths:
        candidate = path / "manifest.csv" if path.is_dir() else path
        if not candidate.is_file():
            raise CLIError(
                f"manifest not found: {path} (expected a manifest.csv written by "
                "'freqforensics preprocess', or its folder)"
            )
        out.append(candidate)
    return out


def _split_arg(split: str) -> str | None:
    return None if split == "all" else split


def _describe(split: str | None, videos: Sequence[str] | None) -> str:
    text = f"split {split!r}" if split is not None else "any split"
    if videos:
        text += f" matching --videos {' '.join(videos)}"
    return text


def _quiet_metrics(ids: Any, labels: Any, probs: Any) -> dict[str, dict[str, float]]:
    """``evaluate_predictions`` without the one-class warnings (reported in the table)."""
    from freqforensics.metrics import evaluate_predictions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_predictions(ids, labels, probs)


def _table_name(name: str, metrics: dict[str, float], unit: str) -> str:
    return f"{name} [{metrics['n_real']} real / {metrics['n_fake']} fake {unit}]"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


# --------------------------------------------------------------------------------- preprocess


#: Exit status of ``preprocess`` when it finished but some listed inputs could not be read.
EXIT_NOT_READ = 3


def _records(args: argparse.Namespace) -> list[Any]:
    from freqforensics._io import safe_component
    from freqforensics.data import (
        match_video,
        read_celebdf,
        read_dfdc,
        read_dfdc_test,
        read_ffpp,
        read_folder,
    )

    root: Path = args.root
    if not root.exists():
        raise CLIError(f"--root not found: {root}")
    splits = tuple(args.splits)
    if args.dataset == "ffpp":
        records = read_ffpp(
            root,
            methods=args.methods,
            compression=args.compression,
            splits=splits,
            include_missing=not args.skip_missing,
        )
    elif args.dataset == "celebdf":
        records = read_celebdf(root, val_fraction=args.val_fraction, seed=args.seed)
    elif args.dataset == "dfdc":
        records = read_dfdc(root, val_parts=args.val_parts)
    elif args.dataset == "dfdc-test":
        records = read_dfdc_test(root, video_dir=args.video_dir)
    else:
        if args.name is not None:
            safe_component(args.name, "--name")
        records = read_folder(root, dataset=args.name, split=args.folder_split)
    records = [r for r in records if r.split in splits]
    if args.skip_missing:
        dropped = sum(r.missing for r in records)
        records = [r for r in records if not r.missing]
        if dropped:
            print(f"--skip-missing: {dropped} listed videos absent on disk left out")
    if args.videos:
        # Entries the reader could not read stay: they may hide videos that would match.
        records = [r for r in records if r.error or match_video(r.video_id, args.videos)]
    if not records:
        where = f" matching --videos {' '.join(args.videos)}" if args.videos else ""
        raise CLIError(
            f"no videos listed under {root} for --dataset {args.dataset} in splits "
            f"{list(splits)}{where}"
        )
    return records


def cmd_preprocess(args: argparse.Namespace) -> int:
    """``freqforensics preprocess``: videos -> face crops + manifest (exit 3: some not read)."""
    from collections import Counter

    from freqforensics._io import RunLockedError
    from freqforensics.data import load_manifest, preprocess

    records = _records(args)
    t0 = time.perf_counter()
    try:
        report = preprocess(
            records,
            args.out,
            frames_per_video=args.frames,
            workers=args.workers,
            scale=args.scale,
            upsample=args.upsample,
            progress=not args.quiet,
            retry_errors=args.retry_errors,
        )
    except RunLockedError as err:
        raise CLIError(str(err)) from None
    seconds = time.perf_counter() - t0
    done = len(report.processed) - len(report.errors) - len(report.missing)
    print(
        f"videos: {len(records)} listed, {done} done now, {len(report.skipped)} already done "
        f"(skipped), {len(report.errors)} errors, {len(report.missing)} missing "
        f"({seconds:.1f} s)"
    )
    print(
        f"frames (this run): {report.counts.get('ok', 0)} ok, "
        f"{report.counts.get('no_face', 0)} no_face"
    )
    for video_id, message in sorted(report.errors.items()):
        print(f"  error: {video_id}: {message}")
    for dataset, path in sorted(report.manifests.items()):
        rows = load_manifest(path)
        ok = Counter(r.split for r in rows if r.status == "ok")
        no_face = sum(r.status == "no_face" for r in rows)
        per_split = ", ".join(f"{s} {ok[s]}" for s in SPLITS if ok[s])
        print(
            f"manifest {dataset}: {path} ({sum(ok.values())} frames with a face: "
            f"{per_split or 'none'}; {no_face} no_face)"
        )
    if not report.not_read:
        return 0
    earlier = {k: v for k, v in report.not_read.items() if k not in report.processed}
    for video_id, message in sorted(earlier.items())[:20]:
        print(f"  not read in an earlier run: {video_id}: {message}")
    if len(earlier) > 20:
        print(f"  ... and {len(earlier) - 20} more not read in earlier runs")
    print(
        f"finished, but {len(report.not_read)} of the {len(records)} listed videos could not be "
        f"read ({len(earlier)} of them in an earlier run; --retry-errors redoes unreadable ones); "
        f"they are recorded in the manifest as video_error or missing (exit status "
        f"{EXIT_NOT_READ})"
    )
    return EXIT_NOT_READ


# -------------------------------------------------------------------------------------- train


def _model_config(args: argparse.Namespace) -> Any:
    from freqforensics.models import preset

    changes: dict[str, Any] = {}
    if args.image_size is not None:
        changes["img_size"] = args.image_size
    for flag, field in (
        ("no_sbcm", "use_sbcm"),
        ("no_faae", "use_faae"),
        ("no_hcma", "use_hcma"),
        ("no_sida", "use_sida"),
    ):
        if getattr(args, flag):
            changes[field] = False
    if args.embed_dim is not None:
        changes["embed_dim"] = args.embed_dim
    if args.num_heads is not None:
        changes["num_heads"] = args.num_heads
    if args.sbcm_channels is not None:
        changes["sbcm_channels"] = tuple(args.sbcm_channels)
    if args.pretrained:
        changes["pretrained"] = True
    if args.spatial_weights is not None:
        changes["spatial_weights"] = str(args.spatial_weights)
    if args.freq_weights is not None:
        changes["freq_weights"] = str(args.freq_weights)
    try:
        return preset(args.preset, **changes)
    except (TypeError, ValueError) as err:
        raise CLIError(f"bad model settings: {err}") from None


#: ``train`` options that may differ when a run is resumed: they change speed, placement or
#: what is printed, not the trained model (``--epochs`` may grow: that extends the run;
#: ``--precise-bn`` redoes its post-processing of best.safetensors from the same weights).
_RESUME_NEUTRAL = frozenset(
    {"command", "out", "restart", "quiet", "verbose", "debug", "device", "threads", "workers"}
    | {"precise_bn"}
)
#: ``train`` options that make the model configuration, compared through model_config.json.
_MODEL_OPTIONS = frozenset(
    {"preset", "image_size", "embed_dim", "num_heads", "sbcm_channels", "no_sbcm", "no_faae"}
    | {"no_hcma", "no_sida", "pretrained", "spatial_weights", "freq_weights"}
)


def _check_resume(
    out: Path, config_json: str, settings: dict[str, Any], restart: bool = False
) -> None:
    """Refuse to resume the run in ``out`` with other settings, before anything is rewritten.

    Only a run with a training state to resume is checked: its ``model_config.json`` against
    ``config_json`` and its ``train_args.json`` against ``settings`` (all options but
    ``_RESUME_NEUTRAL`` and the model options); each differing setting is named. A pickled
    ``last.pt`` of an older version or an unreadable state or record is refused too. Nothing
    in ``out`` is unpickled: the state is safetensors, the records JSON.
    """
    from freqforensics.engine import state as train_state

    if restart:
        return
    legacy = out / train_state.LEGACY_STATE_FILE
    if legacy.exists():
        raise CLIError(train_state.legacy_state_message(legacy))
    path = out / train_state.STATE_FILE
    if not path.is_file():
        return  # nothing to resume: a fresh run, whatever the folder held
    try:
        train_state.load_train_state(path, tensors=False)  # whole and readable
    except train_state.TrainStateError as err:
        raise CLIError(str(err)) from None

    def record(name: str) -> dict[str, Any] | None:
        file = out / name
        if not file.is_file():
            return None
        try:
            data = json.loads(file.read_bytes())
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, expected an object")
        except ValueError as err:
            reason = " ".join(str(err).split())[:200]
            raise CLIError(
                f"cannot read {file}: {reason}; expected the JSON that 'freqforensics train' "
                "writes; rerun with --restart to start over"
            ) from None
        return data

    changed = []
    stored_model, model = record("model_config.json"), json.loads(config_json)
    if stored_model is not None and stored_model != model:
        fields = [
            f"{k} {stored_model.get(k)!r} -> {model.get(k)!r}"
            for k in sorted(set(stored_model) | set(model))
            if stored_model.get(k) != model.get(k)
        ]
        changed.append(f"another model configuration ({', '.join(fields)})")
    stored_args = record("train_args.json") or {}
    for key, value in settings.items():
        if key in _RESUME_NEUTRAL or key in _MODEL_OPTIONS or not stored_args:
            continue
        if key not in stored_args and value in (None, False):
            continue  # an option newer than the run, at its default
        old = stored_args.get(key, "(not recorded)")
        if key == "epochs" and isinstance(old, int) and value >= old:
            continue  # more epochs extend the run
        if old != value:
            changed.append(f"--{key.replace('_', '-')} {old!r} -> {value!r}")
    if changed:
        raise CLIError(
            f"--out {out} holds a run with other settings: {'; '.join(changed)}; use the same "
            "settings to resume it (raising --epochs extends it), --restart to start over "
            "there, or another --out"
        )


def cmd_train(args: argparse.Namespace) -> int:
    """``freqforensics train``: SFCL-HCMF on manifest crops."""
    import contextlib

    import torch

    from freqforensics._io import RunLockedError, atomic_write_json, exclusive_lock
    from freqforensics.data import FrameDataset, PseudoFakeDataset
    from freqforensics.engine import TrainConfig, Trainer
    from freqforensics.models import SFCLHCMF

    _setup_runtime(args)
    manifests = _check_manifests(args.manifest)
    device = _device(args.device)
    cfg = _model_config(args)
    size = cfg.img_size
    train_split = _split_arg(args.train_split)
    val_split = _split_arg(args.val_split)
    if train_split is not None and train_split == val_split and not args.no_val:
        raise CLIError(
            f"--train-split and --val-split must differ, got {args.train_split!r} for both"
        )
    if args.pseudo_fakes and args.batch_size % 2:
        raise CLIError(
            f"--batch-size must be even with --pseudo-fakes (each real frame and its "
            f"pseudo-fake share a batch), got {args.batch_size}"
        )
    train_set: Any
    if args.pseudo_fakes:
        try:
            train_set = PseudoFakeDataset(
                manifests,
                train_split,
                image_size=size,
                seed=args.seed,
                videos=args.videos,
                augment=True,
            )
        except ValueError as err:
            raise CLIError(str(err)) from None
        n_real = len(train_set.rows)
        print(
            f"train: {n_real} real frames of {len({r.video_id for r in train_set.rows})} videos "
            f"+ {n_real} self-blended pseudo-fakes (fresh every epoch); fakes of the manifest "
            "are not used"
        )
    else:
        train_set = FrameDataset(
            manifests,
            train_split,
            image_size=size,
            augment=True,
            real_repeat=args.real_repeat,
            videos=args.videos,
        )
        labels = set(train_set.labels)
        if not train_set.rows:
            raise CLIError(
                f"no frames with a face in {_describe(train_split, args.videos)} of "
                f"{', '.join(map(str, manifests))}"
            )
        if labels != {0, 1}:
            kind = "real" if labels == {0} else "fake"
            raise CLIError(
                f"the train split holds only {kind} frames; a detector needs both classes "
                "(use --pseudo-fakes to train from real frames only)"
            )
        n_fake = sum(train_set.labels)
        print(
            f"train: {len(train_set.rows)} frames of {len({r.video_id for r in train_set.rows})} "
            f"videos ({len(train_set) - n_fake} real items with the x{train_set.real_repeat} "
            f"real repeat, {n_fake} fake)"
        )
    val_set: Any = None
    if args.no_val:
        print("val: none (--no-val); best.safetensors is the last epoch's model")
    else:
        val_set = FrameDataset(manifests, val_split, image_size=size, videos=args.videos)
        val_labels = set(val_set.labels)
        if not val_set.rows:
            print(
                f"val: no frames in {_describe(val_split, args.videos)}; training without "
                "validation, best.safetensors is the last epoch's model"
            )
            val_set = None
        elif val_labels != {0, 1}:
            print(
                f"val: {len(val_set.rows)} frames of one class only (AUC undefined); training "
                "without validation, best.safetensors is the last epoch's model"
            )
            val_set = None
        else:
            shared = {r.video_id for r in val_set.rows} & {r.video_id for r in train_set.rows}
            if shared:
                raise CLIError(
                    f"{len(shared)} videos are in both the training and the validation frames "
                    f"(e.g. {sorted(shared)[0]}); choose disjoint --train-split/--val-split or "
                    "pass --no-val"
                )
            print(
                f"val: {len(val_set.rows)} frames of {len({r.video_id for r in val_set.rows})} "
                "videos"
            )
    tcfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        scheduler=args.scheduler,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        num_workers=args.workers,
        device=str(device),
        max_steps_per_epoch=args.max_steps_per_epoch,
        group_size=2 if args.pseudo_fakes else 1,
        progress=not args.quiet,
    )
    out: Path = args.out
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings.pop("handler", None)
    settings["manifest"] = [str(m.resolve()) for m in manifests]
    with contextlib.ExitStack() as stack:
        if int(os.environ.get("RANK", "0")) == 0:  # rank 0 of a torchrun holds it for all
            try:  # one run per folder: a second one fails here, before it writes anything
                stack.enter_context(exclusive_lock(out, "freqforensics train"))
            except RunLockedError as err:
                raise CLIError(str(err)) from None
        _check_resume(out, cfg.to_json(), settings, args.restart)
        torch.manual_seed(args.seed)
        try:
            model = SFCLHCMF(cfg)
        except Exception as err:  # noqa: BLE001 - e.g. pretrained weights that cannot be fetched
            raise CLIError(f"cannot build the model: {str(err).splitlines()[0]}") from None
        print(
            f"model: SFCL-HCMF preset {args.preset!r}, {size} x {size} input, "
            f"{model.num_parameters() / 1e6:.2f} M parameters; device {device}"
        )
        atomic_write_json(out / "model_config.json", json.loads(cfg.to_json()))
        atomic_write_json(out / "train_args.json", settings)
        trainer = Trainer(model, train_set, val_set, tcfg, out)
        result = trainer.fit(resume=not args.restart, lock=False)  # the lock is held already
        print(_history_table(result.history))
        best = out / "best.safetensors"
        if result.best_epoch > 0 and best.is_file():
            auc = result.best_val_auc
            note = f", val frame AUC {100 * auc:.2f}" if val_set is not None else ""
            print(f"best checkpoint: {best} (epoch {result.best_epoch}{note})")
        else:
            print(f"no best checkpoint written (see {out / 'metrics.csv'})")
            return 0
        if args.precise_bn:
            model = _load_model(best, device)
            group = 2 if args.pseudo_fakes else 1
            from freqforensics.engine import precise_bn

            n = precise_bn(
                model, train_set, args.precise_bn, args.batch_size, args.seed, group, device
            )
            model.save_checkpoint(best)
            _write_json(
                out / "precise_bn.json",
                {"batches": args.precise_bn, "batch_size": args.batch_size, "layers": n},
            )
            print(
                f"precise BN: recomputed the running statistics of {n} BatchNorm layers of {best} "
                f"over {args.precise_bn} training batches"
            )
            if val_set is not None:
                v_ids, v_labels, v_probs = _predict_rows(
                    model, val_set, 2 * args.batch_size, device, args.workers, args.quiet
                )
                metrics = _quiet_metrics(v_ids, v_labels, v_probs)
                print(
                    f"val after precise BN: frame AUC {100 * metrics['frame']['auc']:.2f}, "
                    f"video AUC {100 * metrics['video']['auc']:.2f}"
                )
        return 0


def _history_table(history: Sequence[dict[str, float]]) -> str:
    header = ["epoch", "step", "train_loss", "val_frame_auc", "val_video_auc", "seconds"]
    lines = ["".join(h.rjust(14) for h in header)]
    for row in history:
        cells = [
            f"{int(row['epoch'])}",
            f"{int(row['step'])}",
            f"{row['train_loss']:.4f}",
        ]
        for key in ("val_frame_auc", "val_video_auc"):
            value = row.get(key)
            cells.append("-" if value is None or math.isnan(value) else f"{100 * value:.2f}")
        cells.append(f"{row.get('epoch_seconds', float('nan')):.1f}")
        lines.append("".join(c.rjust(14) for c in cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- evaluate


def _predict_rows(
    model: SFCLHCMF, dataset: Any, batch_size: int, device: torch.device, workers: int, quiet: bool
) -> tuple[list[str], np.ndarray, np.ndarray]:
    from torch.utils.data import DataLoader

    from freqforensics.engine import collate_batch, predict

    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_batch
    )
    return predict(model, loader, device, progress=not quiet)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``freqforensics evaluate``: metrics per manifest (cross-dataset) and overall."""
    import numpy as np

    from freqforensics.data import FrameDataset
    from freqforensics.metrics import format_table

    _setup_runtime(args)
    manifests = _check_manifests(args.manifest)
    device = _device(args.device)
    model = _load_model(args.checkpoint, device)
    size = model.config.img_size
    split = _split_arg(args.split)
    results: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    all_ids: list[str] = []
    all_labels: list[np.ndarray] = []
    all_probs: list[np.ndarray] = []
    for path in manifests:
        data = FrameDataset(
            path, split, image_size=size, augment=False, real_repeat=1, videos=args.videos
        )
        if not data.rows:
            raise CLIError(f"no frames with a face in {_describe(split, args.videos)} of {path}")
        ids, labels, probs = _predict_rows(
            model, data, args.batch_size, device, args.workers, args.quiet
        )
        name = data.rows[0].dataset
        if name in results:
            name = f"{name} ({path})"
        results[name] = {"manifest": str(path), **_quiet_metrics(ids, labels, probs)}
        if args.by_method:
            methods = sorted({r.method for r in data.rows if r.label == 1})
            real = np.array([r.label == 0 for r in data.rows])
            for method in methods:
                keep = real | np.array([r.method == method for r in data.rows])
                if len(methods) > 1 or real.any():
                    results[f"{name}: {method}"] = {
                        "manifest": str(path),
                        **_quiet_metrics(
                            [i for i, k in zip(ids, keep) if k], labels[keep], probs[keep]
                        ),
                    }
        for row, p in zip(data.rows, probs):
            predictions.append(
                {
                    "dataset": name,
                    "video_id": row.video_id,
                    "frame_index": row.frame_index,
                    "label": row.label,
                    "method": row.method,
                    "fake_probability": float(p),
                }
            )
        all_ids.extend(ids)
        all_labels.append(labels)
        all_probs.append(probs)
    overall = _quiet_metrics(all_ids, np.concatenate(all_labels), np.concatenate(all_probs))
    if len(manifests) > 1:
        results["overall"] = {"manifest": "all", **overall}
    for level, unit in (("frame", "frames"), ("video", "videos")):
        rows = {_table_name(k, v[level], unit): v[level] for k, v in results.items()}
        print(f"{level} level ({args.split} split)")
        print(format_table(rows))
    if any(math.isnan(v["frame"]["auc"]) for v in results.values()):
        print("nan: AUC, EER and AP are undefined where only one class is present")
    if args.json is not None:
        _write_json(
            args.json,
            _nan_to_none(
                {
                    "checkpoint": str(args.checkpoint),
                    "config": json.loads(model.config.to_json()),
                    "split": args.split,
                    "videos": args.videos,
                    "results": results,
                    "overall": overall,
                    "predictions": predictions,
                }
            ),
        )
        print(f"wrote {args.json}")
    return 0


# ------------------------------------------------------------------------------------ predict


def _read_image(path: Path) -> np.ndarray:
    """The RGB pixels of an image file; any decoding failure is a :class:`CLIError`."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types on bad files
        raise CLIError(f"cannot read image {path}: {err or type(err).__name__}") from None


def _face_crop(
    image: np.ndarray, detector: Any, detect: bool
) -> tuple[np.ndarray | None, list[int] | None]:
    from freqforensics.data import crop_face

    if not detect:
        return image, None
    box = detector(image)
    if box is None:
        return None, None
    return crop_face(image, box), [box.x0, box.y0, box.x1, box.y1]


def _inputs(path: Path) -> tuple[str, list[Path]]:
    from freqforensics.data.readers import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise CLIError(f"INPUT folder {path} holds no images ({sorted(IMAGE_EXTENSIONS)})")
        return "folder", images
    if not path.is_file():
        raise CLIError(f"INPUT not found: {path}")
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video", [path]
    if suffix in IMAGE_EXTENSIONS:
        return "image", [path]
    raise CLIError(
        f"INPUT must be an image ({', '.join(sorted(IMAGE_EXTENSIONS))}), a folder of images or "
        f"a video ({', '.join(sorted(VIDEO_EXTENSIONS))}), got {path}"
    )


#: Exit status of ``predict`` when no frame had a face (no prediction; the report is printed).
EXIT_NO_FACE = 4


def cmd_predict(args: argparse.Namespace) -> int:
    """``freqforensics predict``: fake probability of an image, image folder or video.

    In a folder or a video, a frame that cannot be read or scored (a corrupt file, a face crop
    under 16 x 16) is listed with status ``error`` and its reason in ``error``, reported on
    stderr, and left out of the mean; the other frames go on. A single image that cannot be
    read is an error.

    Returns:
        The exit status: 0 when at least one frame had a face (a prediction); 4
        (``EXIT_NO_FACE``) when no frame had a face (no prediction; the report is printed). A
        folder or video none of whose frames could be read or scored is an error after the
        report (exit status 2, like the other user errors; 1 is left to unexpected errors).
    """
    import torch

    from freqforensics.data import FaceDetector, VideoError, prepare_crop, sample_frames
    from freqforensics.layers.sida import SIDA

    _setup_runtime(args)
    kind, files = _inputs(args.input)
    device = _device(args.device)
    model = _load_model(args.checkpoint, device)
    size = model.config.img_size
    detect = kind == "video" or not args.no_detect
    detector = FaceDetector(scale=args.scale, upsample=args.upsample) if detect else None
    sida = SIDA()
    frames: list[dict[str, Any]] = []

    def score(crop: np.ndarray) -> float:
        if min(crop.shape[:2]) < 16:
            raise CLIError(f"the face crop is {crop.shape[1]}x{crop.shape[0]}, under 16x16")
        image, vector = prepare_crop(crop, size, sida)
        with torch.no_grad():
            logit = model(image[None].to(device), sida=vector[None].to(device))
        return float(torch.sigmoid(logit.float())[0])

    def add(entry: dict[str, Any], read: Any) -> None:
        """Append ``entry`` with the box, status and probability of the image ``read()``."""
        entry.update(box=None, status="error", fake_probability=None)
        try:
            crop, entry["box"] = _face_crop(read(), detector, detect)
            if crop is None:
                entry["status"] = "no_face"
            else:
                entry.update(status="ok", fake_probability=score(crop))
        except (CLIError, ValueError) as err:
            if kind == "image":
                raise
            entry["error"] = " ".join(str(err).split()) or type(err).__name__
            name = Path(entry["file"]).name if "file" in entry else f"frame {entry['frame_index']}"
            print(f"freqforensics predict: skipped {name}: {entry['error']}", file=sys.stderr)
        frames.append(entry)

    if kind == "video":
        try:
            for frame in sample_frames(files[0], args.frames):
                add({"frame_index": frame.frame_index}, lambda image=frame.image: image)
        except VideoError as err:
            raise CLIError(str(err)) from None
    else:
        for index, path in enumerate(files):
            add({"frame_index": index, "file": str(path)}, lambda path=path: _read_image(path))
    scored = [f["fake_probability"] for f in frames if f["status"] == "ok"]
    no_face = sum(f["status"] == "no_face" for f in frames)
    errors = sum(f["status"] == "error" for f in frames)
    mean = sum(scored) / len(scored) if scored else None
    status = 0 if scored else EXIT_NO_FACE
    result = {
        "input": str(args.input),
        "type": kind,
        "checkpoint": str(args.checkpoint),
        "image_size": size,
        "detect": detect,
        "frames": frames,
        "frames_with_face": len(scored),
        "frames_without_face": no_face,
        "frames_with_error": errors,
        "fake_probability": mean,
        "label": None if mean is None else ("fake" if mean > args.threshold else "real"),
        "threshold": args.threshold,
    }
    what = {"video": "video", "image": "image", "folder": "folder"}[kind]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max([len(Path(f.get("file", "")).name) for f in frames] + [5])
        print(f"{'frame'.ljust(width)}  {'status':8}  {'box (x0,y0,x1,y1)':22}  fake_probability")
        for f in frames:
            name = Path(f["file"]).name if "file" in f else str(f["frame_index"])
            box = ",".join(map(str, f["box"])) if f["box"] else "-"
            p = "-" if f["fake_probability"] is None else f"{f['fake_probability']:.4f}"
            print(f"{name.ljust(width)}  {f['status']:8}  {box:22}  {p}")
        failed = f", {errors} with an error" if errors else ""
        if mean is None:
            print(
                f"{what}: no face found in {len(frames)} frame(s){failed}; no prediction "
                f"(exit status {EXIT_NO_FACE})"
            )
        else:
            print(
                f"{what}: fake probability {mean:.4f} ({result['label']}; mean over "
                f"{len(scored)} frame(s) with a face, {no_face} without{failed})"
            )
    if frames and errors == len(frames):
        first = frames[0]["error"]
        raise CLIError(f"no frame of {what} {args.input} could be read or scored; first: {first}")
    return status


# -------------------------------------------------------------------------------- robustness


def cmd_robustness(args: argparse.Namespace) -> int:
    """``freqforensics robustness``: metrics under perturbations of the face crops."""
    from freqforensics.data import load_rows
    from freqforensics.metrics import format_table
    from freqforensics.robustness import (
        DEFAULT_STRENGTHS,
        evaluate_robustness,
        plot_robustness,
        robustness_rows,
    )

    _setup_runtime(args)
    manifests = _check_manifests(args.manifest)
    device = _device(args.device)
    model = _load_model(args.checkpoint, device)
    split = _split_arg(args.split)
    rows = load_rows(manifests, split=split, videos=args.videos)
    if not rows:
        raise CLIError(
            f"no frames with a face in {_describe(split, args.videos)} of "
            f"{', '.join(map(str, manifests))}"
        )
    perturbations = {name: DEFAULT_STRENGTHS[name] for name in args.perturbations}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_robustness(
            model,
            rows,
            perturbations,
            max_frames=args.max_frames,
            batch_size=args.batch_size,
            device=device,
            seed=args.seed,
            progress=not args.quiet,
            num_workers=args.workers,
        )
    print(f"{result['frames']} frames of {result['videos']} videos ({args.split} split)")
    for level in ("frame", "video"):
        print(f"{level} level")
        print(format_table(robustness_rows(result, level)))
    args.out.mkdir(parents=True, exist_ok=True)
    data = {
        "checkpoint": str(args.checkpoint),
        "manifest": [str(m) for m in manifests],
        "split": args.split,
        "max_frames": args.max_frames,
        "seed": args.seed,
        **result,
    }
    _write_json(args.out / "robustness.json", _nan_to_none(data))
    plot_robustness(result, args.out / "robustness.png")
    print(f"wrote {args.out / 'robustness.json'} and {args.out / 'robustness.png'}")
    return 0


# ------------------------------------------------------------------------------------ explain


def cmd_explain(args: argparse.Namespace) -> int:
    """``freqforensics explain``: figures of one face."""
    import torch

    from freqforensics.data import FaceDetector, prepare_crop
    from freqforensics.viz import _plt, explain_face, plot_band_energy, plot_sida_statistics

    _setup_runtime(args)
    for path in (args.image, args.reference):
        if path is not None and not path.is_file():
            raise CLIError(f"image not found: {path}")
    device = _device(args.device)
    model = _load_model(args.checkpoint, device)
    detector = None if args.no_detect else FaceDetector(scale=args.scale, upsample=args.upsample)

    def face_of(path: Path) -> np.ndarray:
        crop, _ = _face_crop(_read_image(path), detector, not args.no_detect)
        if crop is None:
            raise CLIError(f"no face found in {path} (pass --no-detect if it is a face crop)")
        if min(crop.shape[:2]) < 16:
            raise CLIError(f"the face in {path} is {crop.shape[1]}x{crop.shape[0]}, under 16x16")
        return crop

    plt = _plt()
    crop = face_of(args.image)
    image, vector = prepare_crop(crop, model.config.img_size)
    face = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    band = args.out / "band_energy.png"
    plt.close(plot_band_energy(face, path=band))
    written.append(band)
    overlay = args.out / "attention_overlay.png"
    prob, maps = explain_face(model, face, overlay, image=image, sida=vector)
    if maps:
        written.append(overlay)
    else:
        print("attention overlay skipped: the model has no FAAE and no HCMA token maps")
    if args.reference is not None:
        ref_crop = face_of(args.reference)
        _, ref_vector = prepare_crop(ref_crop, model.config.img_size)
        sida_path = args.out / "sida_statistics.png"
        fig = plot_sida_statistics(
            ref_vector,
            vector,
            statistic="mean",
            channel="Y",
            path=sida_path,
            title=f"SIDA mean, Y: {args.reference.name} (reference, red) vs "
            f"{args.image.name} (blue)",
        )
        plt.close(fig)
        written.append(sida_path)
    else:
        print("SIDA statistics figure skipped: pass --reference REAL_IMAGE to compare with")
    print(
        f"fake probability of {args.image.name}: {prob:.4f} (face {crop.shape[1]}x"
        f"{crop.shape[0]}, model input {model.config.img_size}x{model.config.img_size})"
    )
    for path in written:
        print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------------- parser

_PREPROCESS_EPILOG = """\
Writes <out>/<dataset>/manifest.csv and the face crops (lossless PNG, original resolution,
1.3x dlib box snapped to the 8-pixel grid of the frame). Rerunning the same command resumes:
finished videos are skipped. An out folder made with other --frames/--scale/--upsample is
refused: use one folder per setting (e.g. 270 frames for train, 50 for val/test). One run at a
time per --out: a second one fails at once. Paths in the metadata that leave --root, folders
that cannot be listed and broken links are never read: like corrupt and missing videos they
are listed in the summary and recorded in the manifest (status video_error or missing).

exit status: 0 every listed video was read; 3 finished, but some listed videos could not be
read (unreadable, corrupt, refused or missing; --skip-missing leaves absent files out); 2 a
user error (bad arguments, malformed metadata, --out in use); 130 interrupted (rerun to resume).

examples:
  freqforensics preprocess --dataset ffpp --root /data/FaceForensics++ --out crops/ffpp-c23 \\
      --compression c23 --splits train --frames 270 --workers 8
  freqforensics preprocess --dataset ffpp --root /data/FaceForensics++ --out crops/ffpp-c23-eval \\
      --compression c23 --splits val test --frames 50
  freqforensics preprocess --dataset celebdf --root /data/Celeb-DF-v2 --out crops/celebdf \\
      --splits test --frames 50
  freqforensics preprocess --dataset dfdc-test --root /data/dfdc_test/labels.csv \\
      --out crops/dfdc --frames 50
  freqforensics preprocess --dataset folder --root my_videos --out crops/mine --frames 32
"""

_TRAIN_EPILOG = """\
Writes to --out: best.safetensors (best val frame AUC; the last epoch without a val split),
last.safetensors (full state: a killed run resumes where it stopped when started again),
metrics.csv (one row per epoch; skipped_batches counts batches with NaN/inf inputs, which
never reach the model), model_config.json, train_args.json.

Rerunning into the same --out resumes the run only with the same settings: a difference is
refused, naming each setting (--restart starts over; a larger --epochs extends the run;
--device, --threads, --workers, --quiet, --precise-bn, --verbose and --debug may differ).
A second train on the same --out fails at once while the first runs. A last.pt of an older
version (a pickle) is never loaded: rerun with --restart.

examples:
  freqforensics train --manifest crops/ffpp-c23/ffpp/manifest.csv \\
      crops/ffpp-c23-eval/ffpp/manifest.csv --out runs/ffpp-c23 --preset paper --device cuda
  freqforensics train --manifest crops/ffpp/ffpp/manifest.csv --out runs/sbi --pseudo-fakes \\
      --preset cpu --epochs 4 --max-steps-per-epoch 20 --threads 2
  freqforensics train --manifest crops/ffpp/ffpp/manifest.csv --out runs/no-sida --no-sida
"""

_EVALUATE_EPILOG = """\
One row per manifest (cross-dataset evaluation: pass several), plus 'overall' with several
manifests; --by-method adds one row per manipulation method (its fakes against all reals).
Video level = mean frame probability per video_id. The model input size comes from the
checkpoint; SIDA is computed on the original-resolution crops.

examples:
  freqforensics evaluate --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/ffpp-c23-eval/ffpp/manifest.csv --by-method --json runs/ffpp-c23/test.json
  freqforensics evaluate --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/celebdf/celebdf/manifest.csv crops/dfdc/dfdc/manifest.csv
  freqforensics evaluate --checkpoint runs/sbi/best.safetensors \\
      --manifest crops/ffpp/ffpp/manifest.csv --split all --videos 004 004_982
"""

_PREDICT_EPILOG = """\
Faces are found with dlib (largest face, 1.3x box snapped to the 8-pixel grid), SIDA is
computed on the original-resolution crop and the crop is resized to the checkpoint's input
size. Frames without a face are listed with status no_face and left out of the mean. In a
folder or video, a frame that cannot be read or scored (e.g. a corrupt image) is listed with
status error (its reason in "error", also on stderr) and the others go on.

exit status:
  0  a prediction: at least one frame had a face
  4  no frame had a face: no prediction (the report is still printed)
  2  bad arguments or a user error (missing input or checkpoint, unreadable image or video,
     a folder none of whose images could be read)
  1  an unexpected error

examples:
  freqforensics predict suspicious.mp4 --checkpoint runs/ffpp-c23/best.safetensors
  freqforensics predict face.png --checkpoint best.safetensors --json
  freqforensics predict crops/ --checkpoint best.safetensors --no-detect
"""

_ROBUSTNESS_EPILOG = """\
Perturbations are applied to the original-resolution face crop, before resizing and SIDA:
  jpeg    quality 90, 70, 50, 30          blur    Gaussian sigma 0.5, 1, 2 px
  noise   Gaussian std 0.01, 0.03, 0.05   resize  down-up scale 0.75, 0.5, 0.25
Writes robustness.json and robustness.png (AUC vs strength, one panel per perturbation).

examples:
  freqforensics robustness --checkpoint runs/ffpp-c23/best.safetensors \\
      --manifest crops/ffpp-c23-eval/ffpp/manifest.csv --out runs/ffpp-c23/robustness
  freqforensics robustness --checkpoint best.safetensors --manifest crops/ffpp/ffpp/manifest.csv \\
      --out rob --perturbations jpeg blur --max-frames 400
"""

_EXPLAIN_EPILOG = """\
Writes band_energy.png (the face, its 64 Y block-DCT band maps and the band energy curve),
attention_overlay.png (FAAE attention received and, when the model exposes them, the HCMA gated
token contributions over the face) and, with --reference, sida_statistics.png (the paper's
Figure 7: SIDA means of the reference face vs this face). Prints the fake probability.

examples:
  freqforensics explain face.png --checkpoint best.safetensors --out explain/
  freqforensics explain fake_frame.png --reference real_frame.png --checkpoint best.safetensors \\
      --out explain/
"""


def _runtime_options(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    group.add_argument(
        "--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's)"
    )
    if workers:
        group.add_argument(
            "--workers", type=_non_negative_int, default=0, help="data loader worker processes"
        )
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def _face_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("face detection")
    group.add_argument(
        "--scale", type=_positive_float, default=1.3, help="face box enlargement (FF++: 1.3)"
    )
    group.add_argument(
        "--upsample",
        type=int,
        choices=(0, 1),
        default=0,
        help="dlib upsampling: 1 finds faces down to ~40 px, 4x slower",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``freqforensics`` command (all subcommands)."""
    parser = _Parser(
        prog="freqforensics",
        description="Frequency-forensics deepfake detection: preprocess datasets, train, "
        "evaluate and explain SFCL-HCMF.",
        epilog="Run 'freqforensics <command> --help' for the options and examples of a command.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, epilog: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=help_text, epilog=epilog, formatter_class=_Formatter
        )

    # preprocess
    p = command(
        "preprocess",
        "Sample frames, crop the largest face, write PNG crops and a manifest (resumable).",
        _PREPROCESS_EPILOG,
    )
    p.add_argument("--dataset", choices=DATASETS, required=True, help="layout of --root")
    p.add_argument(
        "--root",
        type=Path,
        required=True,
        help="dataset folder (dfdc-test: labels.csv or its folder)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (crops + manifests)")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=FFPP_METHODS,
        default=["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"],
        metavar="METHOD",
        help="ffpp: manipulation methods, among "
        + ", ".join(FFPP_METHODS)
        + " (default: the four of the paper, all but FaceShifter)",
    )
    p.add_argument(
        "--compression", choices=("raw", "c23", "c40"), default="c23", help="ffpp: compression"
    )
    p.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        metavar="SPLIT",
        help="splits to process: train, val, test (default: all three)",
    )
    p.add_argument(
        "--frames",
        type=_positive_int,
        default=32,
        help="frames sampled evenly per video (paper: 270 train, 50 test)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all CPUs)",
    )
    _face_options(p)
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out videos the metadata lists but the disk lacks (partial downloads) "
        "instead of recording them as 'missing' in the manifest",
    )
    p.add_argument(
        "--retry-errors", action="store_true", help="redo videos that failed in an earlier run"
    )
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="celebdf: share of the non-test videos put in val",
    )
    p.add_argument("--seed", type=int, default=0, help="celebdf: seed of the val selection")
    p.add_argument(
        "--val-parts", type=int, nargs="*", default=[], help="dfdc: part numbers used as val"
    )
    p.add_argument(
        "--video-dir",
        type=Path,
        default=None,
        help="dfdc-test: folder of the videos (default: beside labels.csv)",
    )
    p.add_argument("--name", default=None, help="folder: dataset name (default: the folder's name)")
    p.add_argument(
        "--folder-split",
        choices=SPLITS,
        default="test",
        help="folder: split of files not under train/val/test subfolders",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_preprocess)

    # train
    p = command(
        "train",
        "Train SFCL-HCMF on the crops of one or more manifests (resumable).",
        _TRAIN_EPILOG,
    )
    p.add_argument(
        "--manifest",
        type=Path,
        nargs="+",
        required=True,
        help="manifest.csv file(s) or their folders; train and val splits are used",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder")
    model = p.add_argument_group("model")
    model.add_argument(
        "--preset",
        choices=("cpu", "paper"),
        default="cpu",
        help="paper: 380x380, EfficientNet-B4, full Xception CNN-F (GPU); cpu: 128x128, "
        "TinyNet-E, small CNN-F",
    )
    model.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="input side (default: the preset's; >= 64)",
    )
    model.add_argument("--embed-dim", type=_positive_int, default=None, help="HCMA width")
    model.add_argument("--num-heads", type=_positive_int, default=None, help="HCMA heads")
    model.add_argument(
        "--sbcm-channels",
        type=_positive_int,
        nargs=3,
        default=None,
        metavar="C",
        help="SBCM Conv3d widths (three)",
    )
    model.add_argument("--no-sbcm", action="store_true", help="ablation: without SBCM")
    model.add_argument("--no-faae", action="store_true", help="ablation: without FAAE")
    model.add_argument("--no-hcma", action="store_true", help="ablation: without HCMA")
    model.add_argument("--no-sida", action="store_true", help="ablation: without the SIDA gate")
    model.add_argument(
        "--pretrained",
        action="store_true",
        help="ImageNet weights for both backbones from timm (needs the network or timm's cache)",
    )
    model.add_argument(
        "--spatial-weights",
        type=Path,
        default=None,
        help="local ImageNet weights file of the spatial backbone",
    )
    model.add_argument(
        "--freq-weights", type=Path, default=None, help="local weights file of CNN-F"
    )
    opt = p.add_argument_group("training")
    opt.add_argument("--epochs", type=_positive_int, default=20, help="epochs (paper: 20)")
    opt.add_argument("--batch-size", type=_positive_int, default=20, help="batch (paper: 20)")
    opt.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate")
    opt.add_argument(
        "--weight-decay", type=_non_negative_float, default=1e-8, help="Adam weight decay"
    )
    opt.add_argument(
        "--scheduler", choices=("none", "cosine"), default="none", help="learning-rate schedule"
    )
    opt.add_argument(
        "--warmup-steps", type=_non_negative_int, default=0, help="cosine warm-up steps"
    )
    opt.add_argument(
        "--max-steps-per-epoch",
        type=_positive_int,
        default=None,
        help="cap the optimiser steps of each epoch (default: the whole train split)",
    )
    opt.add_argument(
        "--pseudo-fakes",
        action="store_true",
        help="train on the REAL frames of the train split, each paired with a self-blended "
        "pseudo-fake made from it (fresh every epoch); the manifest's fakes are not used",
    )
    opt.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="keep only videos whose id or name matches one of these shell patterns "
        "(train and val), e.g. 519 634 or 'ffpp/original/*'",
    )
    opt.add_argument(
        "--train-split",
        choices=(*SPLITS, "all"),
        default="train",
        help="manifest split to train on (all: every split; combine with --videos)",
    )
    opt.add_argument(
        "--real-repeat",
        type=_positive_int,
        default=4,
        help="list each real frame this many times (the paper balances FF++'s four fakes per "
        "real so); ignored with --pseudo-fakes, which pairs each real with one fake",
    )
    opt.add_argument(
        "--val-split", choices=SPLITS, default="val", help="manifest split to validate on"
    )
    opt.add_argument("--no-val", action="store_true", help="do not validate (keep last epoch)")
    opt.add_argument(
        "--precise-bn",
        type=_non_negative_int,
        default=0,
        metavar="BATCHES",
        help="after training, recompute the BatchNorm running statistics of best.safetensors "
        "over this many training batches (0: off). Short runs on little data need it: their "
        "running statistics lag behind the weights",
    )
    opt.add_argument(
        "--restart",
        action="store_true",
        help="start over: discard the training state of an earlier run in --out",
    )
    opt.add_argument("--seed", type=_non_negative_int, default=0, help="random seed")
    _runtime_options(p)
    p.set_defaults(handler=cmd_train)

    # evaluate
    p = command(
        "evaluate",
        "Frame- and video-level AUC/ACC/EER/AP of a checkpoint, per manifest and overall.",
        _EVALUATE_EPILOG,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument(
        "--manifest",
        type=Path,
        nargs="+",
        required=True,
        help="manifest.csv file(s) or folders; one result row each (cross-dataset)",
    )
    p.add_argument("--split", choices=(*SPLITS, "all"), default="test", help="split to evaluate")
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="keep only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument(
        "--by-method",
        action="store_true",
        help="also one row per manipulation method (its fakes against all reals)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write all metrics and every frame's probability to this JSON file",
    )
    p.add_argument("--batch-size", type=_positive_int, default=32, help="evaluation batch")
    _runtime_options(p)
    p.set_defaults(handler=cmd_evaluate)

    # predict
    p = command(
        "predict",
        "Fake probability of an image, a folder of images or a video (per frame and mean).",
        _PREDICT_EPILOG,
    )
    p.add_argument("input", type=Path, metavar="INPUT", help="image, folder of images or video")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--frames", type=_positive_int, default=32, help="video: frames sampled evenly")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-detect",
        action="store_true",
        help="images are face crops already: no face detection (videos are always detected)",
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="mean probability above which it is 'fake'"
    )
    _face_options(p)
    _runtime_options(p, workers=False)
    p.set_defaults(handler=cmd_predict)

    # robustness
    p = command(
        "robustness",
        "Metrics under JPEG, blur, noise and down-up resizing of the face crops.",
        _ROBUSTNESS_EPILOG,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--manifest", type=Path, nargs="+", required=True, help="manifest.csv file(s)")
    p.add_argument("--split", choices=(*SPLITS, "all"), default="test", help="split to evaluate")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON and the plot")
    p.add_argument(
        "--perturbations",
        nargs="+",
        choices=("jpeg", "blur", "noise", "resize"),
        default=["jpeg", "blur", "noise", "resize"],
        metavar="NAME",
        help="perturbations to run, among jpeg, blur, noise, resize (default: all four)",
    )
    p.add_argument(
        "--max-frames",
        type=_positive_int,
        default=None,
        help="a fixed random subset of this many frames (default: all)",
    )
    p.add_argument(
        "--videos",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="keep only videos whose id or name matches one of these shell patterns",
    )
    p.add_argument("--seed", type=_non_negative_int, default=0, help="subset and noise seed")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="evaluation batch")
    _runtime_options(p)
    p.set_defaults(handler=cmd_robustness)

    # explain
    p = command("explain", "Band-energy, attention and SIDA figures of one face.", _EXPLAIN_EPILOG)
    p.add_argument("image", type=Path, metavar="IMAGE", help="an image with a face (or a crop)")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.safetensors of a run")
    p.add_argument("--out", type=Path, required=True, help="folder for the figures")
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="REAL_IMAGE",
        help="a real face to compare the SIDA statistics with (Figure 7)",
    )
    p.add_argument("--no-detect", action="store_true", help="the images are face crops already")
    _face_options(p)
    _runtime_options(p, workers=False)
    p.set_defaults(handler=cmd_explain)
    return parser


def _version() -> str:
    from freqforensics import __version__

    return f"freqforensics {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run the ``freqforensics`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 for bad arguments or a user error (missing file, bad
        checkpoint, empty split, unreadable video), 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(
            f"freqforensics {args.command}: interrupted (rerun the same command to resume)",
            file=sys.stderr,
        )
        return 130
    except (CLIError, ValueError, OSError) as err:
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"freqforensics {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
