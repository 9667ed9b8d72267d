"""Tests of the reference detector SFCL-HCMF (``freqforensics.models``).

The fast tests use a tiny configuration (64 px, TinyNet-E spatial branch, CNN-F without its
middle blocks, HCMA 32/2, SBCM (4, 8, 8)); the paper's configuration (EfficientNet-B4 and the
full Xception at 380 px) runs in the ``slow`` suite, one image at a time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from freqforensics.models import CHECKPOINT_FORMAT, PRESETS, SFCLHCMF, SFCLHCMFConfig, preset
from freqforensics.models.sfcl_hcmf import Features

EMBED = 32
SIDA_DIM = 2304  # the SIDA vector's length (api-contract.md)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**changes: Any) -> SFCLHCMFConfig:
    return preset(
        "cpu", img_size=64, embed_dim=EMBED, num_heads=2, sbcm_channels=(4, 8, 8), **changes
    )


def _images(n: int, h: int, w: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w or h, generator=g)


@pytest.fixture(scope="module")
def tiny() -> SFCLHCMF:
    """The tiny model in eval mode, with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    model = SFCLHCMF(tiny_config())
    model.train()
    with torch.no_grad():  # a few batches to move the running statistics off their defaults
        for seed in range(2):
            model(_images(4, 64, seed=seed))
    return model.eval()


#: The ablations of Tables 3 and 4, all off, and concatenation fusion with the SIDA gate.
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "no_sbcm": {"use_sbcm": False},
    "no_faae": {"use_faae": False},
    "no_hcma": {"use_hcma": False},
    "no_sida": {"use_sida": False},
    "no_hcma_no_sida": {"use_hcma": False, "use_sida": False},
    "all_off": {"use_sbcm": False, "use_faae": False, "use_hcma": False, "use_sida": False},
}


@pytest.fixture(scope="module")
def ablated() -> dict[str, SFCLHCMF]:
    models = {}
    for name, flags in ABLATIONS.items():
        torch.manual_seed(0)
        models[name] = SFCLHCMF(tiny_config(**flags)).eval()
    return models


