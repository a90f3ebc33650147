"""``export --format onnx``: the deployed network as an ONNX model that computes what Loihi 2 computes.

Input ``spikes``: (N, *input shape, T) int32, the graded input spikes as ``simulate`` feeds the chip
(unsigned values below ``2^input_bits``; any nonzero value is a spike for a binary input; any int32 into
an input layer that has its own neuron). Outputs: ``logits`` (N, classes)
float32, the read-out voltage at the last step / 4096 exactly as the emulator and the PyTorch model give
it, and ``spikes_L{i}`` (N, *shape, T) uint8, every compute layer's spikes at every step (sum over the
last axis for spike counts).

Integer-exact by construction:
  * weights are int8 initializers (int16 where a layer needs more) with a power-of-two scale, turned
    into float32 by ``DequantizeLinear``; a dense layer spells out Lava's weight handling (netx's
    ``optimize_weight_bits``, the 8-bit clip, truncation to ``num_weight_bits``) as constant ops;
  * conv / matmul run in float32 only where the largest possible sum is below 2^24, so every partial
    sum is an exact integer in any summation order (dense falls back to float64; onnxruntime has no
    float64 Conv, so such a conv is refused); a conv that could pass 2^23 wraps to 24 bits as Lava's;
  * the CUBA neuron runs in float64 (exact integers below 2^53): ``trunc(x * keep / 4096)`` for the
    decays (``x - Mod(x, 1, fmod=1)`` is trunc), the 24-bit wrap of u, the clip of v, ``v > vth << 6``.
The opset is ``--opset`` (``onnx_opsets.py``: 17 to 23, the same graph in each), 19 by default: the
lowest that both onnxruntime and onnx's own ``ReferenceEvaluator`` run.
Time is unrolled: T is fixed by the deployed network (netx files carry it), every step is visible in
a graph viewer, and plain ops run in every ONNX runtime, where Loop/Scan support varies. The synapses
fold T into the batch (one Conv / MatMul per layer for all steps); only the neuron is per step.
Windows are aligned as in the emulator (Lava's one step of latency per layer removed), so each sample
is independent: dense delays, which carry spikes across samples, are refused.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import __version__
from ..atomic import write_bytes
from ..engine.cuba import DECAY_UNITY, STATE_SHIFT, U_MAX
from ..engine.emulator import bytes_per_sample, largest_layer
from ..engine.numeric import F32_EXACT
from ..errors import TnaError
from ..ir import DeployedNet, Layer, dense_weight_bits
from ..ir.onnx_model import FORMAT, FORMAT_VERSION  # the format's name and version: its reader's
from ..ir.serial import describe
from ..memory import refuse_over
from .onnx_opsets import DEFAULT_OPSET, OPSETS, opset_problem, reference_gap
from .writable import refuse_unwritable


class OnnxExportError(TnaError):
    """The network has something ONNX (as onnxruntime runs it) cannot compute exactly."""


class _Graph:
    """A tiny builder: ``op`` adds a node and returns its output's name; ``const`` an initializer."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.h, self.np = helper, numpy_helper
        self.nodes, self.inits, self._n = [], [], 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value, dtype=np.float64, name: str = "") -> str:
        name = name or self._name("c")
        self.inits.append(self.np.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, hint: str = "", out: str = "", **attrs) -> str:
        out = out or self._name(hint or op_type.lower())
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _int_tensor(g: _Graph, w: np.ndarray, name: str) -> tuple[str, int, str]:
    """Store integers ``w`` as int8 (else int16) times 2^k; returns (initializer, k, dtype)."""
    w = np.asarray(w, dtype=np.int64)
    k = 0
    while k < 16 and w.any() and not (w % (1 << (k + 1))).any():
        k += 1
    m = w >> k
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if m.min(initial=0) >= info.min and m.max(initial=0) <= info.max:
            return g.const(m, dtype, name), k, np.dtype(dtype).name
    raise OnnxExportError(f"{name}: integers {int(w.min())}..{int(w.max())} do not fit 32 bits")


def _float_weight(g: _Graph, w: np.ndarray, name: str, arrays: dict) -> str:
    """float32 weights from an integer initializer (DequantizeLinear for int8)."""
    init, k, dtype = _int_tensor(g, w, name)
    arrays[name] = dict(initializer=init, shift=k)
    if dtype == "int8":
        return g.op(
            "DequantizeLinear",
            init,
            g.const(float(1 << k), np.float32),
            g.const(0, np.int8),
            hint="w",
        )
    return g.op("Mul", g.op("Cast", init, to=1), g.const(float(1 << k), np.float32), hint="w")


