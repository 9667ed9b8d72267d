"""The training sampler: a permutation per epoch from ``(seed, epoch)``, sharded, skippable.

Because the order of an epoch is a function of the seed and the epoch alone, a resumed run
skips the samples of the steps it already took and reads the rest in the same order as an
uninterrupted run.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import Sampler

__all__: list[str] = []


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
