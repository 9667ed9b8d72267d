"""Train and evaluate SFCL-HCMF on the embedded self-blended data set (``make demo``).

No download: real samples are crops of photographs bundled with scikit-image (and other
installed packages), fakes are self-blended versions of them, both JPEG-compressed alike
(:mod:`freqforensics.data.synthetic`). Train, validation and test come from different source
photographs. This is a proxy task for checking that the detector learns frequency and blending
traces, not FaceForensics++: its numbers say nothing about the paper's benchmarks.

    python examples/train_sfcl_hcmf.py --config configs/cpu-demo.yaml --out runs/demo   # make demo
    python examples/train_sfcl_hcmf.py --ablations                 # make demo-ablation
    python examples/train_sfcl_hcmf.py --preset paper --device cuda   # the paper's model
    python examples/train_sfcl_hcmf.py --set train.lr=3e-4        # one setting changed

The training itself is :func:`freqforensics.training.train` on the recipe
``configs/cpu-demo.yaml``; ``freqforensics train --config configs/cpu-demo.yaml --out DIR``
trains the same model from the command line.

Writes to ``--out``: ``best.safetensors`` (checkpoint), ``metrics.csv`` (per epoch),
``roc.png``, ``figure7_sida.png`` (the paper's Figure 7 on this data), ``results.json``.
A killed run resumes where it stopped when started again with the same ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from freqforensics import SIDA
from freqforensics.config import RunConfig, config_to_dict, load_config
from freqforensics.data.synthetic import SelfBlendedFaces
from freqforensics.engine import collate_batch
from freqforensics.metrics import format_table
from freqforensics.provenance import command, machine
from freqforensics.training import train

#: The recipe ``make demo`` runs (``freqforensics train --config configs/cpu-demo.yaml`` is the
#: same training from the command line).
RECIPE = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml"

#: Presets as changes to the recipe: ``cpu`` is the recipe itself; ``paper`` the paper's model
#: on more data (a GPU job); ``smoke`` a tiny run for the test suite.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {},
    "paper": {"model": {"name": "sfcl_hcmf"},
              "data": {"train_samples": 20000, "val_samples": 2000, "test_samples": 4000},
              "train": {"epochs": 20, "batch_size": 20, "scheduler": "none",
                        "warmup_steps": 0}},
    "smoke": {"model": {"img_size": 64, "embed_dim": 32, "num_heads": 2,
                        "sbcm_channels": [4, 8, 8]},
              "data": {"train_samples": 16, "val_samples": 8, "test_samples": 8},
              "train": {"epochs": 1, "batch_size": 8, "scheduler": "none", "warmup_steps": 0}},
}

ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "w/o SBCM": {"use_sbcm": False},
    "w/o FAAE": {"use_faae": False},
    "w/o HCMA": {"use_hcma": False},
    "w/o SIDA": {"use_sida": False},
}


def run_config(args: argparse.Namespace, switches: dict[str, bool]) -> RunConfig:
    """The recipe with the preset's changes, the ablation switches and the flags."""
    values = {name: dict(section) for name, section in PRESETS[args.preset].items()}
    values.setdefault("model", {}).update(switches)
    values.setdefault("train", {})["seed"] = args.seed
    if args.epochs is not None:
        values["train"]["epochs"] = args.epochs
    values["runtime"] = {"device": args.device, "quiet": args.quiet, "threads": args.threads}
    return load_config(args.config, values=values, overrides=args.set)


def run_variant(config: RunConfig, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train one configuration and evaluate its best checkpoint on the test photos."""
    from freqforensics.models import SFCLHCMF

    t0 = time.perf_counter()
    outcome = train(config, out, restart=args.restart, echo=lambda line: None)
    train_s = time.perf_counter() - t0
    assert outcome.best_checkpoint is not None and outcome.test_predictions is not None
    _, labels, probs = outcome.test_predictions
    best = SFCLHCMF.from_checkpoint(outcome.best_checkpoint)
    return {
        "config": config_to_dict(config)["model"],
        "run_config": config_to_dict(config),
        "best_epoch": outcome.result.best_epoch,
        "best_val_auc": outcome.result.best_val_auc,
        "train_seconds": train_s,
        "parameters": best.num_parameters(),
        "test": outcome.test,
        "labels": labels.tolist(),
        "probs": probs.tolist(),
    }


def sida_figure(size: int, seed: int, n: int, path: Path) -> None:
    """The paper's Figure 7 on this data: mean SIDA statistics, Y channel, real vs fake."""
    from freqforensics.viz import plot_sida_statistics

    test = SelfBlendedFaces("test", size=size, length=n, seed=seed, fresh_every_epoch=False)
    batch = collate_batch([test[i] for i in range(len(test))])
    vectors = SIDA()(batch["image"])
    is_fake = batch["label"] > 0.5
    plot_sida_statistics(vectors[~is_fake], vectors[is_fake], statistic="mean", channel="Y",
                         path=path, title="SIDA mean |differential|, Y channel, "
                         f"{int((~is_fake).sum())} real vs {int(is_fake.sum())} self-blended "
                         "test crops (held-out photos)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=RECIPE,
                        help="the run's recipe (default: configs/cpu-demo.yaml)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                        help="changes to the recipe: cpu (none), paper, smoke")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting of the recipe (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--ablations", action="store_true",
                        help="also train the four ablations (paper Tables 3 and 4)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--restart", action="store_true", help="ignore an earlier run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    variants = ABLATIONS if args.ablations else {"full": {}}
    base = run_config(args, {})
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    for name, switches in variants.items():
        out = args.out if len(variants) == 1 else args.out / name.replace("w/o ", "no_").lower()
        print(f"== {name}: training on the embedded data ({base.data.train_samples} fresh "
              f"samples per epoch), writing to {out}", flush=True)
        results[name] = run_variant(run_config(args, switches), args, out)
        if len(variants) > 1:  # keep what is done: a long ablation run can be cut off
            partial = {k: v["test"]["frame"] for k, v in results.items()}
            (args.out / "results_partial.json").write_text(json.dumps(partial, indent=2))
            print(format_table({name: results[name]["test"]["frame"]}), flush=True)
    from freqforensics.viz import plot_roc

    plot_roc({k: (v["labels"], v["probs"]) for k, v in results.items()},
             path=args.out / "roc.png", title="SFCL-HCMF, embedded self-blended test photos")
    sida_figure(base.model.img_size, args.seed, min(256, base.data.test_samples),
                args.out / "figure7_sida.png")
    summary = {
        "data": "embedded self-blended crops (freqforensics.data.synthetic), held-out photos",
        "config": str(args.config),
        "preset": args.preset,
        "seconds": time.perf_counter() - t0,
        "command": command("examples/train_sfcl_hcmf.py", argv),
        "machine": machine(Path(__file__).resolve().parents[1]),
        "results": {k: {kk: vv for kk, vv in v.items() if kk not in ("labels", "probs")}
                    for k, v in results.items()},
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    table = {name: r["test"]["frame"] for name, r in results.items()}
    print()
    print(f"Test set: {base.data.test_samples} crops of held-out photos (frame level)")
    print(format_table(table))
    print(f"\nwrote {args.out}/ (best.safetensors, metrics.csv, roc.png, figure7_sida.png, "
          f"results.json) in {summary['seconds']:.0f} s")
    return summary


if __name__ == "__main__":
    main()
