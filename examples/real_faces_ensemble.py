"""Score a seed ensemble of ``examples/real_faces.py`` runs from their recorded test predictions.

Each results file of ``examples/real_faces.py`` keeps every test frame's fake probability per
fold. This script averages them over runs (the mean probability of each frame, "soft voting")
and scores the average exactly as the runs were scored: frame- and video-level metrics of each
fold's held-out original against its fakes, and per manipulation method. No model is trained or
run: an ensemble of the recorded seeds costs nothing to measure. ``--plot`` draws every test
frame's probability per video for each run and the ensemble
(:func:`freqforensics.viz.plot_video_scores`): the per-video levels a pooled AUC hides.

    python examples/real_faces_ensemble.py docs/results/real_faces_nosida.json \\
        docs/results/real_faces_seed1.json docs/results/real_faces_seed2.json \\
        --out docs/results/real_faces_seed_ensemble.json \\
        --plot docs/figures/real_faces_seed_scores.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics.evaluation import method_metrics, quiet_metrics
from freqforensics.provenance import command, machine

ROOT = Path(__file__).resolve().parents[1]


def fold_predictions(run: dict[str, Any], path: str) -> dict[str, dict[tuple[str, int], dict]]:
    """``fold -> {(video_id, frame_index): prediction}`` of one results file."""
    folds = run.get("folds")
    if not isinstance(folds, list) or not all("predictions" in f for f in folds):
        raise ValueError(f"{path}: expected the 'folds' of examples/real_faces.py, each with its "
                         "'predictions'; got none")
    return {f["fold"]: {(p["video_id"], int(p["frame_index"])): p for p in f["predictions"]}
            for f in folds}


def score(predictions: list[dict[str, Any]], probs: np.ndarray) -> dict[str, Any]:
    """Metrics of one fold: all its frames, then the original against each method alone."""
    ids = [p["video_id"] for p in predictions]
    labels = np.array([p["label"] for p in predictions])
    methods = [p["method"] for p in predictions]
    return {"all": quiet_metrics(ids, labels, probs),
            **method_metrics(ids, labels, probs, methods)}


def aligned(runs: dict[str, dict[str, Any]]) -> list[tuple[str, list[dict], np.ndarray]]:
    """``(fold, frames, probs)`` per fold: the first run's test frames, real first, and the
    fake probability each run gave them, ``(runs, frames)``.

    Raises:
        ValueError: fewer than two runs, or runs whose folds or test frames differ.
    """
    if len(runs) < 2:
        raise ValueError(f"runs must hold at least 2 results files, got {len(runs)}")
    per_run = {path: fold_predictions(run, path) for path, run in runs.items()}
    first, *_ = per_run
    out = []
    for fold, frames in per_run[first].items():
        keys = sorted(frames, key=lambda k: (frames[k]["label"], k))
        for path, preds in per_run.items():
            if sorted(preds.get(fold, {})) != sorted(keys):
                raise ValueError(f"{path}: fold {fold!r} does not hold the test frames of "
                                 f"{first} ({len(keys)} frames): the runs must share their crops")
        probs = np.array([[preds[fold][k]["fake_probability"] for k in keys]
                          for preds in per_run.values()])
        out.append((fold, [frames[k] for k in keys], probs))
    return out


def _scores(fold: dict[str, Any], who: str) -> dict[str, Any]:
    return fold["ensemble"] if who == "ensemble" else fold["members"][who]


def ensemble(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-member and ensemble metrics of each fold, and their means over the folds.

    Args:
        runs: ``path -> results`` of two or more ``examples/real_faces.py`` runs.

    Raises:
        ValueError: fewer than two runs, or runs whose folds or test frames differ.
    """
    folds = [{"fold": fold,
              "members": {p: score(rows, probs[i]) for i, p in enumerate(runs)},
              "ensemble": score(rows, probs.mean(axis=0))}
             for fold, rows, probs in aligned(runs)]

    def mean_auc(who: str, group: str, level: str) -> float | None:
        values = [_scores(f, who).get(group, {}).get(level, {}).get("auc") for f in folds]
        clean = [v for v in values if v is not None and not np.isnan(v)]
        return float(np.mean(clean)) if clean else None

    groups = sorted({g for f in folds for g in f["ensemble"]})
    summary = {who: {g: {lvl: mean_auc(who, g, lvl) for lvl in ("frame", "video")}
                     for g in groups}
               for who in [*runs, "ensemble"]}
    return {"folds": folds, "mean_over_folds": summary}


def plot(runs: dict[str, dict[str, Any]], path: Path) -> Any:
    """Each test frame's probability per fold and video, for every member and the ensemble."""
    from freqforensics.viz import plot_video_scores

    stems = [Path(p).stem for p in runs]
    names = stems if len(set(stems)) == len(stems) else list(runs)  # stems may repeat
    columns: dict[str, list[dict[str, Any]]] = {name: [] for name in [*names, "ensemble"]}
    for fold, rows, probs in aligned(runs):
        for j, row in enumerate(rows):
            video = f"{fold.removeprefix('fold-')}: {row['video_id'].rsplit('/', 1)[-1]}"
            for name, prob in zip(columns, [*probs[:, j], probs[:, j].mean()]):
                columns[name].append({"video_id": video, "label": row["label"],
                                      "fake_probability": float(prob)})
    title = "Fake probability per test video (fold: video), members and mean"
    return plot_video_scores(columns, path=path, title=title)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path,
                        help="results files of examples/real_faces.py (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON to write")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw every test frame's probability per video (PNG)")
    args = parser.parse_args(argv)
    runs: dict[str, dict[str, Any]] = {}
    for path in args.results:
        try:
            runs[str(path)] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"cannot read results file {path}: {err}")
    try:
        scored = ensemble(runs)
    except ValueError as err:
        parser.error(str(err))
    provenance = machine(ROOT)
    summary = {
        **scored,
        "members": {p: {"commit": r.get("commit"), "command": r.get("command")}
                    for p, r in runs.items()},
        "command": command("examples/real_faces_ensemble.py", argv),
        "commit": provenance["git_commit"],
        "machine": provenance,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"{'run':<50} {'mean frame AUC':>15} " + " ".join(
        f"{f['fold']:>9}" for f in scored["folds"]))
    for who in [*runs, "ensemble"]:
        aucs = [_scores(f, who)["all"]["frame"]["auc"] for f in scored["folds"]]
        mean = scored["mean_over_folds"][who]["all"]["frame"]
        print(f"{who:<50} {100 * mean:>15.2f} " + " ".join(f"{100 * a:>9.2f}" for a in aucs))
    if args.plot is not None:
        plot(runs, args.plot)
        print(f"wrote {args.plot}")
    print(f"wrote {args.out}")
    return summary


if __name__ == "__main__":
    main()
