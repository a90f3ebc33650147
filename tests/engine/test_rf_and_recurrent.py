"""Resonate-and-fire neurons, the complex dense layer and the recurrent dense layer: the emulator
reproduces lava-dl's own ComplexDense ground truth and equals Lava's fixed-point models run from
netx files (RF and RF_IZ, with saturation; dense_rec in windows with netx's reset and as one
stream; netx's sparse_fc_layer), and the IR reads, writes and refuses these layers."""

from __future__ import annotations

import os
import sysconfig

import h5py
import numpy as np
import pytest

from tna_deploy.engine.emulator import Emulator, Stream, stream_step
from tna_deploy.ir import DeployedNet, Layer, NetxFormatError, Neuron, read_netx, write_netx
from tna_deploy.ir.layers import dense_rec_weight_bits, dense_weight_bits
from tna_deploy.ir.neurons import RFNeuron
from tna_deploy.ir.neurons.rf import lava_decays
from tna_deploy.ir.serial import describe, rebuild
from tna_deploy.lava_import import quiet_import

GTS = os.path.join(sysconfig.get_paths()["purelib"], "tests/lava/lib/dl/netx/gts/complex_dense")
LIMIT = (1 << 23) - 1


def _lava(path: str, x: np.ndarray, steps: int, **kw) -> tuple:
    """Lava's netx Network on ``path`` fed ``x`` (n_in, steps) into ``net.inp``: the last layer's
    spikes (n_out, steps), its neuron's two state Vars at the end, and the Network."""
    netx = quiet_import("lava.lib.dl.netx")
    io = quiet_import("lava.proc.io")
    cfg = quiet_import("lava.magma.core.run_configs").Loihi2SimCfg(select_tag="fixed_pt")
    steps_cond = quiet_import("lava.magma.core.run_conditions").RunSteps(num_steps=steps)
    net = netx.hdf5.Network(net_config=path, **kw)
    src = io.source.RingBuffer(data=x.astype(np.int32))
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=steps_cond, run_cfg=cfg)
        s = sink.data.get()
        n = net.layers[-1].neuron
        state = (n.real.get(), n.imag.get()) if hasattr(n, "real") else (n.u.get(), n.v.get())
        synapses = [
            type(getattr(b, a)).__name__
            for b in net.layers
            for a in ("synapse", "synapse_rec", "real_synapse", "imag_synapse")
            if hasattr(b, a)
        ]
    finally:
        net.stop()
    return s.astype(np.int64), state, synapses


# --- (1) lava-dl's own ground truth --------------------------------------------------------------


def _file_decays(period: float, alpha: float) -> tuple:
    """sinDecay / cosDecay a file must hold for Lava's RF to end up with the integer decays that
    ``RF(period=, alpha=, decay_bits=12)`` gives (lava-dl's test builds its block that way)."""
    rf = quiet_import("lava.proc.rf.process").RF(
        shape=(1,), period=period, alpha=alpha, state_exp=6, decay_bits=12, vth=1
    )
    want = (int(np.asarray(rf.sin_decay.init)), int(np.asarray(rf.cos_decay.init)))
    near = [
        (s, c) for s in range(want[0] - 2, want[0] + 3) for c in range(want[1] - 2, want[1] + 3)
    ]
    found = [sc for sc in near if lava_decays(*sc) == want and sc != want]  # the file's differ
    assert found, want
    return found[0]


@pytest.mark.skipif(not os.path.isdir(GTS), reason="lava-dl's test ground truth is not installed")
def test_lava_dl_complex_dense_ground_truth():
    """lava-dl's TestRFBlocks.test_dense: a ComplexDense block of 256 RF neurons (vth 25, period
    11, alpha 0.05) over 200 inputs for 2000 steps, spikes compared with gts/complex_dense/out.npy."""
    x = np.load(os.path.join(GTS, "in.npy")).astype(np.int64)
    w_re = np.load(os.path.join(GTS, "weight_r.npy")).astype(np.int64)
    w_im = np.load(os.path.join(GTS, "weight_img.npy")).astype(np.int64)
    gt = np.load(os.path.join(GTS, "out.npy"))
    # the block gets the raw weights (8 bits, exponent 0); a netx file's optimize_weight_bits
    # makes the same synaptic sums of them
    for w in (w_re, w_im):
        dw = dense_weight_bits(w)
        assert np.array_equal(dw.weight, w << -dw.weight_exp)
    neuron = RFNeuron(25, *_file_decays(11, 0.05), kind="RF_PHASE")  # Lava's decays differ
    layer = Layer("dense_comp", 0, (200,), (256,), neuron, w_re, weight_imag=w_im)
    net = DeployedNet((layer,), (200,))
    out = Emulator(net, Stream(None)).run(x[None]).spikes[0][0]
    assert gt.sum() > 100
    assert np.array_equal(out, gt)