def _bias(g: _Graph, layer: Layer, arrays: dict):
    """The bias in state units (float64), shaped to broadcast against one step (N, *out_shape)."""
    if layer.bias is None:
        return None
    name = f"{layer.index}/bias"
    init, k, _ = _int_tensor(g, layer.bias, name)
    arrays[name] = dict(initializer=init, shift=k)
    b = g.op("Mul", g.op("Cast", init, to=11), g.const(float(1 << (k + STATE_SHIFT))), hint="bias")
    if layer.bias.ndim == 1 and len(layer.out_shape) > 1:  # per channel
        b = g.op("Reshape", b, g.const([-1] + [1] * (len(layer.out_shape) - 1), np.int64))
    return b


def _trunc(g: _Graph, x: str) -> str:
    return g.op("Sub", x, g.op("Mod", x, g.const(1.0), fmod=1), hint="trunc")


def _decay(g: _Graph, x: str, d: int):
    keep = DECAY_UNITY - int(d)
    if keep == DECAY_UNITY:
        return x
    if keep == 0:
        return None
    return _trunc(g, g.op("Mul", x, g.const(keep / DECAY_UNITY)))


def _wrap(g: _Graph, x: str, half: float) -> str:
    """Two's-complement wrap into [-half, half) (x integer-valued float64)."""
    shifted = g.op("Add", x, g.const(half))
    return g.op(
        "Sub",
        x,
        g.op("Mul", g.op("Floor", g.op("Div", shifted, g.const(2 * half))), g.const(2 * half)),
        hint="wrap",
    )


def _neuron(g: _Graph, layer: Layer, a: str, steps: int, bias) -> tuple[str, str]:
    """Lava's ``PyLifResetModelBitAcc`` over a (T, N, *shape) float64 input in state units.
    Returns the spikes (T, N, *shape) float32 and the voltage after the last step (N, *shape)."""
    n = layer.neuron
    level = g.const(float(n.threshold << STATE_SHIFT))
    zero, lim = g.const(0.0), g.const([-(U_MAX - 1.0), U_MAX - 1.0])
    top, bottom = g.const(float(U_MAX)), g.const(-float(U_MAX))
    two24 = g.const(float(2 * U_MAX))
    u = v = None
    spikes = []
    for t in range(steps):
        a_t = g.op("Gather", a, g.const(t, np.int64), axis=0, hint=f"a_t{t}")
        du = _decay(g, u, n.current_decay) if u is not None else None
        u = a_t if du is None else g.op("Add", du, a_t)
        # Lava: u > 2^23 wraps down, u <= -2^23 wraps up (lif/models.py)
        u = g.op("Where", g.op("Greater", u, top), g.op("Sub", u, two24), u)
        u = g.op("Where", g.op("LessOrEqual", u, bottom), g.op("Add", u, two24), u, hint=f"u_t{t}")
        dv = _decay(g, v, n.voltage_decay) if v is not None else None
        v = u if dv is None else g.op("Add", dv, u)
        if bias is not None:
            v = g.op("Add", v, bias)
        v = g.op(
            "Clip",
            v,
            g.op("Gather", lim, g.const(0, np.int64)),
            g.op("Gather", lim, g.const(1, np.int64)),
        )
        s = g.op("Greater", v, level, hint=f"s_t{t}")
        v = g.op("Where", s, zero, v, hint=f"v_t{t}")
        spikes.append(g.op("Unsqueeze", g.op("Cast", s, to=1), g.const([0], np.int64)))
    return g.op("Concat", *spikes, axis=0, hint="spikes"), v


