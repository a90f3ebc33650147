"""Where ``simulate``'s samples come from: a dataset's test split, encoded chunk by chunk as the chip
gets them, or raw input spikes from a .npy file."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError, DataError
from ..ir import DeployedNet

BIAS_RANGE = (-(1 << 15), (1 << 15) - 1)  # Loihi's 16-bit bias mantissa


@dataclasses.dataclass
class Inputs:
    """Where the samples come from: a dataset split (encoded per chunk) or a raw spike array."""

    n: int
    timesteps: int
    chunk: Callable[[int, int], np.ndarray]  # (start, stop) -> (k, *input_shape, T) integers
    labels: Optional[np.ndarray] = None
    dataset: Optional[str] = None
    source: Optional[str] = None


def dataset_inputs(
    net: DeployedNet, path: str, samples, data_dir: Optional[str], dataset: Optional[str]
) -> Inputs:
    """The first ``samples`` (an int or 'all') test samples of the file's dataset, encoded as the chip gets them."""
    import torch

    from ..data.datasets import load_split
    from ..data.encode import encode
    from ..train.config import TrainConfig

    meta = net.meta
    if not meta:
        raise ConfigError(
            f"{path} has no tna-deploy metadata, so its dataset and encoding are unknown; "
            f"give the input spikes with --input X.npy"
        )
    if dataset and dataset != meta["dataset"]:
        raise ConfigError(f"{path} was trained on {meta['dataset']}, not {dataset}")
    limit = None if samples == "all" else int(samples)
    cfg = TrainConfig(
        dataset=meta["dataset"],
        data_dir=data_dir,
        timesteps=int(meta["timesteps"]),
        limit_test=limit,
        input_bits=int(meta["input_bits"]),
        dvs_size=int(meta["in_shape"][1]),
        weights="fp",
    )
    test = load_split(cfg, "test")
    if list(test.in_shape) != list(meta["in_shape"]):
        raise ConfigError(
            f"{meta['dataset']} samples have shape {test.in_shape}, the network expects {meta['in_shape']}"
        )
    x = test.x

    def chunk(a: int, b: int) -> np.ndarray:
        with torch.no_grad():
            return (
                encode(x[a:b], cfg.timesteps, cfg.input_bits, test.event_data)
                .numpy()
                .astype(np.int32)
            )

    return Inputs(len(test), cfg.timesteps, chunk, test.y.numpy(), meta["dataset"])


def file_inputs(
    net: DeployedNet, input_path: str, samples, drive: str = "spikes", steps: Optional[int] = None
) -> tuple[Inputs, DeployedNet]:
    """Raw input spikes from ``input_path``: (K, *input_shape, T) or (*input_shape, T) integers; with
    ``drive="bias"``, frames (K, *input_shape) or (*input_shape) run for ``steps`` steps each."""
    if not os.path.isfile(input_path):
        raise DataError(f"--input {input_path}: no such file")
    try:
        x = np.load(input_path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"--input {input_path}: not a readable .npy array ({str(e).splitlines()[0][:80]})"
        ) from None
    if not isinstance(x, np.ndarray):  # an .npz archive (np.load reads it by content, any name)
        x.close()
        raise DataError(
            f"--input {input_path}: an .npz archive of several arrays; give one .npy array "
            f"(np.save('x.npy', spikes))"
        )
    want = tuple(net.input_shape)
    if drive == "bias":
        return _bias_frames(net, input_path, x, samples, steps), net
    if x.ndim == len(want) + 1:
        x = x[None]
    if x.ndim != len(want) + 2 or tuple(x.shape[1:-1]) != want:
        raise DataError(
            f"--input {input_path}: shape {x.shape}; the network takes (K, {', '.join(map(str, want))}, T) "
            f"or ({', '.join(map(str, want))}, T) integer spikes"
        )
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise DataError(f"--input {input_path}: dtype {x.dtype}; give integer (or bool) spikes")
    if x.shape[-1] < 1 or x.shape[0] < 1:
        raise DataError(f"--input {input_path}: no samples or no timesteps in shape {x.shape}")
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    if lo < -(1 << 23) or hi >= 1 << 23:
        raise DataError(
            f"--input {input_path}: values {lo}..{hi} exceed Loihi's 24-bit graded spikes"
        )
    n = _count(samples, x.shape[0])
    if not net.input_neuron and (
        lo < 0 or hi > 1
    ):  # graded values need message bits, as netx is told
        bits = max(net.input_bits, int(max(abs(lo), hi)).bit_length() + (lo < 0))
        net = dataclasses.replace(net, input_bits=min(bits, 24))
    return Inputs(
        n,
        int(x.shape[-1]),
        lambda a, b: np.asarray(x[a:b]).astype(np.int32),
        source=os.path.abspath(input_path),
    ), net


def _count(samples, available: int) -> int:
    return available if samples in ("all", None) else min(int(samples), available)


def _bias_frames(net: DeployedNet, input_path: str, x, samples, steps: int) -> Inputs:
    """--input-drive bias: one frame per sample, the input neuron's bias mantissa (16 bits)."""
    want = tuple(net.input_shape)
    if not net.input_neuron:
        raise DataError(
            "--input-drive bias: the file's input layer has no neuron to take a bias; drive it "
            "with spikes (the default)"
        )
    if x.ndim == len(want):
        x = x[None]
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise DataError(
            f"--input {input_path}: shape {x.shape}; --input-drive bias takes frames "
            f"(K, {', '.join(map(str, want))}) or ({', '.join(map(str, want))})"
        )
    if not np.issubdtype(x.dtype, np.integer) or x.shape[0] < 1:
        raise DataError(f"--input {input_path}: give integer frames (dtype {x.dtype})")
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    if lo < BIAS_RANGE[0] or hi > BIAS_RANGE[1]:
        raise DataError(
            f"--input {input_path}: values {lo}..{hi} exceed Loihi's 16-bit bias mantissa"
        )
    return Inputs(
        _count(samples, x.shape[0]),
        int(steps),
        lambda a, b: np.asarray(x[a:b]).astype(np.int32),
        source=os.path.abspath(input_path),
    )
