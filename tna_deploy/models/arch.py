"""Architecture strings such as the paper's CIFARNet, `128C3-256C3-AP2-512C3-AP2-1024C3-512C3-1024FC-512FC`.

Tokens, separated by '-':
  ``<C>C<k>``  a k x k convolution with C output channels, stride 1, 'same' padding, spiking (k odd)
  ``AP<k>``    a k x k spiking pool with stride k (a grouped conv with fixed weights: netx can load it);
               never the first layer
  ``<N>FC``    a fully connected spiking layer with N neurons
The classifier (a non-spiking read-out with one neuron per class) is appended by the builder.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

_TOKEN = re.compile(r"^(?:(?P<cc>\d+)C(?P<k>\d+)|AP(?P<p>\d+)|(?P<fc>\d+)FC)$", re.IGNORECASE)


@dataclass(frozen=True)
class LayerSpec:
    kind: str  # "conv" | "pool" | "dense"
    size: int  # output channels (conv), pool kernel (pool), neurons (dense)
    kernel: int = 1  # conv kernel

    def token(self) -> str:
        return {
            "conv": f"{self.size}C{self.kernel}",
            "pool": f"AP{self.size}",
            "dense": f"{self.size}FC",
        }[self.kind]


def recipe_dirs() -> list[Path]:
    return [Path.cwd() / "models", Path(__file__).resolve().parents[2] / "models"]


def resolve_arch(arch: str) -> str:
    """An architecture string, a recipe name from models/NAME.arch, or a path to an .arch file."""
    candidates = (
        [Path(arch)] if arch.endswith(".arch") else [d / f"{arch}.arch" for d in recipe_dirs()]
    )
    if re.fullmatch(r"[A-Za-z_][\w.-]*", arch or "") or arch.endswith(".arch"):
        for p in candidates:
            if p.is_file():
                lines = [
                    ln.strip()
                    for ln in p.read_text().splitlines()
                    if ln.strip() and not ln.startswith("#")
                ]
                if len(lines) != 1:
                    raise ConfigError(
                        f"{p}: an .arch file holds exactly one architecture line, found {len(lines)}"
                    )
                return lines[0]
        if arch.endswith(".arch"):
            raise ConfigError(f"--arch {arch}: no such file")
    return arch


def parse_arch(arch: str) -> list[LayerSpec]:
    """Parse an architecture string (or recipe); raise ConfigError naming the first bad token."""
    arch = resolve_arch(arch) if arch else arch
    if not arch or not arch.strip():
        raise ConfigError("--arch is empty: give tokens like 128C3-AP2-512FC")
    specs: list[LayerSpec] = []
    seen_dense = False
    for i, tok in enumerate(arch.strip().split("-")):
        m = _TOKEN.match(tok.strip())
        if not m:
            raise ConfigError(
                f"--arch token {i + 1} {tok!r} does not parse: use <C>C<k> (conv), AP<k> (pool) or <N>FC (dense)"
            )
        if m["cc"]:
            spec = LayerSpec("conv", int(m["cc"]), int(m["k"]))
        elif m["p"]:
            spec = LayerSpec("pool", int(m["p"]))
        else:
            spec = LayerSpec("dense", int(m["fc"]))
        if spec.size < 1 or spec.kernel < 1:
            raise ConfigError(f"--arch token {tok!r} has a zero size")
        if spec.kind != "dense" and seen_dense:
            raise ConfigError(
                f"--arch token {tok!r}: conv and pool layers must come before the FC layers"
            )
        if spec.kind == "pool" and not specs:
            raise ConfigError(
                f"--arch token 1 {tok!r}: an architecture cannot start with a pool (its input is "
                f"graded pixels, which a spiking pool cannot pass on); put a conv or FC layer first"
            )
        if spec.kind == "conv" and spec.kernel % 2 == 0:
            raise ConfigError(
                f"--arch token {i + 1} {tok!r}: kernel {spec.kernel} is even, so 'same' padding "
                f"cannot keep the map size; use an odd kernel (1, 3, 5, ...)"
            )
        seen_dense |= spec.kind == "dense"
        specs.append(spec)
    return specs


def scale_arch(specs: list[LayerSpec], width: float) -> list[LayerSpec]:
    """Multiply channel and neuron counts by ``width`` (at least 1 each); pools are unchanged."""
    out = []
    for s in specs:
        if s.kind == "pool":
            out.append(s)
        else:
            out.append(LayerSpec(s.kind, max(1, int(math.ceil(s.size * width))), s.kernel))
    return out


def weight_count(specs: list[LayerSpec], in_shape: tuple, n_classes: int) -> int:
    """How many synaptic weights the network of ``specs`` (scaled) holds on inputs ``in_shape``, read-out
    included, without building it: a reader checks a saved config against its tensors with this first."""
    c, h, w = in_shape
    n_in, total, flat = 0, 0, False
    for s in specs:
        if s.kind == "conv":
            total += s.size * c * s.kernel * s.kernel
            c = s.size
        elif s.kind == "pool":
            total += c * s.size * s.size
            h, w = h // s.size, w // s.size
        else:
            if not flat:
                n_in, flat = c * h * w, True
            total += n_in * s.size
            n_in = s.size
    if not flat:
        n_in = c * h * w
    return total + n_in * n_classes
