"""Assemble ``docs/benchmarks.rst`` from the JSON files the benchmark scripts wrote.

    python benchmarks/report.py benchmarks/results docs/benchmarks.rst
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ORDER = ("bench_dct", "bench_sida", "bench_model", "bench_preprocess", "profile_tracking",
         "bench_dataloader")
TITLES = {
    "bench_dct": "Block DCT (BlockDCT)",
    "bench_sida": "SIDA statistics",
    "bench_model": "The SFCL-HCMF detector",
    "bench_preprocess": "Preprocessing: videos to face crops",
    "profile_tracking": "Preprocessing: a profile of tracking",
    "bench_dataloader": "Training input pipeline (DataLoader against the model)",
}
INTRO = """Benchmarks
==========

Every number on this page was measured by the scripts in ``benchmarks/`` (``make bench``), with
every path of a table timed in the same run on the same machine; ratios compare those paths.
Times are medians of repeated calls after warm-up. The machine of each table is named with it.
Nothing here is copied from the paper or from another project.
"""


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def _table(sec: dict[str, Any]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for i, row in enumerate([sec["headers"], *sec["rows"]]):
        for j, cell in enumerate(row):
            lead = "   * - " if j == 0 else "     - "
            lines.append(lead + (str(cell).replace("*", r"\*") or " "))
        del i
    return "\n".join(lines) + "\n"


def main(results: str, out: str) -> None:
    parts = [INTRO]
    for stem in ORDER:
        for path in sorted(Path(results).glob(f"{stem}*.json")):
            data = json.loads(path.read_text())
            m = data.get("machine", {})
            where = (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
                     f"{m.get('torch_threads', '?')} torch threads, torch {m.get('torch', '?')}"
                     + (f", GPU {m['gpu']}" if m.get("gpu") else "")
                     + f"; {m.get('date', '?')}, commit {m.get('git_commit', '?')}"
                     + (" (with uncommitted changes)" if m.get("git_dirty") else ""))
            ran = f" Command: ``{data['command']}``." if data.get("command") else ""
            parts += [_heading(TITLES.get(stem, stem), "-"),
                      f"Source: ``benchmarks/results/{path.name}``.{ran} Machine: {where}.", ""]
            for sec in data.get("sections", []):
                parts += [f"**{sec['title']}**", "", _table(sec), sec["text"], ""]
    notes = Path(results) / "notes.rst"
    if notes.exists():
        parts.append(notes.read_text())
    Path(out).write_text("\n".join(parts))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
