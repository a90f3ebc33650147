"""Hardware profiles: TOML files in ``tna_deploy/hardware/profiles/`` (in the wheel), every figure with its source.

A figure is a table ``{value, status, source}`` (``value_max`` optional, for a range). ``value`` is a
number or the string "unknown"; an unknown figure stays unknown all the way into the report. ``FIELDS``
every profile has; ``OPTIONAL`` (the compiler's accounting, the time and static-power models) a profile
may leave out, and the report then says which figure its answer lacks. An optional ``[calibration]``
table names the measured network the calibrated figures rest on (``Calibration``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..checks import is_num, shown
from ..errors import ConfigError

STATUSES = (
    "published",
    "code",
    "secondary",
    "derived",
    "measured",  # recorded on the chip (or printed by its compiler) in a public run
    "calibrated",  # fitted to such a measurement by this project's model
    "assumed",  # not public: an assumed range
    "lower-bound",
    "upper-bound",
    "unknown",
)
FIELDS = (
    "cores_per_chip",
    "neurons_per_core",
    "synaptic_memory_per_core_bytes",
    "fan_in_per_core",
    "weight_bits_max",
    "graded_spike_bits_max",
    "state_bits",
    "energy_synop_pj",
    "energy_neuron_update_pj",
    "energy_spike_pj",
    "timestep_seconds",
)

# The compiler's accounting and the time / static-power models: a profile may leave any of them out.
OPTIONAL = (
    "compiler_neurons_per_core",
    "synaptic_memory_words_per_core",
    "synapses_per_word",
    "conv_synapses_per_word",
    "time_synop_ns",
    "time_neuron_update_ns",
    "time_spike_ns",
    "barrier_seconds",
    "static_power_per_chip_w",
)


# What each figure may be: (integral, smallest, largest). Counts of hardware are whole and at least 1;
# energies and times are positive and bounded far above any chip's, so that products stay finite.
RANGES = {
    "cores_per_chip": (True, 1, 1 << 20),
    "neurons_per_core": (True, 1, 1 << 30),
    "synaptic_memory_per_core_bytes": (True, 1, 1 << 40),
    "fan_in_per_core": (True, 1, 1 << 40),
    "weight_bits_max": (True, 1, 64),
    "graded_spike_bits_max": (True, 0, 64),  # 0: binary spikes only (Loihi 1)
    "state_bits": (True, 1, 64),
    "energy_synop_pj": (False, 1e-9, 1e9),
    "energy_neuron_update_pj": (False, 1e-9, 1e9),
    "energy_spike_pj": (False, 0, 1e9),  # 0: a calibration that carries the spikes in another term
    "timestep_seconds": (False, 1e-15, 1e3),
    "compiler_neurons_per_core": (True, 1, 1 << 30),
    "synaptic_memory_words_per_core": (True, 1, 1 << 40),
    "synapses_per_word": (True, 1, 1 << 10),
    "conv_synapses_per_word": (True, 1, 1 << 10),
    "time_synop_ns": (False, 0, 1e9),
    "time_neuron_update_ns": (False, 0, 1e9),
    "time_spike_ns": (False, 0, 1e9),
    "barrier_seconds": (False, 0, 1e3),
    "static_power_per_chip_w": (False, 0, 1e6),
}


@dataclass(frozen=True)
class Figure:
    value: Optional[float]  # None when unknown
    status: str
    source: str
    value_max: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict:
        d = dict(value=self.value, status=self.status, source=self.source)
        if self.value_max is not None:
            d["value_max"] = self.value_max
        return d


@dataclass(frozen=True)
class Calibration:
    """The measured network the calibrated figures rest on, as this project's model counts it: what the
    report compares the network at hand with."""

    network: str  # e.g. lava-dl's PilotNet LIF
    basis: str  # the sentence the report prints: what was measured, where, when
    source: str
    neurons: float  # neurons of the reference network
    synops_per_inference: float  # effective synaptic ops (NeuroBench), mean
    synops_per_neuron_step: float  # activity: synaptic ops per neuron per timestep
    firing_rate: float  # spikes per neuron per timestep, over the spiking layers
    busiest_core_synops_per_step: float  # what the time calibration divided by

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Profile:
    name: str
    path: str
    figures: dict
    calibration: Optional[Calibration] = None

    def __getitem__(self, key: str) -> Figure:
        """A figure; an optional one the profile leaves out reads as unknown."""
        if key not in self.figures and key in OPTIONAL:
            return Figure(None, "unknown", "not in this profile")
        return self.figures[key]

    def has(self, *keys: str) -> bool:
        return all(self[k].known for k in keys)

    def to_dict(self) -> dict:
        out = dict(
            name=self.name,
            path=self.path,
            figures={k: f.to_dict() for k, f in self.figures.items()},
        )
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out


PACKAGED = Path(__file__).resolve().parent / "profiles"  # shipped in the wheel (package-data)


def resolve(name_or_path: str) -> Path:
    """A value with a '/' or ending in .toml is a path; anything else names a packaged profile (a
    ``hardware/`` folder in the working directory does not shadow it: give ./hardware/x.toml for that)."""
    p = Path(name_or_path)
    if name_or_path.endswith(".toml") or "/" in name_or_path or os.sep in name_or_path:
        if not p.is_file():
            raise ConfigError(f"--hardware {name_or_path}: no such profile file")
        return p
    cand = PACKAGED / f"{name_or_path}.toml"
    if cand.is_file():
        return cand
    known = sorted(f.stem for f in PACKAGED.glob("*.toml")) if PACKAGED.is_dir() else []
    raise ConfigError(
        f"--hardware {name_or_path}: unknown profile; choose one of {', '.join(known) or 'none'} "
        f"or give a path to a .toml file"
    )


def _figure(path: Path, key: str, raw) -> Figure:
    where = f"{path}: field {key}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table with value, status and source")
    missing = [k for k in ("value", "status", "source") if k not in raw]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    status, source, value = raw["status"], raw["source"], raw["value"]
    if not isinstance(status, str) or status not in STATUSES:
        raise ConfigError(f"{where}: status {shown(status)} is not one of {', '.join(STATUSES)}")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where}: source must name where the figure comes from")
    if value == "unknown":
        if status != "unknown":
            raise ConfigError(f"{where}: value is unknown but status is {status!r}")
        return Figure(None, status, source)
    if not is_num(value) or value < 0:
        raise ConfigError(
            f'{where}: value must be a finite non-negative number or "unknown", got {shown(value)}'
        )
    if status == "unknown":
        raise ConfigError(f"{where}: status unknown but a value {value} is given")
    vmax = raw.get("value_max")
    if vmax is not None and (not is_num(vmax) or vmax < value):
        raise ConfigError(f"{where}: value_max must be a finite number >= value, got {shown(vmax)}")
    return Figure(float(value), status, source, None if vmax is None else float(vmax))


def load_profile(name_or_path: str) -> Profile:
    """Load and validate a profile; a malformed one gets a one-line error naming the field."""
    import tomli

    path = resolve(name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomli.load(f)
    except (
        tomli.TOMLDecodeError,
        UnicodeDecodeError,
    ) as e:  # TOML is UTF-8: other bytes are not TOML either
        raise ConfigError(f"{path}: not valid TOML ({str(e)[:120]})") from None
    except (OSError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot read the profile ({type(e).__name__})") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: field name is missing (a string naming the chip)")
    missing = [k for k in FIELDS if k not in data]
    if missing:
        raise ConfigError(
            f"{path}: field {missing[0]} is missing (every profile needs {', '.join(FIELDS)})"
        )
    figures = {k: _figure(path, k, data[k]) for k in FIELDS + OPTIONAL if k in data}
    for k, f in figures.items():
        _in_range(path, k, f)
    return Profile(name, str(path), figures, _calibration(path, data.get("calibration")))


def _calibration(path: Path, raw) -> Optional[Calibration]:
    if raw is None:
        return None
    names = [f for f in Calibration.__dataclass_fields__]
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise ConfigError(f"{path}: table calibration must have exactly {', '.join(names)}")
    for k in names[:3]:
        if not isinstance(raw[k], str) or not raw[k].strip():
            raise ConfigError(f"{path}: calibration.{k} must be a non-empty string")
    for k in names[3:]:
        if not is_num(raw[k]) or raw[k] <= 0:
            raise ConfigError(
                f"{path}: calibration.{k} must be a positive number, got {shown(raw[k])}"
            )
    return Calibration(**{k: raw[k] if i < 3 else float(raw[k]) for i, k in enumerate(names)})


def _in_range(path: Path, key: str, f: Figure) -> None:
    """A known figure (and its value_max) is integral where it counts hardware and within RANGES."""
    if not f.known:
        return
    integral, lo, hi = RANGES[key]
    what = f"a whole number in {lo}..{hi:,}" if integral else f"a number in {lo:g}..{hi:g}"
    for name, v in (("value", f.value), ("value_max", f.value_max)):
        if v is None:
            continue
        if (integral and v != int(v)) or not lo <= v <= hi:
            raise ConfigError(f"{path}: field {key}: {name} must be {what}, got {shown(v)}")
