"""File-system helpers shared by every writer and reader in the package.

- :func:`atomic_write` (and :func:`atomic_write_text`, :func:`atomic_write_json`): write through
  a temporary file in the same folder, ``fsync``, ``os.replace``; the temporary file is removed
  on every failure path, so a reader never sees a half-written file.
- :func:`remove_stale_temps`: temporary files left by a killed process (``kill -9`` runs no
  ``finally``) are removed when the next run starts.
- :func:`exclusive_lock`: an ``fcntl`` lock on an output folder, so a second run on the same
  folder fails at once instead of interleaving its writes with the first.
- :func:`resolve_inside` and :func:`safe_component`: paths that come from data files (metadata,
  split files, manifests) or from the command line stay inside their root.
- :func:`bounded_name`: a file name for an arbitrary key that fits in 255 bytes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "RunLockedError",
    "atomic_write",
    "atomic_write_file",
    "atomic_write_text",
    "atomic_write_json",
    "remove_stale_temps",
    "exclusive_lock",
    "resolve_inside",
    "safe_component",
    "bounded_name",
]

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")

#: Longest file name (in bytes, UTF-8) this package creates; most file systems allow 255.
MAX_NAME_BYTES = 200


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Args:
        path: the file to (re)write; its folder is created when missing.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        **open_kwargs: passed to :func:`open` (``newline=""`` for CSV, say).

    On any exception inside the ``with`` block the temporary file is removed and ``path`` keeps
    its previous content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # after a failure; already gone after a successful replace


def atomic_write_file(path: str | Path, write: Callable[[Path], object]) -> None:
    """Atomically create ``path`` with a writer that takes a file *name* (safetensors, say)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON atomically (paths and arrays are converted)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and only waits to be reaped (Linux ``/proc``; else False).

    The workers of a run killed with ``kill -9`` are reparented to init, which may reap them
    late (or never, in a container without an init process): they are dead all the same.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def remove_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` whose process is gone.

    Returns the removed paths. Temporary files of live processes (another run writing right
    now) are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    candidates = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    for path in candidates:
        match = _TEMP.match(path.name)
        if match and not _pid_alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class RunLockedError(RuntimeError):
    """Another process holds the output folder's lock."""


@contextmanager
def exclusive_lock(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive, non-blocking ``fcntl`` lock on ``folder/.lock`` for the block.

    A second process that asks for the same lock fails at once with :class:`RunLockedError`
    naming the folder and the holder's pid. The lock is released when the block ends or the
    process dies (the kernel drops ``flock`` locks with the file descriptor), so a run killed
    with ``kill -9`` never leaves a stale lock.
    """
    import fcntl

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"the output folder of the {what} must be a folder, got the file {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"{folder} is in use by another {what} (pid {holder}); wait for it to finish "
                f"or use another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # releases the lock


def resolve_inside(root: str | Path, relative: str | Path, what: str = "path") -> Path:
    """Resolve ``relative`` against ``root`` and check that the result stays inside ``root``.

    Absolute paths, ``..`` escapes and symbolic links that point outside ``root`` raise
    :class:`ValueError` naming ``what`` and the entry; nothing is read.
    """
    root_resolved = Path(root).resolve()
    text = str(relative)
    if not text or "\x00" in text:
        raise ValueError(f"{what} {text!r} is not a valid relative path under {root}")
    candidate = Path(text)
    if candidate.is_absolute():
        raise ValueError(f"{what} {text!r} is an absolute path; expected a path under {root}")
    resolved = (root_resolved / candidate).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise ValueError(f"{what} {text!r} points outside {root}; expected a path under it")
    return resolved


def safe_component(name: str, what: str = "name") -> str:
    """Check that ``name`` is one safe path component (no separator, not ``.``/``..``)."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name != name.strip()
    ):
        raise ValueError(
            f"{what} must be a single folder or file name (no '/', not '.' or '..', no "
            f"surrounding spaces), got {name!r}"
        )
    return name


def bounded_name(key: str, suffix: str = "", max_bytes: int = MAX_NAME_BYTES) -> str:
    """A file name for ``key``: percent-encoded, or cut and hashed when too long.

    Short keys keep their readable (percent-encoded) form; a key whose encoded name would pass
    ``max_bytes`` is cut and followed by a hash of the whole key, so distinct keys keep distinct
    names and non-ASCII keys keep working.
    """
    encoded = urllib.parse.quote(key, safe="")
    if len(encoded.encode()) + len(suffix.encode()) <= max_bytes:
        return encoded + suffix
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    keep = max_bytes - len(suffix.encode()) - len(digest) - 1
    head = encoded[:keep]
    if "%" in head[-2:]:  # never cut inside a %XX escape
        head = head[: head.rindex("%")]
    return f"{head}~{digest}{suffix}"
