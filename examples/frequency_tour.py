"""Where does the frequency energy of an image sit? A tour of the block DCT.

Prints the per-band energy of the Y channel's 8x8 block DCT (zigzag order) and writes a PNG
with the image, the 64 band maps and the band energy curve.

    python examples/frequency_tour.py                  # scikit-image's astronaut
    python examples/frequency_tour.py photo.jpg --out tour.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from freqforensics import BlockDCT
from freqforensics.viz import plot_band_energy


def load_image(path: str | None) -> torch.Tensor:
    """RGB ``(3, H, W)`` float tensor in [0, 1] from a file, or scikit-image's astronaut."""
    if path is None:
        from skimage import data

        array = data.astronaut()
    else:
        from PIL import Image

        array = np.asarray(Image.open(path).convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="image file (default: skimage astronaut)")
    parser.add_argument("--out", default="runs/frequency_tour.png", help="PNG to write")
    args = parser.parse_args(argv)
    image = load_image(args.image)
    coeffs = BlockDCT(crop=True)(image[None] * 255)[0, 0]  # Y channel, (64, h, w), 0-255 units
    energy = coeffs.flatten(1).pow(2).mean(1)
    share = energy / energy.sum()
    print(f"image {tuple(image.shape[1:])}, {coeffs.shape[1]} x {coeffs.shape[2]} blocks")
    print(f"{'band':>4} {'(u,v)':>6} {'mean energy':>12} {'share':>8}")
    from freqforensics.functional import zigzag_order

    order = zigzag_order(8)
    for k in range(64):
        u, v = divmod(int(order[k]), 8)
        print(f"{k:4d} {f'({u},{v})':>6} {energy[k].item():12.2f} {100 * share[k].item():7.3f}%")
    groups = {"DC": share[:1].sum(), "low 1-9": share[1:10].sum(), "mid 10-35": share[10:36].sum(),
              "high 36-63": share[36:].sum()}
    print("  ".join(f"{k}: {100 * float(v):.3f}%" for k, v in groups.items()))
    plot_band_energy(image, path=args.out)
    print(f"wrote {args.out}")
    return {k: float(v) for k, v in groups.items()}


if __name__ == "__main__":
    main()
