"""Export to netx HDF5: the layer table netx sees, the integers written, refusals."""

import h5py
import numpy as np
import pytest
import torch
from helpers import tiny_config

from tna_deploy.errors import CheckpointError
from tna_deploy.export import read_meta, to_netx
from tna_deploy.export.netx import ExportError
from tna_deploy.train.config import TrainConfig
from tna_deploy.train.loop import train
from tna_deploy.train.runs import load_run


@pytest.fixture(scope="module")
def trained(fmnist_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train(tiny_config(fmnist_dir, arch="4C3-4C3-AP2-8FC"), str(d / "run"))
    return str(d / "run")


@pytest.mark.slayer
def test_file_loads_in_netx_with_the_expected_table(trained, tmp_path):
    out = str(tmp_path / "net.net")
    res = to_netx(trained, out)
    rows = [r for r in res.table.splitlines() if r.startswith("|") and "Type" not in r]
    kinds = [r.split("|")[1].strip() for r in rows]
    assert kinds == ["Conv", "Conv", "Conv", "Dense", "Dense"]
    assert (
        "|   14|   14|    4| 2, 2| 2, 2| 0, 0| 1, 1|    4|" in res.table
    )  # the pool: grouped conv
    meta = read_meta(out)
    assert [entry["mode"] for entry in meta.layers] == ["int8", "ternary", "fp", "ternary", "int8"]
    assert meta.ternary_layers == ["1:conv", "4:dense"]
    assert (
        meta.timesteps == 3
        and meta.n_classes == 10
        and meta.input_bits == 4
        and "graded" in meta.input_encoding
    )
    assert meta.source_run.endswith("run") and meta.tna_deploy_version


@pytest.mark.slayer
def test_written_integers_are_the_forward_pass_integers(trained, tmp_path):
    out = str(tmp_path / "net.net")
    to_netx(trained, out)
    base = load_run(trained, with_twins=False).base
    with h5py.File(out, "r") as h:
        layer = h["layer"]
        assert layer["0/type"][0] == b"input" and list(layer["0/shape"][()]) == [1, 28, 28]
        for k, info in enumerate(base.info, start=1):
            if info.kind == "flatten":
                continue
            w = layer[f"{k}/weight"][()]
            expected = base.quantized_weight(k - 1).numpy().reshape(w.shape)
            assert np.array_equal(w, expected), info.name
            if info.role == "middle":
                assert len(np.unique(w)) == 3 and np.unique(w)[1] == 0  # {-s, 0, +s}
        assert (
            layer[f"{len(base.info)}/neuron/vThMant"][()] == (1 << 18) - 1
        )  # read-out never spikes


@pytest.mark.slayer
def test_export_never_changes_the_run(trained, tmp_path):
    import os

    before = {f: os.path.getmtime(os.path.join(trained, f)) for f in os.listdir(trained)}
    to_netx(trained, str(tmp_path / "a.net"))
    assert before == {f: os.path.getmtime(os.path.join(trained, f)) for f in os.listdir(trained)}


@pytest.mark.slayer
def test_all_zero_layer_is_refused(trained, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    ckpt = torch.load(bad / "checkpoint.pt", weights_only=True)
    ckpt["base"]["blocks.1.synapse.weight"].zero_()
    torch.save(ckpt, bad / "checkpoint.pt")
    with pytest.raises(ExportError, match="layer 1:conv: every weight is zero"):
        to_netx(str(bad), str(tmp_path / "bad.net"))
    assert not (tmp_path / "bad.net").exists()


@pytest.mark.slayer
def test_weights_out_of_loihi_range_are_refused(trained, tmp_path):
    import shutil

    bad = tmp_path / "big"
    shutil.copytree(trained, bad)
    ckpt = torch.load(bad / "checkpoint.pt", weights_only=True)
    ckpt["base"]["blocks.2.synapse.weight"].fill_(1000 / 64)  # the pool's fixed weight, now 1000
    torch.save(ckpt, bad / "checkpoint.pt")
    with pytest.raises(
        ExportError, match="layer 2:pool: weights span 1000..1000, outside Loihi's 8-bit range"
    ):
        to_netx(str(bad), str(tmp_path / "big.net"))


@pytest.mark.slayer
@pytest.mark.parametrize("damage", ["garbage", "truncated", "plain-hdf5"])
def test_bad_files_are_refused_by_read_meta(trained, tmp_path, damage):
    path = tmp_path / "f.net"
    if damage == "garbage":
        path.write_bytes(b"\x89HDF garbage")
    elif damage == "truncated":
        to_netx(trained, str(path))
        path.write_bytes(path.read_bytes()[:3000])
    else:
        with h5py.File(path, "w") as h:
            h.create_group("layer")
    with pytest.raises(CheckpointError, match="f.net"):
        read_meta(str(path))


@pytest.mark.slayer
def test_grouped_conv_pool_equals_slayer_pool_block():
    from tna_deploy.models.network import NeuronSettings, pool_weight, slayer

    s = slayer()
    neuron = NeuronSettings.from_config(TrainConfig())
    torch.manual_seed(0)
    x = (torch.rand(3, 5, 8, 8, 6) < 0.4).float()
    w = pool_weight(neuron.threshold)
    exact = lambda v, descale=False: v * 64 if descale else v  # noqa: E731  (65/64 is off SLAYER's 8-bit grid)
    ref = s.block.cuba.Pool(
        neuron.params(), 2, weight_scale=w, delay_shift=False, pre_hook_fx=exact
    )
    conv = s.block.cuba.Conv(
        neuron.params(),
        5,
        5,
        2,
        stride=2,
        groups=5,
        weight_scale=1,
        delay_shift=False,
        pre_hook_fx=exact,
    )
    with torch.no_grad():
        conv.synapse.weight.fill_(w)
        assert torch.equal(ref.synapse.weight.flatten()[:1], torch.tensor([w]))
        a, b = ref(x), conv(x)
    assert a.shape == b.shape == (3, 5, 4, 4, 6)
    assert torch.equal(a, b) and a.sum() > 0


@pytest.mark.slayer
def test_where_lava_cannot_run_the_export_is_read_back_by_our_reader(
    exported, tmp_path, monkeypatch
):
    """CPython 3.11+ with SLAYER but no Lava: the file is written all the same, checked by tna-deploy's
    own netx reader, and a note says netx did not load it and why."""
    from tna_deploy.export import netx as ex
    from tna_deploy.ir import read_netx

    monkeypatch.setattr(ex, "missing", lambda name, purpose: f"{purpose} needs Lava (...)")
    res = ex.to_netx(exported[0], str(tmp_path / "x.net"))
    assert res.table.startswith("read back by tna-deploy's netx reader: ")
    assert res.warnings[-1].startswith(
        "read back by tna-deploy's netx reader, not by netx: loading"
    )
    mine, theirs = read_netx(str(tmp_path / "x.net")), read_netx(exported[1])
    assert all(a.same(b) for a, b in zip(mine.layers, theirs.layers))
