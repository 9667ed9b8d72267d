"""Shared helpers of the benchmark scripts: timing, machine description, JSON and tables."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

from freqforensics import provenance

#: The repository the benchmarks measure (git runs here, wherever the script is started from).
REPO = Path(__file__).resolve().parent.parent
#: What ``make bench`` itself writes: a tree where only these changed still identifies the code.
OUTPUTS = ("benchmarks/results/", "docs/benchmarks.rst")


def git_state() -> dict[str, Any]:
    """The commit measured and whether the working tree differs from it (outputs excluded)."""
    return provenance.git_state(REPO, OUTPUTS)


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """``--allow-dirty``: the switch every script needs to record from a modified tree."""
    parser.add_argument(
        "--allow-dirty", action="store_true",
        help="write --out even from a working tree with uncommitted changes (the JSON then "
             "says git_dirty: true); make bench FORCE=1 passes it",
    )


def check_recordable(out: Path | None, allow_dirty: bool,
                     state: dict[str, Any] | None = None) -> None:
    """Refuse, with a one-line error, to record results that do not identify their code.

    Results are recorded when ``out`` is given; they must come from a committed tree (a dirty
    or unknown state needs ``allow_dirty``). Runs without ``out`` are never refused.
    """
    if out is None or allow_dirty:
        return
    state = git_state() if state is None else state
    if state["git_dirty"] is False and state["git_commit"]:
        return
    if state["git_dirty"] is None or not state["git_commit"]:
        why = "git cannot tell which commit this tree is"
    else:
        paths = state["git_dirty_paths"]
        why = (f"the working tree has uncommitted changes ({', '.join(paths[:3])}"
               + (", ..." if len(paths) > 3 else "") + ")")
    raise SystemExit(f"error: not recording {out}: {why}; commit first, or pass --allow-dirty "
                     "(make bench FORCE=1)")


def command(script: str, argv: list[str] | None) -> str:
    """The command line that ran the benchmark ``script`` (its ``__file__``) with ``argv``."""
    return provenance.command(Path(script).resolve().relative_to(REPO).as_posix(), argv)


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU, cores, threads, torch, GPU, commit, dirty flag, date."""
    return provenance.machine(REPO, OUTPUTS)


def _summary(times: list[float], faults: list[int] | None = None) -> dict[str, float]:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    out = {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "iqr_s": q[2] - q[0],
        "repeat": len(times),
    }
    if faults:
        out["page_faults"] = statistics.median(faults)
    return out


def _page_faults() -> int:
    """Minor page faults of this process so far (0 where the OS does not say)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def _call(fn: Callable[[], Any], sync: bool) -> float:
    if sync:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if sync:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def timeit(
    fn: Callable[[], Any], warmup: int = 2, repeat: int = 7, sync: bool = False
) -> dict[str, float]:
    """Median, min and interquartile range of ``repeat`` calls (seconds), after warm-up."""
    for _ in range(warmup):
        fn()
    return _summary([_call(fn, sync) for _ in range(repeat)])


def timeit_interleaved(
    fns: dict[str, Callable[[], Any]], warmup: int = 2, repeat: int = 7, sync: bool = False,
    before: Callable[[], Any] | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`timeit` of several functions in turns (a, b, c, a, b, c, ...).

    Ratios between them then compare calls made under the same conditions: on a shared or
    throttled machine a slow spell hits every path, not just the one being timed. ``before``
    (untimed) runs before every timed call, to give each the same start (for example a read of
    the input, so that no path finds it in the cache just because the previous path read it
    and another does not because the previous path evicted it). Where the OS counts them, each
    entry also has ``page_faults``: the median minor page faults of one call (a fresh output
    tensor of tens of MB costs one per 4 kB page, often more than the work).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    faults: dict[str, list[int]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if before is not None:
                before()
            start = _page_faults()
            times[name].append(_call(fn, sync))
            faults[name].append(_page_faults() - start)
    return {name: _summary(t, faults[name] if resource else None) for name, t in times.items()}


def write_json(data: dict[str, Any], path: str | Path | None) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path}")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (for the terminal)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def section(title: str, headers: list[str], rows: list[list[Any]], text: str) -> dict[str, Any]:
    """One table of results with its heading and a sentence, as stored in the JSON files."""
    return {"title": title, "headers": headers, "rows": [[str(c) for c in r] for r in rows],
            "text": text}


def render_markdown(sections: list[dict[str, Any]]) -> str:
    """The sections as Markdown (printed by the scripts)."""
    parts = []
    for s in sections:
        parts += [f"**{s['title']}**", "", table(s["headers"], s["rows"]), "", s["text"], ""]
    return "\n".join(parts)