def _synapse(
    g: _Graph, layer: Layer, h: str, h_max: float, arrays: dict, steps: int
) -> tuple[str, float]:
    """The layer's synaptic input a (T, N, *out_shape) float64 in state units, and a bound on |a| / 64."""
    name = layer.name
    if layer.kind == "input":
        return g.op("Cast", h, to=11), h_max
    if layer.kind == "conv":
        w = layer.weight
        bound = h_max * float(np.abs(w).reshape(w.shape[0], -1).sum(1).max())
        if bound >= F32_EXACT:
            raise OnnxExportError(
                f"layer {name}: conv sums can reach {bound:.0f}, beyond float32's exact "
                f"integers (2^24), and onnxruntime has no float64 Conv"
            )
        x = g.op("Reshape", h, g.const([-1, *layer.in_shape], np.int64))
        p_h, p_w = layer.padding
        z = g.op(
            "Conv",
            x,
            _float_weight(g, w, f"{layer.index}/weight", arrays),
            hint="conv",
            strides=list(layer.stride),
            pads=[p_h, p_w, p_h, p_w],
            dilations=list(layer.dilation),
            group=layer.groups,
            kernel_shape=list(w.shape[2:]),
        )
        z = g.op("Cast", z, to=11)
        if bound >= 1 << 23:  # only then can Lava's 24-bit signed_clamp change the sum
            z, bound = _wrap(g, z, float(1 << 23)), float(1 << 23)
        a = g.op("Reshape", z, g.const([steps, -1, *layer.out_shape], np.int64))
    else:
        if layer.delay is not None and layer.delay.any():
            raise OnnxExportError(
                f"layer {name}: dense delays carry spikes from one sample into the next; "
                f"the ONNX export runs samples independently"
            )
        dw = dense_weight_bits(layer.weight)
        bound = h_max * float(np.abs(dw.weight).sum(1).max())
        fdt, onnx_t = (np.float32, 1) if bound < F32_EXACT else (np.float64, 11)
        w = g.op("Cast", _float_weight(g, layer.weight, f"{layer.index}/weight", arrays), to=onnx_t)
        c = lambda v: g.const(v, fdt)  # noqa: E731
        if dw.pre_clip:
            w = g.op("Clip", w, c(-256.0), c(254.0))
        w = g.op("Mul", w, c(float(2**-dw.weight_exp)))
        if dw.negative:
            w = g.op("Neg", w)
        w = g.op("Clip", w, c(float(dw.clip[0])), c(float(dw.clip[1])))
        if dw.drop >= 0:
            w = g.op(
                "Mul", g.op("Floor", g.op("Div", w, c(float(1 << dw.drop)))), c(float(1 << dw.drop))
            )
        else:  # more than 8 bits asked (a 0 max in mixed mode): numpy's shift zeroes all
            assert not dw.weight.any()
            w = g.op("Mul", w, c(0.0))
        if dw.negative:
            w = g.op("Neg", w)
        x = g.op(
            "Cast", g.op("Reshape", h, g.const([steps, -1, layer.inputs], np.int64)), to=onnx_t
        )
        z = g.op("Cast", g.op("MatMul", x, g.op("Transpose", w, perm=[1, 0], hint="w_lava")), to=11)
        if dw.weight_exp:
            z = g.op("Floor", g.op("Mul", z, g.const(2.0**dw.weight_exp)))
        a = z
        bound *= 2.0**dw.weight_exp
    return a, bound


def build_model(net: DeployedNet, opset: int = DEFAULT_OPSET):
    """The ``onnx.ModelProto`` of ``net`` at ``opset`` (see the module doc and ``onnx_opsets.py``)."""
    refuse_unwritable(net, "ONNX", OnnxExportError)
    if opset not in OPSETS:  # before building: the graph's ops are not needed to say so
        raise OnnxExportError(opset_problem(opset, ()))
    from onnx import TensorProto, helper

    if net.timesteps is None:
        raise OnnxExportError(
            "the network does not say how many timesteps a sample runs; ONNX fixes T"
        )
    for layer in net.compute_layers:
        if layer.neuron.family != "cuba":
            raise OnnxExportError(
                f"layer {layer.name}: the ONNX writer runs CUBA neurons, not {layer.neuron.kind}"
            )
    steps = int(net.timesteps)
    g = _Graph()
    nd = len(net.input_shape) + 2
    x = g.op("Transpose", "spikes", perm=[nd - 1] + list(range(nd - 1)), hint="time_major")
    if net.input_neuron:  # any int32 straight into the input neuron's a_in
        h, h_max = g.op("Cast", x, to=11), 2.0**31
    elif net.input_bits == 0:
        h, h_max = g.op("Cast", g.op("Cast", x, to=9), to=1), 1.0  # binary input: x != 0
    else:
        h, h_max = g.op("Cast", x, to=1), float((1 << net.input_bits) - 1)
    arrays, outputs, v = {}, [], None
    compute = net.compute_layers
    for layer in net.layers:
        if layer.neuron is None:
            continue
        a, bound = _synapse(g, layer, h, h_max, arrays, steps)
        if bound * 64 >= 2.0**31:  # a_in << 6 wraps in int32 (numpy), as in the emulator
            a = g.op("Mul", a, g.const(float(1 << STATE_SHIFT)))
            a = _wrap(g, a, 2.0**31)
        else:
            a = g.op("Mul", a, g.const(float(1 << STATE_SHIFT)))
        s, v = _neuron(g, layer, a, steps, _bias(g, layer, arrays))
        i = compute.index(layer)
        perm = list(range(1, len(layer.out_shape) + 2)) + [0]
        g.op("Cast", g.op("Transpose", s, perm=perm), to=2, out=f"spikes_L{i}")
        outputs.append(
            helper.make_tensor_value_info(
                f"spikes_L{i}", TensorProto.UINT8, ["N", *layer.out_shape, steps]
            )
        )
        h, h_max = s, 1.0
    last = compute[-1]
    logits = g.op(
        "Reshape",
        g.op("Div", v, g.const(float(1 << (2 * STATE_SHIFT)))),
        g.const([-1, last.neurons], np.int64),
    )
    g.op("Cast", logits, to=1, out="logits")
    outputs.insert(
        0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", last.neurons])
    )
    inputs = [
        helper.make_tensor_value_info("spikes", TensorProto.INT32, ["N", *net.input_shape, steps])
    ]
    problem = opset_problem(opset, (n.op_type for n in g.nodes))
    if problem:
        raise OnnxExportError(problem)
    graph = helper.make_graph(g.nodes, "tna_deploy_loihi2", inputs, outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=OPSETS[opset],
        producer_name="tna-deploy",
        producer_version=__version__,
        doc_string="Loihi 2 fixed-point CUBA network, integer-exact; see tna_deploy/export/"
        "onnx_writer.py",
    )
    doc, _ = describe(net)
    names = {f"spikes_L{i}": layer.name for i, layer in enumerate(compute)}
    helper.set_model_props(
        model,
        {
            "tna_deploy.format": FORMAT,
            "tna_deploy.format_version": str(FORMAT_VERSION),
            "tna_deploy.ir": json.dumps(doc),
            "tna_deploy.arrays": json.dumps(arrays),
            "tna_deploy.outputs": json.dumps(names),
        },
    )
    return model


