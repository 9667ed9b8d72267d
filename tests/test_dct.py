"""Tests of the zigzag order, ``block_dct`` / ``block_idct`` and the ``BlockDCT`` modules."""

from __future__ import annotations

import re

import jpeglib
import numpy as np
import pytest
import scipy.fft
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import block_inputs, images

from freqforensics import BlockDCT, BlockIDCT
from freqforensics._checks import ShapeError
from freqforensics.functional import (
    block_dct,
    block_idct,
    dct_matrix,
    rgb_to_ycbcr,
    ycbcr_to_rgb,
    zigzag_order,
)

# ITU-T T.81 (JPEG), Figure A.6, as libjpeg's ``jpeg_natural_order``: entry p is the natural
# (row-major) index of the coefficient at zigzag position p.
JPEG_ZIGZAG = [
    0, 1, 8, 16, 9, 2, 3, 10,
    17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34,
    27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46,
    53, 60, 61, 54, 47, 55, 62, 63,
]  # fmt: skip
# Figure A.6 drawn as the 8x8 block: the zigzag position of coefficient (u, v) at row u.
JPEG_ZIGZAG_FIGURE = [
    [0, 1, 5, 6, 14, 15, 27, 28],
    [2, 4, 7, 13, 16, 26, 29, 42],
    [3, 8, 12, 17, 25, 30, 41, 43],
    [9, 11, 18, 24, 31, 40, 44, 53],
    [10, 19, 23, 32, 39, 45, 52, 54],
    [20, 22, 33, 38, 46, 51, 55, 60],
    [21, 34, 37, 47, 50, 56, 59, 61],
    [35, 36, 48, 49, 57, 58, 62, 63],
]


def walk_zigzag(n: int) -> list[int]:
    """Independent oracle: walk the zigzag path cell by cell, as an encoder does."""
    order, u, v = [], 0, 0
    for _ in range(n * n):
        order.append(n * u + v)
        if (u + v) % 2 == 0:  # moving up and to the right
            if v == n - 1:
                u += 1
            elif u == 0:
                v += 1
            else:
                u, v = u - 1, v + 1
        else:  # moving down and to the left
            if u == n - 1:
                v += 1
            elif v == 0:
                u += 1
            else:
                u, v = u + 1, v - 1
    return order


def scipy_block_dct(x: np.ndarray, bs: int = 8) -> np.ndarray:
    """Oracle: ``scipy.fft.dctn(norm="ortho")`` on every block; ``(..., bs*bs, h, w)`` natural."""
    *lead, hh, ww = x.shape
    h, w = hh // bs, ww // bs
    blocks = x.reshape(*lead, h, bs, w, bs)
    blocks = np.moveaxis(blocks, -3, -2)  # (..., h, w, bs(u), bs(v))
    coeffs = scipy.fft.dctn(blocks, axes=(-2, -1), norm="ortho")
    coeffs = coeffs.reshape(*lead, h, w, bs * bs)
    return np.moveaxis(coeffs, -1, -3)


class TestZigzagOrder:
    def test_first_entries(self) -> None:
        assert zigzag_order()[:10].tolist() == [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]

    def test_jpeg_table(self) -> None:
        z = zigzag_order(8)
        assert z.dtype == torch.long and z.shape == (64,)
        assert z.tolist() == JPEG_ZIGZAG

    def test_figure_a6(self) -> None:
        # The inverse permutation is the figure: the position of each (u, v) in the scan.
        inverse = torch.argsort(zigzag_order(8)).view(8, 8)
        assert inverse.tolist() == JPEG_ZIGZAG_FIGURE

    @given(n=st.integers(1, 16))
    def test_permutation_and_inverse(self, n: int) -> None:
        z = zigzag_order(n)
        assert sorted(z.tolist()) == list(range(n * n))
        inv = torch.argsort(z)
        values = torch.arange(n * n) * 10
        assert torch.equal(values[z][inv], values)
        assert torch.equal(z[inv], torch.arange(n * n))

    @pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 16])
    def test_other_sizes_match_walk(self, n: int) -> None:
        assert zigzag_order(n).tolist() == walk_zigzag(n)

    def test_walk_oracle_is_jpeg(self) -> None:
        assert walk_zigzag(8) == JPEG_ZIGZAG

    @pytest.mark.parametrize("bad", [0, -1])
    def test_bad_value(self, bad: int) -> None:
        with pytest.raises(ValueError, match="block_size"):
            zigzag_order(bad)

    @pytest.mark.parametrize("bad", [8.0, True, "8"])
    def test_bad_type(self, bad: object) -> None:
        with pytest.raises(TypeError, match="block_size"):
            zigzag_order(bad)  # type: ignore[arg-type]


