"""Catch real deepfakes having seen only real faces: leave-one-video-out SBI (``make real-faces``).

The protocol (issue 11 of the project; the recipe is ``configs/real-faces-cpu.yaml``):

- Data, from ``../shared/data``: the 326 ``faces-real`` photographs (about 100 people; split by
  identity into train and val) and the FaceForensics++ sample ``ffpp-mini`` (originals 004,
  519 and 634; fakes 004_982 NeuralTextures, 519_515 Deepfakes, 634_660 FaceSwap, and 750_743
  Face2Face whose original is absent), plus ``dfdc-mini`` (three DFDC fakes) as an unseen
  dataset. Faces are tracked (dlib detection every 5th frame, correlation tracking between),
  cropped on the 8-pixel grid, with 68 landmarks per crop.
- Folds: one per original. Train on self-blended pseudo-fakes (SBI) of the faces-real train
  photos and of the real frames of the two other originals; select the epoch on the
  identity-disjoint val photos against their fixed SBI fakes. Test on 32 tracked frames of the
  held-out original against every fake made from it, plus 750_743. No fake frame and no frame
  of the test original is ever used for training or selection.
- Final model: faces-real plus all three originals; it is ``runs/real-faces/best.safetensors``.
- Each fold and the final model are also scored on dfdc-mini (fakes only: AUC is undefined
  there; the mean fake probability and the share called fake are reported).

Writes ``<out>/results.json`` (per fold, mean over folds, per method, dfdc-mini, seconds,
commit), ``<out>/roc.png`` (the folds' frame-level ROC curves), ``<out>/best.safetensors`` and
``<out>/config.yaml`` (the final model and its config), and one folder per fold.

    python examples/real_faces.py                      # make real-faces
    python examples/real_faces.py --ablation           # make real-faces-ablation
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from freqforensics.config import RunConfig, config_to_dict, load_config, save_config
from freqforensics.evaluation import evaluate
from freqforensics.models import SFCLHCMF
from freqforensics.provenance import command, machine
from freqforensics.training import train

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "real-faces-cpu.yaml"
DATA = ROOT.parent / "shared" / "data"
#: held-out original -> the fakes whose target it is.
FOLDS = {"004": ["004_982"], "519": ["519_515"], "634": ["634_660"]}
#: Fakes whose original is absent from ffpp-mini: in every fold's test.
ORPHANS = ["750_743"]
#: ``<source>__<identity>__<file>``: identity is ``<source>__<identity>``; ``unk`` is one each.
FACES_IDENTITY = r"^(?P<identity>.+?__.+?)__"


def prepare(data: Path, crops: Path, pool_frames: int, test_frames: int, workers: int,
            track: bool, faces_limit: int | None, quiet: bool) -> dict[str, Path]:
    """Preprocess the photos and videos once (resumable); return the manifests."""
    from freqforensics.data import preprocess
    from freqforensics.data.sources import PAPER_METHODS, read_dataset

    jobs: dict[str, tuple[list[Any], int]] = {}
    faces, _ = read_dataset("images", data / "faces-real", identity_regex=FACES_IDENTITY,
                            unknown_identity="unk", val_fraction=0.15, seed=0)
    if faces_limit is not None:
        faces = sorted(faces, key=lambda r: r.video_id)[:faces_limit]
    jobs["faces"] = (faces, 1)
    originals, _ = read_dataset("ffpp", data / "ffpp-mini", skip_missing=True,
                                videos=["ffpp/original/*"])
    jobs["ffpp-pool"] = (originals, pool_frames)
    everything, _ = read_dataset("ffpp", data / "ffpp-mini", methods=PAPER_METHODS,
                                 skip_missing=True)
    jobs["ffpp-test"] = (everything, test_frames)
    dfdc, _ = read_dataset("dfdc", data / "dfdc-mini", skip_missing=True)
    jobs["dfdc"] = (dfdc, test_frames)
    manifests = {}
    for name, (records, frames) in jobs.items():
        report = preprocess(records, crops / name, frames_per_video=frames, workers=workers,
                            progress=not quiet, track=track, detect_every=5)
        (manifests[name],) = report.manifests.values()
        print(f"crops {name}: {len(records)} inputs -> {manifests[name]}", flush=True)
    return manifests


def fold_config(base: RunConfig, manifests: dict[str, Path], train_videos: list[str],
                extra: dict[str, dict[str, Any]]) -> RunConfig:
    """The recipe with this fold's data (and other changes, e.g. an ablation's)."""
    values = config_to_dict(base)
    values["data"].update(manifests=[str(manifests["faces"])],
                          real_pool=[str(manifests["ffpp-pool"])],
                          real_pool_videos=list(train_videos))
    for section, changes in extra.items():
        values[section].update(changes)
    return load_config(values=values)


def _dfdc_scores(model: SFCLHCMF, manifest: Path) -> dict[str, Any]:
    result = evaluate(model, manifest, by=(), split=None)
    probs = np.array([p["fake_probability"] for p in result.predictions])
    return {"frames": int(len(probs)), "mean_fake_probability": float(probs.mean()),
            "called_fake": float((probs > 0.5).mean()),
            "videos": len({p["video_id"] for p in result.predictions})}


#: CRFs of the codec check: FaceForensics++ c23, between, c40.
CODEC_CHECK_CRFS = (23, 32, 40)
#: Detail changes of the same check: softened to 50 % and 35 % of the model's input side,
#: sharpened by 100 % (data.blend.soften / sharpen, the steps of data.quality_p).
DETAIL_CHECK = (("soften", 0.5), ("soften", 0.35), ("sharpen", 100))


def codec_sensitivity(model: SFCLHCMF, manifest: Path, videos: list[str],
                      frames: int = 48) -> dict[str, dict[str, float]]:
    """Mean fake probability of real *training* frames, as they are, H.264 re-encoded, softened
    and sharpened.

    A detector that scores the same real faces as fake once they are compressed more, or
    softer, has learnt the codec or the detail, not the blend: a held-out real video that
    happens to be compressed harder or recorded softer than the training videos is then
    called fake (and a sharp fake real). Only training videos are used here.
    """
    import torch

    from freqforensics.data.blend import sharpen, soften
    from freqforensics.data.codecs import h264_round_trip, read_rgb
    from freqforensics.data.dataset import load_rows, prepare_crop
    from freqforensics.layers.sida import SIDA

    sida = SIDA()

    def score(batch: list[np.ndarray]) -> float:
        images, vectors = zip(*(prepare_crop(c, model.config.img_size, sida) for c in batch))
        with torch.no_grad():
            logits = model(torch.stack(images), torch.stack(vectors))
        return float(torch.sigmoid(logits.float()).mean())

    out = {}
    for video in videos:
        rows = load_rows(manifest, split=None, label=0, videos=[video])[:frames]
        crops = [read_rgb(r.crop_path) for r in rows]
        out[video] = {"as is": score(crops), **{f"h264 crf {crf}": score(h264_round_trip(
            crops, crf)) for crf in CODEC_CHECK_CRFS}}
        side = model.config.img_size
        for kind, amount in DETAIL_CHECK:
            if kind == "soften":
                changed = [soften(c, round(amount * side)) for c in crops]
                out[video][f"soften {round(100 * amount)} %"] = score(changed)
            else:
                out[video][f"sharpen {amount} %"] = score([sharpen(c, int(amount)) for c in crops])
    return out


def run_fold(name: str, config: RunConfig, out: Path, manifests: dict[str, Path],
             test_videos: list[str] | None, restart: bool) -> dict[str, Any]:
    """Train one model and score it on its test videos and on dfdc-mini."""
    t0 = time.perf_counter()
    outcome = train(config, out, restart=restart, echo=lambda line: print(f"[{name}] {line}",
                                                                           flush=True))
    seconds = time.perf_counter() - t0
    assert outcome.best_checkpoint is not None
    model = SFCLHCMF.from_checkpoint(outcome.best_checkpoint).eval()
    entry: dict[str, Any] = {"fold": name, "train_seconds": seconds,
                             "best_epoch": outcome.result.best_epoch,
                             "best_val_auc": outcome.result.best_val_auc,
                             "history": outcome.result.history,
                             "dfdc-mini": _dfdc_scores(model, manifests["dfdc"])}
    pool = list(config.data.real_pool_videos or [])
    entry["codec_sensitivity"] = codec_sensitivity(model, manifests["ffpp-pool"], pool)
    print(f"[{name}] mean p(fake) of real training frames: " + "; ".join(
        f"{v} " + ", ".join(f"{k} {p:.2f}" for k, p in row.items())
        for v, row in entry["codec_sensitivity"].items()), flush=True)
    if test_videos is not None:
        result = evaluate(model, manifests["ffpp-test"], by=("dataset", "method"), split=None,
                          videos=test_videos)
        result.save(out / "test")
        entry["test_videos"] = test_videos
        entry["groups"] = result.groups
        entry["labels"] = [p["label"] for p in result.predictions]
        entry["probs"] = [p["fake_probability"] for p in result.predictions]
        entry["predictions"] = result.predictions
        print(f"[{name}] test ({', '.join(test_videos)}):\n{result.table('frame')}", flush=True)
    return entry


def summarise(folds: list[dict[str, Any]], final: dict[str, Any] | None) -> dict[str, Any]:
    """The ``results`` block: means over folds, per method, dfdc-mini."""
    def mean(values: list[float]) -> float | None:
        clean = [v for v in values if v is not None and not np.isnan(v)]
        return float(np.mean(clean)) if clean else None

    ffpp: dict[str, Any] = {
        level: {"auc": mean([f["groups"]["ffpp"][level]["auc"] for f in folds]),
                "acc": mean([f["groups"]["ffpp"][level]["acc"] for f in folds])}
        for level in ("frame", "video")
    }
    ffpp["folds"] = [{"fold": f["fold"], "test_videos": f["test_videos"],
                      **{lvl: f["groups"]["ffpp"][lvl] for lvl in ("frame", "video")}}
                     for f in folds]
    methods: dict[str, list[dict[str, Any]]] = {}
    for f in folds:
        for group, metrics in f["groups"].items():
            if group.startswith("ffpp: "):
                methods.setdefault(group[6:], []).append({"fold": f["fold"], **metrics})
    ffpp["by_method"] = {
        method: {"frame": {"auc": mean([r["frame"]["auc"] for r in rows])},
                 "video": {"auc": mean([r["video"]["auc"] for r in rows])},
                 "folds": [r["fold"] for r in rows]}
        for method, rows in sorted(methods.items())
    }
    dfdc = {"folds": [{"fold": f["fold"], **f["dfdc-mini"]} for f in folds],
            "mean_fake_probability": mean([f["dfdc-mini"]["mean_fake_probability"]
                                           for f in folds]),
            "note": "dfdc-mini holds fakes only: AUC is undefined"}
    if final is not None:
        dfdc["final"] = final["dfdc-mini"]
    return {"ffpp-mini": ffpp, "dfdc-mini": dfdc}


#: ``make real-faces-ablation``: changes against the recipe, on identical data and schedule.
RECIPE_VARIANT = "sbi (recipe)"
ABLATIONS: dict[str, tuple[dict[str, dict[str, Any]], bool]] = {
    RECIPE_VARIANT: ({}, True),
    "ellipse blend": ({"data": {"pseudo_method": "ellipse"}}, True),
    "with SIDA": ({"model": {"use_sida": True}}, True),
    "with H.264": ({"data": {"h264_p": 0.5}}, True),
    "per-frame detection": ({}, False),
}


def run_protocol(args: argparse.Namespace, base: RunConfig, out: Path,
                 extra: dict[str, dict[str, Any]], track: bool, final: bool) -> dict[str, Any]:
    """Preprocess, train and test every fold (and the final model) of one variant."""
    crops = args.out / "crops" / ("tracked" if track else "per-frame")
    manifests = prepare(args.data, crops, args.pool_frames, args.test_frames, args.workers,
                        track, args.faces_limit, args.quiet)
    extra = {**extra, "runtime": {**extra.get("runtime", {}), "quiet": args.quiet}}
    folds = []
    for held in args.folds:
        config = fold_config(base, manifests, [v for v in FOLDS if v != held], extra)
        folds.append(run_fold(f"fold-{held}", config, out / f"fold-{held}", manifests,
                              [held, *FOLDS[held], *ORPHANS], args.restart))
        (out / "folds_partial.json").write_text(json.dumps(
            [{k: v for k, v in f.items() if k not in ("predictions", "labels", "probs")}
             for f in folds], indent=2, default=str))
    last = None
    if final:
        config = fold_config(base, manifests, list(FOLDS), extra)
        last = run_fold("final", config, out / "final", manifests, None, args.restart)
        shutil.copyfile(out / "final" / "best.safetensors", out / "best.safetensors")
        save_config(config, out / "config.yaml")
    return {"folds": folds, "final": last,
            "results": summarise(folds, last),
            "train_seconds": sum(f["train_seconds"] for f in folds)
            + (last["train_seconds"] if last else 0.0)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=RECIPE)
    parser.add_argument("--out", type=Path, default=Path("runs/real-faces"))
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--folds", nargs="+", default=list(FOLDS), choices=list(FOLDS))
    parser.add_argument("--no-final", action="store_true", help="skip the final model")
    parser.add_argument("--ablation", action="store_true",
                        help="SBI vs ellipse, with/without SIDA, tracking vs per-frame")
    parser.add_argument("--variants", nargs="+", choices=list(ABLATIONS), default=list(ABLATIONS),
                        metavar="NAME", help=f"with --ablation, which of: {', '.join(ABLATIONS)} "
                        "(all); without the recipe, compare with a run of it on the same crops")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--pool-frames", type=int, default=160,
                        help="frames per training original (evenly spread)")
    parser.add_argument("--test-frames", type=int, default=32)
    parser.add_argument("--no-track", action="store_true", help="per-frame detection")
    parser.add_argument("--faces-limit", type=int, default=None, help="smoke tests: fewer photos")
    parser.add_argument("--workers", type=int, default=2, help="preprocessing processes")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not (args.data / "faces-real").is_dir() or not (args.data / "ffpp-mini").is_dir():
        parser.error(f"--data {args.data} must hold faces-real/ and ffpp-mini/ (see its README)")
    t0 = time.perf_counter()
    base = load_config(args.config, overrides=args.set)
    if args.ablation:
        variants = {
            name: run_protocol(args, base, args.out / re.sub(r"[^a-z0-9]+", "_", name.lower())
                               .strip("_"), extra, track, final=False)
            for name, (extra, track) in ABLATIONS.items() if name in args.variants
        }
        runs = {name: v["results"] for name, v in variants.items()}
        first = next(iter(variants))  # the recipe when it ran: the ROC curves are its folds
        folds = variants[first]["folds"]
        summary_results: dict[str, Any] = {"ablation": runs}
        train_seconds = sum(v["train_seconds"] for v in variants.values())
    else:
        done = run_protocol(args, base, args.out, {}, not args.no_track, not args.no_final)
        folds, summary_results = done["folds"], done["results"]
        train_seconds = done["train_seconds"]
        first = RECIPE_VARIANT
    from freqforensics.viz import plot_roc

    plot_roc({f["fold"]: (f["labels"], f["probs"]) for f in folds}, path=args.out / "roc.png",
             title=f"{first}, real faces only: held-out original vs fakes")
    summary = {
        "results": summary_results,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t0,
        "commit": machine(ROOT)["git_commit"],
        "command": command("examples/real_faces.py", argv),
        "config": config_to_dict(base),
        "machine": machine(ROOT),
        "folds": [{k: v for k, v in f.items() if k not in ("labels", "probs")} for f in folds],
    }
    name = "results_ablation.json" if args.ablation else "results.json"
    (args.out / name).write_text(json.dumps(summary, indent=2, default=str))
    for variant, results in (runs if args.ablation else {"recipe": summary_results}).items():
        ffpp = results["ffpp-mini"]
        print(f"\n{variant}: ffpp-mini, mean over {len(folds)} folds: frame AUC "
              f"{ffpp['frame']['auc']}, video AUC {ffpp['video']['auc']}")
        for method, row in ffpp["by_method"].items():
            print(f"  {method}: frame AUC {row['frame']['auc']} (folds {', '.join(row['folds'])})")
    print(f"wrote {args.out}/{name}, roc.png in {summary['seconds']:.0f} s")
    return summary


if __name__ == "__main__":
    main()
