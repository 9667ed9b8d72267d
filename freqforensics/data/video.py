"""Frame sampling from videos with PyAV, seeking to keyframes and landing on exact frames.

The frame index used everywhere in :mod:`freqforensics.data` is the rank of a frame in
presentation order (0 for the first displayed frame), computed from the container's packet
timestamps before anything is decoded, so it is exact even with B-frames or a variable frame
rate. Sampling seeks to the keyframe before a target only when that keyframe lies beyond what
has already been decoded, and otherwise decodes forward: with few samples per video most of the
video is skipped, with many samples it degrades gracefully to one sequential pass.

Two safeguards keep seeking bit-exact with sequential decoding. The first frame is always
decoded first: FaceForensics++ c23 videos (x264 core 148, 4:4:4) carry the x264 build number in
an SEI of frame 0 only, and FFmpeg's H.264 decoder needs it to apply its workaround for that
x264's 4:4:4 bug; a decoder that never saw it turns frames after a seek into green garbage. And
if a frame decoded after a seek is still flagged corrupt, the reader decodes from the start.

A file that cannot be opened or indexed (unreadable, corrupt container, truncated, no video
stream) raises :class:`VideoError`, which the preprocessing job catches, reports and skips. A
damaged packet inside a readable file costs only the frames that depend on it: packets are
decoded one by one, and once FFmpeg rejects one (or flags a frame corrupt), every frame the
decoder puts out is marked damaged until it has taken the next keyframe and put out a frame at
or after it. With ``errors="report"`` such a frame comes out as a :class:`FrameError` and the
others go on; by default it raises :class:`VideoError`. Bit errors that FFmpeg decodes without
complaint, and frames it puts out before it notices a fault, cannot be detected (H.264 and MP4
carry no checksum), and are not.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload

import numpy as np

__all__ = [
    "VideoError",
    "VideoInfo",
    "Frame",
    "FrameError",
    "probe_video",
    "sample_indices",
    "read_frames",
    "sample_frames",
]


class VideoError(ValueError):
    """A video cannot be read: missing stream, corrupt or truncated data (a ValueError).

    Attributes:
        path: the offending file.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self) -> tuple[type[VideoError], tuple[Path, str]]:
        # Keep the two-argument constructor picklable across worker processes.
        return (VideoError, (self.path, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns from the container without decoding.

    Attributes:
        path: the video file.
        num_frames: number of frames in presentation order.
        width: coded frame width in pixels.
        height: coded frame height in pixels.
        fps: average frame rate (0.0 when the container does not say).
        keyframes: presentation-order indices of the keyframes (seek points).
    """

    path: Path
    num_frames: int
    width: int
    height: int
    fps: float
    keyframes: tuple[int, ...]


class Frame(NamedTuple):
    """A decoded frame: presentation-order ``frame_index``, RGB ``uint8`` ``image`` (H, W, 3)."""

    frame_index: int
    image: np.ndarray


class FrameError(NamedTuple):
    """A wanted frame that did not decode cleanly (``errors="report"``): its presentation-order
    ``frame_index`` and the ``reason``."""

    frame_index: int
    reason: str


#: How a reader treats a frame that does not decode cleanly.
Errors = Literal["raise", "report"]


def _av() -> Any:
    try:
        import av
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "freqforensics.data.video needs PyAV; install it with `pip install freqforensics[data]`"
        ) from err
    return av


class _Index(NamedTuple):
    pts: list[int]  # presentation timestamps sorted: pts[i] is frame i
    key_pts: list[int]  # sorted keyframe timestamps
    info: VideoInfo


def _build_index(container: Any, path: Path) -> _Index:
    """Demux every video packet (no decoding) and order their timestamps."""
    stream = container.streams.video[0]
    pts: list[int] = []
    key_pts: list[int] = []
    for packet in container.demux(stream):
        if packet.size == 0 or getattr(packet, "is_discard", False):
            continue  # flush packet, or dropped by an edit list
        if packet.pts is None:
            raise VideoError(path, "a video packet has no timestamp; cannot index frames")
        pts.append(int(packet.pts))
        if packet.is_keyframe:
            key_pts.append(int(packet.pts))
    if not pts:
        raise VideoError(path, "the video stream holds no frames")
    declared = int(stream.frames or 0)
    if declared and len(pts) < declared:
        raise VideoError(
            path, f"truncated: the container declares {declared} frames, only {len(pts)} remain"
        )
    pts.sort()
    key_pts.sort()
    if not key_pts or key_pts[0] > pts[0]:
        key_pts.insert(0, pts[0])  # the first frame is always a valid starting point
    rank = {p: i for i, p in enumerate(pts)}
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    info = VideoInfo(
        path=path,
        num_frames=len(pts),
        width=int(stream.codec_context.width),
        height=int(stream.codec_context.height),
        fps=fps,
        keyframes=tuple(rank[p] for p in key_pts if p in rank),
    )
    return _Index(pts, key_pts, info)


def _open(path: Path) -> Any:
    av = _av()
    if not path.is_file():
        raise VideoError(path, "no such file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoError(path, f"cannot open ({err})") from err
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Count the frames of a video and find its keyframes, without decoding.

    Args:
        path: video file.

    Returns:
        A :class:`VideoInfo`.

    Raises:
        VideoError: the file is missing, unreadable, has no video stream or is truncated.
    """
    path = Path(path)
    av = _av()
    container = _open(path)
    try:
        return _build_index(container, path).info
    except av.FFmpegError as err:
        raise VideoError(path, f"demuxing failed ({err})") from err
    finally:
        container.close()


def sample_indices(num_frames: int, n: int) -> list[int]:
    """Indices of ``n`` frames spread evenly over a video of ``num_frames`` frames.

    Frame ``i`` of the sample is the middle frame of the ``i``-th of ``n`` equal segments,
    ``floor((i + 0.5) * num_frames / n)``, so the samples avoid the very first and last frames
    (often black or mid-transition). All frames are returned when ``n >= num_frames``.

    Args:
        num_frames: frames in the video (>= 1).
        n: frames wanted (>= 1).

    Returns:
        Sorted distinct indices, ``min(n, num_frames)`` of them.

    Example:
        >>> sample_indices(300, 4)
        [37, 112, 187, 262]
        >>> sample_indices(3, 32)
        [0, 1, 2]
    """
    for name, value in (("num_frames", num_frames), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n >= num_frames:
        return list(range(num_frames))
    return [int((i + 0.5) * num_frames / n) for i in range(n)]


class _Cursor:
    """A decoding position in a stream that can jump to keyframes.

    It decodes the stream's first frame before anything else: FFmpeg reads stream-wide facts
    from it (x264 writes its build number in an SEI of the first frame only, and FFmpeg's H.264
    decoder works around old x264 4:4:4 bugs from that number). Without it, seeking straight
    to a later keyframe of a FaceForensics++ c23 video decodes garbage.
    """

    def __init__(self, container: Any, stream: Any, path: Path, first_pts: int) -> None:
        self.container = container
        self.stream = stream
        self.path = path
        self.pending: Any | None = None
        self.restart(first_pts, seeked=False)
        self.pending = next(self.frames, None)  # primes the decoder; handed out first
        if self.pending is None:
            raise VideoError(path, "the first frame cannot be decoded")

    def restart(self, pts: int, seeked: bool) -> None:
        """Seek to the keyframe at or before ``pts``; ``seeked`` marks a jump past the start."""
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.frames: Iterator[tuple[Any, str]] = self._decoded()
        self.pending = None
        self.position = pts  # timestamp of the last frame consumed, or where decoding restarts
        self.seeked = seeked
        self.corrupt = False
        self.damage = ""  # why the frame last handed out is damaged ("" when it is not)
        self.rejected = ""  # the last packet FFmpeg rejected since this restart

    def _decoded(self) -> Iterator[tuple[Any, str]]:
        """The stream's frames from the current position, each with why it is damaged.

        What :meth:`av.container.InputContainer.decode` does (demux, then decode each packet),
        except that a packet FFmpeg rejects is skipped. After such a packet, or a frame FFmpeg
        flags corrupt, every frame put out is damaged until the decoder has taken a keyframe
        and put out a frame at or after it.
        """
        av = _av()
        lost = ""  # the error of the last rejected packet, while its damage lasts
        resync: int | None = None  # timestamp of the keyframe taken since
        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.FFmpegError as err:
                # With frame threads FFmpeg reports an error a few packets late: name none.
                lost, resync = f"a damaged packet (FFmpeg: {err})", None
                self.rejected = lost
                continue
            if lost and resync is None and packet.is_keyframe and packet.pts is not None:
                resync = int(packet.pts)
            for frame in frames:
                if lost and resync is not None and frame.pts is not None and frame.pts >= resync:
                    lost = ""
                if frame.is_corrupt and not lost:  # the frames that follow may refer to it
                    lost, resync = f"a frame FFmpeg flags corrupt (pts {frame.pts})", None
                yield frame, lost

    def advance(self, target_pts: int) -> Any | None:
        """Decode up to the frame with ``target_pts``; ``None`` if it does not come out (a later
        frame that came out instead is handed out by the next call)."""
        while True:
            if self.pending is not None:
                (frame, self.damage), self.pending = self.pending, None
            else:
                frame, self.damage = next(self.frames, (None, ""))
            if frame is None:
                return None
            if frame.pts is None:
                raise VideoError(self.path, "a decoded frame has no timestamp")
            self.position = int(frame.pts)
            self.corrupt = self.corrupt or bool(frame.is_corrupt)
            if self.position == target_pts:
                return frame
            if self.position > target_pts:  # the target never came out: keep this one
                self.pending = (frame, self.damage)
                return None


def _to_rgb(frame: Any) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    if rotation:
        # Display matrix: rotate so that faces are upright, as players show them.
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


@overload
def read_frames(
    path: str | Path, indices: Sequence[int], errors: Literal["raise"] = ...
) -> Iterator[Frame]: ...
@overload
def read_frames(
    path: str | Path, indices: Sequence[int], errors: Literal["report"]
) -> Iterator[Frame | FrameError]: ...
def read_frames(
    path: str | Path, indices: Sequence[int], errors: Errors = "raise"
) -> Iterator[Frame] | Iterator[Frame | FrameError]:
    """Decode the frames at the given presentation-order indices, in increasing order.

    For each target the decoder seeks to the closest keyframe at or before it when that
    keyframe lies beyond the last decoded frame, and otherwise keeps decoding forward; it then
    decodes up to the target and checks the timestamp, so the index is exact. Every frame
    between the keyframe and the target is decoded: skipping non-reference frames
    (``skip_frame="NONREF"``) is faster but was found to change later frames of x264 streams.

    Args:
        path: video file.
        indices: frame indices in ``[0, num_frames)``; duplicates are returned once.
        errors: what a target that does not decode cleanly (it never comes out, it depends on
            a packet FFmpeg rejected, or FFmpeg flags it corrupt) does: ``"raise"`` a
            :class:`VideoError`, or ``"report"`` it as a :class:`FrameError` in its place and
            go on with the next target.

    Returns:
        A lazy iterator of :class:`Frame` tuples ``(frame_index, image)`` with ``image`` RGB
        ``uint8`` of shape :math:`(H, W, 3)` (and :class:`FrameError` tuples with
        ``errors="report"``), sorted by index. Nothing is opened before the first ``next``.

    Raises:
        VideoError: (while iterating) the file cannot be opened or indexed, or (by default) a
            target frame does not decode cleanly.
        ValueError: an index is out of range (the message names it and the frame count), or
            ``errors`` is neither ``"raise"`` nor ``"report"``.
    """
    wanted = sorted(set(int(i) for i in indices))
    return _decode(Path(path), lambda count: wanted, _check_errors(errors))


def _check_errors(errors: object) -> Errors:
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
    return "raise" if errors == "raise" else "report"


#: Decoder threads per video (FFmpeg frame threading, bit-identical frames): 0 lets FFmpeg use
#: every core; :func:`set_decode_threads` sets 1 in each worker of a multi-process job.
_DECODE_THREADS = [0]


def set_decode_threads(threads: int) -> None:
    """Threads of this process's video decoder: 0 (all cores, the default) or a count.

    Frame threading decodes several frames at once and returns the same frames as a single
    thread does; a job that already runs one process per core should use 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an int >= 0, got {threads!r}")
    _DECODE_THREADS[0] = threads


def _decode(
    path: Path, choose: Callable[[int], list[int]], errors: Errors
) -> Iterator[Frame | FrameError]:
    """Open, index, then decode the frames ``choose(num_frames)`` picks (sorted)."""
    av = _av()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_count = _DECODE_THREADS[0]
        if _DECODE_THREADS[0] != 1:
            stream.thread_type = "AUTO"  # frame and slice threads
        try:
            index = _build_index(container, path)
        except av.FFmpegError as err:
            raise VideoError(path, f"demuxing failed ({err})") from err
        count = index.info.num_frames
        wanted = choose(count)
        bad = [i for i in wanted if not 0 <= i < count]
        if bad:
            raise ValueError(
                f"indices must lie in [0, {count}) for {path.name} ({count} frames), got {bad[:5]}"
            )
        try:
            cursor = _Cursor(container, stream, path, index.pts[0])
            sequential = False  # set once decoding from a seek point went wrong
            for target in wanted:
                target_pts = index.pts[target]
                key = index.key_pts[bisect.bisect_right(index.key_pts, target_pts) - 1]
                if not sequential and key > cursor.position:
                    cursor.restart(key, seeked=True)
                found = cursor.advance(target_pts)
                if cursor.seeked and not cursor.rejected and (cursor.corrupt or found is None):
                    # Some streams do not decode from their keyframes alone (FF++'s x264 4:4:4
                    # files needed the first frame, see _Cursor); decode from the start instead.
                    sequential = True
                    cursor.restart(index.pts[0], seeked=False)
                    found = cursor.advance(target_pts)
                reason = _fault(target, target_pts, found, cursor)
                if not reason:
                    yield Frame(target, _to_rgb(found))
                elif errors == "report":
                    yield FrameError(target, reason)
                else:
                    raise VideoError(path, reason)
        except av.FFmpegError as err:
            raise VideoError(path, f"decoding failed ({err})") from err
    finally:
        container.close()


def _fault(target: int, target_pts: int, found: Any | None, cursor: _Cursor) -> str:
    """Why frame ``target`` is not usable ("" when it is)."""
    if found is None:
        after = f" after {cursor.rejected}" if cursor.rejected else "; truncated?"
        return f"frame {target} (pts {target_pts}) could not be decoded{after}"
    if found.is_corrupt:
        return f"frame {target} decodes with errors"
    if cursor.damage:
        return f"frame {target} depends on {cursor.damage}"
    return ""


@overload
def sample_frames(
    path: str | Path, n: int = ..., errors: Literal["raise"] = ...
) -> Iterator[Frame]: ...
@overload
def sample_frames(
    path: str | Path, n: int, errors: Literal["report"]
) -> Iterator[Frame | FrameError]: ...
def sample_frames(
    path: str | Path, n: int = 32, errors: Errors = "raise"
) -> Iterator[Frame] | Iterator[Frame | FrameError]:
    """Decode ``n`` frames spread evenly over a video (see :func:`sample_indices`).

    The paper samples 270 frames per training video and 50 per test video; 32 is the common
    reproducible protocol and the default here.

    Args:
        path: video file.
        n: frames wanted; all frames when the video is shorter.
        errors: ``"raise"`` (default) or ``"report"``, as for :func:`read_frames`.

    Returns:
        A lazy iterator of :class:`Frame` tuples ``(frame_index, image)``, ``image`` RGB
        ``uint8`` :math:`(H, W, 3)` (and :class:`FrameError` tuples with ``errors="report"``).

    Raises:
        VideoError: (while iterating) the file cannot be read, or (by default) a sampled frame
            does not decode cleanly.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return _decode(Path(path), lambda count: sample_indices(count, n), _check_errors(errors))
