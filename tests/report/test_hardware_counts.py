"""Op counts, memory and cores against hand computations; NeuroBench cross-check on a SLAYER model."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tna_deploy.hardware.counts import ann_macs, fanout, layer_activity, static_counts, synops
from tna_deploy.hardware.feasibility import cores_for_layer, energy, feasibility
from tna_deploy.hardware.profile import load_profile
from tna_deploy.ir import Layer as IRLayer
from tna_deploy.ir import Neuron

NEURON = Neuron(threshold=64, current_decay=4096, voltage_decay=1024)


def Layer(
    name,
    kind,
    role,
    mode,
    bits,
    in_shape,
    out_shape,
    w,
    stride=(1, 1),
    padding=(0, 0),
    groups=1,
    dilation=(1, 1),
):
    """An IR layer as the report reads it, with tna-deploy's layer info."""
    return IRLayer(
        kind,
        1,
        in_shape,
        out_shape,
        NEURON,
        w,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        info=dict(name=name, kind=kind, role=role, mode=mode, weight_bits=bits),
    )


def conv(weight, in_shape, stride=1, padding=0, groups=1, mode="ternary", bits=2, dilation=1):
    w = np.asarray(weight)
    c, h, wd = in_shape
    ho = (h + 2 * padding - dilation * (w.shape[2] - 1) - 1) // stride + 1
    wo = (wd + 2 * padding - dilation * (w.shape[3] - 1) - 1) // stride + 1
    return Layer(
        "c",
        "conv",
        "middle",
        mode,
        bits,
        in_shape,
        (w.shape[0], ho, wo),
        w,
        (stride, stride),
        (padding, padding),
        groups,
        (dilation, dilation),
    )


def test_dense_by_hand():
    w = np.array([[1, 0, -1], [0, 0, 2]])  # 2 outputs, 3 inputs
    layer = Layer("d", "dense", "middle", "ternary", 2, (3,), (2,), w)
    assert fanout(layer).tolist() == [1, 0, 2] and fanout(layer, False).tolist() == [2, 2, 2]
    raster = np.array([[[1, 0], [1, 1], [1, 1]]])  # (K=1, 3 inputs, T=2)
    assert synops(layer, raster).tolist() == [[3, 2]]  # t0: 1 + 0 + 2, t1: 0 + 0 + 2
    s = static_counts(layer)
    assert (s["neurons"], s["synapses"], s["nonzero_synapses"], s["fan_in_max"]) == (2, 6, 3, 2)
    assert (
        s["weight_bytes_chip"] == 6 * 2 / 8
        and s["weight_bytes_fp32"] == 24
        and ann_macs(layer) == 6
    )


