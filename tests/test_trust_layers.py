"""Issue 9 ("Trust"): each reproduction of items 8, 10 (layers and model) and 11, as a test.

- ``predict`` on a folder reports and skips unreadable images; it exits with 4 when no frame
  had a face (0 with a prediction, 2 for user errors).
- Contract exceptions: empty grids and token sequences, mixed dtypes, float64 images into a
  float32 model, ``SIDA(block_size=4)``, non-float SIDA vectors; NaN propagates.
- A one-time warning for images far outside [0, 1], skipped while compiled.
- Band mosaics put band (u, v) at grid row u, column v.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

matplotlib.use("Agg")

from freqforensics import FAAE, HCMA, SBCM, SIDA, viz  # noqa: E402
from freqforensics._checks import ShapeError  # noqa: E402
from freqforensics.cli import EXIT_NO_FACE, build_parser, main  # noqa: E402
from freqforensics.functional import block_idct, zigzag_order  # noqa: E402
from freqforensics.models import SFCLHCMF, preset  # noqa: E402

TINY = {"img_size": 64, "embed_dim": 32, "num_heads": 2, "sbcm_channels": (4, 8, 8)}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> SFCLHCMF:
    torch.manual_seed(0)
    return SFCLHCMF(preset("cpu", **TINY)).eval()


@pytest.fixture(scope="module")
def checkpoint(model: SFCLHCMF, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _texture(seed: int, size: int = 80) -> np.ndarray:
    """A smooth random RGB texture (no face), uint8 ``(size, size, 3)``."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 215, size=(size // 8, size // 8, 3))
    image = np.kron(coarse, np.ones((8, 8, 1))) + rng.normal(0, 6, size=(size, size, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------- item 8: predict folder


def _predict_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_predict_folder_skips_a_corrupt_image(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One corrupt file no longer stops the folder: status error, the rest is scored."""
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a_garbage.png").write_bytes(b"this is not an image")
    good = folder / "b_good.png"
    Image.fromarray(_texture(0)).save(good)
    truncated = folder / "c_truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])  # valid header, data cut off
    argv = ["predict", str(folder), "--checkpoint", str(checkpoint), "--no-detect"]
    code, result, err = _predict_json(argv, capsys)
    assert code == 0
    assert [f["status"] for f in result["frames"]] == ["error", "ok", "error"]
    bad, ok, cut = result["frames"]
    assert "cannot read image" in bad["error"] and "a_garbage.png" in bad["error"]
    assert "c_truncated.png" in cut["error"]
    assert bad["fake_probability"] is None and "error" not in ok
    assert result["fake_probability"] == ok["fake_probability"]
    assert result["frames_with_face"] == 1 and result["frames_with_error"] == 2
    assert "skipped a_garbage.png" in err and "skipped c_truncated.png" in err
    # The table says it too, and the single good image alone gives the same probability.
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["a_garbage.png", "error"] for line in out.splitlines())
    assert "2 with an error" in out
    single = ["predict", str(good), "--checkpoint", str(checkpoint), "--no-detect"]
    code, alone, _ = _predict_json(single, capsys)
    assert code == 0 and alone["fake_probability"] == pytest.approx(ok["fake_probability"])


def test_predict_folder_of_unreadable_images_is_an_error(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"garbage")
    argv = ["predict", str(folder), "--checkpoint", str(checkpoint), "--no-detect", "--json"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert [f["status"] for f in json.loads(captured.out)["frames"]] == ["error", "error"]
    assert "error: no frame of folder" in captured.err and "Traceback" not in captured.err
    # A single unreadable image stays a one-line user error.
    assert main(["predict", str(folder / "a.png"), "--checkpoint", str(checkpoint)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot read image" in err


def test_predict_without_a_face_exits_4(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``predict`` used to exit 0 when no frame had a face; now 4, with the report printed."""
    assert EXIT_NO_FACE == 4
    folder = tmp_path / "no_faces"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_texture(i)).save(folder / f"{i}.png")
    argv = ["predict", str(folder), "--checkpoint", str(checkpoint)]
    code, result, _ = _predict_json(argv, capsys)
    assert code == EXIT_NO_FACE
    assert [f["status"] for f in result["frames"]] == ["no_face", "no_face"]
    assert result["fake_probability"] is None and result["frames_without_face"] == 2
    assert main(argv) == EXIT_NO_FACE
    assert "no prediction (exit status 4)" in capsys.readouterr().out
    assert main(["predict", str(folder / "0.png"), "--checkpoint", str(checkpoint)]) == 4
    # The exit statuses are documented in the help.
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    epilog = sub.choices["predict"].epilog  # type: ignore[union-attr]
    assert "4  no frame had a face" in epilog and "2  bad arguments" in epilog


# ---------------------------------------------------------- item 10: contract exceptions


def _hcma() -> HCMA:
    return HCMA(spatial_dim=8, freq_dim=6, embed_dim=8, num_heads=2, gate_dim=10).eval()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: SBCM()(torch.randn(1, 3, 64, 0, 4)), r"coeffs .*h=0"),
        (lambda: SBCM()(torch.randn(1, 3, 64, 4, 0)), r"coeffs .*w=0"),
        (lambda: FAAE(8, 6)(torch.randn(1, 8, 0, 4), torch.randn(1, 6, 4, 4)), r"x_s .*h=0"),
        (lambda: FAAE(8, 6)(torch.randn(1, 8, 4, 4), torch.randn(1, 6, 4, 0)), r"x_f .*w'=0"),
        (lambda: _hcma()(torch.randn(1, 0, 8), torch.randn(1, 3, 6)), r"s .*L=0"),
        (lambda: _hcma()(torch.randn(1, 3, 8), torch.randn(1, 0, 6)), r"f .*L=0"),
    ],
)
def test_empty_grids_raise_shape_error(call, match: str) -> None:  # noqa: ANN001
    """Zero-size grids used to raise torch RuntimeErrors (or NaN for an empty key sequence)."""
    with pytest.raises(ShapeError, match=match):
        call()


