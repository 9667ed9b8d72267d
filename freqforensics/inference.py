"""Inference on images, folders and videos with exactly the preprocessing of training.

:class:`Detector` wraps a trained :class:`~freqforensics.models.SFCLHCMF` with the chain that
``freqforensics preprocess`` and :class:`~freqforensics.data.FrameDataset` apply to training
data: the largest dlib face, enlarged 1.3x and snapped to the 8-pixel grid; the SIDA vector of
that crop at its original resolution; the crop resized (bilinear) to the model's input size.
Feeding a resized image straight to ``model(images)`` computes SIDA on the resized image
instead, which gives other numbers.

A file that cannot be read, or a frame without a face, is reported in the result (status
``error`` or ``no_face``) and skipped; the rest goes on.

Example:
    >>> import numpy as np
    >>> from freqforensics import Detector, create_model
    >>> detector = Detector(create_model("sfcl_hcmf_cpu", img_size=64), detect=False)
    >>> result = detector.predict_image(np.zeros((64, 64, 3), np.uint8))
    >>> result.frames[0].status, 0.0 <= result.fake_probability <= 1.0
    ('ok', True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from freqforensics._checks import (
    UnitRangeCheck,
    check_face_scale,
    check_positive_int,
    check_probability,
    check_rgb_uint8,
    check_upsample,
    resolve_device,
)
from freqforensics._progress import progress as _progress
from freqforensics.layers.sida import SIDA

if TYPE_CHECKING:
    from freqforensics.data.faces import FaceBox

__all__ = [
    "Detector",
    "FramePrediction",
    "Prediction",
    "ImageError",
    "read_image",
    "model_input_size",
]


class ImageError(ValueError):
    """An image file cannot be read (missing, truncated, not an image): a ``ValueError``.

    Attributes:
        path: the file.
        reason: what the decoder said.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array ``(H, W, 3)`` (Pillow).

    Raises:
        ImageError: the file is missing, truncated or not an image (a ``ValueError`` naming
            the file).
    """
    from freqforensics.data.codecs import read_rgb

    try:
        return read_rgb(path)
    except OSError as err:
        raise ImageError(path, str(err)) from err


@dataclass(frozen=True)
class FramePrediction:
    """One frame (an image, or a frame of a video).

    Attributes:
        index: the frame's index in the video, or its position in the folder.
        source: the file it came from (``None`` for an array).
        status: ``ok`` (scored), ``no_face`` (no face found) or ``error`` (unreadable).
        box: the crop box ``(x0, y0, x1, y1)`` in frame pixels, ``None`` without detection.
        fake_probability: sigmoid of the logit, ``None`` unless ``status == "ok"``.
        error: why the file could not be read.
    """

    index: int
    source: str | None
    status: str
    box: tuple[int, int, int, int] | None = None
    fake_probability: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Prediction:
    """The frames of one input and their aggregate.

    Attributes:
        input: the path given (``"<array>"`` for an array).
        kind: ``image``, ``folder`` or ``video``.
        frames: one :class:`FramePrediction` per frame, in order.
        fake_probability: mean over the frames with a face; ``None`` when none had one.
        threshold: the probability above which :attr:`label` is ``fake``.
    """

    input: str
    kind: str
    frames: list[FramePrediction] = field(default_factory=list)
    fake_probability: float | None = None
    threshold: float = 0.5

    @property
    def label(self) -> str | None:
        """``fake``, ``real`` or ``None`` (no frame had a face)."""
        if self.fake_probability is None:
            return None
        return "fake" if self.fake_probability > self.threshold else "real"

    @property
    def frames_with_face(self) -> int:
        """How many frames were scored."""
        return sum(f.status == "ok" for f in self.frames)

    @property
    def errors(self) -> list[FramePrediction]:
        """The frames that could not be read."""
        return [f for f in self.frames if f.status == "error"]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: what ``freqforensics predict --json`` prints."""
        frames = []
        for f in self.frames:
            entry: dict[str, Any] = {"frame_index": f.index}
            if self.kind != "video" and f.source is not None:
                entry["file"] = f.source
            entry.update(box=None if f.box is None else list(f.box), status=f.status,
                         fake_probability=f.fake_probability)
            if f.error is not None:
                entry["error"] = f.error
            frames.append(entry)
        return {
            "input": self.input,
            "type": self.kind,
            "frames": frames,
            "frames_with_face": self.frames_with_face,
            "frames_without_face": sum(f.status == "no_face" for f in self.frames),
            "frames_with_error": len(self.errors),
            "fake_probability": self.fake_probability,
            "label": self.label,
            "threshold": self.threshold,
        }


