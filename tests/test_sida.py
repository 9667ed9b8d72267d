"""Tests of ``sida_differentials``, ``sida_statistics`` and the ``SIDA`` module."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given
from strategies import sida_coefficients

import freqforensics.functional.sida as sida_mod
from freqforensics import SIDA
from freqforensics.functional import (
    block_dct,
    rgb_to_ycbcr,
    sida_differentials,
    sida_statistics,
)


def np_differentials(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oracle of the contract: np.diff along -2, -1 and the coefficient axis (padded)."""
    row = np.diff(c, axis=-2)
    col = np.diff(c, axis=-1)
    intra = np.diff(c, axis=-3)
    pad = [(0, 0)] * c.ndim
    pad[-3] = (0, 1)
    return row, col, np.pad(intra, pad)


def scipy_moments(a: np.ndarray) -> np.ndarray:
    """``(..., n)`` -> ``(4, ...)``: numpy mean / std, scipy skew / Pearson kurtosis (bias=True).

    A constant slice (std exactly 0) gets skew = kurt = 0, the contract's convention (scipy
    returns NaN there).
    """
    mean = np.mean(a, axis=-1)
    std = np.std(a, axis=-1, ddof=0)
    # scipy warns (and returns NaN) on constant slices; those are replaced below.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skew = scipy.stats.skew(a, axis=-1, bias=True)
        kurt = scipy.stats.kurtosis(a, axis=-1, fisher=False, bias=True)
    flat = std == 0
    skew = np.where(flat, 0.0, skew)
    kurt = np.where(flat, 0.0, kurt)
    return np.stack([mean, std, skew, kurt])


def scipy_statistics(coeffs: np.ndarray) -> np.ndarray:
    """Vectorised oracle: ``(..., C, 64, h, w)`` -> ``(..., 4, C, 3, 64)`` in float64."""
    c = coeffs.astype(np.float64)
    per_d = []
    for d in np_differentials(c):
        a = np.abs(d).reshape(*d.shape[:-2], -1)  # (..., C, 64, n)
        per_d.append(scipy_moments(a))  # (4, ..., C, 64)
    out = np.stack(per_d, axis=-2)  # (4, ..., C, 3, 64)
    return np.moveaxis(out, 0, -4)


def loop_statistics(coeffs: np.ndarray) -> np.ndarray:
    """Loop-based oracle for one sample ``(C, 64, h, w)`` -> ``(4, C, 3, 64)``."""
    n_c, n_k, h, w = coeffs.shape
    out = np.zeros((4, n_c, 3, n_k))
    for ch in range(n_c):
        for k in range(n_k):
            row = [
                coeffs[ch, k, i + 1, j] - coeffs[ch, k, i, j]
                for i in range(h - 1)
                for j in range(w)
            ]
            col = [
                coeffs[ch, k, i, j + 1] - coeffs[ch, k, i, j]
                for i in range(h)
                for j in range(w - 1)
            ]
            nxt = coeffs[ch, k + 1] if k + 1 < n_k else np.zeros((h, w))
            intra = [
                nxt[i, j] - coeffs[ch, k, i, j] if k + 1 < n_k else 0.0
                for i in range(h)
                for j in range(w)
            ]
            for di, d in enumerate((row, col, intra)):
                a = np.abs(np.asarray(d, dtype=np.float64))
                out[0, ch, di, k] = np.mean(a)
                out[1, ch, di, k] = np.std(a)
                if np.std(a) > 0:
                    out[2, ch, di, k] = scipy.stats.skew(a, bias=True)
                    out[3, ch, di, k] = scipy.stats.kurtosis(a, fisher=False, bias=True)
    return out


