"""``StreamSession``: decoded device events → :class:`StreamClassifier` → sinks, with the
running account a monitor must keep (samples in, samples lost, what was refused, latency)."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from edge_ecg.errors import ConfigError, DeviceMismatchError
from edge_ecg.models.side import check_age_sex
from edge_ecg.protocol.events import (
    CounterReset,
    DataBlock,
    Descriptor,
    DeviceEvent,
    Gap,
    Heartbeat,
)
from edge_ecg.runtime.classifier import Classifier, check_classifier
from edge_ecg.runtime.sinks import CallbackSink, Sink
from edge_ecg.runtime.sources import Disconnected, Overflow, Reconnected
from edge_ecg.runtime.stream import (
    GateConfig,
    LatencyWindow,
    StreamClassifier,
    StreamResult,
    check_names,
)
from edge_ecg.signal.filters import MAINS_HZ, check_mains

RAILS = {"int16": 2**15 - 1, "int24": 2**23 - 1}
IDLE_POLL_S = 0.5
"""How often an idle consumer looks at ``stop`` and the idle timeout: data wakes it at once, and
each needless wake-up costs a lone stream about as much CPU as a frame's work."""
LATENCY_WINDOW = 10_000
"""Latencies of the most recent labelled results kept for the percentiles (about 2 h of beats):
a monitor runs for days, so nothing per beat may be kept without bound."""


@dataclass
class SessionStats:
    samples_in: int = 0
    samples_lost: int = 0  # gaps the decoder reported + samples the source dropped on overflow
    samples_before_descriptor: int = 0  # data that arrived before the device described itself
    samples_mismatched: int = 0  # of samples_lost: blocks whose channel count is not the descriptor's
    disconnects: int = 0
    reconnects: int = 0
    counter_resets: int = 0
    device_events: int = 0
    results: int = 0
    unreadable: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)
    unreadable_reasons: dict[str, int] = field(default_factory=dict)


