"""The choices ``simulate`` offers, in one place: the CLI's help and checks, simulate's comparisons, the
results record and the report all read the sources of spikes and logits from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError


@dataclass(frozen=True)
class Source:
    """One source of spikes and logits: a ``--backend`` or the run's PyTorch model (``--run``)."""

    name: str  # its key in results.json and its prefix in counts.npz
    label: str  # as a report or a summary line names it
    help: Optional[str] = None  # what --backend NAME runs; None: not a --backend choice


# In this order everywhere: --backend's help, the report's tables, and the pairs compared (a backend is
# compared with the reference, the emulator when it ran, and the pairs are listed in this order).
SOURCES = (
    Source(
        "emulator",
        "emulator",
        "tna-deploy's vectorized bit-exact emulator of Lava's fixed-point models (no Lava needed)",
    ),
    Source(
        "lava",
        "Lava",
        "Lava's CPU simulator for Loihi 2, Loihi2SimCfg(select_tag='fixed_pt') (needs Lava)",
    ),
    Source(
        "onnx",
        "onnxruntime",
        "the network as integer-exact ONNX in onnxruntime: a .onnx export as it is, a netx file "
        "translated in memory (needs onnxruntime)",
    ),
    Source("torch", "PyTorch"),
)
SOURCE = {s.name: s for s in SOURCES}
SOURCE_NAMES = tuple(SOURCE)
BACKENDS = {s.name: s.help for s in SOURCES if s.help}
PYTORCH = "torch"  # the source ``--run`` adds: never a --backend
DEFAULT_BACKEND = "emulator"


def label(name: str) -> str:
    """How a report names a source (an unknown name as it is)."""
    return SOURCE[name].label if name in SOURCE else name


def default_backend(path: str) -> str:
    """onnx for a .onnx file, else the emulator."""
    return "onnx" if path.lower().endswith(".onnx") else DEFAULT_BACKEND


RECORD_FIELDS = {
    "spikes": "every layer's spikes at every step (spikes.npz)",
    "current": "every layer's current u at every step, in Lava's integer units (state.npz)",
    "voltage": "every layer's voltage v after the spike reset at every step (state.npz)",
}


def _parse(text: str, allowed: dict, flag: str) -> tuple:
    items = [v.strip() for v in (text or "").split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items or len(set(items)) != len(items):
        raise ConfigError(
            f"{flag} {text!r}: choose one or more of {', '.join(allowed)}, comma-separated, each once"
        )
    return tuple(items)


def parse_backends(text: str) -> tuple:
    return _parse(text, BACKENDS, "--backend")


def parse_record(text: str) -> tuple:
    return _parse(text, RECORD_FIELDS, "--record") if text else ()


# --input-drive: how --input's values reach the network
DRIVES = {
    "spikes": "the array's values enter the first synapse (or the input neuron's a_in) step by step",
    "bias": "each sample is one frame (K, *input shape) set as the input neuron's bias for --steps "
    "steps (lava-dl's PilotNet tests drive image.npy so)",
}
