"""The training sampler: a permutation per epoch from ``(seed, epoch)``, sharded, skippable.

Because the order of an epoch is a function of the seed and the epoch alone, a resumed run
skips the samples of the steps it already took and reads the rest in the same order as an
uninterrupted run. :func:`seeded_loader` gives every data loader a generator of its own for
the same reason.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from freqforensics.data.dataset import collate_frames

__all__ = ["seeded_loader"]


def seeded_loader(
    dataset: Dataset[Any],
    sampler: Sampler[int] | None,
    batch_size: int,
    seed: int,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` in ``sampler``'s order whose random draws are a function of ``seed``.

    Without a generator of its own, ``iter(loader)`` draws from the global torch RNG (for the
    workers' seeds), and a resumed epoch, which makes one more iterator, would get other dropout
    masks than an uninterrupted run.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_frames,
        pin_memory=pin_memory,
        persistent_workers=False,
        generator=generator,
    )


class _EpochSampler(Sampler[int]):
    """A permutation per epoch from ``(seed, epoch)``, sharded across processes, skippable."""

    def __init__(
        self,
        n: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        shuffle: bool = True,
        group_size: int = 1,
    ):
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.group = group_size
        self.epoch = 0
        self.skip = 0

    def order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            groups = torch.randperm(math.ceil(self.n / self.group), generator=g).tolist()
            idx = [i for k in groups for i in range(k * self.group, (k + 1) * self.group)]
            idx = [i for i in idx if i < self.n]
        else:
            idx = list(range(self.n))
        idx += idx[: self._per_rank() * self.world - self.n]  # every process the same count
        # deal whole groups to the processes: a group (a real and its fake) stays together
        size = self.group
        chunks = [idx[i : i + size] for i in range(0, len(idx), size)]
        return [i for chunk in chunks[self.rank :: self.world] for i in chunk]

    def _per_rank(self) -> int:
        return math.ceil(self.n / (self.group * self.world)) * self.group

    def __iter__(self) -> Any:
        return iter(self.order()[self.skip :])

    def __len__(self) -> int:
        return max(0, self._per_rank() - self.skip)