def test_empty_batch_gives_an_empty_output() -> None:
    """The documented choice: N = 0 is allowed, in eval and training mode."""
    for train in (False, True):
        assert SBCM().train(train)(torch.randn(0, 3, 64, 4, 4)).shape == (0, 192, 4, 4)
        faae = FAAE(8, 6).train(train)
        assert faae(torch.randn(0, 8, 4, 4), torch.randn(0, 6, 3, 3)).shape == (0, 8, 4, 4)
        hcma = _hcma().train(train)
        out = hcma(torch.randn(0, 3, 8), torch.randn(0, 2, 6), torch.randn(0, 10))
        assert out.shape == (0, 8)


def test_second_modality_is_cast_to_the_first() -> None:
    """HCMA with a float64 ``f`` used to raise a RuntimeError; now cast, as FAAE does."""
    torch.manual_seed(1)
    hcma = _hcma()
    s, f, d = torch.randn(2, 3, 8), torch.randn(2, 4, 6), torch.randn(2, 10)
    expected = hcma(s, f, d)
    got = hcma(s, f.double(), d.double())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
    faae = FAAE(8, 6).eval()
    x_s, x_f = torch.randn(2, 8, 4, 4), torch.randn(2, 6, 3, 3)
    torch.testing.assert_close(faae(x_s, x_f.double()), faae(x_s, x_f))
    # Float64 layers take float32 second inputs the same way.
    hcma64 = _hcma().double()
    assert hcma64(s.double(), f, d).dtype == torch.float64


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: SBCM()(torch.randn(1, 3, 64, 2, 2, dtype=torch.float64)), "coeffs"),
        (
            lambda: FAAE(8, 6)(torch.randn(1, 8, 4, 4).double(), torch.randn(1, 6, 4, 4)),
            "x_s",
        ),
        (lambda: _hcma()(torch.randn(1, 3, 8).double(), torch.randn(1, 3, 6)), "s"),
    ],
)
def test_first_input_must_match_the_parameters(call, name: str) -> None:  # noqa: ANN001
    with pytest.raises(ShapeError, match=rf"^{name} has dtype torch.float64, .*torch.float32"):
        call()


def test_autocast_skips_the_dtype_rule() -> None:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = _hcma()(torch.randn(2, 3, 8, dtype=torch.bfloat16), torch.randn(2, 3, 6))
    assert out.shape == (2, 8)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.uint8])
def test_non_float_sida_vectors_raise(model: SFCLHCMF, dtype: torch.dtype) -> None:
    """A bool SIDA vector used to raise NotImplementedError, an integer one passed silently."""
    images = torch.rand(2, 3, 64, 64)
    with pytest.raises(ShapeError, match=rf"^sida must be a floating-point .*{dtype}"):
        model(images, sida=torch.ones(2, 2304, dtype=dtype))
    with pytest.raises(ShapeError, match=rf"^d must be a floating-point .*{dtype}"):
        _hcma()(torch.randn(2, 3, 8), torch.randn(2, 3, 6), torch.ones(2, 10, dtype=dtype))


