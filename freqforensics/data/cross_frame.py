"""Cross-frame blends: the face of another frame of the same video, aligned and blended.

An addition to SBI (off by default; the data set's ``cross_p``). SBI's source is an altered
copy of the target frame itself, so its fakes differ from their reals in colour, detail and a
small move, never in *expression*. Reenactments (Face2Face, NeuralTextures) are the opposite:
the person, the light and the camera stay, and the mouth and the expression change. A
cross-frame fake imitates that with real faces only: the source is another frame of the same
video, aligned to the target by the similarity transform (rotation, uniform scale,
translation) that best maps its *stable* landmarks (the jaw's two ends, the brows, the nose,
the eyes: :data:`STABLE_POINTS`, not the mouth or the chin) onto the target's, and then
blended by SBI's mask, move and blend ratio (:mod:`freqforensics.data.sbi`). The other frame
is near in time (:data:`WINDOW`), so the pose is nearly the same and the expression is not:
where the two expressions differ, the fake carries a mouth, a chin and cheeks that do not
match the rest of the face.

Needs SciPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from freqforensics._images import to_uint8
from freqforensics.data._sbi_checks import _check_crop, _check_landmarks

__all__ = ["STABLE_POINTS", "WINDOW", "similarity", "align_face", "same_video_partners"]

#: dlib 68-point indices that a change of expression barely moves: jaw ends, brows, nose, eyes.
STABLE_POINTS = np.r_[0, 16, 17:48]

#: Partners of a frame: the frames at most this many crops of its video away (the recipe's 160
#: crops of a 10-20 s video: about half a second to a second either way).
WINDOW = 8


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity transform taking ``source`` points onto ``target``.

    Umeyama's method without reflection: ``target ~= scale * R @ source + t``.

    Args:
        source: :math:`(N, 2)` points, N >= 2, not all equal.
        target: :math:`(N, 2)` points.

    Returns:
        float64 :math:`(2, 3)` matrix ``[s R | t]`` acting on ``(x, y, 1)``.

    Raises:
        ValueError: the point sets differ in shape, have fewer than 2 points, are not finite,
            or ``source`` has no spread.

    Example:
        >>> src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> np.round(similarity(src, 2 * src + 3), 6).tolist()
        [[2.0, 0.0, 3.0], [0.0, 2.0, 3.0]]
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2 or src.shape != dst.shape:
        raise ValueError(
            "source and target must be (N, 2) point sets of the same shape with N >= 2, got "
            f"{src.shape} and {dst.shape}"
        )
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("source and target must be finite points")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var = float((s0**2).sum()) / len(src)
    if var <= 1e-12:
        raise ValueError("source must have a spread: all its points are equal")
    u, sig, vt = np.linalg.svd(d0.T @ s0 / len(src))
    sign = np.diag([1.0, float(np.sign(np.linalg.det(u @ vt)) or 1.0)])
    rot = u @ sign @ vt
    scale = float((sig * np.diag(sign)).sum()) / var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def align_face(
    source: np.ndarray,
    source_landmarks: np.ndarray,
    target_landmarks: np.ndarray,
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``source`` so that its stable landmarks fall on the target's.

    Args:
        source: RGB ``uint8`` :math:`(h, w, 3)` crop of another frame.
        source_landmarks: its 68 landmarks, :math:`(68, 2)` ``(x, y)`` in its pixels.
        target_landmarks: the target crop's 68 landmarks, in the target's pixels.
        shape: ``(H, W)`` or ``(H, W, 3)`` of the target crop.

    Returns:
        ``(aligned, landmarks)``: ``uint8`` :math:`(H, W, 3)` (bilinear, mirrored at the
        border) and the source's landmarks moved with it, float64 :math:`(68, 2)`.

    Example:
        >>> from freqforensics.data.sbi import _face_template
        >>> rng = np.random.default_rng(0)
        >>> crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        >>> pts = _face_template(64)
        >>> out, moved = align_face(crop, pts, pts, crop.shape)
        >>> bool((out == crop).all()), bool(np.allclose(moved, pts))
        (True, True)
    """
    from scipy.ndimage import affine_transform

    source = _check_crop(source)
    src_lm = _check_landmarks(source_landmarks, source.shape)
    h, w = int(shape[0]), int(shape[1])
    dst_lm = _check_landmarks(target_landmarks, (h, w, 3))
    forward = similarity(src_lm[STABLE_POINTS], dst_lm[STABLE_POINTS])
    # scipy maps each output (row, col) to an input (row, col): invert the forward map, swap axes.
    inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))[:2]
    matrix = inverse[::-1, 1::-1]
    offset = inverse[::-1, 2]
    channels = [
        affine_transform(source[:, :, c].astype(np.float32), matrix, offset=offset,
                         output_shape=(h, w), order=1, mode="mirror")
        for c in range(3)
    ]
    aligned = to_uint8(np.stack(channels, axis=-1))
    moved = src_lm @ forward[:, :2].T + forward[:, 2]
    return aligned, moved


def same_video_partners(
    video_ids: Sequence[str | None],
    window: int | None = None,
    frames: Sequence[int] | None = None,
) -> list[list[int]]:
    """For each item, the indices of the *other* items of the same video (near it in time).

    Args:
        video_ids: one video id per item; ``None`` for an item that has no partners (a
            photograph, a crop without landmarks).
        window: keep only partners at most this many items of the video away, in frame order
            (frames close in time: the same pose, another expression); ``None`` for all.
        frames: the frame index of each item, which orders a video's items; ``None``: the
            items are in frame order already.

    Returns:
        ``partners[i]``: indices ``j != i`` with ``video_ids[j] == video_ids[i]``, in frame
        order (empty for ``None``).

    Example:
        >>> same_video_partners(["a", "b", "a", None, "a"])
        [[2, 4], [], [0, 4], [], [0, 2]]
        >>> same_video_partners(["a", "b", "a", None, "a"], window=1)
        [[2], [], [0, 4], [], [2]]
        >>> same_video_partners(["a", "a", "a"], window=1, frames=[30, 10, 20])
        [[2], [2], [1, 0]]
    """
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 1):
        raise ValueError(f"window must be None or an int >= 1, got {window!r}")
    if frames is not None and len(frames) != len(video_ids):
        raise ValueError(
            f"frames must give one frame index per item ({len(video_ids)}), got {len(frames)}"
        )
    groups: dict[str, list[int]] = {}
    for i, vid in enumerate(video_ids):
        if vid is not None:
            groups.setdefault(vid, []).append(i)
    partners: list[list[int]] = [[] for _ in video_ids]
    for members in groups.values():
        if frames is not None:
            members.sort(key=lambda j: (frames[j], j))
        for k, i in enumerate(members):
            lo, hi = (0, len(members)) if window is None else (k - window, k + window + 1)
            partners[i] = [j for j in members[max(lo, 0):hi] if j != i]
    return partners