def assert_stats_close(ours: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> None:
    """Compare with the float64 oracle (computed on the same, already rounded, input).

    float64: tight. float32: 2e-3 relative, with an absolute slack for values near 0: for
    mean and std a small fraction of the data's scale; for the dimensionless skew and kurtosis
    2e-3 plus the conditioning of the slice. Rounding ``|d|`` to float32 alone moves each value
    by ``eps * mean``, which moves skew and kurtosis by about ``eps * mean / std``: no float32
    algorithm does better on a slice whose spread is 1e-5 of its mean (e.g. two nearly equal
    values), while the raw-moment failure mode is 1000 times larger.
    """
    got = ours.double().numpy()
    assert np.isfinite(got).all()
    if dtype == torch.float64:
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * (np.abs(ref).max() + 1))
        return
    mean, std = ref[..., 0, :, :, :], ref[..., 1, :, :, :]
    with np.errstate(all="ignore"):
        cond = np.where(std > 0, mean / std, 0.0)
    eps = float(np.finfo(np.float32).eps)
    for s in range(4):
        g, r = got[..., s, :, :, :], ref[..., s, :, :, :]
        if s < 2:  # mean and std scale with the data
            atol = 1e-5 * (np.abs(mean).max() + 1e-30)
        else:  # skew and kurtosis are dimensionless
            atol = 2e-3 + 16 * eps * cond * (1 + np.abs(r))
        np.testing.assert_array_less(
            np.abs(g - r), atol + 2e-3 * np.abs(r) + 1e-300, err_msg=f"statistic {s}"
        )


def raw_moment_skew_float32(a: torch.Tensor) -> torch.Tensor:
    """The naive one-pass skewness from raw moments E[a^k] (what the library must not do)."""
    a = a.float()
    m1, m2, m3 = a.mean(-1), (a**2).mean(-1), (a**3).mean(-1)
    var = m2 - m1**2
    return (m3 - 3 * m1 * m2 + 2 * m1**3) / var.clamp_min(1e-30) ** 1.5


class TestSidaDifferentials:
    def test_smoke(self) -> None:
        row, col, intra = sida_differentials(torch.rand(2, 3, 64, 5, 7))
        assert row.shape == (2, 3, 64, 4, 7)
        assert col.shape == (2, 3, 64, 5, 6)
        assert intra.shape == (2, 3, 64, 5, 7)

    @pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
    def test_matches_numpy(self, lead: tuple[int, ...]) -> None:
        c = torch.randn(*lead, 64, 3, 4, dtype=torch.float64)
        for ours, ref in zip(sida_differentials(c), np_differentials(c.numpy())):
            np.testing.assert_array_equal(ours.numpy(), ref)

    def test_axes(self) -> None:
        # c = block row index: "row" (vertical neighbours) sees 1, "col" sees 0.
        i = torch.arange(4.0).view(1, 4, 1).expand(64, 4, 5)
        row, col, intra = sida_differentials(i)
        assert torch.all(row == 1) and torch.all(col == 0) and torch.all(intra == 0)
        k = torch.arange(64.0).view(64, 1, 1).expand(64, 2, 2)
        _, _, intra = sida_differentials(k)
        assert torch.all(intra[:63] == 1) and torch.all(intra[63] == 0)

    def test_gradcheck(self) -> None:
        c = torch.randn(64, 2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: sida_differentials(t), (c,))

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="coeffs"):
            sida_differentials(np.zeros((64, 2, 2)))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"coeffs.*64 DCT coefficients.*\(63, 2, 2\)"):
            sida_differentials(torch.zeros(63, 2, 2))
        with pytest.raises(ValueError, match=r"coeffs.*h, w >= 2.*\(64, 1, 4\)"):
            sida_differentials(torch.zeros(64, 1, 4))
        with pytest.raises(ValueError, match=r"coeffs.*h, w >= 2"):
            sida_differentials(torch.zeros(64, 4, 1))
        with pytest.raises(ValueError, match="coeffs.*floating-point"):
            sida_differentials(torch.zeros(64, 2, 2, dtype=torch.int64))
        with pytest.raises(ValueError, match="coeffs.*at least 3 dimensions"):
            sida_differentials(torch.zeros(64, 2))


