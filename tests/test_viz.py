"""Every plot type renders on small inputs; bad input raises ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from freqforensics import viz  # noqa: E402
from freqforensics.models import SFCLHCMF, preset  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_roc(tmp_path: Path) -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    fig = viz.plot_roc({"a": (y, np.linspace(0, 1, 6)), "b": (y, np.ones(6) * 0.5)},
                       path=tmp_path / "roc.png")
    assert len(fig.axes[0].lines) == 3  # two curves and the chance diagonal
    _png(tmp_path / "roc.png")


def _frames(video: str, label: int, probs: list[float]) -> list[dict[str, object]]:
    return [{"video_id": video, "label": label, "fake_probability": p} for p in probs]


def test_plot_video_scores(tmp_path: Path) -> None:
    runs = {"a": _frames("real", 0, [0.1, 0.3]) + _frames("fake", 1, [0.8]),
            # run b lacks the first video: its legend entry comes from the second
            "b": _frames("fake", 1, [0.6, 0.7]) + _frames("other", 1, [0.9])}
    fig = viz.plot_video_scores(runs, path=tmp_path / "videos.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["real (real)", "fake (fake)",
                                                            "other (fake)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    # one mean bar per (run, video) present: a has 2 videos, b has 2
    means = sorted(float(seg[0][1]) for c in ax.collections if hasattr(c, "get_segments")
                   for seg in c.get_segments())
    assert means == pytest.approx([0.2, 0.65, 0.8, 0.9])
    _png(tmp_path / "videos.png")


def test_plot_video_scores_bad_input() -> None:
    with pytest.raises(ValueError, match="runs must name at least one run"):
        viz.plot_video_scores({})
    with pytest.raises(ValueError, match=r"runs\['a'\] must hold predictions"):
        viz.plot_video_scores({"a": []})
    with pytest.raises(ValueError, match=r"runs\['a'\]: every prediction needs video_id, "
                       r"label, fake_probability; got one with label, video_id"):
        viz.plot_video_scores({"a": [{"video_id": "v", "label": 0}]})


@pytest.mark.parametrize("statistic", ["mean", "std", "skew", "kurt"])
@pytest.mark.parametrize("channel", ["Y", "Cb", "Cr"])
def test_plot_sida_statistics_lines(statistic: str, channel: str) -> None:
    real, fake = torch.rand(4, 2304), torch.rand(3, 2304)
    fig = viz.plot_sida_statistics(real, fake, statistic=statistic, channel=channel)
    top, diff = fig.axes
    s, c = ["mean", "std", "skew", "kurt"].index(statistic), ["Y", "Cb", "Cr"].index(channel)
    expected_real = real.double().view(-1, 4, 3, 192)[:, s, c].mean(0).numpy()
    np.testing.assert_allclose(top.lines[0].get_ydata(), expected_real)
    expected_diff = fake.double().view(-1, 4, 3, 192)[:, s, c].mean(0).numpy() - expected_real
    np.testing.assert_allclose(diff.lines[0].get_ydata(), expected_diff, rtol=1e-6, atol=1e-12)


def test_plot_sida_statistics_bad_input() -> None:
    with pytest.raises(ValueError, match="statistic"):
        viz.plot_sida_statistics(torch.rand(2304), torch.rand(2304), statistic="median")
    with pytest.raises(ValueError, match="channel"):
        viz.plot_sida_statistics(torch.rand(2304), torch.rand(2304), channel="R")
    with pytest.raises(ValueError, match="2304"):
        viz.plot_sida_statistics(torch.rand(100), torch.rand(2304))


def test_band_energy(tmp_path: Path) -> None:
    image = torch.rand(3, 40, 48)
    maps = viz.band_energy_maps(image)
    assert maps.shape == (64, 5, 6)
    viz.plot_band_energy(image, path=tmp_path / "bands.png")
    _png(tmp_path / "bands.png")
    with pytest.raises(ValueError, match="image"):
        viz.band_energy_maps(torch.rand(1, 16, 16))
    uint8 = (image * 255).round().to(torch.uint8)  # used to give maps 255 times too large
    with pytest.raises(ValueError, match=r"image must be a floating-point tensor.*uint8"):
        viz.band_energy_maps(uint8)
    with pytest.raises(ValueError, match=r"image must be a floating-point tensor.*uint8"):
        viz.plot_band_energy(uint8)
    with pytest.raises(TypeError, match="image must be a torch.Tensor, got ndarray"):
        viz.band_energy_maps(image.numpy())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"H, W >= 8, got \(3, 4, 4\)"):
        viz.band_energy_maps(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match=r"channel must be 0 \(Y\), 1 \(Cb\) or 2 \(Cr\), got 5"):
        viz.band_energy_maps(image, channel=5)
    cb = viz.band_energy_maps(image, channel=1)
    assert cb.shape == maps.shape and not torch.equal(cb, maps)


def test_plot_dct_energy(tmp_path: Path) -> None:
    real = torch.rand(3, 48, 40)
    fake = (real + 0.05 * torch.randn_like(real)).clamp(0, 1)
    fig = viz.plot_dct_energy(real, fake, path=tmp_path / "fig1.png")
    assert len(fig.axes) >= 9
    _png(tmp_path / "fig1.png")
    with pytest.raises(ValueError, match="same shape"):
        viz.plot_dct_energy(real, torch.rand(3, 40, 40))


def test_plot_attention_overlay(tmp_path: Path) -> None:
    fig = viz.plot_attention_overlay(torch.rand(3, 32, 32), {"m": torch.rand(4, 4)},
                                     path=tmp_path / "overlay.png")
    assert len(fig.axes) == 2
    _png(tmp_path / "overlay.png")
    with pytest.raises(ValueError, match="map"):
        viz.plot_attention_overlay(torch.rand(3, 32, 32), {"m": torch.rand(16)})


def test_explain_face_on_a_tiny_detector(tmp_path: Path) -> None:
    model = SFCLHCMF(preset("cpu", img_size=64, embed_dim=32, num_heads=2,
                            sbcm_channels=(4, 8, 8)))
    prob, maps = viz.explain_face(model, torch.rand(3, 90, 70), path=tmp_path / "explain.png")
    assert 0.0 <= prob <= 1.0
    assert set(maps) == {"FAAE: attention received", "HCMA: gated token contribution"}
    assert maps["FAAE: attention received"].shape == (8, 8)  # the stride-8 grid of 64 pixels
    _png(tmp_path / "explain.png")


def test_a_failed_save_keeps_the_last_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Figures are written through a temporary file, like every other output."""
    import matplotlib.figure

    path = tmp_path / "bands.png"
    viz.plot_band_energy(torch.rand(3, 16, 16), path=path)
    before = path.read_bytes()
    _png(path)

    def broken(self: object, fh: Any, **kwargs: Any) -> None:
        fh.write(b"half a figure")
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        viz.plot_band_energy(torch.rand(3, 16, 16), path=path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
