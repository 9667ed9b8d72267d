"""Data pipeline: dataset folders -> video records -> face crops + manifests -> Dataset.

- :mod:`~freqforensics.data.readers`: FaceForensics++, Celeb-DF v2, DFDC (train parts and
  public test set) and plain ``real/`` + ``fake/`` folders to :class:`VideoRecord` lists.
- :mod:`~freqforensics.data.video`: exact, keyframe-seeking frame sampling with PyAV.
- :mod:`~freqforensics.data.faces`: dlib's largest face, FaceForensics++'s 1.3x square,
  snapped to the 8-pixel grid of the frame.
- :mod:`~freqforensics.data.preprocess`: the resumable, parallel cropping job (per-frame
  detection or face tracking, :mod:`~freqforensics.data.cropping`; 68 landmarks per crop).
- :mod:`~freqforensics.data.journal`: its settings and append-only journals.
- :mod:`~freqforensics.data.shards`: sharding the job over machines, and merging the shards.
- :mod:`~freqforensics.data.manifest`: the manifest format, read back with checked paths.
- :mod:`~freqforensics.data.dataset`: :class:`FrameDataset` (``image`` + ``sida`` + ``label``).
- :mod:`~freqforensics.data.pseudo`: :class:`PseudoFakeDataset`, self-blended fakes made from
  the real crops of a manifest (train a detector from real videos only).

PyAV, dlib, Pillow and tqdm (the ``data`` extra) are imported only when used.
"""

from freqforensics.data.dataset import (
    FrameDataset,
    collate_frames,
    load_rows,
    match_video,
    prepare_crop,
)
from freqforensics.data.faces import FaceBox, FaceDetector, crop_face, detect_largest_face, face_box
from freqforensics.data.landmarks import (
    face_landmarks,
    landmark_hull_mask,
    landmarks_path,
    load_landmarks,
    save_landmarks,
    to_crop,
)
from freqforensics.data.preprocess import (
    MANIFEST_COLUMNS,
    STATUSES,
    CropSettings,
    ManifestRow,
    PreprocessReport,
    load_manifest,
    manifest_path,
    preprocess,
    process_video,
)
from freqforensics.data.pseudo import PseudoFakeDataset, make_pseudo_fake
from freqforensics.data.readers import (
    VideoRecord,
    read_celebdf,
    read_dfdc,
    read_dfdc_test,
    read_ffpp,
    read_folder,
    read_images,
)
from freqforensics.data.sbi import self_blend, self_blend_pair
from freqforensics.data.shards import merge_manifests
from freqforensics.data.sources import read_dataset
from freqforensics.data.tracking import FaceTracker, TrackedFace, track_faces
from freqforensics.data.video import (
    Frame,
    FrameError,
    VideoError,
    VideoInfo,
    probe_video,
    read_frames,
    sample_frames,
    sample_indices,
)

__all__ = [
    "VideoRecord",
    "read_ffpp",
    "read_celebdf",
    "read_dfdc",
    "read_dfdc_test",
    "read_folder",
    "read_images",
    "read_dataset",
    "VideoError",
    "VideoInfo",
    "Frame",
    "FrameError",
    "probe_video",
    "sample_indices",
    "read_frames",
    "sample_frames",
    "FaceBox",
    "FaceDetector",
    "detect_largest_face",
    "face_box",
    "crop_face",
    "FaceTracker",
    "TrackedFace",
    "track_faces",
    "face_landmarks",
    "to_crop",
    "landmarks_path",
    "save_landmarks",
    "load_landmarks",
    "landmark_hull_mask",
    "MANIFEST_COLUMNS",
    "STATUSES",
    "ManifestRow",
    "PreprocessReport",
    "preprocess",
    "process_video",
    "CropSettings",
    "merge_manifests",
    "load_manifest",
    "manifest_path",
    "FrameDataset",
    "collate_frames",
    "load_rows",
    "match_video",
    "prepare_crop",
    "PseudoFakeDataset",
    "make_pseudo_fake",
    "self_blend",
    "self_blend_pair",
]
