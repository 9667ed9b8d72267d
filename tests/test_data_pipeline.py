"""Tests of freqforensics.data: readers, frame sampling, face crops, the job and the Dataset.

The real-data tests read the FaceForensics++ and DFDC samples in ``../shared/data`` and skip
when that folder is absent. One preprocessing run (3 frames per video, 2 workers) is shared by
the module; the tests that change an output folder work on their own copies.
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from needs import need_module, need_path
from PIL import Image

from freqforensics import SIDA
from freqforensics.data import (
    FaceBox,
    FaceDetector,
    FrameDataset,
    VideoError,
    VideoRecord,
    collate_frames,
    face_box,
    load_manifest,
    preprocess,
    probe_video,
    read_celebdf,
    read_dfdc,
    read_dfdc_test,
    read_ffpp,
    read_folder,
    read_frames,
    sample_frames,
    sample_indices,
)

av = need_module("av")
need_module("dlib")

# `freqforensics.data.preprocess` is the function (re-exported); the module is reached so:
pp = importlib.import_module("freqforensics.data.preprocess")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FFPP = DATA / "ffpp-mini"
DFDC = DATA / "dfdc-mini"
SPLITS = ("train", "val", "test")
FRAMES = 3  # frames per video in the shared run (frame 250 of brtujopkby has no face)
PORTRAIT = "dfdc/dfdc_train_part_0/brtujopkby"
DFDC_MISSING = {
    "dfdc/dfdc_train_part_0/awnfpubqmo",
    "dfdc/dfdc_train_part_1/vtfpbtmgfh",
    "dfdc/dfdc_train_part_1/zvqinhzeah",
}
# From splits/*.json: [004, 982] is a val pair, [515, 519] a train pair (reversed order),
# [634, 660] a test pair and [750, 743] a train pair.
EXPECTED_FFPP = {
    "ffpp/original/c23/004": (0, "val"),
    "ffpp/original/c23/519": (0, "train"),
    "ffpp/original/c23/634": (0, "test"),
    "ffpp/NeuralTextures/c23/004_982": (1, "val"),
    "ffpp/Deepfakes/c23/519_515": (1, "train"),
    "ffpp/FaceSwap/c23/634_660": (1, "test"),
    "ffpp/Face2Face/c23/750_743": (1, "train"),
}


def _need_data() -> None:
    need_path(FFPP, "FaceForensics++ sample data")
    need_path(DFDC, "DFDC sample data")


def _video(name: str) -> Path:
    return FFPP / "original_sequences" / "youtube" / "c23" / "videos" / name


# --------------------------------------------------------------------------- shared run


@pytest.fixture(scope="module")
def records() -> list[VideoRecord]:
    _need_data()
    ffpp = read_ffpp(FFPP, include_missing=False)
    dfdc = read_dfdc(DFDC)
    return ffpp + dfdc


@pytest.fixture(scope="module")
def run(records: list[VideoRecord], tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("crops")
    report = preprocess(records, out, frames_per_video=FRAMES, workers=2, progress=False)
    return out, report


def _rows(out: Path, dataset: str) -> list[dict[str, str]]:
    with (out / dataset / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- readers


def test_ffpp_splits_and_labels_follow_split_files():
    _need_data()
    splits = {s: json.loads((FFPP / "splits" / f"{s}.json").read_text()) for s in SPLITS}
    assert ["004", "982"] in splits["val"]
    assert ["515", "519"] in splits["train"]
    assert ["634", "660"] in splits["test"]
    assert ["750", "743"] in splits["train"]
    assert [len(splits[s]) for s in SPLITS] == [360, 70, 70]

    present = {r.video_id: r for r in read_ffpp(FFPP, include_missing=False)}
    assert {k: (r.label, r.split) for k, r in present.items()} == EXPECTED_FFPP
    assert present["ffpp/Deepfakes/c23/519_515"].original == "519"


def test_ffpp_reports_missing_and_selects(caplog: pytest.LogCaptureFixture):
    _need_data()
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.readers"):
        everything = read_ffpp(FFPP, methods=["Deepfakes"], splits=["val", "test"])
    # 140 val+test pairs -> 280 originals and 280 Deepfakes fakes listed by the split files.
    assert len(everything) == 560
    assert sum(not r.missing for r in everything) == 2  # 004 (val) and 634 (test)
    assert "missing on disk" in caplog.text
    assert len({r.video_id for r in everything}) == len(everything)
    with pytest.raises(ValueError, match="methods"):
        read_ffpp(FFPP, methods=["DeepFakeDetection"])
    with pytest.raises(ValueError, match="compression"):
        read_ffpp(FFPP, compression="c99")


def test_dfdc_reader_reports_missing(caplog: pytest.LogCaptureFixture):
    _need_data()
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.readers"):
        recs = read_dfdc(DFDC, val_parts=[10])
    assert {r.video_id for r in recs if r.missing} == DFDC_MISSING
    for vid in DFDC_MISSING:
        assert vid.rsplit("/", 1)[1] + ".mp4" in caplog.text
    assert all(r.label == 1 and r.method == "fake" for r in recs)
    assert {r.split for r in recs if "part_10" in r.video_id} == {"val"}
    assert {r.split for r in recs if "part_10" not in r.video_id} == {"train"}
    assert {r.original for r in recs if r.video_id == PORTRAIT} == {"gnmmhlbzge.mp4"}


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_celebdf_reader(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    for rel in [
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id0_0001.mp4",
        "Celeb-real/id1_0000.mp4",
        "YouTube-real/00170.mp4",
        "YouTube-real/00171.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0000.mp4",
        "Celeb-synthesis/id1_id0_0001.mp4",
    ]:
        _touch(tmp_path / rel)
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n"
        "0 Celeb-synthesis/id0_id1_0000.mp4\n"
        "1 Celeb-real/id0_0001.mp4\n"
        "1 Celeb-real/id9_0000.mp4\n"  # listed, absent
    )
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.readers"):
        recs = read_celebdf(tmp_path)
    by_id = {r.video_id: r for r in recs}
    assert len(by_id) == len(recs) == 9
    # In Celeb-DF's list 1 means real: YouTube-real/00170 is real.
    assert (
        by_id["celebdf/YouTube-real/00170"].label,
        by_id["celebdf/YouTube-real/00170"].split,
    ) == (
        0,
        "test",
    )
    assert (by_id["celebdf/Celeb-synthesis/id0_id1_0000"].label,) == (1,)
    test = {r.video_id for r in recs if r.split == "test"}
    assert test == {
        "celebdf/YouTube-real/00170",
        "celebdf/Celeb-synthesis/id0_id1_0000",
        "celebdf/Celeb-real/id0_0001",
        "celebdf/Celeb-real/id9_0000",
    }
    assert by_id["celebdf/Celeb-real/id9_0000"].missing
    assert "id9_0000.mp4" in caplog.text
    train = {r.video_id for r in recs if r.split == "train"}
    assert not train & test and len(train) == 5
    assert {r.label for r in recs if r.method == "Celeb-synthesis"} == {1}
    assert {r.label for r in recs if r.method != "Celeb-synthesis"} == {0}

    # A deterministic val carve-out from the non-test videos, never touching test.
    carved = read_celebdf(tmp_path, val_fraction=0.5, seed=3)
    again = read_celebdf(tmp_path, val_fraction=0.5, seed=3)
    assert [(r.video_id, r.split) for r in carved] == [(r.video_id, r.split) for r in again]
    assert {r.video_id for r in carved if r.split == "test"} == test
    assert {r.split for r in carved if r.video_id not in test} <= {"train", "val"}

    # A line whose label contradicts its folder is reported; the folder wins.
    (tmp_path / "List_of_testing_videos.txt").write_text("0 YouTube-real/00170.mp4\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.readers"):
        recs = read_celebdf(tmp_path)
    assert "folder says real" in caplog.text
    assert {r.label for r in recs if r.video_id == "celebdf/YouTube-real/00170"} == {0}
    with pytest.raises(ValueError, match="val_fraction"):
        read_celebdf(tmp_path, val_fraction=1.5)


def test_dfdc_test_reader(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    for name in ["aaa.mp4", "bbb.mp4"]:
        _touch(tmp_path / name)
    (tmp_path / "labels.csv").write_text("filename,label\naaa.mp4,1\nbbb.mp4,0\nccc.mp4,1\n")
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.readers"):
        recs = read_dfdc_test(tmp_path)
    assert [(r.video_id, r.label, r.split, r.missing) for r in recs] == [
        ("dfdc/test/aaa", 1, "test", False),  # 1 = fake in labels.csv
        ("dfdc/test/bbb", 0, "test", False),
        ("dfdc/test/ccc", 1, "test", True),
    ]
    assert "ccc.mp4" in caplog.text
    (tmp_path / "bad.csv").write_text("name,label\naaa.mp4,1\n")
    with pytest.raises(ValueError, match="filename,label"):
        read_dfdc_test(tmp_path / "bad.csv")


def test_folder_reader(tmp_path: Path):
    for rel in ["real/a.mp4", "real/sub/b.png", "fake/c.jpg", "fake/notes.txt"]:
        _touch(tmp_path / "set" / rel)
    recs = read_folder(tmp_path / "set", dataset="mine")
    assert [(r.video_id, r.label, r.split, r.is_image) for r in recs] == [
        ("mine/test/fake/c", 1, "test", True),
        ("mine/test/real/a", 0, "test", False),
        ("mine/test/real/sub/b", 0, "test", True),
    ]
    _touch(tmp_path / "split" / "train" / "real" / "x.mp4")
    _touch(tmp_path / "split" / "val" / "fake" / "y.mp4")
    recs = read_folder(tmp_path / "split")
    assert [(r.video_id, r.split) for r in recs] == [
        ("split/train/real/x", "train"),
        ("split/val/fake/y", "val"),
    ]
    with pytest.raises(ValueError, match="real/ and/or fake/"):
        read_folder(tmp_path / "split" / "train" / "real")


# --------------------------------------------------------------------------- video


def test_sample_indices():
    assert sample_indices(300, 3) == [50, 150, 250]
    assert sample_indices(5, 32) == [0, 1, 2, 3, 4]
    assert len(set(sample_indices(751, 270))) == 270
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_indices(10, 0)


def test_frames_are_exact_and_seek_past_keyframes():
    _need_data()
    path = _video("004.mp4")
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height) == (309, 1280, 720)
    assert info.keyframes == (0, 250)
    wanted = [0, 37, 249, 250, 262, 308]
    reference = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                reference[i] = frame.to_ndarray(format="rgb24")
    assert sorted(reference) == wanted
    got = list(read_frames(path, [262, 0, 308, 37, 250, 249]))
    assert [f.frame_index for f in got] == wanted
    for f in got:
        assert f.image.dtype == np.uint8 and f.image.shape == (720, 1280, 3)
        np.testing.assert_array_equal(f.image, reference[f.frame_index])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 309\)"):
        list(read_frames(path, [309]))


def test_threaded_decoding_gives_the_same_frames():
    """Frame threading (the default) and one thread decode the same pixels, seeks included."""
    _need_data()
    video = importlib.import_module("freqforensics.data.video")
    path = FFPP / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "519_515.mp4"
    wanted = [0, 1, 37, 249, 250, 375, 600, 750]
    try:
        video.set_decode_threads(1)
        single = list(read_frames(path, wanted)) + list(video.sample_frames(path, 16))
        video.set_decode_threads(0)
        threaded = list(read_frames(path, wanted)) + list(video.sample_frames(path, 16))
    finally:
        video.set_decode_threads(0)
    assert [f.frame_index for f in single] == [f.frame_index for f in threaded]
    for a, b in zip(single, threaded):
        np.testing.assert_array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="threads must be an int >= 0, got -1"):
        video.set_decode_threads(-1)


def test_seek_into_ffpp_x264_444_video_is_exact(monkeypatch: pytest.MonkeyPatch):
    """FF++ c23 files need their first frame decoded before a seek (x264 build SEI)."""
    _need_data()
    path = FFPP / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "519_515.mp4"
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 375:
                reference = frame.to_ndarray(format="rgb24")
                break
    (got,) = read_frames(path, [375])  # keyframe 250 lies beyond the first GOP: a seek
    np.testing.assert_array_equal(got.image, reference)

    # Without the priming, the seek decodes garbage (flagged corrupt) and the reader falls
    # back to decoding from the start: still exact.
    video = importlib.import_module("freqforensics.data.video")
    restarts: list[tuple[int, bool]] = []
    original_restart = video._Cursor.restart

    def no_priming(self, container, stream, path, first_pts):
        self.container, self.stream, self.path, self.pending = container, stream, path, None
        self.restart(first_pts, seeked=False)

    def logged_restart(self, pts, seeked):
        restarts.append((pts, seeked))
        original_restart(self, pts, seeked)

    monkeypatch.setattr(video._Cursor, "__init__", no_priming)
    monkeypatch.setattr(video._Cursor, "restart", logged_restart)
    (got,) = read_frames(path, [375])
    np.testing.assert_array_equal(got.image, reference)
    assert restarts == [(0, False), (250 * 512, True), (0, False)]


def test_corrupt_and_truncated_videos_raise_video_error(tmp_path: Path):
    _need_data()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    with pytest.raises(VideoError, match="garbage.mp4") as err:
        list(sample_frames(garbage, 2))
    assert err.value.path == garbage
    # FF++ files keep the index (moov) at the end: cutting them makes them unreadable.
    data = _video("004.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        list(sample_frames(cut, 2))
    # With the index first (faststart), a cut file declares more frames than it holds.
    fast = tmp_path / "fast.mp4"
    with (
        av.open(str(_video("004.mp4"))) as src,
        av.open(str(fast), "w", options={"movflags": "faststart"}) as dst,
    ):
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = fast.read_bytes()
    fast.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        list(sample_frames(fast, 2))


# --------------------------------------------------------------------------- faces


def test_face_box_is_on_the_grid_and_inside():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        h, w = int(rng.integers(40, 1100)), int(rng.integers(40, 1100))
        left, top = int(rng.integers(-50, w)), int(rng.integers(-50, h))
        size = int(rng.integers(10, 400))
        box = face_box((left, top, left + size, top + size), (h, w))
        if box is None:
            continue
        assert all(v % 8 == 0 for v in (box.x0, box.y0, box.x1, box.y1)), box
        assert 0 <= box.x0 < box.x1 <= w and 0 <= box.y0 < box.y1 <= h
        assert box.width == box.height >= 16
    # Away from the borders the snapped square holds the whole FF++ square (1.3 x 100 = 130).
    box = face_box((300, 200, 400, 300), (720, 1280))
    assert box == FaceBox(280, 184, 416, 320)
    assert box.x0 <= 350 - 65 and box.x1 >= 350 + 65 and box.y0 <= 250 - 65
    with pytest.raises(ValueError, match="upsample must be 0 or 1"):
        FaceDetector(upsample=2)


# --------------------------------------------------------------------------- the job


def test_manifests_hold_labels_splits_and_crops(run, records):
    out, report = run
    assert set(report.manifests) == {"ffpp", "dfdc"}
    assert report.manifests["ffpp"] == out / "ffpp" / "manifest.csv"
    rows = _rows(out, "ffpp")
    assert list(rows[0]) == list(pp.MANIFEST_COLUMNS)
    seen = {(r["video_id"], int(r["label"]), r["split"]) for r in rows}
    assert seen == {(k, lab, split) for k, (lab, split) in EXPECTED_FFPP.items()}
    methods = {r["video_id"]: r["method"] for r in rows}
    assert methods["ffpp/NeuralTextures/c23/004_982"] == "NeuralTextures"
    assert {r["compression"] for r in rows} == {"c23"}
    # Every present video has FRAMES rows and at least one crop.
    for record in records:
        got = [r for r in load_manifest(out / record.dataset) if r.video_id == record.video_id]
        if record.missing:
            assert [r.status for r in got] == ["missing"]
            continue
        assert len(got) == FRAMES, record.video_id
        assert any(r.status == "ok" for r in got), record.video_id
        for r in got:
            if r.status == "ok":
                assert r.crop_path is not None and r.crop_path.is_file()
    assert not report.errors


def test_missing_dfdc_files_are_recorded_and_do_not_stop_the_job(run):
    out, report = run
    assert set(report.missing) == DFDC_MISSING
    rows = load_manifest(out / "dfdc")
    assert {r.video_id for r in rows if r.status == "missing"} == DFDC_MISSING
    assert {r.frame_index for r in rows if r.status == "missing"} == {-1}
    assert {r.video_id for r in rows if r.status == "ok"} >= {
        "dfdc/dfdc_train_part_10/widuwuoiur",
        "dfdc/dfdc_train_part_10/yhffcuhhjy",
    }


def test_portrait_video_without_face_is_recorded_as_no_face(run):
    out, _ = run
    rows = [r for r in load_manifest(out / "dfdc") if r.video_id == PORTRAIT]
    assert [r.frame_index for r in rows] == [50, 150, 250]
    no_face = [r for r in rows if r.status == "no_face"]
    assert [r.frame_index for r in no_face] == [250]
    assert all(r.crop_path is None and r.x0 is None for r in no_face)


def test_crops_are_lossless_pngs_on_the_frame_grid(run):
    out, _ = run
    assert not list(out.rglob("*.jp*g"))
    rows = [r for r in load_manifest(out / "ffpp", status="ok") if r.video_id.endswith("/004")]
    assert rows
    for r in rows:
        assert r.x0 is not None and r.y0 is not None and r.x1 is not None and r.y1 is not None
        assert all(v % 8 == 0 for v in (r.x0, r.y0, r.x1, r.y1))
    frames = {
        f.frame_index: f.image
        for f in read_frames(_video("004.mp4"), [r.frame_index for r in rows])
    }
    for r in rows:
        assert r.crop_path is not None
        with Image.open(r.crop_path) as png:
            assert png.format == "PNG" and png.mode == "RGB"
            crop = np.asarray(png)
        np.testing.assert_array_equal(crop, frames[r.frame_index][r.y0 : r.y1, r.x0 : r.x1])
    # The whole run: every crop is on the grid of its source frame and inside it.
    for dataset in ("ffpp", "dfdc"):
        for r in load_manifest(out / dataset, status="ok"):
            assert r.x0 is not None and r.y0 is not None and r.x1 is not None and r.y1 is not None
            assert all(v % 8 == 0 for v in (r.x0, r.y0, r.x1, r.y1))
            assert r.crop_path is not None
            with Image.open(r.crop_path) as png:
                assert png.size == (r.x1 - r.x0, r.y1 - r.y0)


def test_rerun_skips_finished_videos(run, records, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "ffpp" / "manifest.csv").read_text()
    calls: list[str] = []
    original = pp._process_video

    def counting(record, *args, **kwargs):
        calls.append(record.video_id)
        return original(record, *args, **kwargs)

    monkeypatch.setattr(pp, "_process_video", counting)
    report = preprocess(records, copy, frames_per_video=FRAMES, workers=1, progress=False)
    assert calls == [] and report.processed == []
    assert sorted(report.skipped) == sorted(r.video_id for r in records)
    assert (copy / "ffpp" / "manifest.csv").read_text() == before

    # A kill that cut one video's journal block (its last line) redoes that video only; the
    # journals holding the other videos are neither redone nor rewritten.
    journals = sorted((copy / "ffpp" / ".journal").glob("*.jsonl"))
    lines = {j: j.read_bytes().splitlines(keepends=True) for j in journals}
    hit = next(j for j in journals if any(b'"ffpp/original/c23/004"' in x for x in lines[j]))
    cut = next(x for x in lines[hit] if b'"ffpp/original/c23/004"' in x)
    hit.write_bytes(b"".join(x for x in lines[hit] if x != cut) + cut[: len(cut) // 2])
    before_bytes = {j: j.read_bytes() for j in journals}
    report = preprocess(records, copy, frames_per_video=FRAMES, workers=1, progress=False)
    assert calls == ["ffpp/original/c23/004"] and report.processed == calls
    assert {j: j.read_bytes() for j in journals} == before_bytes
    assert len(list((copy / "ffpp" / ".journal").glob("*.jsonl"))) == len(journals) + 1
    assert (copy / "ffpp" / "manifest.csv").read_text() == before

    with pytest.raises(ValueError, match="frames_per_video"):
        preprocess(records, copy, frames_per_video=FRAMES + 1, workers=1, progress=False)


def test_interrupted_run_resumes_without_redoing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _need_data()
    keep = {"ffpp/original/c23/004", "ffpp/original/c23/519", "ffpp/NeuralTextures/c23/004_982"}
    recs = [r for r in read_ffpp(FFPP, include_missing=False) if r.video_id in keep]
    out = tmp_path / "out"
    original = pp._process_video
    calls: list[str] = []

    def crash_after_first(record, *args, **kwargs):
        calls.append(record.video_id)
        if len(calls) > 1:
            raise RuntimeError("worker killed")
        return original(record, *args, **kwargs)

    monkeypatch.setattr(pp, "_process_video", crash_after_first)
    with pytest.raises(RuntimeError, match="worker killed"):
        preprocess(recs, out, frames_per_video=1, workers=1, progress=False)
    first = calls[0]
    # The manifest is assembled from the finished video's journal even though the job stopped.
    assert {r.video_id for r in load_manifest(out / "ffpp")} == {first}
    (journal,) = (out / "ffpp" / ".journal").glob("*.jsonl")
    mtime = journal.stat().st_mtime_ns

    calls.clear()

    def counting(record, *args, **kwargs):
        calls.append(record.video_id)
        return original(record, *args, **kwargs)

    monkeypatch.setattr(pp, "_process_video", counting)
    report = preprocess(recs, out, frames_per_video=1, workers=1, progress=False)
    assert sorted(calls) == sorted(keep - {first})
    assert report.skipped == [first]
    assert journal.stat().st_mtime_ns == mtime  # the rerun appends to a journal of its own
    assert {r.video_id for r in load_manifest(out / "ffpp")} == keep


def test_corrupt_video_is_reported_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    _need_data()
    root = tmp_path / "folder"
    (root / "fake").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "fake" / "garbage.mp4").write_bytes(b"\x00\x01garbage" * 500)
    frame = next(iter(read_frames(_video("004.mp4"), [10]))).image
    Image.fromarray(frame).save(root / "real" / "still.png")
    Image.new("RGB", (64, 48)).save(root / "real" / "blank.png")
    recs = read_folder(root, dataset="folder")
    with caplog.at_level(logging.WARNING, logger="freqforensics.data.preprocess"):
        report = preprocess(recs, tmp_path / "out", frames_per_video=2, workers=1, progress=False)
    assert set(report.errors) == {"folder/test/fake/garbage"}
    assert "garbage.mp4" in caplog.text
    rows = {r.video_id: r for r in load_manifest(report.manifests["folder"])}
    assert rows["folder/test/fake/garbage"].status == "video_error"
    assert "garbage.mp4" in rows["folder/test/fake/garbage"].detail
    assert rows["folder/test/real/blank"].status == "no_face"
    still = rows["folder/test/real/still"]
    assert still.status == "ok" and still.frame_index == 0 and still.crop_path is not None
    with Image.open(still.crop_path) as png:
        np.testing.assert_array_equal(
            np.asarray(png), frame[still.y0 : still.y1, still.x0 : still.x1]
        )


def test_preprocess_rejects_bad_arguments(tmp_path: Path):
    rec = VideoRecord(tmp_path / "x.mp4", 0, "test", "d", "original", "", "d/x", missing=True)
    with pytest.raises(TypeError, match="records"):
        preprocess(rec, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique video_id"):
        preprocess([rec, rec], tmp_path, progress=False)
    with pytest.raises(ValueError, match="upsample must be 0 or 1"):
        preprocess([rec], tmp_path, upsample=3, progress=False)
    with pytest.raises(ValueError, match="frames_per_video must be >= 1"):
        preprocess([rec], tmp_path, frames_per_video=0, progress=False)
    bad = VideoRecord(tmp_path / "x.mp4", 0, "test", "d", "original", "", "e/../x", missing=True)
    with pytest.raises(ValueError, match="video_id"):
        preprocess([bad], tmp_path, progress=False)


# --------------------------------------------------------------------------- Dataset


def test_dataset_items_and_sida(run):
    out, _ = run
    ds = FrameDataset(out / "ffpp" / "manifest.csv", split="val")
    assert not ds.augment and ds.real_repeat == 1
    ok = [r for r in load_manifest(out / "ffpp", status="ok") if r.split == "val"]
    assert len(ds) == len(ok) > 0
    item = ds[0]
    assert item["image"].shape == (3, 380, 380) and item["image"].dtype == torch.float32
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 1
    assert item["sida"].shape == (2304,) and item["sida"].dtype == torch.float32
    assert item["label"].dtype == torch.float32 and item["label"].ndim == 0
    assert isinstance(item["video_id"], str) and isinstance(item["frame_index"], int)
    row = ds.rows[ds.index[0]]
    assert row.crop_path is not None
    with Image.open(row.crop_path) as png:
        crop = torch.from_numpy(np.asarray(png).copy()).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["sida"], SIDA()(crop[None])[0], rtol=0, atol=0)
    assert float(item["label"]) == row.label

    batch = collate_frames([ds[i] for i in range(min(2, len(ds)))])
    assert batch["image"].shape[1:] == (3, 380, 380) and batch["sida"].shape[1:] == (2304,)
    assert isinstance(batch["video_id"], list) and batch["frame_index"].dtype == torch.int64


def test_dataset_train_balancing_and_flip(run):
    out, _ = run
    ds = FrameDataset(out / "ffpp", split="train", image_size=64)
    train = [r for r in load_manifest(out / "ffpp", status="ok") if r.split == "train"]
    reals = sum(r.label == 0 for r in train)
    assert ds.augment and ds.real_repeat == 4 and reals > 0
    assert len(ds) == 4 * reals + (len(train) - reals)
    assert ds.labels.count(0) == 4 * reals
    assert len(FrameDataset(out / "ffpp", split="train", real_repeat=1)) == len(train)

    flipped = FrameDataset(
        out / "ffpp", split="train", image_size=64, flip_p=1.0, brightness=0.0, contrast=0.0
    )
    item = flipped[0]
    row = flipped.rows[flipped.index[0]]
    assert row.crop_path is not None
    with Image.open(row.crop_path) as png:
        crop = torch.from_numpy(np.asarray(png).copy()).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["sida"], SIDA()(crop.flip(-1)[None])[0], rtol=0, atol=0)
    assert item["image"].shape == (3, 64, 64)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_frames)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 3, 64, 64) and len(batch["video_id"]) == 3
    with pytest.raises(ValueError, match="split must be one of"):
        FrameDataset(out / "ffpp", split="dev")
