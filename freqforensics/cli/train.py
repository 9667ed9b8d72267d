"""``freqforensics train``: a run configuration from a recipe and flags, trained by the library.

The flags only build the :class:`~freqforensics.config.RunConfig`;
:func:`freqforensics.training.train` does the work.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from freqforensics.cli._common import (
    SPLITS,
    check_manifests,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    runtime_options,
)

#: ``--preset`` names and the registered models they select.
PRESET_MODELS = {"cpu": "sfcl_hcmf_cpu", "paper": "sfcl_hcmf"}

#: Flags that set one config value each (flag destination -> section.key).
FLAG_KEYS = {
    "image_size": "model.img_size",
    "embed_dim": "model.embed_dim",
    "num_heads": "model.num_heads",
    "sbcm_channels": "model.sbcm_channels",
    "spatial_weights": "model.spatial_weights",
    "freq_weights": "model.freq_weights",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "scheduler": "train.scheduler",
    "warmup_steps": "train.warmup_steps",
    "max_steps_per_epoch": "train.max_steps_per_epoch",
    "precise_bn": "train.precise_bn",
    "seed": "train.seed",
    "videos": "data.videos",
    "train_split": "data.train_split",
    "val_split": "data.val_split",
    "real_repeat": "data.real_repeat",
    "device": "runtime.device",
    "threads": "runtime.threads",
    "workers": "runtime.workers",
}
#: On/off flags: (section.key, the value they set).
SWITCHES = {
    "no_sbcm": ("model.use_sbcm", False),
    "no_faae": ("model.use_faae", False),
    "no_hcma": ("model.use_hcma", False),
    "no_sida": ("model.use_sida", False),
    "pretrained": ("model.pretrained", True),
    "pseudo_fakes": ("data.pseudo_fakes", True),
    "no_val": ("data.val_split", None),
    "quiet": ("runtime.quiet", True),
}


def flag_values(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The config values the given flags set, as ``{section: {key: value}}``."""
    values: dict[str, dict[str, Any]] = {}

    def put(key: str, value: Any) -> None:
        section, name = key.split(".")
        values.setdefault(section, {})[name] = str(value) if isinstance(value, Path) else value

    if args.preset is not None:
        put("model.name", PRESET_MODELS[args.preset])
    if args.manifest is not None:
        put("data.source", "manifests")
        put("data.manifests", [str(m.resolve()) for m in check_manifests(args.manifest)])
    for dest, key in FLAG_KEYS.items():
        if getattr(args, dest, None) is not None:
            put(key, getattr(args, dest))
    for dest, (key, value) in SWITCHES.items():
        if getattr(args, dest, False):
            put(key, value)
    return values


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train."""
    from freqforensics.config import load_config
    from freqforensics.engine.distributed import teardown
    from freqforensics.training import train

    try:
        config = load_config(args.config, values=flag_values(args), overrides=args.overrides)
        train(config, args.out, restart=args.restart)
    except ValueError as err:
        raise ValueError(name_flags(str(err))) from None
    finally:
        teardown()  # leave the process group of a torchrun launch
    return 0


def name_flags(message: str) -> str:
    """Add the flag after each config key a message names: ``train.lr (--lr)``."""
    keys = {key: dest for dest, key in FLAG_KEYS.items()}
    keys.update({key: dest for dest, (key, _) in SWITCHES.items() if key not in keys})
    keys["model.name"] = "preset"
    for key in sorted(keys, key=len, reverse=True):
        flag = "--" + keys[key].replace("_", "-")
        message = re.sub(rf"(?<![\w.]){re.escape(key)}(?![\w.])", f"{key} ({flag})", message)
    return message


EPILOG = """\
Writes to --out: best.safetensors (best val frame AUC; the last epoch without a val split),
last.safetensors (full state: a killed run resumes where it stopped when started again),
metrics.csv (one row per epoch; skipped_batches counts batches with NaN/inf inputs, which
never reach the model), config.yaml (the resolved config: --config runs/x/config.yaml reruns it).

Settings come from --config (default: the built-in defaults of the cpu model), then the flags,
then --set. Every flag is a config value: --lr is train.lr, --preset model.name, --no-sida
model.use_sida=false, --no-val data.val_split=null, --manifest data.manifests.

