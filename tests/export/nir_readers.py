"""Three readers of a NIR file, each running it one sample and one step at a time, unbatched as NIR
defines shapes: NIR's own node definitions integrated by Euler at dt (written here from the ``nir``
package's docstrings, the yardstick), snnTorch's importer and Norse's. Each gives the read-out's
voltage after the last step (weight units) and every CubaLIF's spike count per sample."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def chain(graph) -> list:
    """The node names from input to output (tna-deploy writes a chain)."""
    nxt = dict(graph.edges)
    order = ["input"]
    while order[-1] in nxt:
        order.append(nxt[order[-1]])
    return order


def lif_names(graph) -> list:
    return [n for n in chain(graph) if type(graph.nodes[n]).__name__ == "CubaLIF"]


def nir_definition_run(graph, x: np.ndarray, dt: float):
    """NIR's definitions, float64: Linear ``W x``; Conv2d torch's conv2d; Flatten to its output type;
    CubaLIF ``I += dt/tau_syn (-I + w_in S)``, ``v += dt/tau_mem (v_leak - v + r I)``, a spike where
    ``v > v_threshold``, then ``v = v_reset`` there; states start at 0."""
    import nir

    order, lifs = chain(graph), lif_names(graph)
    mems, counts = [], []
    for sample in x:
        state, c = {}, dict.fromkeys(lifs, 0.0)
        for t in range(x.shape[-1]):
            h = sample[..., t].astype(np.float64)
            for name in order[1:-1]:
                node = graph.nodes[name]
                if isinstance(node, nir.Linear):
                    h = node.weight.astype(np.float64) @ h
                elif isinstance(node, nir.Conv2d):
                    h = F.conv2d(
                        torch.from_numpy(h)[None],
                        torch.from_numpy(node.weight.astype(np.float64)),
                        torch.from_numpy(node.bias.astype(np.float64)),
                        tuple(node.stride),
                        tuple(node.padding),
                        tuple(node.dilation),
                        int(node.groups),
                    )[0].numpy()
                elif isinstance(node, nir.Flatten):
                    h = h.reshape(tuple(node.output_type["output"]))
                elif isinstance(node, nir.CubaLIF):
                    i, v = state.get(name, (np.zeros(h.shape), np.zeros(h.shape)))
                    i = i + dt / node.tau_syn * (-i + node.w_in * h)
                    v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
                    z = v > node.v_threshold
                    v = np.where(z, node.v_reset, v)
                    state[name] = (i, v)
                    c[name] += float(z.sum())
                    h = z.astype(np.float64)
                else:
                    raise TypeError(
                        f"{name}: {type(node).__name__} is not a node tna-deploy writes"
                    )
        mems.append(state[lifs[-1]][1].reshape(-1).copy())
        counts.append([c[n] for n in lifs])
    return np.array(mems), np.array(counts)


def _count_hooks(modules: dict, c: dict):
    def hook(name):
        def add(module, inputs, out):
            z = out[0] if isinstance(out, tuple) else out
            c[name] += float(z.sum())

        return add

    return [modules[n].register_forward_hook(hook(n)) for n in modules]


def snntorch_run(graph, x: np.ndarray):
    """snnTorch's ``import_from_nir`` (it takes dt = 1e-4 and computes with beta = 1 - dt / tau_mem)."""
    import snntorch.utils
    from snntorch.import_nir import import_from_nir

    model = import_from_nir(graph)
    lifs = {name: mod for name, mod in model.named_modules() if name.startswith("lif")}
    order = sorted(lifs, key=lambda n: int(n[3:]))
    mems, counts = [], []
    with torch.no_grad():
        for sample in x:
            snntorch.utils.reset(model)
            c = dict.fromkeys(order, 0.0)
            hooks = _count_hooks(lifs, c)
            for t in range(x.shape[-1]):
                model(torch.from_numpy(sample[..., t].astype(np.float32)))
            for h in hooks:
                h.remove()
            mems.append(lifs[order[-1]].mem.numpy().reshape(-1).copy())
            counts.append([c[n] for n in order])
    return np.array(mems), np.array(counts)


def norse_model(graph, dt: float):
    import norse.torch

    return norse.torch.from_nir(graph, dt=dt)


def norse_run(graph, x: np.ndarray, dt: float):
    """Norse's ``from_nir(graph, dt=dt)``: a nirtorch graph executor whose state, per CubaLIF, is
    ``((synapse state, LIF state),)``; the read-out's voltage is its LIF state's ``v``."""
    model = norse_model(graph, dt)
    order = lif_names(graph)
    mods = {n: getattr(model, n) for n in order}
    mems, counts = [], []
    with torch.no_grad():
        for sample in x:
            c, state = dict.fromkeys(order, 0.0), None
            hooks = _count_hooks(mods, c)
            for t in range(x.shape[-1]):
                _, state = model(torch.from_numpy(sample[..., t].astype(np.float32)), state)
            for h in hooks:
                h.remove()
            mems.append(norse_states(state, order[-1])[1].v.numpy().reshape(-1).copy())
            counts.append([c[n] for n in order])
    return np.array(mems), np.array(counts)


def norse_states(state, name: str):
    """(synapse state, LIF state) of CubaLIF ``name`` in the executor's state."""
    entry = state.state[name]
    return entry[0] if len(entry) == 1 else entry
