"""Tests of ``FAAE``, Frequency-Aware Attention Enhancement (paper eqs. 10 to 13)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import grids, randn, seeds
from torch import nn

from freqforensics import FAAE


def _conv1x1(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    y = torch.einsum("oc,nchw->nohw", conv.weight[:, :, 0, 0], x)
    return y if conv.bias is None else y + conv.bias[:, None, None]


def reference_faae(m: FAAE, x_s: torch.Tensor, x_f: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Oracle of eqs. 10 to 13 in eval mode, written with explicit sums over positions."""
    n, _, h, w = x_s.shape
    if x_f.shape[-2:] != (h, w):
        x_f = F.interpolate(x_f, size=(h, w), mode="bilinear", align_corners=False)
    q = torch.cat((_conv1x1(m.q_freq, x_f), _conv1x1(m.q_spatial, x_s)), dim=1).flatten(2)
    k = torch.cat((_conv1x1(m.k_freq, x_f), _conv1x1(m.k_spatial, x_s)), dim=1).flatten(2)
    v = _conv1x1(m.value, x_f).flatten(2)  # (n, dv, hw)
    scores = torch.einsum("ncp,ncr->npr", q, k) / math.sqrt(q.shape[1])  # p query, r key
    attn = torch.softmax(scores, dim=-1)
    out = torch.einsum("npr,ncr->ncp", attn, v) * torch.sigmoid(m.gamma)
    out = _conv1x1(m.proj, out.reshape(n, -1, h, w))
    bn = m.norm
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    out = (out - bn.running_mean[:, None, None]) * scale[:, None, None] + bn.bias[:, None, None]
    return x_s + out, attn


def _randomise_norm(m: FAAE) -> FAAE:
    g = torch.Generator().manual_seed(2)
    c = m.norm.num_features
    m.norm.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
    m.norm.running_var.copy_(torch.rand(c, generator=g) + 0.5)
    m.norm.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
    m.norm.bias.data.copy_(torch.randn(c, generator=g))
    return m


