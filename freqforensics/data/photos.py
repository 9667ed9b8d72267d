"""The photo sources of the embedded data set: bundled photographs, split by photograph.

The real samples of :class:`~freqforensics.data.synthetic.SelfBlendedFaces` are crops of the
photographs that ship inside installed Python packages (scikit-image's ``skimage.data``,
scikit-learn's sample images, matplotlib's sample data), listed in :data:`SOURCES`. This
module loads them (:func:`load_source`, decoded once per process and cached) and assigns them
to train/val/test **by source photograph**, never by crop (:func:`split_sources`): no photo
feeds two splits.

Sources that cannot be loaded offline (those scikit-image would have to download with
``pooch``, or packages that are not installed) are skipped; :func:`available_sources` lists
those present. Photos left out on purpose: ``cat`` (the same picture as ``chelsea``),
``motorcycle_right`` (the other half of a stereo pair, a near duplicate of
``motorcycle_left`` that would leak across splits), the synthetic or binary images
(``colorwheel``, ``logo``, ``checkerboard``, ``binary_blobs``, ``horse``,
``shepp_logan_phantom``) and the images too small to crop (``microaneurysms``,
``lfw_subset``).

Needs scikit-image and Pillow; scikit-learn and matplotlib only add photos.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image

from freqforensics.data.codecs import read_rgb
from freqforensics.data.readers import SPLITS

__all__ = ["SOURCES", "SPLITS", "available_sources", "split_sources", "load_source"]

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


_SPLIT_FRACTIONS = {"val": 0.2, "test": 0.2}
_MIN_SOURCE_SIDE = 128  # photos smaller than this are not usable as sources


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
    return read_rgb(str(path))


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
