"""A Lava process that records the spikes it receives into a memory-mapped ``.npy`` file.

Reading a large ``RingBuffer`` sink back with ``Var.get()`` goes through Lava's runtime channels and
is slow (about 30,000 values a second here: minutes for a CIFARNet layer over 100 steps). This
process writes each step's spikes straight into a file the parent opens afterwards, which costs
nothing noticeable. Process and ProcessModel live in one module, where Lava's compiler looks.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class SpikeRecorder(AbstractProcess):
    """Records ``a_in`` at every step into ``path``, an ``.npy`` of shape ``shape + (steps,)`` (uint8)."""

    def __init__(self, *, shape: tuple, path: str, steps: int) -> None:
        super().__init__(shape=shape, path=path, steps=steps)
        np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint8, shape=tuple(shape) + (steps,)
        ).flush()
        self.a_in = InPort(shape=shape)


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeRecorderModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._steps = int(proc_params["steps"])
        self._out = np.lib.format.open_memmap(proc_params["path"], mode="r+")

    def run_spk(self) -> None:
        s = self.a_in.recv()
        t = self.time_step - 1
        if t < self._steps:
            self._out[..., t] = s != 0
        if t == self._steps - 1:
            self._out.flush()