class TestSidaStatistics:
    def test_smoke(self) -> None:
        s = sida_statistics(torch.rand(2, 3, 64, 6, 6))
        assert s.shape == (2, 4, 3, 3, 64)

    @pytest.mark.parametrize("lead", [(), (2,), (2, 1)])
    @pytest.mark.parametrize("channels", [1, 3])
    def test_shapes(self, lead: tuple[int, ...], channels: int) -> None:
        s = sida_statistics(torch.rand(*lead, channels, 64, 2, 3))
        assert s.shape == (*lead, 4, channels, 3, 64)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_matches_scipy(self, dtype: torch.dtype) -> None:
        c = (torch.randn(2, 3, 64, 5, 6, dtype=torch.float64) * 10).to(dtype)
        assert_stats_close(sida_statistics(c), scipy_statistics(c.double().numpy()), dtype)

    def test_order_against_loops(self) -> None:
        c = torch.randn(2, 64, 3, 4, dtype=torch.float64) * torch.arange(1.0, 65).view(64, 1, 1)
        ours = sida_statistics(c).numpy()
        np.testing.assert_allclose(ours, loop_statistics(c.numpy()), rtol=1e-10, atol=1e-12)

    def test_stress_large_mean_float32(self) -> None:
        # Row differences of 1000 +- 1: |d| has a mean 1000 times its spread. Raw moments in
        # float32 collapse here; the library must stay within 2e-3.
        g = torch.Generator().manual_seed(0)
        inc = 1000 + torch.randn(2, 3, 64, 8, 8, generator=g, dtype=torch.float64)
        c = torch.cumsum(inc, dim=-2) + torch.randn(2, 3, 64, 8, 8, generator=g).double()
        c32 = c.float()
        ref = scipy_statistics(c32.double().numpy())
        ours = sida_statistics(c32)
        assert_stats_close(ours, ref, torch.float32)
        # The row-differential statistics are genuinely non-trivial here.
        row_std = ref[:, 1, :, 0, :]
        row_mean = ref[:, 0, :, 0, :]
        assert (row_mean / row_std).min() > 300
        # ... and this case does break the naive raw-moment formula (the test has teeth).
        row = (c32[..., 1:, :] - c32[..., :-1, :]).abs().flatten(-2)
        naive = raw_moment_skew_float32(row).numpy()
        assert np.abs(naive - ref[:, 2, :, 0, :]).max() > 0.1

    def test_stress_offset_float32(self) -> None:
        # coeffs = 1000 + small noise: intra/row/col differences are small, values large.
        c = (1000 + 0.01 * torch.randn(1, 3, 64, 6, 7, dtype=torch.float64)).float()
        assert_stats_close(sida_statistics(c), scipy_statistics(c.double().numpy()), torch.float32)

    @given(sida_coefficients())
    def test_matches_scipy_hypothesis(self, c: torch.Tensor) -> None:
        ours = sida_statistics(c)
        assert ours.dtype == c.dtype
        assert torch.isfinite(ours).all()
        assert_stats_close(ours, scipy_statistics(c.double().numpy()), c.dtype)

    def test_padded_band_is_zero_not_nan(self) -> None:
        s = sida_statistics(torch.randn(2, 3, 64, 4, 4))
        intra_last = s[:, :, :, 2, 63]
        assert torch.equal(intra_last, torch.zeros_like(intra_last))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("value", [0.0, 5.0, 1e4])
    def test_constant_input(self, dtype: torch.dtype, value: float) -> None:
        s = sida_statistics(torch.full((2, 64, 3, 4), value, dtype=dtype))
        assert torch.equal(s, torch.zeros_like(s))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_constant_nonzero_differences(self, dtype: torch.dtype) -> None:
        # A ramp down the block rows: |row| is the constant 3.5 (mean 3.5, std/skew/kurt 0).
        c = (3.5 * torch.arange(5.0) + 1000).view(1, 1, 5, 1).expand(2, 64, 5, 4).to(dtype)
        s = sida_statistics(c)
        assert torch.isfinite(s).all()
        torch.testing.assert_close(s[0, 0, 0], torch.full((64,), 3.5, dtype=dtype))
        assert torch.equal(s[1:, :, 0], torch.zeros_like(s[1:, :, 0]))

    def test_does_not_modify_input(self) -> None:
        c = torch.randn(2, 3, 64, 3, 3)
        before = c.clone()
        with torch.no_grad():
            sida_statistics(c)
        sida_statistics(c)
        assert torch.equal(c, before)

    def test_chunking(self, monkeypatch: pytest.MonkeyPatch) -> None:
        c = torch.randn(45, 3, 64, 8, 8)
        chunked = sida_statistics(c)  # 135 slices of 4096 elements: several chunks
        assert 45 * 3 * 64 * 8 * 8 > sida_mod._CHUNK_ELEMENTS
        monkeypatch.setattr(sida_mod, "_CHUNK_ELEMENTS", 1 << 40)
        torch.testing.assert_close(chunked, sida_statistics(c), rtol=0, atol=0)

    def test_empty_batch(self) -> None:
        assert sida_statistics(torch.zeros(0, 3, 64, 2, 2)).shape == (0, 4, 3, 3, 64)

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_precision(self, dtype: torch.dtype) -> None:
        # Pixel-scale coefficients (values in the thousands): fourth powers overflow float16.
        c = block_dct(rgb_to_ycbcr(torch.rand(2, 3, 32, 32)) * 255).to(dtype)
        s = sida_statistics(c)
        assert s.dtype == dtype and torch.isfinite(s).all()
        ref = sida_statistics(c.float())
        torch.testing.assert_close(s.float(), ref, rtol=2e-2, atol=1e-2)

    def test_gradcheck(self) -> None:
        # Random inputs: |d| = 0 exactly (where abs has no derivative) has probability 0.
        c = torch.randn(1, 64, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(sida_statistics, (c,), fast_mode=True)
        c = torch.randn(2, 64, 2, 2, dtype=torch.float64) * 10
        c[1] += 1000 * torch.arange(2.0).view(2, 1)  # row differences: 1000 +- 14
        assert torch.autograd.gradcheck(sida_statistics, (c.requires_grad_(),), fast_mode=True)

    def test_backward_finite_with_constant_bands(self) -> None:
        c = torch.randn(1, 3, 64, 3, 3, dtype=torch.float64)
        c[0, 0] = 7.0  # a fully constant channel: every map flat
        c.requires_grad_(True)
        sida_statistics(c).sum().backward()
        assert c.grad is not None and torch.isfinite(c.grad).all()

    def test_compile_traces(self) -> None:
        torch._dynamo.reset()
        c = torch.randn(2, 3, 64, 3, 4)
        fn = torch.compile(sida_statistics, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(fn(c), sida_statistics(c))

    @pytest.mark.slow
    def test_compile_inductor(self) -> None:
        torch._dynamo.reset()
        c = torch.randn(2, 3, 64, 3, 4)
        fn = torch.compile(sida_statistics, fullgraph=True)
        torch.testing.assert_close(fn(c), sida_statistics(c), rtol=1e-4, atol=1e-5)

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="coeffs"):
            sida_statistics([0.0])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="coeffs.*at least 4 dimensions"):
            sida_statistics(torch.zeros(64, 2, 2))
        with pytest.raises(ValueError, match="coeffs.*64 DCT coefficients"):
            sida_statistics(torch.zeros(3, 32, 2, 2))
        with pytest.raises(ValueError, match="coeffs.*h, w >= 2.*16 x 16 pixels"):
            sida_statistics(torch.zeros(3, 64, 1, 5))
        with pytest.raises(ValueError, match="coeffs.*floating-point"):
            sida_statistics(torch.zeros(3, 64, 2, 2, dtype=torch.uint8))


