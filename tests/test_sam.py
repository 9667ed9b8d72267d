"""Sharpness-aware minimisation: the ascent step, the frozen BatchNorm statistics, and a SAM step
of the trainer against one computed by hand."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import Crash, ToyDetector, ToyFaces, _assert_same_weights, _cfg
from torch import nn

from freqforensics.config import load_config
from freqforensics.data.dataset import collate_frames
from freqforensics.engine import TrainConfig, Trainer
from freqforensics.engine.sam import ascent_step, frozen_bn_stats, undo
from freqforensics.training import _train_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _with_grads(seed: int, scale: float = 1.0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1))
    loss = model(torch.randn(8, 5)).square().mean() * scale
    loss.backward()
    return model


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().double().flatten() for t in tensors])


class TestAscentStep:
    @settings(max_examples=25, deadline=None)
    @given(seed=st.integers(0, 10_000), rho=st.floats(1e-3, 1.0))
    def test_moves_rho_along_the_gradient_and_back_exactly(self, seed: int, rho: float) -> None:
        model = _with_grads(seed)
        params = list(model.parameters())
        before = [p.detach().clone() for p in params]
        grad = _flat([p.grad for p in params if p.grad is not None])
        saved = ascent_step(params, rho)
        assert len(saved) == len(params)
        move = _flat(params) - _flat(before)
        assert math.isclose(float(move.norm()), rho, rel_tol=1e-4)
        cosine = float(move @ grad / (move.norm() * grad.norm()))
        assert cosine > 1 - 1e-5
        undo(saved)
        for p, b in zip(params, before, strict=True):
            assert torch.equal(p.detach(), b)

    def test_a_loss_scale_cancels(self) -> None:
        plain, scaled = _with_grads(3), _with_grads(3, scale=1024.0)
        ascent_step(list(plain.parameters()), 0.05)
        ascent_step(list(scaled.parameters()), 0.05)
        _assert_same_weights(plain, scaled, atol=1e-6)

    def test_parameters_without_a_gradient_stay(self) -> None:
        model = _with_grads(1)
        frozen = model[0].bias
        frozen.grad = None
        before = frozen.detach().clone()
        saved = ascent_step(list(model.parameters()), 0.1)
        assert len(saved) == 3 and all(p is not frozen for p, _ in saved)
        assert torch.equal(frozen.detach(), before)

    @pytest.mark.parametrize("fill", [0.0, math.nan, math.inf])
    def test_zero_or_non_finite_gradient_moves_nothing(self, fill: float) -> None:
        model = _with_grads(2)
        params = list(model.parameters())
        params[0].grad.fill_(fill)  # type: ignore[union-attr]
        if fill == 0.0:
            for p in params:
                p.grad.zero_()  # type: ignore[union-attr]
        before = [p.detach().clone() for p in params]
        assert ascent_step(params, 0.1) == []
        for p, b in zip(params, before, strict=True):
            assert torch.equal(p.detach(), b)
        assert ascent_step([nn.Parameter(torch.ones(2))], 0.1) == []  # no gradient at all


class TestFrozenBNStats:
    @pytest.mark.parametrize("momentum", [0.1, None])
    def test_running_statistics_and_count_stay(self, momentum: float | None) -> None:
        bn = nn.BatchNorm2d(3, momentum=momentum).train()
        bn(torch.randn(4, 3, 5, 5) + 2)
        mean, var = bn.running_mean.clone(), bn.running_var.clone()
        count = bn.num_batches_tracked.clone()
        x = torch.randn(4, 3, 5, 5) * 3 - 1
        with frozen_bn_stats(nn.Sequential(bn)):
            out = bn(x)
        assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
        assert torch.equal(bn.num_batches_tracked, count)
        assert bn.momentum == momentum
        # it still normalises with the batch's own statistics
        torch.testing.assert_close(out, F.batch_norm(x, None, None, bn.weight, bn.bias, True))
        bn(x)  # and the statistics move again after the block
        assert not torch.equal(bn.running_mean, mean)

    def test_restored_after_an_error(self) -> None:
        bn = nn.BatchNorm1d(2, momentum=0.3)
        with pytest.raises(RuntimeError), frozen_bn_stats(bn):
            raise RuntimeError("boom")
        assert bn.momentum == 0.3


class TestTrainer:
    def test_one_step_equals_sam_by_hand(self, tmp_path: Path) -> None:
        rho, lr = 0.05, 1e-2
        torch.manual_seed(0)
        model = ToyDetector(drop=0.0)
        start = copy.deepcopy(model)
        train = ToyFaces(16)
        cfg = _cfg(epochs=1, max_steps_per_epoch=1, sam_rho=rho, lr=lr, weight_decay=0.0)
        trainer = Trainer(model, train, None, cfg, tmp_path)
        trainer.fit()
        read = [i for _, i in train.seen]
        assert len(read) == cfg.batch_size  # the second pass reuses the batch
        batch = collate_frames([train[i] for i in read])

        # by hand: gradient at w, move rho along it, gradient there (BatchNorm statistics
        # kept from the first pass), back to w, one Adam step with the second gradient
        ref = start.train()
        params = list(ref.parameters())
        loss_fn = nn.BCEWithLogitsLoss()
        loss_fn(ref(batch["image"]), batch["label"].float()).backward()
        first = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
        norm = _flat(first).norm().item()
        stats = {k: v.clone() for k, v in ref.state_dict().items() if "running" in k}
        with torch.no_grad():
            for p, g in zip(params, first, strict=True):
                p.add_(g * (rho / norm))
        ref.zero_grad()
        ref.bn.momentum = 0.0
        loss_fn(ref(batch["image"]), batch["label"].float()).backward()
        ref.bn.momentum = 0.1
        ref.bn.num_batches_tracked -= 1  # one batch seen, not two
        second = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
        with torch.no_grad():
            for p, g in zip(params, first, strict=True):
                p.sub_(g * (rho / norm))
        torch.optim.Adam(params, lr=lr, weight_decay=0.0).step()
        for k, v in stats.items():
            assert torch.equal(ref.state_dict()[k], v), k

        # Adam's first moment after one step is (1 - beta1) times the gradient it was given:
        # SAM's, not the plain one (conv.bias feeds BatchNorm: its gradient is rounding noise)
        names = [name for name, _ in model.named_parameters()]
        for name, p, g1, g2 in zip(names, model.parameters(), first, second, strict=True):
            if name == "conv.bias":
                continue
            given = trainer.optimizer.state[p]["exp_avg"] / 0.1
            torch.testing.assert_close(given, g2, atol=1e-6, rtol=1e-4, msg=name)
            assert not torch.allclose(given, g1, atol=1e-6, rtol=1e-3), name
        # and the weights (Adam's first step is about lr * sign(gradient)) and statistics
        got, want = model.state_dict(), ref.state_dict()
        assert got.keys() == want.keys()
        for key in sorted(set(got) - {"conv.bias"}):
            torch.testing.assert_close(got[key], want[key], atol=1e-6, rtol=0, msg=key)

    def test_sam_run_learns_and_repeats(self, tmp_path: Path) -> None:
        runs = []
        for name in ("a", "b"):
            torch.manual_seed(0)
            trainer = Trainer(ToyDetector(), ToyFaces(32), ToyFaces(16, seed=1),
                              _cfg(epochs=4, sam_rho=0.05, accumulate=2, batch_size=4),
                              tmp_path / name)
            runs.append(trainer.fit())
        losses = [row["train_loss"] for row in runs[0].history]
        assert losses[-1] < losses[0]
        assert [row["train_loss"] for row in runs[1].history] == losses

    def test_crash_then_resume_equals_uninterrupted(self, tmp_path: Path) -> None:
        # dropout draws a fresh mask in the second pass too: the RNG state must resume with it
        cfg = _cfg(epochs=2, checkpoint_every=1, sam_rho=0.05)
        runs = {}
        for name, crash in (("full", None), ("crash", 10)):
            torch.manual_seed(0)
            trainer = Trainer(ToyDetector(), ToyFaces(16, crash_after=crash), None, cfg,
                              tmp_path / name)
            if crash is None:
                trainer.fit()
            else:
                with pytest.raises(Crash):
                    trainer.fit()
                torch.manual_seed(99)  # other initial weights: all reloaded
                trainer = Trainer(ToyDetector(), ToyFaces(16), None, cfg, tmp_path / name)
                trainer.fit(resume=True)
                assert trainer.train_set.seen == runs["full"].train_set.seen[-(32 - 8):]
            runs[name] = trainer
        _assert_same_weights(runs["crash"].model, runs["full"].model)

    @pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, True, "0.05"])
    def test_bad_rho_is_a_value_error(self, bad: object) -> None:
        with pytest.raises(ValueError, match=r"sam_rho must be a finite number >= 0 .*got"):
            TrainConfig(sam_rho=bad)  # type: ignore[arg-type]

    def test_config_reaches_the_trainer(self) -> None:
        config = load_config(overrides=["train.sam_rho=0.05"])
        assert _train_config(config, 1).sam_rho == 0.05
        assert _train_config(load_config(), 1).sam_rho == 0.0
