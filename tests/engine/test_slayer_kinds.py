"""The layer kinds lava-dl SLAYER exports but netx refuses (pool, unpool, convT, average, concat):
small SLAYER networks with each block run SLAYER's own forward on random binary spikes, are exported
with the blocks' own ``export_hdf5`` (the average by hand: SLAYER's export of it is broken), read
into the IR and run in the emulator; every layer's spikes are equal to SLAYER's, window-aligned.
Files round-trip through write_netx / read_netx; malformed groups, and the pools and unpools whose
SLAYER output mixes channels, are refused in one line naming the layer and the field or reason."""

import dataclasses

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import no_slayer

from tna_deploy.engine.emulator import Emulator
from tna_deploy.engine.readout import readout
from tna_deploy.ir import NetxFormatError, read_netx, write_netx
from tna_deploy.lava_import import quiet_import

if no_slayer():
    pytest.skip(no_slayer(), allow_module_level=True)
slayer = quiet_import("lava.lib.dl.slayer")
T, K = 12, 4


def _neuron(threshold=1.25):
    return {
        "threshold": threshold,
        "current_decay": 0.25,
        "voltage_decay": 0.03,
        "tau_grad": 0.03,
        "scale_grad": 3,
        "requires_grad": False,
    }


def _spikes(shape, seed, rate=0.4):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((K, *shape, T), generator=g) < rate).float()


def _slayer_outputs(blocks, x):
    """Every block's output on ``x`` zero-padded by as many steps as the blocks delay (so the last
    window is complete), each sample from rest."""
    x = torch.cat([x, torch.zeros((*x.shape[:-1], len(blocks)))], dim=-1)
    outs = []
    with torch.no_grad():
        for blk in blocks:
            x = blk(x)
            outs.append(x)
    return outs


def _write(path, in_shape, blocks, by_hand=None):
    """The file as SLAYER writes it: an input layer, then each block's own ``export_hdf5``
    (``by_hand``: {position: writer} for a block whose export is broken)."""
    by_hand = by_hand or {}
    with h5py.File(path, "w") as h:
        g = h.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array(in_shape))
        for i, blk in enumerate(blocks, start=1):
            (by_hand.get(i - 1) or blk.export_hdf5)(h.create_group(f"layer/{i}"))


def _assert_equal_per_layer(net, blocks, outs, x):
    """Compute layer j of the emulator holds SLAYER's block output delayed by its j + 1 blocks."""
    trace = Emulator(net).run(x.numpy().astype(np.int64))
    with_neuron = [o for blk, o in zip(blocks, outs) if hasattr(blk, "neuron")]
    assert len(trace.spikes) == len(with_neuron) == len(net.compute_layers)
    for j, (ours, theirs) in enumerate(zip(trace.spikes, with_neuron)):
        want = theirs[..., j + 1 : j + 1 + T].numpy().astype(np.uint8)
        assert ours.shape == want.shape, (j, ours.shape, want.shape)
        assert np.array_equal(ours, want), f"layer {net.compute_layers[j].name} differs"
        assert 0 < ours.mean() < 1, (
            f"layer {j} is silent or saturated: the test would prove nothing"
        )
    return trace


def _roundtrip(net, tmp_path):
    p = str(tmp_path / "again.net")
    write_netx(net, p)
    back = read_netx(p)
    assert back.same(net)
    return back


def _dense(n_in, n_out, seed):
    torch.manual_seed(seed)
    return slayer.block.cuba.Dense(_neuron(), n_in, n_out, weight_scale=2)


# ---------------------------------------------------------------------------------------------- pool


def test_pool_after_a_conv_equals_slayer(tmp_path):
    """Conv -> Pool(2) on 7 rows (SLAYER pads one zero row: 7 % 2) -> Flatten -> Dense."""
    torch.manual_seed(0)
    blocks = [
        slayer.block.cuba.Conv(_neuron(), 2, 3, 3, padding=1, weight_scale=2),
        slayer.block.cuba.Pool(_neuron(), 2),
        slayer.block.cuba.Flatten(),
        _dense(3 * 4 * 3, 5, 1),
    ]
    x = _spikes((2, 7, 6), 2)
    outs = _slayer_outputs(blocks, x)
    assert outs[1].shape[1:4] == (3, 4, 3)
    path = str(tmp_path / "pool.net")
    _write(path, (2, 7, 6), blocks)
    net = read_netx(path)
    assert [layer.kind for layer in net.layers] == ["input", "conv", "pool", "flatten", "dense"]
    pool = net.layers[2]
    assert pool.weight.tolist() == [[[[64, 64], [64, 64]]]] and pool.out_shape == (3, 4, 3)
    _assert_equal_per_layer(net, blocks, outs, x)
    _assert_equal_per_layer(_roundtrip(net, tmp_path), blocks, outs, x)


