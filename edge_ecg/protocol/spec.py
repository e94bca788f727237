"""The edge-ecg wire protocol, version 1: the single source of truth.

Every constant and byte layout of the protocol is defined here, once, as data. The codec
(:mod:`edge_ecg.protocol.encoder`, :mod:`edge_ecg.protocol.decoder`), the generated C header
(``python -m edge_ecg.protocol.gen_c_header``), the layout tables of ``firmware_bridge/PROTOCOL.md``
and the golden vectors are all derived from these tables; tests fail if any of them drifts.

Frame (all integers little-endian)::

    offset  size  field
    0       2     sync          bytes 0xEC 0xA5
    2       1     version       1
    3       1     frame_type    1 descriptor, 2 data, 3 event, 4 heartbeat
    4       2     seq           frame sequence counter, +1 per frame of any type, wraps at 2**16
    6       2     payload_len   bytes of payload, 0..MAX_PAYLOAD_BYTES
    8       L     payload       layout depends on frame_type (tables below)
    8+L     2     crc           CRC-16/CCITT-FALSE over bytes [0, 8+L)

CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, no input/output reflection, xorout 0x0000;
check value 0x29B1 for the ASCII bytes ``123456789``.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# Constants

PROTOCOL_VERSION = 1
SYNC = b"\xec\xa5"
"""Two bytes opening every frame. As a little-endian int16 (-23060) it is far outside ECG counts
near baseline, so false sync candidates inside int16 payloads are rare."""

HEADER_SIZE = 8
CRC_SIZE = 2
MAX_PAYLOAD_BYTES = 4096
"""Largest legal payload. A header announcing more is garbage: the decoder resynchronises instead
of waiting for bytes that will never form a frame."""
MAX_FRAME_BYTES = HEADER_SIZE + MAX_PAYLOAD_BYTES + CRC_SIZE
MAX_CHANNELS = 32
"""Channels per stream; lead-off flags fit one uint32 mask on the device."""
CHANNEL_NAME_BYTES = 8
"""Channel names are ASCII, NUL-padded to this many bytes (a name may use all 8, no NUL)."""

# CRC-16/CCITT-FALSE (catalogue name CRC-16/IBM-3740)
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
CRC_XOROUT = 0x0000
CRC_CHECK = 0x29B1
"""CRC of the nine ASCII bytes ``123456789``."""

# Frame types
FRAME_DESCRIPTOR = 1
FRAME_DATA = 2
FRAME_EVENT = 3
FRAME_HEARTBEAT = 4
FRAME_TYPES = {
    FRAME_DESCRIPTOR: "descriptor",
    FRAME_DATA: "data",
    FRAME_EVENT: "event",
    FRAME_HEARTBEAT: "heartbeat",
}

# Sample formats: code -> (name, bytes per sample, min count, max count)
FORMAT_INT16 = 1
FORMAT_INT24 = 2
SAMPLE_FORMATS = {
    FORMAT_INT16: ("int16", 2, -(2**15), 2**15 - 1),
    FORMAT_INT24: ("int24", 3, -(2**23), 2**23 - 1),
}
FORMAT_CODES = {name: code for code, (name, *_rest) in SAMPLE_FORMATS.items()}

# Device event kinds (event frame): code -> (name, meaning of the int32 value)
EVENT_BUTTON = 1
EVENT_MARKER = 2
EVENT_BATTERY = 3
EVENT_KINDS = {
    EVENT_BUTTON: ("button", "button id"),
    EVENT_MARKER: ("marker", "marker code"),
    EVENT_BATTERY: ("battery", "battery voltage in mV"),
}
EVENT_CODES = {name: code for code, (name, _doc) in EVENT_KINDS.items()}


def format_width(sample_format: int) -> int:
    """Bytes per sample of a format code (2 for int16, 3 for int24)."""
    return SAMPLE_FORMATS[sample_format][1]


def lead_off_bytes(n_channels: int) -> int:
    """Bytes of the lead-off bit field for ``n_channels`` channels (1 bit per channel)."""
    return (n_channels + 7) // 8


# ---------------------------------------------------------------------------------------------
# Layouts as data


@dataclass(frozen=True)
class Field:
    """One fixed-position field: ``code`` is a :mod:`struct` code (little-endian)."""

    name: str
    code: str
    doc: str

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code)

    @property
    def c_type(self) -> str:
        return _C_TYPES.get(self.code, f"uint8_t[{self.size}]")


_C_TYPES = {
    "B": "uint8_t",
    "H": "uint16_t",
    "I": "uint32_t",
    "Q": "uint64_t",
    "i": "int32_t",
    "f": "float",
}


@dataclass(frozen=True)
class Layout:
    """A packed little-endian record: its fields in order, offsets derived.

    ``c_name`` prefixes its macros in the generated C header (``EDGE_ECG_<c_name>_OFF_<FIELD>``).
    """

    name: str
    c_name: str
    doc: str
    fields: tuple[Field, ...]

    @property
    def struct_format(self) -> str:
        return "<" + "".join(f.code for f in self.fields)

    @property
    def size(self) -> int:
        return struct.calcsize(self.struct_format)

    def offset(self, name: str) -> int:
        off = 0
        for f in self.fields:
            if f.name == name:
                return off
            off += f.size
        raise KeyError(name)

    def offsets(self) -> list[tuple[Field, int]]:
        out, off = [], 0
        for f in self.fields:
            out.append((f, off))
            off += f.size
        return out


HEADER = Layout(
    "header",
    "HEADER",
    "Opens every frame.",
    (
        Field("sync", "2s", "0xEC 0xA5"),
        Field("version", "B", f"protocol version, {PROTOCOL_VERSION}"),
        Field("frame_type", "B", "1 descriptor, 2 data, 3 event, 4 heartbeat"),
        Field("seq", "H", "frame sequence counter, +1 per frame of any type, wraps at 65536"),
        Field("payload_len", "H", f"payload bytes L, at most {MAX_PAYLOAD_BYTES}"),
    ),
)

DATA = Layout(
    "data",
    "DATA",
    "Fixed part of a data payload; followed by the lead-off bits and the samples.",
    (
        Field("first_sample", "Q", "absolute sample counter of the first sample in this frame"),
        Field("n_channels", "B", f"channels C, 1..{MAX_CHANNELS}"),
        Field("sample_format", "B", "1 int16, 2 int24 (packed, 3 bytes, two's complement)"),
        Field("n_samples", "H", "samples per channel N in this frame, >= 1"),
    ),
)

DESCRIPTOR = Layout(
    "descriptor",
    "DESCRIPTOR",
    "Fixed part of a descriptor payload; followed by C channel records.",
    (
        Field("next_sample", "Q", "sample counter of the next data sample the device will send"),
        Field("fs_millihz", "I", "nominal sampling rate in mHz (360 Hz -> 360000)"),
        Field("device_id", "I", "device serial number / id"),
        Field("fw_major", "B", "firmware version major"),
        Field("fw_minor", "B", "firmware version minor"),
        Field("fw_patch", "H", "firmware version patch"),
        Field("n_channels", "B", f"channels C, 1..{MAX_CHANNELS}"),
        Field("sample_format", "B", "format of the data frames that follow"),
        Field("samples_per_frame", "H", "nominal samples per data frame"),
    ),
)

CHANNEL = Layout(
    "descriptor channel",
    "CHANNEL",
    "One per channel, in channel order, after the descriptor's fixed part.",
    (
        Field("name", f"{CHANNEL_NAME_BYTES}s", "ASCII lead name, NUL-padded (e.g. MLII, V5, aVR)"),
        Field("uv_per_count", "f", "IEEE-754 float32, microvolts per count"),
        Field("baseline_counts", "i", "count of 0 µV (µV = (count - baseline) * uv_per_count)"),
    ),
)

EVENT = Layout(
    "event",
    "EVENT",
    "A device event (button press, marker, battery reading).",
    (
        Field("sample", "Q", "sample counter at which the event happened"),
        Field("kind", "B", "1 button, 2 marker, 3 battery"),
        Field("reserved", "3s", "0"),
        Field("value", "i", "button id / marker code / battery mV"),
    ),
)

HEARTBEAT = Layout(
    "heartbeat",
    "HEARTBEAT",
    "Sent when idle and at the end of a stream: lets the host account for lost trailing frames.",
    (
        Field("next_sample", "Q", "sample counter of the next data sample the device will send"),
        Field("uptime_ms", "I", "device uptime in ms (wraps)"),
    ),
)

LAYOUTS = (HEADER, DATA, DESCRIPTOR, CHANNEL, EVENT, HEARTBEAT)

HEADER_STRUCT = struct.Struct(HEADER.struct_format)
DATA_STRUCT = struct.Struct(DATA.struct_format)
DESCRIPTOR_STRUCT = struct.Struct(DESCRIPTOR.struct_format)
CHANNEL_STRUCT = struct.Struct(CHANNEL.struct_format)
EVENT_STRUCT = struct.Struct(EVENT.struct_format)
HEARTBEAT_STRUCT = struct.Struct(HEARTBEAT.struct_format)
CRC_STRUCT = struct.Struct("<H")


# sizes as plain ints: the decoder checks them once per frame
DATA_SIZE = DATA.size
DESCRIPTOR_SIZE = DESCRIPTOR.size
CHANNEL_SIZE = CHANNEL.size
_WIDTH = {code: v[1] for code, v in SAMPLE_FORMATS.items()}


def data_payload_len(n_channels: int, sample_format: int, n_samples: int) -> int:
    """Payload bytes of a data frame."""
    return DATA_SIZE + (n_channels + 7) // 8 + n_samples * n_channels * _WIDTH[sample_format]


def descriptor_payload_len(n_channels: int) -> int:
    """Payload bytes of a descriptor frame."""
    return DESCRIPTOR_SIZE + n_channels * CHANNEL_SIZE


def max_samples_per_frame(n_channels: int, sample_format: int) -> int:
    """Most samples per channel one data frame can carry within :data:`MAX_PAYLOAD_BYTES`."""
    room = MAX_PAYLOAD_BYTES - DATA.size - lead_off_bytes(n_channels)
    return room // (n_channels * format_width(sample_format))


def crc16(data: bytes | bytearray | memoryview, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``crc`` continues a running CRC).

    ``binascii.crc_hqx`` is exactly this CRC (poly 0x1021, MSB first, no reflection, no xorout)
    when seeded with 0xFFFF, and runs in C.
    """
    return binascii.crc_hqx(data, crc)


def crc16_bitwise(data: bytes) -> int:
    """Reference bit-by-bit CRC-16/CCITT-FALSE (the algorithm of the C encoder), for tests."""
    crc = CRC_INIT
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc ^ CRC_XOROUT


def layout_markdown() -> str:
    """The byte-layout tables of ``firmware_bridge/PROTOCOL.md``, rendered from the layouts."""
    parts = []
    for layout in LAYOUTS:
        parts.append(f"#### {layout.name} ({layout.size} bytes)\n\n{layout.doc}\n")
        parts.append("| offset | size | type | field | meaning |")
        parts.append("|---:|---:|---|---|---|")
        for f, off in layout.offsets():
            parts.append(f"| {off} | {f.size} | {f.c_type} | `{f.name}` | {f.doc} |")
        parts.append("")
    return "\n".join(parts)
