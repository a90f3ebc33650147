"""The shared CUBA kernel, LOIHI flavor, step for step against Lava's own numpy model code."""

import numpy as np
import pytest
import torch

from tna_deploy.engine.cuba import LOIHI, cuba_run


def lava_reference(a_in: np.ndarray, i_decay: int, v_decay: int, vth: int, bias: np.ndarray):
    """Lava's ``PyLifModelBitAcc`` methods (subthr_dynamics, spiking_activation, reset) run directly."""
    from tna_deploy.lava_import import (
        quiet_import,  # Lava fixes the multiprocessing start method on import
    )

    PyLifModelBitAcc = quiet_import("lava.proc.lif.models").PyLifModelBitAcc
    m = object.__new__(PyLifModelBitAcc)
    m.ds_offset, m.dm_offset, m.isthrscaled, m.effective_bias = 1, 0, False, 0
    m.uv_bitwidth, m.max_uv_val, m.decay_shift, m.decay_unity = 24, 2**23, 12, 2**12
    m.vth_shift = m.act_shift = 6
    m.u = np.zeros(a_in.shape[1:], np.int32)
    m.v = np.zeros(a_in.shape[1:], np.int32)
    m.du, m.dv, m.vth = i_decay - 1, v_decay, vth
    m.bias_mant, m.bias_exp = bias.astype(np.int16), np.full(bias.shape, 6, np.int16)
    spikes, us, vs = [], [], []
    for t in range(len(a_in)):
        m.scale_bias()
        m.scale_threshold()
        m.subthr_dynamics(activation_in=a_in[t].astype(np.int32))
        s = m.spiking_activation()
        m.reset_voltage(s)
        spikes.append(s.copy())
        us.append(m.u.copy())
        vs.append(m.v.copy())
    return np.array(spikes), np.array(us), np.array(vs)


@pytest.mark.lava
@pytest.mark.parametrize(
    "i_decay, v_decay, vth, scale",
    [
        (4096, 1024, 64, 300),
        (0, 0, (1 << 17) - 1, 30000),
        (1234, 3000, 500, 2000),
        (0, 4096, 100, 100000),
        (4095, 1, 5000, 130000),
        (17, 0, (1 << 17) - 1, 90000),
    ],
)
def test_loihi_flavor_equals_lava(i_decay, v_decay, vth, scale):
    rng = np.random.default_rng(i_decay + v_decay)
    a_in = rng.integers(-scale, scale, (40, 3, 50))  # up to 130000 << 6: past 2^23, so u wraps
    bias = rng.integers(-2000, 2000, (3, 50))
    ref_s, ref_u, ref_v = lava_reference(a_in, i_decay, v_decay, vth, bias)
    tr = cuba_run(
        torch.from_numpy(a_in * 64.0),
        i_decay,
        v_decay,
        float(vth << 6),
        LOIHI,
        bias=torch.from_numpy(bias * 64.0),
        record=True,
    )
    assert np.array_equal(tr.spikes.numpy(), ref_s)
    assert np.array_equal(tr.u.numpy(), ref_u) and np.array_equal(tr.v.numpy(), ref_v)
    assert ref_s.any() or vth >= 1 << 16


@pytest.mark.lava
def test_wrap_and_clip_are_exercised():
    a_in = np.full((6, 1), 40000)  # 2.56e6 per step in state units, no decay of u
    _, u, v = lava_reference(a_in, 0, 0, (1 << 17) - 1, np.zeros(1))
    assert (np.diff(u[:, 0]) < 0).any() and np.abs(v).max() == (1 << 23) - 1
    tr = cuba_run(
        torch.from_numpy(a_in * 64.0), 0, 0, float(((1 << 17) - 1) << 6), LOIHI, record=True
    )
    assert np.array_equal(tr.u.numpy(), u) and np.array_equal(tr.v.numpy(), v)
