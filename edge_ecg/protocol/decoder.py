"""Incremental frame decoder: bytes in, events out, no I/O, never raises on bad bytes.

Feed it whatever the port returns (one byte at a time works)::

    dec = FrameDecoder()
    for chunk in chunks:
        for ev in dec.feed(chunk):
            ...
    dec.stats.balanced()  # bytes_in == bytes_in_frames + bytes_discarded + bytes_buffered

Resynchronisation: the decoder scans for the sync bytes, checks the header (version, a known
frame type, a payload length within :data:`~edge_ecg.protocol.spec.MAX_PAYLOAD_BYTES` and
consistent with the frame type and, for data/descriptor frames, with the channel
count/format/sample count at the start of the payload), then the CRC. Unknown frame types are
rejected like garbage rather than skipped by length: a corrupted type byte would otherwise make
the decoder wait for up to 4 KB of bytes that are really the next frames (new frame types
therefore need a new protocol version). A candidate that fails any check costs exactly one byte (its first sync byte): scanning
resumes at the next byte, so a valid frame hidden inside a rejected candidate is still found. A
corrupt length field therefore delays decoding by at most one maximum frame, never forever.

Losses: sample counters make them exact. Each data frame carries the counter of its first
sample; descriptors and heartbeats carry the counter of the next sample. A jump forward is a
:class:`~edge_ecg.protocol.events.Gap` of exactly the missing samples; a jump backward (device
restarted) a :class:`~edge_ecg.protocol.events.CounterReset` — unless the frame is *stale*: a
byte-for-byte repeat (type, ``seq`` and payload) of one of the last :data:`STALE_HISTORY` frames
of any type (a retransmission, a store-and-forward link re-sending its buffer, descriptors and
heartbeats included), or a data frame whose samples lie inside a gap already reported (it arrived
after its successors). A stale frame is dropped and counted (``frames_stale``, and for data
``samples_stale``): its samples were used or counted lost once, and are not counted again. A
restarted device's frames carry new samples, so they are no repeat even where seq and counter
are the ones of its previous run.

The decisions depend only on the bytes, never on how they were split into chunks: the events and
the final counters are the same for any chunking.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge_ecg.protocol import spec
from edge_ecg.protocol.events import (
    CounterReset,
    DataBlock,
    DecoderStats,
    Descriptor,
    DeviceEvent,
    Gap,
    Heartbeat,
)

_SYNC0 = spec.SYNC[0]
_HDR = spec.HEADER_SIZE
_FIXED_PAYLOAD = {spec.FRAME_EVENT: spec.EVENT.size, spec.FRAME_HEARTBEAT: spec.HEARTBEAT.size}
_DATA_FIXED = spec.DATA_SIZE
_DESC_FIXED = spec.DESCRIPTOR_SIZE
_DESC_NCH_OFF = spec.DESCRIPTOR.offset("n_channels")
_FORMAT_NAMES = {code: v[0] for code, v in spec.SAMPLE_FORMATS.items()}
_EVENT_NAMES = {code: v[0] for code, v in spec.EVENT_KINDS.items()}


STALE_HISTORY = 64  # frames (and reported gaps) remembered to recognise a repeated or late frame

_LEAD_OFF_CACHE: dict[tuple[int, bytes], np.ndarray] = {}


def _lead_off_flags(n_channels: int, raw: bytes) -> np.ndarray:
    """Lead-off bits to a read-only bool ``(C,)`` array, shared between blocks (the same few
    patterns repeat frame after frame, and unpacking costs more than a dict look-up)."""
    key = (n_channels, raw)
    flags = _LEAD_OFF_CACHE.get(key)
    if flags is None:
        flags = np.unpackbits(
            np.frombuffer(raw, dtype=np.uint8), count=n_channels, bitorder="little"
        ).astype(bool)
        flags.flags.writeable = False
        if len(_LEAD_OFF_CACHE) < 4096:
            _LEAD_OFF_CACHE[key] = flags
    return flags


def unpack_samples(raw: bytes, n_samples: int, n_channels: int, sample_format: int) -> np.ndarray:
    """Sample bytes (sample-major, little-endian) to int32 ``(n_samples, n_channels)``."""
    if sample_format == spec.FORMAT_INT16:
        return np.frombuffer(raw, dtype="<i2").astype(np.int32).reshape(n_samples, n_channels)
    # int24: place the 3 bytes in the top of a little-endian int32, then an arithmetic shift
    # right by 8 sign-extends them in one vectorised step.
    m = n_samples * n_channels
    wide = np.zeros((m, 4), dtype=np.uint8)
    wide[:, 1:] = np.frombuffer(raw, dtype=np.uint8).reshape(m, 3)
    return (
        (wide.view("<i4").reshape(m) >> 8)
        .astype(np.int32, copy=False)
        .reshape(n_samples, n_channels)
    )


class FrameDecoder:
    """Incremental decoder of the binary protocol (see module docstring)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._stats = DecoderStats()
        self._next_sample: int | None = None
        self._last_seq: int | None = None
        self._descriptor: Descriptor | None = None
        self._credit = 0
        # the last frames, byte for byte (type, seq, payload): a repeat of one is stale
        self._recent: deque[tuple[int, int, bytes]] = deque(maxlen=STALE_HISTORY)
        self._recent_set: set[tuple[int, int, bytes]] = set()
        self._recent_gaps: deque[tuple[int, int]] = deque(maxlen=STALE_HISTORY)  # (first, n) reported lost

    # -- state -------------------------------------------------------------------------------

    @property
    def stats(self) -> DecoderStats:
        """A snapshot of the counters."""
        s = self._stats.copy()
        s.bytes_buffered = len(self._buf) - self._credit
        return s

    @property
    def descriptor(self) -> Descriptor | None:
        """The latest descriptor received (``None`` before the first)."""
        return self._descriptor

    @property
    def next_sample(self) -> int | None:
        """Sample counter expected next (``None`` until a frame carrying a counter arrived)."""
        return self._next_sample

    def reset_link(self) -> None:
        """Forget buffered bytes (the link was re-opened) but keep the sample/sequence state.

        The partial frame in the buffer can never complete; its bytes count as discarded. The
        next frame's sample counter then reports exactly what was lost while disconnected.
        """
        self._stats.bytes_discarded += len(self._buf) - self._credit
        self._buf.clear()
        self._credit = 0

    # -- decoding ----------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list:
        """Decode ``data`` (any length, any split) and return the events it completed."""
        st = self._stats
        st.bytes_in += len(data)
        buf = self._buf
        buf += data
        events: list = []
        pos = 0
        # 1 when the byte at ``pos`` already belongs to the previous frame (see below, on accept)
        credit = self._credit
        n = len(buf)
        while True:
            i = buf.find(spec.SYNC, pos)
            if i < 0:
                # keep a trailing first sync byte: the next chunk may complete the pattern
                keep = 1 if n > pos and buf[n - 1] == _SYNC0 else 0
                if n - keep > pos:
                    st.bytes_discarded += n - keep - pos - credit
                    pos, credit = n - keep, 0
                break
            if i > pos:
                st.bytes_discarded += i - pos - credit
                pos, credit = i, 0
            if n - pos < _HDR:
                break
            _sync, version, ftype, seq, length = spec.HEADER_STRUCT.unpack_from(buf, pos)
            if version != spec.PROTOCOL_VERSION:
                st.frames_bad_version += 1
            elif ftype not in spec.FRAME_TYPES:
                st.frames_bad_type += 1
            else:
                verdict = self._check_length(buf, pos, n, ftype, length)
                if verdict is None:  # need more bytes to judge
                    break
                if verdict:
                    end = pos + _HDR + length + spec.CRC_SIZE
                    if n < end:
                        break
                    crc_at = end - spec.CRC_SIZE
                    if spec.crc16(bytes(buf[pos:crc_at])) == buf[crc_at] | (buf[crc_at + 1] << 8):
                        st.frames_ok += 1
                        st.bytes_in_frames += end - pos - credit
                        self._on_frame(ftype, seq, bytes(buf[pos + _HDR : crc_at]), events)
                        # A frame that lost its last byte still passes the CRC when that byte
                        # equalled the next frame's first sync byte, which then stood in for it.
                        # The payload is verified either way; let the next frame keep its
                        # first byte too, so one lost byte never costs an intact neighbour.
                        if buf[end - 1] == _SYNC0:
                            pos, credit = end - 1, 1
                        else:
                            pos, credit = end, 0
                        continue
                    st.frames_bad_crc += 1
                else:
                    st.frames_bad_length += 1
            # a rejected candidate costs one byte: scanning resumes right after it
            st.bytes_discarded += 1 - credit
            pos, credit = pos + 1, 0
        del buf[:pos]  # bytearray deletes from the front in O(1)
        self._credit = credit
        return events

    @staticmethod
    def _check_length(buf: bytearray, pos: int, n: int, ftype: int, length: int) -> bool | None:
        """Is ``length`` plausible for ``ftype``? ``None``: not enough bytes to tell yet."""
        if length > spec.MAX_PAYLOAD_BYTES:
            return False
        fixed = _FIXED_PAYLOAD.get(ftype)
        if fixed is not None:
            return length == fixed
        if ftype == spec.FRAME_DATA:
            if length < _DATA_FIXED:
                return False
            if n - pos < _HDR + _DATA_FIXED:
                return None
            _first, c, fmt, ns = spec.DATA_STRUCT.unpack_from(buf, pos + _HDR)
            if not 1 <= c <= spec.MAX_CHANNELS or fmt not in spec.SAMPLE_FORMATS or ns < 1:
                return False
            return length == spec.data_payload_len(c, fmt, ns)
        if ftype == spec.FRAME_DESCRIPTOR:
            if length < _DESC_FIXED:
                return False
            if n - pos < _HDR + _DESC_FIXED:
                return None
            c = buf[pos + _HDR + _DESC_NCH_OFF]
            return 1 <= c <= spec.MAX_CHANNELS and length == spec.descriptor_payload_len(c)
        return False  # not reached: unknown types are rejected before

    def _on_frame(self, ftype: int, seq: int, payload: bytes, events: list) -> None:
        st = self._stats
        if self._stale(ftype, seq, payload):
            return  # before the seq accounting: a repeated seq is no jump of 65,535 frames
        missing = 0 if self._last_seq is None else (seq - self._last_seq - 1) & 0xFFFF
        resets = st.counter_resets
        self._last_seq = seq
        if ftype == spec.FRAME_DATA:
            st.frames_data += 1
            events.append(self._data(seq, payload, events))
        elif ftype == spec.FRAME_DESCRIPTOR:
            st.frames_descriptor += 1
            d = self._parse_descriptor(seq, payload)
            self._advance_counter(d.next_sample, seq, events)
            self._descriptor = d
            events.append(d)
        elif ftype == spec.FRAME_HEARTBEAT:
            st.frames_heartbeat += 1
            next_sample, uptime_ms = spec.HEARTBEAT_STRUCT.unpack(payload)
            self._advance_counter(next_sample, seq, events)
            events.append(Heartbeat(next_sample, uptime_ms, seq))
        else:
            st.frames_event += 1
            sample, kind, _res, value = spec.EVENT_STRUCT.unpack(payload)
            events.append(
                DeviceEvent(_EVENT_NAMES.get(kind, f"unknown_{kind}"), value, sample, seq)
            )
        # a restarted device numbers its frames from 0 again: that jump of seq is no loss
        if missing and st.counter_resets == resets:
            st.seq_gaps += 1
            st.frames_lost += missing

    def _advance_counter(self, first: int, seq: int, events: list) -> None:
        """Account for samples between the expected counter and ``first``."""
        st = self._stats
        expected = self._next_sample
        if expected is not None:
            if first > expected:
                st.gaps += 1
                st.samples_lost += first - expected
                self._recent_gaps.append((expected, first - expected))
                events.append(Gap(expected, first - expected))
            elif first < expected:
                st.counter_resets += 1
                events.append(CounterReset(expected, first, seq))
        self._next_sample = first

    def _stale(self, ftype: int, seq: int, payload: bytes) -> bool:
        """Is this frame stale (see module docstring)? Counted here when it is; otherwise
        remembered, so that a repeat of it is recognised."""
        key = (ftype, seq, payload)
        first, _c, _fmt, ns = spec.DATA_STRUCT.unpack_from(payload, 0) if ftype == spec.FRAME_DATA else (0, 0, 0, 0)
        late = (ftype == spec.FRAME_DATA and self._next_sample is not None and first < self._next_sample
                and any(g0 <= first and first + ns <= g0 + gn for g0, gn in self._recent_gaps))
        if late or key in self._recent_set:
            self._stats.frames_stale += 1
            self._stats.samples_stale += ns
            return True
        if len(self._recent) == STALE_HISTORY:
            self._recent_set.discard(self._recent[0])
        self._recent.append(key)
        self._recent_set.add(key)
        return False

    def _data(self, seq: int, payload: bytes, events: list) -> DataBlock:
        first, c, fmt, ns = spec.DATA_STRUCT.unpack_from(payload, 0)
        lo_end = _DATA_FIXED + (c + 7) // 8
        lead_off = _lead_off_flags(c, payload[_DATA_FIXED:lo_end])
        counts = unpack_samples(payload[lo_end:], ns, c, fmt)
        if self._next_sample != first:
            self._advance_counter(first, seq, events)
        self._next_sample = first + ns
        self._stats.samples_ok += ns
        d = self._descriptor
        fmt_name = _FORMAT_NAMES.get(fmt)
        if d is not None and d.n_channels == c and d.sample_format == fmt_name:
            return DataBlock(
                first, counts, lead_off, seq, d.fs_hz, d.uv_per_count, d.baseline_counts, fmt_name
            )
        return DataBlock(first, counts, lead_off, seq, sample_format=fmt_name)

    @staticmethod
    def _parse_descriptor(seq: int, payload: bytes) -> Descriptor:
        (next_sample, fs_millihz, device_id, major, minor, patch, c, fmt, spf) = (
            spec.DESCRIPTOR_STRUCT.unpack_from(payload, 0)
        )
        names, uv, base = [], [], []
        for k in range(c):
            name, u, b = spec.CHANNEL_STRUCT.unpack_from(
                payload, _DESC_FIXED + k * spec.CHANNEL.size
            )
            names.append(name.rstrip(b"\x00").decode("ascii", errors="replace"))
            uv.append(u)
            base.append(b)
        return Descriptor(
            fs_hz=fs_millihz / 1000.0,
            channel_names=tuple(names),
            uv_per_count=np.asarray(uv, dtype=np.float64),
            baseline_counts=np.asarray(base, dtype=np.int32),
            sample_format=_FORMAT_NAMES.get(fmt, f"unknown_{fmt}"),
            samples_per_frame=spf,
            device_id=device_id,
            firmware_version=(major, minor, patch),
            next_sample=next_sample,
            seq=seq,
        )
