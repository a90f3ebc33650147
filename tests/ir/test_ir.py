"""The deployment IR: netx file -> IR -> netx file round trips, validation, one-line refusals."""

import os

import h5py
import numpy as np
import pytest
from helpers import tiny_config

from tna_deploy.ir import (
    DeployedNet,
    Layer,
    NetxFormatError,
    Neuron,
    dense_weight_bits,
    read_netx,
    write_netx,
)

N = Neuron(threshold=64, current_decay=4096, voltage_decay=1024)


@pytest.fixture(scope="module")
def exported(fmnist_dir, tmp_path_factory):
    from tna_deploy.export import to_netx
    from tna_deploy.train.loop import train

    d = tmp_path_factory.mktemp("ir")
    train(tiny_config(fmnist_dir, arch="4C3-AP2-8FC", timesteps=3, seed=4), str(d / "run"))
    to_netx(str(d / "run"), str(d / "net.net"))
    return d


@pytest.mark.slayer
def test_export_reads_into_the_ir(exported):
    net = read_netx(str(exported / "net.net"))
    assert [layer.kind for layer in net.layers] == [
        "input",
        "conv",
        "conv",
        "flatten",
        "dense",
        "dense",
    ]
    assert [layer.name for layer in net.compute_layers] == [
        "0:conv",
        "1:pool",
        "3:dense",
        "4:output",
    ]
    assert (
        net.input_shape == (1, 28, 28)
        and net.input_bits == 4
        and net.timesteps == 3
        and net.n_classes == 10
    )
    pool = net.compute_layers[1]
    assert (
        pool.groups == 4
        and pool.stride == (2, 2)
        and pool.out_shape == (4, 14, 14)
        and pool.label == "pool"
    )
    assert (
        net.compute_layers[2].in_shape == (4 * 14 * 14,) and net.compute_layers[2].mode == "ternary"
    )
    assert net.compute_layers[-1].neuron.threshold == (1 << 18) - 1


@pytest.mark.slayer
def test_round_trip_is_identical_and_netx_loads_it(exported):
    """export -> IR -> netx -> IR gives the same IR, and netx builds the same network from both files."""
    from tna_deploy.export.netx import release_netx
    from tna_deploy.lava_import import quiet_import

    net = read_netx(str(exported / "net.net"))
    write_netx(net, str(exported / "again.net"))
    assert read_netx(str(exported / "again.net")).same(net)
    netx = quiet_import("lava.lib.dl.netx")
    tables = []
    for name in ("net.net", "again.net"):
        lava_net = netx.hdf5.Network(net_config=str(exported / name), input_message_bits=4)
        tables.append(str(lava_net))
        w = [
            layer.synapse.weights.init
            if hasattr(layer.synapse, "weights")
            else layer.synapse.weight.init
            for layer in lava_net.layers
        ]
        tables.append([np.asarray(v).tolist() for v in w])
        release_netx(lava_net)
    assert tables[0] == tables[2] and tables[1] == tables[3]


def test_round_trip_of_biases_delays_and_default_neurons(tmp_path):
    conv = Layer(
        "conv",
        1,
        (2, 5, 5),
        (3, 3, 3),
        N,
        np.arange(54).reshape(3, 2, 3, 3) - 20,
        bias=np.arange(27).reshape(3, 3, 3) - 5,
        stride=(2, 2),
        padding=(1, 1),
        groups=1,
    )
    dense = Layer(
        "dense",
        3,
        (27,),
        (4,),
        Neuron(1 << 17, 0, 4096),
        np.ones((4, 27), int) * 3,
        bias=np.array([1, -2, 3, 4]),
        delay=np.arange(108).reshape(4, 27) % 5,
    )
    net = DeployedNet(
        (
            Layer("input", 0, (2, 5, 5), (2, 5, 5)),
            conv,
            Layer("flatten", 2, (3, 3, 3), (27,)),
            dense,
        ),
        (2, 5, 5),
        input_bits=3,
    )
    write_netx(net, str(tmp_path / "x.net"))
    back = read_netx(str(tmp_path / "x.net"))
    assert all(a.same(b) for a, b in zip(back.layers, net.layers))
    with h5py.File(tmp_path / "x.net") as f:
        assert "neuron" not in f["layer/3"]  # netx's default neuron is written as netx's default
        assert f["layer/1/bias"].shape == (3, 3, 3)


