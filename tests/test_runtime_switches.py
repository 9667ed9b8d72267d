"""The GPU-ready switches (``runtime.channels_last``, ``runtime.autocast``, ``runtime.compile``)
checked on the CPU: config round trip, parity of the detector's forward with each switch against
the default, and a two-step training run with each whose checkpoint loads into a plain model.

The detector is the tiny CPU preset (64 px). ``torch.compile`` (inductor, C++ code generation)
takes tens of seconds on a busy CPU: the compiled forward is one test, the compiled training
run is in the slow suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from needs import need_module
from test_engine import ToyFaces, _cfg
from toys import TINY

from freqforensics.config import RuntimeSection, load_config, save_config
from freqforensics.engine import TrainConfig, Trainer
from freqforensics.engine.precision import amp_dtype
from freqforensics.engine.runtime import channels_last_images, compile_module, to_channels_last
from freqforensics.engine.state import config_differences
from freqforensics.training import _train_config

pytestmark = pytest.mark.usefixtures("one_thread")

SWITCHES = ["runtime.channels_last=true", "runtime.autocast=bf16", "runtime.compile=true"]


def _tiny(seed: int = 0) -> Any:
    need_module("timm")
    from freqforensics import create_model

    torch.manual_seed(seed)
    return create_model("sfcl_hcmf_cpu", **TINY)


def _images(n: int = 2, size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _randomize_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics, so eval mode is not the identity normalisation."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
    return model


# ------------------------------------------------------------------------------- config
class TestConfig:
    def test_defaults_are_off(self) -> None:
        runtime = load_config().runtime
        assert (runtime.channels_last, runtime.autocast, runtime.compile) == (False, None, False)
        tcfg = _train_config(load_config(), 1)
        assert (tcfg.channels_last, tcfg.autocast, tcfg.compile) == (False, None, False)

    def test_yaml_round_trip(self, tmp_path: Path) -> None:
        config = load_config(overrides=SWITCHES)
        assert (config.runtime.channels_last, config.runtime.autocast) == (True, "bf16")
        assert config.runtime.compile is True
        path = save_config(config, tmp_path / "config.yaml")
        text = path.read_text()
        for line in ("channels_last: true", "autocast: bf16", "compile: true"):
            assert line in text
        assert load_config(path) == config
        fp16 = load_config(path, overrides=["runtime.autocast=fp16"])
        assert fp16.runtime.autocast == "fp16"
        assert load_config(path, overrides=["runtime.autocast=null"]).runtime.autocast is None

    def test_mapped_into_the_trainer_config(self) -> None:
        tcfg = _train_config(load_config(overrides=SWITCHES), 1)
        assert (tcfg.channels_last, tcfg.autocast, tcfg.compile) == (True, "bf16", True)
        assert tcfg.amp is True  # train.amp is left as it is

    @pytest.mark.parametrize("value", ["bfloat16", "fp32", "true"])
    def test_bad_autocast(self, value: str) -> None:
        with pytest.raises(ValueError, match="autocast"):
            load_config(overrides=[f"runtime.autocast={value}"])
        with pytest.raises(ValueError, match="autocast"):
            RuntimeSection(autocast=value)
        with pytest.raises(ValueError, match="autocast"):
            TrainConfig(autocast=value)

    def test_bad_flags(self) -> None:
        with pytest.raises(ValueError, match="channels_last"):
            load_config(overrides=["runtime.channels_last=sometimes"])
        with pytest.raises(ValueError, match="compile"):
            TrainConfig(compile="yes")  # type: ignore[arg-type]

    def test_amp_dtype(self) -> None:
        cpu, cuda = torch.device("cpu"), torch.device("cuda")
        assert amp_dtype(cpu, True) is None  # train.amp: CUDA only
        assert amp_dtype(cpu, False, "bf16") == torch.bfloat16  # autocast: any device
        assert amp_dtype(cpu, True, "fp16") == torch.float16
        assert amp_dtype(cuda, False, "bf16") == torch.bfloat16
        assert amp_dtype(cuda, False) is None

    def test_resume_may_change_layout_and_compile_not_autocast(self) -> None:
        stored = _cfg().__dict__
        assert config_differences(stored, _cfg(channels_last=True, compile=True)) == []
        assert config_differences(stored, _cfg(autocast="bf16")) == ["autocast: None -> 'bf16'"]
        # a state saved before the switches existed resumes
        old = {k: v for k, v in stored.items() if k not in ("channels_last", "compile")}
        assert config_differences(old, _cfg(channels_last=True, compile=True)) == []


# ------------------------------------------------------------------------ channels_last
class TestChannelsLast:
    def test_converts_only_4d_tensors(self) -> None:
        model = to_channels_last(_tiny())
        four = [p for p in model.parameters() if p.dim() == 4]
        five = [p for p in model.parameters() if p.dim() == 5]  # SBCM's Conv3d kernels
        assert four and five
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in four)
        assert all(p.is_contiguous() for p in five)

    @pytest.mark.parametrize("size", [64, 128])
    def test_forward_equals_default(self, size: int) -> None:
        model = _randomize_norms(_tiny()).eval()
        x = _images(2, size)
        with torch.no_grad():
            expected = model.forward_intermediates(x)
            to_channels_last(model)
            x_cl = channels_last_images(x)
            assert x_cl.is_contiguous(memory_format=torch.channels_last)
            got = model.forward_intermediates(x_cl)
        for key in ("coeffs", "freq_local", "spatial_map", "freq_map", "sida", "logits"):
            torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-5, msg=key)

    def test_layers_accept_channels_last_inputs(self) -> None:
        model = _tiny().eval()
        x = _images(2, 64)
        x_cl = channels_last_images(x)
        with torch.no_grad():
            torch.testing.assert_close(model.dct(x_cl), model.dct(x), rtol=0, atol=1e-6)
            torch.testing.assert_close(model.sida(x_cl), model.sida(x), rtol=1e-5, atol=1e-5)

    def test_gradients_equal_default(self) -> None:
        x = _images(4, 64)
        grads = []
        for channels_last in (False, True):
            model = _tiny().train()
            if channels_last:
                to_channels_last(model)
            images = channels_last_images(x) if channels_last else x
            model(images).sum().backward()
            grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        assert grads[0].keys() == grads[1].keys()
        flat = [torch.cat([g.flatten() for g in grad.values()]) for grad in grads]
        assert (flat[1] - flat[0]).norm() <= 1e-4 * flat[0].norm()  # float32 summation order
        for name in grads[0]:  # (largest gradients ~2: the stem's; a few are ~0 plus noise)
            torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-3, atol=1e-4,
                                       msg=name)


# ----------------------------------------------------------------------------- autocast
class TestAutocast:
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
    def test_forward_is_close(self, dtype: torch.dtype) -> None:
        model = _randomize_norms(_tiny()).eval()
        x = _images(4, 64)
        with torch.no_grad():
            reference = model(x)
            with torch.autocast("cpu", dtype=dtype):
                logits = model(x)
        assert logits.dtype == dtype  # the classifier ran in low precision
        torch.testing.assert_close(logits.float(), reference, rtol=0, atol=0.1)
        torch.testing.assert_close(torch.sigmoid(logits.float()), torch.sigmoid(reference),
                                   rtol=0, atol=0.02)

    def test_gradients_are_finite(self) -> None:
        model = _tiny().train()
        x, y = _images(4, 64), torch.tensor([0.0, 1.0, 0.0, 1.0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).float(), y)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(g.dtype == torch.float32 for g in grads)
        assert all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


# ------------------------------------------------------------------------------ compile
def test_compiled_forward_aot_eager() -> None:
    """Dynamo captures the detector and keeps its numbers (no C++ code generation: fast)."""
    torch._dynamo.reset()
    model = _randomize_norms(_tiny()).eval()
    x = channels_last_images(_images(2, 64))
    compiled = torch.compile(to_channels_last(model), backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_forward_equals_eager() -> None:
    """The switch's compilation (inductor, default mode): about 80 s on a busy CPU."""
    torch._dynamo.reset()
    model = _randomize_norms(_tiny()).eval()
    x = _images(2, 64)
    compiled = compile_module(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    # the compiled wrapper shares the weights; the plain module keeps the plain names
    assert compiled.state_dict().keys() != model.state_dict().keys()
    assert all(not k.startswith("_orig_mod") for k in model.state_dict())


# ----------------------------------------------------------------------- training runs
def _train(tmp_path: Path, **switches: Any) -> Trainer:
    model = _tiny()
    train, val = ToyFaces(8, size=64), ToyFaces(8, size=64, seed=1)
    cfg = _cfg(epochs=1, batch_size=4, lr=1e-3, **switches)  # 2 steps
    trainer = Trainer(model, train, val, cfg, tmp_path)
    trainer.fit()
    return trainer


def _check_run(tmp_path: Path, trainer: Trainer) -> None:
    from freqforensics.models import SFCLHCMF

    assert trainer.global_step == 2
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in trainer.history)
    best = tmp_path / "best.safetensors"
    plain = SFCLHCMF.from_checkpoint(best).eval()
    trained = trainer.model.state_dict()
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(value, trained[key], rtol=0, atol=0, msg=key)
    x = _images(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), trainer.model.eval()(x), rtol=1e-5, atol=1e-5)
    plain.load_weights(tmp_path / "last.safetensors")  # the training state's weights too


@pytest.mark.parametrize(
    "switches",
    [{"channels_last": True}, {"autocast": "bf16"}, {"autocast": "fp16"},
     {"channels_last": True, "autocast": "bf16"}],
    ids=["channels_last", "bf16", "fp16", "channels_last+bf16"],
)
def test_two_step_run(tmp_path: Path, switches: dict[str, Any]) -> None:
    trainer = _train(tmp_path, **switches)
    if switches.get("autocast") == "fp16":
        assert trainer.scaler.is_enabled()  # float16 trains with a loss scaler, on the CPU too
    _check_run(tmp_path, trainer)


@pytest.mark.slow
def test_two_step_run_compiled(tmp_path: Path) -> None:
    """All three switches together, as on a GPU: compiled training and evaluation."""
    torch._dynamo.reset()
    trainer = _train(tmp_path, compile=True, channels_last=True, autocast="bf16")
    assert trainer.net is not trainer.model
    _check_run(tmp_path, trainer)
