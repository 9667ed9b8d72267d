"""The embedded default data set: self-blended crops of bundled photographs.

**This is a proxy task, not FaceForensics++.** It lets the library train and test a detector
end to end with no download and no face data: real samples are random crops of the
photographs that ship inside installed Python packages (scikit-image's ``skimage.data``,
scikit-learn's sample images, matplotlib's sample data), and fakes are *self-blended images*
in the style of Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR
2022): a soft-edged, face-sized blob of a crop is replaced by a slightly transformed copy of
the same crop. What a detector learns here is to find blending boundaries and local
resampling, sharpness and colour inconsistencies, the generic traces that SBI training
targets. None of the photographs is a face, so numbers on this set say nothing about
accuracy on real deepfake benchmarks.

The pipeline, identical for both classes except the blending step:

1. pick a source photograph of the split and a random square crop (random position, side,
   horizontal flip), resized to ``size`` x ``size`` (antialiased bilinear);
2. fakes only: :func:`make_self_blended` on the resized crop;
3. JPEG compression with Pillow at a quality drawn from the same range for both classes, so
   that compression is not a cue.

Resizing happens *before* blending and JPEG, so the blending traces and the JPEG grid of a
fake are at the output resolution exactly as for a real sample.

Splits are made **by source photograph**, never by crop (:func:`split_sources`): no photo
feeds two splits. Everything is deterministic: a sample depends only on
``(seed, split, epoch, index)``.

Sources that cannot be loaded offline (those scikit-image would have to download with
``pooch``, or packages that are not installed) are skipped; :func:`available_sources` lists
those present. Photos left out on purpose: ``cat`` (the same picture as ``chelsea``),
``motorcycle_right`` (the other half of a stereo pair, a near duplicate of
``motorcycle_left`` that would leak across splits), the synthetic or binary images
(``colorwheel``, ``logo``, ``checkerboard``, ``binary_blobs``, ``horse``,
``shepp_logan_phantom``) and the images too small to crop (``microaneurysms``,
``lfw_subset``).

Needs scikit-image (and the SciPy it depends on) and Pillow, the ``train`` extra; scikit-learn
and matplotlib only add photos.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter
from torch.utils.data import Dataset

from freqforensics._checks import check_rgb_uint8

__all__ = [
    "SOURCES",
    "SPLITS",
    "DEFAULT_LENGTHS",
    "SelfBlendedFaces",
    "available_sources",
    "split_sources",
    "make_self_blended",
    "load_source",
]

#: The candidate source photographs: name -> (origin, colour?, description). Only those that
#: load offline are used, see :func:`available_sources`. Grayscale photos are replicated to
#: three channels, and their fakes keep the three channels equal (no colour cue).
SOURCES: dict[str, tuple[str, bool, str]] = {
    # colour natural photographs
    "astronaut": ("skimage.data.astronaut", True, "portrait of astronaut Eileen Collins"),
    "coffee": ("skimage.data.coffee", True, "a cup of coffee on a table"),
    "chelsea": ("skimage.data.chelsea", True, "Chelsea the cat"),
    "rocket": ("skimage.data.rocket", True, "a rocket on its launch pad"),
    "motorcycle_left": ("skimage.data.stereo_motorcycle", True, "a motorcycle, left view"),
    "immunohistochemistry": (
        "skimage.data.immunohistochemistry",
        True,
        "stained tissue, colour microscopy",
    ),
    "hubble_deep_field": ("skimage.data.hubble_deep_field", True, "Hubble deep field, space"),
    "retina": ("skimage.data.retina", True, "fundus photograph of a retina"),
    "china": ("sklearn.datasets.load_sample_image", True, "a Chinese temple (scikit-learn)"),
    "flower": ("sklearn.datasets.load_sample_image", True, "a flower (scikit-learn)"),
    "grace_hopper": ("matplotlib.cbook.get_sample_data", True, "portrait of Grace Hopper"),
    # grayscale photographs
    "camera": ("skimage.data.camera", False, "a cameraman, grayscale"),
    "coins": ("skimage.data.coins", False, "Greek coins, grayscale"),
    "moon": ("skimage.data.moon", False, "surface of the moon, grayscale"),
    "brick": ("skimage.data.brick", False, "a brick wall texture, grayscale"),
    "grass": ("skimage.data.grass", False, "grass texture, grayscale"),
    "gravel": ("skimage.data.gravel", False, "gravel texture, grayscale"),
    "clock": ("skimage.data.clock", False, "a clock with motion blur, grayscale"),
    "page": ("skimage.data.page", False, "a photographed book page, grayscale"),
    "text": ("skimage.data.text", False, "photographed text on a sign, grayscale"),
    "cell": ("skimage.data.cell", False, "a cell, microscopy, grayscale"),
}

#: The split names.
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Samples per split when ``length`` is not given.
DEFAULT_LENGTHS: dict[str, int] = {"train": 4096, "val": 1024, "test": 1024}

_SPLIT_FRACTIONS = {"val": 0.2, "test": 0.2}
_MIN_SOURCE_SIDE = 128  # photos smaller than this are not usable as sources
_LOW_CONTRAST_STD = 3.0  # crops flatter than this (0-255 scale) are redrawn, up to 8 times


def _load_skimage(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle_left":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            left, _, _ = skimage.data.stereo_motorcycle()
        return np.asarray(left)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(getattr(skimage.data, name)())


def _load_sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(f"{name}.jpg"))


def _load_matplotlib(name: str) -> np.ndarray:
    from matplotlib import cbook

    path = cbook.get_sample_data(f"{name}.jpg", asfileobj=False)
    with Image.open(str(path)) as im:
        return np.asarray(im.convert("RGB"))


_LOADERS: dict[str, Callable[[str], np.ndarray]] = {
    "skimage": _load_skimage,
    "sklearn": _load_sklearn,
    "matplotlib": _load_matplotlib,
}


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"source photo must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"source photo must be (H, W) or (H, W, 3), got {image.shape}")
    return np.ascontiguousarray(image)


@cache
def _load_cached(name: str) -> Image.Image | None:
    """Decode one source photo once per process; None when it cannot be loaded."""
    origin = SOURCES[name][0].split(".")[0]
    try:
        arr = _as_rgb_uint8(_LOADERS[origin](name))
    except Exception:  # noqa: BLE001 - any failure (missing package, needs download) = skip
        return None
    if min(arr.shape[:2]) < _MIN_SOURCE_SIDE:
        return None
    image = Image.fromarray(arr, mode="RGB")
    image.load()
    return image


def _photo(name: str) -> Image.Image:
    image = _load_cached(name)
    if image is None:  # split_sources only lists photos that load, so this is a bug
        raise RuntimeError(f"source photo {name!r} could not be loaded")
    return image


def load_source(name: str) -> np.ndarray:
    """Return one source photograph as an RGB ``uint8`` array of shape :math:`(H, W, 3)`.

    Args:
        name: a name of :func:`available_sources`.

    Returns:
        A fresh copy of the decoded photo (grayscale photos replicated to three channels).

    Raises:
        ValueError: ``name`` is unknown or the photo cannot be loaded offline.

    Example:
        >>> load_source("astronaut").shape
        (512, 512, 3)
    """
    if name not in SOURCES:
        raise ValueError(f"name must be one of {list(SOURCES)}, got {name!r}")
    image = _load_cached(name)
    if image is None:
        raise ValueError(
            f"name={name!r} cannot be loaded offline here (its package is missing or it needs "
            f"a download); use one of available_sources() = {available_sources()}"
        )
    return np.array(image)


def available_sources() -> list[str]:
    """The source photographs that load offline in this environment, in :data:`SOURCES` order.

    The photos are decoded once per process and cached (about 20 MB).

    Returns:
        The names of the usable photos.

    Example:
        >>> len(available_sources()) >= 12
        True
    """
    return [name for name in SOURCES if _load_cached(name) is not None]


def split_sources(seed: int = 0) -> dict[str, list[str]]:
    """Assign the available source photographs to train/val/test, deterministically.

    About 60/20/20, stratified so that colour and grayscale photos are spread over the three
    splits; every split gets at least two photos. A photo belongs to exactly one split, so no
    crop of a test photo is ever seen in training. The assignment depends on ``seed`` and on
    which photos are available (see :func:`available_sources`).

    Args:
        seed: non-negative int.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, names sorted within each split.

    Raises:
        ValueError: ``seed`` is not a non-negative int.
        RuntimeError: fewer than six photos are available.

    Example:
        >>> s = split_sources(0)
        >>> sorted(s) == ["test", "train", "val"] and not set(s["train"]) & set(s["test"])
        True
    """
    seed = _check_seed(seed)
    names = available_sources()
    if len(names) < 6:
        raise RuntimeError(
            f"need at least 6 source photos to split, only {len(names)} load offline: {names}; "
            "install scikit-image>=0.22 (and optionally scikit-learn, matplotlib)"
        )
    rng = np.random.default_rng([seed, 0x5B1])
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for colour in (True, False):
        group = [n for n in names if SOURCES[n][1] is colour]
        order = rng.permutation(len(group))
        group = [group[i] for i in order]
        n_val = round(_SPLIT_FRACTIONS["val"] * len(group))
        n_test = round(_SPLIT_FRACTIONS["test"] * len(group))
        splits["val"] += group[:n_val]
        splits["test"] += group[n_val : n_val + n_test]
        splits["train"] += group[n_val + n_test :]
    # small groups can leave a split short: move photos from train, keeping train the largest
    for split in ("val", "test"):
        while len(splits[split]) < 2:
            splits[split].append(splits["train"].pop())
    return {s: sorted(v) for s, v in splits.items()}


def _check_seed(seed: object, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed!r}")
    return int(seed)


# --------------------------------------------------------------------------------------------
# self-blending
# --------------------------------------------------------------------------------------------


def _blend_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A face-sized soft blob: a perturbed rotated ellipse with a Gaussian-blurred edge."""
    side = min(h, w)
    diameter = rng.uniform(0.3, 0.6) * side
    aspect = rng.uniform(0.8, 1.25)
    a, b = 0.5 * diameter * aspect, 0.5 * diameter / aspect
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    angle = rng.uniform(0.0, math.pi)
    yy = np.arange(h, dtype=np.float32)[:, None] - np.float32(cy)
    xx = np.arange(w, dtype=np.float32)[None, :] - np.float32(cx)
    cos, sin = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    u = (xx * cos + yy * sin) / np.float32(a)
    v = (-xx * sin + yy * cos) / np.float32(b)
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    # low-order harmonics of the radius keep the blob close to convex
    boundary = np.ones_like(rho)
    for k in (2, 3, 4):
        boundary += np.float32(rng.uniform(0.0, 0.08)) * np.cos(k * theta + rng.uniform(0, 6.3))
    hard = (rho <= boundary).astype(np.float32)
    sigma = rng.uniform(0.04, 0.1) * diameter
    # scipy's C filter, not a BLAS matmul: threaded BLAS stalls on a busy 2-core machine
    soft = gaussian_filter(hard, sigma, mode="constant", truncate=4.0)
    soft = np.clip(soft, 0.0, 1.0)
    soft[soft < 1e-4] = 0.0
    # SBI blends with a random ratio; keep it high so the blob is a full replacement inside
    return (soft * np.float32(rng.uniform(0.7, 1.0))).astype(np.float32)