@pytest.mark.lava
def test_dense_weight_bits_match_netx():
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    cases = [
        np.array([[24, 0, -24]]),
        np.array([[1, -1]]),
        np.array([[3, 5, 0]]),
        np.array([[-7, -2]]),
        rng.integers(-256, 255, (5, 7)),
        rng.integers(0, 128, (3, 4)) * 2,
        np.array([[300, -3]]),
    ]
    for w in cases:
        ref_w, bits, exp, _ = optimize_weight_bits(w)
        mode = determine_sign_mode(ref_w)
        ref = truncate_weights(clip_weights(ref_w, mode, num_bits=8), mode, bits)
        ours = dense_weight_bits(w)
        assert (ours.num_weight_bits, ours.weight_exp) == (bits, exp) and np.array_equal(
            ours.weight, ref
        ), w


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.write_bytes(b""), "not a readable HDF5 file"),
        (lambda p: p.write_bytes(b"garbage" * 100), "not a readable HDF5 file"),
        (lambda p: h5py.File(p, "w").close(), "no layer/ group"),
        (lambda p: _one_layer(p, "spiral"), "layer 1 (spiral): type 'spiral'"),
        (lambda p: _one_layer(p, "dense", neuron="IZH"), "layer 1 (dense): neuron type 'IZH'"),
        (
            lambda p: _one_layer(p, "dense", weight=np.zeros((3, 4))),
            "layer 1 (dense): every weight is zero",
        ),
        (
            lambda p: _one_layer(p, "dense", weight=np.ones((3, 5))),
            "layer 1 (dense): weights (3, 5) do not map 4 inputs",
        ),
        (lambda p: _one_layer(p, "dense", idecay=5000), "current_decay 5000 outside 0..4096"),
    ],
)
def test_bad_files_are_refused_naming_the_layer(tmp_path, make, words):
    p = tmp_path / "bad.net"
    make(p)
    with pytest.raises(NetxFormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_netx(str(p))


@pytest.mark.slayer
def test_truncated_file_is_refused(exported, tmp_path):
    data = open(exported / "net.net", "rb").read()
    p = tmp_path / "cut.net"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetxFormatError, match="cut.net"):
        read_netx(str(p))


def _one_layer(path, kind, neuron="CUBA", weight=None, idecay=4096):
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([4]))
        g = f.create_group("layer/1")
        g.create_dataset("type", (1,), "S10", [kind.encode()])
        g.create_dataset("shape", data=np.array([3]))
        g.create_dataset("weight", data=np.ones((3, 4)) if weight is None else weight)
        g.create_dataset("neuron/type", (1,), "S10", [neuron.encode()])
        for k, v in (("iDecay", idecay), ("vDecay", 0), ("vThMant", 10)):
            g.create_dataset(f"neuron/{k}", data=v)
    assert os.path.getsize(path) > 0


def test_the_ir_is_a_leaf():
    """Importing the IR (and its ONNX reader) loads nothing of training, data, models, quantization or
    the stages."""
    import subprocess
    import sys

    code = (
        "import sys, tna_deploy.ir, tna_deploy.ir.onnx_model, tna_deploy.ir.serial; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2][-1] in "
        "('train', 'data', 'models', 'quant', 'export', 'simulate', 'report', 'hardware', 'cli')"
        " and m.startswith('tna_deploy.')); assert not bad, bad; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_weight_mode_is_one_name_decoded_in_one_place():
    from tna_deploy.ir.modes import WEIGHT_MODES, weight_bits
    from tna_deploy.quant import modes

    assert modes.MODES is WEIGHT_MODES
    assert [weight_bits(m) for m in ("fp", "int8", "ternary", "binary")] == [8, 8, 2, 1]
    assert weight_bits("unknown") == 8


def test_netx_meta_is_checked_where_it_is_made():
    from tna_deploy.ir import NetxMeta

    good = dict(
        source_run="runs/x",
        timesteps=3,
        n_classes=10,
        in_shape=[1, 28, 28],
        input_bits=4,
        input_scale=15.0,
        event_data=False,
        dataset="fashion-mnist",
        arch="4C3-8FC",
        width=1.0,
        layers=[dict(name="0:conv", kind="conv", role="first", mode="int8", weight_bits=8)],
    )
    meta = NetxMeta(**good)
    assert NetxMeta.from_dict(meta.to_dict()) == meta and meta.ternary_layers == []
    for key, value, words in (
        ("dataset", "../etc", "attribute dataset is '../etc', expected a dataset name"),
        ("timesteps", 0, "attribute timesteps is 0, expected an integer >= 1"),
        ("layers", [dict(good["layers"][0], mode="quaternary")], "attribute layers is"),
    ):
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            NetxMeta(**dict(good, **{key: value}))


def test_every_layer_kind_reads_and_writes_its_own_fields():
    from tna_deploy.ir.layers import LAYER_KINDS

    assert list(LAYER_KINDS)[:4] == ["input", "conv", "dense", "flatten"]
    assert {"pool", "unpool", "convT", "average", "dense_comp", "dense_rec"} <= set(LAYER_KINDS)
    with pytest.raises(
        ValueError, match=r"layer type 'spiral' \(runs: input, conv, dense, flatten, pool"
    ):
        Layer("spiral", 1, (4,), (4,))
