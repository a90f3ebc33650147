"""Cores per layer by the Loihi 2 compiler's accounting, as its compile logs show it.

Lava's Loihi 2 compiler maps each layer on its own cores: it checks a layer's tile against per-core limits
(its cost database) and divides the tile until every limit holds. lava-dl's PilotNet LIF compile
(tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb) prints what this module follows:

- a spatial layer (input, conv, pool; out_shape (C, H, W)) is cut into tiles (x, y, c): x a power of two
  no wider than the layer (PilotNet's tiles are 16, 4, 4, 8, 8 and 16 columns wide), halved while a tile
  breaks a limit, then y, then c; each core holds its channels' share of the shared kernel
  (kernel rows x ceil(c / conv synapses per word) words);
- a dense layer is split the compiler's way: its neurons over ``parts`` cores, each core holding its
  neurons' synapses from every input axon (axons x ceil(neurons / synapses per word) words), and
  ``parts`` multiplied by the largest overrun ratio until nothing overruns ("Final max_ratio=6 ...
  allocation=12800 ... 12000": 1 -> 6 -> 12 cores for PilotNet's 2560 -> 100 layer).

The limits are the profile's ``compiler_neurons_per_core``, ``synaptic_memory_words_per_core``,
``synapses_per_word`` (dense) and ``conv_synapses_per_word``. A profile without them gets ``None``
here and the report uses its plain per-core limits (``feasibility.cores_for_layer``).
"""

from __future__ import annotations

import math
from typing import Optional

from .profile import Profile

FIGURES = (
    "compiler_neurons_per_core",
    "synaptic_memory_words_per_core",
    "synapses_per_word",
    "conv_synapses_per_word",
)


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def _spatial(static: dict, limit_n: int, budget: int, spw: int) -> dict:
    c_out, h, w = static["out_shape"]
    rows = static["parameters"] // c_out if c_out else 0  # kernel rows: c_in / groups x kH x kW
    x, y, c = _pow2_floor(w), h, c_out
    binding = "tile_shape" if x < w else None  # a power-of-two width alone cuts the layer
    while True:
        neurons, words = x * y * c, rows * math.ceil(c / spw)
        over = [
            k
            for k, v, lim in (("neurons", neurons, limit_n), ("synaptic_memory", words, budget))
            if v > lim
        ]
        if not over:
            break
        binding = over[0]
        if x > 1:
            x //= 2
        elif y > 1:
            y = math.ceil(y / 2)
        elif c > 1:
            c = math.ceil(c / 2)
        else:  # one neuron and still over: the layer cannot be mapped under these limits
            return dict(
                cores=None,
                binding=binding,
                tile=[c, y, x],
                neurons_per_core=1,
                words_per_core=words,
            )
    cores = math.ceil(w / x) * math.ceil(h / y) * math.ceil(c_out / c)
    return dict(
        cores=cores,
        binding=binding or "none",
        tile=[c, y, x],
        neurons_per_core=neurons,
        words_per_core=words,
    )


def _dense(static: dict, limit_n: int, budget: int, spw: int) -> dict:
    n = static["neurons"]
    axons = static["parameters"] // n if n else 0  # input axons each neuron reads (its fan-in row)
    parts, binding = 1, "none"
    while True:
        per = math.ceil(n / parts)
        words = axons * math.ceil(per / spw)
        ratios = {"synaptic_memory": math.ceil(words / budget), "neurons": math.ceil(per / limit_n)}
        worst = max(ratios, key=ratios.get)
        if ratios[worst] <= 1:
            break
        binding = worst
        if per == 1:  # one neuron's synapses overrun a core: not mappable this way
            return dict(
                cores=None, binding=binding, tile=[1], neurons_per_core=1, words_per_core=words
            )
        parts *= ratios[worst]
    return dict(
        cores=math.ceil(n / per),
        binding=binding,
        tile=[per],
        neurons_per_core=per,
        words_per_core=words,
    )


def map_layer(static: dict, profile: Profile) -> Optional[dict]:
    """One layer's cores, tile, neurons and synaptic-memory words on its fullest core and the limit that
    set them (neurons, synaptic_memory, tile_shape or none); None when the profile lacks the figures."""
    if not profile.has(*FIGURES):
        return None
    limit_n, budget, spw, conv_spw = (int(profile[k].value) for k in FIGURES)
    spatial = len(static["out_shape"]) == 3 and static["kind"] != "dense"
    if spatial:
        row = _spatial(static, limit_n, budget, conv_spw)
    else:
        row = _dense(static, limit_n, budget, spw)
    by_limit = {}
    if row["cores"] is not None:
        by_limit = {"neurons": math.ceil(static["neurons"] / limit_n)}
    row["share"] = row["neurons_per_core"] / static["neurons"] if static["neurons"] else 0.0
    return dict(row, by_limit=by_limit)
