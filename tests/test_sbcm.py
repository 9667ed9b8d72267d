"""Tests of ``SBCM``, the Spectral Band Convolution Module (paper eq. 9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import grids, randn, sbcm_inputs, seeds
from torch import nn

from freqforensics import SBCM


def _randomise_norms(m: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm running statistics and affine parameters (for eval tests)."""
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return m


def reference_sbcm(m: SBCM, x: torch.Tensor) -> torch.Tensor:
    """Oracle in eval mode: every block position on its own, 1-D convolutions along the bands."""
    n, c, k, h, w = x.shape
    z = x.permute(0, 3, 4, 1, 2).reshape(n * h * w, c, k)  # (blocks, channels, bands)
    layers = list(m.blocks)
    for conv, bn in zip(layers[0::3], layers[1::3]):
        z = F.conv1d(z, conv.weight[..., 0, 0], padding=conv.kernel_size[0] // 2)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        z = (z - bn.running_mean[:, None]) * scale[:, None] + bn.bias[:, None]
        z = torch.relu(z)
    # Reduction: output channel c * G + g is the linear map g of input channel c.
    wr = m.reduce.weight[:, 0, :, 0, 0].view(m.out_channels, m.out_bands, k)
    br = m.reduce.bias.view(m.out_channels, m.out_bands)
    z = torch.einsum("bck,cgk->bcg", z, wr) + br
    return z.reshape(n, h, w, -1).permute(0, 3, 1, 2)


class TestSBCM:
    def test_smoke(self) -> None:
        y = SBCM()(torch.randn(2, 3, 64, 5, 6))
        assert y.shape == (2, 64 * 3, 5, 6)

    def test_kernels_slide_along_bands_only(self) -> None:
        m = SBCM()
        convs = [mod for mod in m.blocks if isinstance(mod, nn.Conv3d)]
        assert [c.kernel_size for c in convs] == [(7, 1, 1), (5, 1, 1), (3, 1, 1)]
        assert [c.padding for c in convs] == [(3, 0, 0), (2, 0, 0), (1, 0, 0)]
        assert [c.out_channels for c in convs] == [16, 32, 64]
        assert m.reduce.kernel_size == (64, 1, 1)
        assert m.out_features == 192

    def test_reduction_starts_as_band_group_means(self) -> None:
        m = SBCM()
        wr = m.reduce.weight[:, 0, :, 0, 0].detach()  # (64 * 3, 64)
        expected = torch.zeros(3, 64)
        for g, idx in enumerate(torch.arange(64).tensor_split(3)):
            expected[g, idx] = 1 / len(idx)
        torch.testing.assert_close(wr, expected.repeat(64, 1))
        assert torch.equal(m.reduce.bias, torch.zeros_like(m.reduce.bias))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_per_block_oracle(self, dtype: torch.dtype) -> None:
        m = _randomise_norms(SBCM(channels=(4, 6, 5), kernel_sizes=(7, 5, 3))).eval().to(dtype)
        with torch.no_grad():
            m.reduce.weight.add_(0.01 * torch.randn_like(m.reduce.weight))
            m.reduce.bias.normal_()
        x = torch.randn(2, 3, 64, 3, 4, dtype=dtype)
        with torch.no_grad():
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            torch.testing.assert_close(m(x), reference_sbcm(m, x), rtol=tol, atol=tol)

    @pytest.mark.parametrize("pos", [(0, 0, 0), (1, 2, 3), (0, 3, 4), (1, 0, 4)])
    def test_one_block_changes_one_position(self, pos: tuple[int, int, int]) -> None:
        m = _randomise_norms(SBCM()).eval()
        x = torch.randn(2, 3, 64, 4, 5)
        x2 = x.clone()
        n, i, j = pos
        x2[n, :, :, i, j] += torch.randn(3, 64)
        with torch.no_grad():
            changed = (m(x2) - m(x)).abs().amax(dim=1) > 0  # (N, h, w)
        expected = torch.zeros_like(changed)
        expected[n, i, j] = True
        assert torch.equal(changed, expected)

    @given(
        grid=grids(1, 5),
        seed=seeds,
        band=st.integers(0, 63),
        channel=st.integers(0, 2),
        data=st.data(),
    )
    def test_locality_hypothesis(
        self, grid: tuple[int, int], seed: int, band: int, channel: int, data: st.DataObject
    ) -> None:
        h, w = grid
        i, j = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
        m = _SMALL.eval()
        x = randn((1, 3, 64, h, w), seed, torch.float32)
        x2 = x.clone()
        x2[0, channel, band, i, j] += 5.0
        with torch.no_grad():
            changed = (m(x2) - m(x)).abs().amax(dim=1)[0] > 0
        assert not changed.flatten()[torch.arange(h * w) != i * w + j].any()

    @given(x=sbcm_inputs())
    def test_shapes(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            y = _SMALL.eval()(x)
        assert y.shape == (x.shape[0], 8 * 3, *x.shape[-2:])
        assert torch.isfinite(y).all()

    @pytest.mark.parametrize(
        ("kwargs", "in_shape", "out_channels"),
        [
            ({"channels": (8,), "kernel_sizes": (3,), "out_bands": 4}, (2, 3, 64, 2, 3), 32),
            ({"in_channels": 1, "channels": (4, 4), "kernel_sizes": (5, 1)}, (2, 1, 64, 2, 2), 12),
            (
                {"bands": 16, "out_bands": 2, "channels": (4,), "kernel_sizes": (9,)},
                (2, 3, 16, 2, 2),
                8,
            ),
            ({"out_bands": 1}, (2, 3, 64, 1, 1), 64),
        ],
    )
    def test_configurable(self, kwargs: dict, in_shape: tuple[int, ...], out_channels: int) -> None:
        m = SBCM(**kwargs)
        assert m.out_features == out_channels
        y = m(torch.randn(in_shape))
        assert y.shape == (in_shape[0], out_channels, *in_shape[-2:])

    def test_custom_layers(self) -> None:
        m = SBCM(
            channels=(4,),
            kernel_sizes=(3,),
            norm_layer=lambda c: nn.GroupNorm(1, c),
            act_layer=nn.GELU,
        )
        assert any(isinstance(mod, nn.GroupNorm) for mod in m.modules())
        assert any(isinstance(mod, nn.GELU) for mod in m.modules())
        assert m(torch.randn(1, 3, 64, 2, 2)).shape == (1, 12, 2, 2)

    def test_train_mode_and_backward(self) -> None:
        m = SBCM(channels=(4, 8), kernel_sizes=(5, 3)).train()
        x = torch.randn(2, 3, 64, 3, 3, requires_grad=True)
        m(x).square().mean().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert all(p.grad is not None for p in m.parameters())

    def test_gradcheck(self) -> None:
        m = SBCM(channels=(2, 3), kernel_sizes=(3, 3), out_bands=2, bands=16)
        m = _randomise_norms(m).double().eval()
        x = torch.randn(1, 3, 16, 1, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(m, (x,), fast_mode=True)

    def test_autocast_bfloat16(self) -> None:
        m = SBCM().eval()
        x = torch.randn(2, 3, 64, 3, 3)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
        assert y.shape == (2, 192, 3, 3) and torch.isfinite(y).all()
        with torch.no_grad():
            ref = m(x)
        scale = ref.abs().max()
        assert (y.float() - ref).abs().max() < 0.05 * scale

    def test_float64(self) -> None:
        m = SBCM(channels=(4,), kernel_sizes=(3,)).double()
        assert m(torch.randn(1, 3, 64, 2, 2, dtype=torch.float64)).dtype == torch.float64

    def test_compile_traces(self) -> None:
        torch._dynamo.reset()
        m = SBCM(channels=(4, 8), kernel_sizes=(5, 3)).eval()
        x = torch.randn(2, 3, 64, 3, 4)
        fn = torch.compile(m, backend="aot_eager", fullgraph=True)
        with torch.no_grad():
            torch.testing.assert_close(fn(x), m(x))

    @pytest.mark.slow
    def test_compile_inductor(self) -> None:
        torch._dynamo.reset()
        m = SBCM().eval()
        x = torch.randn(2, 3, 64, 3, 4)
        with torch.no_grad():
            torch.testing.assert_close(
                torch.compile(m, fullgraph=True)(x), m(x), rtol=1e-4, atol=1e-4
            )


_SMALL = _randomise_norms(SBCM(channels=(4, 8), kernel_sizes=(7, 3)))


class TestSBCMBadInput:
    def test_not_a_tensor(self) -> None:
        with pytest.raises(TypeError, match="coeffs"):
            SBCM()(np.zeros((1, 3, 64, 2, 2), dtype=np.float32))

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        with pytest.raises(ValueError, match="coeffs.*floating-point"):
            SBCM()(torch.zeros(1, 3, 64, 2, 2, dtype=dtype))

    @pytest.mark.parametrize(
        "shape", [(3, 64, 2, 2), (1, 1, 64, 2, 2), (1, 3, 63, 2, 2), (1, 3, 64, 2, 2, 1)]
    )
    def test_wrong_shape(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"coeffs must have shape \(N, 3, 64, h, w\)"):
            SBCM()(torch.zeros(shape))

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"channels": (16, 32), "kernel_sizes": (7, 5, 3)}, "kernel_sizes"),
            ({"channels": (), "kernel_sizes": ()}, "non-empty"),
            ({"kernel_sizes": (7, 4, 3)}, "odd"),
            ({"out_bands": 65}, "out_bands"),
            ({"out_bands": 0}, "out_bands"),
            ({"in_channels": 0}, "in_channels"),
            ({"channels": (16, 0, 64)}, "channels"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            SBCM(**kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    # float64: cuDNN's TF32 (float32 only) does not blur the comparison.
    m = _randomise_norms(SBCM(channels=(4, 8), kernel_sizes=(5, 3))).double().eval()
    x = torch.randn(2, 3, 64, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        ref = m(x)
        y = m.cuda()(x.cuda())
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), ref)
    with torch.no_grad():
        assert torch.isfinite(m.float()(x.float().cuda())).all()
