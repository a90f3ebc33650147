"""A trained run's IR straight from its SLAYER blocks (``models/chip.to_ir``) against SLAYER's own
``export_hdf5``, the oracle: the netx files from both paths read back into the same IR, load in
lava-dl netx with the same layer tables and weights, and spike alike in Lava."""

import h5py
import numpy as np
import pytest

from tna_deploy.ir import read_netx, write_netx
from tna_deploy.ir.meta import encode_attrs
from tna_deploy.models.chip import netx_meta, prepare_for_chip, to_ir
from tna_deploy.train.runs import load_run


def slayer_export(run_dir: str, path: str) -> None:
    """The file as SLAYER writes it: an input layer, then each block's own ``export_hdf5``."""
    run = load_run(run_dir, with_twins=False)
    net, _ = prepare_for_chip(run)
    meta = netx_meta(run, net)
    with h5py.File(path, "w") as h:
        for k, v in encode_attrs(meta.to_dict()).items():
            h.attrs[k] = v
        layer = h.create_group("layer")
        g = layer.create_group("0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array(meta.in_shape))
        for k, blk in enumerate(net.blocks, start=1):
            blk.export_hdf5(layer.create_group(str(k)))


@pytest.fixture(scope="module")
def both(exported):
    run, ours, d = exported
    oracle = str(d / "slayer.net")
    slayer_export(run, oracle)
    return run, ours, oracle


def test_the_ir_from_the_blocks_is_slayers_export(both):
    run, ours, oracle = both
    want = read_netx(oracle)
    assert read_netx(ours).same(want)  # metadata included
    direct = to_ir(load_run(run, with_twins=False))
    assert direct.same(want)
    assert [layer.kind for layer in direct.layers] == [
        "input",
        "conv",
        "conv",
        "conv",
        "flatten",
        "dense",
        "dense",
    ]
    assert direct.compute_layers[-1].neuron.threshold == (1 << 18) - 1  # SLAYER's Affine read-out
    assert [layer.mode for layer in direct.compute_layers] == [
        "int8",
        "ternary",
        "fp",
        "ternary",
        "int8",
    ]


def test_a_changed_weight_is_told_apart(both, tmp_path):
    """The comparison above can fail: one weight off by one in the oracle file is a different IR."""
    _, ours, oracle = both
    bad = tmp_path / "bad.net"
    bad.write_bytes(open(oracle, "rb").read())
    with h5py.File(bad, "r+") as h:
        w = h["layer/2/weight"][()]
        w.flat[0] += 1
        h["layer/2/weight"][...] = w
    assert not read_netx(str(bad)).same(read_netx(ours))


def test_netx_loads_both_files_identically(both, tmp_path):
    from tna_deploy.export.netx import release_netx
    from tna_deploy.lava_import import quiet_import

    _, ours, oracle = both
    again = str(tmp_path / "again.net")
    write_netx(read_netx(oracle), again)  # and the IR of the oracle, written back
    netx = quiet_import("lava.lib.dl.netx")
    seen = []
    for path in (ours, oracle, again):
        lava_net = netx.hdf5.Network(net_config=path, input_message_bits=5)
        weights = [
            np.asarray(
                layer.synapse.weights.init
                if hasattr(layer.synapse, "weights")
                else layer.synapse.weight.init
            ).tolist()
            for layer in lava_net.layers
        ]
        seen.append((str(lava_net), weights))
        release_netx(lava_net)
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0].count("|") > 10  # a real table


@pytest.mark.slow
def test_lava_spikes_alike_for_both_files(both, tmp_path):
    from tna_deploy.simulate.run import simulate

    run, ours, oracle = both
    results = []
    for name, path in (("ours", ours), ("oracle", oracle)):
        res = simulate(path, 4, str(tmp_path / name), backends=("lava",), run_dir=run)
        assert res["parity"]["spikes_equal"], name  # every layer's spikes equal PyTorch's
        counts = np.load(tmp_path / name / "counts.npz")["lava_counts"]
        results.append((res["lava"]["predictions"], counts))
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1]) and results[0][1].sum() > 0
