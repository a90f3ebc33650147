"""CIFAR-10-DVS through tonic, binned into T frames of event counts and downsampled."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError


def events_to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], timesteps: int,
                     size: int) -> np.ndarray:
    """Events (structured t, x, y, p) -> (2, size, size, T) uint8 counts.

    T equal time bins spanning the first to the last event (every event lands in a bin, the last one
    included); space is pooled by integer scaling x * size // width; channel 0 is OFF, 1 is ON."""
    w, h, _ = sensor_size
    frames = np.zeros((2, size, size, timesteps), dtype=np.int64)
    if len(events):
        t = events["t"].astype(np.float64)
        span = t.max() - t.min() + 1.0
        tb = np.minimum(((t - t.min()) * timesteps / span).astype(np.int64), timesteps - 1)
        x = events["x"].astype(np.int64) * size // w
        y = events["y"].astype(np.int64) * size // h
        p = events["p"].astype(np.int64).clip(0, 1)
        np.add.at(frames, (p, y, x, tb), 1)
    return np.clip(frames, 0, 255).astype(np.uint8)


def load_cifar10_dvs(split: str, data_dir: str | None, timesteps: int, size: int,
                     limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, 2, size, size, T) uint8 and labels. The split is a fixed 9:1 per-class partition."""
    root = data_dir or os.path.join(os.path.expanduser("~"), ".cache", "tna-deploy", "data")
    try:
        import tonic

        class CIFAR10DVS(tonic.datasets.CIFAR10DVS):   # same name: tonic keeps the data in save_to/<class name>
            """tonic's reader; any extracted copy with .aedat4 files counts as present (a subset too)."""

            def _check_exists(self) -> bool:
                return self._folder_contains_at_least_n_files_of_type(1, ".aedat4")

        ds = CIFAR10DVS(save_to=root)
        order = sorted(range(len(ds.data)), key=lambda i: ds.data[i])   # os.walk's file order is arbitrary
        ds.data, ds.targets = [ds.data[i] for i in order], [ds.targets[i] for i in order]
    except Exception as e:  # tonic's download errors offline, or its reader's on a broken folder
        folder = os.path.join(root, "CIFAR10DVS")
        if os.path.isdir(folder):
            raise DataError(f"CIFAR-10-DVS in {folder} could not be read ({type(e).__name__}: {e}); "
                            f"re-extract the recordings") from None
        raise DataError(f"CIFAR-10-DVS not found in {folder} and the download failed ({type(e).__name__}); "
                        f"download CIFAR10DVS.zip from figshare and extract it into --data-dir") from None
    targets = np.asarray(ds.targets, dtype=np.int64)
    index = []
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        n_test = max(1, len(members) // 10)
        index += list(members[:n_test] if split == "test" else members[n_test:])
    index = sorted(index)[:limit] if limit else sorted(index)
    xs, ys = [], []
    for i in index:
        try:
            events, label = ds[i]
        except Exception as e:  # the aedat decoder raises RuntimeError/OSError on a damaged file
            raise DataError(f"{ds.data[i]}: not a readable AEDAT4 recording ({e}); re-extract it") from None
        xs.append(events_to_frames(events, ds.sensor_size, timesteps, size))
        ys.append(label)
    if not xs:
        raise DataError(f"CIFAR-10-DVS in {root} holds no recordings for the {split} split")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)