def model_input_size(model: torch.nn.Module) -> int:
    """The side of the square input a detector expects (its ``pretrained_cfg`` or config)."""
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and "input_size" in cfg:
        return int(cfg["input_size"][-1])
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "img_size"):
        raise TypeError(
            "model must carry a pretrained_cfg or a config with img_size, got "
            f"{type(model).__name__}"
        )
    return int(config.img_size)


class Detector:
    """A trained detector plus the training preprocessing, for images, folders and videos.

    Args:
        model: an :class:`~freqforensics.models.SFCLHCMF` (or any module with the same
            ``forward(images, sida=None)`` and a ``config.img_size``), put in eval mode.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        detect: find the face (dlib) before scoring; ``False`` scores the whole image as a
            crop (for inputs that already are face crops). Videos are always detected.
        scale: face box enlargement (FaceForensics++: 1.3).
        upsample: dlib upsampling (0 or 1).
        threshold: probability above which the label is ``fake``.
        progress: a progress bar (stderr) over the frames of a video and the images of a
            folder or list, shown once the work has taken a second.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: str | torch.device = "auto",
        detect: bool = True,
        scale: float = 1.3,
        upsample: int = 0,
        threshold: float = 0.5,
        progress: bool = False,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        threshold = check_probability(threshold, "threshold")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.image_size = model_input_size(model)
        self.detect = bool(detect)
        self.threshold = float(threshold)
        self.progress = bool(progress)
        self._scale, self._upsample = check_face_scale(scale), check_upsample(upsample)
        self._face_detector: Any = None
        self._sida = SIDA()
        self._range_check = UnitRangeCheck("Detector")

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "auto", **kwargs: Any
    ) -> Detector:
        """Load a checkpoint written by :meth:`SFCLHCMF.save_checkpoint` (``best.safetensors``)."""
        from freqforensics.models import SFCLHCMF

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return cls(SFCLHCMF.from_checkpoint(path), device=device, **kwargs)

    # ----------------------------------------------------------------------------- scoring
    def _detector(self) -> Any:
        if self._face_detector is None:
            from freqforensics.data.faces import FaceDetector

            self._face_detector = FaceDetector(scale=self._scale, upsample=self._upsample)
        return self._face_detector

    def score_crop(self, crop: np.ndarray) -> float:
        """Fake probability of one face crop (RGB ``uint8`` at its original resolution)."""
        from freqforensics.data.dataset import prepare_crop

        check_rgb_uint8(crop, "crop")
        if min(crop.shape[:2]) < 16:
            raise ValueError(f"crop must be at least 16 x 16 pixels, got shape {crop.shape}")
        image, vector = prepare_crop(crop, self.image_size, self._sida)
        with torch.no_grad():
            logit = self.model(image[None].to(self.device), sida=vector[None].to(self.device))
        return float(torch.sigmoid(logit.float())[0])

    def _as_uint8(self, image: object) -> np.ndarray:
        if isinstance(image, np.ndarray) and image.dtype.kind == "f":
            if not np.isfinite(image).all():
                raise ValueError(
                    f"image holds {int((~np.isfinite(image)).sum())} NaN or infinite values; "
                    "expected RGB in [0, 1] (float) or 0-255 (uint8)"
                )
            if image.size:
                self._range_check(float(image.min()), float(image.max()), stacklevel=3)
            image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        return check_rgb_uint8(image, "image")

    def face_crop(
        self, image: np.ndarray, detect: bool | None = None
    ) -> tuple[np.ndarray | None, FaceBox | None]:
        """The face crop of an RGB ``uint8`` frame, as training crops it, and its box.

        Args:
            image: the frame.
            detect: find the face (default: the detector's ``detect``); ``False`` returns
                ``(image, None)``.

        Returns:
            ``(crop, box)``, or ``(None, None)`` when no face is found.
        """
        from freqforensics.data.faces import crop_face

        check_rgb_uint8(image, "image")
        if not (self.detect if detect is None else detect):
            return image, None
        box = self._detector()(image)
        if box is None:
            return None, None
        return crop_face(image, box), box

    def _frame(
        self, index: int, source: str | None, image: np.ndarray, detect: bool
    ) -> FramePrediction:
        crop, box = self.face_crop(image, detect)
        if crop is None:
            return FramePrediction(index, source, "no_face")
        coords = None if box is None else (box.x0, box.y0, box.x1, box.y1)
        try:
            return FramePrediction(index, source, "ok", coords, self.score_crop(crop))
        except ValueError as err:  # e.g. a face crop under 16 x 16 pixels
            return FramePrediction(index, source, "error", coords, error=" ".join(str(err).split()))

    def _result(self, input_: str, kind: str, frames: list[FramePrediction]) -> Prediction:
        scored = [f.fake_probability for f in frames if f.fake_probability is not None]
        mean = float(np.mean(scored)) if scored else None
        return Prediction(input_, kind, frames, mean, self.threshold)

    def _file_frame(self, index: int, path: Path) -> FramePrediction:
        try:
            image = read_image(path)
        except ImageError as err:
            return FramePrediction(index, str(path), "error", error=str(err))
        return self._frame(index, str(path), image, self.detect)

    # -------------------------------------------------------------------------- public API
    def predict_image(self, image: str | Path | np.ndarray) -> Prediction:
        """Score one image: a file path, or an RGB ``uint8`` array ``(H, W, 3)``.

        Float arrays are read as [0, 1] (values far outside give a one-time warning).
        """
        if isinstance(image, str | Path):
            path = Path(image)
            if not path.is_file():
                raise FileNotFoundError(f"image not found: {path}")
            return self._result(str(path), "image", [self._file_frame(0, path)])
        array = self._as_uint8(image)
        return self._result("<array>", "image", [self._frame(0, None, array, self.detect)])

    def predict_images(self, paths: Iterable[str | Path], input_: str = "<list>") -> Prediction:
        """Score several image files; unreadable ones get status ``error`` and are skipped."""
        if isinstance(paths, str | Path):
            raise TypeError(f"paths must be a list of image files, got the path {paths!r} (a "
                            "folder: use predict_folder; one image: predict_image)")
        files = [Path(p) for p in paths]
        bar = _progress(files, self.progress, desc=Path(input_).name, unit="image", delay=1.0)
        frames = [self._file_frame(i, p) for i, p in enumerate(bar)]
        return self._result(input_, "folder", frames)

    def predict_folder(self, path: str | Path) -> Prediction:
        """Score every image of a folder (sorted by name; not recursive)."""
        from freqforensics.data.readers import IMAGE_EXTENSIONS

        folder = Path(path)
        if not folder.is_dir():
            raise NotADirectoryError(f"path must be a folder of images, got {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(
                f"folder {folder} holds no images (suffixes {sorted(IMAGE_EXTENSIONS)})"
            )
        return self.predict_images(files, str(folder))

    def predict_video(self, path: str | Path, frames: int = 32) -> Prediction:
        """Score ``frames`` frames spread evenly over a video (faces always detected).

        A sampled frame that does not decode cleanly (it depends on a packet FFmpeg rejects,
        see :mod:`freqforensics.data.video`) gets status ``error`` and the others go on.

        Raises:
            VideoError: the video cannot be opened or indexed (a ``ValueError``).
        """
        from freqforensics.data.video import FrameError, sample_frames

        check_positive_int(frames, "frames")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"video not found: {path}")
        sampled = _progress(sample_frames(path, frames, errors="report"), self.progress,
                            desc=path.name, total=frames, unit="frame",
                            delay=1.0)  # none for a quick error
        results = [
            FramePrediction(item.frame_index, str(path), "error", error=item.reason)
            if isinstance(item, FrameError)
            else self._frame(item.frame_index, str(path), item.image, True)
            for item in sampled
        ]
        return self._result(str(path), "video", results)

    def predict(self, path: str | Path, frames: int = 32) -> Prediction:
        """Dispatch on the input: a folder, a video (by suffix) or an image."""
        from freqforensics.data.readers import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

        path = Path(path)
        if path.is_dir():
            return self.predict_folder(path)
        if not path.is_file():
            raise FileNotFoundError(f"input not found: {path}")
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return self.predict_video(path, frames)
        if suffix in IMAGE_EXTENSIONS:
            return self.predict_image(path)
        raise ValueError(
            f"path must be an image ({', '.join(sorted(IMAGE_EXTENSIONS))}), a folder of "
            f"images or a video ({', '.join(sorted(VIDEO_EXTENSIONS))}), got {path}"
        )

