"""Plain-text mode for hobby boards: one line of integers per sample.

An Arduino sketch printing ``Serial.print(a); Serial.print(','); Serial.println(b);`` produces
``"512,498\\r\\n"`` per sample. Columns are separated by a comma (spaces around it allowed),
spaces or tabs; a separator at the end of the line (``"512,498,"``, a sketch printing one after
every value) is ignored, an empty field inside it (``"512,,498"``) is not a value. Arduino
Serial Plotter labels (``"MLII:512,V1:498"``) are allowed: the value is what follows the last
``:``. Lines end in ``\\n``, ``\\r\\n`` or a lone ``\\r``. The line carries no rate, scale or
counter, so the caller gives ``fs_hz`` and ``uv_per_count`` and the decoder counts lines.

A line whose fields are all words (a header such as ``"MLII,V1"``, a banner) is not a
sample: it is counted (``lines_text``) and skipped without moving the sample clock. Every other
non-empty line is one sample: a malformed one (wrong column count, a non-integer, longer than
``max_line_bytes``) is counted, skipped and reported as a one-sample
:class:`~edge_ecg.protocol.events.Gap`, so sample positions stay aligned with the device's. This
is a best effort: a lost newline merges two samples into one malformed line (one gap sample
reported for two lost). Use the binary protocol when losses must be exact.
"""

from __future__ import annotations

import re

import numpy as np

from edge_ecg.errors import ConfigError, ProtocolError
from edge_ecg.protocol.events import DataBlock, Descriptor, Gap, TextDecoderStats

_SPLIT = re.compile(rb"[ \t]*,[ \t]*|[ \t]+")
_LINE_END = re.compile(rb"[\r\n]")


_HELD = "held"  # _line's answer for the first line while its column count is unconfirmed (bytes in frames)
_NOT_WORDS = (b"nan", b"inf", b"infinity", b"ovf")  # what Serial.print(float) prints for a bad value


def _is_word(field: bytes) -> bool:
    """A header's word (``MLII``), not a value: starts with a letter and is no printed bad float."""
    return field[:1].isalpha() and field.lower() not in _NOT_WORDS


def _int_or_none(tok: bytes) -> int | None:
    try:
        return int(tok)
    except ValueError:
        return None


def encode_text_lines(counts: np.ndarray, separator: str = ",", newline: str = "\r\n") -> bytes:
    """Samples ``(n, C)`` as text lines, as ``Serial.println`` would print them."""
    arr = np.asarray(counts)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ProtocolError(
            f"counts must be integer (n_samples, n_channels), got {arr.dtype} {arr.shape}"
        )
    if not arr.size:
        return b""
    return "".join(separator.join(map(str, row)) + newline for row in arr.tolist()).encode("ascii")


