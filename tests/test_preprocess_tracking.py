"""Issues 11 and 12 against ``preprocess``: tracking, landmarks, the images source, journals,
shards.

- tracking: the job's boxes are the tracker's (main identity only; absent -> ``no_face``), and
  ``track``/``detect_every``/``detector``/``landmarks`` are settings of the output folder;
- landmarks: every ``ok`` crop has its sidecar, equal to dlib's landmarks moved into the crop,
  and a crop left without its journal block (a kill) is redone with its sidecar;
- ``--dataset images``: identities from a regex (``unk`` = one per file), identity-disjoint
  train/val, unreadable photos are ``video_error`` (exit 3);
- journals: one append-only file per process, a cut block is ignored, part files of earlier
  versions are still read;
- shards: two shards merged equal one run (rows and crop bytes), and merging refuses
  duplicates, missing shards and mixed settings.

The videos are tiny synthetic clips made of face photographs of ``../shared/data/faces-real``.
"""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from needs import need_module
from PIL import Image

from freqforensics.cli import main
from freqforensics.data import (
    CropSettings,
    load_manifest,
    merge_manifests,
    preprocess,
    process_video,
    read_folder,
    read_images,
)
from freqforensics.data.faces import detect_largest_face, face_box
from freqforensics.data.journal import JOURNAL, completed
from freqforensics.data.manifest import PARTS, REQUIRED_COLUMNS, part_path
from freqforensics.data.shards import parse_shard, shard_of

av = need_module("av")
need_module("dlib")

from freqforensics.data.landmarks import (  # noqa: E402
    face_landmarks,
    landmarks_path,
    load_landmarks,
    to_crop,
)
from freqforensics.data.tracking import track_faces  # noqa: E402
from freqforensics.data.video import sample_frames  # noqa: E402

LFW = [
    "lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0001.jpg",
    "lfw-krasserm__Colin_Powell__Colin_Powell_0001.jpg",
    "lfw-krasserm__Tony_Blair__Tony_Blair_0001.jpg",
    "lfw-krasserm__Hugo_Chavez__Hugo_Chavez_0001.jpg",
    "lfw-krasserm__Jacques_Chirac__Jacques_Chirac_0001.jpg",
    "lfw-krasserm__Vladimir_Putin__Vladimir_Putin_0001.jpg",
]
FACES_REAL_REGEX = r"^(?P<identity>.+?__.+?)__"


def _photo(shared: Path, name: str) -> np.ndarray:
    with Image.open(shared / "faces-real" / name) as image:
        return np.asarray(image.convert("RGB"))[:248, :248]


def _clip(path: Path, frames: list[np.ndarray]) -> Path:
    """A tiny MPEG-4 video of ``frames`` (same even size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = (
            frames[0].shape[1],
            frames[0].shape[0],
            "yuv420p",
        )
        stream.bit_rate = 4_000_000
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _pasted(face: np.ndarray, shift: int) -> np.ndarray:
    canvas = np.full((320, 384, 3), 96, np.uint8)
    canvas[24 : 24 + 248, 40 + shift : 40 + shift + 248] = face
    return canvas


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _files(folder: Path) -> dict[str, bytes]:
    """Crops and sidecars under ``folder``, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".png", ".npy")
    }


