"""Multi-process training under ``torchrun``: process group, device per process, DDP.

``torchrun`` starts one process per device and sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in each; :func:`setup` reads them, picks the process's device (``cuda:LOCAL_RANK``
on GPUs) and joins the process group (NCCL on CUDA, gloo on the CPU). Without ``torchrun``
(``WORLD_SIZE`` unset or 1) nothing is initialised and the same code trains in one process.
See :doc:`/distributed` for the commands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from freqforensics._checks import resolve_device

__all__ = ["Processes", "setup", "teardown", "wrap", "all_processes", "barrier"]


@dataclass(frozen=True)
class Processes:
    """Where this process stands among those of a run.

    Attributes:
        rank: global rank (0 evaluates, logs and writes the checkpoints).
        local_rank: rank on this machine (the GPU index under ``torchrun``).
        world_size: number of processes of the run.
        device: the device this process trains on.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        """Whether the run has more than one process (DDP)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0


def setup(device: str = "auto") -> Processes:
    """Read the ``torchrun`` variables, pick this process's device, join the process group.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``; under
            ``torchrun`` a CUDA device becomes ``cuda:LOCAL_RANK``.

    Returns:
        The rank, local rank, world size and device of this process. The process group is
        initialised once (``init_process_group``, reading ``MASTER_ADDR`` and ``MASTER_PORT``
        from ``torchrun``) and left to :func:`teardown`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, "device")
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Processes(rank, local_rank, world, dev)


def teardown() -> None:
    """Leave the process group, when there is one (call once training is over)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, processes: Processes) -> nn.Module:
    """``model`` in DistributedDataParallel in a multi-process run, else ``model`` itself.

    DDP broadcasts rank 0's weights and buffers to the other ranks when it wraps the model, and
    averages the gradients over the processes at every backward pass.
    """
    if not processes.distributed:
        return model
    device = processes.device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_processes(flag: bool, processes: Processes) -> bool:
    """Whether ``flag`` holds on every process (a MIN all-reduce; ``flag`` in one process).

    DDP needs the processes in step: a batch one process skips, all of them skip.
    """
    if not processes.distributed:
        return flag
    value = torch.tensor([int(flag)], device=processes.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def barrier(processes: Processes) -> None:
    """Wait for every process of a multi-process run (nothing in one process)."""
    if processes.distributed:
        dist.barrier()