def test_pool_first_with_a_wide_kernel_and_width_padding_equals_slayer(tmp_path):
    """A pool straight on the input spikes, kernel (2, 3), stride (2, 2), width padding 1, on an odd
    width: SLAYER's own odd-size padding, its stride and its padding all per channel."""
    blocks = [
        slayer.block.cuba.Pool(_neuron(0.9), (2, 3), stride=(2, 2), padding=(0, 1)),
        slayer.block.cuba.Flatten(),
        _dense(2 * 3 * 4, 4, 3),
    ]
    x = _spikes((2, 6, 7), 4)
    outs = _slayer_outputs(blocks, x)
    path = str(tmp_path / "pool.net")
    _write(path, (2, 6, 7), blocks)
    net = read_netx(path)
    assert net.layers[1].out_shape == tuple(outs[0].shape[1:4])
    _assert_equal_per_layer(net, blocks, outs, x)


def test_pool_that_mixes_channels_is_refused(tmp_path):
    """Kernel 3, stride 2 on 5 rows (padded to 7): SLAYER's windows over its stacked C*H axis reach
    into the next channel, so its output is no per-channel pool; the reader says so."""
    blk = slayer.block.cuba.Pool(_neuron(), 3, stride=2)
    x = _spikes((2, 5, 6), 5)
    with torch.no_grad():
        z = blk.synapse(x)  # SLAYER's own synaptic sum
    padded = F.pad(x, (0, 0, 0, 0, 0, 2)).permute(0, 4, 1, 2, 3).reshape(-1, 2, 7, 6)
    per_channel = F.conv2d(padded, torch.ones(2, 1, 3, 3), stride=2, groups=2)
    assert z.shape[2:4] == per_channel.shape[2:]  # the same shape, and yet ...
    assert not torch.equal(z.permute(0, 4, 1, 2, 3).reshape(per_channel.shape), per_channel)
    _slayer_outputs([blk], x)  # the block runs (and learns its shape, which its export writes)
    path = str(tmp_path / "mix.net")
    _write(path, (2, 5, 6), [blk])
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    msg = str(e.value)
    assert "layer 1 (pool)" in msg and "into the next" in msg and "\n" not in msg

    padded = slayer.block.cuba.Pool(_neuron(), 3, stride=1, padding=1)
    _slayer_outputs([padded], _spikes((2, 6, 6), 5))
    _write(path, (2, 6, 6), [padded])
    with pytest.raises(NetxFormatError, match=r"layer 1 \(pool\): padding \(1, 1\)"):
        read_netx(path)


# -------------------------------------------------------------------------------------------- unpool


def test_unpool_equals_slayer(tmp_path):
    """Unpool(2) doubles each channel's rows and columns -> Conv -> Flatten -> Dense."""
    torch.manual_seed(6)
    blocks = [
        slayer.block.cuba.Unpool(_neuron(0.5), 2),
        slayer.block.cuba.Conv(_neuron(), 2, 2, 3, weight_scale=2),
        slayer.block.cuba.Flatten(),
        _dense(2 * 4 * 6, 4, 7),
    ]
    x = _spikes((2, 3, 4), 8)
    outs = _slayer_outputs(blocks, x)
    assert outs[0].shape[1:4] == (2, 6, 8)
    path = str(tmp_path / "unpool.net")
    _write(path, (2, 3, 4), blocks)
    net = read_netx(path)
    assert [layer.kind for layer in net.layers[:3]] == ["input", "unpool", "conv"]
    _assert_equal_per_layer(net, blocks, outs, x)
    _assert_equal_per_layer(_roundtrip(net, tmp_path), blocks, outs, x)


def test_unpool_that_misplaces_rows_is_refused(tmp_path):
    """Kernel 4, stride 2: SLAYER spreads rows of one channel into the next one's (7 rows each where a
    per-channel unpool gives 8)."""
    path = str(tmp_path / "unpool.net")
    blk = slayer.block.cuba.Unpool(_neuron(), 4, stride=2)
    _slayer_outputs([blk], _spikes((2, 3, 4), 5))
    _write(path, (2, 3, 4), [blk])
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    assert "layer 1 (unpool)" in str(e.value) and "own block" in str(e.value)


