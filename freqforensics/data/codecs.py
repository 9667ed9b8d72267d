"""Image codecs shared by the data sets and the robustness evaluation.

- :func:`read_rgb`: decode an image file (or a file object) to an RGB ``uint8`` array, the one
  reader of face crops (:class:`~freqforensics.data.pseudo.PseudoFakeDataset`,
  :class:`~freqforensics.robustness.PerturbedFrames`) and bundled photos.
- :func:`jpeg_compress`: the one JPEG round trip, used both to compress the samples of
  :class:`~freqforensics.data.synthetic.SelfBlendedFaces` and as the ``jpeg`` perturbation of
  :mod:`freqforensics.robustness`, so that training and evaluation see the same codec.

Both use Pillow, imported only when called.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from freqforensics._checks import check_rgb_uint8

__all__ = ["read_rgb", "jpeg_compress"]

#: The EXIF tag of the orientation in which a photo is stored.
ORIENTATION = 0x0112


def read_rgb(source: str | Path | IO[bytes]) -> np.ndarray:
    """Decode an image with Pillow and convert it to RGB.

    Args:
        source: a path, or a binary file object positioned at the start of the image.

    Returns:
        The decoded image, RGB ``uint8`` :math:`(H, W, 3)` (grayscale and palette images
        converted, an alpha channel dropped), upright: a photo stored rotated with an EXIF
        orientation tag is turned the way viewers show it.

    Raises:
        OSError: the file cannot be read or is not an image Pillow can decode
            (:class:`PIL.UnidentifiedImageError` is an :class:`OSError`), or it is larger
            than Pillow's decompression-bomb limit.

    Example:
        >>> buf = io.BytesIO()
        >>> from PIL import Image
        >>> Image.new("L", (5, 4), 7).save(buf, format="PNG")
        >>> _ = buf.seek(0)
        >>> read_rgb(buf).shape
        (4, 5, 3)
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(source) as image:
            if image.getexif().get(ORIENTATION, 1) != 1:
                return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as err:  # not an OSError: one crafted file would
        raise OSError(f"image too large to decode safely: {err}") from None  # end a job


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip with Pillow (4:2:0 chroma subsampling, Pillow's default tables).

    Args:
        image: RGB ``uint8`` :math:`(H, W, 3)`.
        quality: JPEG quality, an int in [1, 100] (lower: stronger compression).

    Returns:
        The decoded JPEG, ``uint8`` :math:`(H, W, 3)`.

    Raises:
        ValueError: ``image`` is not an RGB ``uint8`` array or ``quality`` is not an int in
            [1, 100].

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        >>> y = jpeg_compress(x, 50)
        >>> y.shape, y.dtype, bool((y == jpeg_compress(x, 50)).all())
        ((32, 32, 3), dtype('uint8'), True)
    """
    from PIL import Image

    image = check_rgb_uint8(image)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise ValueError(f"quality must be an int in [1, 100], got {quality!r}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be an int in [1, 100], got {quality!r}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return read_rgb(buf)


# --------------------------------------------------------------------- H.264 (PyAV, libx264)

#: Pixel formats :func:`reencode_h264` keeps from the source (as FFmpeg's default does for
#: libx264); any other source format is encoded as ``yuv420p``.
_X264_PIX_FMTS = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p")


def _check_crf(crf: object) -> int:
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)):
        raise TypeError(f"crf must be an int in [0, 51], got {type(crf).__name__} ({crf!r})")
    if not 0 <= int(crf) <= 51:
        raise ValueError(f"crf must be an int in [0, 51] (x264's range), got {crf!r}")
    return int(crf)


def _x264_options(crf: int, preset: str, threads: int, simd: bool) -> dict[str, str]:
    """libx264 options. Without ``simd``, x264 runs its C code (``asm=0``): the SIMD code of
    x264's lookahead reads uninitialised memory on many frame sizes (64x64, 136x136, 240x320,
    ...), so its bytes can change from run to run, and SIMD float rounding differs between
    CPUs; the C code gives the same bytes on every run and machine, about 4x slower."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if not isinstance(preset, str) or not preset:
        raise ValueError(f"preset must be an x264 preset name such as 'medium', got {preset!r}")
    options = {"crf": str(crf), "preset": preset, "threads": str(threads)}
    if not simd:
        options["x264-params"] = "asm=0"
    return options