def _source_transform(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slightly altered copy of ``image`` (uint8 HxWx3) as float32 in [0, 255]."""
    h, w = image.shape[:2]
    grey = bool((image[:, :, :1] == image[:, :, 1:]).all())
    pil = Image.fromarray(image, mode="RGB")
    # 1) resample down and up
    factor = rng.uniform(0.5, 0.9)
    small = (max(8, round(w * factor)), max(8, round(h * factor)))
    pil = pil.resize(small, Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
    # 2) sharpness: a light blur or a light unsharp mask
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    else:
        pil = pil.filter(
            ImageFilter.UnsharpMask(
                radius=float(rng.uniform(1.0, 2.0)), percent=int(rng.integers(30, 81)), threshold=0
            )
        )
    # 3) a small shift (a few px) or scale (+-3 %) around the blob's centre
    ys, xs = (
        np.nonzero(mask > 0.5 * mask.max())
        if mask.max() > 0
        else (np.array([h / 2]), np.array([w / 2]))
    )
    cy, cx = float(ys.mean()), float(xs.mean())
    max_shift = max(1.0, 0.025 * min(h, w))
    if rng.random() < 0.5:
        scale, dx, dy = 1.0, rng.uniform(-max_shift, max_shift), rng.uniform(-max_shift, max_shift)
    else:
        scale, dx, dy = rng.uniform(0.97, 1.03), 0.0, 0.0
    pad = int(math.ceil(max_shift + 0.03 * max(h, w))) + 2
    padded = Image.fromarray(np.pad(np.asarray(pil), ((pad, pad), (pad, pad), (0, 0)), "reflect"))
    # output (x, y) samples input ((x - c) / scale + c - d), in padded coordinates
    pcx, pcy = cx + pad, cy + pad
    coeffs = (1 / scale, 0.0, pcx - pcx / scale - dx, 0.0, 1 / scale, pcy - pcy / scale - dy)
    moved = padded.transform(
        padded.size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR
    )
    out = np.asarray(moved, dtype=np.float32)[pad : pad + h, pad : pad + w]
    # 4) small contrast, brightness and (colour photos only) per-channel gain changes
    mean = out.mean(axis=(0, 1), keepdims=True)
    contrast = np.float32(rng.uniform(0.95, 1.05))
    bright = np.float32(rng.uniform(-0.03, 0.03) * 255.0)
    gains = rng.uniform(0.97, 1.03, size=3).astype(np.float32)
    if grey:
        gains[:] = 1.0
    return (out - mean) * contrast * gains + mean + bright


def make_self_blended(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Make a self-blended fake from one real image (SBI style).

    A soft-edged, face-sized blob (a rotated ellipse with a slightly wavy outline, 30-60 % of
    the image side across, Gaussian-blurred edge, random position) is replaced by a transformed
    copy of the same image: resampled down and up by a factor in [0.5, 0.9], lightly blurred or
    sharpened, shifted by a few pixels or scaled by up to 3 %, with contrast, brightness and
    (colour images only) per-channel gains changed by a few percent. Pixels where the mask is 0
    are left exactly unchanged. The changes are kept subtle on purpose: the blob's colour and
    texture stay close to its surroundings, as in a well-made face swap.

    Args:
        image: real image, ``uint8`` array of shape :math:`(H, W, 3)`, H and W >= 16.
        rng: the random generator that draws every parameter (deterministic per its state).

    Returns:
        ``(fake, mask)``: the fake, ``uint8`` :math:`(H, W, 3)`, and the blend mask, ``float32``
        :math:`(H, W)` in [0, 1] (``fake = mask * altered + (1 - mask) * image``, rounded).

    Raises:
        ValueError: ``image`` is not a uint8 (H, W, 3) array with sides >= 16, or ``rng`` is
            not a :class:`numpy.random.Generator`.

    Example:
        >>> real = load_source("coffee")[:128, :128]
        >>> fake, mask = make_self_blended(real, np.random.default_rng(0))
        >>> fake.shape, fake.dtype, mask.shape, bool(mask.max() <= 1.0)
        ((128, 128, 3), dtype('uint8'), (128, 128), True)
    """
    image = check_rgb_uint8(image)
    if min(image.shape[:2]) < 16:
        raise ValueError(f"image must be at least 16x16 pixels, got shape {image.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "use np.random.default_rng(seed)"
        )
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    mask = _blend_mask(h, w, rng)
    altered = _source_transform(image, mask, rng)
    base = image.astype(np.float32)
    m = mask[:, :, None]
    fake = base + m * (altered - base)
    fake = np.clip(np.rint(fake), 0, 255).astype(np.uint8)
    return fake, mask


# --------------------------------------------------------------------------------------------
# the data set
# --------------------------------------------------------------------------------------------


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def _check_quality(jpeg_quality: object) -> tuple[int, int] | None:
    if jpeg_quality is None:
        return None
    if isinstance(jpeg_quality, (int, np.integer)) and not isinstance(jpeg_quality, bool):
        lo = hi = int(jpeg_quality)
    elif (
        isinstance(jpeg_quality, Sequence)
        and len(jpeg_quality) == 2
        and all(isinstance(q, (int, np.integer)) and not isinstance(q, bool) for q in jpeg_quality)
    ):
        lo, hi = int(jpeg_quality[0]), int(jpeg_quality[1])
    else:
        raise ValueError(
            f"jpeg_quality must be None, an int or a (low, high) pair of ints, got {jpeg_quality!r}"
        )
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"jpeg_quality must satisfy 1 <= low <= high <= 100, got {jpeg_quality!r}")
    return lo, hi