class StreamSession:
    """Owns the :class:`StreamClassifier` of the current device description and feeds sinks.

    Feed it decoder events with :meth:`handle` (or let :meth:`run` take them from a source, see
    :class:`~edge_ecg.runtime.sources.EventSource`); results go to each sink (a
    :class:`~edge_ecg.runtime.sinks.Sink`, or any callable taking a
    :class:`~edge_ecg.runtime.stream.StreamResult`) and are returned. Data is classified once the
    device has described itself (a ``Descriptor``); samples before that are counted, not used.
    Every setting is checked here, before any device is heard. :meth:`close` (or leaving a
    ``with`` block) finishes the stream and closes the sinks; a closed session takes no events.
    """

    def __init__(self, classifier: Classifier, *, sinks: Iterable[Sink] = (), gate: GateConfig = GateConfig(),  # noqa: B008 (frozen)
                 age: float | None = None, sex: str | None = None, channels: tuple[str, ...] | None = None,
                 mains_hz: tuple[float, ...] = MAINS_HZ, invert: bool = False):
        # all refused now, not when the device first describes itself (maybe hours later)
        check_classifier(classifier)
        if not isinstance(gate, GateConfig):
            raise ConfigError(f"gate {gate!r}: expected a GateConfig")
        if not isinstance(invert, bool):
            raise ConfigError(f"invert {invert!r}: expected True or False")
        check_age_sex(age, sex)
        self.clf = classifier
        self.channels = None if channels is None else check_names(channels, "channels")
        self.mains_hz = check_mains(mains_hz)
        self.invert = invert
        self.sinks = [_as_sink(s) for s in sinks]
        self.gate = gate
        self.age, self.sex = age, sex
        self.sc: StreamClassifier | None = None
        self.descriptor: Descriptor | None = None
        self.stats = SessionStats()
        self.latencies_ms = LatencyWindow(LATENCY_WINDOW)
        self._lost_outside = 0  # samples lost while no classifier ran, or counted by a replaced one
        self.device_time_s = 0.0  # of signal received (lost samples are counted apart)
        self.link = None  # the source's counters (SourceStats) once a run ends
        self.cpu_s = 0.0  # CPU of the consuming thread(s) + the source's reader thread
        self._wall0 = time.perf_counter()
        self.results: list[StreamResult] = []
        self.keep_results = False
        self._finished = self._closed = False

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Finish the stream (results still pending go to the sinks) and close every sink. Once
        closed, :meth:`handle` refuses events; calling ``close`` again does nothing."""
        if self._closed:
            return
        try:
            self.finish()
        finally:
            self._closed = True
            for s in self.sinks:
                s.close()

    # -- events -----------------------------------------------------------------------------
    def _configure(self, d: Descriptor) -> list[StreamResult]:
        # the new classifier first: a descriptor that cannot be used leaves the session as it was
        try:
            sc = StreamClassifier(
                self.clf, fs_hz=d.fs_hz, lead_names=d.channel_names, uv_per_count=d.uv_per_count,
                baseline_counts=d.baseline_counts, rail_counts=RAILS.get(d.sample_format), gate=self.gate,
                age=self.age, sex=self.sex, channels=self.channels, mains_hz=self.mains_hz, invert=self.invert,
            )
        except ConfigError as exc:  # the session's own settings were checked at init: this is the device's
            raise DeviceMismatchError(f"the device's descriptor cannot be used: {exc}") from None
        out = self.sc.finish(reason="device re-described") if self.sc is not None else []
        if self.sc is not None:
            self._lost_outside += self.sc.stats["samples_lost"]
        self.descriptor, self.sc = d, sc
        return out

    def handle(self, ev) -> list[StreamResult]:
        """Process one event from a source/decoder; returns the results it produced."""
        if self._finished:
            raise ConfigError("this session has finished: events after finish() or close() would be counted nowhere; "
                              "start a new StreamSession")
        out: list[StreamResult] = []
        if isinstance(ev, Descriptor):
            d = self.descriptor
            same = d is not None and d.fs_hz == ev.fs_hz and d.channel_names == ev.channel_names and np.array_equal(
                d.uv_per_count, ev.uv_per_count) and np.array_equal(d.baseline_counts, ev.baseline_counts) and d.sample_format == ev.sample_format
            if not same:
                out = self._configure(ev)
        elif isinstance(ev, DataBlock):
            if self.sc is None:
                self.stats.samples_before_descriptor += ev.n_samples
            elif ev.n_channels != self.descriptor.n_channels or (
                    ev.sample_format is not None and ev.sample_format != self.descriptor.sample_format):
                # not the layout the device described: which column is which lead, and at what
                # scale (int24 counts are not int16 counts), is unknown, so these samples are
                # lost to the classifier (a gap)
                self.stats.samples_mismatched += ev.n_samples
                out = self.sc.gap(ev.first_sample, ev.n_samples)
            else:
                if ev.first_sample < self.sc.dev_next:
                    # the counter went back without a CounterReset (dropped on queue overflow)
                    out = self.sc.restart(ev.first_sample)
                self.stats.samples_in += ev.n_samples
                out += self.sc.push(ev.first_sample, ev.counts, ev.lead_off)
                self.device_time_s += ev.n_samples / self.sc.fs_dev
                if self.sinks:
                    d = self.descriptor  # its calibration: a block built by hand carries none
                    uv = self.sc.model_leads((ev.counts - d.baseline_counts) * d.uv_per_count)
                    for s in self.sinks:
                        s.samples(ev.first_sample, uv)
        elif isinstance(ev, Gap):
            if self.sc is not None:
                out = self.sc.gap(ev.first_sample, ev.n_samples)
            else:
                self._lost_outside += ev.n_samples
        elif isinstance(ev, Overflow):
            pass  # the next data block's sample counter jumps: the stream counts the loss there
        elif isinstance(ev, CounterReset):
            self.stats.counter_resets += 1
            if self.sc is not None:
                out = self.sc.restart(ev.first_sample)
        elif isinstance(ev, Disconnected):
            self.stats.disconnects += 1
        elif isinstance(ev, Reconnected):
            self.stats.reconnects += 1
        elif isinstance(ev, (DeviceEvent, Heartbeat)):
            self.stats.device_events += isinstance(ev, DeviceEvent)
        else:
            raise ConfigError(
                f"handle() got a {type(ev).__name__}: expected a decoder event (Descriptor, DataBlock, Gap, CounterReset, "
                "Heartbeat, DeviceEvent) or a source event (Overflow, Disconnected, Reconnected); "
                "samples as arrays go in a DataBlock after a Descriptor"
            )
        self._emit(out)
        return out

    def _emit(self, results: list[StreamResult], *, to_sinks: bool = True) -> None:
        for r in results:
            self.stats.results += 1
            self.stats.class_counts[r.label] = self.stats.class_counts.get(r.label, 0) + 1
            if r.quality == "ok":
                if r.kind != "no_beat":  # latency of a label, not of a silence
                    self.latencies_ms.append(r.latency_ms)
            else:
                self.stats.unreadable += 1
                self.stats.unreadable_reasons[r.reason or "?"] = self.stats.unreadable_reasons.get(r.reason or "?", 0) + 1
            if self.keep_results:
                self.results.append(r)
            for s in self.sinks if to_sinks else ():
                s.write(r)

    def finish(self, *, to_sinks: bool = True) -> list[StreamResult]:
        """End of stream: decide what can still be decided (emitted and returned; counted but
        not written with ``to_sinks=False``). Final: a second call returns nothing, and
        :meth:`handle` refuses events after it."""
        if self._finished:
            return []
        self._finished = True
        out = self.sc.finish() if self.sc is not None else []
        self._emit(out, to_sinks=to_sinks)
        self.stats.samples_lost = self.samples_lost
        return out

    @property
    def samples_lost(self) -> int:
        """Every sample reported lost so far: decoder gaps (also those before the first descriptor
        and those counted by the classifier of an earlier descriptor), overflow drops, and blocks
        whose channel count did not match the descriptor."""
        return self._lost_outside + (self.sc.stats["samples_lost"] if self.sc is not None else 0)

    # -- driving a source ---------------------------------------------------------------------
    def run(self, source, *, stop: threading.Event | None = None, until_sample: int | None = None,
            idle_timeout_s: float | None = None, status: TextIO | None = None, status_every_s: float = 1.0) -> None:
        """Consume ``source`` (an :class:`~edge_ecg.runtime.sources.EventSource`, or any object
        with its ``get``/``drain``/``ended``) until it ends, ``stop`` is set, the device counter
        reaches ``until_sample``, or nothing arrives for ``idle_timeout_s``; then :meth:`finish`.
        Ctrl-C ends it cleanly. An exception (from a sink, the source or the device) ends it too,
        and propagates: the results still pending are then counted but not written to the sinks
        (a failing sink would see them again)."""
        missing = [m for m in ("get", "drain", "ended") if not hasattr(source, m)]
        if missing:
            raise ConfigError(f"source {type(source).__name__} lacks {missing}: expected an EventSource "
                              "(edge_ecg.runtime.sources: SerialSource, FileReplaySource, PushSource) or the same members")
        last_status = time.monotonic()
        last_event = time.monotonic()
        cpu0 = time.thread_time()
        failed = False
        try:
            while not (stop is not None and stop.is_set()):
                ev = source.get(IDLE_POLL_S)
                now = time.monotonic()
                if ev is None:
                    if source.ended:
                        break
                    if idle_timeout_s is not None and now - last_event > idle_timeout_s:
                        break
                    continue
                last_event = now
                done = False
                for e in coalesce([ev, *source.drain()]):
                    self.handle(e)
                    # a replay ends at its last sample; what follows (the simulator closing the
                    # pty) is not part of the record
                    done = until_sample is not None and self.sc is not None and self.sc.dev_next >= until_sample
                    if done:
                        break
                if status is not None and now - last_status >= status_every_s:
                    status.write("\r" + self.status_line() + "   ")
                    status.flush()
                    last_status = now
                if done:
                    break
        except KeyboardInterrupt:
            pass
        except BaseException:
            failed = True  # a sink, the source or the device failed: the run ends with the error
            raise
        finally:
            # counted either way; not written when the failure may be a sink's own
            self.finish(to_sinks=not failed)
            self.cpu_s += time.thread_time() - cpu0
            if hasattr(source, "reader_cpu_s"):
                self.cpu_s += source.reader_cpu_s()
            self.link = getattr(source, "stats", None)
            if status is not None:
                status.write("\r" + self.status_line() + "\n")
                status.flush()

    # -- reporting ---------------------------------------------------------------------------
    def latency_percentiles(self) -> tuple[float, float]:
        if not self.latencies_ms:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.asarray(self.latencies_ms), [50, 99])
        return float(p50), float(p99)

    def cpu_ms_per_device_s(self) -> float:
        """CPU the runtime spent (reader thread: read + decode; consumer: filters, QRS, model)
        per second of device signal. A simulator in the same process is not counted."""
        return 1e3 * self.cpu_s / self.device_time_s if self.device_time_s else float("nan")

    def status_line(self) -> str:
        p50, p99 = self.latency_percentiles()
        wall = time.perf_counter() - self._wall0
        rate = self.stats.samples_in / wall if wall > 0 else 0.0
        lost = self.samples_lost
        counts = " ".join(f"{k}:{v}" for k, v in sorted(self.stats.class_counts.items()))
        return (f"{rate:8.0f} samples/s  lost {lost}  latency p50 {p50:.2f} ms p99 {p99:.2f} ms  "
                f"{counts}")

    def summary(self) -> dict:
        p50, p99 = self.latency_percentiles()
        dec = getattr(self.link, "decoder", None)
        return {
            "samples_in": self.stats.samples_in,
            "samples_lost": self.samples_lost,
            # of samples_lost: dropped by this host's reader because the consumer fell behind
            "samples_dropped_by_host": getattr(self.link, "samples_dropped", 0),
            "bytes_read": getattr(self.link, "bytes_read", None),
            "decoder": dataclasses.asdict(dec) if dataclasses.is_dataclass(dec) else None,
            "samples_before_descriptor": self.stats.samples_before_descriptor,
            "samples_mismatched": self.stats.samples_mismatched,
            "device_time_s": round(self.device_time_s, 3),
            "results": self.stats.results,
            "unreadable": self.stats.unreadable,
            "unreadable_reasons": dict(self.stats.unreadable_reasons),
            "class_counts": dict(self.stats.class_counts),
            "latency_ms_p50": p50,
            "latency_ms_p99": p99,
            "cpu_ms_per_device_s": self.cpu_ms_per_device_s(),
            "disconnects": self.stats.disconnects,
            "reconnects": self.stats.reconnects,
            "counter_resets": self.stats.counter_resets,
            "front_end": self.sc.front_end() if self.sc is not None else None,
        }


def _as_sink(s) -> Sink:
    if isinstance(s, Sink) or (hasattr(s, "write") and hasattr(s, "samples") and hasattr(s, "close")):
        return s
    if callable(s):
        return CallbackSink(s)
    raise ConfigError(f"sink {s!r}: expected a Sink (write, samples, close) or a callable taking a StreamResult")


def coalesce(events: list, max_samples: int = 4096) -> list:
    """Merge runs of contiguous :class:`DataBlock` s (same channels and calibration) into one, so
    a backlog is processed in a few large chunks instead of many frame-sized ones (the stream's
    per-call overhead dominates at 10 samples per frame). Lead-off flags become per sample."""
    out: list = []
    run: list[DataBlock] = []

    def flush():
        if len(run) == 1:
            out.append(run[0])
        elif run:
            counts = np.concatenate([b.counts for b in run])
            lead_off = np.concatenate([np.broadcast_to(np.asarray(b.lead_off, bool), (b.n_samples, b.n_channels)) for b in run])
            b0 = run[0]
            out.append(DataBlock(b0.first_sample, counts, lead_off, b0.seq, b0.fs_hz, b0.uv_per_count, b0.baseline_counts,
                                 b0.sample_format))
        run.clear()

    for ev in events:
        if isinstance(ev, DataBlock):
            if run and (ev.first_sample != run[-1].end_sample or ev.n_channels != run[-1].n_channels
                        or ev.fs_hz != run[-1].fs_hz or ev.sample_format != run[-1].sample_format
                        or sum(b.n_samples for b in run) >= max_samples):
                flush()
            run.append(ev)
        else:
            flush()
            out.append(ev)
    flush()
    return out


def print_summary(summary: dict, out: TextIO = sys.stderr) -> None:
    rows = [
        ("device time received", f"{summary['device_time_s']:.1f} s"),
        ("samples received / lost", f"{summary['samples_in']} / {summary['samples_lost']}"
                                    + (f" ({summary['samples_dropped_by_host']} of them dropped by this host: it fell behind "
                                       "the device)" if summary.get("samples_dropped_by_host") else "")),
        ("results (unreadable)", f"{summary['results']} ({summary['unreadable']})"),
        ("labels", ", ".join(f"{k} {v}" for k, v in sorted(summary["class_counts"].items()))),
        ("latency p50 / p99", f"{summary['latency_ms_p50']:.2f} / {summary['latency_ms_p99']:.2f} ms"),
        ("CPU per device second", f"{summary['cpu_ms_per_device_s']:.2f} ms"),
        ("disconnects / reconnects", f"{summary['disconnects']} / {summary['reconnects']}"),
    ]
    bad = malformed_input(summary.get("decoder"))
    if bad:
        rows.append(("malformed input", bad))
    if summary.get("samples_before_descriptor"):
        rows.append(("not classified", f"{summary['samples_before_descriptor']} samples came before the device described "
                                       "itself (no rate or scale yet)"))
    fe = summary.get("front_end")
    if fe:
        leads = ", ".join(lead if src == lead else f"{lead} = {src}" for lead, src in fe["leads"].items())
        notches = ", ".join(f"{f:g}" for f in fe["mains_notched_hz"]) or "none"
        rows.append(("front end", f"{leads}; {fe['device_hz']:g} → {fe['model_hz']:g} Hz; mains notches {notches} Hz"))
        if fe.get("looks_inverted"):
            rows.append(("WARNING", f"the R deflection is negative in {100 * fe['negative_r_share']:.0f} % of beats: the lead looks inverted "
                                    "(electrodes swapped, or the device held the other way round); --invert flips it"))
    if summary["unreadable_reasons"]:
        rows.append(("unreadable because", ", ".join(f"{k} {v}" for k, v in summary["unreadable_reasons"].items())))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        out.write(f"{k:<{w}}  {v}\n")


def malformed_input(decoder: dict | None) -> str | None:
    """What the decoder refused, in words (``None`` when it refused nothing): bad frames in
    binary mode; in text mode the lines whose column count, values or length were wrong."""
    if not decoder:
        return None
    parts = []
    if decoder.get("lines_bad_columns"):
        parts.append(f"{decoder['lines_bad_columns']} lines had {decoder['last_bad_columns']} columns where "
                     f"{decoder['columns']} were expected (--leads names the columns, one per lead)")
    for key, what in (("lines_bad_value", "lines held a value that is not an integer"),
                      ("lines_overlong", "lines were too long"),
                      ("frames_bad_crc", "frame candidates failed their CRC"),
                      ("frames_bad_length", "frame candidates had an impossible length"),
                      ("frames_bad_type", "frame candidates had an unknown type"),
                      ("frames_bad_version", "frame candidates had another protocol version")):
        if decoder.get(key):
            parts.append(f"{decoder[key]} {what}")
    if decoder.get("frames_stale"):
        parts.append(f"{decoder['frames_stale']} frames repeated earlier ones or came after their successors "
                     f"(dropped; their {decoder['samples_stale']} samples are counted once)")
    if decoder.get("lines_text"):
        parts.append(f"{decoder['lines_text']} lines held no number (headers or messages: skipped, not samples)")
    if parts and decoder.get("bytes_discarded"):
        parts.append(f"{decoder['bytes_discarded']} bytes discarded")
    elif decoder.get("bytes_discarded"):  # nothing recognisable at all in them
        parts.append(f"{decoder['bytes_discarded']} bytes discarded: no frame or line could be read from them "
                     "(the start of a frame or line cut off when the port opened, or the wrong --format or --baud)")
    return "; ".join(parts) or None
