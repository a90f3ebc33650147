"""``export --format nir``: the deployed network as an ``nir.NIRGraph`` (neuromorphs/NIR), for the tools
and chips that read NIR (snnTorch, Norse, Sinabs, Rockpool, SpiNNaker2, hxtorch, Lava's importer, ...).

Nodes: ``Input`` -> per layer ``Conv2d`` (pools as the convs they are, groups spelled out) or ``Linear``, then a
``CubaLIF``; ``Flatten`` where the file flattens; ``Output``. Shapes are unbatched, as NIR defines them.

The mapping, in weight units (one unit = one integer weight on a spike; Loihi's state is this x 64):
  * NIR's CubaLIF is continuous: ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = (v_leak - v) + r I``.
    Discretized with Euler at ``dt = DT`` (snnTorch's convention) it is ``I = (1 - dt/tau_syn) I + S``,
    ``v = (1 - dt/tau_mem) v + I``, which is Loihi's CUBA when ``tau_syn = dt * 4096 / iDecay``,
    ``tau_mem = dt * 4096 / vDecay``, ``w_in = tau_syn / dt``, ``r = tau_mem / dt``, ``v_threshold =
    vThMant``, ``v_reset = 0``; a Loihi bias (added to v each step) is ``v_leak = bias * tau_mem / dt``.
  * a decay of 0 (no leak: the read-out's voltage, a current that never decays) is the finite time
    constant ``dt * 2^25``, never infinity: NIR's equations with ``tau = r = inf`` hold ``inf / inf``, which a
    reader that follows them literally (Norse computes ``dt / tau_mem * (r * I)``) turns into NaN.
    ``1 - 2^-25`` is 1 in float32, so a float32 reader sees no leak at all.
  * conv weights are the file's integers; dense weights are what Lava computes with: netx's
    re-scaled, truncated 8-bit weights times ``2^weight_exp``.
  * every node keeps the exact integers in its metadata (``tna_deploy_*``: weights, decays, threshold,
    weight_exp), so a fixed-point backend can rebuild the chip's arithmetic exactly.
What NIR does not say, and therefore differs from Loihi 2's fixed point: the decays are real products,
not ``trunc(x * (4096 - d) / 4096)``; the dense sum is not floored after the ``2^weight_exp`` shift; the
current does not wrap at 24 bits nor the voltage clip at 2^23; a float64 reader leaks a state without
decay by 2^-25 of itself a step; and time is not part of NIR, so a reader
runs every layer in the same step (Lava's one step of latency per layer removed, as in the emulator).
The order within a step is Loihi's: the voltage integrates the current of the same step.
"""

from __future__ import annotations

import io

import numpy as np

from ..atomic import write_bytes
from ..engine.cuba import DECAY_UNITY
from ..errors import TnaError
from ..ir import DeployedNet, Layer, dense_weight_bits
from .writable import refuse_unwritable

DT = 1e-4  # the step NIR's time constants assume (snnTorch's import uses 1e-4)
NO_DECAY_STEPS = 2**25  # the time constant, in steps, of a decay of 0 (see the module doc)


class NirExportError(TnaError):
    """The network has something NIR cannot express."""


def tau(d: int) -> float:
    """A 12-bit decay as a time constant at ``DT``: ``1 - DT / tau == 1 - d / 4096``; a decay of 0 as
    ``DT * NO_DECAY_STEPS``, finite, so that ``r`` and ``w_in`` (``tau / DT``) are finite too."""
    return DT * (NO_DECAY_STEPS if d == 0 else DECAY_UNITY / d)


def _cuba(nir, layer: Layer):
    n = layer.neuron
    shape = layer.out_shape
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    t_syn, t_mem = tau(n.current_decay), tau(n.voltage_decay)
    bias = layer.bias_per_neuron()
    v_leak = np.zeros(shape) if bias is None else bias.astype(np.float64) * (t_mem / DT)
    meta = dict(
        tna_deploy_layer=layer.name,
        tna_deploy_current_decay=n.current_decay,
        tna_deploy_voltage_decay=n.voltage_decay,
        tna_deploy_threshold_mant=n.threshold,
        tna_deploy_state_shift=6,
    )
    if bias is not None:
        meta["tna_deploy_bias"] = bias.astype(np.int64)
    return nir.CubaLIF(
        tau_syn=full(t_syn),
        tau_mem=full(t_mem),
        r=full(t_mem / DT),
        v_leak=v_leak,
        v_threshold=full(float(n.threshold)),
        v_reset=np.zeros(shape),
        w_in=full(t_syn / DT),
        metadata=meta,
    )