class SelfBlendedFaces(Dataset):
    """Self-blended crops of bundled photographs: the embedded, download-free data set.

    A proxy for a face-forgery data set, not FaceForensics++ (see the module docstring): even
    indices are real crops, odd indices are fakes made by :func:`make_self_blended`, so any
    window of consecutive indices is balanced. Samples ``2k`` and ``2k + 1`` come from the same
    crop (the fake is the self-blended version of the real one, before JPEG), like SBI's
    paired batches; each sample then gets its own JPEG quality, drawn from the same range for
    both classes.

    A sample depends only on ``(seed, split, epoch, index)``. With ``fresh_every_epoch`` each
    :meth:`set_epoch` call draws new crops, masks and qualities (fresh crops every epoch keep a
    detector from memorising a fixed set); otherwise the epoch is ignored. The epoch starts at
    0, so a validation or test set is a fixed set unless you call :meth:`set_epoch` on it. With
    a :class:`~torch.utils.data.DataLoader`, call :meth:`set_epoch` before iterating, and use
    ``persistent_workers=False`` so that the workers see the new epoch.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; splits use disjoint source photos
            (:func:`split_sources`).
        size: output side S in pixels, >= 32 (a multiple of 8 keeps the JPEG grid aligned with
            block-DCT layers).
        length: number of samples, a positive even int; defaults to :data:`DEFAULT_LENGTHS`.
        seed: non-negative int; selects the split assignment of the photos and every draw.
        fresh_every_epoch: whether :meth:`set_epoch` changes the samples.
        jpeg_quality: JPEG quality range ``(low, high)`` (inclusive, drawn uniformly), a single
            int, or None for no compression.
        return_sida_crop: also return ``"raw_crop"``, the crop at the photo's original
            resolution before resizing, blending and JPEG (``uint8`` :math:`(3, h, w)`, flipped
            like ``image``; its size varies: use ``batch_size=1`` or a custom ``collate_fn``).
            It is the *untouched real* crop for both classes (the fake is made at the output
            resolution), so it is for inspection, not a model input: compute SIDA statistics
            on ``image``, whose blending and JPEG grid are at the output resolution.

    Shape:
        Each item is a dict with ``image`` :math:`(3, S, S)` float32 in [0, 1], ``label`` a
        float (1.0 = fake), ``source`` the photo name, ``video_id``
        ``"synthetic/<photo>/<index>"`` (unique per sample), ``mask`` :math:`(1, S, S)` float32
        blend mask (zeros for real samples) and ``jpeg_quality`` an int (0 when JPEG is off).

    Example:
        >>> ds = SelfBlendedFaces("train", size=64, length=8, seed=0)
        >>> item = ds[1]
        >>> item["image"].shape, item["label"], item["mask"].shape
        (torch.Size([3, 64, 64]), 1.0, torch.Size([1, 64, 64]))
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = None,
        seed: int = 0,
        fresh_every_epoch: bool = True,
        jpeg_quality: int | tuple[int, int] | None = (70, 95),
        return_sida_crop: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
            raise ValueError(f"size must be an int >= 32, got {size!r}")
        if length is None:
            length = DEFAULT_LENGTHS[split]
        if (
            isinstance(length, bool)
            or not isinstance(length, (int, np.integer))
            or length < 2
            or length % 2
        ):
            raise ValueError(
                f"length must be a positive even int (even indices real, odd fake), got {length!r}"
            )
        for arg, value in (
            ("fresh_every_epoch", fresh_every_epoch),
            ("return_sida_crop", return_sida_crop),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{arg} must be a bool, got {value!r}")
        self.split = split
        self.size = int(size)
        self.length = int(length)
        self.seed = _check_seed(seed)
        self.fresh_every_epoch = fresh_every_epoch
        self.jpeg_quality = _check_quality(jpeg_quality)
        self.return_sida_crop = return_sida_crop
        self.sources: list[str] = split_sources(self.seed)[split]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; with ``fresh_every_epoch`` the crops and masks change with it.

        Args:
            epoch: non-negative int.
        """
        self.epoch = _check_seed(epoch, "epoch")

    def __len__(self) -> int:
        return self.length

    def _rng(self, key: int, stream: int) -> np.random.Generator:
        epoch = self.epoch if self.fresh_every_epoch else 0
        return np.random.default_rng([self.seed, SPLITS.index(self.split), epoch, key, stream])

    def _crop(self, pair: int) -> tuple[str, np.ndarray, tuple[int, int, int, int], bool]:
        """Source name, resized crop (uint8 SxSx3), crop box and flip of a real/fake pair."""
        rng = self._rng(pair, 0)
        name = self.sources[int(rng.integers(len(self.sources)))]
        photo = _photo(name)
        w, h = photo.size
        hi = min(w, h)
        lo = min(hi, max(self.size, int(0.35 * hi)))
        best: tuple[float, np.ndarray, tuple[int, int, int, int]] | None = None
        for _ in range(8):
            side = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi) + 1e-9))))
            side = min(max(side, lo), hi)
            x0 = int(rng.integers(0, w - side + 1))
            y0 = int(rng.integers(0, h - side + 1))
            box = (x0, y0, x0 + side, y0 + side)
            crop = np.asarray(
                photo.resize(
                    (self.size, self.size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0
                )
            )
            std = float(crop.std())
            if best is None or std > best[0]:
                best = (std, crop, box)
            if std >= _LOW_CONTRAST_STD:
                break
        if best is None:  # pragma: no cover - the loop runs at least once
            raise RuntimeError("no crop drawn")
        _, crop, box = best
        flip = bool(rng.random() < 0.5)
        if flip:
            crop = crop[:, ::-1]
        return name, np.ascontiguousarray(crop), box, flip

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a data set of length {self.length}")
        index = int(index)
        name, crop, box, flip = self._crop(index // 2)
        label = index % 2
        if label:
            image, mask = make_self_blended(crop, self._rng(index, 1))
        else:
            image, mask = crop, np.zeros(crop.shape[:2], np.float32)
        quality = 0
        if self.jpeg_quality is not None:
            lo, hi = self.jpeg_quality
            quality = int(self._rng(index, 2).integers(lo, hi + 1))
            image = _jpeg(image, quality)
        sample: dict[str, Any] = {
            "image": torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
            ),
            "label": float(label),
            "source": name,
            "video_id": f"synthetic/{name}/{index}",
            "mask": torch.from_numpy(np.ascontiguousarray(mask[None], dtype=np.float32)),
            "jpeg_quality": quality,
        }
        if self.return_sida_crop:
            raw = np.asarray(_photo(name).crop(box))
            if flip:
                raw = raw[:, ::-1]
            sample["raw_crop"] = torch.from_numpy(np.ascontiguousarray(raw.transpose(2, 0, 1)))
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, size={self.size}, length={self.length}, "
            f"seed={self.seed}, fresh_every_epoch={self.fresh_every_epoch}, "
            f"jpeg_quality={self.jpeg_quality}, sources={self.sources})"
        )
