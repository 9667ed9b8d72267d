"""Figures that explain one face: band energy, attention overlay and SIDA statistics.

:func:`explain_image` is what ``freqforensics explain`` runs: it finds the face the way the
detector's training data was cropped (:class:`~freqforensics.Detector`), scores it and writes

- ``band_energy.png``: the face, its 64 Y block-DCT band maps and the band energy curve;
- ``attention_overlay.png``: FAAE attention received and, when the model exposes them, the HCMA
  gated token contributions over the face;
- ``sida_statistics.png`` (with a ``reference`` real face): the paper's Figure 7, SIDA means
  of the reference face against this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from freqforensics.inference import Detector, read_image

__all__ = ["Explanation", "explain_image"]


@dataclass
class Explanation:
    """What :func:`explain_image` wrote and measured.

    Attributes:
        fake_probability: the detector's probability for the face.
        face_size: ``(width, height)`` of the face crop.
        written: the figures written.
        notes: one line per figure that was skipped, and why.
    """

    fake_probability: float
    face_size: tuple[int, int]
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _face(detector: Detector, image: str | Path | np.ndarray) -> np.ndarray:
    array = read_image(image) if isinstance(image, str | Path) else image
    crop, _ = detector.face_crop(array)
    name = image if isinstance(image, str | Path) else "the image"
    if crop is None:
        raise ValueError(f"no face found in {name} (a face crop needs no detection: "
                         "Detector(detect=False), --no-detect)")
    if min(crop.shape[:2]) < 16:
        raise ValueError(f"the face in {name} is {crop.shape[1]}x{crop.shape[0]}, under 16x16")
    return crop


def explain_image(
    detector: Detector,
    image: str | Path | np.ndarray,
    out_dir: str | Path,
    reference: str | Path | np.ndarray | None = None,
) -> Explanation:
    """Write the figures of one face (see the module docstring) into ``out_dir``.

    Args:
        detector: the trained detector (its model and face cropping are used).
        image: an image file or an RGB ``uint8`` array with a face (or a face crop, with a
            ``Detector(detect=False)``).
        out_dir: folder for the figures (created).
        reference: a real face to compare the SIDA statistics with (Figure 7).

    Raises:
        ValueError: no face found, or a face under 16 x 16 pixels.
    """
    from freqforensics.data.dataset import prepare_crop
    from freqforensics.viz import _plt, explain_face, plot_band_energy, plot_sida_statistics

    out = Path(out_dir)
    crop = _face(detector, image)
    size = detector.image_size
    x, vector = prepare_crop(crop, size)
    face = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    result = Explanation(0.0, (crop.shape[1], crop.shape[0]))
    band = out / "band_energy.png"
    plt.close(plot_band_energy(face, path=band))
    result.written.append(band)
    overlay = out / "attention_overlay.png"
    result.fake_probability, maps = explain_face(detector.model, face, overlay, image=x,
                                                 sida=vector)
    if maps:
        result.written.append(overlay)
    else:
        result.notes.append("attention overlay skipped: the model has no FAAE and no HCMA "
                            "token maps")
    if reference is None:
        result.notes.append("SIDA statistics figure skipped: pass a reference real face to "
                            "compare with")
        return result
    _, ref_vector = prepare_crop(_face(detector, reference), size)
    name = Path(image).name if isinstance(image, str | Path) else "this face"
    ref_name = Path(reference).name if isinstance(reference, str | Path) else "reference"
    sida_path = out / "sida_statistics.png"
    fig = plot_sida_statistics(ref_vector, vector, statistic="mean", channel="Y", path=sida_path,
                               title=f"SIDA mean, Y: {ref_name} (reference, red) vs {name} "
                               "(blue)")
    plt.close(fig)
    result.written.append(sida_path)
    return result