class TestFAAE:
    def test_smoke(self) -> None:
        m = FAAE(spatial_channels=16, freq_channels=24)
        y = m(torch.randn(2, 16, 6, 6), torch.randn(2, 24, 6, 6))
        assert y.shape == (2, 16, 6, 6)

    @given(grid=grids(1, 6), fgrid=grids(1, 6), n=st.integers(1, 2), seed=seeds)
    def test_shapes(self, grid: tuple[int, int], fgrid: tuple[int, int], n: int, seed: int) -> None:
        x_s = randn((n, 8, *grid), seed, torch.float32)
        x_f = randn((n, 12, *fgrid), seed + 1, torch.float32)
        m = _SMALL.eval()
        with torch.no_grad():
            y, attn = m(x_s, x_f, return_attention=True)
        hw = grid[0] * grid[1]
        assert y.shape == x_s.shape
        assert attn.shape == (n, hw, hw)
        assert torch.isfinite(y).all()

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("fsize", [(12, 12), (11, 11), (6, 13)])
    def test_matches_oracle(self, dtype: torch.dtype, fsize: tuple[int, int]) -> None:
        m = _randomise_norm(FAAE(16, 24, gamma_init=0.3)).eval().to(dtype)
        x_s = torch.randn(2, 16, 12, 12, dtype=dtype)
        x_f = torch.randn(2, 24, *fsize, dtype=dtype)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        with torch.no_grad():
            y, attn = m(x_s, x_f, return_attention=True)
            y_ref, attn_ref = reference_faae(m, x_s, x_f)
            torch.testing.assert_close(attn, attn_ref, rtol=tol, atol=tol)
            torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
            torch.testing.assert_close(m(x_s, x_f), y_ref, rtol=tol, atol=tol)

    def test_x_f_is_resized(self) -> None:
        m = _randomise_norm(FAAE(16, 24)).eval()
        x_s, x_f = torch.randn(2, 16, 12, 12), torch.randn(2, 24, 11, 11)
        resized = F.interpolate(x_f, size=(12, 12), mode="bilinear", align_corners=False)
        with torch.no_grad():
            torch.testing.assert_close(m(x_s, x_f), m(x_s, resized), rtol=0, atol=0)

    def test_attention_rows_sum_to_one(self) -> None:
        m = FAAE(16, 24)
        _, attn = m(torch.randn(2, 16, 5, 7), torch.randn(2, 24, 5, 7), return_attention=True)
        assert attn.shape == (2, 35, 35)
        assert (attn >= 0).all()
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 35))

    @pytest.mark.parametrize("train", [False, True])
    def test_sdpa_equals_explicit(self, train: bool) -> None:
        m = _randomise_norm(FAAE(16, 24, gamma_init=1.0)).train(train)
        x_s, x_f = torch.randn(3, 16, 9, 9) * 3, torch.randn(3, 24, 8, 8) * 3
        with torch.no_grad():
            fast = m(x_s, x_f)
            explicit, _ = m(x_s, x_f, return_attention=True)
        torch.testing.assert_close(fast, explicit, rtol=1e-5, atol=1e-5)

    def test_gamma_is_learnable(self) -> None:
        m = FAAE(16, 24, gamma_init=0.5)
        assert isinstance(m.gamma, nn.Parameter) and m.gamma.requires_grad
        assert m.gamma.shape == () and m.gamma.item() == 0.5
        assert any(p is m.gamma for p in m.parameters())
        m(torch.randn(2, 16, 4, 4), torch.randn(2, 24, 4, 4)).square().sum().backward()
        assert m.gamma.grad is not None and m.gamma.grad.abs() > 0

    def test_sigmoid_gamma_scales_attention_branch(self) -> None:
        # In eval mode BN is affine: Y - X_s - beta' is linear in sigmoid(gamma).
        m = _randomise_norm(FAAE(16, 24)).eval()
        bn = m.norm
        shift = bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = shift.detach()[None, :, None, None]
        x_s, x_f = torch.randn(2, 16, 5, 5), torch.randn(2, 24, 5, 5)
        branch = {}
        with torch.no_grad():
            for g in (-40.0, -1.0, 2.0):
                m.gamma.fill_(g)
                branch[g] = m(x_s, x_f) - x_s - shift
        # gamma -> -inf switches the frequency branch off: Y = X_s + BN(Conv_S(0)).
        assert branch[-40.0].abs().max() < 1e-6
        ratio = torch.sigmoid(torch.tensor(2.0)) / torch.sigmoid(torch.tensor(-1.0))
        torch.testing.assert_close(branch[2.0], branch[-1.0] * ratio, rtol=1e-4, atol=1e-5)

    def test_zero_init_is_identity(self) -> None:
        m = FAAE(16, 24, zero_init=True)
        x_s, x_f = torch.randn(2, 16, 6, 6), torch.randn(2, 24, 5, 5)
        torch.testing.assert_close(m(x_s, x_f), x_s, rtol=0, atol=0)
        torch.testing.assert_close(m.eval()(x_s, x_f), x_s, rtol=0, atol=0)

    def test_dimensions(self) -> None:
        m = FAAE(56, 192)
        assert m.qk_dim == 14 and m.value_dim == 56
        assert m.q_freq.out_channels == 7 and m.q_spatial.out_channels == 7
        assert FAAE(8, 4).qk_dim == 8
        m = FAAE(16, 24, qk_dim=5, value_dim=3)
        assert m.qk_dim == 6 and m.value.out_channels == 3
        assert m(torch.randn(1, 16, 3, 3), torch.randn(1, 24, 3, 3)).shape == (1, 16, 3, 3)

    def test_gradcheck(self) -> None:
        m = _randomise_norm(FAAE(4, 3, qk_dim=2, value_dim=2)).double().eval()
        x_s = torch.randn(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
        x_f = torch.randn(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: m(a, b), (x_s, x_f), fast_mode=True)
        assert torch.autograd.gradcheck(
            lambda a, b: m(a, b, return_attention=True), (x_s, x_f), fast_mode=True
        )

    @pytest.mark.parametrize("return_attention", [False, True])
    def test_autocast_bfloat16(self, return_attention: bool) -> None:
        m = FAAE(16, 24)
        x_s, x_f = torch.randn(2, 16, 6, 6), torch.randn(2, 24, 5, 5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m(x_s, x_f, return_attention=return_attention)
        y = out[0] if return_attention else out
        assert y.shape == x_s.shape and torch.isfinite(y).all()
        if return_attention:
            attn = out[1]
            assert attn.shape == (2, 36, 36) and torch.isfinite(attn).all()


_SMALL = _randomise_norm(FAAE(8, 12))


class TestFAAEBadInput:
    def test_not_a_tensor(self) -> None:
        m = FAAE(16, 24)
        with pytest.raises(TypeError, match="x_s"):
            m(np.zeros((1, 16, 4, 4), dtype=np.float32), torch.zeros(1, 24, 4, 4))
        with pytest.raises(TypeError, match="x_f"):
            m(torch.zeros(1, 16, 4, 4), None)

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        m = FAAE(16, 24)
        with pytest.raises(ValueError, match="x_s.*floating-point"):
            m(torch.zeros(1, 16, 4, 4, dtype=dtype), torch.zeros(1, 24, 4, 4))
        with pytest.raises(ValueError, match="x_f.*floating-point"):
            m(torch.zeros(1, 16, 4, 4), torch.zeros(1, 24, 4, 4, dtype=dtype))

    @pytest.mark.parametrize(
        ("s_shape", "f_shape", "match"),
        [
            ((1, 15, 4, 4), (1, 24, 4, 4), r"x_s must have shape \(N, 16, h, w\)"),
            ((16, 4, 4), (1, 24, 4, 4), r"x_s must have shape"),
            ((1, 16, 4, 4), (1, 23, 4, 4), r"x_f must have shape \(N, 24, h', w'\)"),
            ((1, 16, 4, 4), (1, 24, 4), r"x_f must have shape"),
            ((2, 16, 4, 4), (3, 24, 4, 4), "batch size.*2 and 3"),
        ],
    )
    def test_wrong_shapes(self, s_shape: tuple, f_shape: tuple, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            FAAE(16, 24)(torch.zeros(s_shape), torch.zeros(f_shape))

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="spatial_channels"):
            FAAE(0, 24)
        with pytest.raises(ValueError, match="freq_channels"):
            FAAE(16, -1)
        with pytest.raises(ValueError, match="qk_dim"):
            FAAE(16, 24, qk_dim=1)
        with pytest.raises(TypeError, match="spatial_channels"):
            FAAE(16.0, 24)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    m = _randomise_norm(FAAE(16, 24)).double().eval()
    x_s = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    x_f = torch.randn(2, 24, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        ref, ref_attn = m(x_s, x_f, return_attention=True)
        m = m.cuda()
        y, attn = m(x_s.cuda(), x_f.cuda(), return_attention=True)
        torch.testing.assert_close(m(x_s.cuda(), x_f.cuda()).cpu(), ref)
    torch.testing.assert_close(y.cpu(), ref)
    torch.testing.assert_close(attn.cpu(), ref_attn)