# --------------------------------------------------------------------------------------------- convT


@pytest.mark.parametrize(
    "kw",
    [dict(stride=2, padding=1), dict(stride=(1, 2), dilation=(2, 1), groups=2)],
    ids=["stride-padding", "dilation-groups"],
)
def test_conv_transpose_equals_slayer(tmp_path, kw):
    torch.manual_seed(9)
    blk = slayer.block.cuba.ConvT(_neuron(), 2, 4, 3, weight_scale=3, **kw)
    x = _spikes((2, 4, 5), 10)
    with torch.no_grad():
        c, h, w = blk(x).shape[1:4]
    blocks = [blk, slayer.block.cuba.Flatten(), _dense(c * h * w, 5, 11)]
    outs = _slayer_outputs(blocks, x)
    path = str(tmp_path / "convt.net")
    _write(path, (2, 4, 5), blocks)
    net = read_netx(path)
    layer = net.layers[1]
    assert layer.kind == "convT" and layer.weight.shape == (2, 4 // layer.groups, 3, 3)
    quantized = blk.synapse.pre_hook_fx(blk.synapse.weight).detach()[..., 0] * 64
    assert np.array_equal(layer.weight, quantized.numpy())
    _assert_equal_per_layer(net, blocks, outs, x)
    _assert_equal_per_layer(_roundtrip(net, tmp_path), blocks, outs, x)


# ------------------------------------------------------------------------------------------- average


def _write_average(blk):
    """The group SLAYER's ``AbstractAverage.export_hdf5`` means to write: its type and ``self.shape``."""

    def write(g):
        g.create_dataset("type", (1,), "S10", [b"average"])
        g.create_dataset("shape", data=np.array(blk.shape))

    return write


@pytest.mark.parametrize("flat", [False, True], ids=["after-conv", "after-dense"])
def test_average_read_out_equals_slayer(tmp_path, flat):
    """Conv (-> Flatten -> Dense) -> Average: the read-out's spike counts per group and step, in the
    window of the layer it reads (SLAYER's Average adds no step), are SLAYER's means x group size."""
    torch.manual_seed(12)
    blocks = [slayer.block.cuba.Conv(_neuron(), 2, 4, 3, padding=1, weight_scale=2)]
    if flat:
        blocks += [slayer.block.cuba.Flatten(), _dense(4 * 4 * 4, 6, 13)]
    avg = slayer.block.cuba.Average(2 if not flat else 3)
    blocks.append(avg)
    with pytest.raises(AttributeError, match="neuron"):  # lava-dl 0.6.0's export of it is broken
        with h5py.File(tmp_path / "broken.net", "w") as h:
            avg.export_hdf5(h.create_group("g"))
    x = _spikes((2, 4, 4), 14)
    outs = _slayer_outputs(blocks, x)
    path = str(tmp_path / "average.net")
    _write(path, (2, 4, 4), blocks, by_hand={len(blocks) - 1: _write_average(avg)})
    net = read_netx(path)
    assert net.layers[-1].kind == "average" and net.layers[-1].neuron is None
    trace = _assert_equal_per_layer(net, blocks, outs, x)
    counts = readout(net, trace)
    last = len(net.compute_layers)  # the average reads the last compute layer in its own window
    mean = outs[-1][..., last : last + T].numpy()
    group = net.layers[-1].inputs // avg.num_outputs
    assert counts.shape == (K, avg.num_outputs, 1, 1, T)
    assert np.array_equal(counts[:, :, 0, 0], np.round(mean * group).astype(np.int64))
    assert np.array_equal(mean, (counts[:, :, 0, 0] / np.float32(group)).astype(np.float32))
    assert 0 < counts.max() and counts.min() < group  # neither silent nor saturated
    assert np.array_equal(readout(_roundtrip(net, tmp_path), trace), counts)


def test_average_anywhere_but_last_is_refused(tmp_path):
    torch.manual_seed(15)
    conv = slayer.block.cuba.Conv(_neuron(), 2, 4, 3, padding=1)
    avg = slayer.block.cuba.Average(2)
    blocks = [conv, avg, _dense(2, 3, 16)]
    path = str(tmp_path / "average.net")
    x = _spikes((2, 4, 4), 17)
    _slayer_outputs(blocks, x)  # SLAYER runs it; its output is a fraction no Loihi synapse takes
    _write(path, (2, 4, 4), blocks, by_hand={1: _write_average(avg)})
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    assert "layer 2 (average)" in str(e.value) and "last layer" in str(e.value)


# -------------------------------------------------------------------------------------------- concat


def test_concat_is_refused_with_its_reason(tmp_path):
    path = str(tmp_path / "concat.net")
    with h5py.File(path, "w") as h:
        for i, kind in enumerate(("input", "concat")):
            g = h.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            g.create_dataset("shape", data=np.array([2, 4, 4]))
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    msg = str(e.value)
    assert "layer 1 (concat)" in msg and "one chain of layers" in msg and "\n" not in msg


# ---------------------------------------------------------------------------------- malformed groups


def _one_block_file(path, kind):
    torch.manual_seed(18)
    make = {
        "pool": lambda: slayer.block.cuba.Pool(_neuron(), 2),
        "unpool": lambda: slayer.block.cuba.Unpool(_neuron(), 2),
        "convT": lambda: slayer.block.cuba.ConvT(_neuron(), 2, 3, 3, stride=2),
    }
    x = _spikes((2, 4, 4), 19)
    blk = make[kind]()
    _slayer_outputs([blk], x)
    _write(path, (2, 4, 4), [blk])


def _set(name, value):
    def edit(g):
        if name in g:
            del g[name]
        if value is not None:
            g.create_dataset(name, data=value)

    return edit


MALFORMED = [
    ("pool", _set("stride", None), "'stride' field is missing"),
    ("pool", _set("kernelSize", np.array([3, 3])), "kernelSize (3, 3)"),
    ("pool", _set("weight", np.ones((2, 1, 2, 2))), "weight of shape (2, 1, 2, 2)"),
    ("pool", _set("shape", np.array([2, 3, 2])), "shape (2, 3, 2)"),
    ("pool", _set("delay", np.zeros(8)), "'delay' field"),
    ("unpool", _set("padding", np.array([0.5, 0])), "padding is float64"),
    ("unpool", _set("shape", np.array([2, 8, 9])), "shape (2, 8, 9)"),
    ("unpool", _set("neuron", None), "without a neuron"),
    ("convT", _set("groups", None), "'groups' field is missing"),
    ("convT", _set("weight", np.ones((3, 3, 3, 3))), "do not take 2 input channels"),
    ("convT", _set("dilation", np.array([0, 1])), "dilation (0, 1)"),
    ("average", _set("neuron/vThMant", 80), "'neuron' field"),
    ("average", _set("shape", np.array([3, 1, 1])), "do not split into 3"),
    ("average", _set("shape", np.array([2, 2, 1])), "expected (num_outputs, 1, 1)"),
]


@pytest.mark.parametrize(
    "kind,edit,words", MALFORMED, ids=[f"{k}-{w.split()[0]}" for k, _, w in MALFORMED]
)
def test_malformed_group_is_one_line_naming_the_field(tmp_path, kind, edit, words):
    path = str(tmp_path / f"{kind}.net")
    if kind == "average":
        blocks = [slayer.block.cuba.Conv(_neuron(), 2, 4, 3, padding=1)]
        avg = slayer.block.cuba.Average(2)
        _slayer_outputs(blocks + [avg], _spikes((2, 4, 4), 20))
        _write(path, (2, 4, 4), blocks + [avg], by_hand={1: _write_average(avg)})
        index = 2
    else:
        _one_block_file(path, kind)
        index = 1
    read_netx(path)  # sound before the edit
    with h5py.File(path, "a") as h:
        edit(h[f"layer/{index}"])
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    msg = str(e.value)
    assert f"layer {index} ({kind})" in msg and words in msg and "\n" not in msg, msg


WRONG = [
    np.zeros(0),
    np.zeros((2, 3)),
    np.full(3, np.nan),
    np.array(-5),
    np.array([2**40]),
    np.array([b"pool"]),
    np.array([0, 0]),
    np.array([1, 1, 1]),
    np.zeros((1, 1, 0, 2)),
    np.array([[1.5]]),
]


@pytest.mark.parametrize("kind", ["pool", "unpool", "convT"])
def test_any_field_set_to_anything_reads_or_is_one_line(tmp_path, kind):
    """Each field of each kind's group replaced by each of a few wrong values: the file reads (and
    then runs in the emulator) or is refused in one line naming the layer."""
    path = tmp_path / "k.net"
    _one_block_file(str(path), kind)
    sound = path.read_bytes()
    with h5py.File(path) as h:
        fields = []
        h["layer/1"].visit(
            lambda n: fields.append(n) if isinstance(h["layer/1"][n], h5py.Dataset) else None
        )
    for name in fields:
        for value in WRONG:
            path.write_bytes(sound)
            with h5py.File(path, "a") as h:
                _set(name, value)(h["layer/1"])
            try:
                net = read_netx(str(path))
            except NetxFormatError as e:
                assert "\n" not in str(e) and "layer 1" in str(e), (name, value, str(e))
                continue
            Emulator(net).run(np.ones((1, *net.input_shape, 2), dtype=np.int64))


@pytest.mark.parametrize("kind", ["pool", "unpool", "convT"])
def test_synaptic_ops_are_the_pairs_slayers_synapse_sums(tmp_path, kind):
    """The op count (input spike, nonzero weight) of each kind, from its exact fan-outs, equals the sum
    of SLAYER's own synapse run with every nonzero weight set to 1 on the same spikes."""
    from tna_deploy.hardware.counts import static_counts, synops

    torch.manual_seed(21)
    blk = {
        "pool": lambda: slayer.block.cuba.Pool(_neuron(), 2),
        "unpool": lambda: slayer.block.cuba.Unpool(_neuron(), 2),
        "convT": lambda: slayer.block.cuba.ConvT(_neuron(), 2, 4, 3, stride=2, padding=1, groups=2),
    }[kind]()
    x = _spikes((2, 5, 4), 22)
    _slayer_outputs([blk], x)
    path = str(tmp_path / "k.net")
    _write(path, (2, 5, 4), [blk])
    layer = read_netx(path).layers[1]
    mask = (blk.synapse.pre_hook_fx(blk.synapse.weight) != 0).float()
    blk.synapse.pre_hook_fx, blk.synapse.weight.data = None, mask.detach()
    with torch.no_grad():
        pairs = blk.synapse(x).sum(dim=(1, 2, 3)).numpy().astype(np.int64)  # (K, T)
    assert np.array_equal(synops(layer, x.numpy().astype(np.uint8)), pairs)
    static = static_counts(layer)
    with torch.no_grad():
        every = blk.synapse(torch.ones((1, 2, 5, 4, 1)))
    assert static["nonzero_synapses"] == int(every.sum())
    assert static["synapses"] == static["ann_macs"] >= static["nonzero_synapses"]
    assert static["fan_in_max"] == int(every.max())


def test_simulate_and_report_run_the_new_kinds_and_lava_refuses_them(tmp_path):
    """``simulate --backend emulator`` and ``report`` on a file with a pool, an unpool and a convT; the
    Lava backend, whose netx cannot load them, refuses in one line naming the layer."""
    from click.testing import CliRunner

    from tna_deploy.cli import main

    torch.manual_seed(23)
    blocks = [
        slayer.block.cuba.Pool(_neuron(0.9), 2),
        slayer.block.cuba.Unpool(_neuron(0.5), 2),
        slayer.block.cuba.ConvT(_neuron(), 2, 3, 3, padding=1, weight_scale=2),
        slayer.block.cuba.Flatten(),
        _dense(3 * 6 * 6, 4, 24),
    ]
    x = _spikes((2, 6, 6), 25)
    outs = _slayer_outputs(blocks, x)
    path = str(tmp_path / "k.net")
    _write(path, (2, 6, 6), blocks)
    _assert_equal_per_layer(read_netx(path), blocks, outs, x)
    np.save(tmp_path / "x.npy", x.numpy().astype(np.int64))
    sim = ["simulate", path, "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s")]
    res = CliRunner().invoke(main, sim)
    assert res.exit_code == 0, res.output + res.stderr
    res = CliRunner().invoke(main, ["report", str(tmp_path / "s"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output + res.stderr
    res = CliRunner().invoke(main, sim[:-1] + [str(tmp_path / "l"), "--backend", "lava"])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and "layer 1:pool is a pool layer" in lines[0]


def test_onnx_and_nir_writers_refuse_the_new_kinds_in_one_line(tmp_path):
    from tna_deploy.export.nir_writer import NirExportError, build_graph
    from tna_deploy.export.onnx_writer import OnnxExportError, build_model

    path = str(tmp_path / "k.net")
    _one_block_file(path, "convT")
    net = dataclasses.replace(read_netx(path), timesteps=T)  # ONNX fixes T; the file has none
    for build, error in ((build_model, OnnxExportError), (build_graph, NirExportError)):
        with pytest.raises(error) as e:
            build(net)
        assert str(e.value).startswith("layer 1:convT: tna-deploy writes no") and "\n" not in str(
            e.value
        )
