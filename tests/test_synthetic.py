"""Tests of the embedded self-blended data set (freqforensics.data.synthetic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from freqforensics.data.synthetic import (
    SOURCES,
    SPLITS,
    SelfBlendedFaces,
    available_sources,
    load_source,
    make_self_blended,
    split_sources,
)

SIZE = 64


@pytest.fixture(scope="module")
def train() -> SelfBlendedFaces:
    return SelfBlendedFaces("train", size=SIZE, length=32, seed=0)


def _crops(n: int, side: int = 128) -> list[np.ndarray]:
    """``n`` crops from different photos, grayscale ones included."""
    names = available_sources()
    rng = np.random.default_rng(1)
    out = []
    for name in names[:: max(1, len(names) // n)][:n]:
        photo = load_source(name)
        y = int(rng.integers(0, photo.shape[0] - side + 1))
        x = int(rng.integers(0, photo.shape[1] - side + 1))
        out.append(photo[y : y + side, x : x + side])
    return out


class TestSources:
    def test_enough_sources_load_offline(self) -> None:
        names = available_sources()
        assert len(names) >= 12
        assert set(names) <= set(SOURCES)
        assert sum(SOURCES[n][1] for n in names) >= 6  # mostly colour photos

    def test_load_source(self) -> None:
        photo = load_source("camera")  # grayscale, replicated to RGB
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert (photo[..., 0] == photo[..., 2]).all()
        with pytest.raises(ValueError, match="name"):
            load_source("lena")

    def test_split_by_source(self) -> None:
        splits = split_sources(0)
        assert set(splits) == set(SPLITS)
        for split in SPLITS:
            assert len(splits[split]) >= 2
        seen = [name for split in SPLITS for name in splits[split]]
        assert len(seen) == len(set(seen)), "a photo appears in two splits"
        assert set(seen) == set(available_sources())
        assert len(splits["train"]) > len(splits["val"])

    def test_split_deterministic_per_seed(self) -> None:
        assert split_sources(3) == split_sources(3)
        assert any(split_sources(s) != split_sources(0) for s in (1, 2, 3))

    def test_samples_come_from_their_split(self) -> None:
        for split in SPLITS:
            ds = SelfBlendedFaces(split, size=32, length=16, seed=0)
            assert {ds[i]["source"] for i in range(16)} <= set(split_sources(0)[split])

    def test_bad_seed(self) -> None:
        with pytest.raises(ValueError, match="seed"):
            split_sources(-1)


class TestMakeSelfBlended:
    def test_shapes_and_unchanged_outside_mask(self) -> None:
        for i, real in enumerate(_crops(6)):
            fake, mask = make_self_blended(real, np.random.default_rng(i))
            assert fake.shape == real.shape and fake.dtype == np.uint8
            assert mask.shape == real.shape[:2] and mask.dtype == np.float32
            assert 0.0 <= mask.min() and mask.max() <= 1.0
            outside = mask == 0
            assert outside.mean() > 0.3  # the blob covers 30-60 % of the side, not the image
            assert (fake[outside] == real[outside]).all()

    def test_soft_edges(self) -> None:
        _, mask = make_self_blended(_crops(1)[0], np.random.default_rng(0))
        edge = (mask > 0.01) & (mask < 0.99 * mask.max())
        assert edge.sum() > 50

    def test_subtle_but_not_empty(self) -> None:
        per_crop = []
        for i, real in enumerate(_crops(8)):
            fake, mask = make_self_blended(real, np.random.default_rng(10 + i))
            diff = (fake.astype(np.float32) - real.astype(np.float32)) / 255
            weights = mask[..., None] / mask.sum()
            # colour stays close: the mean colour inside the blob moves by a few percent
            colour_shift = np.abs((diff * weights).sum(axis=(0, 1)))
            assert colour_shift.max() < 0.05, f"crop {i}: colour shift {colour_shift}"
            # texture stays close; a shift of a few pixels moves the values of fine texture
            # (foliage) a lot without changing its look, hence 0.15 per crop, 0.1 on average
            per_crop.append(float((np.abs(diff) * weights).sum() / 3))
            assert per_crop[-1] < 0.15, f"crop {i}: mean change {per_crop[-1]:.3f} in the blob"
            assert (fake != real).any()
        assert np.mean(per_crop) < 0.1

    def test_grayscale_stays_grayscale(self) -> None:
        real = load_source("camera")[100:228, 100:228]
        fake, _ = make_self_blended(real, np.random.default_rng(0))
        assert (fake[..., 0] == fake[..., 1]).all() and (fake[..., 1] == fake[..., 2]).all()

    def test_deterministic(self) -> None:
        real = _crops(1)[0]
        a = make_self_blended(real, np.random.default_rng(5))
        b = make_self_blended(real, np.random.default_rng(5))
        c = make_self_blended(real, np.random.default_rng(6))
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
        assert not (a[1] == c[1]).all()

    def test_bad_input(self) -> None:
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="image"):
            make_self_blended(np.zeros((64, 64, 3), np.float32), rng)
        with pytest.raises(ValueError, match="image"):
            make_self_blended(np.zeros((64, 64), np.uint8), rng)
        with pytest.raises(ValueError, match="image"):
            make_self_blended(np.zeros((8, 8, 3), np.uint8), rng)
        with pytest.raises(ValueError, match="rng"):
            make_self_blended(np.zeros((64, 64, 3), np.uint8), 0)  # type: ignore[arg-type]


class TestSelfBlendedFaces:
    def test_item(self, train: SelfBlendedFaces) -> None:
        for i in range(4):
            item = train[i]
            image, mask = item["image"], item["mask"]
            assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
            assert mask.shape == (1, SIZE, SIZE) and mask.dtype == torch.float32
            assert 0.0 <= image.min() and image.max() <= 1.0
            assert 0.0 <= mask.min() and mask.max() <= 1.0
            assert item["label"] == float(i % 2)
            assert item["source"] in train.sources
            assert item["video_id"] == f"synthetic/{item['source']}/{i}"
            if item["label"] == 0.0:
                assert mask.max() == 0.0
            else:
                assert mask.max() > 0.5
                assert ((mask > 0) & (mask < mask.max())).any()  # soft edge
            assert 70 <= item["jpeg_quality"] <= 95

    def test_balanced_and_unique_ids(self, train: SelfBlendedFaces) -> None:
        items = [train[i] for i in range(len(train))]
        assert sum(it["label"] for it in items) == len(train) / 2
        assert len({it["video_id"] for it in items}) == len(train)

    def test_deterministic(self) -> None:
        a = SelfBlendedFaces("val", size=SIZE, length=8, seed=4)
        b = SelfBlendedFaces("val", size=SIZE, length=8, seed=4)
        for i in (0, 3, 7):
            assert torch.equal(a[i]["image"], b[i]["image"])
            assert torch.equal(a[i]["mask"], b[i]["mask"])
        c = SelfBlendedFaces("val", size=SIZE, length=8, seed=5)
        assert not torch.equal(a[0]["image"], c[0]["image"])

    def test_fresh_every_epoch(self) -> None:
        ds = SelfBlendedFaces("train", size=SIZE, length=8, seed=0)
        first = [ds[i]["image"] for i in range(4)]
        ds.set_epoch(1)
        assert not any(torch.equal(x, ds[i]["image"]) for i, x in enumerate(first))
        ds.set_epoch(0)
        assert all(torch.equal(x, ds[i]["image"]) for i, x in enumerate(first))

    def test_fixed_when_not_fresh(self) -> None:
        ds = SelfBlendedFaces("train", size=SIZE, length=8, seed=0, fresh_every_epoch=False)
        before = ds[1]["image"]
        ds.set_epoch(3)
        assert torch.equal(before, ds[1]["image"])

    def test_pair_shares_the_crop(self) -> None:
        ds = SelfBlendedFaces("train", size=SIZE, length=8, seed=0, jpeg_quality=None)
        for k in range(3):
            real, fake = ds[2 * k], ds[2 * k + 1]
            assert real["source"] == fake["source"]
            outside = (fake["mask"] == 0).expand(3, -1, -1)
            assert torch.equal(real["image"][outside], fake["image"][outside])

    def test_jpeg_applied_to_both_classes(self) -> None:
        raw = SelfBlendedFaces("test", size=SIZE, length=8, seed=0, jpeg_quality=None)
        jpg = SelfBlendedFaces("test", size=SIZE, length=8, seed=0)
        for i in range(4):  # two real, two fake
            a, b = raw[i], jpg[i]
            assert torch.equal(a["mask"], b["mask"])  # same crop and blend
            err = (a["image"] - b["image"]).abs().mean().item()
            assert 0.0 < err < 0.05
            assert a["jpeg_quality"] == 0

    def test_jpeg_quality_same_for_both_classes(self) -> None:
        ds = SelfBlendedFaces("train", size=32, length=96, seed=0, jpeg_quality=(70, 95))
        q = np.array([ds[i]["jpeg_quality"] for i in range(len(ds))])
        real, fake = q[0::2], q[1::2]
        assert real.min() >= 70 and fake.max() <= 95
        assert abs(real.mean() - fake.mean()) < 5
        assert len(np.unique(real)) > 5 and len(np.unique(fake)) > 5
        fixed = SelfBlendedFaces("train", size=32, length=4, jpeg_quality=80)
        assert {fixed[i]["jpeg_quality"] for i in range(4)} == {80}

    def test_raw_crop(self) -> None:
        ds = SelfBlendedFaces("train", size=SIZE, length=4, seed=0, return_sida_crop=True)
        raw = ds[0]["raw_crop"]
        assert raw.dtype == torch.uint8 and raw.ndim == 3 and raw.shape[0] == 3
        assert raw.shape[1] == raw.shape[2] >= SIZE
        assert "raw_crop" not in SelfBlendedFaces("train", size=SIZE, length=4)[0]

    def test_dataloader(self, train: SelfBlendedFaces) -> None:
        batch = next(iter(DataLoader(train, batch_size=4)))
        assert batch["image"].shape == (4, 3, SIZE, SIZE)
        assert batch["label"].tolist() == [0.0, 1.0, 0.0, 1.0]
        assert len(batch["video_id"]) == 4

    def test_index_errors(self, train: SelfBlendedFaces) -> None:
        with pytest.raises(IndexError):
            train[len(train)]
        assert torch.equal(train[-1]["image"], train[len(train) - 1]["image"])

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"split": "validation"}, "split"),
            ({"size": 16}, "size"),
            ({"size": 64.0}, "size"),
            ({"length": 7}, "length"),
            ({"length": 0}, "length"),
            ({"seed": -1}, "seed"),
            ({"jpeg_quality": 101}, "jpeg_quality"),
            ({"jpeg_quality": (95, 70)}, "jpeg_quality"),
            ({"jpeg_quality": "high"}, "jpeg_quality"),
            ({"fresh_every_epoch": 1}, "fresh_every_epoch"),
            ({"return_sida_crop": "yes"}, "return_sida_crop"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            SelfBlendedFaces(**kwargs)

    def test_bad_epoch(self, train: SelfBlendedFaces) -> None:
        with pytest.raises(ValueError, match="epoch"):
            train.set_epoch(-1)