def write_onnx(
    net: DeployedNet, path: str, check_samples: int = 4, opset: int = DEFAULT_OPSET
) -> dict:
    """Write ``net`` at ``opset`` to ``path`` atomically once ``onnx.checker`` passes and onnxruntime
    computes the emulator's integers on ``check_samples`` random inputs (skipped without onnxruntime);
    returns a summary, which says whether onnx's ReferenceEvaluator runs the file too."""
    import onnx

    if check_samples:  # the memory guard: onnxruntime and the emulator each run the samples
        refuse_over(
            2 * check_samples * bytes_per_sample(net, int(net.timesteps or 1)),
            f"checking the ONNX export on {check_samples} samples ({largest_layer(net)})",
            "export a smaller network",
        )
    model = build_model(net, opset)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    checked = check_against_emulator(net, data, check_samples) if check_samples else "not checked"
    write_bytes(path, data)
    weights = sum(
        math.prod(t.dims) * (1 if t.data_type == 3 else 2)
        for t in model.graph.initializer
        if t.data_type in (3, 5)
    )
    gap = reference_gap(opset, {n.op_type for n in model.graph.node})
    return dict(
        nodes=len(model.graph.node),
        opset=opset,
        weight_bytes=int(weights),
        checked=checked,
        runs_in=f"onnxruntime ({gap}; --opset {DEFAULT_OPSET} runs in both)"
        if gap
        else "onnxruntime and onnx's ReferenceEvaluator",
    )


def random_inputs(net: DeployedNet, samples: int, seed: int = 0) -> np.ndarray:
    """Inputs in the file's range (graded below 2^input_bits, else 0/1) at a density that makes layers fire."""
    rng = np.random.default_rng(seed)
    top = (1 << net.input_bits) - 1 if net.input_bits else 1
    x = rng.integers(0, top + 1, size=(samples, *net.input_shape, int(net.timesteps)))
    x[rng.random(x.shape) < 0.5] = 0
    return x.astype(np.int32)


def check_against_emulator(net: DeployedNet, data: bytes, samples: int) -> str:
    """Run the serialized model in onnxruntime and the emulator on the same inputs; raise on any difference."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "not run in onnxruntime (not installed)"
    from ..engine.emulator import Emulator

    x = random_inputs(net, samples)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 -- onnxruntime's own exception types, one line each
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise OnnxExportError(
            f"onnxruntime {ort.__version__} cannot load the model ({first}); an older onnxruntime "
            f"loads a lower --opset"
        ) from None
    got = sess.run(None, {"spikes": x})
    want = Emulator(net).run(x)
    if not np.array_equal(got[0].astype(np.float64), want.logits):
        raise OnnxExportError(
            f"onnxruntime's logits differ from the emulator's (max diff "
            f"{np.abs(got[0] - want.logits).max():g}); please report this with the file"
        )
    for i, (a, b) in enumerate(zip(got[1:], want.spikes)):
        if not np.array_equal(a, b):
            raise OnnxExportError(
                f"onnxruntime's spikes of layer {net.compute_layers[i].name} differ from the "
                f"emulator's; please report this with the file"
            )
    return (
        f"onnxruntime {ort.__version__} == emulator on {samples} random inputs (logits and spikes)"
    )


def export_onnx(src, path: str, opset: int = DEFAULT_OPSET):
    """The ``--format onnx`` writer (``export/formats.py``): ``write_onnx`` of the source's IR."""
    from .formats import ir_summary

    return ir_summary("onnx", src, path, write_onnx(src.net, path, opset=opset))
