"""The choices ``simulate`` offers, in one place: the CLI's help and checks read them from here."""

from __future__ import annotations

from ..errors import ConfigError

BACKENDS = {
    "emulator": "tna-deploy's vectorized bit-exact emulator of Lava's fixed-point models (no Lava needed)",
    "lava": "Lava's CPU simulator for Loihi 2, Loihi2SimCfg(select_tag='fixed_pt') (needs Lava)",
    "onnx": "the network as integer-exact ONNX in onnxruntime: a .onnx export as it is, a netx file "
    "translated in memory (needs onnxruntime)",
}
DEFAULT_BACKEND = "emulator"


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