def ungroup(w: np.ndarray, groups: int) -> np.ndarray:
    """A grouped conv's weights (Cout, Cin/groups, kH, kW) as the equal ungrouped conv's (Cout, Cin, kH, kW).

    NIR 1.0's Conv2d infers its input channels as ``weight.shape[1]``, ignoring ``groups``, so a grouped
    conv (every pool) would not type-check; zeros between the groups make the same conv."""
    if groups == 1:
        return w
    c_out, c_in_g = w.shape[:2]
    per_group = c_out // groups
    full = np.zeros((c_out, c_in_g * groups, *w.shape[2:]), dtype=w.dtype)
    for o in range(c_out):
        g = o // per_group
        full[o, g * c_in_g : (g + 1) * c_in_g] = w[o]
    return full


def _synapse(nir, layer: Layer):
    if layer.kind == "conv":
        w = ungroup(layer.weight, layer.groups)
        return nir.Conv2d(
            input_shape=tuple(layer.in_shape[1:]),
            weight=w.astype(np.float32),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=1,
            bias=np.zeros(w.shape[0], dtype=np.float32),
            metadata=dict(
                tna_deploy_layer=layer.name,
                tna_deploy_weight=layer.weight.astype(np.int64),
                tna_deploy_groups=layer.groups,
            ),
        )
    if layer.delay is not None and layer.delay.any():
        raise NirExportError(
            f"layer {layer.name}: dense delays need NIR Delay nodes, which tna-deploy does not "
            f"write yet"
        )
    dw = dense_weight_bits(layer.weight)
    return nir.Linear(
        weight=(dw.weight * 2.0**dw.weight_exp).astype(np.float32),
        metadata=dict(
            tna_deploy_layer=layer.name,
            tna_deploy_weight=layer.weight.astype(np.int64),
            tna_deploy_lava_weight=dw.weight.astype(np.int64),
            tna_deploy_weight_exp=dw.weight_exp,
        ),
    )


def build_graph(net: DeployedNet):
    """The ``nir.NIRGraph`` of ``net`` (see the module doc)."""
    refuse_unwritable(net, "NIR", NirExportError)
    import nir

    nodes, order = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}, ["input"]

    def add(name, node):
        nodes[name] = node
        order.append(name)

    for layer in net.layers:
        i = layer.index
        if layer.kind == "flatten":
            add(
                f"flatten{i}",
                nir.Flatten(
                    input_type={"input": np.array(layer.in_shape)}, start_dim=0, end_dim=-1
                ),
            )
        elif layer.kind in ("conv", "dense"):
            add(f"{layer.kind}{i}", _synapse(nir, layer))
            add(f"lif{i}", _cuba(nir, layer))
        elif layer.neuron is not None:  # an input layer with its own neuron
            add(f"lif{i}", _cuba(nir, layer))
    add("output", nir.Output(output_type={"output": np.array(net.compute_layers[-1].out_shape)}))
    edges = list(zip(order, order[1:]))
    meta = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in net.meta.items()}
    meta.update(
        tna_deploy_dt=DT,
        tna_deploy_input_bits=net.input_bits,
        tna_deploy_timesteps=net.timesteps or 0,
    )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_nir(net: DeployedNet, path: str) -> dict:
    """Write ``net`` to ``path`` with ``nir.write`` (atomically), once ``nir.read`` of the written bytes gives
    the same graph back; returns a summary."""
    import nir

    graph = build_graph(net)
    buf = io.BytesIO()  # built and read back in memory: HDF5 on a disk that fills up can crash
    nir.write(buf, graph)
    data = buf.getvalue()
    problem = graph_difference(graph, nir.read(io.BytesIO(data)))
    if problem:
        raise NirExportError(
            f"nir.read does not give back the graph written: {problem}; please report this"
        )
    write_bytes(path, data)
    return dict(
        nodes=len(graph.nodes),
        edges=len(graph.edges),
        dt=DT,
        checked=f"nir {getattr(nir, '__version__', '')} read back the same graph".replace(
            "  ", " "
        ),
    )


def graph_difference(a, b) -> str:
    """'' when the two graphs have the same nodes (type and every array / value) and edges, else what differs."""
    if sorted(a.edges) != sorted(b.edges):
        return "edges differ"
    if sorted(a.nodes) != sorted(b.nodes):
        return "node names differ"
    for name, node in a.nodes.items():
        other = b.nodes[name]
        if type(node) is not type(other):
            return f"node {name} is {type(other).__name__}, not {type(node).__name__}"
        for key, value in node.to_dict().items():
            theirs = other.to_dict().get(key)
            if isinstance(value, dict):
                continue  # input_type / output_type / metadata: checked through the values
            if not np.array_equal(np.asarray(value), np.asarray(theirs)):
                return f"node {name}: {key} differs"
    return ""


def export_nir(src, path: str):
    """The ``--format nir`` writer (``export/formats.py``): ``write_nir`` of the source's IR."""
    from .formats import ir_summary

    return ir_summary("nir", src, path, write_nir(src.net, path))