def test_model_float64_images_into_float32_weights(model: SFCLHCMF) -> None:
    """Used to raise torch's 'mixed dtype (CPU)' RuntimeError from deep inside the backbone."""
    images = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with pytest.raises(ShapeError, match=r"^images has dtype torch.float64.*SFCLHCMF"):
        model(images)
    with torch.no_grad():  # a float64 sida vector is cast, as documented
        out = model(images.float(), sida=SIDA()(images))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_sida_block_size_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="block_size must be 8, got 4"):
        SIDA(block_size=4)
    with pytest.raises(TypeError, match="block_size must be an int"):
        SIDA(block_size=8.0)  # type: ignore[arg-type]


def test_nan_propagates_like_torch_ops() -> None:
    """The documented behaviour: no NaN check, NaN reaches the output."""
    coeffs = torch.randn(1, 3, 64, 3, 3)
    coeffs[0, 0, 5, 1, 1] = float("nan")
    assert SBCM().eval()(coeffs).isnan().any()
    x_f = torch.randn(1, 6, 3, 3)
    x_f[0, 0, 0, 0] = float("nan")
    assert FAAE(8, 6).eval()(torch.randn(1, 8, 3, 3), x_f).isnan().all()
    s = torch.randn(1, 3, 8)
    s[0, 1, 2] = float("nan")
    assert _hcma()(s, torch.randn(1, 2, 6)).isnan().all()
    images = torch.rand(1, 3, 32, 32)
    images[0, 0, 5, 5] = float("nan")
    assert SIDA()(images).isnan().any()


# ----------------------------------------------------------- item 10: plausible inputs


def test_images_in_0_255_warn_once(model: SFCLHCMF) -> None:
    model._range_warned = model._range_checked = False
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(images)
        assert not caught
        model(images * 255)
        model(images * 255)
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert "far outside [0, 1]" in str(caught[0].message) and "255" in str(caught[0].message)


def test_range_check_is_skipped_while_compiling(
    model: SFCLHCMF, monkeypatch: pytest.MonkeyPatch
) -> None:
    model._range_warned = model._range_checked = False
    # Traced by dynamo in one graph: no graph break, no data-dependent branch, no warning.
    check = torch.compile(
        lambda x: (model._warn_if_not_unit_range(x), x * 2)[1], backend="eager", fullgraph=True
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(torch.full((1, 3, 8, 8), 200.0))
    assert not caught and not model._range_checked
    monkeypatch.setattr("freqforensics.models.sfcl_hcmf.is_tracing", lambda: True)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.rand(1, 3, 64, 64) * 255)
    assert not caught


# ------------------------------------------------------------------ item 11: band mosaics


def _cell(mosaic: np.ndarray, u: int, v: int, h: int, w: int) -> np.ndarray:
    return mosaic[u * h : (u + 1) * h, v * w : (v + 1) * w]


def test_band_mosaic_puts_band_uv_at_row_u_column_v() -> None:
    zz = zigzag_order(8)
    h, w = 2, 3
    for p in range(64):
        u, v = divmod(int(zz[p]), 8)
        maps = torch.zeros(64, h, w)
        maps[p] = 1.0
        mosaic = viz.band_mosaic(maps).numpy()
        assert mosaic.shape == (8 * h, 8 * w)
        assert (_cell(mosaic, u, v, h, w) == 1).all(), (p, u, v)
        assert mosaic.sum() == h * w
    with pytest.raises(ShapeError, match="maps"):
        viz.band_mosaic(torch.zeros(63, 2, 2))


def _single_band_image(u: int, v: int, blocks: int = 4) -> torch.Tensor:
    """A grey image whose 8x8 blocks all hold the DC and the one band (u, v)."""
    coeffs = torch.zeros(64, blocks, blocks, dtype=torch.float64)
    coeffs[8 * u + v] = 1.0
    y = 0.5 + block_idct(coeffs, zigzag=False)
    return y.expand(3, -1, -1).float()


def _energy_cells(mosaic: np.ndarray, blocks: int = 4) -> set[tuple[int, int]]:
    return {
        (u, v)
        for u in range(8)
        for v in range(8)
        if _cell(mosaic, u, v, blocks, blocks).min() > 1.0
    }


