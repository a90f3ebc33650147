"""The test AEDAT4 writer produces files that aedat and tonic decode exactly."""

from __future__ import annotations

import numpy as np
import pytest
from aedat4 import write_aedat4

aedat = pytest.importorskip("aedat", reason="aedat comes with the train extra")
tonic_io = pytest.importorskip("tonic.io", reason="tonic comes with the train extra")

DTYPE = np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")])


def random_events(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10**6, n))
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n).astype(bool)
    return ev


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert len(got) == len(want)
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(got[name].astype(np.int64), want[name].astype(np.int64))


@pytest.mark.parametrize("events_per_packet", [None, 7])
def test_round_trip(tmp_path, events_per_packet):
    width, height = 34, 20
    events = random_events(20, width, height)
    path = str(tmp_path / "events.aedat4")
    write_aedat4(path, events, width, height, events_per_packet=events_per_packet)

    decoder = aedat.Decoder(path)
    streams = decoder.id_to_stream()
    assert streams == {0: {"type": "events", "width": width, "height": height}}
    packets = list(decoder)
    assert len(packets) == (1 if events_per_packet is None else 3)
    assert all(p["stream_id"] == 0 for p in packets)
    assert_same(np.concatenate([p["events"] for p in packets]), events)

    assert_same(tonic_io.read_aedat4(path), events)