@pytest.mark.lava
@pytest.mark.slow  # imports lava-dl's slayer (torch): netx's own conversion
def test_lava_decays_are_what_netx_and_lavas_rf_process_make():
    """netx's get_neuron_params (slayer's rf.neuron_params) then Lava's RF process, for random file
    decays: about half come back one lower than the file's, and lava_decays has every one."""
    rf_params = quiet_import("lava.lib.dl.slayer.neuron.rf").neuron_params
    RF = quiet_import("lava.proc.rf.process").RF
    rng = np.random.default_rng(5)
    pairs = [(0, 3000), (0, -3000), (0, 0), (4096, 0)] + [
        tuple(int(v) for v in rng.integers(-4096, 4097, 2)) for _ in range(40)
    ]
    differ = 0
    with np.errstate(divide="ignore"):
        for s, c in pairs:
            p = rf_params({"sinDecay": np.int64(s), "cosDecay": np.int64(c), "vThMant": 1})
            rf = RF(shape=(1,), period=p["period"], alpha=p["decay"], state_exp=6, decay_bits=12)
            lava = (int(np.asarray(rf.sin_decay.init)), int(np.asarray(rf.cos_decay.init)))
            assert lava_decays(s, c) == lava, (s, c)
            differ += lava != (s, c)
    assert differ > 5


# --- (2) RF and RF_IZ against Lava ----------------------------------------------------------------


def _rf_net(kind: str) -> DeployedNet:
    """CUBA dense -> complex dense of resonators. Neuron 0's real input exceeds int16 (Lava's port
    type) and saturates the real part; neuron 1's imaginary part saturates downwards."""
    rng = np.random.default_rng(7)
    n_in, hidden = 24, 300
    w1 = rng.integers(-40, 120, (hidden, n_in))
    w_re = rng.integers(-20, 120, (6, hidden))
    w_im = rng.integers(-100, 100, (6, hidden))
    w_re[0], w_im[1] = 127, -128
    return DeployedNet(
        (
            Layer("dense", 0, (n_in,), (hidden,), Neuron(30, 4096, 2048), w1),
            Layer(
                "dense_comp",
                1,
                (hidden,),
                (6,),
                RFNeuron(40, 300, 4085, kind),
                w_re,
                weight_imag=w_im,
            ),
        ),
        (n_in,),
    )


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["RF_PHASE", "RF_IZ"])
def test_rf_neurons_equal_lava(kind, tmp_path):
    net = _rf_net(kind)
    path = str(tmp_path / "rf.net")
    write_netx(net, path)
    steps = 40
    x = (np.random.default_rng(8).random((24, steps)) < 0.6).astype(np.int64)
    spikes, (real, imag), synapses = _lava(path, x, steps)
    assert synapses == ["Dense", "Dense", "Dense"]
    tr = Emulator(net, Stream(None)).run(x[None], record=("spikes", "current", "voltage"))
    assert np.array_equal(tr.spikes[1][0], spikes)
    assert np.array_equal(tr.current[1][0][:, -1], real)
    assert np.array_equal(tr.voltage[1][0][:, -1], imag)
    # the cases: spikes, decays Lava makes one lower than the file's, an a_in beyond int16, both
    # parts clipped at +-(2^23 - 1)
    assert 0 < spikes.sum() < spikes.size
    assert lava_decays(300, 4085) == (299, 4085)
    dw = dense_weight_bits(net.layers[1].weight)
    a_re = (dw.weight @ tr.spikes[0][0]) >> -dw.weight_exp
    assert a_re.max() > np.iinfo(np.int16).max
    if kind == "RF_PHASE":
        assert tr.current[1][0][0].max() == LIMIT and tr.voltage[1][0][1].min() == -LIMIT


def test_resonators_run_only_as_one_stream():
    with pytest.raises(ValueError, match="never reset"):
        Emulator(_rf_net("RF_IZ"))


# --- (3) dense_rec against Lava -------------------------------------------------------------------


def _rec_net(bias=None) -> DeployedNet:
    rng = np.random.default_rng(1)
    n_in, n = 20, 8
    w = rng.integers(-60, 100, (n, n_in))
    w_rec = rng.integers(-90, 60, (n, n))
    return DeployedNet(
        (
            Layer("input", 0, (n_in,), (n_in,)),
            Layer("dense_rec", 1, (n_in,), (n,), Neuron(80, 1024, 512), w, bias, weight_rec=w_rec),
            Layer("dense", 2, (n,), (5,), Neuron(50, 4096, 256), rng.integers(-50, 80, (5, n))),
        ),
        (n_in,),
        timesteps=12,
    )


