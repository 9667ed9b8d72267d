"""Tests of ``rgb_to_ycbcr`` and ``ycbcr_to_rgb`` (JPEG / JFIF full-range constants)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from strategies import images, lead_shapes, seeds

from freqforensics.functional import rgb_to_ycbcr, ycbcr_to_rgb
from freqforensics.functional.color import YCBCR_MATRIX, YCBCR_OFFSET

FUNCS = [rgb_to_ycbcr, ycbcr_to_rgb]


class TestRgbToYcbcr:
    def test_smoke(self) -> None:
        x = torch.rand(2, 3, 5, 7)
        y = rgb_to_ycbcr(x)
        assert y.shape == x.shape and y.dtype == x.dtype

    def test_constants_are_jpeg(self) -> None:
        # JFIF 1.02 section 7 / ITU-T T.871 equations, written out here independently.
        expected = np.array(
            [
                [0.299, 0.587, 0.114],
                [-0.168736, -0.331264, 0.5],
                [0.5, -0.418688, -0.081312],
            ]
        )
        assert np.array_equal(YCBCR_MATRIX, expected)
        assert np.array_equal(YCBCR_OFFSET, [0.0, 0.5, 0.5])

    def test_known_colours(self) -> None:
        rgb = torch.tensor(
            [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            dtype=torch.float64,
        )
        y = rgb_to_ycbcr(rgb.T.reshape(3, 1, 5)).reshape(3, 5).T
        expected = torch.tensor(
            [
                [1.0, 0.5, 0.5],
                [0.0, 0.5, 0.5],
                [0.299, 0.5 - 0.168736, 1.0],
                [0.587, 0.5 - 0.331264, 0.5 - 0.418688],
                [0.114, 1.0, 0.5 - 0.081312],
            ],
            dtype=torch.float64,
        )
        torch.testing.assert_close(y, expected, rtol=0, atol=1e-15)

    @pytest.mark.parametrize("size", [(1, 1), (8, 8), (17, 23), (64, 48)])
    def test_matches_pillow(self, size: tuple[int, int]) -> None:
        rng = np.random.default_rng(size[0] * 100 + size[1])
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        ref = np.asarray(Image.fromarray(img).convert("YCbCr")).astype(np.float64)
        x = torch.from_numpy(img).permute(2, 0, 1).to(torch.float64) / 255
        ours = (rgb_to_ycbcr(x) * 255).permute(1, 2, 0).numpy()
        assert np.abs(ours - ref).max() <= 1.0

    def test_matches_pillow_float32_batch(self) -> None:
        rng = np.random.default_rng(1)
        imgs = rng.integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
        ref = np.stack([np.asarray(Image.fromarray(i).convert("YCbCr")) for i in imgs])
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
        ours = (rgb_to_ycbcr(x) * 255).permute(0, 2, 3, 1).double().numpy()
        assert np.abs(ours - ref.astype(np.float64)).max() <= 1.0

    @given(lead=lead_shapes(max_dims=3), seed=seeds)
    def test_shapes(self, lead: tuple[int, ...], seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        x = torch.rand((*lead, 3, 4, 5), generator=g)
        assert rgb_to_ycbcr(x).shape == x.shape
        assert ycbcr_to_rgb(x).shape == x.shape

    def test_gradcheck(self) -> None:
        x = torch.rand(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(rgb_to_ycbcr, (x,))
        assert torch.autograd.gradcheck(ycbcr_to_rgb, (x,))

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_precision(self, dtype: torch.dtype) -> None:
        x = torch.rand(2, 3, 4, 4)
        y = rgb_to_ycbcr(x.to(dtype))
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), rgb_to_ycbcr(x), rtol=0, atol=2e-2)


class TestYcbcrToRgb:
    @given(x=images(dtype=torch.float64, batch=False))
    def test_inverts_exactly_float64(self, x: torch.Tensor) -> None:
        torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, rtol=0, atol=1e-14)
        torch.testing.assert_close(rgb_to_ycbcr(ycbcr_to_rgb(x)), x, rtol=0, atol=1e-14)

    def test_inverts_float32(self) -> None:
        x = torch.rand(2, 3, 8, 8)
        torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, rtol=0, atol=1e-6)

    def test_no_clamping(self) -> None:
        # Out-of-gamut YCbCr maps outside [0, 1] rather than being silently clamped.
        y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64).view(3, 1, 1)
        assert (ycbcr_to_rgb(y) > 1).any()


class TestColorBadInput:
    @pytest.mark.parametrize("fn", FUNCS)
    def test_not_a_tensor(self, fn) -> None:
        with pytest.raises(TypeError, match="image"):
            fn(np.zeros((3, 4, 4), dtype=np.float32))

    @pytest.mark.parametrize("fn", FUNCS)
    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
    def test_integer_dtype(self, fn, dtype: torch.dtype) -> None:
        with pytest.raises(ValueError, match="image"):
            fn(torch.zeros(3, 4, 4, dtype=dtype))

    @pytest.mark.parametrize("fn", FUNCS)
    @pytest.mark.parametrize("shape", [(4, 4, 4), (2, 1, 4, 4), (2, 4, 8, 8)])
    def test_wrong_channels(self, fn, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"image.*\(\.\.\., 3, H, W\)"):
            fn(torch.zeros(shape))

    @pytest.mark.parametrize("fn", FUNCS)
    @pytest.mark.parametrize("shape", [(3,), (3, 4)])
    def test_too_few_dims(self, fn, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match="image.*dimensions"):
            fn(torch.zeros(shape))


@given(st.data())
def test_values_stay_in_range(data: st.DataObject) -> None:
    """RGB in [0, 1] maps into [0, 1] for all three YCbCr channels."""
    x = data.draw(images(dtype=torch.float64))
    y = rgb_to_ycbcr(x)
    assert y.min() >= -1e-12 and y.max() <= 1 + 1e-12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype: torch.dtype) -> None:
    x = torch.rand(2, 3, 8, 8, dtype=dtype)
    for fn in FUNCS:
        y = fn(x.cuda())
        assert y.device.type == "cuda" and y.dtype == dtype
        torch.testing.assert_close(y.cpu(), fn(x))
