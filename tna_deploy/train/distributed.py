"""Multi-process training with torchrun (PyTorch DDP): which rank this is, and the few collective steps.

``torchrun --nproc-per-node N -m tna_deploy train ...`` starts N copies of the command with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set. Each rank takes its contiguous share of every batch
(the whole batch is drawn and augmented identically on every rank first, so the data a step sees does
not depend on the number of ranks); DDP averages the gradients of base and twins, which, with shares
of equal size, is the gradient of the whole batch. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (sizes differ by at most one)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))


def ranks_from_env() -> Ranks:
    """The torchrun environment, or a single process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError(
            "RANK / WORLD_SIZE / LOCAL_RANK must be integers (set by torchrun)"
        ) from None
    return Ranks(rank, world, local)


def init(ranks: Ranks, device: torch.device) -> None:
    """Join the process group: gloo on CPU, nccl on CUDA. A no-op for one process. Under torchrun the
    rank also watches its launcher (:func:`watch_launcher`)."""
    if not ranks.distributed or torch.distributed.is_initialized():
        return
    watch_launcher(ranks)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend, rank=ranks.rank, world_size=ranks.world)


def watch_launcher(ranks: Ranks, every: float = 0.5) -> None:
    """Stop this rank when the process that launched it (torchrun's agent) is gone: a SIGKILL of
    torchrun would otherwise leave every rank training on, unsupervised. Checkpoints are written
    atomically, so stopping at any point leaves the last finished epoch intact for ``--resume``."""
    import sys
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        print(
            f"rank {ranks.rank}: torchrun (pid {parent}) is gone; stopping (the last finished "
            f"epoch is saved: re-run with --resume)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(143)  # no teardown: the process group's peers are gone too

    threading.Thread(target=watch, name="tna-watch-launcher", daemon=True).start()


def shutdown(ranks: Ranks, finished: bool = True) -> None:
    """Leave the process group. torch < 2.8's ProcessGroupGloo destructor joins its worker threads while
    holding the GIL, and a worker still releasing the last collective's tensors needs the GIL: rank 1 of
    a finished run hung there, rarely (pytorch#56297, fixed by #154976). After a finished run every rank
    meets at a barrier, then lets the workers drain without holding the GIL, then destroys the group."""
    if ranks.distributed and torch.distributed.is_initialized():
        if finished:  # after an error other ranks may never arrive: no barrier then
            torch.distributed.barrier()
            gc.collect()
            time.sleep(0.2)  # releases the GIL
        torch.distributed.destroy_process_group()


class Ensemble(nn.Module):
    """Base and twins as one module, so that one DDP wrapper averages every network's gradients."""

    def __init__(self, nets: list):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> list:
        return [net(x) for net in self.nets]


def wrap(nets: list, ranks: Ranks, device: torch.device, sample: torch.Tensor):
    """A callable ``x -> [logits per net]``; under torchrun a DDP module over all nets.

    SLAYER shapes some neuron state on its first forward, so one forward runs before wrapping, and its
    per-batch state buffers are never broadcast (lava-dl issues #26, #59)."""
    ensemble = Ensemble(nets)
    if not ranks.distributed:
        return ensemble
    with torch.no_grad():
        ensemble(sample)
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(ensemble, device_ids=ids, broadcast_buffers=False)


def all_sum(values: list, ranks: Ranks, device: torch.device) -> list:
    """Element-wise sum of a list of numbers over all ranks (epoch metrics)."""
    if not ranks.distributed:
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        torch.distributed.barrier()