# ----------------------------------------------------------------------------------- shapes
class TestShapes:
    @pytest.mark.parametrize("size", [64, 96, 100, 128])
    @pytest.mark.parametrize("batch", [1, 3])
    def test_tiny_sizes(self, tiny: SFCLHCMF, size: int, batch: int) -> None:
        with torch.no_grad():
            logits = tiny(_images(batch, size))
        assert logits.shape == (batch,)
        assert logits.dtype == torch.float32 and torch.isfinite(logits).all()

    def test_not_square(self, tiny: SFCLHCMF) -> None:
        with torch.no_grad():
            out = tiny.forward_intermediates(_images(2, 72, 104), attention=True)
        assert out["logits"].shape == (2,)
        assert out["coeffs"].shape == (2, 3, 64, 9, 13)

    @pytest.mark.parametrize("size", [128, 100])
    def test_cpu_preset(self, size: int) -> None:
        model = SFCLHCMF(preset("cpu")).eval()
        with torch.no_grad():
            out = model.forward_intermediates(_images(2, size))
        assert out["logits"].shape == (2,)
        assert out["features"].shape == (2, PRESETS["cpu"].embed_dim)
        assert out["freq_local"].shape[1] == 32 * 3  # SBCM (8, 16, 32): 32 x 3 band groups

    def test_train_mode_batch(self) -> None:
        model = SFCLHCMF(tiny_config()).train()
        logits = model(_images(2, 64))
        assert logits.shape == (2,) and logits.requires_grad

    def test_bfloat16_autocast(self, tiny: SFCLHCMF) -> None:
        x = _images(2, 64)
        with torch.no_grad():
            expected = tiny(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = tiny.forward_intermediates(x, attention=True)
        assert out["sida"].dtype == torch.float32  # the statistics stay in float32
        assert torch.isfinite(out["logits"].float()).all()
        torch.testing.assert_close(out["logits"].float(), expected, atol=0.05, rtol=0.05)

    def test_float64(self) -> None:
        model = SFCLHCMF(tiny_config()).double().eval()
        with torch.no_grad():
            logits = model(_images(2, 64).double())
        assert logits.dtype == torch.float64 and logits.shape == (2,)


@pytest.fixture(scope="module")
def paper() -> SFCLHCMF:
    """The paper's model (50 M parameters): about 6 s to build on one core."""
    torch.manual_seed(0)
    return SFCLHCMF(preset("paper")).eval()


class TestPaperModel:
    """The paper's model: EfficientNet-B4 (1792 features) and the full Xception (2048).

    One image at a time, in eval mode, without gradients: about 10 s on one core in all.
    """

    def test_structure(self, paper: SFCLHCMF) -> None:
        cfg = paper.config
        assert cfg == SFCLHCMFConfig() and cfg.img_size == 380 and not cfg.pretrained
        assert cfg.spatial_backbone == "efficientnet_b4"
        assert paper.spatial.num_features == 1792
        assert paper.sbcm is not None and paper.sbcm.out_features == 192
        names = dict(paper.cnn_f.named_children())
        # block2 takes the 192 SBCM channels; conv1, bn1, conv2, bn2 and block1 are gone
        block2 = names["0"]
        first = next(m for m in block2.modules() if isinstance(m, nn.Conv2d))
        assert first.in_channels == 192
        convs = [m for m in paper.cnn_f.modules() if isinstance(m, nn.Conv2d)]
        assert all(c.in_channels != 3 for c in convs)  # no RGB stem
        assert len(names) == 2 + 8 + 1 + 6  # block2, block3, 8 middle blocks, block12, exit
        assert paper.hcma is not None and paper.hcma.embed_dim == 1024
        assert paper.hcma.num_heads == 8

    @pytest.mark.parametrize("size", [380, 236])
    def test_shapes(self, paper: SFCLHCMF, size: int) -> None:
        with torch.no_grad():
            out = paper.forward_intermediates(_images(1, size), attention=True)
        blocks = size // 8  # 380 -> 47: the DCT crops to the 8-pixel grid
        grid = math.ceil(size / 8)  # the spatial branch pads: 380 -> 48
        assert out["coeffs"].shape == (1, 3, 64, blocks, blocks)
        assert out["freq_local"].shape == (1, 192, blocks, blocks)
        assert out["spatial_map"].shape[:2] == (1, 1792)
        assert out["freq_map"].shape[:2] == (1, 2048)
        assert out["faae_attention"].shape == (1, grid * grid, grid * grid)
        side = out["spatial_map"].shape[-1]  # stride 32: 380 -> 12, 236 -> 8
        assert out["hcma_tokens"].shape == (1, side * side, 1024)
        assert out["sida"].shape == (1, SIDA_DIM)
        assert out["gate"].shape == out["features"].shape == (1, 1024)
        assert out["logits"].shape == (1,) and torch.isfinite(out["logits"]).all()


# -------------------------------------------------------------------------------- ablations
class TestAblations:
    @pytest.mark.parametrize("name", list(ABLATIONS))
    def test_shapes_and_modules(self, ablated: dict[str, SFCLHCMF], name: str) -> None:
        model = ablated[name]
        cfg = model.config
        with torch.no_grad():
            out = model.forward_intermediates(_images(2, 96), attention=True)
        assert out["logits"].shape == (2,) and out["features"].shape == (2, EMBED)
        assert torch.isfinite(out["logits"]).all()
        keys = {"coeffs", "freq_local", "freq_map", "spatial_map", "features", "logits"}
        if cfg.use_faae:
            keys.add("faae_attention")
        if cfg.use_hcma:
            keys.add("hcma_tokens")
        if cfg.use_sida:
            keys |= {"sida", "gate"}
        assert set(out) == keys

        assert (model.sbcm is not None) is cfg.use_sbcm
        assert out["freq_local"].shape == ((2, 8 * 3, 12, 12) if cfg.use_sbcm else (2, 192, 12, 12))
        assert (model.faae is not None) is cfg.use_faae
        assert (model.hcma is not None) is cfg.use_hcma
        assert (model.concat is not None) is (not cfg.use_hcma)
        assert (model.sida_norm is not None) is cfg.use_sida
        assert (model.gate is not None) is (cfg.use_sida and not cfg.use_hcma)
        names = [n for n, _ in model.named_parameters()]
        assert any(n.startswith("sbcm.") for n in names) is cfg.use_sbcm
        assert any(n.startswith("faae.") for n in names) is cfg.use_faae
        assert any(n.startswith("hcma.") for n in names) is cfg.use_hcma
        # no SIDA: no gate weights anywhere (neither HCMA's W_g nor the concat gate)
        assert any("gate" in n for n in names) is cfg.use_sida
        assert any(n.startswith("sida_norm.") for n in names) is cfg.use_sida

    def test_parameter_counts_differ(self, ablated: dict[str, SFCLHCMF]) -> None:
        counts = {name: m.num_parameters() for name, m in ablated.items()}
        assert len(set(counts.values())) == len(counts), counts
        full = counts["full"]
        assert counts["no_faae"] < full and counts["no_sida"] < full
        assert counts["no_sida"] == full - 2 * SIDA_DIM - (SIDA_DIM * EMBED + EMBED)
        m = ablated["full"]
        assert m.num_parameters(trainable_only=True) == full
        for p in m.sbcm.parameters():  # type: ignore[union-attr]
            p.requires_grad_(False)
        try:
            frozen = sum(p.numel() for p in m.sbcm.parameters())  # type: ignore[union-attr]
            assert m.num_parameters(trainable_only=True) == full - frozen
        finally:
            for p in m.sbcm.parameters():  # type: ignore[union-attr]
                p.requires_grad_(True)

    @pytest.mark.parametrize("name", list(ABLATIONS))
    def test_every_parameter_gets_a_gradient(self, name: str) -> None:
        """No dead weights: DistributedDataParallel fails on unused parameters."""
        torch.manual_seed(0)
        model = SFCLHCMF(tiny_config(**ABLATIONS[name])).train()
        model(_images(2, 64)).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing


# ------------------------------------------------------------------------------ the forward
class TestForward:
    def test_intermediates(self, tiny: SFCLHCMF) -> None:
        x = _images(2, 64)
        with torch.no_grad():
            out = tiny.forward_intermediates(x)
            out_attn = tiny.forward_intermediates(x, attention=True)
        assert "faae_attention" not in out and "hcma_tokens" not in out
        assert set(out_attn) == set(out) | {"faae_attention", "hcma_tokens"}
        assert out["coeffs"].shape == (2, 3, 64, 8, 8)
        assert out["freq_local"].shape == (2, 24, 8, 8)
        assert out["spatial_map"].shape == (2, tiny.spatial.num_features, 2, 2)
        assert out["freq_map"].shape == (2, 2048, 1, 1)
        assert out["sida"].shape == (2, SIDA_DIM)
        assert out["gate"].shape == (2, EMBED)
        assert ((out["gate"] > 0) & (out["gate"] < 1)).all()
        assert out["features"].shape == (2, EMBED) and out["logits"].shape == (2,)
        attn = out_attn["faae_attention"]
        assert attn.shape == (2, 64, 64)  # the 8 x 8 stride-8 grid
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 64))
        # the explicit attention path gives the same logits as the fused kernel
        torch.testing.assert_close(out_attn["logits"], out["logits"], atol=1e-5, rtol=1e-5)
        # HCMA's tokens (one per cell of the 2 x 2 spatial map), pooled and gated: the features
        tokens = out_attn["hcma_tokens"]
        assert tokens.shape == (2, 4, EMBED)
        torch.testing.assert_close(tokens.mean(1) * out_attn["gate"], out_attn["features"])

    def test_features_and_head_equal_forward(self, tiny: SFCLHCMF) -> None:
        x = _images(3, 64)
        with torch.no_grad():
            logits = tiny(x)
            feats = tiny.forward_features(x)
            pre = tiny.forward_head(feats, pre_logits=True)
            head = tiny.forward_head(feats)
            out = tiny.forward_intermediates(x)
        assert isinstance(feats, Features)
        spatial, frequency, sida = feats  # a NamedTuple
        assert spatial.shape == (3, tiny.spatial.num_features, 2, 2)  # after FAAE and the head
        assert frequency.shape == (3, 2048, 1, 1)  # CNN-F
        assert sida is not None and sida.shape == (3, SIDA_DIM)  # compressed, as the gate reads
        assert torch.equal(spatial, out["spatial_map"]) and torch.equal(frequency, out["freq_map"])
        assert torch.equal(sida, out["sida"])
        assert pre.shape == (3, EMBED)
        assert torch.equal(pre, out["features"])  # the gated embedding
        assert torch.equal(head, logits) and torch.equal(out["logits"], logits)  # bit for bit

    @pytest.mark.parametrize("name", list(ABLATIONS))
    def test_split_is_exact_for_every_ablation(
        self, ablated: dict[str, SFCLHCMF], name: str
    ) -> None:
        """``forward == forward_head(forward_features(...))`` bit for bit, in eval mode."""
        model = ablated[name]
        x = _images(2, 72, seed=4)
        sida = torch.rand(2, SIDA_DIM) * 10
        with torch.no_grad():
            for kwargs in ({}, {"sida": sida}):
                feats = model.forward_features(x, **kwargs)
                assert (feats.sida is not None) is model.config.use_sida
                assert torch.equal(model.forward_head(feats), model(x, **kwargs))

    def test_pre_logits_is_before_dropout(self) -> None:
        torch.manual_seed(0)
        model = SFCLHCMF(tiny_config(drop_rate=0.9)).eval()
        x = _images(2, 64)
        with torch.no_grad():
            feats = model.forward_features(x)
            expected = model.forward_head(feats, pre_logits=True)
            model.train()  # dropout on; BatchNorm uses batch statistics: reuse the features
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            torch.testing.assert_close(
                model.forward_head(feats, pre_logits=True), expected, rtol=0, atol=0
            )
            assert not torch.equal(model.forward_head(feats), model.eval().forward_head(feats))

    def test_forward_head_takes_a_plain_tuple(self, tiny: SFCLHCMF) -> None:
        x = _images(2, 64)
        with torch.no_grad():
            feats = tiny.forward_features(x)
            torch.testing.assert_close(
                tiny.forward_head(tuple(feats)), tiny.forward_head(feats), rtol=0, atol=0
            )

    def test_forward_head_bad_features(self, tiny: SFCLHCMF) -> None:
        with torch.no_grad():
            spatial, frequency, sida = tiny.forward_features(_images(2, 64))
        with pytest.raises(TypeError, match="features must be the Features"):
            tiny.forward_head(spatial)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"features.spatial must have shape \(N, \d+, h, w\)"):
            tiny.forward_head(Features(spatial[:, :5], frequency, sida))
        with pytest.raises(ValueError, match=r"features.frequency must have shape.*N=2"):
            tiny.forward_head(Features(spatial, frequency[:1], sida))
        with pytest.raises(ValueError, match="features.sida is None"):
            tiny.forward_head(Features(spatial, frequency, None))
        with pytest.raises(ValueError, match=r"d must have shape \(N, 2304\)"):
            tiny.forward_head(Features(spatial, frequency, sida[:, :100]))  # type: ignore[index]
        with pytest.raises(TypeError, match="features.spatial must be a torch.Tensor"):
            tiny.forward_head(Features(spatial.numpy(), frequency, sida))  # type: ignore[arg-type]

    def test_forward_head_ignores_sida_without_the_gate(
        self, ablated: dict[str, SFCLHCMF]
    ) -> None:
        model = ablated["no_sida"]
        with torch.no_grad():
            feats = model.forward_features(_images(2, 64))
            assert feats.sida is None
            with_sida = feats._replace(sida=torch.rand(2, SIDA_DIM))
            assert torch.equal(model.forward_head(with_sida), model.forward_head(feats))

    def test_precomputed_sida_equals_internal(self, tiny: SFCLHCMF) -> None:
        x = _images(2, 96)
        with torch.no_grad():
            sida = tiny.sida(x)
            assert sida.shape == (2, SIDA_DIM)
            torch.testing.assert_close(tiny(x, sida=sida), tiny(x), atol=0, rtol=0)

    def test_sida_of_original_resolution_crops(self, tiny: SFCLHCMF) -> None:
        """The global branch takes the statistics of larger, differently sized crops."""
        crops = [torch.rand(3, 160, 128), torch.rand(3, 96, 200)]
        x = torch.stack([nn.functional.interpolate(c[None], size=(64, 64))[0] for c in crops])
        with torch.no_grad():
            sida = tiny.sida(crops)
            logits = tiny(x, sida=sida)
            assert logits.shape == (2,)
            assert not torch.equal(logits, tiny(x))

    def test_sida_is_ignored_without_the_gate(self, ablated: dict[str, SFCLHCMF]) -> None:
        model = ablated["no_sida"]
        x = _images(2, 64)
        with torch.no_grad():
            torch.testing.assert_close(model(x, sida=torch.rand(2, SIDA_DIM)), model(x))

    @pytest.mark.parametrize(
        "sida", [torch.rand(2, 2303), torch.rand(3, SIDA_DIM), torch.rand(2, 4, 576)]
    )
    def test_bad_sida(self, tiny: SFCLHCMF, sida: torch.Tensor) -> None:
        with pytest.raises(ValueError, match="sida"):
            tiny(_images(2, 64), sida=sida)

    def test_sida_not_a_tensor(self, tiny: SFCLHCMF) -> None:
        with pytest.raises(TypeError, match="sida"):
            tiny(_images(2, 64), sida=[[0.0] * SIDA_DIM] * 2)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "images",
        [
            (torch.rand(2, 3, 64, 64) * 255).to(torch.uint8),
            torch.rand(2, 1, 64, 64),
            torch.rand(2, 4, 64, 64),
            torch.rand(3, 64, 64),
            torch.rand(1, 2, 3, 64, 64),
            torch.rand(2, 3, 63, 64),
            torch.rand(2, 3, 64, 32),
        ],
        ids=["uint8", "1ch", "4ch", "3d", "5d", "63px", "32px"],
    )
    def test_bad_images(self, tiny: SFCLHCMF, images: torch.Tensor) -> None:
        with pytest.raises(ValueError, match="images"):
            tiny(images)

    def test_images_not_a_tensor(self, tiny: SFCLHCMF) -> None:
        with pytest.raises(TypeError, match="images"):
            tiny(_images(2, 64).numpy())  # type: ignore[arg-type]

    def test_training_lowers_the_loss(self) -> None:
        torch.manual_seed(0)
        model = SFCLHCMF(tiny_config(drop_rate=0.0)).train()
        x = _images(4, 64, seed=3)
        y = torch.tensor([0.0, 1.0, 0.0, 1.0])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.BCEWithLogitsLoss()
        losses = []
        for _ in range(12):
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert all(math.isfinite(v) for v in losses)
        with torch.no_grad():
            after = loss_fn(model(x), y).item()
        assert after < losses[0] and losses[-1] < 0.5 * losses[0], (after, losses)


