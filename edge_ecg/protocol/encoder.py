"""Frame encoder: pure functions from values to bytes (no I/O).

This is the reference the C encoder (``firmware_bridge/edge_ecg_encoder.c``) is checked against
through the golden vectors. Bad input raises :class:`~edge_ecg.errors.ProtocolError` naming the
value and what was expected.
"""

from __future__ import annotations

import math

import numpy as np

from edge_ecg.errors import ProtocolError
from edge_ecg.protocol import spec
from edge_ecg.protocol.events import Descriptor


def format_code(sample_format: str | int) -> int:
    """Format code of ``'int16'`` / ``'int24'`` (or a code, checked)."""
    if isinstance(sample_format, str):
        code = spec.FORMAT_CODES.get(sample_format)
    else:
        code = int(sample_format) if int(sample_format) in spec.SAMPLE_FORMATS else None
    if code is None:
        raise ProtocolError(
            f"sample_format must be one of {sorted(spec.FORMAT_CODES)}, got {sample_format!r}"
        )
    return code


def encode_frame(frame_type: int, seq: int, payload: bytes) -> bytes:
    """Wrap ``payload`` in a header and CRC."""
    if not 0 <= frame_type <= 255:
        raise ProtocolError(f"frame_type must be 0..255, got {frame_type!r}")
    if len(payload) > spec.MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            f"payload of {len(payload)} bytes exceeds the protocol maximum of {spec.MAX_PAYLOAD_BYTES}"
        )
    head = spec.HEADER_STRUCT.pack(
        spec.SYNC, spec.PROTOCOL_VERSION, frame_type, seq & 0xFFFF, len(payload)
    )
    body = head + payload
    return body + spec.CRC_STRUCT.pack(spec.crc16(body))


def _check_channels(n_channels: int) -> None:
    if not 1 <= n_channels <= spec.MAX_CHANNELS:
        raise ProtocolError(f"n_channels must be 1..{spec.MAX_CHANNELS}, got {n_channels}")


def pack_lead_off(lead_off, n_channels: int) -> bytes:
    """Lead-off bits: bit ``c % 8`` of byte ``c // 8`` set when channel ``c`` is off.

    ``lead_off`` is ``None`` (all on), an int bit mask, a bool array ``(C,)``, or a per-sample bool
    array ``(n, C)`` (a channel is flagged if it was off at any sample of the frame).
    """
    n_bytes = spec.lead_off_bytes(n_channels)
    if lead_off is None:
        return bytes(n_bytes)
    if isinstance(lead_off, (int, np.integer)):
        mask = int(lead_off)
        if mask < 0 or mask >> n_channels:
            raise ProtocolError(f"lead_off mask {mask:#x} has bits beyond {n_channels} channels")
        return mask.to_bytes(n_bytes, "little")
    arr = np.asarray(lead_off, dtype=bool)
    if arr.ndim == 2:
        arr = arr.any(axis=0)
    if arr.shape != (n_channels,):
        raise ProtocolError(
            f"lead_off must have shape ({n_channels},) or (n, {n_channels}), got {np.shape(lead_off)}"
        )
    return np.packbits(arr, bitorder="little").tobytes()


