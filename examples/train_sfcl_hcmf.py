"""Train and evaluate SFCL-HCMF on the embedded self-blended data set (``make demo``).

No download: real samples are crops of photographs bundled with scikit-image (and other
installed packages), fakes are self-blended versions of them, both JPEG-compressed alike
(:mod:`freqforensics.data.synthetic`). Train, validation and test come from different source
photographs. This is a proxy task for checking that the detector learns frequency and blending
traces, not FaceForensics++: its numbers say nothing about the paper's benchmarks.

    python examples/train_sfcl_hcmf.py --preset cpu --out runs/demo          # make demo
    python examples/train_sfcl_hcmf.py --preset cpu --ablations              # make demo-ablation
    python examples/train_sfcl_hcmf.py --preset paper --device cuda          # the paper's model

Writes to ``--out``: ``best.safetensors`` (checkpoint), ``metrics.csv`` (per epoch),
``roc.png``, ``figure7_sida.png`` (the paper's Figure 7 on this data), ``results.json``.
A killed run resumes where it stopped when started again with the same ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from freqforensics import SIDA
from freqforensics.data.synthetic import SelfBlendedFaces
from freqforensics.engine import TrainConfig, Trainer, collate_batch, predict
from freqforensics.metrics import evaluate_predictions, format_table
from freqforensics.models import SFCLHCMF, SFCLHCMFConfig, preset

#: Training settings per preset: (train samples per epoch, val, test, TrainConfig changes).
SETTINGS: dict[str, dict[str, Any]] = {
    "cpu": {"train": 1024, "val": 256, "test": 512,
            "train_config": dict(epochs=6, batch_size=32, lr=1e-3, scheduler="cosine",
                                 warmup_steps=10)},
    "paper": {"train": 20000, "val": 2000, "test": 4000,
              "train_config": dict(epochs=20, batch_size=20, lr=1e-3)},
    "smoke": {"train": 16, "val": 8, "test": 8,
              "train_config": dict(epochs=1, batch_size=8, lr=1e-3)},
}

ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "w/o SBCM": {"use_sbcm": False},
    "w/o FAAE": {"use_faae": False},
    "w/o HCMA": {"use_hcma": False},
    "w/o SIDA": {"use_sida": False},
}


def model_config(name: str) -> SFCLHCMFConfig:
    if name == "smoke":
        return preset("cpu", img_size=64, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8))
    return preset(name)


def run_variant(
    cfg: SFCLHCMFConfig, settings: dict[str, Any], args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """Train one configuration and evaluate its best checkpoint on the test photos."""
    size, seed = cfg.img_size, args.seed
    train = SelfBlendedFaces("train", size=size, length=settings["train"], seed=seed)
    val = SelfBlendedFaces("val", size=size, length=settings["val"], seed=seed,
                           fresh_every_epoch=False)
    test = SelfBlendedFaces("test", size=size, length=settings["test"], seed=seed,
                            fresh_every_epoch=False)
    changes = dict(settings["train_config"])
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    tcfg = TrainConfig(seed=seed, device=args.device, progress=not args.quiet, **changes)
    torch.manual_seed(seed)
    model = SFCLHCMF(cfg)
    t0 = time.perf_counter()
    result = Trainer(model, train, val, tcfg, out).fit(resume=not args.restart)
    train_s = time.perf_counter() - t0
    best = SFCLHCMF.from_checkpoint(out / "best.safetensors")
    loader = DataLoader(test, batch_size=64, collate_fn=collate_batch)
    ids, labels, probs = predict(best, loader, device=tcfg.device if tcfg.device != "auto"
                                 else ("cuda" if torch.cuda.is_available() else "cpu"))
    metrics = evaluate_predictions(ids, labels, probs)
    return {
        "config": json.loads(cfg.to_json()),
        "train_config": asdict(tcfg),
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_val_auc,
        "train_seconds": train_s,
        "parameters": best.num_parameters(),
        "test": metrics,
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
    parser.add_argument("--preset", choices=sorted(SETTINGS), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--ablations", action="store_true",
                        help="also train the four ablations (paper Tables 3 and 4)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--restart", action="store_true", help="ignore an earlier run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    settings = SETTINGS[args.preset]
    base = model_config(args.preset)
    variants = ABLATIONS if args.ablations else {"full": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    for name, switches in variants.items():
        out = args.out if len(variants) == 1 else args.out / name.replace("w/o ", "no_").lower()
        print(f"== {name}: training on the embedded data ({settings['train']} fresh samples per "
              f"epoch), writing to {out}", flush=True)
        results[name] = run_variant(base.replace(**switches), settings, args, out)
        if len(variants) > 1:  # keep what is done: a long ablation run can be cut off
            partial = {k: v["test"]["frame"] for k, v in results.items()}
            (args.out / "results_partial.json").write_text(json.dumps(partial, indent=2))
            print(format_table({name: results[name]["test"]["frame"]}), flush=True)
    from freqforensics.viz import plot_roc

    plot_roc({k: (v["labels"], v["probs"]) for k, v in results.items()},
             path=args.out / "roc.png", title="SFCL-HCMF, embedded self-blended test photos")
    sida_figure(base.img_size, args.seed, min(256, settings["test"]),
                args.out / "figure7_sida.png")
    summary = {
        "data": "embedded self-blended crops (freqforensics.data.synthetic), held-out photos",
        "preset": args.preset,
        "seconds": time.perf_counter() - t0,
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__},
        "results": {k: {kk: vv for kk, vv in v.items() if kk not in ("labels", "probs")}
                    for k, v in results.items()},
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    table = {name: r["test"]["frame"] for name, r in results.items()}
    print()
    print(f"Test set: {settings['test']} crops of held-out photos (frame level)")
    print(format_table(table))
    print(f"\nwrote {args.out}/ (best.safetensors, metrics.csv, roc.png, figure7_sida.png, "
          f"results.json) in {summary['seconds']:.0f} s")
    return summary


if __name__ == "__main__":
    main()
