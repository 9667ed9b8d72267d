"""Issue 9 ("Trust"), data pipeline: each test reproduces one report against ``preprocess``.

- 2: ``kill -9`` of a ``preprocess --workers 2`` left its workers running (and blocking);
  now they exit with it, and a rerun leaves a consistent manifest (7: a second run on the same
  ``--out`` fails at once).
- 3: an unreadable folder was dropped silently; now it is a ``video_error`` row and exit 3.
- 4: metadata keys, manifest ``crop_path`` values and ``--name`` could reach outside their root.
- 5: a long non-ASCII video name made a part file name too long and stopped every run.
- 6: malformed split files and ``metadata.json`` gave tracebacks; an empty split gave no hint.

The videos are tiny synthetic ones (a face photograph of ``../shared/data/faces-real`` repeated
over a few frames) so that the tests stay fast.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from needs import need_module
from PIL import Image
from toys import one_line_error, write_manifest

from freqforensics._io import exclusive_lock
from freqforensics.cli import main
from freqforensics.data import (
    FrameDataset,
    load_manifest,
    load_rows,
    read_dfdc,
    read_ffpp,
    read_folder,
)
from freqforensics.data.manifest import MANIFEST_COLUMNS

av = need_module("av")
need_module("dlib")

pp = importlib.import_module("freqforensics.data.preprocess")
REPO = Path(__file__).resolve().parents[1]
FACE = "lfw-krasserm__Ariel_Sharon__Ariel_Sharon_0001.jpg"  # dlib finds its face
EXIT_NOT_READ = 3


@pytest.fixture(scope="module")
def face(shared_data_dir: Path) -> np.ndarray:
    with Image.open(shared_data_dir / "faces-real" / FACE) as image:
        return np.asarray(image.convert("RGB"))[:248, :248]  # even sides for yuv420p


def _video(path: Path, face: np.ndarray, frames: int) -> Path:
    """A tiny MPEG-4 video of ``frames`` copies of ``face`` (slightly shifted noise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = face.shape[1], face.shape[0], "yuv420p"
        for _ in range(frames):
            noisy = np.clip(face.astype(np.int16) + rng.integers(-3, 4, face.shape), 0, 255)
            frame = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _preprocess(root: Path, out: Path, *extra: str, dataset: str = "folder") -> list[str]:
    """A quick ``preprocess`` command line; options in ``extra`` override the defaults."""
    argv = ["preprocess", "--dataset", dataset, "--root", str(root), "--out", str(out)]
    return [*argv, "--frames", "2", "--workers", "1", "--quiet", *extra]




def _manifest_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ 2 and 7: kill -9, lock


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_for(condition, timeout: float, step: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc (Linux)")
def test_kill_9_takes_the_workers_along_and_a_rerun_is_consistent(
    tmp_path: Path, face: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "videos", tmp_path / "out"
    for name in ("a", "b", "c"):
        _video(root / "real" / f"{name}.mp4", face, 90)
    argv = _preprocess(root, out, "--frames", "90", "--workers", "2")
    code = "import sys; from freqforensics.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO)
    try:
        # A crop (or a crop being written) comes from a worker, so the pool is up; any other
        # temporary file can be the parent's own (its settings), written before the pool starts.
        started = _wait_for(lambda: any(out.rglob("*.png")) or any(out.rglob(".*.png.*.tmp")), 240)
        assert started and proc.poll() is None, "no crop appeared while the job ran"
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers

        # 7: a second run with other settings on the same --out fails at once.
        other = _preprocess(root, out, "--frames", "3")
        assert main(other) == 2
        one_line_error(capsys, "in use by another preprocess run", str(out))

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_for(lambda: not any(_alive(p) for p in workers), 10), [
            p for p in workers if _alive(p)
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The rerun redoes the unfinished videos; nothing is duplicated, orphaned or half-written.
    assert main(_preprocess(root, out, "--frames", "90")) == 0
    rows = _manifest_rows(out / "videos" / "manifest.csv")
    keys = [(r["video_id"], r["frame_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * 90
    referenced = {(out / "videos" / r["crop_path"]).resolve() for r in rows if r["crop_path"]}
    on_disk = {p.resolve() for p in (out / "videos").rglob("*.png")}
    assert referenced == on_disk and len(on_disk) > 0
    assert not list(out.rglob("*.tmp"))


def test_a_locked_out_dir_is_refused_before_the_settings_check(
    tmp_path: Path, face: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "videos", tmp_path / "out"
    _video(root / "real" / "a.mp4", face, 2)
    stale = out / "videos" / "_parts" / ".a.csv.999999999.tmp"  # a killed run's temp file
    stale.parent.mkdir(parents=True)
    stale.write_text("half")
    with exclusive_lock(out, "preprocess run"):
        assert main(_preprocess(root, out)) == 2
        one_line_error(capsys, "in use by another preprocess run")
        assert not (out / "preprocess.json").exists()
    assert main(_preprocess(root, out)) == 0
    assert not stale.exists()


# ------------------------------------------------------------------ 3: nothing dropped silently


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Folders added to the list cannot be listed (chmod 000, or a patched scandir as root)."""
    folders: list[Path] = []
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if any(Path(os.fsdecode(path)) == f for f in folders):
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path, *args, **kwargs)

    if os.geteuid() == 0:  # root reads everything: simulate the permission error
        monkeypatch.setattr(os, "scandir", scandir)
    yield folders
    for folder in folders:
        folder.chmod(0o755)


def test_unreadable_folders_and_broken_links_are_reported(
    tmp_path: Path,
    face: np.ndarray,
    unreadable: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, out = tmp_path / "set", tmp_path / "out"
    _video(root / "real" / "a.mp4", face, 2)
    _video(root / "real" / "sub" / "b.mp4", face, 2)
    _video(root / "fake" / "c.mp4", face, 2)
    (root / "real" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    for folder in (root / "fake", root / "real" / "sub"):
        folder.chmod(0)
        unreadable.append(folder)

    assert main(_preprocess(root, out)) == EXIT_NOT_READ
    text = capsys.readouterr().out
    assert "3 errors" in text and f"exit status {EXIT_NOT_READ}" in text
    for name in ("set/test/fake", "set/test/real/sub", "set/test/real/gone"):
        assert f"error: {name}:" in text
    rows = {r.video_id: r for r in load_manifest(out / "set")}
    assert rows["set/test/real/a"].status == "ok"
    assert rows["set/test/fake"].status == "video_error"
    assert "cannot list folder" in rows["set/test/fake"].detail
    assert str(root / "fake") in rows["set/test/fake"].detail
    assert "cannot list folder" in rows["set/test/real/sub"].detail
    assert "broken link" in rows["set/test/real/gone"].detail
    # The rerun says so again (the folders are still unreadable).
    assert main(_preprocess(root, out)) == EXIT_NOT_READ


# ------------------------------------------------------------------ 4: inside the root


def test_dfdc_keys_outside_the_part_are_refused_never_read(
    tmp_path: Path,
    face: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "dfdc"
    part = root / "dfdc_train_part_0"
    outside = _video(tmp_path / "x" / "y.mp4", face, 2)
    _video(part / "inside.mp4", face, 2)
    keys = {"inside.mp4": "REAL", "../../x/y.mp4": "FAKE", str(outside): "FAKE"}
    meta = {k: {"label": v, "split": "train"} for k, v in keys.items()}
    (part / "metadata.json").write_text(json.dumps(meta))
    records = {r.video_id: r for r in read_dfdc(root)}
    refused = {k: r for k, r in records.items() if r.error}
    assert len(refused) == 2 and all("refused" in r.error for r in refused.values())
    assert {r.missing for r in refused.values()} == {False}

    opened: list[Path] = []
    cropping = importlib.import_module("freqforensics.data.cropping")
    original = cropping.sample_frames

    def spy(path, n, errors="raise"):  # noqa: ANN001, ANN202
        opened.append(Path(path))
        return original(path, n, errors)

    monkeypatch.setattr(cropping, "sample_frames", spy)
    out = tmp_path / "out"
    assert main(_preprocess(root, out, dataset="dfdc")) == EXIT_NOT_READ
    assert opened == [part / "inside.mp4"]
    text = capsys.readouterr().out
    assert "'../../x/y.mp4' points outside" in text and "is an absolute path" in text
    rows = {r.video_id: r for r in load_manifest(out / "dfdc")}
    assert rows["dfdc/dfdc_train_part_0/inside"].status == "ok"
    for video_id in refused:
        assert rows[video_id].status == "video_error" and rows[video_id].crop_path is None


def test_ffpp_split_names_outside_the_root_are_refused(tmp_path: Path) -> None:
    (tmp_path / "splits").mkdir()
    for split in ("train", "val", "test"):
        pairs = [["../../../../x", "001"]] if split == "train" else []
        (tmp_path / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    records = read_ffpp(tmp_path, methods=["Deepfakes"])
    refused = [r for r in records if r.error]
    assert len(refused) == 3 and not any(".." in r.video_id.split("/") for r in refused)
    assert all("../../../../x" in r.error and "refused" in r.error for r in refused)
    assert [r.video_id for r in records if not r.error] == ["ffpp/original/c23/001"]


def _manifest(folder: Path, crop_paths: list[str], split: str = "train") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "000000.png")
    path = folder / "manifest.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for i, crop in enumerate(crop_paths):
            writer.writerow(
                {
                    **dict.fromkeys(MANIFEST_COLUMNS, ""),
                    **{"video_id": f"toy/v{i}", "label": i % 2, "split": split},
                    **{"dataset": "toy", "method": "m", "frame_index": 0, "status": "ok"},
                    **{"crop_path": crop, "source": "v.mp4"},
                }
            )
    return path


@pytest.mark.parametrize("crop", ["../../..", "../secret.png", "/etc/hostname", "a/../.."])
def test_manifest_crop_paths_outside_its_folder_are_refused(tmp_path: Path, crop: str) -> None:
    path = _manifest(tmp_path / "m", ["000000.png", crop])
    with pytest.raises(ValueError, match=rf"manifest.csv:3: crop_path .*{crop[:4]}"):
        FrameDataset(path, split=None)
    with pytest.raises(ValueError, match="crop_path"):
        load_manifest(path)


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../escape"])
def test_name_must_be_one_folder_name(
    tmp_path: Path, face: np.ndarray, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "set", tmp_path / "work" / "out"
    _video(root / "real" / "a.mp4", face, 2)
    assert main(_preprocess(root, out, "--name", name)) == 2
    one_line_error(capsys, "--name", repr(name))
    assert not (tmp_path / "work").exists() and not list(tmp_path.rglob("manifest.csv"))


# ------------------------------------------------------------------ 5: long names


def test_long_non_ascii_names_keep_working(
    tmp_path: Path, face: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "set", tmp_path / "out"
    names = ["深" * 60, "度" * 80]  # 180 and 240 bytes in UTF-8, 540 and 720 percent-encoded
    for name in names:
        _video(root / "real" / f"{name}.mp4", face, 2)
    assert main(_preprocess(root, out)) == 0
    for path in out.rglob("*"):
        assert len(path.name.encode()) <= 255, path
    rows = load_manifest(out / "set", status="ok")
    assert {r.video_id for r in rows} == {f"set/test/real/{n}" for n in names}
    assert all(r.crop_path is not None and r.crop_path.is_file() for r in rows)
    capsys.readouterr()
    assert main(_preprocess(root, out)) == 0  # resumes: nothing to redo
    assert "0 done now, 2 already done" in capsys.readouterr().out


# ------------------------------------------------------------------ 6: malformed metadata


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[["004"]]', ["entry 0", "[target, source] pairs"]),
        ('{"004": "982"}', ["holds an object", "[target, source] pairs"]),
        ('[["004", "982"]', ["not valid JSON", "line 1"]),
        ("null", ["holds null"]),
    ],
)
def test_malformed_split_file_is_aone_line_error(
    tmp_path: Path, text: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.json").write_text(text)
    argv = _preprocess(tmp_path, tmp_path / "out", "--splits", "train", dataset="ffpp")
    assert main(argv) == 2
    one_line_error(capsys, str(tmp_path / "splits" / "train.json"), *words)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[]", ["holds a list", "JSON object mapping video file names"]),
        ("null", ["holds null"]),
        ('{"a.mp4": "FAKE"}', ["'a.mp4' is a string", '"label": "FAKE"']),
        ('{"a.mp4": {"label": "MAYBE"}}', ["label of a.mp4 must be REAL or FAKE"]),
        ('{"a.mp4": ', ["not valid JSON", "line 1"]),
    ],
)
def test_malformed_dfdc_metadata_is_aone_line_error(
    tmp_path: Path, text: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    (part / "metadata.json").write_text(text)
    assert main(_preprocess(tmp_path, tmp_path / "out", dataset="dfdc")) == 2
    one_line_error(capsys, str(part / "metadata.json"), *words)


def test_an_empty_split_names_the_splits_the_manifest_holds(tmp_path: Path) -> None:
    path = _manifest(tmp_path / "dfdc", ["000000.png", "000000.png"], split="train")
    assert load_rows(path, split="test") == []  # the default still allows an empty selection
    with pytest.raises(ValueError, match=r"no frames with a face in split 'test' .*'train' \(2"):
        load_rows(path, split="test", allow_empty=False)
    with pytest.raises(ValueError, match=r"split 'val' .*manifest\.csv.*'train' \(2 frames\)"):
        FrameDataset(path, split="val", allow_empty=False)
    with pytest.raises(ValueError, match=r"matching videos \['nope'\].*'train'"):
        load_rows(path, split=None, videos=["nope"], allow_empty=False)


def test_a_row_without_a_crop_names_itself(tmp_path: Path) -> None:
    """``ManifestRow.crop_file``: the crop's path, or an error naming the row and its status
    (a failed video has no crop to read)."""
    from freqforensics.data.manifest import ManifestRow

    row = ManifestRow("toy/original/a", 0, "train", "toy", "original", "", -1, None, None, None,
                      None, None, "video_error", "a.mp4", "cannot decode")
    with pytest.raises(ValueError, match="toy/original/a:-1 has no crop \\(status 'video_error'"):
        row.crop_file()
    ok = ManifestRow("toy/original/a", 0, "train", "toy", "original", "", 0, 0, 0, 8, 8,
                     tmp_path / "000000.png", "ok", "a.mp4")
    assert ok.crop_file() == tmp_path / "000000.png"


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_an_image_too_large_to_decode_is_a_reported_error(tmp_path: Path) -> None:
    """Pillow's DecompressionBombError is not an OSError: it once ended a whole job with a
    traceback. Now it is the read error of that one file."""
    from freqforensics.data.codecs import read_rgb
    from freqforensics.inference import ImageError, read_image

    bomb = tmp_path / "huge.png"
    bomb.write_bytes(_bomb_png())
    with pytest.raises(OSError, match="too large to decode safely"):
        read_rgb(bomb)
    with pytest.raises(ImageError, match="huge.png"):
        read_image(bomb)
    with pytest.raises(pp.VideoError, match="cannot read image"):
        importlib.import_module("freqforensics.data.cropping")._read_image(bomb)


def test_a_photo_stored_rotated_is_read_upright(tmp_path: Path) -> None:
    """EXIF orientation 6: the stored pixels are turned 90 degrees clockwise for display."""
    from freqforensics.data.codecs import ORIENTATION, read_rgb

    stored = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    upright = read_rgb(path)
    assert upright.shape == (20, 12, 3)
    np.testing.assert_array_equal(upright, np.rot90(stored, k=-1))
    plain = tmp_path / "plain.png"
    Image.fromarray(stored).save(plain)
    np.testing.assert_array_equal(read_rgb(plain), stored)


def test_a_repeated_frame_or_an_unknown_split_in_a_manifest_names_its_line(
    tmp_path: Path,
) -> None:
    """A frame listed twice was counted twice in the metrics; a mistyped split made a row drop
    out of every split without a word."""
    path = write_manifest(tmp_path, {"a": (0, "test"), "b": (1, "test")})
    lines = path.read_text().splitlines()
    assert len(load_manifest(path)) == 4
    path.write_text("\n".join([*lines, lines[2]]) + "\n")  # line 3 again, as line 6
    with pytest.raises(ValueError, match=r"manifest.csv:6: frame 1 of toy/original/a is listed "
                       r"again \(first on line 3\)"):
        load_manifest(path)
    path.write_text("\n".join([*lines[:2], lines[2].replace(",test,", ",tset,")]) + "\n")
    with pytest.raises(ValueError, match=r"manifest.csv:3: split must be one of \['train', "
                       r"'val', 'test'\], got 'tset'"):
        load_manifest(path)


def test_bad_arguments_of_the_data_set_and_the_face_box_name_themselves(tmp_path: Path) -> None:
    from freqforensics.data.faces import face_box

    path = write_manifest(tmp_path, {"a": (0, "test"), "b": (1, "test")})
    for kwargs, message in [
        ({"brightness": "0.1"}, r"brightness must be a number in \[0, 1\), got '0.1'"),
        ({"flip_p": None}, r"flip_p must be a number in \[0, 1\], got None"),
    ]:
        with pytest.raises(ValueError, match=message):
            FrameDataset(path, "test", **kwargs)
    with pytest.raises(ValueError, match="manifest must be a path .* got None"):
        FrameDataset(None, "test")  # type: ignore[arg-type]
    for scale in (float("nan"), float("inf"), 0):
        # nan once reached preprocess.json, and no later run could match it (nan != nan)
        with pytest.raises(ValueError, match="scale must be a finite positive number"):
            face_box((10, 10, 50, 50), (100, 100), scale)
        with pytest.raises(ValueError, match="scale must be a finite positive number"):
            pp.preprocess([], tmp_path / "out", scale=scale)


def test_ffpp_split_files_that_share_a_video_are_refused(tmp_path: Path) -> None:
    """A video in two split files used to land silently in whichever split was read last, so
    'train' and 'val test' run separately (the --help workflow) both listed it."""
    (tmp_path / "splits").mkdir()
    pairs = {"train": [["519", "515"]], "val": [], "test": [["519", "999"]]}
    for split, listed in pairs.items():
        (tmp_path / "splits" / f"{split}.json").write_text(json.dumps(listed))
    for splits in (("train",), ("test",), ("train", "val", "test")):
        with pytest.raises(ValueError, match=r"video '519' is listed in .*train.json and in "
                           r"test.json; a video must be in one split only"):
            read_ffpp(tmp_path, methods=["Deepfakes"], splits=splits)
    pairs["test"] = [["600", "999"], ["600", "999"]]  # a repeat within one split is harmless
    (tmp_path / "splits" / "test.json").write_text(json.dumps(pairs["test"]))
    records = read_ffpp(tmp_path, methods=["Deepfakes"])
    assert {r.video_id.split("/")[-1]: r.split for r in records if r.method == "original"} == {
        "515": "train", "519": "train", "600": "test", "999": "test"
    }


def test_a_lost_crop_is_skipped_and_a_corrupt_one_names_its_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One deleted crop used to end training, evaluation or robustness at its first read
    (and again on every rerun); now it is reported once and skipped."""
    path = write_manifest(tmp_path, {"a": (0, "test"), "b": (1, "test")})
    (path.parent / "original/a/000001.png").unlink()
    with caplog.at_level("WARNING", logger="freqforensics.data.dataset"):
        data = FrameDataset(path, "test", image_size=32)
    assert len(data) == 3
    assert "1 of 4 frames have no crop file on disk and are skipped: toy/original/a:1" in (
        caplog.text
    )
    (path.parent / "Fake/b/000000.png").write_bytes(b"not a png")
    corrupt = next(i for i, k in enumerate(data.index) if data.rows[k].video_id.endswith("/b"))
    with pytest.raises(ValueError, match=r"cannot read the crop of toy/Fake/b frame 0 .*rerun "
                       "preprocess for that video"):
        data[corrupt]


def test_a_file_name_that_is_not_utf8_is_a_refused_record(tmp_path: Path) -> None:
    """A Latin-1 name (an old archive) once ended preprocess with an encoding error naming
    no file; now it is one refused record with a printable id, and the rest goes on."""
    from freqforensics.data import read_images

    folder = tmp_path / "photos" / "real"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "ok.png")
    try:
        (Path(os.fsdecode(bytes(folder))) / os.fsdecode(b"Jos\xe9.png")).write_bytes(b"x")
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take a name that is not UTF-8")
    for records in (read_folder(tmp_path / "photos"), read_images(folder)):
        assert len(records) == 2
        bad = next(r for r in records if r.error)
        assert bad.video_id.endswith("Jos\\xe9") and "not valid UTF-8" in bad.error
        assert str(bad.path).endswith("Jos\\xe9.png")
        for r in records:
            (r.video_id + str(r.path) + r.error).encode("utf-8")  # writable to a manifest
        assert [r.error for r in records if r.video_id.endswith("ok")] == [""]


def test_dfdc_entries_listed_twice_name_the_file(tmp_path: Path) -> None:
    """A repeated labels.csv row, or two metadata.json keys naming one video, used to stop
    preprocess with 'records must have unique video_id', naming neither file nor entry."""
    from freqforensics.data import read_dfdc_test

    test = tmp_path / "test"
    test.mkdir()
    (test / "labels.csv").write_text("filename,label\na.mp4,0\nb.mp4,1\na.mp4,1\n")
    with pytest.raises(ValueError, match=r"labels.csv: .*a.mp4 is listed twice \('dfdc/test/a'"):
        read_dfdc_test(test)
    part = tmp_path / "dfdc_train_part_3"
    part.mkdir()
    meta = {"x.mp4": {"label": "REAL"}, "a/x.mp4": {"label": "FAKE", "original": "x.mp4"}}
    (part / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"metadata.json: .*a/x.mp4 and .*/x.mp4 give one video "
                       r"id \('dfdc/dfdc_train_part_3/x'\)"):
        read_dfdc(tmp_path)
