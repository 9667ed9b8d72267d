"""Shared helpers of the benchmark scripts: timing, machine description, JSON and tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU, cores, threads, torch, GPU, git commit, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def timeit(
    fn: Callable[[], Any], warmup: int = 2, repeat: int = 7, sync: bool = False
) -> dict[str, float]:
    """Median, min and interquartile range of ``repeat`` calls (seconds), after warm-up."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "iqr_s": q[2] - q[0],
        "repeat": repeat,
    }


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