def test_conv_padding_borders_by_hand():
    # one 3x3 kernel of ones on a 3x3 map, padding 1: the centre input reaches all 9 outputs,
    # edge inputs 6, corner inputs 4 -> 4*4 + 4*6 + 9 = 49 synapses, not 81
    layer = conv(np.ones((1, 1, 3, 3)), (1, 3, 3), padding=1)
    f = fanout(layer)
    assert f[0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    assert static_counts(layer)["synapses"] == 49 and ann_macs(layer) == 81
    raster = np.zeros((1, 1, 3, 3, 1))
    raster[0, 0, 0, 0, 0] = raster[0, 0, 1, 1, 0] = 1
    assert synops(layer, raster)[0, 0] == 4 + 9


def test_conv_stride_and_zero_weights_by_hand():
    # 2x2 kernel, stride 2, no padding on 4x4: every input feeds exactly one output through one weight
    w = np.array([[[[1, 0], [0, -1]]]])
    layer = conv(w, (1, 4, 4), stride=2)
    assert layer.out_shape == (1, 2, 2)
    f = fanout(layer)[0]
    assert f.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
    # stride 2, kernel 3, padding 1 on 4x4 -> 2x2 outputs; input (0,0) is seen by output (0,0) only
    layer3 = conv(np.ones((1, 1, 3, 3)), (1, 4, 4), stride=2, padding=1)
    assert layer3.out_shape == (1, 2, 2)
    brute = np.zeros((4, 4), dtype=int)
    for oy in range(2):
        for ox in range(2):
            for ky in range(3):
                for kx in range(3):
                    iy, ix = oy * 2 - 1 + ky, ox * 2 - 1 + kx
                    if 0 <= iy < 4 and 0 <= ix < 4:
                        brute[iy, ix] += 1
    assert fanout(layer3)[0].tolist() == brute.tolist()


def test_grouped_conv_pool():
    layer = conv(np.full((3, 1, 2, 2), 65), (3, 4, 4), stride=2, groups=3, mode="fp", bits=8)
    assert fanout(layer).sum() == 48 and (fanout(layer) == 1).all()
    assert ann_macs(layer) == 3 * 2 * 2 * 4


def test_dilated_conv_fanout_by_brute_force():
    for stride, padding, dilation, size in ((1, 0, 2, 7), (2, 2, 2, 8), (3, 1, 2, 9), (1, 3, 3, 6)):
        layer = conv(
            np.ones((1, 1, 3, 3)),
            (1, size, size),
            stride=stride,
            padding=padding,
            dilation=dilation,
        )
        brute = np.zeros((size, size), dtype=int)
        for oy in range(layer.out_shape[1]):
            for ox in range(layer.out_shape[2]):
                for ky in range(3):
                    for kx in range(3):
                        iy, ix = (
                            oy * stride - padding + ky * dilation,
                            ox * stride - padding + kx * dilation,
                        )
                        if 0 <= iy < size and 0 <= ix < size:
                            brute[iy, ix] += 1
        assert fanout(layer)[0].tolist() == brute.tolist(), (stride, padding, dilation)


def test_layer_activity_rates_and_op_type():
    layer = conv(np.ones((2, 1, 3, 3)), (1, 3, 3), padding=1)
    rin = np.zeros((2, 1, 3, 3, 2), dtype=np.uint16)
    rin[0, 0, 1, 1, :] = 7  # graded input -> MACs
    rout = np.zeros((2, 2, 3, 3, 2), dtype=np.uint8)
    rout[1, 0, 0, 0, 1] = 1
    count = lambda r: (r.reshape(r.shape[0], -1, r.shape[-1]) != 0).sum(axis=1)  # noqa: E731
    c = layer_activity(layer, synops(layer, rin), count(rin), count(rout), True, 2)
    assert c["op_type"] == "MAC"
    assert (
        c["synops"]["per_inference_mean"] == (2 * 9 * 2 + 0) / 2
    )  # centre: 9 outputs x 2 channels x 2 steps
    assert c["synops"]["per_inference_max"] == 36
    assert c["synops"]["per_timestep_mean"] == [9.0, 9.0] and c["synops"]["per_timestep_max"] == [
        18.0,
        18.0,
    ]
    assert c["spikes_out"]["per_inference_mean"] == 0.5 and c["firing_rate"] == 1 / (2 * 18 * 2)
    assert c["neuron_updates_per_inference"] == 18 * 2
    assert c["synops_dense_per_timestep"] == 2 * 49


def test_cores_and_binding_limit():
    prof = load_profile("loihi1")
    static = dict(neurons=2500, synapse_bytes_expanded=300_000, fan_in_max=5000)
    c = cores_for_layer(static, prof)
    assert c["by_limit"] == {
        "neurons": 3,
        "synaptic_memory": 3,
    }  # 2500/1024 -> 3; 300000/131072 -> 3
    assert c["fan_in_within_limit"] is False
    static2 = dict(neurons=100, synapse_bytes_expanded=600_000, fan_in_max=10)
    c2 = cores_for_layer(static2, prof)
    assert c2["cores"] == 5 and c2["binding"] == "synaptic_memory"
    f = feasibility([dict(static, name="a"), dict(static2, name="b")], prof)
    assert (
        f["total_cores"] == 8
        and f["fits_one_chip"]
        and f["chips"] == 1
        and f["fan_in_exceeded"] == ["a"]
    )
    f2 = feasibility(
        [dict(neurons=1024 * 129, synapse_bytes_expanded=0, fan_in_max=1, name="big")], prof
    )
    assert f2["total_cores"] == 129 and not f2["fits_one_chip"] and f2["chips"] == 2
    dense = dict(static, name="a", kind="dense", out_shape=[2500], parameters=2500 * 120)
    f3 = feasibility([dense], load_profile("loihi2"))  # the compiler's accounting: 120 axons
    assert f3["accounting"] == "compiler" and f3["depends_on_unknown"] == ["fan_in_per_core"]
    # 2500 neurons x ceil(2500/4) words each of 120 axons -> split until 12,000 words a core hold
    assert f3["per_layer"][0]["synaptic_words_per_core"] <= 12000
    assert f3["per_layer"][0]["binding"] == "synaptic_memory"


def test_energy_ranges_and_unknowns():
    e1 = energy(1000, 200, 50, load_profile("loihi1"))
    assert e1["complete"] and e1["low_nJ"] == pytest.approx(
        (1000 * 23.6 + 200 * 52 + 50 * 1.7) / 1e3
    )
    assert e1["high_nJ"] == pytest.approx((1000 * 23.6 + 200 * 81 + 50 * 1.7) / 1e3)
    assert e1["kind"] == "lower bound"
    p2 = load_profile("loihi2")
    e2 = energy(1000, 200, 50, p2)  # synops at Hala Point's bound, updates as calibrated
    assert e2["complete"] and e2["kind"] == "calibrated estimate (dynamic energy only)"
    upd = p2["energy_neuron_update_pj"]
    assert e2["low_nJ"] == pytest.approx((1000 * 6.8 + 200 * upd.value) / 1e3)
    assert e2["high_nJ"] == pytest.approx((1000 * 6.8 + 200 * upd.value_max) / 1e3)


@pytest.mark.slayer
def test_neurobench_cross_check_on_a_slayer_model():
    """Effective synops of a SLAYER conv+pool+dense model, counted two independent ways."""
    from tna_deploy.models import build_network
    from tna_deploy.train.config import TrainConfig

    torch.manual_seed(3)
    net = build_network(TrainConfig(arch="4C3-AP2-6FC"), (1, 8, 8), 3, 15.0)
    net.set_compression(True)
    x = torch.randint(0, 16, (2, 1, 8, 8, 3)).float()
    with torch.no_grad():
        _, trace = net(x, return_trace=True)
    blocks = [
        (i, b) for i, (info, b) in enumerate(zip(net.info, net.blocks)) if info.kind != "flatten"
    ]
    ins = [x] + [trace[i] for i, _ in blocks[:-1]]
    for (i, blk), rin in zip(blocks, ins):
        w = net.quantized_weight(i)
        syn = blk.synapse
        # NeuroBench: binarize inputs and weights, re-run the layer, sum its outputs
        xb = (rin != 0).float()
        wb = (w != 0).float()
        if net.info[i].kind in ("conv", "pool"):  # weight (Cout, Cin/g, kH, kW, 1)
            ref = [
                F.conv2d(
                    xb[..., t],
                    wb[..., 0],
                    stride=syn.stride[:2],
                    padding=syn.padding[:2],
                    groups=syn.groups,
                ).sum(dim=(1, 2, 3))
                for t in range(xb.shape[-1])
            ]
            layer = Layer(
                net.info[i].name,
                "conv",
                "",
                "",
                2,
                tuple(rin.shape[1:4]),
                tuple(trace[i].shape[1:4]),
                w[..., 0].numpy().astype(np.int64),
                tuple(syn.stride[:2]),
                tuple(syn.padding[:2]),
                syn.groups,
            )
        else:
            wd = wb.reshape(wb.shape[0], -1)
            flat = xb.reshape(xb.shape[0], -1, xb.shape[-1])
            ref = [(flat[..., t] @ wd.T).sum(dim=1) for t in range(xb.shape[-1])]
            layer = Layer(
                net.info[i].name,
                "dense",
                "",
                "",
                2,
                (flat.shape[1],),
                (w.shape[0],),
                w.reshape(w.shape[0], -1).numpy().astype(np.int64),
            )
        ref = torch.stack(ref, dim=1).numpy()
        ours = synops(layer, rin.numpy())
        assert np.array_equal(ours, ref.round().astype(np.int64)), net.info[i].name


def test_profile_format_limits_are_read_and_checked():
    """weight_bits_max, graded_spike_bits_max and state_bits: every profile figure is used by the report."""
    profile = load_profile("loihi2")
    statics = [
        dict(
            name="first",
            kind="dense",
            out_shape=[10],
            parameters=90,
            weight_bits=8,
            neurons=10,
            synapse_bytes_expanded=10,
            fan_in_max=9,
            weight_row_sum_max=9 * 255,
        ),
        dict(
            name="wide",
            kind="dense",
            out_shape=[10],
            parameters=90,
            weight_bits=9,
            neurons=10,
            synapse_bytes_expanded=10,
            fan_in_max=9,
            weight_row_sum_max=200_000,
        ),
    ]
    f = feasibility(statics, profile, input_bits=4)
    assert f["weight_bits_exceeded"] == ["wide"] and f["input_bits_within_limit"] is True
    assert [o["layer"] for o in f["state_overflow_possible"]] == ["wide"]  # 64 * 200000 > 2^23 - 1
    f = feasibility(statics, profile, input_bits=30)
    assert f["input_bits_within_limit"] is False
    assert [o["layer"] for o in f["state_overflow_possible"]] == [
        "first",
        "wide",
    ]  # 64 * 2295 * (2^30 - 1)
