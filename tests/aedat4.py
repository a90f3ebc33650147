"""Write minimal, uncompressed AEDAT 4.0 files (iniVation DV format) for tests.

Only numpy and struct are used; the two flatbuffers are laid out by hand.
All integers are little-endian. The file written is:

    "#!AER-DAT4.0\\r\\n"                   14-byte magic
    uint32 header_length
    IOHeader flatbuffer (header_length bytes, file identifier "IOHE"):
        0   uint32  root offset -> table at 24
        4   "IOHE"
        8   vtable  uint16[5] = {10 (vtable size), 20 (table size),
                                 4 (compression), 8 (file_data_position),
                                 16 (description)}, 6 bytes padding
        24  table   int32 soffset to vtable (24 - 8 = 16)
        28          int32 compression = 0 (None)
        32          int64 file_data_position = -1 (no file data table:
                          readers take packets until end of file)
        40          uint32 offset -> description string at 44
        44  string  uint32 length, UTF-8 bytes, NUL, padding to 4 bytes
        The description is the DV XML info tree:
        <dv><node name="outInfo"><node name="0"> with attr typeIdentifier=EVTS
        and a child <node name="info"> with attrs sizeX / sizeY.
    then, for every packet:
        int32  stream id (0)
        uint32 packet_length
        size-prefixed EventPacket flatbuffer (packet_length bytes, "EVTS"):
            0   uint32  size prefix (packet_length - 4)
            4   uint32  root offset, relative to byte 4 -> table at 20
            8   "EVTS"
            12  vtable  uint16[3] = {6, 8, 4 (elements)}, 2 bytes padding
            20  table   int32 soffset to vtable (20 - 12 = 8)
            24          uint32 offset -> elements vector at 28
            28  vector  uint32 count, then at 32 (8-aligned) count Event
                        structs of 16 bytes: int64 t, int16 x, int16 y,
                        uint8 on, 3 padding bytes.

Offsets inside each flatbuffer are chosen so every field is naturally aligned
from the start of its buffer, as the flatbuffers verifier requires.
"""

from __future__ import annotations

import struct

import numpy as np

MAGIC = b"#!AER-DAT4.0\r\n"
STREAM_ID = 0

# Event struct of events.fbs: int64 t, int16 x, int16 y, bool on; 16 bytes, 8-aligned.
EVENT_DTYPE = np.dtype(
    {
        "names": ["t", "x", "y", "on"],
        "formats": ["<i8", "<i2", "<i2", "u1"],
        "offsets": [0, 8, 10, 12],
        "itemsize": 16,
    }
)


def _description(width: int, height: int) -> bytes:
    """The DV XML info tree announcing one polarity-event stream (id 0)."""
    return (
        '<dv version="2.0">'
        '<node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        f'<node name="{STREAM_ID}" path="/mainloop/Recorder/outInfo/{STREAM_ID}/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        f'<node name="info" path="/mainloop/Recorder/outInfo/{STREAM_ID}/info/">'
        f'<attr key="sizeX" type="int">{int(width)}</attr>'
        f'<attr key="sizeY" type="int">{int(height)}</attr>'
        '<attr key="source" type="string">tna-deploy test writer</attr>'
        "</node></node></node></dv>"
    ).encode("utf-8")


def _ioheader(description: bytes) -> bytes:
    """IOHeader table: compression None, no data table, the XML description."""
    string = struct.pack("<I", len(description)) + description + b"\0"
    string += b"\0" * (-len(string) % 4)
    return (
        struct.pack("<I4s", 24, b"IOHE")
        + struct.pack("<5H", 10, 20, 4, 8, 16)
        + b"\0" * 6
        + struct.pack("<iiqI", 24 - 8, 0, -1, 44 - 40)
        + string
    )


def _event_packet(events: np.ndarray) -> bytes:
    """Size-prefixed EventPacket flatbuffer holding ``events``."""
    elements = np.zeros(len(events), dtype=EVENT_DTYPE)
    elements["t"] = np.asarray(events["t"]).astype(np.int64)
    # int16 in the schema; readers cast back to uint16, so values > 32767 survive.
    elements["x"] = np.asarray(events["x"]).astype(np.uint16).view(np.int16)
    elements["y"] = np.asarray(events["y"]).astype(np.uint16).view(np.int16)
    elements["on"] = np.asarray(events["p"]).astype(bool)
    body = (
        struct.pack("<I4s", 20 - 4, b"EVTS")
        + struct.pack("<3H", 6, 8, 4)
        + b"\0" * 2
        + struct.pack("<iII", 20 - 12, 28 - 24, len(elements))
        + elements.tobytes()
    )
    return struct.pack("<I", len(body)) + body


def write_aedat4(
    path: str,
    events: np.ndarray,
    width: int = 128,
    height: int = 128,
    events_per_packet: int | None = None,
) -> None:
    """Write ``events`` (structured array with fields t [us], x, y, p) to an AEDAT4 file.

    The file holds one uncompressed event stream (id 0) of size ``width`` x ``height``.
    Events go in one packet, or in packets of at most ``events_per_packet`` events.
    An empty array still produces one (empty) packet.
    """
    n = len(events)
    step = max(1, events_per_packet or n or 1)
    chunks = [events[i : i + step] for i in range(0, n, step)] or [events[:0]]
    header = _ioheader(_description(width, height))
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header)
        for chunk in chunks:
            packet = _event_packet(chunk)
            f.write(struct.pack("<iI", STREAM_ID, len(packet)) + packet)