def _reference_vector(crop: torch.Tensor) -> torch.Tensor:
    """SIDA of one ``(3, H, W)`` crop by composing the functions (top-left 8-pixel grid)."""
    h, w = crop.shape[-2] // 8 * 8, crop.shape[-1] // 8 * 8
    return sida_statistics(block_dct(rgb_to_ycbcr(crop[None, :, :h, :w]))).flatten()


class TestSIDAModule:
    def test_smoke(self) -> None:
        assert SIDA()(torch.rand(2, 3, 32, 40)).shape == (2, 2304)

    def test_list_of_sizes(self) -> None:
        crops = [torch.rand(3, 40, 33), torch.rand(3, 16, 64), torch.rand(3, 40, 36)]
        assert SIDA()(crops).shape == (3, 2304)

    def test_list_equals_per_crop(self) -> None:
        crops = [
            torch.rand(3, h, w, dtype=torch.float64)
            for h, w in [(40, 33), (17, 64), (40, 36), (16, 16), (40, 39)]
        ]
        out = SIDA()(crops)
        assert out.dtype == torch.float64
        for i, crop in enumerate(crops):
            torch.testing.assert_close(out[i], _reference_vector(crop), rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(out[i : i + 1], SIDA()([crop]), rtol=0, atol=0)

    def test_tensor_equals_list(self) -> None:
        x = torch.rand(3, 3, 24, 32, dtype=torch.float64)
        torch.testing.assert_close(SIDA()(x), SIDA()(list(x)), rtol=0, atol=0)

    def test_float32_close_to_float64(self) -> None:
        x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
        torch.testing.assert_close(SIDA()(x.float()).double(), SIDA()(x), rtol=1e-3, atol=1e-4)

    def test_flattened_layout(self) -> None:
        x = torch.rand(2, 3, 24, 32, dtype=torch.float64)
        v = SIDA()(x)
        stats = sida_statistics(block_dct(rgb_to_ycbcr(x)))  # (N, 4, 3, 3, 64)
        torch.testing.assert_close(v.view(2, 4, 3, 3, 64), stats, rtol=0, atol=1e-12)
        y = block_dct(rgb_to_ycbcr(x))[:, 0]  # luma coefficients (N, 64, h, w)
        row, col, intra = sida_differentials(y)
        torch.testing.assert_close(v[:, 0:64], row.abs().mean(dim=(-2, -1)))
        torch.testing.assert_close(v[:, 64:128], col.abs().mean(dim=(-2, -1)))
        torch.testing.assert_close(v[:, 128:192], intra.abs().mean(dim=(-2, -1)))

    @pytest.mark.parametrize("size", [(17, 16), (23, 31), (40, 57)])
    def test_crop_top_left(self, size: tuple[int, int]) -> None:
        x = torch.rand(2, 3, *size, dtype=torch.float64)
        h, w = size[0] // 8 * 8, size[1] // 8 * 8
        torch.testing.assert_close(SIDA()(x), SIDA()(x[..., :h, :w]), rtol=0, atol=0)
        assert not torch.allclose(SIDA()(x), SIDA()(x[..., -h:, -w:]))

    @pytest.mark.parametrize("size", [(15, 32), (32, 15), (8, 8)])
    def test_too_small(self, size: tuple[int, int]) -> None:
        with pytest.raises(ValueError, match=r"images.*at least 16 x 16"):
            SIDA()(torch.rand(1, 3, *size))
        with pytest.raises(ValueError, match=r"images\[1\].*at least 16 x 16"):
            SIDA()([torch.rand(3, 16, 16), torch.rand(3, *size)])

    def test_no_parameters(self) -> None:
        m = SIDA()
        assert list(m.parameters()) == []
        assert m.state_dict() == {}

    def test_backward(self) -> None:
        x = torch.rand(2, 3, 16, 24, dtype=torch.float64, requires_grad=True)
        SIDA()(x).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()

    def test_autocast_keeps_precision(self) -> None:
        x = torch.rand(2, 3, 32, 32)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            v = SIDA()(x)
        assert v.shape == (2, 2304) and torch.isfinite(v).all()
        torch.testing.assert_close(v, SIDA()(x), rtol=1e-4, atol=1e-4)

    def test_compile_traces(self) -> None:
        torch._dynamo.reset()
        m = SIDA()
        x = torch.rand(2, 3, 16, 24)
        fn = torch.compile(m, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(fn(x), m(x))

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        with pytest.raises(ValueError, match="images.*floating-point"):
            SIDA()(torch.zeros(1, 3, 16, 16, dtype=dtype))
        with pytest.raises(ValueError, match=r"images\[0\].*floating-point"):
            SIDA()([torch.zeros(3, 16, 16, dtype=dtype)])

    @pytest.mark.parametrize("shape", [(3, 16, 16), (1, 1, 16, 16), (1, 4, 16, 16)])
    def test_wrong_tensor_shape(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"images must have shape \(N, 3, H, W\)"):
            SIDA()(torch.zeros(shape))

    def test_wrong_crop_shape(self) -> None:
        with pytest.raises(ValueError, match=r"images\[0\] must have shape \(3, H, W\)"):
            SIDA()([torch.zeros(1, 3, 16, 16)])

    def test_bad_types(self) -> None:
        with pytest.raises(TypeError, match="images"):
            SIDA()(np.zeros((1, 3, 16, 16), dtype=np.float32))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"images\[1\]"):
            SIDA()([torch.zeros(3, 16, 16), np.zeros((3, 16, 16))])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="images.*empty"):
            SIDA()([])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype: torch.dtype) -> None:
    c = torch.randn(2, 3, 64, 4, 5, dtype=dtype) * 10
    s = sida_statistics(c.cuda())
    assert s.device.type == "cuda" and s.dtype == dtype
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {}
    torch.testing.assert_close(s.cpu(), sida_statistics(c), **tol)
    crops = [torch.rand(3, 40, 33, dtype=dtype), torch.rand(3, 16, 64, dtype=dtype)]
    v = SIDA().cuda()([t.cuda() for t in crops])
    torch.testing.assert_close(v.cpu(), SIDA()(crops), **tol)