def h264_round_trip(
    frames: Sequence[np.ndarray],
    crf: int,
    *,
    preset: str = "medium",
    fps: int = 25,
    threads: int = 1,
    simd: bool = False,
) -> list[np.ndarray]:
    """Encode a sequence of RGB frames as one H.264 clip (libx264, 4:2:0) and decode it back.

    The frames are coded in the order given, as consecutive frames of a ``fps`` clip, so
    inter-frame prediction acts between neighbours as in a video. Frames of different sizes
    are padded (edge pixels repeated, at the bottom and right) to the largest height and width
    of the sequence rounded up to even (4:2:0 needs even sides); each decoded frame is cropped
    back to its own size. With ``simd=False`` and a fixed ``threads`` the result is the same
    on every run and machine.

    Args:
        frames: RGB ``uint8`` arrays :math:`(H_i, W_i, 3)`, at least one.
        crf: x264 constant rate factor in [0, 51] (higher: stronger compression).
        preset: x264 preset (FFmpeg's default ``"medium"``).
        fps: nominal frame rate of the clip.
        threads: x264 threads; fixed so that the output does not depend on the machine.
        simd: let x264 use the CPU's SIMD code: about 4x faster, but not deterministic (the
            lookahead's SIMD code reads uninitialised memory on many frame sizes).

    Returns:
        The decoded frames, ``uint8`` :math:`(H_i, W_i, 3)`, in the input order.

    Raises:
        ValueError: no frames, a frame that is not RGB ``uint8`` or a bad ``crf``.
        TypeError: ``crf`` is not an int.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (4, 33, 30, 3), dtype=np.uint8)
        >>> y = h264_round_trip(list(x), 30)
        >>> len(y), y[0].shape, y[0].dtype
        (4, (33, 30, 3), dtype('uint8'))
    """
    from fractions import Fraction

    import av

    crf = _check_crf(crf)
    options = _x264_options(crf, preset, threads, simd)
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    if len(frames) == 0:
        raise ValueError("frames must hold at least one RGB uint8 (H, W, 3) frame, got none")
    frames = [check_rgb_uint8(f, f"frames[{i}]") for i, f in enumerate(frames)]
    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    height, width = height + height % 2, width + width % 2
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, fps)
    encoder.framerate = Fraction(fps)
    encoder.options = options
    packets = []
    for i, frame in enumerate(frames):
        pad = ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0))
        video_frame = av.VideoFrame.from_ndarray(np.pad(frame, pad, mode="edge"), format="rgb24")
        video_frame = video_frame.reformat(format="yuv420p")
        video_frame.pts = i
        packets.extend(encoder.encode(video_frame))
    packets.extend(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoded: list[np.ndarray] = []
    for packet in [*packets, None]:
        decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(packet))
    if len(decoded) != len(frames):  # pragma: no cover - a codec failure, not user input
        raise RuntimeError(f"H.264 round trip returned {len(decoded)} of {len(frames)} frames")
    return [d[: f.shape[0], : f.shape[1]].copy() for d, f in zip(decoded, frames)]


def reencode_h264(
    source: str | Path,
    destination: str | Path,
    crf: int,
    *,
    preset: str = "medium",
    threads: int = 1,
    simd: bool = False,
) -> Path:
    """Re-encode the video stream of ``source`` with libx264 at ``crf`` into ``destination``.

    What ``ffmpeg -i source -crf CRF destination`` does for the video: every decoded frame, in
    presentation order and at the source's frame rate, is encoded with libx264 (``preset``,
    the source's pixel format when x264 takes it, else ``yuv420p``), letting x264 choose every
    frame type as FFmpeg does. Audio and other streams are dropped. Frame ``i`` of the result
    is frame ``i`` of the source, so the crop boxes of a manifest stay valid.

    Args:
        source: the input video.
        destination: the output file; its suffix chooses the container (``.mp4``, ``.mkv``).
        crf: x264 constant rate factor in [0, 51] (higher: stronger compression).
        preset: x264 preset (FFmpeg's default ``"medium"``).
        threads: x264 threads; fixed so that the bytes do not depend on the machine.
        simd: let x264 use the CPU's SIMD code: about 4x faster (a 720p frame in about 30
            ms instead of 130 ms on one core), but the bytes may vary between runs and CPUs.

    Returns:
        ``destination`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a bad ``crf``, a source with odd sides coded in 4:2:0, or a source that
            cannot be decoded (:class:`~freqforensics.data.video.VideoError`).
    """
    from fractions import Fraction

    import av

    from freqforensics.data.video import VideoError

    crf = _check_crf(crf)
    options = _x264_options(crf, preset, threads, simd)
    source, destination = Path(source), Path(destination)
    if source.resolve() == destination.resolve():
        raise ValueError(f"destination must differ from source, got {destination} for both")
    if not source.is_file():
        raise VideoError(source, "no such file")
    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise VideoError(source, "no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            pix_fmt = stream.codec_context.pix_fmt
            pix_fmt = pix_fmt if pix_fmt in _X264_PIX_FMTS else "yuv420p"
            width, height = stream.codec_context.width, stream.codec_context.height
            if pix_fmt.endswith("420p") and (width % 2 or height % 2):
                raise ValueError(
                    f"source is {width}x{height}: H.264 4:2:0 needs even sides; crop it first"
                )
            destination.parent.mkdir(parents=True, exist_ok=True)
            with av.open(str(destination), mode="w") as out:
                encoded = out.add_stream("libx264", rate=Fraction(rate))
                encoded.width, encoded.height, encoded.pix_fmt = width, height, pix_fmt
                encoded.codec_context.time_base = 1 / Fraction(rate)
                encoded.options = {**options}
                for i, frame in enumerate(container.decode(stream)):
                    frame = frame.reformat(format=pix_fmt)
                    frame.pts, frame.time_base = i, encoded.codec_context.time_base
                    frame.pict_type = av.video.frame.PictureType.NONE  # not the source's
                    out.mux(encoded.encode(frame))
                out.mux(encoded.encode(None))
    except av.FFmpegError as err:
        raise VideoError(source, f"re-encoding failed ({err})") from err
    return destination


__all__ += ["h264_round_trip", "reencode_h264"]