@pytest.mark.lava
@pytest.mark.slow
def test_dense_rec_equals_lava_in_windows_with_netx_reset(tmp_path):
    net, t, k = _rec_net(), 12, 4
    path = str(tmp_path / "rec.net")
    write_netx(net, path)
    x = (np.random.default_rng(2).random((k, 20, t)) < 0.4).astype(np.int64)
    xs = np.concatenate(list(x), axis=-1)
    steps = k * t + 3
    spikes, _, _ = _lava(
        path, np.pad(xs, ((0, 0), (0, 3))), steps, reset_interval=t, reset_offset=1
    )
    windows = Emulator(net).run(x)
    for j in range(k):
        start = stream_step(1, j, t, False)
        assert np.array_equal(windows.spikes[1][j], spikes[:, start : start + t]), j
    assert spikes.sum() > 0
    # the same as one stream with netx's reset, and chunk by chunk
    stream = Emulator(net, Stream(t, 1)).run(xs[None]).spikes[1][0]
    assert np.array_equal(stream, spikes[:, : k * t])
    e = Emulator(net)
    parts = [e.run(x[:2]).spikes[1], e.run(x[2:]).spikes[1]]
    assert np.array_equal(np.concatenate(parts), windows.spikes[1])
    # the recurrent synapse carries spikes across netx's reset: separate windows would differ
    alone = [Emulator(net).run(x[j : j + 1]).spikes[1][0] for j in range(k)]
    assert any(not np.array_equal(a, b) for a, b in zip(alone, windows.spikes[1]))


@pytest.mark.lava
@pytest.mark.slow
def test_dense_rec_equals_lava_as_one_stream(tmp_path):
    net = _rec_net(bias=np.array([40, -30, 0, 90, 10, 0, -5, 60]))
    path = str(tmp_path / "rec.net")
    write_netx(net, path)
    steps = 50
    x = (np.random.default_rng(3).random((20, steps)) < 0.4).astype(np.int64)
    spikes, (u, v), _ = _lava(path, x, steps)
    tr = Emulator(net, Stream(None)).run(x[None], record=("spikes", "current", "voltage"))
    assert np.array_equal(tr.spikes[-1][0], spikes) and spikes.sum() > 0
    assert np.array_equal(tr.current[-1][0][:, -1], u)
    assert np.array_equal(tr.voltage[-1][0][:, -1], v)
    with pytest.raises(ValueError, match="fire before its first window"):
        Emulator(net).run(x[None, :, :12])


@pytest.mark.lava
def test_dense_rec_weight_bits_are_joint_with_a_sign_mode_each():
    """netx optimizes hstack((weight, weight_rec)) once; each Lava synapse then picks its own sign
    mode: an all-positive input part is clipped to 0..255 and truncated unmixed."""
    w = np.array([[3, 5], [7, 1]])
    w_rec = np.array([[-100, 20], [9, -2]])
    ff, rec = dense_rec_weight_bits(w, w_rec)
    assert ff.weight_exp == rec.weight_exp and ff.num_weight_bits == rec.num_weight_bits
    assert ff.clip == (0, 255) and rec.clip == (-256, 255) and ff.drop == rec.drop - 1
    lava = quiet_import("lava.lib.dl.netx.utils").optimize_weight_bits(np.hstack((w, w_rec)))
    assert (lava[1], lava[2]) == (ff.num_weight_bits, ff.weight_exp)


# --- (4) sparse_fc_layer ---------------------------------------------------------------------------


