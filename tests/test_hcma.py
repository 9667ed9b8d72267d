"""Tests of ``HCMA``, Hybrid Cross-Modal Attention fusion with the SIDA gate (eqs. 14 to 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import randn, seeds

from freqforensics import HCMA, SIDAGate


def reference_hcma(
    m: HCMA, s: torch.Tensor, f: torch.Tensor, d: torch.Tensor | None
) -> torch.Tensor:
    """Oracle of eqs. 14 to 17 in eval mode, heads split by hand."""
    if s.ndim == 2:
        s = s[:, None]
    if f.ndim == 2:
        f = f[:, None]
    e, nh = m.embed_dim, m.num_heads
    s_p = s @ m.proj_s.weight.T + m.proj_s.bias
    f_p = f @ m.proj_f.weight.T + m.proj_f.bias
    wq, wk, wv = m.attn.in_proj_weight.split(e)
    bq, bk, bv = m.attn.in_proj_bias.split(e)

    def heads(x: torch.Tensor) -> torch.Tensor:  # (N, L, E) -> (N, heads, L, E / heads)
        return x.view(x.shape[0], x.shape[1], nh, e // nh).transpose(1, 2)

    q, k, v = heads(s_p @ wq.T + bq), heads(f_p @ wk.T + bk), heads(f_p @ wv.T + bv)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(e / nh), dim=-1)  # eq. 14
    a = (attn @ v).transpose(1, 2).reshape(s.shape[0], s.shape[1], e)
    a = a @ m.attn.out_proj.weight.T + m.attn.out_proj.bias
    res = s_p @ m.res_conv.weight[:, :, 0].T + m.res_conv.bias
    bn = m.res_norm
    res = (res - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    fused = (a + res).mean(dim=1)  # eq. 15, pooled over the query tokens
    if d is None:
        return fused
    return fused * torch.sigmoid(d @ m.gate.weight.T + m.gate.bias)  # eqs. 16, 17


def _small(**kwargs) -> HCMA:
    args = {"spatial_dim": 12, "freq_dim": 10, "embed_dim": 8, "num_heads": 2, "gate_dim": 6}
    args.update(kwargs)
    m = HCMA(**args)
    g = torch.Generator().manual_seed(3)
    bn = m.res_norm
    bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.1)
    bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    bn.weight.data.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    bn.bias.data.copy_(torch.randn(bn.num_features, generator=g) * 0.1)
    return m


class TestHCMA:
    def test_smoke(self) -> None:
        m = HCMA(spatial_dim=64, freq_dim=96, embed_dim=32, num_heads=4, gate_dim=2304)
        y = m(torch.randn(2, 9, 64), torch.randn(2, 4, 96), torch.randn(2, 2304))
        assert y.shape == (2, 32)

    @pytest.mark.parametrize(
        ("s_shape", "f_shape"),
        [
            ((3, 5, 12), (3, 7, 10)),
            ((3, 12), (3, 10)),
            ((3, 5, 12), (3, 10)),
            ((3, 12), (3, 4, 10)),
        ],
    )
    @pytest.mark.parametrize("gated", [False, True])
    def test_matches_oracle(self, s_shape: tuple, f_shape: tuple, gated: bool) -> None:
        m = _small().double().eval()
        s = torch.randn(s_shape, dtype=torch.float64)
        f = torch.randn(f_shape, dtype=torch.float64)
        d = torch.randn(3, 6, dtype=torch.float64) if gated else None
        with torch.no_grad():
            y = m(s, f, d)
            assert y.shape == (3, 8)
            torch.testing.assert_close(y, reference_hcma(m, s, f, d), rtol=1e-12, atol=1e-12)

    def test_matches_oracle_float32(self) -> None:
        m = _small().eval()
        s, f, d = torch.randn(2, 5, 12), torch.randn(2, 3, 10), torch.randn(2, 6)
        with torch.no_grad():
            torch.testing.assert_close(m(s, f, d), reference_hcma(m, s, f, d), rtol=1e-5, atol=1e-5)

    @given(
        n=st.integers(1, 3),
        ls=st.integers(1, 5),
        lf=st.integers(1, 5),
        seed=seeds,
        gated=st.booleans(),
    )
    def test_shapes(self, n: int, ls: int, lf: int, seed: int, gated: bool) -> None:
        s, f = randn((n, ls, 12), seed, torch.float32), randn((n, lf, 10), seed + 1, torch.float32)
        d = randn((n, 6), seed + 2, torch.float32) if gated else None
        with torch.no_grad():
            y = _SMALL.eval()(s, f, d)
        assert y.shape == (n, 8) and torch.isfinite(y).all()

    def test_gate_multiplies(self) -> None:
        m = _small().eval()
        s, f, d = torch.randn(3, 5, 12), torch.randn(3, 4, 10), torch.randn(3, 6)
        with torch.no_grad():
            ungated = m(s, f)
            y, g = m(s, f, d, return_gate=True)
        assert g is not None and g.shape == (3, 8)
        assert (g > 0).all() and (g < 1).all()
        assert m.gate is not None
        torch.testing.assert_close(g, torch.sigmoid(F.linear(d, m.gate.weight, m.gate.bias)))
        torch.testing.assert_close(y, ungated * g)

    def test_saturated_gate_equals_ungated(self) -> None:
        m = _small().eval()
        with torch.no_grad():
            m.gate.weight.zero_()
            m.gate.bias.fill_(50.0)  # sigmoid(50) == 1 in float32
        s, f, d = torch.randn(3, 5, 12), torch.randn(3, 4, 10), torch.randn(3, 6)
        with torch.no_grad():
            torch.testing.assert_close(m(s, f, d), m(s, f), rtol=0, atol=0)

    def test_no_gate(self) -> None:
        m = _small().eval()
        s, f = torch.randn(3, 5, 12), torch.randn(3, 4, 10)
        y, g = m(s, f, None, return_gate=True)
        assert g is None
        torch.testing.assert_close(y, m(s, f))

    def test_single_key_degenerates_to_value_path(self) -> None:
        # With one key the softmax is 1: every query gets out_proj(V).
        m = _small().double().eval()
        s = torch.randn(2, 5, 12, dtype=torch.float64)
        f = torch.randn(2, 10, dtype=torch.float64)
        with torch.no_grad():
            y = m(s, f)
            y_other = m(s, f[:, None].expand(2, 3, 10))  # three identical keys: the same
            torch.testing.assert_close(y, y_other)

    def test_default_sizes(self) -> None:
        m = HCMA().eval()
        assert (m.spatial_dim, m.freq_dim, m.embed_dim, m.num_heads, m.gate_dim) == (
            1792,
            2048,
            1024,
            8,
            2304,
        )
        with torch.no_grad():
            y = m(torch.randn(2, 4, 1792), torch.randn(2, 4, 2048), torch.randn(2, 2304))
            y_vec = m(torch.randn(2, 1792), torch.randn(2, 2048))
        assert y.shape == (2, 1024) and y_vec.shape == (2, 1024)

    def test_train_mode_backward(self) -> None:
        m = _small().train()
        s = torch.randn(2, 3, 12, requires_grad=True)
        f, d = torch.randn(2, 4, 10), torch.randn(2, 6)
        m(s, f, d).square().sum().backward()
        assert s.grad is not None and torch.isfinite(s.grad).all()
        assert m.gate.weight.grad is not None and m.gate.weight.grad.abs().sum() > 0

    def test_gradcheck(self) -> None:
        m = _small(spatial_dim=4, freq_dim=3, embed_dim=4, num_heads=2, gate_dim=5)
        m = m.double().eval()
        s = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
        f = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
        d = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(m, (s, f, d), fast_mode=True)

    def test_gradcheck_train_mode(self) -> None:
        # Batch statistics in training mode: still differentiable with batch > 1.
        m = _small(spatial_dim=4, freq_dim=3, embed_dim=4, num_heads=2, gate_dim=5)
        m = m.double().train()
        s = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
        f = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: m(a, b), (s, f), fast_mode=True)

    def test_autocast_bfloat16(self) -> None:
        m = _small().eval()
        s, f, d = torch.randn(2, 5, 12), torch.randn(2, 4, 10), torch.randn(2, 6)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            y, g = m(s, f, d, return_gate=True)
        assert y.shape == (2, 8) and torch.isfinite(y).all()
        assert g is not None and torch.isfinite(g).all()


    def test_without_gate(self) -> None:
        """``gate_dim=None``: no gate weights at all, the same numbers as ``d=None``."""
        torch.manual_seed(0)
        gated = _small().eval()
        torch.manual_seed(0)
        plain = _small(gate_dim=None).eval()
        assert plain.gate is None and plain.gate_dim is None
        assert not any("gate" in n for n, _ in plain.named_parameters())
        # the gate is built last: the other layers get the same initialisation
        assert set(gated.state_dict()) - set(plain.state_dict()) == {"gate.weight", "gate.bias"}
        for k, v in plain.state_dict().items():
            assert torch.equal(v, gated.state_dict()[k]), k
        s, f = torch.randn(3, 5, 12), torch.randn(3, 4, 10)
        with torch.no_grad():
            y, g = plain(s, f, return_gate=True)
            torch.testing.assert_close(y, gated(s, f), rtol=0, atol=0)
        assert g is None

    def test_without_gate_rejects_d(self) -> None:
        m = _small(gate_dim=None)
        with pytest.raises(ValueError, match="gate_dim=None"):
            m(torch.zeros(2, 12), torch.zeros(2, 10), torch.zeros(2, 6))

    def test_gate_state_dict_names(self) -> None:
        """The gate's keys are those of the former ``nn.Linear`` gate: old checkpoints load."""
        m = _small()
        keys = set(m.state_dict())
        assert {"gate.weight", "gate.bias"} <= keys
        assert m.gate is not None and isinstance(m.gate, SIDAGate)


