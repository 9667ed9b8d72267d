"""Every three-fold run of the real-faces protocol in one figure: fold AUCs, means and the target.

Reads the results files of ``examples/real_faces.py`` (and of its ``--ablation``, one variant
each) and draws, per run, the frame AUC of each fold (a marker per fold) and their mean (a bar),
against the issue's target of 75 and chance. Nothing is trained or run: the numbers are those
the files recorded, with the commit each measured. What it shows for the committed runs:
docs/reproducing.rst.

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


def parse_run(spec: str) -> tuple[str, Path, str | None]:
    """``LABEL=PATH[#VARIANT]`` -> ``(label, path, variant)``."""
    label, sep, rest = spec.partition("=")
    if not sep or not label.strip() or not rest:
        raise ValueError(f"run must be LABEL=PATH or LABEL=PATH#VARIANT, got {spec!r}")
    path, _, variant = rest.partition("#")
    return label.strip(), Path(path), variant or None


def overview(specs: list[str]) -> list[dict[str, Any]]:
    """One row per run: label, file, variant, the commit it measured, fold AUCs and mean."""
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
                     "frame_auc": dict(zip(FOLDS, aucs)), "mean": sum(aucs) / len(aucs)})
    return rows


def plot(rows: list[dict[str, Any]], path: Path | None = None) -> Any:
    """Fold AUCs (markers) and their mean (bars) per run, with the target and chance."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.4))
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
    print(f"wrote {args.out}")
    if args.plot is not None:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return rows


if __name__ == "__main__":
    main()