@pytest.mark.lava
@pytest.mark.slow
def test_sparse_fc_layer_equals_dense_and_the_emulator(tmp_path):
    """netx's sparse_fc_layer=True builds Lava's Sparse for dense, dense_rec and complex dense
    synapses; its fixed-point arithmetic is Dense's, so one emulator run matches both."""
    rng = np.random.default_rng(2)
    w1 = rng.integers(-200, 250, (10, 30))
    w1[rng.random(w1.shape) < 0.5] = 0
    net = DeployedNet(
        (
            Layer("dense", 0, (30,), (10,), Neuron(60, 2048, 1024), w1, rng.integers(-30, 30, 10)),
            Layer(
                "dense_rec",
                1,
                (10,),
                (6,),
                Neuron(40, 4096, 300),
                rng.integers(-7, 9, (6, 10)) * 3,
                weight_rec=rng.integers(-100, 40, (6, 6)),
            ),
            Layer(
                "dense_comp",
                2,
                (6,),
                (4,),
                RFNeuron(3, 1500, 3600, "RF_IZ"),
                rng.integers(-50, 90, (4, 6)),
                weight_imag=rng.integers(-90, 90, (4, 6)),
            ),
        ),
        (30,),
    )
    path = str(tmp_path / "sparse.net")
    write_netx(net, path)
    steps = 25
    x = (rng.random((30, steps)) < 0.5).astype(np.int64)
    emulated = Emulator(net, Stream(None)).run(x[None]).spikes
    assert all(s.sum() > 0 for s in emulated)
    for sparse in (False, True):
        spikes, _, synapses = _lava(path, x, steps, sparse_fc_layer=sparse)
        assert set(synapses) == {"Sparse" if sparse else "Dense"}
        assert np.array_equal(emulated[-1][0], spikes), sparse


# --- (5) the IR: round trip, 'dense_comp' typed files, malformed groups ---------------------------


def test_round_trip_through_netx_and_serial(tmp_path):
    for net in (_rf_net("RF_PHASE"), _rf_net("RF_IZ"), _rec_net(np.arange(8) - 4)):
        path = str(tmp_path / "n.net")
        write_netx(net, path)
        back = read_netx(path)
        assert all(a.same(b) for a, b in zip(back.layers, net.layers))
        assert len(back.layers) == len(net.layers)
        with h5py.File(path, "r") as f:
            types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert "dense_comp" not in types  # written as SLAYER does: a dense with weight/real, /imag
    net = _rec_net()
    assert rebuild(*describe(net)).same(net)
    with pytest.raises(ValueError, match="RF_PHASE neurons have no ONNX description"):
        describe(_rf_net("RF_PHASE"))
    other = _rec_net()
    w = other.layers[1].weight_rec.copy()
    w[0, 0] += 1
    changed = Layer(
        "dense_rec", 1, (20,), (8,), other.layers[1].neuron, other.layers[1].weight, weight_rec=w
    )
    assert not changed.same(net.layers[1])


@pytest.mark.lava
@pytest.mark.slow
def test_a_dense_comp_typed_group_is_read_but_lava_cannot_load_it(tmp_path):
    net = _rf_net("RF_IZ")
    path = str(tmp_path / "c.net")
    write_netx(net, path)
    with h5py.File(path, "a") as f:
        assert f["layer/1/type"][0] == b"dense"  # how SLAYER writes a complex dense block
        del f["layer/1/type"]
        f["layer/1"].create_dataset("type", (1,), "S10", [b"dense_comp"])
    assert all(a.same(b) for a, b in zip(read_netx(path).layers, net.layers))
    with pytest.raises(AttributeError, match="create_complex_dense"):
        _lava(path, np.zeros((24, 2), np.int64), 2)


def _edit(path: str, layer: int, change) -> None:
    with h5py.File(path, "a") as f:
        change(f[f"layer/{layer}"])


def _replace(name, value):
    def change(g):
        del g[name]
        g.create_dataset(name, data=value)

    return change


def _retype(group, value):
    def change(g):
        del g[group]
        g.create_dataset(group, (1,), "S10", [value.encode()])

    return change


@pytest.mark.parametrize(
    "net, layer, change, field",
    [
        (lambda: _rec_net(), 1, lambda g: g.__delitem__("weight_rec"), "weight_rec"),
        (lambda: _rec_net(), 1, _replace("weight_rec", np.ones((8, 3))), "weight_rec"),
        (lambda: _rec_net(), 1, lambda g: g.create_dataset("delay", data=1), "delay"),
        (lambda: _rf_net("RF_IZ"), 1, lambda g: g.__delitem__("weight/imag"), "weight"),
        (lambda: _rf_net("RF_IZ"), 1, lambda g: g.__delitem__("neuron/sinDecay"), "sinDecay"),
        (lambda: _rf_net("RF_IZ"), 1, _replace("neuron/cosDecay", 1.5), "cosDecay"),
        (lambda: _rf_net("RF_IZ"), 1, _replace("neuron/cosDecay", np.arange(6)), "cosDecay"),
        (lambda: _rf_net("RF_IZ"), 1, _replace("neuron/sinDecay", 5000), "sin_decay"),
        (lambda: _rf_net("RF_IZ"), 0, _retype("neuron/type", "RF_IZ"), "sinDecay"),
        (lambda: _rf_net("RF_IZ"), 1, _retype("neuron/type", "CUBA"), "iDecay"),
    ],
)
def test_malformed_groups_are_refused_in_one_line(net, layer, change, field, tmp_path):
    path = str(tmp_path / "bad.net")
    write_netx(net(), path)
    _edit(path, layer, change)
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    msg = str(e.value)
    assert "\n" not in msg and field in msg and f"layer {layer}" in msg, msg


