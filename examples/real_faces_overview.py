"""Every three-fold run of the real-faces protocol in one figure: fold AUCs, means and the target.

Reads the results files of ``examples/real_faces.py`` (and of its ``--ablation``, one variant
each) and draws, per run, the frame AUC of each fold (a marker per fold) and their mean (a bar),
against the issue's target of 75 and chance. Nothing is trained or run: the numbers are those
the files recorded, with the commit each measured. What it shows for the committed runs:
docs/reproducing.rst.

It also asks whether the issue's rule, "select on the fold's own validation split", could have
found a better run: per fold, the validation AUC each run recorded for its selected epoch (the
photos against their SBI fakes; not recorded for ablation variants) against its test AUC, as a
Spearman rank correlation and as the run that validation alone would have picked, drawn in a
second panel.

A run is ``LABEL=PATH`` or, for one variant of an ablation file, ``LABEL=PATH#VARIANT``:

    python examples/real_faces_overview.py \\
        "recipe, seed 0=docs/results/real_faces_nosida.json" \\
        "ellipse blend=docs/results/real_faces_ablation.json#ellipse blend" \\
        --out docs/results/real_faces_overview.json --plot docs/figures/real_faces_overview.png

(the full command, with every committed run: ``command`` in docs/results/real_faces_overview.json).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ("fold-004", "fold-519", "fold-634")
TARGET = 75.0


def fold_aucs(results: dict[str, Any], where: str, variant: str | None = None) -> list[float]:
    """The frame AUC (in %) of folds 004, 519 and 634 of one results file (or its variant)."""
    block = results.get("results", {})
    if variant is not None:
        variants = block.get("ablation", {})
        if variant not in variants:
            raise ValueError(f"{where}: no ablation variant {variant!r}; "
                             f"it holds {sorted(variants)}")
        block = variants[variant]
    folds = block.get("ffpp-mini", {}).get("folds")
    if not isinstance(folds, list):
        raise ValueError(f"{where}: expected results['ffpp-mini']['folds'] of "
                         "examples/real_faces.py, got none")
    by_name = {f.get("fold"): f for f in folds}
    if sorted(by_name) != sorted(FOLDS):
        raise ValueError(f"{where}: expected the folds {list(FOLDS)}, got {sorted(by_name)}")
    return [100 * float(by_name[name]["frame"]["auc"]) for name in FOLDS]


def selection(results: dict[str, Any], variant: str | None) -> dict[str, dict[str, Any]]:
    """What validation selected, per fold: ``val_auc``, the validation AUC (in %) of the
    selected epoch, and ``best_epoch``, ``[that epoch, the number of epochs]``; None where not
    recorded (an ablation variant: the file does not record it per variant)."""
    by_name = {f.get("fold"): f for f in results.get("folds", []) if isinstance(f, dict)}
    val_auc, best_epoch = {}, {}
    for name in FOLDS:
        fold = {} if variant is not None else by_name.get(name, {})
        val, history = fold.get("best_val_auc"), fold.get("history")
        val_auc[name] = None if val is None else 100 * float(val)
        best_epoch[name] = [fold.get("best_epoch"),
                            len(history) if isinstance(history, list) else None]
    return {"val_auc": val_auc, "best_epoch": best_epoch}


def parse_run(spec: str) -> tuple[str, Path, str | None]:
    """``LABEL=PATH[#VARIANT]`` -> ``(label, path, variant)``."""
    label, sep, rest = spec.partition("=")
    if not sep or not label.strip() or not rest:
        raise ValueError(f"run must be LABEL=PATH or LABEL=PATH#VARIANT, got {spec!r}")
    path, _, variant = rest.partition("#")
    return label.strip(), Path(path), variant or None


def overview(specs: list[str]) -> list[dict[str, Any]]:
    """One row per run: label, file, variant, the commit it measured, fold AUCs, their mean,
    and each fold's validation AUC and ``[selected epoch, epochs]``."""
    rows = []
    for spec in specs:
        label, path, variant = parse_run(spec)
        file = path if path.is_absolute() else ROOT / path
        if not file.is_file():
            raise ValueError(f"run {label!r} must name a results file, got {str(path)!r} "
                             "(no such file)")
        results = json.loads(file.read_text())
        aucs = fold_aucs(results, str(path), variant)
        rows.append({"label": label, "file": str(path), "variant": variant,
                     "commit": results.get("commit"),
                     "frame_auc": dict(zip(FOLDS, aucs)), "mean": sum(aucs) / len(aucs),
                     **selection(results, variant)})
    return rows


def validation_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per fold, over the runs that recorded a validation AUC: its Spearman rank correlation
    with the test AUC (None under 3 runs), and the run validation alone picks (the highest
    validation AUC) with its test AUC; and the mean of the three picks' test AUCs (None when a
    fold has no run with a validation AUC)."""
    from scipy.stats import spearmanr

    folds: dict[str, Any] = {}
    for fold in FOLDS:
        pairs = [(r["val_auc"][fold], r["frame_auc"][fold], r["label"]) for r in rows
                 if r["val_auc"][fold] is not None]
        rho = (float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic)
               if len(pairs) >= 3 else None)
        best = max(pairs, key=lambda p: p[0], default=None)
        folds[fold] = {"runs": len(pairs), "spearman_val_vs_test": rho,
                       "picked": None if best is None else
                       {"label": best[2], "val_auc": best[0], "frame_auc": best[1]}}
    picked = [folds[f]["picked"] for f in FOLDS]
    mean = (None if None in picked else sum(p["frame_auc"] for p in picked) / len(picked))
    epochs = [tuple(r["best_epoch"][f]) for r in rows for f in FOLDS
              if None not in r["best_epoch"][f]]
    return {"folds": folds, "picked_mean": mean,
            "selected_epoch": {"folds": len(epochs),
                               "last_or_next_to_last": sum(e >= n - 1 for e, n in epochs)}}


def plot(rows: list[dict[str, Any]], path: Path | None = None) -> Any:
    """Fold AUCs (markers) and their mean (bars) per run, with the target and chance."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax, ax_val) = plt.subplots(1, 2, figsize=(13, 0.42 * len(rows) + 1.4),
                                     width_ratios=(3, 2))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [r["mean"] for r in rows], color="0.85", label="mean of the three folds")
    for fold, marker in zip(FOLDS, "osD"):
        ax.scatter([r["frame_auc"][fold] for r in rows], y, marker=marker, zorder=3,
                   label=fold.removeprefix("fold-"))
    ax.axvline(TARGET, color="tab:red", linestyle="--", label=f"target ({TARGET:g})")
    ax.axvline(50, color="0.4", linestyle=":", label="chance")
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.set_xlim(0, 100)
    ax.set_xlabel("frame AUC (%) against the held-out original")
    ax.set_title("Real-faces protocol, ffpp-mini: every three-fold run")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(rows) - 0.06), ncol=3,
              fontsize="small")
    for fold, marker in zip(FOLDS, "osD"):
        seen = [r for r in rows if r["val_auc"][fold] is not None]
        ax_val.scatter([r["val_auc"][fold] for r in seen], [r["frame_auc"][fold] for r in seen],
                       marker=marker, label=fold.removeprefix("fold-"))
    ax_val.axhline(TARGET, color="tab:red", linestyle="--")
    ax_val.axhline(50, color="0.4", linestyle=":")
    ax_val.set_ylim(0, 100)
    ax_val.set_xlabel("validation AUC (%) of the selected epoch (photos vs SBI)")
    ax_val.set_ylabel("test frame AUC (%)")
    ax_val.set_title("Does validation pick the better run?")
    ax_val.legend(fontsize="small")
    fig.tight_layout()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=PATH or LABEL=PATH#VARIANT")
    parser.add_argument("--out", type=Path, required=True, help="the JSON to write")
    parser.add_argument("--plot", type=Path, default=None, help="the figure to write (PNG)")
    args = parser.parse_args(argv)
    from freqforensics.provenance import machine

    rows = overview(args.runs)
    summary = {
        "target": TARGET,
        "runs": rows,
        "reaching_target": [r["label"] for r in rows if r["mean"] >= TARGET],
        "validation": validation_check(rows),
        "command": shlex.join(["python", "examples/real_faces_overview.py", *args.runs,
                               "--out", str(args.out)]
                              + (["--plot", str(args.plot)] if args.plot else [])),
        "machine": machine(ROOT),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    width = max(len(r["label"]) for r in rows)
    for r in rows:
        folds = " / ".join(f"{v:5.2f}" for v in r["frame_auc"].values())
        print(f"{r['label']:<{width}}  {folds}  mean {r['mean']:5.2f}")
    for fold, c in summary["validation"]["folds"].items():
        rho, pick = c["spearman_val_vs_test"], c["picked"]
        print(f"{fold}: validation vs test over {c['runs']} runs, Spearman "
              + ("n/a" if rho is None else f"{rho:+.2f}")
              + ("" if pick is None else
                 f"; validation picks {pick['label']!r}: test {pick['frame_auc']:.2f}"))
    print(f"wrote {args.out}")
    if args.plot is not None:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return rows


if __name__ == "__main__":
    main()