@pytest.fixture(scope="module")
def clips(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``real/`` + ``fake/`` folder of 6 two-frame clips, one face photo each."""
    root = tmp_path_factory.mktemp("clips") / "clips"
    for i, name in enumerate(LFW):
        face = _photo(shared_data_dir, name)
        _clip(root / ("real" if i % 2 else "fake") / f"v{i}.mp4", [face, face[:, ::-1].copy()])
    return root


# --------------------------------------------------------------------------- tracking


def test_tracking_gives_the_trackers_boxes_and_landmarks(
    shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    face = _photo(shared_data_dir, LFW[0])
    grey = np.full((320, 384, 3), 96, np.uint8)
    frames = [grey, grey] + [_pasted(face, 4 * k) for k in range(4)]
    root = tmp_path / "set"
    _clip(root / "real" / "a.mp4", frames)
    records = read_folder(root)
    out = tmp_path / "out"
    kwargs = dict(frames_per_video=6, workers=1, progress=False, track=True, detect_every=2)
    report = preprocess(records, out, **kwargs)
    rows = load_manifest(report.manifests["set"])
    expected = track_faces(sample_frames(records[0].path, 6), detect_every=2, landmarks=True)
    assert [r.frame_index for r in rows] == [t.frame_index for t in expected] == list(range(6))
    assert [r.status for r in rows[:2]] == ["no_face", "no_face"]
    assert sum(r.status == "ok" for r in rows) >= 3
    decoded = {f.frame_index: f.image for f in sample_frames(records[0].path, 6)}
    for r, t in zip(rows, expected):
        assert (r.status == "ok") == (t.box is not None)
        if t.box is None:
            continue
        assert (r.x0, r.y0, r.x1, r.y1) == (t.box.x0, t.box.y0, t.box.x1, t.box.y1)
        with Image.open(r.crop_path) as png:
            np.testing.assert_array_equal(
                np.asarray(png), decoded[r.frame_index][r.y0 : r.y1, r.x0 : r.x1]
            )
        np.testing.assert_allclose(load_landmarks(r.crop_path), to_crop(t.landmarks, t.box))

    stored = json.loads((out / "preprocess.json").read_text())
    assert stored["track"] is True and stored["detect_every"] == 2 and stored["max_gap"] == 8
    assert stored["detector"] == "hog" and stored["landmarks"] is True and stored["shard"] is None
    changes = (({"track": False}, "track"), ({"detect_every": 3}, "detect_every"),
               ({"max_gap": None}, "max_gap"))
    for change, word in changes:
        with pytest.raises(ValueError, match=word):
            preprocess(records, out, **{**kwargs, **change})

    # The memory cache is a cache: frames decoded again give the same crops.
    again = tmp_path / "again"
    monkeypatch.setattr(
        importlib.import_module("freqforensics.data.cropping"), "FRAME_CACHE_BYTES", 0
    )
    process_video(records[0], again, CropSettings(frames_per_video=6, track=True, detect_every=2))
    assert _files(again / "set") == _files(out / "set")


def test_per_frame_landmarks_are_dlibs_in_crop_pixels(shared_data_dir: Path, tmp_path: Path):
    face = _photo(shared_data_dir, LFW[1])
    root = tmp_path / "set"
    (root / "real").mkdir(parents=True)
    Image.fromarray(face).save(root / "real" / "a.png")
    rows = process_video(read_folder(root)[0], tmp_path / "out")
    assert [r["status"] for r in rows] == ["ok"]
    raw = detect_largest_face(face)
    assert raw is not None
    box = face_box(raw, face.shape[:2])
    assert box is not None and (rows[0]["x0"], rows[0]["y1"]) == (box.x0, box.y1)
    crop = tmp_path / "out" / "set" / rows[0]["crop_path"]
    np.testing.assert_array_equal(load_landmarks(crop), to_crop(face_landmarks(face, raw), box))
    assert ((load_landmarks(crop) >= -2) & (load_landmarks(crop) <= box.width + 2)).all()


def test_a_crop_without_its_journal_block_is_redone_with_its_sidecar(clips: Path, tmp_path: Path):
    records = read_folder(clips)[:2]
    out = tmp_path / "out"
    preprocess(records, out, frames_per_video=2, workers=1, progress=False)
    before = _files(out / "clips")
    assert any(k.endswith(".landmarks.npy") for k in before)
    assert all(
        landmarks_path(r.crop_path).is_file() for r in load_manifest(out / "clips", status="ok")
    )
    # A kill mid-video: a crop written without its sidecar, a stray sidecar, no block.
    journal = next((out / "clips" / JOURNAL).glob("*.jsonl"))
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + lines[1][:-1])  # the second block lost its end
    victim = json.loads(lines[1])["video_id"]
    folder = out / victim
    for sidecar in folder.glob("*.landmarks.npy"):
        sidecar.unlink()
    Image.new("RGB", (16, 16)).save(folder / "000099.png")
    np.save(folder / "000098.landmarks.npy", np.zeros((68, 2), np.float32))
    report = preprocess(records, out, frames_per_video=2, workers=1, progress=False)
    assert report.processed == [victim]
    assert _files(out / "clips") == before


# --------------------------------------------------------------------------- images source


def test_images_source_identity_disjoint_splits(shared_data_dir: Path, tmp_path: Path, capsys):
    names = [
        *LFW[:2],
        "lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0002.jpg",
        "lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0003.jpg",
        "lfw-krasserm__Colin_Powell__Colin_Powell_0002.jpg",
        "dlib-johns__John_Salley__000189_02159361.jpg",
        "dlib-johns__John_Salley__000197_02159322.jpg",
        "dlib-johns__John_Savage__000264_01099001.jpg",
        "openface__clapton-2__clapton-2.jpg",
        "deepface__unk__img1.jpg",
        "deepface__unk__img13.jpg",
    ]
    root = tmp_path / "faces"
    root.mkdir()
    for name in names:
        (root / name).symlink_to(shared_data_dir / "faces-real" / name)
    (root / "x__broken__a.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (96, 96), (128, 128, 128)).save(root / "x__blank__b.png")

    records = {r.video_id: r for r in read_images(root, identity_regex=FACES_REAL_REGEX)}
    rec = records["faces/lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0002"]
    assert rec.identity == "lfw-krasserm__Ariel_Sharon" and rec.label == 0
    unknown = [r.identity for r in records.values() if r.identity.startswith("deepface__unk")]
    assert len(set(unknown)) == 2  # each unknown file is its own identity
    with pytest.raises(ValueError, match="identity_regex"):
        read_images(root, identity_regex="(")

    out = tmp_path / "out"
    argv = ["preprocess", "--dataset", "images", "--root", str(root), "--out", str(out)]
    argv += ["--identity-regex", FACES_REAL_REGEX, "--val-fraction", "0.5", "--seed", "1"]
    assert main([*argv, "--workers", "1", "--quiet"]) == 3  # the broken photo
    assert "x__broken__a" in capsys.readouterr().out
    rows = load_manifest(out / "faces")
    by_id = {r.video_id.split("/", 1)[1]: r for r in rows}
    assert len(by_id) == len(names) + 2
    assert by_id["x__broken__a"].status == "video_error"
    assert by_id["x__blank__b"].status == "no_face"
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) >= len(names) - 2
    assert all(load_landmarks(r.crop_path) is not None for r in ok)
    sides: dict[str, set[str]] = {}
    for r in rows:
        assert r.identity and r.label == 0 and r.frame_index in (0, -1)
        sides.setdefault(r.identity, set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values()), sides  # identity-disjoint
    assert {s for (s,) in sides.values()} == {"train", "val"}
    assert sides["lfw-krasserm__Ariel_Sharon"] == {records[rec.video_id].split}


def test_images_identity_from_subfolders_and_refused_names(tmp_path: Path):
    for rel in ("alice/1.png", "alice/2.png", "bob/1.png", "unk/1.png", "unk/2.png", "c.png"):
        (tmp_path / "set" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "set" / rel)
    records = {r.video_id: r for r in read_images(tmp_path / "set", val_fraction=0.0)}
    assert records["set/alice/2"].identity == "alice" and records["set/c"].identity == "c"
    assert records["set/unk/1"].identity != records["set/unk/2"].identity
    assert {r.split for r in records.values()} == {"train"}
    refused = read_images(tmp_path / "set", identity_regex=r"^(?P<identity>[a-z]+)_")
    assert all("gives no identity" in r.error for r in refused)


# --------------------------------------------------------------------------- journals


def test_one_journal_per_process_and_old_part_files(clips: Path, tmp_path: Path):
    records = read_folder(clips)
    out = tmp_path / "out"
    preprocess(records, out, frames_per_video=2, workers=2, progress=False, landmarks=False)
    journals = list((out / "clips" / JOURNAL).glob("*.jsonl"))
    assert 1 <= len(journals) <= 2  # one per worker, not one per video
    assert not (out / "clips" / PARTS).exists()
    manifest = (out / "clips" / "manifest.csv").read_text()

    # An output folder of an earlier version: part files, settings without the new keys.
    for video_id, rows in completed(out / "clips").items():
        path = part_path(out / "clips", video_id.split("/", 1)[1])
        path.parent.mkdir(exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*REQUIRED_COLUMNS, "detail"])
            writer.writeheader()
            writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)
    for journal in journals:
        journal.unlink()
    settings = json.loads((out / "preprocess.json").read_text())
    old = {k: settings[k] for k in ("frames_per_video", "scale", "upsample", "grid", "crop")}
    (out / "preprocess.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="landmarks=False"):
        preprocess(records, out, frames_per_video=2, workers=1, progress=False)
    report = preprocess(
        records, out, frames_per_video=2, workers=1, progress=False, landmarks=False
    )
    assert report.processed == [] and len(report.skipped) == len(records)
    assert (out / "clips" / "manifest.csv").read_text() == manifest
    assert json.loads((out / "preprocess.json").read_text()) == settings


# --------------------------------------------------------------------------- shards


def test_two_shards_merged_equal_one_run(clips: Path, tmp_path: Path, capsys):
    records = read_folder(clips)
    owners = {shard_of(r.video_id, 2) for r in records}
    assert owners == {0, 1}, "both shards must get videos"
    assert [shard_of(r.video_id, 2) for r in reversed(records)] == [
        shard_of(r.video_id, 2) for r in records
    ][::-1]
    single = tmp_path / "single"
    preprocess(records, single, frames_per_video=2, workers=1, progress=False)

    base = ["preprocess", "--dataset", "folder", "--root", str(clips), "--frames", "2"]
    base += ["--workers", "1", "--quiet"]
    for i in (0, 1):
        assert main([*base, "--out", str(tmp_path / f"s{i}"), "--shard", f"{i}/2"]) == 0
    s0 = _rows(tmp_path / "s0" / "clips" / "manifest.shard-0-of-2.csv")
    s1 = _rows(tmp_path / "s1" / "clips" / "manifest.shard-1-of-2.csv")
    assert s0 and s1 and not {r["video_id"] for r in s0} & {r["video_id"] for r in s1}
    capsys.readouterr()
    merged = tmp_path / "merged"
    assert main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(merged)]) == 0
    assert "manifest clips" in capsys.readouterr().out
    assert (merged / "clips" / "manifest.csv").read_text() == (
        single / "clips" / "manifest.csv"
    ).read_text()
    assert _files(merged / "clips") == _files(single / "clips")
    assert json.loads((merged / "preprocess.json").read_text()) == json.loads(
        (single / "preprocess.json").read_text()
    )
    # The merged folder is an ordinary output folder: a rerun there has nothing to do.
    report = preprocess(records, merged, frames_per_video=2, workers=1, progress=False)
    assert report.processed == [] and len(report.skipped) == len(records)

    # A rerun of a shard with other settings or another shard is refused.
    assert main([*base, "--out", str(tmp_path / "s0"), "--shard", "1/2"]) == 2
    assert "shard" in capsys.readouterr().err


def test_merge_refuses_duplicates_missing_shards_and_mixed_settings(clips: Path, tmp_path: Path):
    records = read_folder(clips)
    first, second = tmp_path / "a", tmp_path / "b"
    preprocess(records[:3], first, frames_per_video=1, workers=1, progress=False)
    preprocess(records[2:4], second, frames_per_video=1, workers=1, progress=False)
    with pytest.raises(ValueError, match=f"video '{records[2].video_id}' appears twice"):
        merge_manifests([first, second], tmp_path / "m1")
    assert not (tmp_path / "m1" / "preprocess.json").exists()

    shard = tmp_path / "s0"
    preprocess(records, shard, frames_per_video=1, workers=1, progress=False, shard="0/2")
    with pytest.raises(ValueError, match=r"shards \['1/2'\] are missing"):
        merge_manifests([shard], tmp_path / "m2")
    other = tmp_path / "s1"
    preprocess(records, other, frames_per_video=2, workers=1, progress=False, shard=(1, 2))
    with pytest.raises(ValueError, match="other settings.*frames_per_video"):
        merge_manifests([shard, other], tmp_path / "m3")
    with pytest.raises(ValueError, match="new or empty"):
        merge_manifests([first], shard)
    for bad in ("2/2", "1", "a/b", (0, 0), "-1/2"):
        with pytest.raises(ValueError, match="shard must be 'I/N'"):
            parse_shard(bad)


def test_cnn_detector_is_a_setting(shared_data_dir: Path, tmp_path: Path, capsys):
    root = tmp_path / "set" / "person"
    root.mkdir(parents=True)
    (root / "a.jpg").symlink_to(shared_data_dir / "faces-real" / LFW[1])
    out = tmp_path / "out"
    argv = ["preprocess", "--dataset", "images", "--root", str(root.parent), "--out", str(out)]
    assert main([*argv, "--detector", "cnn", "--workers", "1", "--quiet"]) == 0
    (row,) = load_manifest(out / "set")
    assert row.status == "ok" and row.identity == "person" and row.split in ("train", "val")
    assert load_landmarks(row.crop_path) is not None
    assert json.loads((out / "preprocess.json").read_text())["detector"] == "cnn"
    assert main([*argv, "--workers", "1", "--quiet"]) == 2  # hog on a cnn folder: refused
    assert "detector" in capsys.readouterr().err
