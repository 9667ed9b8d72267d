"""A damaged packet costs the frames that depend on it, not the whole video.

FFmpeg decodes the rest of a video with a packet it rejects; these tests check that the reader
hands out only frames equal to a clean decode of the same video, refuses (``FrameError`` or
``VideoError``) the frames that depend on the damaged packet, and comes back at the next
keyframe; and that ``preprocess`` and ``predict`` keep the other frames. The synthetic videos
need no data; the FaceForensics++ copies reproduce a user's report on ``004.mp4``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from needs import SHARED_DATA, need_module, need_path
from toys import TINY

from freqforensics.data.video import (
    Frame,
    FrameError,
    VideoError,
    probe_video,
    read_frames,
    sample_frames,
    set_decode_threads,
)

av = need_module("av")

GOP = 12
FRAMES = 36


def _write(path: Path) -> None:
    """A 64x64 H.264 clip with B-frames, a keyframe every ``GOP`` frames, moving texture."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.options = {"bf": "2", "sc_threshold": "0", "keyint_min": str(GOP),
                          "threads": "1", "crf": "18"}
        for i in range(FRAMES):
            image = np.ascontiguousarray(base[i % 32 : i % 32 + 64, i % 32 : i % 32 + 64])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))


def _clean(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _damage_packet(path: Path, out: Path, frame: int) -> None:
    """Copy ``path`` with the NAL length of frame ``frame``'s packet overwritten (0xFF)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        pts = sorted(int(p.pts) for p in packets)
        (packet,) = [p for p in packets if int(p.pts) == pts[frame]]
        assert not packet.is_keyframe and packet.pos is not None and packet.pos > 0
        position = int(packet.pos)
    data = bytearray(path.read_bytes())
    data[position : position + 4] = b"\xff" * 4
    out.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("clips")
    good, bad = folder / "good.mp4", folder / "bad.mp4"
    _write(good)
    assert probe_video(good).keyframes == (0, 12, 24)
    _damage_packet(good, bad, frame=17)  # a frame of the second group of pictures
    return good, bad, _clean(good)


@pytest.mark.parametrize("threads", [0, 1])  # frame threads report errors a few packets late
def test_frames_after_a_damaged_packet_are_refused_until_the_next_keyframe(
    clips, threads: int
) -> None:
    _, bad, clean = clips
    try:
        set_decode_threads(threads)
        items = list(read_frames(bad, range(FRAMES), errors="report"))
    finally:
        set_decode_threads(0)
    assert [item.frame_index for item in items] == list(range(FRAMES))
    refused = [item.frame_index for item in items if isinstance(item, FrameError)]
    # The damage starts in the damaged packet's group (B-frames before it in display order
    # refer to it), takes in frame 17 and ends at the next keyframe, 24.
    assert 17 in refused and set(refused) <= set(range(12, 24)), refused
    for item in items:
        if isinstance(item, Frame):
            np.testing.assert_array_equal(item.image, clean[item.frame_index])
    assert all("damaged packet" in item.reason for item in items if isinstance(item, FrameError))


def test_a_seek_past_the_damage_is_clean_and_the_default_raises(clips) -> None:
    _, bad, clean = clips
    items = list(read_frames(bad, [3, 17, 30], errors="report"))
    assert [type(item) for item in items] == [Frame, FrameError, Frame]
    np.testing.assert_array_equal(items[2].image, clean[30])
    with pytest.raises(VideoError, match="frame 17 .*a damaged packet"):
        list(read_frames(bad, [3, 17, 30]))
    sampled = list(sample_frames(bad, FRAMES, errors="report"))
    assert [item.frame_index for item in sampled] == list(range(FRAMES))
    with pytest.raises(ValueError, match="errors must be 'raise' or 'report', got 'skip'"):
        read_frames(bad, [0], errors="skip")  # type: ignore[call-overload]


def test_an_intact_video_decodes_as_before(clips) -> None:
    good, _, clean = clips
    items = list(read_frames(good, range(FRAMES), errors="report"))
    assert all(isinstance(item, Frame) for item in items)
    for item in items:
        np.testing.assert_array_equal(item.image, clean[item.frame_index])


def test_preprocess_records_the_damaged_frames_and_crops_the_others(
    clips, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_module("dlib")
    from freqforensics.cli import main
    from freqforensics.data import load_manifest

    _, bad, _ = clips
    root = tmp_path / "clips"
    (root / "real").mkdir(parents=True)
    (root / "real" / "bad.mp4").write_bytes(bad.read_bytes())
    out = tmp_path / "out"
    argv = ["preprocess", "--dataset", "folder", "--root", str(root), "--out", str(out),
            "--frames", str(FRAMES), "--workers", "1", "--quiet"]
    assert main(argv) == 3
    printed = capsys.readouterr().out
    assert "damaged: clips/test/real/bad:" in printed and "frame_error" in printed
    rows = load_manifest(out / "clips")
    assert [r.frame_index for r in rows] == list(range(FRAMES))
    errors = [r for r in rows if r.status == "frame_error"]
    assert 17 in [r.frame_index for r in errors]
    assert all("damaged packet" in r.detail and r.crop_path is None for r in errors)
    assert {r.status for r in rows} == {"frame_error", "no_face"}  # texture: no face
    # A rerun skips the video but still says it is damaged (and exits 3).
    assert main(argv) == 3
    assert "damaged: clips/test/real/bad:" in capsys.readouterr().out


def test_predict_lists_the_damaged_frames_as_errors(clips) -> None:
    need_module("dlib")
    from freqforensics import Detector, create_model

    _, bad, _ = clips
    torch.manual_seed(0)
    detector = Detector(create_model("sfcl_hcmf_cpu", **TINY).eval(), device="cpu")
    result = detector.predict_video(bad, frames=FRAMES)
    statuses = {f.index: f.status for f in result.frames}
    assert len(statuses) == FRAMES and statuses[17] == "error"
    assert {statuses[i] for i in range(24, FRAMES)} == {"no_face"}
    assert "damaged packet" in next(f.error for f in result.frames if f.status == "error")
    json.dumps(result.to_dict())  # the report stays printable


@pytest.mark.parametrize(
    ("offset", "next_keyframe"),
    [(100_000, 250), (137_000, 309)],  # a packet FFmpeg rejects; a keyframe it flags corrupt
)
def test_ffpp_copies_with_damaged_bytes_hand_out_only_clean_frames(
    tmp_path: Path, offset: int, next_keyframe: int
) -> None:
    """A user's report: 1000 bytes overwritten in 004.mp4 discarded all 309 frames."""
    video = need_path(SHARED_DATA / "ffpp-mini" / "original_sequences" / "youtube" / "c23" /
                      "videos" / "004.mp4", "FaceForensics++ sample video 004")
    clean = _clean(video)
    data = bytearray(video.read_bytes())
    data[offset : offset + 1000] = b"\xff" * 1000
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    items = list(read_frames(bad, range(len(clean)), errors="report"))
    assert [item.frame_index for item in items] == list(range(len(clean)))
    refused = [item.frame_index for item in items if isinstance(item, FrameError)]
    assert refused and max(refused) == next_keyframe - 1
    for item in items:
        if isinstance(item, Frame):
            np.testing.assert_array_equal(item.image, clean[item.frame_index])
    assert len(refused) < len(clean) // 2  # most of the video is kept
