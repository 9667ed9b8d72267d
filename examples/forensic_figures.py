"""The paper's forensic figures on real FaceForensics++ frames (the pictures in the docs).

Takes a real video and a fake made from it (default: FaceForensics++ original ``004`` and its
NeuralTextures fake ``004_982`` from ``../shared/data/ffpp-mini``), detects the face in the real
frames with dlib, crops the same 8-pixel-aligned box from both videos at the same frame
indices, and writes:

- ``fig1_dct_energy.png``: the paper's Figure 1, full-image DCT against the local block DCT of
  the face, real vs fake and their difference;
- ``fig7_sida_<statistic>.png``: the paper's Figure 7, SIDA statistics (Y channel) over the
  192 positions (row | col | intra), real vs fake averaged over the sampled frames, with their
  difference;
- ``attention_overlay.png`` (with ``--checkpoint``): the FAAE attention and the HCMA gated token
  contributions of a trained detector over the fake face.

    python examples/forensic_figures.py --out docs/figures
    python examples/forensic_figures.py --checkpoint runs/demo/best.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from freqforensics import SIDA
from freqforensics.viz import plot_dct_energy, plot_sida_statistics

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ffpp-mini"


def face_pairs(
    real: Path, fake: Path, frames: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[int]]:
    """Same-box face crops of ``real`` and ``fake`` at the same frame indices."""
    from freqforensics.data import FaceDetector, crop_face, probe_video, read_frames
    from freqforensics.data.video import sample_indices

    n = min(probe_video(real).num_frames, probe_video(fake).num_frames)
    indices = sample_indices(n, frames)
    detector = FaceDetector(scale=1.3, upsample=0)
    reals, fakes, used = [], [], []
    fake_frames = {f.frame_index: f.image for f in read_frames(fake, indices)}
    for frame in read_frames(real, indices):
        box = detector(frame.image)
        if box is None or frame.frame_index not in fake_frames:
            continue
        for out, image in ((reals, frame.image), (fakes, fake_frames[frame.frame_index])):
            crop = crop_face(image, box)
            out.append(torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255)
        used.append(frame.frame_index)
    if not reals:
        raise SystemExit(f"no face found in the sampled frames of {real}")
    return reals, fakes, used


def attention_figure(checkpoint: Path, face: torch.Tensor, path: Path) -> None:
    """FAAE attention received and HCMA gated token contributions, over the face.

    The maps come from :func:`freqforensics.viz.explain_face` (also behind
    ``freqforensics explain``).
    """
    from freqforensics.models import SFCLHCMF
    from freqforensics.viz import explain_face

    model = SFCLHCMF.from_checkpoint(checkpoint).eval()
    prob, maps = explain_face(model, face, path)
    print(f"wrote {path} ({', '.join(maps)}; fake probability of this face: {prob:.3f})")


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ffpp-mini root")
    parser.add_argument("--real", default="original_sequences/youtube/c23/videos/004.mp4")
    parser.add_argument("--fake",
                        default="manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4")
    parser.add_argument("--frames", type=int, default=8, help="frames averaged for Figure 7")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/figures"))
    args = parser.parse_args(argv)
    real, fake = args.data / args.real, args.data / args.fake
    for p in (real, fake):
        if not p.is_file():
            raise SystemExit(f"video not found: {p} (see ../shared/data/README.md)")
    reals, fakes, used = face_pairs(real, fake, args.frames)
    print(f"{len(used)} frame pairs with a face: {used}; crop {tuple(reals[0].shape[1:])}")
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "fig1_dct_energy.png"]
    plot_dct_energy(reals[0], fakes[0], path=written[0])
    sida = SIDA()
    r, f = sida(reals), sida(fakes)
    for stat in ("mean", "std"):
        path = args.out / f"fig7_sida_{stat}.png"
        plot_sida_statistics(r, f, statistic=stat, channel="Y", path=path,
                             title=f"SIDA {stat}, Y: FF++ 004 (real) vs 004_982 "
                             f"(NeuralTextures), {len(used)} frames")
        written.append(path)
    if args.checkpoint is not None:
        written.append(args.out / "attention_overlay.png")
        attention_figure(args.checkpoint, fakes[0], written[-1])
    for p in written:
        print(f"wrote {p}")
    return written


if __name__ == "__main__":
    main()
