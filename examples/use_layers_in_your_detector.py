"""Use freqforensics layers inside your own detector: a ResNet-18 with a frequency stem.

The library's promise in one script: take a plain timm ResNet-18, add ``BlockDCT`` + ``SBCM``
as a frequency stem, and let ``FAAE`` inject the frequency features into the ResNet's
stride-8 stage (``layer2``), whose grid matches the 8x8 DCT blocks. Then train a few steps on
random data. Nothing here is specific to SFCL-HCMF.

    python examples/use_layers_in_your_detector.py --steps 5
"""

from __future__ import annotations

import argparse

import timm
import torch
from torch import nn

from freqforensics import FAAE, SBCM, BlockDCT


class FrequencyAwareResNet(nn.Module):
    """ResNet-18 whose stride-8 features are enhanced by block-DCT attention (FAAE)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = timm.create_model("resnet18", pretrained=False, num_classes=1)
        self.dct = BlockDCT(crop=True)  # (N, 3, 64, H/8, W/8), YCbCr, zigzag
        self.band_norm = nn.BatchNorm2d(3 * 64)  # DCT bands differ in scale by 1000x
        self.sbcm = SBCM(channels=(8, 16, 32))  # (N, 32 * 3, H/8, W/8), never mixes blocks
        self.faae = FAAE(spatial_channels=128, freq_channels=self.sbcm.out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        coeffs = self.dct(images)
        n, c, k, h, w = coeffs.shape
        bands = self.band_norm(coeffs.reshape(n, c * k, h, w)).view(n, c, k, h, w)
        freq = self.sbcm(bands)
        b = self.backbone
        x = b.maxpool(b.act1(b.bn1(b.conv1(images))))
        x = b.layer2(b.layer1(x))  # stride 8: the DCT block grid
        x = self.faae(x, freq)  # frequency-aware attention (paper eqs. 10 to 13)
        x = b.layer4(b.layer3(x))
        return b.forward_head(x).squeeze(-1)


def main(argv: list[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = FrequencyAwareResNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.rand(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 2, (args.batch,)).float()
    losses = []
    for step in range(args.steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        print(f"step {step + 1}: loss {loss.item():.4f}")
    return losses


if __name__ == "__main__":
    main()