# ------------------------------------------------------------------ configs and checkpoints
class TestConfig:
    def test_json_round_trip(self) -> None:
        cfg = tiny_config(use_sida=False, use_hcma=False, faae_qk_dim=8, extra={"note": "x"})
        back = SFCLHCMFConfig.from_json(cfg.to_json())
        assert back == cfg
        assert isinstance(back.sbcm_channels, tuple) and isinstance(back.sbcm_kernels, tuple)

    def test_from_json_rejects_unknown_keys(self) -> None:
        data = json.loads(SFCLHCMFConfig().to_json())
        data["use_magic"] = True
        with pytest.raises(ValueError, match="use_magic"):
            SFCLHCMFConfig.from_json(json.dumps(data))

    @pytest.mark.parametrize(
        ("changes", "match"),
        [
            ({"img_size": 32}, "img_size"),
            ({"xception_middle_blocks": 9}, "xception_middle_blocks"),
            ({"xception_middle_blocks": -1}, "xception_middle_blocks"),
            ({"sbcm_channels": (4, 8)}, "sbcm_channels"),
        ],
    )
    def test_bad_config(self, changes: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            SFCLHCMFConfig(**changes)

    def test_frozen_and_replace(self) -> None:
        cfg = SFCLHCMFConfig()
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.img_size = 128  # type: ignore[misc]
        assert cfg.replace(img_size=128).img_size == 128 and cfg.img_size == 380

    def test_presets(self) -> None:
        assert set(PRESETS) >= {"paper", "cpu"}
        assert preset("paper") == SFCLHCMFConfig()
        assert not any(p.pretrained for p in PRESETS.values())  # no download by default
        assert preset("cpu", img_size=96).img_size == 96
        with pytest.raises(ValueError, match="preset"):
            preset("huge")

    def test_model_rejects_other_configs(self) -> None:
        with pytest.raises(TypeError, match="config"):
            SFCLHCMF({"img_size": 64})  # type: ignore[arg-type]

    def test_bad_backbones(self) -> None:
        with pytest.raises(ValueError, match="spatial_backbone"):
            SFCLHCMF(tiny_config(spatial_backbone="resnet18"))
        with pytest.raises(ValueError, match="freq_backbone"):
            SFCLHCMF(tiny_config(freq_backbone="tinynet_e"))


class TestCheckpoints:
    @pytest.mark.parametrize("name", ["full", "all_off"])
    def test_save_load_round_trip(
        self, ablated: dict[str, SFCLHCMF], tmp_path: Path, name: str
    ) -> None:
        model = ablated[name]
        path = model.save_checkpoint(tmp_path / "ckpt" / "model.safetensors")
        assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == [path.name]
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata()
            keys = set(fh.keys())
        assert meta["format"] == CHECKPOINT_FORMAT == "freqforensics.SFCLHCMF/1"
        assert SFCLHCMFConfig.from_json(meta["config"]) == model.config
        assert keys == set(model.state_dict())

        loaded = SFCLHCMF.from_checkpoint(path)
        assert loaded.config == model.config
        for flag in ("use_sbcm", "use_faae", "use_hcma", "use_sida"):
            assert getattr(loaded.config, flag) == getattr(model.config, flag)
        loaded.eval()
        x = _images(2, 64, seed=7)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
        # the constructor's weights= argument loads the same file
        again = SFCLHCMF(model.config, weights=path).eval()
        with torch.no_grad():
            torch.testing.assert_close(again(x), model(x), atol=0, rtol=0)

    @pytest.mark.parametrize(
        ("name", "gate_keys"),
        [
            ("full", {"hcma.gate.weight", "hcma.gate.bias"}),
            ("no_hcma", {"gate.weight", "gate.bias"}),
            ("no_sida", set()),
            ("no_hcma_no_sida", set()),
        ],
    )
    def test_gate_keys_of_the_previous_version(
        self, ablated: dict[str, SFCLHCMF], name: str, gate_keys: set[str]
    ) -> None:
        """The SIDA gate's state-dict keys are those of the former ``nn.Linear`` gates."""
        keys = set(ablated[name].state_dict())
        assert {k for k in keys if "gate" in k} == gate_keys

    def test_failed_save_keeps_the_old_checkpoint(
        self, tiny: SFCLHCMF, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import safetensors.torch

        path = tiny.save_checkpoint(tmp_path / "m.safetensors")
        before = path.read_bytes()

        def disk_full(tensors: Any, filename: str, metadata: Any = None) -> None:
            Path(filename).write_bytes(b"partial")
            raise OSError("No space left on device")

        monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
        with pytest.raises(OSError, match="No space"):
            tiny.save_checkpoint(path)
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]

    def test_from_checkpoint_overrides(self, tiny: SFCLHCMF, tmp_path: Path) -> None:
        path = tiny.save_checkpoint(tmp_path / "m.safetensors")
        loaded = SFCLHCMF.from_checkpoint(path, drop_rate=0.0)
        assert loaded.config == tiny.config.replace(drop_rate=0.0)
        assert not loaded.config.pretrained

    def test_checkpoint_never_downloads(self, tmp_path: Path) -> None:
        """A checkpoint saved with ``pretrained=True`` loads with ``pretrained=False``."""
        model = SFCLHCMF(tiny_config())
        cfg = model.config.replace(pretrained=True, spatial_weights="/nonexistent/w.pth")
        model.config = cfg  # as if it had been built with pretrained weights
        path = model.save_checkpoint(tmp_path / "m.safetensors")
        loaded = SFCLHCMF.from_checkpoint(path)
        assert not loaded.config.pretrained and loaded.config.spatial_weights is None

    def test_not_a_checkpoint(self, tmp_path: Path) -> None:
        plain = tmp_path / "plain.safetensors"
        save_file({"w": torch.zeros(3)}, str(plain))
        with pytest.raises(ValueError, match="not an SFCLHCMF checkpoint"):
            SFCLHCMF.from_checkpoint(plain)
        other = tmp_path / "other.safetensors"
        save_file({"w": torch.zeros(3)}, str(other), metadata={"format": "something/1"})
        with pytest.raises(ValueError, match="format"):
            SFCLHCMF.from_checkpoint(other)
        with pytest.raises(FileNotFoundError):
            SFCLHCMF.from_checkpoint(tmp_path / "missing.safetensors")

    def test_load_weights_from_torch_files(self, tiny: SFCLHCMF, tmp_path: Path) -> None:
        x = _images(2, 64, seed=8)
        with torch.no_grad():
            expected = tiny(x)
        plain = tmp_path / "state.pt"
        torch.save(tiny.state_dict(), plain)
        wrapped = tmp_path / "last.pt"  # a Trainer checkpoint keeps the weights under "model"
        torch.save({"model": tiny.state_dict(), "epoch": 3}, wrapped)
        for path in (plain, wrapped):
            model = SFCLHCMF(tiny.config)
            model.load_weights(path)
            with torch.no_grad():
                torch.testing.assert_close(model.eval()(x), expected, atol=0, rtol=0)
        with pytest.raises(FileNotFoundError):
            SFCLHCMF(tiny.config).load_weights(tmp_path / "nope.pt")

    def test_load_weights_of_another_ablation_fails(
        self, ablated: dict[str, SFCLHCMF], tmp_path: Path
    ) -> None:
        path = ablated["no_sida"].save_checkpoint(tmp_path / "no_sida.safetensors")
        # the message names the setting that differs, not torch's list of missing keys
        with pytest.raises(ValueError, match=r"saved from a model with use_sida=False \(this "
                           r"model: True\).*SFCLHCMF.from_checkpoint") as err:
            SFCLHCMF(tiny_config()).load_weights(path)
        assert "sida_norm" not in str(err.value)
        SFCLHCMF(tiny_config()).load_weights(path, strict=False)
        # a state dict without a config: the first keys that do not fit, briefly
        plain = tmp_path / "no_sida.pt"
        torch.save(ablated["no_sida"].state_dict(), plain)
        with pytest.raises(ValueError, match=r"weights in .*no_sida.pt do not fit this model: "
                           r"Missing key\(s\)") as err:
            SFCLHCMF(tiny_config()).load_weights(plain)
        assert len(str(err.value)) < 600

    def test_files_that_are_not_weights(self, tmp_path: Path) -> None:
        png = tmp_path / "face.png"
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
        renamed = tmp_path / "face.safetensors"
        renamed.write_bytes(png.read_bytes())
        with pytest.raises(ValueError, match=r"face.png is not a torch state dict"):
            SFCLHCMF(tiny_config()).load_weights(png)
        with pytest.raises(ValueError, match=r"face.safetensors is not a readable safetensors"):
            SFCLHCMF(tiny_config()).load_weights(renamed)
        with pytest.raises(ValueError, match=r"face.safetensors is not a readable safetensors"):
            SFCLHCMF.from_checkpoint(renamed)
        listed = tmp_path / "list.pt"
        torch.save([torch.zeros(2)], listed)
        with pytest.raises(ValueError, match=r"list.pt holds a list, expected a state dict"):
            SFCLHCMF(tiny_config()).load_weights(listed)

    def test_local_spatial_weights(self, tmp_path: Path) -> None:
        """``spatial_weights`` loads ImageNet-style weights from a local file, no network."""
        import timm

        torch.manual_seed(5)
        ref = timm.create_model("tinynet_e", pretrained=False)
        path = tmp_path / "tinynet_e.safetensors"
        save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
        model = SFCLHCMF(tiny_config(spatial_weights=str(path)))
        assert torch.equal(model.spatial.stem[0].weight, ref.conv_stem.weight)
        assert torch.equal(model.spatial.head[0].weight, ref.conv_head.weight)


def test_pretrained_path_loads_local_weights(tmp_path) -> None:
    """``pretrained="path"`` loads a local file of the detector's weights, no download."""
    from freqforensics.models import SFCLHCMF, preset

    cfg = preset("cpu", img_size=64, embed_dim=32, num_heads=2, sbcm_channels=(4, 8, 8))
    torch.manual_seed(1)
    trained = SFCLHCMF(cfg).eval()
    path = trained.save_checkpoint(tmp_path / "w.safetensors")
    torch.manual_seed(2)
    loaded = SFCLHCMF(cfg.replace(pretrained=str(path))).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x))
