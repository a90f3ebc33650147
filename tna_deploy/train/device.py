"""Where training runs (``--device auto|cpu|cuda[:N]``) and whether a configuration fits in memory there."""

from __future__ import annotations

import logging
import math
import os

import torch

from ..errors import ConfigError
from ..memory import available_bytes

log = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when CUDA is present, else the CPU. ``cuda`` under torchrun: cuda:LOCAL_RANK."""
    spec = (spec or "auto").strip().lower()
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        spec = "cuda"
    if spec != "cuda" and not (spec.startswith("cuda:") and spec[5:].isdigit()):
        raise ConfigError(f"--device {spec!r}: choose auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {spec}: no CUDA device is available here (torch.cuda.is_available() "
            f"is False); use --device cpu or --device auto"
        )
    index = local_rank if spec == "cuda" else int(spec[5:])
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"numbered from 0"
        )
    device = torch.device("cuda", index)
    torch.cuda.set_device(device)
    # TF32 convolutions round their inputs to 10 mantissa bits: the fast engine's sums must stay float32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    _slayer_arch_list(device)
    return device


def _slayer_arch_list(device: torch.device) -> None:
    """lava-dl's ``jitconfig`` pins ``TORCH_CUDA_ARCH_LIST='8.0'`` for every card of compute capability 8
    or above, so its JIT kernels do not load on a 9.0 card (H100). Build them for the card in use."""
    major, minor = torch.cuda.get_device_capability(device)
    arch = f"{major}.{minor}"
    os.environ["TORCH_CUDA_ARCH_LIST"] = arch
    from ..models.network import slayer

    slayer()
    from lava.lib.dl.slayer import jitconfig

    jitconfig.TORCH_CUDA_ARCH_LIST = arch


def free_bytes(device: torch.device) -> int:
    """Memory a new allocation can use now: the GPU's free memory, or the OS's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return available_bytes()


# Peak training memory per stored activation value (a float32 neuron output per timestep), measured by
# benchmarks/train_speed.py (peak RSS over batch sizes): autograd keeps the conv inputs, the voltages
# for the surrogate and the spike masks, and a step holds a few transients besides.
BYTES_PER_ACTIVATION = {"fast": 16.0, "slayer": 32.0}  # measured: 11-14 and 21-31 (step RSS)
FIXED_BYTES = 600 << 20  # torch, lava-dl and the dataset in memory


def neuron_count(net) -> int:
    """Neurons per sample over all blocks of a network (a probe forward learns the shapes)."""
    total = 0
    for blk, info in zip(net.blocks, net.info):
        if info.kind == "flatten":
            continue
        total += int(math.prod(blk.neuron.shape))
    return total


def estimate_train_bytes(nets: list, batch: int, timesteps: int, engine: str) -> int:
    """Estimated peak memory of one training step of ``nets`` (base and twins) at ``batch`` per process."""
    acts = sum(neuron_count(n) for n in nets) * timesteps * batch
    weights = (
        sum(p.numel() for n in nets for p in n.parameters()) * 4 * 4
    )  # weight, grad, Adam m and v
    return int(FIXED_BYTES + weights + acts * BYTES_PER_ACTIVATION[engine])


def check_fits(
    nets: list,
    batch: int,
    timesteps: int,
    engine: str,
    device: torch.device,
    width: float,
    processes: int = 1,
) -> int:
    """Refuse a step that would not fit in this device's free memory; name a batch size that fits.

    ``processes``: ranks sharing this memory (torchrun on one machine's CPU)."""
    need = estimate_train_bytes(nets, batch, timesteps, engine)
    free = free_bytes(device) // max(1, processes)
    log.info(
        "estimated peak memory %.2f GB for batch %d; %.2f GB free on %s",
        need / 1e9,
        batch,
        free / 1e9,
        device,
    )
    if need <= free * 0.9:
        return need
    per_image = (
        estimate_train_bytes(nets, batch, timesteps, engine)
        - estimate_train_bytes(nets, 0, timesteps, engine)
    ) / batch
    room = free * 0.9 - estimate_train_bytes(nets, 0, timesteps, engine)
    fit = int(room // per_image) if room > 0 else 0
    where = "this machine" if device.type == "cpu" else str(device)
    hint = (
        f"--batch-size {max(1, 1 << (fit.bit_length() - 1))} fits"
        if fit >= 1
        else f"even one image does not fit at --width {width:g}; lower --width"
    )
    raise ConfigError(
        f"this run needs about {need / 1e9:.1f} GB per process at {batch} images per process "
        f"(--width {width:g}, estimated), but {where} has {free / 1e9:.1f} GB free: {hint}"
    )


def check_weights_fit(
    cfg, in_shape: tuple, n_classes: int, networks: int, device: torch.device, processes: int = 1
) -> int:
    """Refuse, before anything is allocated, an architecture whose weights alone (with their gradients
    and Adam's two moments, for every network trained) cannot fit this device's free memory, e.g.
    ``--arch 99999999C3-10FC``: one line instead of an allocator's error. Returns the weight count."""
    from ..models.arch import parse_arch, scale_arch, weight_count

    n = weight_count(scale_arch(parse_arch(cfg.arch), cfg.width), tuple(in_shape), n_classes)
    need = n * 4 * 4 * networks  # float32 weight, gradient, and Adam's exp_avg and exp_avg_sq
    free = free_bytes(device) // max(1, processes)
    if need > free * 0.9:
        raise ConfigError(
            f"--arch {cfg.arch} at --width {cfg.width:g} holds {n:,} weights per network: "
            f"{need / 1e9:.1f} GB with gradients and optimizer state for {networks} network(s), "
            f"but {free / 1e9:.1f} GB is free; use smaller layers or a lower --width"
        )
    return n
