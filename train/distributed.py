"""torchrun / DistributedDataParallel plumbing; a single process is world size 1."""
from __future__ import annotations

import gc
import logging
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def sync_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts buffers before each forward, so after the last step of an epoch each rank's
    statistics reflect its own last batch; syncing makes every rank's model identical.
    """
    if info.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def end_distributed_worker(info: DistInfo) -> NoReturn:
    """End a torchrun worker whose work is done and written: wait for every rank, leave the group, exit 0.

    The exit skips interpreter finalisation: gloo's C++ threads can outlive the process group there
    and abort the process ("terminate called without an active exception") after a successful run,
    which torchrun would report as a failure.
    """
    gc.collect()  # DDP reducers and their pending work go before the group does
    barrier(info)
    shutdown(info)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def max_param_divergence(module: torch.nn.Module, info: DistInfo) -> float:
    """Largest absolute difference between this rank's parameters/buffers and rank 0's (0 when alone)."""
    if not info.enabled:
        return 0.0
    worst = torch.zeros(1)
    for tensor in list(module.parameters()) + list(module.buffers()):
        reference = tensor.detach().clone()
        dist.broadcast(reference, src=0)
        worst = torch.maximum(worst, (tensor.detach() - reference).abs().max().float().cpu().view(1))
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)
