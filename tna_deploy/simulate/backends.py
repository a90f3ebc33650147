"""The runners behind ``--backend``: one class per backend of ``choices.BACKENDS``, each giving a
``Trace`` per chunk of samples. ``RUNNERS`` dispatches a backend's name to its runner."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..engine.trace import Trace
from ..errors import ConfigError
from ..ir import DeployedNet
from .inputs import Inputs
from .results import SimulationError


class Runner:
    """``prepare`` once before the chunks, then ``run`` each chunk (samples ``a:b`` of the inputs)."""

    name = ""
    seconds: Optional[float] = None  # a runner that times itself (Lava); else timed per chunk

    def prepare(self, inputs: Inputs, on_progress: Optional[Callable[[int, int], None]]) -> None:
        pass

    def run(self, x: np.ndarray, a: int, b: int) -> Trace:
        raise NotImplementedError

    def summary_extra(self) -> dict:
        """Fields of this backend's summary in results.json beyond every backend's."""
        return {}


class EmulatorRunner(Runner):
    name = "emulator"

    def __init__(
        self, path: str, net: DeployedNet, onnx_bytes: Optional[bytes], record: tuple, opts
    ):
        from ..engine.emulator import Emulator

        try:
            self.emulator = Emulator(net, opts.timing(), opts.drive)
        except ValueError as e:
            raise ConfigError(f"{path}: {e} (--stream)") from None
        self.record = ("spikes",) + tuple(record)
        self.steps = opts.steps

    def prepare(self, inputs: Inputs, on_progress) -> None:
        from ..engine import cuba_ext, kinds_ext, spike_ext

        cuba_ext.get()  # a first build of the fused kernels happens here, outside the timed chunks
        spike_ext.get()
        kinds_ext.get()

    def run(self, x: np.ndarray, a: int, b: int) -> Trace:
        return self.emulator.run(x, record=self.record, steps=self.steps)


class OnnxRuntimeRunner(Runner):
    name = "onnx"

    def __init__(
        self, path: str, net: DeployedNet, onnx_bytes: Optional[bytes], record: tuple, opts
    ):
        from .onnx_backend import OnnxRunner

        self.runner = OnnxRunner(net, onnx_bytes, path)

    def run(self, x: np.ndarray, a: int, b: int) -> Trace:
        return self.runner.run(x)


class LavaRunner(Runner):
    """Lava runs every sample in one back-to-back stream (in ``prepare``); the chunks slice it."""

    name = "lava"

    def __init__(
        self, path: str, net: DeployedNet, onnx_bytes: Optional[bytes], record: tuple, opts
    ):
        self.path, self.net, self.record = path, net, record
        self.timing = dict(
            stream=opts.stream,
            reset_interval=opts.reset_interval,
            reset_offset=opts.reset_offset,
            drive=opts.drive,
            steps=opts.steps,
        )
        odd = [lay for lay in net.compute_layers if lay.neuron.family != "cuba"]
        if odd:  # the worker probes LIF's u and v and records 0/1 spikes
            raise ConfigError(
                f"{path}: layer {odd[0].name} has {odd[0].neuron.kind} neurons; --backend lava runs "
                f"CUBA / LOIHI networks (the emulator's other kinds are proven against Lava in "
                f"tests/groundtruth); use --backend emulator"
            )
        self.trace: Optional[Trace] = None
        self.info: dict = {}

    def prepare(self, inputs: Inputs, on_progress) -> None:
        from .lava.run import run_lava

        x = inputs.chunk(0, inputs.n)
        try:
            self.trace, self.info = run_lava(
                self.path,
                self.net,
                x,
                record=self.record,
                on_sample=on_progress,
                timing=self.timing,
            )
        except (OSError, KeyError, ValueError, RuntimeError, AssertionError) as e:
            raise SimulationError(
                f"{self.path}: Lava could not run this file ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:120] if str(e) else ''})"
            ) from None
        self.seconds = self.info["seconds"]

    def run(self, x: np.ndarray, a: int, b: int) -> Trace:
        return self.trace.slice(a, b)

    def summary_extra(self) -> dict:
        steps = self.info["steps"]
        return dict(steps=steps, steps_per_second=round(steps / self.info["seconds"], 2))


RUNNERS = {r.name: r for r in (EmulatorRunner, LavaRunner, OnnxRuntimeRunner)}