Rerunning into the same --out resumes the run only with the same settings: a difference is
refused, naming each setting (--restart starts over; a larger --epochs extends the run,
and a cosine schedule is stretched over the new total, so its rate rises again from where the
longer schedule stands; the runtime settings --device, --threads, --workers, --quiet and
--precise-bn may differ). A folder whose last.safetensors was deleted after the run is
refused too: it can be neither resumed nor extended.
A second train on the same --out fails at once while the first runs. A last.pt of an older
version (a pickle) is never loaded: rerun with --restart.

examples:
  freqforensics train --config configs/cpu-demo.yaml --out runs/demo
  freqforensics train --config configs/paper-ffpp-c23.yaml --set train.lr=1e-4 --out runs/lr
  freqforensics train --manifest crops/ffpp-c23/ffpp/manifest.csv \\
      crops/ffpp-c23-eval/ffpp/manifest.csv --out runs/ffpp-c23 --preset paper --device cuda
  freqforensics train --manifest crops/ffpp/ffpp/manifest.csv --out runs/sbi --pseudo-fakes \\
      --preset cpu --epochs 4 --max-steps-per-epoch 20 --threads 2
  freqforensics train --manifest crops/ffpp/ffpp/manifest.csv --out runs/no-sida --no-sida
"""


def register(command: Any) -> None:
    """Add the subcommand (``command(name, help, epilog)`` makes its parser)."""
    p = command(
        "train",
        "Train SFCL-HCMF on the crops of one or more manifests (resumable).",
        EPILOG,
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a YAML recipe (configs/*.yaml) or a run's config.yaml; the flags below override it",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        dest="overrides",
        help="override one config value, e.g. train.lr=1e-4 or model.use_sida=false "
        "(repeatable; applied last)",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        nargs="+",
        default=None,
        help="manifest.csv file(s) or their folders; train and val splits are used "
        "(data.manifests)",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder")
    model = p.add_argument_group("model")
    model.add_argument(
        "--preset",
        choices=tuple(PRESET_MODELS),
        default=None,
        help="paper: 380x380, EfficientNet-B4, full Xception CNN-F (GPU); cpu: 128x128, "
        "TinyNet-E, small CNN-F (default: cpu; model.name sfcl_hcmf / sfcl_hcmf_cpu)",
    )
    model.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="input side (default: the preset's; >= 64)",
    )
    model.add_argument("--embed-dim", type=positive_int, default=None, help="HCMA width")
    model.add_argument("--num-heads", type=positive_int, default=None, help="HCMA heads")
    model.add_argument(
        "--sbcm-channels",
        type=positive_int,
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
    opt.add_argument(
        "--epochs", type=positive_int, default=None, help="epochs (paper: 20; default: 20)"
    )
    opt.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="batch per process (paper: 20; default: 20)",
    )
    opt.add_argument(
        "--lr", type=positive_float, default=None, help="Adam learning rate (default: 0.001)"
    )
    opt.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=None,
        help="Adam weight decay (default: 1e-8)",
    )
    opt.add_argument(
        "--scheduler",
        choices=("none", "cosine"),
        default=None,
        help="learning-rate schedule (default: none)",
    )
    opt.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=None,
        help="cosine warm-up steps (default: 0)",
    )
    opt.add_argument(
        "--max-steps-per-epoch",
        type=positive_int,
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
        default=None,
        help="manifest split to train on (all: every split; combine with --videos; default: train)",
    )
    opt.add_argument(
        "--real-repeat",
        type=positive_int,
        default=None,
        help="list each real frame this many times (the paper balances FF++'s four fakes per "
        "real so; default: 4); ignored with --pseudo-fakes, which pairs each real with one fake",
    )
    opt.add_argument(
        "--val-split",
        choices=SPLITS,
        default=None,
        help="manifest split to validate on (default: val)",
    )
    opt.add_argument("--no-val", action="store_true", help="do not validate (keep last epoch)")
    opt.add_argument(
        "--precise-bn",
        type=non_negative_int,
        default=None,
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
    opt.add_argument("--seed", type=non_negative_int, default=None, help="random seed (default: 0)")
    runtime_options(p, defaults=False)
    p.set_defaults(handler=run)