class TestDctMatrix:
    @pytest.mark.parametrize("zigzag", [True, False])
    @pytest.mark.parametrize("bs", [2, 8])
    def test_orthogonal(self, bs: int, zigzag: bool) -> None:
        m = dct_matrix(bs, zigzag)
        assert m.dtype == torch.float64
        torch.testing.assert_close(m @ m.T, torch.eye(bs * bs, dtype=torch.float64))

    def test_dtype(self) -> None:
        assert dct_matrix(8, dtype=torch.float32).dtype == torch.float32


class TestBlockDct:
    def test_smoke(self) -> None:
        c = block_dct(torch.rand(2, 3, 32, 48))
        assert c.shape == (2, 3, 64, 4, 6)

    @pytest.mark.parametrize("bs", [4, 8, 16])
    @pytest.mark.parametrize("zigzag", [True, False])
    def test_matches_scipy(self, bs: int, zigzag: bool) -> None:
        x = np.random.default_rng(bs).standard_normal((2, 3 * bs, 2 * bs))
        ref = scipy_block_dct(x, bs)
        if zigzag:
            ref = ref[..., zigzag_order(bs).numpy(), :, :]
        ours = block_dct(torch.from_numpy(x), bs, zigzag=zigzag).numpy()
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)

    def test_natural_order_index(self) -> None:
        # Coefficient (u, v) of block (i, j) sits at natural index 8u + v.
        x = np.random.default_rng(0).standard_normal((16, 24))
        ours = block_dct(torch.from_numpy(x), zigzag=False).numpy()
        for i, j in [(0, 0), (1, 2), (0, 1)]:
            ref = scipy.fft.dctn(x[8 * i : 8 * i + 8, 8 * j : 8 * j + 8], norm="ortho")
            for u, v in [(0, 0), (1, 0), (0, 1), (2, 5), (7, 3)]:
                assert ours[8 * u + v, i, j] == pytest.approx(ref[u, v], abs=1e-12)

    def test_u_is_vertical(self) -> None:
        # An image varying only down the rows has energy in (u, 0) only: vertical frequency.
        rows = torch.cos(torch.pi * (2 * torch.arange(8.0, dtype=torch.float64) + 1) / 16)
        x = rows[:, None].expand(8, 8)
        c = block_dct(x, zigzag=False)[:, 0, 0]
        # (u, v) = (1, 0): x is the basis image sqrt(2/8) cos(.) * sqrt(1/8) times sqrt(32).
        assert c[8] == pytest.approx(32**0.5)
        assert c.abs().argmax().item() == 8
        cz = block_dct(x)[:, 0, 0]
        assert cz.abs().argmax().item() == 2  # zigzag position of (1, 0)
        assert cz[1].abs() < 1e-12  # position 1 is (0, 1): horizontal

    def test_dc_of_constant(self) -> None:
        c = block_dct(torch.full((16, 16), 0.25, dtype=torch.float64))
        torch.testing.assert_close(c[0], torch.full((2, 2), 2.0, dtype=torch.float64))
        assert c[1:].abs().max() < 1e-14

    def test_zigzag_is_a_gather_of_natural(self) -> None:
        x = torch.randn(3, 16, 16, dtype=torch.float64)
        nat = block_dct(x, zigzag=False)
        torch.testing.assert_close(block_dct(x), nat[..., zigzag_order(), :, :], rtol=0, atol=0)

    @given(block_inputs(block_sizes=(2, 4, 8)))
    def test_shapes(self, xb: tuple[torch.Tensor, int]) -> None:
        x, bs = xb
        c = block_dct(x, bs)
        assert c.shape == (*x.shape[:-2], bs * bs, x.shape[-2] // bs, x.shape[-1] // bs)
        assert c.dtype == x.dtype

    @given(block_inputs(block_sizes=(4, 8)), st.booleans())
    def test_inverse(self, xb: tuple[torch.Tensor, int], zigzag: bool) -> None:
        x, bs = xb
        y = block_idct(block_dct(x, bs, zigzag), bs, zigzag)
        tol = 1e-12 if x.dtype == torch.float64 else 2e-6
        scale = float(x.abs().max()) + 1e-30
        torch.testing.assert_close(y, x, rtol=0, atol=tol * scale)

    @given(block_inputs(dtype=torch.float64))
    def test_parseval(self, xb: tuple[torch.Tensor, int]) -> None:
        x, bs = xb
        c = block_dct(x, bs)
        torch.testing.assert_close(
            c.square().sum(dim=(-3, -2, -1)), x.square().sum(dim=(-2, -1)), rtol=1e-12, atol=0
        )

    @pytest.mark.parametrize("lead", [(), (2,), (2, 3), (1, 2, 1, 2)])
    def test_leading_dims(self, lead: tuple[int, ...]) -> None:
        x = torch.randn(*lead, 16, 8, dtype=torch.float64)
        c = block_dct(x)
        assert c.shape == (*lead, 64, 2, 1)
        flat = block_dct(x.reshape(-1, 16, 8))
        torch.testing.assert_close(c.reshape(flat.shape), flat)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_dtype_preserved(self, dtype: torch.dtype) -> None:
        x = torch.rand(2, 16, 16, dtype=torch.float64)
        c = block_dct(x.to(dtype))
        assert c.dtype == dtype
        assert block_idct(c).dtype == dtype
        torch.testing.assert_close(c.double(), block_dct(x), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_precision(self, dtype: torch.dtype) -> None:
        x = torch.rand(2, 16, 16)
        c = block_dct(x.to(dtype))
        assert c.dtype == dtype and torch.isfinite(c).all()
        torch.testing.assert_close(c.float(), block_dct(x), rtol=0, atol=0.05)

    def test_autocast_bfloat16(self) -> None:
        x = torch.rand(2, 3, 16, 16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            c = block_dct(x)
        assert c.shape == (2, 3, 64, 2, 2) and torch.isfinite(c).all()

    def test_non_contiguous(self) -> None:
        x = torch.randn(16, 24, 2, dtype=torch.float64).permute(2, 0, 1)
        assert not x.is_contiguous()
        torch.testing.assert_close(block_dct(x), block_dct(x.contiguous()), rtol=0, atol=0)

    def test_empty_batch(self) -> None:
        assert block_dct(torch.rand(0, 3, 16, 8)).shape == (0, 3, 64, 2, 1)

    def test_gradcheck(self) -> None:
        # Full Jacobians on one block; random projections (fast mode) on a batch.
        x = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(block_dct, (x,))
        assert torch.autograd.gradcheck(lambda t: block_dct(t, 4, False), (x[:4],))
        c = torch.randn(16, 1, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: block_idct(t, 4), (c,))
        xb = torch.randn(2, 8, 16, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(block_dct, (xb,), fast_mode=True)
        cb = torch.randn(2, 64, 1, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(block_idct, (cb,), fast_mode=True)

    def test_compile_traces(self) -> None:
        torch._dynamo.reset()
        x = torch.rand(2, 3, 16, 24)
        fn = torch.compile(block_dct, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(fn(x), block_dct(x))
        inv = torch.compile(block_idct, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(inv(block_dct(x)), block_idct(block_dct(x)))

    @pytest.mark.slow
    def test_compile_inductor(self) -> None:
        torch._dynamo.reset()
        x = torch.rand(2, 3, 16, 24)
        fn = torch.compile(block_dct, fullgraph=True)
        torch.testing.assert_close(fn(x), block_dct(x), rtol=1e-5, atol=1e-5)


class TestBlockDctBadInput:
    def test_not_a_tensor(self) -> None:
        with pytest.raises(TypeError, match="x"):
            block_dct(np.zeros((8, 8)))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="coeffs"):
            block_idct([[0.0]])  # type: ignore[arg-type]

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.int32])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        with pytest.raises(ValueError, match=r"x must be a floating-point.*" + str(dtype)):
            block_dct(torch.zeros(8, 8, dtype=dtype))
        with pytest.raises(ValueError, match="coeffs"):
            block_idct(torch.zeros(64, 1, 1, dtype=dtype))

    @pytest.mark.parametrize(
        ("shape", "label"), [((12, 16), "H=12"), ((16, 20), "W=20"), ((3, 7, 8), "H=7")]
    )
    def test_not_multiple(self, shape: tuple[int, ...], label: str) -> None:
        with pytest.raises(ValueError, match=rf"x has shape .*{label}.*block_size=8"):
            block_dct(torch.zeros(shape))

    def test_not_multiple_other_block_size(self) -> None:
        block_dct(torch.zeros(12, 12), 4)
        with pytest.raises(ValueError, match="W=12.*block_size=8"):
            block_dct(torch.zeros(16, 12), 8)

    def test_zero_size(self) -> None:
        with pytest.raises(ValueError, match="H=0"):
            block_dct(torch.zeros(0, 8))

    def test_too_few_dims(self) -> None:
        with pytest.raises(ValueError, match=r"x must have at least 2 dimensions"):
            block_dct(torch.zeros(64))
        with pytest.raises(ValueError, match=r"coeffs must have at least 3 dimensions"):
            block_idct(torch.zeros(64, 4))

    def test_wrong_coefficient_count(self) -> None:
        with pytest.raises(ValueError, match=r"coeffs.*64.*\(2, 63, 2, 2\)"):
            block_idct(torch.zeros(2, 63, 2, 2))
        with pytest.raises(ValueError, match="coeffs.*16"):
            block_idct(torch.zeros(64, 2, 2), block_size=4)

    @pytest.mark.parametrize("bs", [0, -8])
    def test_bad_block_size(self, bs: int) -> None:
        with pytest.raises(ValueError, match="block_size"):
            block_dct(torch.zeros(8, 8), bs)
        with pytest.raises(ValueError, match="block_size"):
            block_idct(torch.zeros(64, 1, 1), bs)

    def test_block_size_type(self) -> None:
        with pytest.raises(TypeError, match="block_size"):
            block_dct(torch.zeros(8, 8), 8.0)  # type: ignore[arg-type]


def _smooth_image(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 90 * np.sin(xx / 9.0 + rng.uniform(0, 6)) * np.cos(yy / 13.0)
    return np.clip(np.round(base + rng.normal(0, 3, (h, w))), 0, 255).astype(np.uint8)


class TestLibjpegAgreement:
    """``round(block_dct(x - 128) / Q)`` equals libjpeg's float-DCT coefficients (to 1)."""

    @pytest.mark.parametrize("quality", [50, 75, 95])
    @pytest.mark.parametrize("size", [(64, 64), (128, 96)])
    @pytest.mark.parametrize("kind", ["random", "smooth"])
    def test_quantised_coefficients(
        self, tmp_path, quality: int, size: tuple[int, int], kind: str
    ) -> None:
        rng = np.random.default_rng(quality + size[1])
        if kind == "random":
            x = rng.integers(0, 256, size, dtype=np.uint8)
        else:
            x = _smooth_image(*size, rng)
        path = str(tmp_path / "gray.jpg")
        jpeglib.from_spatial(x[..., None]).write_spatial(
            path, qt=quality, dct_method=jpeglib.JDCT_FLOAT
        )
        jpeg = jpeglib.read_dct(path)
        ref = jpeg.Y.astype(np.int64)  # (h, w, 8, 8): block row, block col, u, v
        qt = jpeg.qt[0].astype(np.float64)  # (8, 8) natural order, (u, v)
        h, w = size[0] // 8, size[1] // 8
        assert ref.shape == (h, w, 8, 8)
        c = block_dct(torch.from_numpy(x.astype(np.float64) - 128), zigzag=False).numpy()
        ours = np.round(c.reshape(8, 8, h, w).transpose(2, 3, 0, 1) / qt).astype(np.int64)
        diff = np.abs(ours - ref)
        assert diff.max() <= 1
        assert (diff == 0).mean() > 0.99

    def test_zigzag_matches_jpeg_scan(self, tmp_path) -> None:
        # The zigzag coefficient axis is libjpeg's natural-order block gathered by the scan.
        x = _smooth_image(16, 16, np.random.default_rng(3))
        path = str(tmp_path / "gray.jpg")
        jpeglib.from_spatial(x[..., None]).write_spatial(
            path, qt=100, dct_method=jpeglib.JDCT_FLOAT
        )
        jpeg = jpeglib.read_dct(path)
        qt = jpeg.qt[0].astype(np.float64).reshape(64)[JPEG_ZIGZAG]
        c = block_dct(torch.from_numpy(x.astype(np.float64) - 128)).numpy()  # zigzag
        ours = np.round(c / qt[:, None, None])
        ref = jpeg.Y.reshape(2, 2, 64)[..., JPEG_ZIGZAG].transpose(2, 0, 1)
        assert np.abs(ours - ref).max() <= 1


class TestBlockDCTModule:
    def test_smoke(self) -> None:
        y = BlockDCT()(torch.rand(2, 3, 32, 24))
        assert y.shape == (2, 3, 64, 4, 3)

    def test_equals_function_float64(self) -> None:
        x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
        y = BlockDCT()(x)
        assert y.dtype == torch.float64
        torch.testing.assert_close(y, block_dct(rgb_to_ycbcr(x)), rtol=0, atol=1e-13)

    def test_equals_function_float32(self) -> None:
        x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
        y = BlockDCT()(x.float())
        assert y.dtype == torch.float32
        torch.testing.assert_close(y.double(), block_dct(rgb_to_ycbcr(x)), rtol=1e-5, atol=1e-5)

    @given(x=images())
    def test_equals_function_hypothesis(self, x: torch.Tensor) -> None:
        tol = 1e-12 if x.dtype == torch.float64 else 1e-5
        torch.testing.assert_close(BlockDCT()(x), block_dct(rgb_to_ycbcr(x)), rtol=tol, atol=tol)

    @pytest.mark.parametrize("zigzag", [True, False])
    def test_color_none(self, zigzag: bool) -> None:
        x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
        y = BlockDCT(zigzag=zigzag, color="none")(x)
        torch.testing.assert_close(y, block_dct(x, zigzag=zigzag), rtol=0, atol=1e-13)

    def test_natural_order_and_block_size(self) -> None:
        x = torch.rand(1, 3, 16, 8, dtype=torch.float64)
        y = BlockDCT(block_size=4, zigzag=False)(x)
        assert y.shape == (1, 3, 16, 4, 2)
        torch.testing.assert_close(y, block_dct(rgb_to_ycbcr(x), 4, False), rtol=0, atol=1e-13)

    def test_crop(self) -> None:
        x = torch.rand(2, 3, 21, 30, dtype=torch.float64)
        y = BlockDCT(crop=True)(x)
        assert y.shape == (2, 3, 64, 2, 3)
        torch.testing.assert_close(y, BlockDCT()(x[..., :16, :24]), rtol=0, atol=0)

    @pytest.mark.parametrize(("size", "label"), [((21, 24), "H=21"), ((16, 30), "W=30")])
    def test_no_crop_raises(self, size: tuple[int, int], label: str) -> None:
        with pytest.raises(ValueError, match=rf"images.*{label}.*crop=True"):
            BlockDCT()(torch.rand(1, 3, *size))

    def test_crop_too_small(self) -> None:
        with pytest.raises(ValueError, match="images.*smaller than one"):
            BlockDCT(crop=True)(torch.rand(1, 3, 7, 16))

    @pytest.mark.parametrize("color", ["ycbcr", "none"])
    @pytest.mark.parametrize("zigzag", [True, False])
    def test_inverse(self, color: str, zigzag: bool) -> None:
        fwd, inv = BlockDCT(zigzag=zigzag, color=color), BlockIDCT(zigzag=zigzag, color=color)
        x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
        c = fwd(x)
        torch.testing.assert_close(inv(c), x, rtol=0, atol=1e-13)
        torch.testing.assert_close(fwd(inv(c)), c, rtol=0, atol=1e-13)
        torch.testing.assert_close(inv(c.float()), x.float(), rtol=0, atol=1e-5)

    def test_inverse_back_to_rgb(self) -> None:
        x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
        c = block_dct(rgb_to_ycbcr(x))
        torch.testing.assert_close(BlockIDCT()(c), ycbcr_to_rgb(block_idct(c)))
        assert BlockIDCT()(c).shape == (1, 3, 8, 8)

    @pytest.mark.parametrize("module", [BlockDCT, BlockIDCT])
    def test_buffers_not_persistent(self, module) -> None:
        m = module()
        assert len(list(m.buffers())) > 0
        assert m.state_dict() == {}
        m.load_state_dict({})  # strict: loading an empty state dict must work

    def test_module_dtype_conversion(self) -> None:
        m = BlockDCT().double()
        x = torch.rand(1, 3, 8, 8)
        assert m(x).dtype == torch.float32
        assert m(x.double()).dtype == torch.float64

    def test_channels_last(self) -> None:
        x = torch.rand(2, 3, 16, 16)
        y = BlockDCT()(x.to(memory_format=torch.channels_last))
        torch.testing.assert_close(y, BlockDCT()(x), rtol=0, atol=0)

    def test_gradcheck(self) -> None:
        x = torch.rand(1, 3, 8, 16, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(BlockDCT(), (x,), fast_mode=True)
        assert torch.autograd.gradcheck(BlockDCT(block_size=2), (x[..., :2, :4],))
        c = torch.randn(1, 3, 64, 1, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(BlockIDCT(), (c,), fast_mode=True)

    def test_autocast_bfloat16(self) -> None:
        x = torch.rand(2, 3, 16, 16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = BlockDCT()(x)
            z = BlockIDCT()(y)
        assert y.shape == (2, 3, 64, 2, 2) and torch.isfinite(y).all()
        assert z.shape == x.shape and torch.isfinite(z).all()

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_input(self, dtype: torch.dtype) -> None:
        x = torch.rand(2, 3, 16, 16)
        y = BlockDCT()(x.to(dtype))
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), BlockDCT()(x), rtol=0, atol=0.05)

    def test_compile_traces(self) -> None:
        torch._dynamo.reset()
        m = BlockDCT()
        x = torch.rand(2, 3, 16, 24)
        fn = torch.compile(m, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(fn(x), m(x))

    @pytest.mark.slow
    def test_compile_inductor(self) -> None:
        torch._dynamo.reset()
        m = BlockDCT()
        x = torch.rand(2, 3, 16, 24)
        torch.testing.assert_close(torch.compile(m, fullgraph=True)(x), m(x), rtol=1e-5, atol=1e-5)

    def test_extra_repr(self) -> None:
        assert "color='none'" in repr(BlockDCT(color="none"))
        assert "crop=True" in repr(BlockDCT(crop=True))


class TestBlockDCTModuleBadInput:
    def test_not_a_tensor(self) -> None:
        with pytest.raises(TypeError, match="images"):
            BlockDCT()(np.zeros((1, 3, 8, 8), dtype=np.float32))
        with pytest.raises(TypeError, match="coeffs"):
            BlockIDCT()(np.zeros((1, 3, 64, 1, 1), dtype=np.float32))

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        with pytest.raises(ValueError, match="images.*floating-point"):
            BlockDCT()(torch.zeros(1, 3, 8, 8, dtype=dtype))
        with pytest.raises(ValueError, match="coeffs.*floating-point"):
            BlockIDCT()(torch.zeros(1, 3, 64, 1, 1, dtype=dtype))

    @pytest.mark.parametrize("shape", [(3, 8, 8), (1, 1, 3, 8, 8), (8, 8)])
    def test_wrong_ndim(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"images.*\(N, 3, H, W\)"):
            BlockDCT()(torch.zeros(shape))

    @pytest.mark.parametrize("channels", [1, 4])
    def test_wrong_channels(self, channels: int) -> None:
        with pytest.raises(ValueError, match=rf"images.*size 3.*\(1, {channels}, 8, 8\)"):
            BlockDCT()(torch.zeros(1, channels, 8, 8))

    @pytest.mark.parametrize("shape", [(1, 3, 63, 1, 1), (1, 1, 64, 1, 1), (3, 64, 1, 1)])
    def test_inverse_wrong_shape(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"coeffs must have shape \(N, 3, 64, h, w\)"):
            BlockIDCT()(torch.zeros(shape))

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="color"):
            BlockDCT(color="rgb")
        with pytest.raises(ValueError, match="color"):
            BlockIDCT(color="YCbCr")
        with pytest.raises(ValueError, match="block_size"):
            BlockDCT(block_size=0)
        with pytest.raises(TypeError, match="block_size"):
            BlockIDCT(block_size=8.0)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype: torch.dtype) -> None:
    x = torch.rand(2, 3, 16, 24, dtype=dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    c = block_dct(x.cuda())
    assert c.device.type == "cuda" and c.dtype == dtype
    torch.testing.assert_close(c.cpu(), block_dct(x), **tol)
    torch.testing.assert_close(block_idct(c).cpu(), x, **tol)
    fwd, inv = BlockDCT().cuda(), BlockIDCT().cuda()
    y = fwd(x.cuda())
    torch.testing.assert_close(y.cpu(), BlockDCT()(x), **tol)
    torch.testing.assert_close(inv(y).cpu(), x, **tol)


class TestPrecisionGuards:
    def test_dct_matrix_is_a_fresh_copy(self) -> None:
        from freqforensics.functional import dct_matrix

        m = dct_matrix(8)
        m.zero_()
        assert torch.allclose(dct_matrix(8) @ dct_matrix(8).T, torch.eye(64, dtype=torch.float64))

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_no_tf32_on_cuda(self) -> None:
        from freqforensics.functional import block_dct

        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high")  # a program that allows TF32
        try:
            x = torch.rand(4, 3, 64, 64, device="cuda")
            ref = block_dct(x.double().cpu())
            got = block_dct(x).double().cpu()
            assert (got - ref).abs().max().item() < 1e-5  # TF32 would give ~1e-3
            assert torch.get_float32_matmul_precision() == "high"  # setting restored
        finally:
            torch.set_float32_matmul_precision(previous)

    def test_guard_is_a_no_op_on_cpu(self) -> None:
        from freqforensics.functional.dct import exact_float32

        previous = torch.get_float32_matmul_precision()
        with exact_float32(torch.zeros(2)):
            assert torch.get_float32_matmul_precision() == previous


class TestEmptyGrids:
    """Zero-size spatial inputs raise the package's ShapeError; an empty batch is fine."""

    @pytest.mark.parametrize(("shape", "label"), [((1, 3, 64, 2, 0), "w"), ((1, 3, 64, 0, 3), "h")])
    def test_inverse_module_zero_grid(self, shape: tuple[int, ...], label: str) -> None:
        expected = rf"coeffs .*{label} axis .*h, w\).*{re.escape(str(shape))}"
        with pytest.raises(ShapeError, match=expected):
            BlockIDCT()(torch.zeros(shape))

    @pytest.mark.parametrize("shape", [(64, 2, 0), (2, 64, 0, 1)])
    def test_inverse_function_zero_grid(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ShapeError, match=rf"coeffs .*non-empty.*{re.escape(str(shape))}"):
            block_idct(torch.zeros(shape))

    @pytest.mark.parametrize(("shape", "label"), [((1, 3, 0, 8), "H=0"), ((2, 3, 8, 0), "W=0")])
    def test_forward_module_zero_size(self, shape: tuple[int, ...], label: str) -> None:
        expected = rf"images has shape {re.escape(str(shape))}: {label} is not"
        with pytest.raises(ShapeError, match=expected):
            BlockDCT()(torch.zeros(shape))
        with pytest.raises(ShapeError, match="images.*smaller than one 8 x 8 block"):
            BlockDCT(crop=True)(torch.zeros(shape))

    def test_forward_function_zero_size(self) -> None:
        with pytest.raises(ShapeError, match=r"x has shape \(2, 8, 0\): W=0"):
            block_dct(torch.zeros(2, 8, 0))

    def test_empty_batch_modules(self) -> None:
        x = torch.zeros(0, 3, 16, 24, requires_grad=True)
        y = BlockDCT()(x)
        assert y.shape == (0, 3, 64, 2, 3)
        y.sum().backward()
        assert x.grad is not None and x.grad.shape == x.shape
        assert BlockIDCT()(torch.zeros(0, 3, 64, 2, 3)).shape == (0, 3, 16, 24)
        assert block_idct(torch.zeros(0, 64, 1, 2)).shape == (0, 8, 16)


def _graph_and_eager(x: torch.Tensor, plan) -> tuple[torch.Tensor, torch.Tensor]:
    from freqforensics.functional import _dct_kernels as K
    from freqforensics.functional import dct as F

    return F._analysis_graph(x, plan), K.analysis_eager(x, plan)


class TestKernels:
    """The chunked eager kernels against the plain whole-batch operations and the oracles."""

    @pytest.fixture
    def tiny_chunks(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # A few KB per workspace: several chunks per batch, the last one partial.
        from freqforensics.functional import _dct_kernels as K

        monkeypatch.setattr(K, "_CHUNK_BYTES_CPU", 3 * 16 * 24 * 8 * 2)

    @pytest.mark.parametrize("chunked", [False, True])
    @pytest.mark.parametrize("color", ["ycbcr", "none"])
    @pytest.mark.parametrize("zigzag", [True, False])
    @pytest.mark.parametrize("bs", [2, 8])
    def test_eager_equals_graph(
        self, request: pytest.FixtureRequest, chunked: bool, color: str, zigzag: bool, bs: int
    ) -> None:
        from freqforensics.functional import _dct_kernels as K
        from freqforensics.functional import dct as F

        if chunked:
            request.getfixturevalue("tiny_chunks")
        x = torch.rand(5, 3, 16, 24, dtype=torch.float64)
        fwd, inv = BlockDCT(bs, zigzag, color), BlockIDCT(bs, zigzag, color)
        plan = F.BlockPlan(fwd.basis, fwd.zigzag_index, fwd.zigzag_inverse, fwd.mix, fwd.dc_offset)
        graph, eager = _graph_and_eager(x, plan)
        torch.testing.assert_close(eager, graph, rtol=0, atol=1e-13)
        assert eager.is_contiguous()
        torch.testing.assert_close(eager, block_dct(rgb_to_ycbcr(x) if color == "ycbcr" else x,
                                                    bs, zigzag), rtol=0, atol=1e-13)
        iplan = F.BlockPlan(inv.basis, inv.zigzag_index, inv.zigzag_inverse, inv.mix,
                            inv.dc_offset)
        back = K.synthesis_eager(eager, iplan)
        torch.testing.assert_close(back, F._synthesis_graph(eager, iplan), rtol=0, atol=1e-13)
        torch.testing.assert_close(back, x, rtol=0, atol=1e-13)
        assert back.is_contiguous()

    def test_chunked_float32_and_gradients(self, tiny_chunks: None) -> None:
        x = torch.rand(5, 3, 16, 24, dtype=torch.float64)
        y = BlockDCT()(x.float())
        torch.testing.assert_close(y.double(), block_dct(rgb_to_ycbcr(x)), rtol=1e-5, atol=1e-5)
        xg = x.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(BlockDCT(), (xg,), fast_mode=True)
        c = torch.randn(5, 3, 64, 2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(BlockIDCT(), (c,), fast_mode=True)
        assert torch.autograd.gradcheck(lambda t: block_dct(t, 4), (xg[:, 0],), fast_mode=True)

    @pytest.mark.parametrize("module", [BlockDCT, BlockIDCT])
    def test_double_backward(self, module) -> None:
        # The backward of each direction is the other direction: differentiable again.
        shape = (2, 3, 16, 8) if module is BlockDCT else (2, 3, 64, 2, 1)
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradgradcheck(module(), (x,), fast_mode=True)

    def test_gradient_of_sum(self) -> None:
        # The upstream gradient of .sum() is an expanded (stride 0) tensor.
        x = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
        BlockDCT()(x).sum().backward()
        ref = x.detach().clone().requires_grad_(True)
        block_dct(rgb_to_ycbcr(ref)).sum().backward()
        assert x.grad is not None and ref.grad is not None
        torch.testing.assert_close(x.grad, ref.grad, rtol=0, atol=1e-12)

    def test_non_contiguous_coefficients(self) -> None:
        c = torch.randn(2, 3, 64, 3, 2, dtype=torch.float64)
        t = c.transpose(-1, -2).contiguous().transpose(-1, -2)  # same values, other strides
        assert not t.is_contiguous()
        torch.testing.assert_close(BlockIDCT()(t), BlockIDCT()(c), rtol=0, atol=0)
        torch.testing.assert_close(block_idct(t), block_idct(c), rtol=0, atol=0)
        wide = torch.cat([c, c.flip(1)], dim=1)[:, :3]  # a channel slice: batch stride of 6
        assert not wide.is_contiguous()
        for zigzag in (True, False):
            for color in ("ycbcr", "none"):
                inv = BlockIDCT(zigzag=zigzag, color=color)
                torch.testing.assert_close(inv(wide), inv(c), rtol=0, atol=0)

    def test_cropped_and_channels_last_outputs_contiguous(self) -> None:
        x = torch.rand(2, 3, 21, 30).to(memory_format=torch.channels_last)
        y = BlockDCT(crop=True)(x)
        assert y.is_contiguous() and y.shape == (2, 3, 64, 2, 3)
        torch.testing.assert_close(y, BlockDCT()(x[..., :16, :24].contiguous()), rtol=0, atol=0)

    def test_input_not_modified(self) -> None:
        c = torch.randn(2, 3, 64, 2, 2)
        keep = c.clone()
        for zigzag in (True, False):
            BlockIDCT(zigzag=zigzag)(c)
        assert torch.equal(c, keep)

    def test_autocast_keeps_todays_dtype(self) -> None:
        x = torch.rand(2, 3, 16, 16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = BlockDCT()(x)
        assert y.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), BlockDCT()(x), rtol=0, atol=0.05)
