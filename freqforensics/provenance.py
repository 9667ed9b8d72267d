"""Where a measured number comes from: the commit (and whether the tree differed), the machine.

Every results file the project commits (benchmarks, ``make demo``, ``make real-faces``) carries
:func:`machine`: the CPU, cores, torch threads and version, the GPU if any, the git commit,
whether the working tree had uncommitted changes, and the date; and :func:`command`: the command
line that wrote it, quoted so that it can be run again as it stands.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["command", "dirty_paths", "git_state", "machine"]


def dirty_paths(porcelain: str, ignore: tuple[str, ...] = ()) -> list[str]:
    """The changed or untracked paths in ``git status --porcelain`` output, minus ``ignore``."""
    paths = []
    for line in porcelain.splitlines():
        if len(line) < 4:
            continue
        path = line[3:].split(" -> ")[-1].strip('"')  # a rename lists "old -> new"
        if not any(path == p or path.startswith(p) for p in ignore):
            paths.append(path)
    return paths


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(repo: str | Path, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The commit of ``repo`` and whether its working tree differs from it.

    ``git_dirty`` is None when git cannot tell (no git, not a checkout); ``git_dirty_paths``
    lists up to 20 of the changed paths (``ignore``: path prefixes that do not count, such as
    the outputs being written).
    """
    repo = Path(repo)
    commit = (_git(repo, "rev-parse", "--short", "HEAD") or "").strip()
    status = _git(repo, "status", "--porcelain")
    paths = None if status is None else dirty_paths(status, ignore)
    return {
        "git_commit": commit,
        "git_dirty": None if paths is None else bool(paths),
        "git_dirty_paths": (paths or [])[:20],
    }


def machine(repo: str | Path, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """CPU, cores, torch threads and version, GPU, the commit and dirty flag, and the date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **git_state(repo, ignore),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def command(program: str, argv: list[str] | None = None) -> str:
    """The command line that runs ``program`` with ``argv``, quoted as a shell reads it.

    ``program`` is a Python script (run by ``python``) or a command such as ``freqforensics``.
    ``argv`` defaults to this process's arguments (``sys.argv[1:]``), as a script's
    ``main(argv=None)`` receives them. An argument with a space stays one argument:

    >>> command("examples/real_faces.py", ["--variants", "with H.264", "--folds", "519"])
    "python examples/real_faces.py --variants 'with H.264' --folds 519"
    >>> command("freqforensics", ["evaluate", "--videos", "004", "004_982"])
    'freqforensics evaluate --videos 004 004_982'
    """
    run = ["python", program] if program.endswith(".py") else [program]
    return shlex.join([*run, *(sys.argv[1:] if argv is None else argv)])
