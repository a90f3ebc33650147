"""Decode AEDAT4 recordings into frames, in a process of its own.

The decoder tonic uses (the ``aedat`` Rust extension) panics on some damaged files, and can abort the
whole process while unwinding, so ``dvs.py`` runs this file as a separate script (numpy and aedat
only, no torch): a crash, a hang or a runaway allocation there becomes a one-line DataError naming
the recording. Protocol: argv = job.json out.npy; the job holds paths, sensor_size, timesteps, size.
For each recording the worker prints ``start <i>``, then on a Python-level failure ``error <i>
<reason>`` and exits 3; after the last one it prints ``done``. The job's memory_limit bounds the
address space beyond what the worker has mapped when it starts. Frames go to out.npy (N, 2, size, size, T).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def events_to_frames(
    events: np.ndarray, sensor_size: tuple, timesteps: int, size: int
) -> np.ndarray:
    """Events (structured t, x, y, p) -> (2, size, size, T) uint8 counts.

    T equal time bins spanning the first to the last event (every event lands in a bin, the last one
    included); space is pooled by integer scaling x * size // width; channel 0 is OFF, 1 is ON.
    An event outside the sensor is a ValueError."""
    w, h, _ = sensor_size
    frames = np.zeros((2, size, size, timesteps), dtype=np.int64)
    if len(events):
        x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
        if x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h:
            raise ValueError(
                f"events at x {int(x.min())}..{int(x.max())}, y {int(y.min())}..{int(y.max())} lie "
                f"outside the {w}x{h} sensor"
            )
        t = events["t"].astype(np.float64)
        span = t.max() - t.min() + 1.0
        tb = np.minimum(((t - t.min()) * timesteps / span).astype(np.int64), timesteps - 1)
        p = events["p"].astype(np.int64).clip(0, 1)
        np.add.at(frames, (p, y * size // h, x * size // w, tb), 1)
    return np.clip(frames, 0, 255).astype(np.uint8)


def read_events(path: str) -> np.ndarray:
    """The events of the lowest-numbered event stream, as tonic's ``read_aedat4`` and CIFAR10DVS read them."""
    import aedat

    decoder = aedat.Decoder(path)
    target = None
    for stream_id, stream in decoder.id_to_stream().items():
        if stream["type"] == "events" and (target is None or stream_id < target):
            target = stream_id
    if target is None:
        raise ValueError("there are no events in the file")
    packets = [packet["events"] for packet in decoder if packet["stream_id"] == target]
    if not packets:
        raise ValueError("its event stream holds no packets")
    events = np.concatenate(packets)
    events.dtype.names = ["t", "x", "y", "p"]
    return events


def main(job_path: str, out_path: str) -> int:
    with open(job_path) as f:
        job = json.load(f)
    import os
    import resource  # a damaged packet header must not make the decoder allocate without bound

    with open(
        "/proc/self/statm"
    ) as f:  # the address space already mapped (numpy's thread pools ...)
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + job["memory_limit"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    paths, sensor, t, size = job["paths"], tuple(job["sensor_size"]), job["timesteps"], job["size"]
    out = np.lib.format.open_memmap(
        out_path, mode="w+", dtype=np.uint8, shape=(len(paths), 2, size, size, t)
    )
    for i, path in enumerate(paths):
        print(f"start {i}", flush=True)
        try:
            out[i] = events_to_frames(read_events(path), sensor, t, size)
        except BaseException as e:  # noqa: BLE001 -- the decoder's PanicException is a BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            reason = " ".join(str(e).split())[:160] or type(e).__name__
            print(f"error {i} {type(e).__name__}: {reason}", flush=True)
            return 3
    out.flush()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
