"""Small synthetic inputs shared by the tests: textures, manifests of crops, a tiny model config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from freqforensics.data.manifest import write_csv

#: A tiny CPU-preset config (64 px): builds and runs in a fraction of a second.
TINY = {"img_size": 64, "embed_dim": 32, "num_heads": 2, "sbcm_channels": (4, 8, 8)}


def texture(seed: int, size: int = 96) -> np.ndarray:
    """A deterministic smooth random RGB texture with fine detail, uint8 (size, size, 3)."""
    rng = np.random.default_rng(seed)
    smooth = gaussian_filter(rng.normal(size=(size, size, 3)), sigma=(4, 4, 0))
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-9)
    detail = rng.normal(0, 0.04, size=(size, size, 3))
    return np.clip(np.rint(255 * (0.1 + 0.8 * smooth + detail)), 0, 255).astype(np.uint8)


def write_manifest(
    root: Path,
    videos: dict[str, tuple[int, str]],
    frames: int = 2,
    size: int = 96,
    dataset: str = "toy",
) -> Path:
    """A manifest of synthetic crops: ``videos`` maps a name to ``(label, split)``."""
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for v, (name, (label, split)) in enumerate(sorted(videos.items())):
        method = "Fake" if label else "original"
        for f in range(frames):
            rel = f"{method}/{name}/{f:06d}.png"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(texture(100 * v + f, size)).save(folder / rel)
            rows.append(
                {
                    "video_id": f"{dataset}/{method}/{name}",
                    "label": label,
                    "split": split,
                    "dataset": dataset,
                    "method": method,
                    "compression": "",
                    "frame_index": f,
                    "x0": 0,
                    "y0": 0,
                    "x1": size,
                    "y1": size,
                    "crop_path": rel,
                    "status": "ok",
                    "source": f"{name}.mp4",
                    "detail": "",
                }
            )
    path = folder / "manifest.csv"
    write_csv(path, rows)
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """The captured stderr, checked to be one line (no traceback) holding every word."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def dead_pid() -> int:
    """The pid of a process that has exited (for temporary files left by a killed run)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)
