"""Runs a netx file in Lava (``Loihi2SimCfg(select_tag='fixed_pt')``), the input into the input layer's
neuron ``a_in`` as lava-dl's ``test_pilotnet_sdnn`` feeds it, and saves every layer's output.

    python sdnn_lava.py NET INPUTS.npz OUT.npz SPIKE_EXP[,SPIKE_EXP...]

INPUTS.npz holds arrays (W, H, C, T) int32, each run for T steps in a fresh ``Network(spike_exp=e)``
per e; OUT.npz gets ``<name>_e<e>_L<i>``: layer i's sent values (Lava's WHC order, T last). Run as
its own process: Lava's runtime forks."""

import sys

import numpy as np


def main(net_path: str, inputs: str, out: str, spike_exps: str) -> None:
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    results = {}
    with np.load(inputs) as z:
        xs = {k: z[k] for k in z.files}
    for name, x, e in [(n, x, int(e)) for n, x in xs.items() for e in spike_exps.split(",")]:
        net = netx.hdf5.Network(net_config=net_path, spike_exp=e)
        steps = x.shape[-1]
        src = io.source.RingBuffer(data=x.astype(np.int32))
        src.s_out.connect(net.in_layer.neuron.a_in)
        sinks = []
        for layer in net.layers:
            sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=steps)
            layer.out.connect(sink.a_in)
            sinks.append(sink)
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        for i, sink in enumerate(sinks):
            results[f"{name}_e{e}_L{i}"] = sink.data.get()
        net.stop()
    np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:5])