def test_neurons_and_synapses_must_match(tmp_path):
    net = _rf_net("RF_PHASE")
    rf, cuba = net.layers[1].neuron, net.layers[0].neuron
    w = net.layers[1].weight
    with pytest.raises(ValueError, match="cannot sit in a dense layer"):
        Layer("dense", 1, (300,), (6,), rf, w)
    with pytest.raises(ValueError, match="cannot sit in a dense_comp layer"):
        Layer("dense_comp", 1, (300,), (6,), cuba, w, weight_imag=w)
    with pytest.raises(ValueError, match="without weight_imag"):
        Layer("dense_comp", 1, (300,), (6,), rf, w)
    with pytest.raises(ValueError, match="has no weight_rec"):
        Layer("dense", 1, (300,), (6,), cuba, w, weight_rec=np.eye(6))
    # a complex dense file with a neuron-less group gets netx's default CUBA neuron: refused
    path = str(tmp_path / "n.net")
    write_netx(net, path)
    _edit(path, 1, lambda g: g.__delitem__("neuron"))
    with pytest.raises(NetxFormatError, match="cannot sit in a dense_comp layer"):
        read_netx(path)


def test_onnx_and_nir_writers_refuse_what_they_cannot_write():
    from tna_deploy.export.nir_writer import NirExportError, build_graph
    from tna_deploy.export.onnx_writer import OnnxExportError, build_model

    with pytest.raises(OnnxExportError, match="writes no ONNX for a dense_rec layer"):
        build_model(_rec_net())
    with pytest.raises(NirExportError, match="writes no NIR for a dense_comp layer"):
        build_graph(_rf_net("RF_IZ"))


# --- (6) what the report counts for the second synapses --------------------------------------------


def test_counts_include_the_recurrent_and_imaginary_synapses():
    """A complex dense layer's two synapses and a recurrent layer's own ones are synapses, parameters
    and synaptic ops: the ops of a recurrent layer add, per step, its own spikes times their fan-out
    back into it."""
    import torch

    from tna_deploy.hardware.counts import fanout, static_counts
    from tna_deploy.simulate.collect import Collector

    rf = _rf_net("RF_IZ").layers[1]
    c = static_counts(rf)
    assert c["parameters"] == rf.weight.size + rf.weight_imag.size
    assert fanout(rf).sum() == (rf.weight != 0).sum() + (rf.weight_imag != 0).sum()
    net = _rec_net()
    rec = net.layers[1]
    c = static_counts(rec)
    assert c["synapses"] == rec.weight.size + rec.weight_rec.size
    assert c["fan_in_max"] == int(np.hstack([rec.weight != 0, rec.weight_rec != 0]).sum(1).max())
    x = (np.random.default_rng(4).random((2, 20, 12)) < 0.5).astype(np.int64)
    tr = Emulator(net, Stream(None)).run(x)
    col = Collector(net, ())
    col.add(x, tr, 0.0)
    got = col.synops[0][:, 0]  # (K, T) ops of the dense_rec layer (the first compute layer)
    own = (tr.spikes[0] != 0).astype(np.int64)
    want = np.einsum("kjt,j->kt", (x != 0).astype(np.int64), (rec.weight != 0).sum(0)) + np.einsum(
        "kjt,j->kt", own, (rec.weight_rec != 0).sum(0)
    )
    assert own.sum() > 0 and np.array_equal(got, want)
    assert torch.is_tensor(col.recurrent[0]) and col.recurrent[1] is None


def test_the_report_names_a_recurrent_read_outs_uncounted_feedback():
    """A read-out's spikes are recorded by no source, so a recurrent read-out's feedback through
    weight_rec is the one synaptic-op count the report cannot define: it says so, in one line naming
    the layer; a hidden recurrent layer's feedback is counted (above) and needs no such line."""
    from tna_deploy.report.build import _uncounted

    net = _rec_net()
    assert _uncounted(net.compute_layers) == []
    hidden = net.compute_layers[:-1]  # up to the dense_rec layer: it becomes the read-out
    last = hidden[-1]
    assert last.kind == "dense_rec"
    (line,) = _uncounted(hidden)
    assert last.name in line and "weight_rec" in line and "\n" not in line
