"""The edge-ecg wire protocol: spec (single source of truth) and a pure codec (no I/O).

- :mod:`~edge_ecg.protocol.spec`: constants, byte layouts, CRC-16/CCITT-FALSE.
- :mod:`~edge_ecg.protocol.encoder`: values -> frames.
- :mod:`~edge_ecg.protocol.decoder`: :class:`FrameDecoder`, bytes -> events, resynchronising.
- :mod:`~edge_ecg.protocol.text`: :class:`TextDecoder`, the one-line-per-sample hobby mode.
- :mod:`~edge_ecg.protocol.gen_c_header`, :mod:`~edge_ecg.protocol.golden`: the firmware bridge.

The frame layout is documented in ``firmware_bridge/PROTOCOL.md``.
"""

from edge_ecg.protocol.decoder import FrameDecoder, unpack_samples
from edge_ecg.protocol.encoder import (
    FrameEncoder,
    encode_data,
    encode_descriptor,
    encode_event,
    encode_frame,
    encode_heartbeat,
    pack_samples,
)
from edge_ecg.protocol.events import (
    CounterReset,
    DataBlock,
    DecoderStats,
    Descriptor,
    DeviceEvent,
    Event,
    Gap,
    Heartbeat,
    TextDecoderStats,
)
from edge_ecg.protocol.spec import crc16
from edge_ecg.protocol.text import TextDecoder, encode_text_lines

__all__ = [
    "CounterReset",
    "DataBlock",
    "DecoderStats",
    "Descriptor",
    "DeviceEvent",
    "Event",
    "FrameDecoder",
    "FrameEncoder",
    "Gap",
    "Heartbeat",
    "TextDecoder",
    "TextDecoderStats",
    "crc16",
    "encode_data",
    "encode_descriptor",
    "encode_event",
    "encode_frame",
    "encode_heartbeat",
    "encode_text_lines",
    "pack_samples",
    "unpack_samples",
]