def pack_samples(counts: np.ndarray, sample_format: str | int) -> bytes:
    """Samples ``(n, C)`` to little-endian bytes, sample-major (s0c0 s0c1 … s1c0 …)."""
    code = format_code(sample_format)
    name, _width, lo, hi = spec.SAMPLE_FORMATS[code]
    arr = np.asarray(counts)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ProtocolError(
            f"counts span {int(arr.min())}..{int(arr.max())}, outside the {name} range {lo}..{hi}"
        )
    if code == spec.FORMAT_INT16:
        return np.ascontiguousarray(arr, dtype="<i2").tobytes()
    # int24: the low three bytes of each little-endian int32 are the packed two's complement
    as32 = np.ascontiguousarray(arr, dtype="<i4").reshape(-1)
    return np.ascontiguousarray(as32.view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()


def encode_data(
    seq: int,
    first_sample: int,
    counts: np.ndarray,
    sample_format: str | int = "int16",
    lead_off=None,
) -> bytes:
    """A data frame carrying ``counts`` (int ``(n, C)``) whose first sample is ``first_sample``."""
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ProtocolError(f"counts must be (n_samples >= 1, n_channels), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ProtocolError(f"counts must be integer ADC counts, got dtype {arr.dtype}")
    n, c = arr.shape
    _check_channels(c)
    code = format_code(sample_format)
    if not 0 <= first_sample < 2**64:
        raise ProtocolError(f"first_sample must be 0..2**64-1, got {first_sample}")
    if n > spec.max_samples_per_frame(c, code):
        raise ProtocolError(
            f"{n} samples x {c} channels of {spec.SAMPLE_FORMATS[code][0]} exceed one frame "
            f"(at most {spec.max_samples_per_frame(c, code)} samples per frame)"
        )
    payload = (
        spec.DATA_STRUCT.pack(first_sample, c, code, n)
        + pack_lead_off(lead_off, c)
        + pack_samples(arr, code)
    )
    return encode_frame(spec.FRAME_DATA, seq, payload)


def _ascii_name(name: str) -> bytes:
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raise ProtocolError(f"channel name {name!r} must be ASCII") from None
    if not 1 <= len(raw) <= spec.CHANNEL_NAME_BYTES or not raw.isascii() or not all(0x20 <= b < 0x7F for b in raw):
        raise ProtocolError(
            f"channel name {name!r} must be 1 to {spec.CHANNEL_NAME_BYTES} printable ASCII characters"
        )
    return raw


def encode_descriptor(seq: int, descriptor: Descriptor) -> bytes:
    """A descriptor frame announcing ``descriptor`` (its ``seq`` field is ignored)."""
    d = descriptor
    c = d.n_channels
    _check_channels(c)
    if d.uv_per_count.shape != (c,) or d.baseline_counts.shape != (c,):
        raise ProtocolError(
            f"uv_per_count and baseline_counts need one value per channel ({c}), got "
            f"{d.uv_per_count.shape} and {d.baseline_counts.shape}"
        )
    f32 = np.finfo(np.float32)
    if not np.all((d.uv_per_count >= f32.tiny) & (d.uv_per_count <= f32.max)):  # NaN fails too
        raise ProtocolError(
            f"uv_per_count must be finite, > 0 µV per count and a normal float32, got {d.uv_per_count}"
        )
    fs_millihz = round(d.fs_hz * 1000)
    if not (math.isfinite(d.fs_hz) and 0 < fs_millihz < 2**32):
        raise ProtocolError(f"fs_hz must be > 0 and < 4294967 Hz, got {d.fs_hz!r}")
    major, minor, patch = d.firmware_version
    if not (0 <= major < 256 and 0 <= minor < 256 and 0 <= patch < 65536):
        raise ProtocolError(
            f"firmware_version must be (0..255, 0..255, 0..65535), got {d.firmware_version}"
        )
    if not 0 <= d.device_id < 2**32:
        raise ProtocolError(f"device_id must be 0..2**32-1, got {d.device_id}")
    most = spec.max_samples_per_frame(c, format_code(d.sample_format))
    if not 1 <= d.samples_per_frame <= most:
        raise ProtocolError(
            f"samples_per_frame must be 1..{most} (what one frame of {c} {d.sample_format} channels carries), "
            f"got {d.samples_per_frame}"
        )
    payload = bytearray(
        spec.DESCRIPTOR_STRUCT.pack(
            d.next_sample,
            fs_millihz,
            d.device_id,
            major,
            minor,
            patch,
            c,
            format_code(d.sample_format),
            d.samples_per_frame,
        )
    )
    for name, uv, base in zip(d.channel_names, d.uv_per_count, d.baseline_counts, strict=True):
        payload += spec.CHANNEL_STRUCT.pack(_ascii_name(name), float(uv), int(base))
    return encode_frame(spec.FRAME_DESCRIPTOR, seq, bytes(payload))


def encode_event(seq: int, kind: str | int, value: int, sample: int) -> bytes:
    """An event frame (``kind``: ``'button'``, ``'marker'``, ``'battery'`` or a code)."""
    code = spec.EVENT_CODES.get(kind) if isinstance(kind, str) else int(kind)
    if code is None or not 0 <= code <= 255:
        raise ProtocolError(f"event kind must be one of {sorted(spec.EVENT_CODES)}, got {kind!r}")
    if not -(2**31) <= value < 2**31:
        raise ProtocolError(f"event value must fit int32, got {value}")
    return encode_frame(
        spec.FRAME_EVENT, seq, spec.EVENT_STRUCT.pack(sample, code, bytes(3), value)
    )


def encode_heartbeat(seq: int, next_sample: int, uptime_ms: int) -> bytes:
    """A heartbeat frame."""
    return encode_frame(
        spec.FRAME_HEARTBEAT, seq, spec.HEARTBEAT_STRUCT.pack(next_sample, uptime_ms & 0xFFFFFFFF)
    )


class FrameEncoder:
    """Encoder that numbers its frames (``seq`` +1 per frame, wrapping at 65536), like a device."""

    def __init__(self, seq: int = 0):
        self.seq = seq & 0xFFFF

    def _advance(self, frame: bytes) -> bytes:
        self.seq = (self.seq + 1) & 0xFFFF
        return frame

    def skip(self, n_frames: int = 1) -> None:
        """Consume ``n_frames`` sequence numbers without emitting (frames lost on the way)."""
        self.seq = (self.seq + n_frames) & 0xFFFF

    def data(
        self,
        first_sample: int,
        counts: np.ndarray,
        sample_format: str | int = "int16",
        lead_off=None,
    ) -> bytes:
        return self._advance(encode_data(self.seq, first_sample, counts, sample_format, lead_off))

    def descriptor(self, descriptor: Descriptor) -> bytes:
        return self._advance(encode_descriptor(self.seq, descriptor))

    def event(self, kind: str | int, value: int, sample: int) -> bytes:
        return self._advance(encode_event(self.seq, kind, value, sample))

    def heartbeat(self, next_sample: int, uptime_ms: int = 0) -> bytes:
        return self._advance(encode_heartbeat(self.seq, next_sample, uptime_ms))
