"""Several GPUs through torch DistributedDataParallel, started by ``torchrun``.

``torchrun --nproc-per-node=N -m stylize train ...`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` (and ``MASTER_ADDR``/``MASTER_PORT``); ``init_process_group`` reads them
(the ``env://`` method). Without them (a plain ``stylize train``) nothing here runs: one
process, one device, no process group. ``--batch`` is per process, as in torch's own examples.
NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from stylize.runtime.errors import UserError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available to this PyTorch ({torch.__version__})")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown --device {device!r}: use auto, cpu, cuda or cuda:N") from None


def setup(device: str = "auto") -> Dist:
    """Join the process group when started by torchrun; otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=pick_device(device))
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=dist.get_rank(), local_rank=local_rank, world=dist.get_world_size(), device=dev)


def wrap(decoder: torch.nn.Module, d: Dist) -> torch.nn.Module:
    if not d.enabled:
        return decoder
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(decoder, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def mean_across(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of ``t`` over all processes (for logging the losses of the global batch)."""
    if not d.enabled:
        return t
    import torch.distributed as dist

    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / d.world


def cleanup(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