class TextDecoder:
    """Incremental decoder of the text mode, with the ``feed``/``stats`` shape of the binary one.

    ``fs_hz`` (Hz) and ``uv_per_count`` (µV per count, scalar or per channel) describe the device;
    ``n_channels=None`` takes the column count from ``uv_per_count``, ``baseline_counts`` or
    ``channel_names`` when one of them has a value per column, else from the first two
    well-formed lines: the first line may be the tail of one the device was printing when the
    port opened, so it counts as a sample when the second line has as many columns, and as one
    lost sample when not. ``baseline_counts`` is the count of 0 µV. ``first_line_partial=True``
    drops everything up to the first line end (a port opened mid-line), uncounted, and takes
    the column count from the line after it. The first
    well-formed line also yields a synthetic
    :class:`~edge_ecg.protocol.events.Descriptor` built from these arguments, so a runtime
    configures itself the same way in both modes.
    """

    def __init__(
        self,
        fs_hz: float,
        uv_per_count,
        n_channels: int | None = None,
        *,
        baseline_counts=0,
        channel_names: tuple[str, ...] | None = None,
        max_line_bytes: int = 256,
        first_line_partial: bool = False,
    ) -> None:
        if not (isinstance(fs_hz, (int, float)) and fs_hz > 0):
            raise ConfigError(f"fs_hz must be a sampling rate > 0 Hz, got {fs_hz!r}")
        uv = np.asarray(uv_per_count, dtype=np.float64).reshape(-1)
        if uv.size == 0 or not np.all(np.isfinite(uv)) or np.any(uv <= 0):
            raise ConfigError(
                f"uv_per_count must be finite and > 0 µV per count, got {uv_per_count!r}"
            )
        base = np.asarray(baseline_counts, dtype=np.int64).reshape(-1)
        if channel_names is not None and (isinstance(channel_names, str) or not channel_names
                                          or not all(isinstance(n, str) for n in channel_names)):
            raise ConfigError(f"channel_names {channel_names!r}: expected a sequence of names, one per column")
        # any per-column argument fixes the column count
        for given in (uv.size, base.size, len(channel_names or ())):
            if n_channels is None and given > 1:
                n_channels = given
        if n_channels is None and channel_names is not None:
            n_channels = len(channel_names)
        if n_channels is not None and not 1 <= n_channels <= 64:
            raise ConfigError(f"n_channels must be 1..64 or None, got {n_channels!r}")
        if n_channels is not None:
            for what, size in (("uv_per_count", uv.size), ("baseline_counts", base.size)):
                if size not in (1, n_channels):
                    raise ConfigError(f"{what} has {size} values for {n_channels} channels")
            if channel_names is not None and len(channel_names) != n_channels:
                raise ConfigError(f"channel_names {list(channel_names)} name {len(channel_names)} columns, "
                                  f"n_channels is {n_channels}")
        if max_line_bytes < 4:
            raise ConfigError(f"max_line_bytes must be >= 4, got {max_line_bytes}")
        self.fs_hz = float(fs_hz)
        self._uv = uv
        self._base = base
        self._names = None if channel_names is None else tuple(channel_names)
        self._n_channels = n_channels
        self._max_line = max_line_bytes
        self._skip_line = bool(first_line_partial)  # discarding up to the next line end
        self._trust_first = bool(first_line_partial)  # the first line after the skip is whole
        self._held: tuple[list[int], int] | None = None  # first line, until its column count is confirmed
        self._skip_is_overlong = False
        self._lf_after_cr: str | None = None  # a line ended in "\r": the counter of a "\n" right after it
        self._buf = bytearray()
        self._stats = TextDecoderStats()
        self._sample = 0
        self._descriptor: Descriptor | None = None

    @property
    def stats(self) -> TextDecoderStats:
        s = self._stats.copy()
        s.bytes_buffered = len(self._buf)
        s.columns = self._n_channels or 0
        return s

    @property
    def descriptor(self) -> Descriptor | None:
        return self._descriptor

    @property
    def next_sample(self) -> int:
        return self._sample

    def reset_link(self) -> None:
        """Forget the partial line (the link was re-opened); the next line may be partial too."""
        self._stats.bytes_discarded += len(self._buf)
        self._buf.clear()
        self._skip_line = True
        self._skip_is_overlong = False
        self._lf_after_cr = None

    def _make_descriptor(self, c: int) -> Descriptor:
        names = self._names or tuple(f"ch{k}" for k in range(c))
        uv = np.broadcast_to(self._uv, (c,)).copy()
        base = np.broadcast_to(self._base, (c,)).astype(np.int32)
        return Descriptor(
            self.fs_hz, tuple(names), uv, base, sample_format="text", samples_per_frame=1
        )

    def _line(self, line: bytes, size: int, rows: list, flush_rows, lost_line, events: list) -> str:
        """Decode one line (its end removed; ``size`` bytes with it) into ``rows``, or count why
        not; returns the byte counter its bytes belong to (:data:`_HELD`: in frames, to be
        moved to discarded if the line turns out cut)."""
        st = self._stats
        if len(line) > self._max_line:
            st.lines_overlong += 1
            lost_line()
            return "bytes_discarded"
        stripped = line.strip().rstrip(b",").rstrip()
        if not stripped:
            st.lines_empty += 1
            return "bytes_discarded"
        fields = [tok.rsplit(b":", 1)[-1] for tok in _SPLIT.split(stripped)]
        values = [_int_or_none(f) for f in fields]
        if all(v is None and _is_word(f) for v, f in zip(values, fields, strict=True)):  # a header
            st.lines_text += 1
            return "bytes_discarded"
        if None in values or any(v < -(2**31) or v >= 2**31 for v in values):
            st.lines_bad_value += 1
            lost_line()
            return "bytes_discarded"
        if self._n_channels is None and not self._trust_first:
            if self._held is None:
                # the first line may be the tail of one printed before the port opened: its
                # column count is trusted once the next line agrees
                self._held = (values, size)
                return _HELD
            first, first_size = self._held
            self._held = None
            self._n_channels = len(values)
            if len(first) == len(values):
                self._accept(first, rows, flush_rows, events)
            else:  # it was cut: one lost sample, as any malformed line
                st.bytes_in_frames -= first_size
                st.bytes_discarded += first_size
                st.lines_bad_columns += 1
                st.last_bad_columns = len(first)
                lost_line()
        if self._n_channels is None:  # first_line_partial: the cut line was skipped, this one is whole
            self._n_channels = len(values)
        if len(values) != self._n_channels:
            st.lines_bad_columns += 1
            st.last_bad_columns = len(values)
            lost_line()
            return "bytes_discarded"
        self._accept(values, rows, flush_rows, events)
        return "bytes_in_frames"

    def _accept(self, values: list[int], rows: list, flush_rows, events: list) -> None:
        if self._descriptor is None:
            flush_rows()
            self._descriptor = self._make_descriptor(self._n_channels)
            events.append(self._descriptor)
        rows.append(values)
        self._stats.lines_ok += 1
        self._stats.samples_ok += 1
        self._sample += 1

    def feed(self, data: bytes | bytearray | memoryview) -> list:
        st = self._stats
        st.bytes_in += len(data)
        buf = self._buf
        buf += data
        events: list = []
        rows: list[list[int]] = []
        row_start = self._sample

        def flush_rows() -> None:
            nonlocal rows
            if rows:
                counts = np.asarray(rows, dtype=np.int64).astype(np.int32)
                d = self._descriptor
                events.append(
                    DataBlock(
                        row_start,
                        counts,
                        np.zeros(counts.shape[1], bool),
                        0,
                        d.fs_hz,
                        d.uv_per_count,
                        d.baseline_counts,
                    )
                )
                rows = []

        def lost_line() -> None:
            nonlocal row_start
            if self._held is not None:  # malformed before the column count was confirmed: trust the first line
                values, _size = self._held
                self._held = None
                self._n_channels = len(values)
                self._accept(values, rows, flush_rows, events)
            flush_rows()
            st.samples_lost += 1
            st.gaps += 1
            events.append(Gap(self._sample, 1))
            self._sample += 1
            row_start = self._sample

        pos = 0
        n = len(buf)
        while pos < n:
            if self._lf_after_cr is not None:
                # "\r\n" is one line end, also when a read ends between the two bytes: the "\n"
                # is counted with the line the "\r" ended
                if buf[pos] == 0x0A:
                    if self._lf_after_cr == _HELD:  # still held: the byte goes with that line
                        values, held_size = self._held
                        self._held = (values, held_size + 1)
                        st.bytes_in_frames += 1
                    else:
                        setattr(st, self._lf_after_cr, getattr(st, self._lf_after_cr) + 1)
                    pos += 1
                self._lf_after_cr = None
                continue
            m = _LINE_END.search(buf, pos)
            nl = -1 if m is None else m.start()
            if self._skip_line:
                if nl < 0:
                    st.bytes_discarded += n - pos
                    pos = n
                    break
                st.bytes_discarded += nl + 1 - pos
                pos = nl + 1
                if buf[nl] == 0x0D:
                    self._lf_after_cr = "bytes_discarded"
                if self._skip_is_overlong:
                    st.lines_overlong += 1
                    lost_line()
                self._skip_line = self._skip_is_overlong = False
                continue
            if nl < 0:
                if n - pos > self._max_line:
                    self._skip_line = self._skip_is_overlong = True
                    continue
                break
            line = bytes(buf[pos:nl])
            size = nl + 1 - pos
            pos = nl + 1
            counter = self._line(line, size, rows, flush_rows, lost_line, events)
            target = "bytes_in_frames" if counter == _HELD else counter
            setattr(st, target, getattr(st, target) + size)
            if buf[nl] == 0x0D:
                self._lf_after_cr = counter
        flush_rows()
        del buf[:pos]
        return events
