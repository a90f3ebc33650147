"""CIFAR-10-DVS through tonic, binned into T frames of event counts and downsampled. The recordings are
decoded in a child process (``aedat_worker``): the native decoder can crash on a damaged file."""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile

import numpy as np

from ..childproc import script_command
from ..errors import DataError
from .aedat_worker import events_to_frames  # noqa: F401  (the binning, shared with the decoding process)

DECODE_TIMEOUT = 120  # seconds one recording may take to decode (a real one takes milliseconds)
DECODE_MEMORY = 2 << 30  # bytes the decoder may map besides the frames it writes


def decode_recordings(paths: list, sensor_size: tuple, timesteps: int, size: int) -> np.ndarray:
    """Frames (N, 2, size, size, T) of AEDAT4 recordings, decoded by ``aedat_worker`` in a child process
    with bounded memory and time; a recording that makes it fail, crash or stall is a DataError naming it."""
    if not paths:
        return np.zeros((0, 2, size, size, timesteps), dtype=np.uint8)
    with tempfile.TemporaryDirectory(prefix="tna-dvs-") as tmp:
        job, out, err = (os.path.join(tmp, n) for n in ("job.json", "frames.npy", "stderr"))
        with open(job, "w") as f:
            json.dump(
                dict(
                    paths=[str(p) for p in paths],
                    sensor_size=list(sensor_size),
                    timesteps=timesteps,
                    size=size,
                    memory_limit=DECODE_MEMORY + len(paths) * 2 * size * size * timesteps,
                ),
                f,
            )
        env = dict(os.environ, RUST_BACKTRACE="0")
        with open(err, "wb") as errf:
            worker = os.path.join(os.path.dirname(__file__), "aedat_worker.py")
            proc = subprocess.Popen(
                script_command(worker, job, out),
                stdout=subprocess.PIPE,
                stderr=errf,
                env=env,
                text=True,
            )
            current, reason = None, None
            try:
                while True:
                    ready, _, _ = select.select([proc.stdout], [], [], DECODE_TIMEOUT)
                    if not ready:
                        reason = f"decoding stalled for {DECODE_TIMEOUT} s"
                        break
                    line = proc.stdout.readline()
                    if not line or line.startswith("done"):
                        break
                    word, index, *rest = line.split(" ", 2)
                    current = int(index)
                    if word == "error":
                        reason = rest[0].strip() if rest else "unreadable"
            finally:
                if proc.poll() is None and (reason or current is None):
                    proc.kill()
                proc.wait()
                proc.stdout.close()
        if proc.returncode == 0 and reason is None:
            return np.array(np.load(out, mmap_mode="r"))
        if reason is None:  # killed by a panic, an abort or the memory limit
            with open(err, "rb") as f:
                tail = f.read()[-4000:].decode("utf-8", "replace")
            panic = [
                ln
                for ln in tail.splitlines()
                if ln.strip() and "panicked at" not in ln and "note:" not in ln
            ]
            reason = (
                f"the AEDAT4 decoder crashed on it (exit {proc.returncode}"
                + (f": {' '.join(panic[0].split())[:120]}" if panic else "")
                + ")"
            )
        where = paths[current] if current is not None else paths[0]
        raise DataError(f"{where}: not a readable AEDAT4 recording ({reason}); re-extract it")


def load_cifar10_dvs(
    split: str, data_dir: str | None, timesteps: int, size: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, 2, size, size, T) uint8 and labels. The split is a fixed 9:1 per-class partition."""
    root = data_dir or os.path.join(os.path.expanduser("~"), ".cache", "tna-deploy", "data")
    try:
        import tonic

        class CIFAR10DVS(
            tonic.datasets.CIFAR10DVS
        ):  # same name: tonic keeps the data in save_to/<class name>
            """tonic's reader; any extracted copy with .aedat4 files counts as present (a subset too)."""

            def _check_exists(self) -> bool:
                return self._folder_contains_at_least_n_files_of_type(1, ".aedat4")

        ds = CIFAR10DVS(save_to=root)
        order = sorted(
            range(len(ds.data)), key=lambda i: ds.data[i]
        )  # os.walk's file order is arbitrary
        ds.data, ds.targets = [ds.data[i] for i in order], [ds.targets[i] for i in order]
    except Exception as e:  # tonic's download errors offline, or its reader's on a broken folder
        folder = os.path.join(root, "CIFAR10DVS")
        if os.path.isdir(folder):
            raise DataError(
                f"CIFAR-10-DVS in {folder} could not be read ({type(e).__name__}: {e}); "
                f"re-extract the recordings"
            ) from None
        raise DataError(
            f"CIFAR-10-DVS not found in {folder} and the download failed ({type(e).__name__}); "
            f"download CIFAR10DVS.zip from figshare and extract it into --data-dir"
        ) from None
    targets = np.asarray(ds.targets, dtype=np.int64)
    index = []
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        n_test = max(1, len(members) // 10)
        index += list(members[:n_test] if split == "test" else members[n_test:])
    index = sorted(index)[:limit] if limit else sorted(index)
    if not index:
        raise DataError(f"CIFAR-10-DVS in {root} holds no recordings for the {split} split")
    frames = decode_recordings([ds.data[i] for i in index], ds.sensor_size, timesteps, size)
    return frames, targets[index]


def load(cfg, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The registry's reader (data/registry.py): frames of ``cfg.timesteps`` bins at ``cfg.dvs_size``."""
    return load_cifar10_dvs(split, cfg.data_dir, cfg.timesteps, cfg.dvs_size, limit)