_SMALL = _small()


class TestHCMABadInput:
    def test_heads_must_divide(self) -> None:
        with pytest.raises(ValueError, match=r"embed_dim.*num_heads.*embed_dim=10.*num_heads=4"):
            HCMA(embed_dim=10, num_heads=4)

    @pytest.mark.parametrize(
        "name", ["spatial_dim", "freq_dim", "embed_dim", "num_heads", "gate_dim"]
    )
    def test_non_positive(self, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            HCMA(**{name: 0})

    def test_not_a_tensor(self) -> None:
        m = _small()
        with pytest.raises(TypeError, match="s must be"):
            m(np.zeros((2, 12), dtype=np.float32), torch.zeros(2, 10))
        with pytest.raises(TypeError, match="f must be"):
            m(torch.zeros(2, 12), [0.0])
        with pytest.raises(TypeError, match="d must be"):
            m(torch.zeros(2, 12), torch.zeros(2, 10), np.zeros((2, 6)))

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_dtype(self, dtype: torch.dtype) -> None:
        m = _small()
        with pytest.raises(ValueError, match="s must be a floating-point"):
            m(torch.zeros(2, 12, dtype=dtype), torch.zeros(2, 10))
        with pytest.raises(ValueError, match="d must be a floating-point"):
            m(torch.zeros(2, 12), torch.zeros(2, 10), torch.zeros(2, 6, dtype=dtype))

    @pytest.mark.parametrize(
        ("s_shape", "f_shape", "match"),
        [
            ((2, 11), (2, 10), r"s must have shape \(N, L, 12\) or \(N, 12\)"),
            ((2, 3, 11), (2, 10), r"s must have shape"),
            ((12,), (2, 10), r"s must have shape"),
            ((2, 1, 3, 12), (2, 10), r"s must have shape"),
            ((2, 12), (2, 4, 9), r"f must have shape \(N, L, 10\) or \(N, 10\)"),
            ((2, 12), (3, 10), "batch size.*2 and 3"),
        ],
    )
    def test_wrong_shapes(self, s_shape: tuple, f_shape: tuple, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            _small()(torch.zeros(s_shape), torch.zeros(f_shape))

    def test_bad_gate_dim(self) -> None:
        with pytest.raises(TypeError, match="gate_dim"):
            HCMA(gate_dim=2304.0)  # type: ignore[arg-type]

    @pytest.mark.parametrize("d_shape", [(2, 5), (3, 6), (6,), (2, 1, 6)])
    def test_wrong_gate_shape(self, d_shape: tuple) -> None:
        with pytest.raises(ValueError, match=r"d must have shape \(N, 6\) with N=2"):
            _small().eval()(torch.zeros(2, 12), torch.zeros(2, 10), torch.zeros(d_shape))


def _gate(gate_dim: int = 6, embed_dim: int = 8) -> SIDAGate:
    torch.manual_seed(1)
    return SIDAGate(gate_dim=gate_dim, embed_dim=embed_dim)


class TestSIDAGate:
    """``SIDAGate``: ``x * sigmoid(W d + b)`` (eqs. 16, 17), shared by HCMA and the detector."""

    def test_smoke(self) -> None:
        y = SIDAGate(embed_dim=32)(torch.randn(2, 32), torch.randn(2, 2304))
        assert y.shape == (2, 32)

    def test_defaults(self) -> None:
        g = SIDAGate()
        assert (g.gate_dim, g.embed_dim) == (2304, 1024)
        assert g.weight.shape == (1024, 2304) and g.bias.shape == (1024,)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_oracle(self, dtype: torch.dtype) -> None:
        m = _gate().to(dtype)
        x, d = torch.randn(3, 8, dtype=dtype), torch.randn(3, 6, dtype=dtype)
        with torch.no_grad():
            y, g = m(x, d, return_gate=True)
        expected_g = 1 / (1 + torch.exp(-(d @ m.weight.T + m.bias)))
        torch.testing.assert_close(g, expected_g)
        torch.testing.assert_close(y, x * expected_g)
        assert ((g > 0) & (g < 1)).all()

    def test_initialisation_equals_linear(self) -> None:
        """The same random draws as ``nn.Linear(gate_dim, embed_dim)``: seeded numbers stay."""
        torch.manual_seed(4)
        lin = torch.nn.Linear(6, 8)
        after_linear = torch.rand(3)
        torch.manual_seed(4)
        gate = SIDAGate(6, 8)
        torch.testing.assert_close(torch.rand(3), after_linear, rtol=0, atol=0)
        assert torch.equal(gate.weight, lin.weight) and torch.equal(gate.bias, lin.bias)
        gate.load_state_dict(lin.state_dict())  # the same names

    def test_empty_batch(self) -> None:
        assert _gate()(torch.zeros(0, 8), torch.zeros(0, 6)).shape == (0, 8)

    def test_gradcheck(self) -> None:
        m = _gate(5, 4).double()
        x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
        d = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(m, (x, d), fast_mode=True)

    def test_autocast_bfloat16(self) -> None:
        m = _gate()
        x, d = torch.randn(2, 8), torch.randn(2, 6)
        with torch.no_grad():
            ref = m(x, d)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = m(x, d)
        torch.testing.assert_close(y.float(), ref, atol=0.02, rtol=0.02)

    def test_dtype_rule(self) -> None:
        m = _gate()
        with pytest.raises(ValueError, match=r"x has dtype torch.float64.*SIDAGate"):
            m(torch.zeros(2, 8, dtype=torch.float64), torch.zeros(2, 6))
        y = m(torch.zeros(2, 8), torch.zeros(2, 6, dtype=torch.float64))  # d follows x
        assert y.dtype == torch.float32

    def test_bad_input(self) -> None:
        m = _gate()
        with pytest.raises(TypeError, match="x must be"):
            m(np.zeros((2, 8), dtype=np.float32), torch.zeros(2, 6))
        with pytest.raises(TypeError, match="d must be"):
            m(torch.zeros(2, 8), np.zeros((2, 6)))
        with pytest.raises(ValueError, match="d must be a floating-point"):
            m(torch.zeros(2, 8), torch.zeros(2, 6, dtype=torch.int64))
        with pytest.raises(ValueError, match="x must be a floating-point"):
            m(torch.zeros(2, 8, dtype=torch.uint8), torch.zeros(2, 6))
        with pytest.raises(ValueError, match=r"x must have shape \(N, 8\), got \(2, 7\)"):
            m(torch.zeros(2, 7), torch.zeros(2, 6))
        with pytest.raises(ValueError, match=r"x must have shape"):
            m(torch.zeros(2, 1, 8), torch.zeros(2, 6))
        for shape in [(2, 5), (3, 6), (6,)]:
            with pytest.raises(ValueError, match=r"d must have shape \(N, 6\) with N=2"):
                m(torch.zeros(2, 8), torch.zeros(shape))

    @pytest.mark.parametrize("name", ["gate_dim", "embed_dim"])
    def test_non_positive(self, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            SIDAGate(**{name: 0})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    m = _small().double().eval()
    s = torch.randn(3, 5, 12, dtype=torch.float64)
    f = torch.randn(3, 4, 10, dtype=torch.float64)
    d = torch.randn(3, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = m(s, f, d)
        y = m.cuda()(s.cuda(), f.cuda(), d.cuda())
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), ref)