@pytest.mark.parametrize(("u", "v"), [(1, 3), (3, 1), (0, 5), (6, 2)])
def test_band_energy_figures_draw_the_band_at_its_cell(u: int, v: int) -> None:
    """Zigzag band 13 = (1, 3) used to be drawn at (13 // 8, 13 % 8) = (1, 5)."""
    image = _single_band_image(u, v)
    mosaic = viz.band_mosaic(viz.band_energy_maps(image)).numpy()
    assert _energy_cells(mosaic) == {(0, 0), (u, v)}  # the DC (grey level) and the band
    assert np.abs(mosaic).max() == mosaic.max()
    fig = viz.plot_band_energy(image)
    (ax,) = [a for a in fig.axes if "band (u, v)" in a.get_title()]
    drawn = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(drawn, mosaic)
    assert _energy_cells(drawn) == {(0, 0), (u, v)}
    other = _single_band_image(v, u)
    fig = viz.plot_dct_energy(image, other)
    for label, band in (("real", (u, v)), ("fake", (v, u))):
        title = f"{label}: block DCT band energy (8 x 8 bands)"
        (ax,) = [a for a in fig.axes if a.get_title() == title]
        assert _energy_cells(np.asarray(ax.images[0].get_array())) == {(0, 0), band}


# ------------------------------------------------------------- review 4: the layers as a user
def test_sida_of_grey_images_is_finite_in_float32() -> None:
    """The chroma of a grey image is rounding noise (about 1e-15): its third and fourth powers
    underflowed in float32, and skewness and kurtosis came out 0/0 = NaN."""
    from freqforensics import functional as FF

    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    two_tone = torch.cat([torch.full((1, 3, 32, 16), 0.3), torch.full((1, 3, 32, 16), 0.7)], -1)
    for image in (ramp, two_tone):
        assert torch.isfinite(SIDA()(image)).all()
    coeffs = torch.zeros(1, 64, 2, 2)
    coeffs[0, 5, 0, 0] = 1e-15  # scale-free statistics: as in float64
    torch.testing.assert_close(FF.sida_statistics(coeffs)[:, 0, 0, 5].double(),
                               FF.sida_statistics(coeffs.double())[:, 0, 0, 5])
    natural = torch.rand(2, 3, 40, 48)  # untouched where nothing underflows
    torch.testing.assert_close(SIDA()(natural), SIDA()(natural.double()).float(),
                               atol=1e-4, rtol=1e-4)


def test_attention_layers_name_a_one_value_batchnorm_in_training() -> None:
    """It was torch's "Expected more than 1 value per channel", with an internal shape."""
    with pytest.raises(ShapeError, match=r"HCMA in training mode .* s of shape \(1, 16\) .*"
                       r"\.eval\(\)"):
        HCMA(16, 24, 32, 4, 40).train()(torch.rand(1, 16), torch.rand(1, 24), torch.rand(1, 40))
    with pytest.raises(ShapeError, match=r"FAAE in training mode .* x_s of shape \(1, 8, 1, 1\)"):
        FAAE(8, 12).train()(torch.rand(1, 8, 1, 1), torch.rand(1, 12, 1, 1))
    assert HCMA(16, 24, 32, 4, 40).eval()(torch.rand(1, 16), torch.rand(1, 24)).shape == (1, 32)
    assert FAAE(8, 12).train()(torch.rand(1, 8, 2, 1), torch.rand(1, 12, 2, 1)).shape[0] == 1


def test_dct_flags_must_be_bools() -> None:
    from freqforensics import BlockDCT, BlockIDCT

    with pytest.raises(ValueError, match="zigzag must be True or False, got 'no'"):
        BlockDCT(zigzag="no")  # type: ignore[arg-type]  # once truthy: zigzag on
    with pytest.raises(ValueError, match="crop must be True or False, got 1"):
        BlockDCT(crop=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zigzag must be True or False"):
        BlockIDCT(zigzag=None)  # type: ignore[arg-type]


def test_the_uint8_hint_is_for_images_only() -> None:
    from freqforensics import BlockDCT, BlockIDCT

    with pytest.raises(ShapeError, match=r"images\.float\(\) / 255 for uint8 images"):
        BlockDCT()(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ShapeError, match=r"e\.g\. coeffs\.float\(\)$"):
        BlockIDCT()(torch.zeros(1, 3, 64, 2, 2, dtype=torch.long))  # no "/ 255" for DCT values
