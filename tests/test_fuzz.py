"""Fuzzing the wire decoders and the stream runtime behind them (hypothesis, seeded).

``tests/test_protocol.py`` already shows that arbitrary bytes never make the frame or text decoder
raise, that the byte counters balance, that valid frames between garbage are all recovered and
that chunking changes nothing. This file closes what those leave open:

- **corrupted frames, counted exactly**: a stream of frames of every type, some hit by a bit
  flip; every hit frame is rejected and counted once (``frames_bad_*``), every intact one is
  decoded, and bytes, frames, sequence numbers, samples and gaps add up to the exact figures;
- **the decoder against the simulator's truth** for random byte loss and bit flips over random
  device layouts, without a pty (``tests/test_sources.py`` does a few seeds over a real pty);
- **text lines, counted exactly**: valid and malformed lines mixed; each malformed line is one
  counted, lost sample at its position, each valid line a sample at its position;
- **the stream runtime fed whatever the decoder can emit** (descriptors with other rates, leads
  and scales, data blocks of another channel count, counters jumping both ways and past 2**63,
  gaps, queue overflows): ``StreamSession`` never raises except ``DeviceMismatchError`` for a
  device the model cannot use, never labels a beat whose window touches a lost sample, and its
  account equals the decoder's.

The property checks are plain functions (``check_*``) with the hypothesis strategies beside them;
``benchmarks/fuzz_long.py`` runs the same checks for 100,000+ cases.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge_ecg.errors import DeviceMismatchError
from edge_ecg.protocol import (
    CounterReset,
    DataBlock,
    Descriptor,
    DeviceEvent,
    FrameDecoder,
    FrameEncoder,
    Gap,
    Heartbeat,
    TextDecoder,
    spec,
)
from edge_ecg.runtime.sources import Overflow
from edge_ecg.sim.faults import FaultPlan
from edge_ecg.sim.simulator import SimConfig, Simulator
from edge_ecg.sim.truth import expected_account, merge_ranges, receiver_account

FUZZ = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def feed_in_chunks(decoder, data: bytes, chunks: list[int]) -> list:
    """Feed ``data`` in pieces of the sizes in ``chunks`` (cycled); returns all events."""
    events, pos, k = [], 0, 0
    while pos < len(data):
        step = chunks[k % len(chunks)]
        events += decoder.feed(data[pos : pos + step])
        pos, k = pos + step, k + 1
    return events


def _block_key(e):
    return (e.first_sample, e.counts.tolist(), e.lead_off.tolist())


# --- 1. corrupted frames are rejected and counted exactly --------------------------------------

_frame = st.tuples(
    st.sampled_from(["data", "data", "data", "data", "heartbeat", "event", "descriptor"]),
    st.integers(1, 4),  # channels
    st.integers(1, 12),  # samples per frame
    st.sampled_from(["int16", "int24"]),
    st.integers(0, 2**32 - 1),  # seed of the sample values
    st.one_of(st.none(), st.none(), st.integers(0, 10**6)),  # where a bit flips (None: intact)
    st.integers(0, 7),  # which bit
)
corrupted_stream = st.tuples(
    st.lists(_frame, min_size=1, max_size=14), st.lists(st.integers(1, 80), min_size=1, max_size=6)
)


def check_corrupted_frames(frames, chunks) -> Counter:
    """Build a stream (an intact descriptor first and an intact heartbeat last, so every loss in
    between is visible), flip one bit in some frames, decode it, and check every counter."""
    enc = FrameEncoder()
    d0 = Descriptor(360.0, ("MLII", "V5"), [5.0, 5.0], [1024, 1024], next_sample=0)
    parts = [(enc.descriptor(d0), None)]  # (bytes, data range or None); intact
    hit_flags = [False]
    intact_data, hit_data_ranges = [], []
    s = 0
    for kind, c, n, fmt, seed, flip_at, bit in frames:
        rng = np.random.default_rng(seed)
        rng_range = None
        if kind == "data":
            lo, hi = spec.SAMPLE_FORMATS[spec.FORMAT_CODES[fmt]][2:]
            counts = rng.integers(lo, hi + 1, size=(n, c))
            lead_off = rng.random(c) < 0.3
            frame = enc.data(s, counts, fmt, lead_off)
            rng_range = (s, s + n)
            s += n
        elif kind == "heartbeat":
            frame = enc.heartbeat(s, int(rng.integers(0, 2**32)))
        elif kind == "event":
            frame = enc.event(int(rng.integers(1, 4)), int(rng.integers(-(2**31), 2**31)), s)
        else:
            names = tuple(f"L{k}" for k in range(c))
            frame = enc.descriptor(Descriptor(250.0, names, [1.0] * c, [0] * c, fmt, next_sample=s))
        if flip_at is not None:
            # the sync word stays intact, so the frame is a candidate the decoder must reject
            b = bytearray(frame)
            b[2 + flip_at % (len(b) - 2)] ^= 1 << bit
            frame = bytes(b)
            if rng_range is not None:
                hit_data_ranges.append(rng_range)
        elif kind == "data":
            intact_data.append((rng_range[0], counts.tolist(), lead_off.tolist()))
        parts.append((frame, rng_range))
        hit_flags.append(flip_at is not None)
    parts.append((enc.heartbeat(s), None))
    hit_flags.append(False)
    stream = b"".join(p for p, _ in parts)
    # exact counting needs every sync pattern in the stream to open a real frame (a pattern
    # inside a payload is a candidate too, counted as rejected: that case is fuzzed elsewhere)
    assume(stream.count(spec.SYNC) == len(parts))
    assume(all(p.startswith(spec.SYNC) for p, _ in parts))

    dec = FrameDecoder()
    events = feed_in_chunks(dec, stream, chunks)
    st_ = dec.stats
    n_hit = sum(hit_flags)
    hit_bytes = sum(len(p) for (p, _), h in zip(parts, hit_flags, strict=True) if h)
    # every intact data frame is recovered, in order, bit for bit; nothing else is
    assert [_block_key(e) for e in events if isinstance(e, DataBlock)] == intact_data
    # every corrupted frame is rejected, and counted exactly once
    assert st_.frames_ok == len(parts) - n_hit
    rejected = (
        st_.frames_bad_crc + st_.frames_bad_length + st_.frames_bad_type + st_.frames_bad_version
    )
    assert rejected == n_hit
    assert st_.bytes_in_frames == len(stream) - hit_bytes and st_.bytes_discarded == hit_bytes
    assert st_.bytes_buffered == 0 and st_.balanced()
    # sequence numbers: each hit frame is one lost frame; each run of them one sequence gap
    runs = sum(1 for k in range(1, len(hit_flags)) if hit_flags[k] and not hit_flags[k - 1])
    assert st_.frames_lost == n_hit and st_.seq_gaps == runs
    # sample counters: exactly the samples of the hit data frames are reported lost
    gaps = [e for e in events if isinstance(e, Gap)]
    assert merge_ranges((g.first_sample, g.end_sample) for g in gaps) == merge_ranges(
        hit_data_ranges
    )
    assert (
        st_.samples_lost == sum(b - a for a, b in hit_data_ranges) == sum(g.n_samples for g in gaps)
    )
    assert st_.gaps == len(gaps)
    assert st_.samples_ok + st_.samples_lost == s
    return Counter(
        cases=1,
        frames=len(parts),
        frames_corrupted=n_hit,
        frames_rejected=rejected,
        frames_recovered=st_.frames_ok,
        bytes=len(stream),
    )


@settings(FUZZ, max_examples=250)
@given(corrupted_stream)
def test_every_corrupted_frame_is_rejected_and_counted_exactly(case):
    check_corrupted_frames(*case)


# --- 2. the decoder against the simulator's truth (byte loss, bit flips) ----------------------

sim_case = st.tuples(
    st.integers(0, 2**32 - 1),  # seed (faults and samples)
    st.sampled_from([0.0, 1e-3, 1e-2, 5e-2]),  # byte loss rate
    st.sampled_from([0.0, 1e-3, 1e-2, 5e-2]),  # bit flip rate
    st.integers(1, 3),  # channels
    st.integers(1, 25),  # samples per frame
    st.sampled_from(["int16", "int24"]),
    st.integers(20, 500),  # samples
    st.sampled_from([0, 1, 7, 100]),  # descriptor every N frames
    st.sampled_from([0, 1, 5, 50]),  # heartbeat every N frames
    st.lists(st.integers(1, 300), min_size=1, max_size=5),  # read sizes
)


def check_against_simulator(
    seed, loss, flip, c, spf, fmt, n, desc_every, hb_every, chunks
) -> Counter:
    """Whatever the simulator's faults destroyed, the decoder's account of received and lost
    samples equals the simulator's frame-by-frame truth, and every sample it decodes is right.

    One exception is the CRC's own limit: a corrupted frame passes a CRC-16 with probability
    about 2**-16, and is then decoded as if intact. Such a case is recognised by a decoded event
    the device never sent (wrong samples, or a heartbeat/descriptor with a counter it never
    announced), counted as ``crc_escapes``, and its account is not compared; any other
    disagreement fails."""
    rng = np.random.default_rng(seed)
    lo, hi = spec.SAMPLE_FORMATS[spec.FORMAT_CODES[fmt]][2:]
    counts = rng.integers(lo, hi + 1, size=(n, c), dtype=np.int64).astype(np.int32)
    config = SimConfig(
        speed=None,
        samples_per_frame=spf,
        sample_format=fmt,
        descriptor_every_frames=desc_every,
        heartbeat_every_frames=hb_every,
        keep_frame_log=True,
    )
    faults = FaultPlan(byte_loss_rate=loss, bit_flip_rate=flip, seed=seed)
    sim = Simulator(
        counts, 360.0, 2.5, tuple(f"C{k}" for k in range(c)), config=config, faults=faults
    )
    data = sim.byte_stream()
    dec = FrameDecoder()
    # the link goes on after the record: a corrupt header near the end may claim a length that
    # only later bytes complete, and frames behind it are decoded once those arrive
    events = feed_in_chunks(dec, data + bytes(spec.MAX_FRAME_BYTES), chunks)
    frames = Counter(
        cases=1,
        frames=len(sim.frame_log),
        frames_faulted=sum(f.fate == "faulted" for f in sim.frame_log),
        samples=n,
        bytes=len(data),
    )
    if _crc_escape(events, sim, counts):
        return frames + Counter(crc_escapes=1)
    want, invisible = expected_account(sim)
    got = receiver_account(events)
    assert (got.received, got.lost) == (want.received, want.lost)
    if got.n_received + got.n_lost:  # a receiver that saw no sample knows no window
        assert got.window == want.window
    # faulted frames before the first / after the last intact counter are invisible to any
    # receiver; with them, every sample sent is accounted for
    assert got.n_received + got.n_lost + sum(hi - lo for lo, hi in invisible) == n
    for b in (e for e in events if isinstance(e, DataBlock)):
        assert np.array_equal(b.counts, counts[b.first_sample : b.end_sample])
    assert dec.stats.balanced() and dec.stats.samples_lost == got.n_lost
    return frames + Counter(samples_lost=got.n_lost)


def _crc_escape(events, sim, counts) -> bool:
    """Did the decoder accept a frame the device never sent (a corrupted one that passed CRC)?"""
    sent = {(f.frame_type, f.first_sample) for f in sim.frame_log}
    d0 = sim.descriptor
    for e in events:
        if isinstance(e, DataBlock):
            if e.end_sample > len(counts) or not np.array_equal(
                e.counts, counts[e.first_sample : e.end_sample]
            ):
                return True
        elif isinstance(e, Heartbeat):
            uptime_ms = int(e.next_sample * 1000 / sim.fs_hz)  # what the simulator sends
            if ("heartbeat", e.next_sample) not in sent or e.uptime_ms != uptime_ms:
                return True
        elif isinstance(e, Descriptor):
            same = dataclasses.replace(e, next_sample=0, seq=0) == dataclasses.replace(d0, seq=0)
            if not same or ("descriptor", e.next_sample) not in sent:
                return True
        elif isinstance(e, (DeviceEvent, CounterReset)):  # this device sends neither
            return True
    return False


@settings(FUZZ, max_examples=120)
@given(sim_case)
def test_decoder_account_equals_simulator_truth_under_random_faults(case):
    assert check_against_simulator(*case)["crc_escapes"] == 0


# --- 3. text lines: each malformed line is one counted, lost sample at its position -----------

_line = st.one_of(
    st.tuples(st.just("ok"), st.lists(st.integers(-(2**31), 2**31 - 1), min_size=3, max_size=3)),
    st.tuples(st.just("bad_value"), st.lists(st.integers(-999, 999), min_size=3, max_size=3)),
    st.tuples(st.just("out_of_range"), st.lists(st.integers(2**31, 2**40), min_size=3, max_size=3)),
    st.tuples(st.just("bad_columns"), st.lists(st.integers(-999, 999), min_size=1, max_size=6)),
    st.tuples(st.just("overlong"), st.lists(st.integers(0, 9), min_size=3, max_size=3)),
    st.tuples(st.just("empty"), st.lists(st.integers(0, 3), min_size=3, max_size=3)),
)
text_case = st.tuples(
    st.integers(1, 3),  # channels used by the valid lines (a prefix of the 3 drawn values)
    st.lists(_line, max_size=40),
    st.sampled_from([",", ", ", " ", "\t", " ,\t"]),
    st.sampled_from(["\n", "\r\n"]),
    st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
MAX_LINE = 48


def check_text_lines(c, lines, sep, newline, chunks) -> Counter:
    rows, kinds = [], []
    for kind, vals in lines:
        if kind == "bad_columns" and len(vals) == c:
            vals = [*vals, 1]  # a column too many
        elif kind in ("ok", "out_of_range"):
            vals = vals[:c]
        if kind == "bad_value":
            text = sep.join(map(str, vals[:c])) + "x"
        elif kind == "overlong":
            text = sep.join(str(v) * (MAX_LINE + 1) for v in vals[:c])
        elif kind == "empty":
            text = " \t"[: vals[0] % 3]
        else:
            text = sep.join(map(str, vals))
        rows.append((text + newline).encode())
        kinds.append((kind, vals))
    data = b"".join(rows)
    dec = TextDecoder(250.0, 2.0, c, max_line_bytes=MAX_LINE)
    events = feed_in_chunks(dec, data, chunks)
    want_rows, want_gaps, sample = [], [], 0
    for kind, vals in kinds:
        if kind == "empty":
            continue  # blank lines are no sample
        if kind == "ok":
            want_rows.append((sample, tuple(vals)))
        else:
            want_gaps.append(Gap(sample, 1))
        sample += 1
    got_rows = [
        (e.first_sample + i, tuple(r))
        for e in events
        if isinstance(e, DataBlock)
        for i, r in enumerate(e.counts.tolist())
    ]
    assert got_rows == want_rows
    assert [e for e in events if isinstance(e, Gap)] == want_gaps
    s = dec.stats
    n = Counter(k for k, _ in kinds)
    assert s.lines_ok == s.samples_ok == n["ok"]
    assert s.lines_bad_value == n["bad_value"] + n["out_of_range"]
    assert (s.lines_bad_columns, s.lines_overlong, s.lines_empty) == (
        n["bad_columns"],
        n["overlong"],
        n["empty"],
    )
    assert s.samples_lost == s.gaps == len(want_gaps) and s.samples_ok + s.samples_lost == sample
    assert s.balanced() and s.bytes_buffered == 0
    assert dec.next_sample == sample
    return Counter(cases=1, lines=len(kinds), lines_malformed=len(want_gaps), bytes=len(data))


@settings(FUZZ, max_examples=250)
@given(text_case)
def test_text_lines_valid_and_malformed_are_each_accounted_for(case):
    check_text_lines(*case)


# --- 4. the stream runtime fed whatever the decoder can emit ----------------------------------


@lru_cache(maxsize=1)
def _runtime():
    """The bundled model and a real ECG (MIT-BIH 200 excerpt, 2 leads, 360 Hz, counts)."""
    from edge_ecg.data.records import read_record
    from edge_ecg.runtime.classifier import Classifier, default_model_path
    from edge_ecg.runtime.demo import DEMO_RECORD

    rec = read_record(DEMO_RECORD)
    return Classifier(default_model_path("onnxruntime")), np.asarray(rec.d_signal)


LEAD_SETS = (("MLII", "V1"), ("V1", "MLII"), ("MLII",), ("ECG",), ("II", "V1", "V2"), ("V1", "V5"))
_op = st.one_of(
    # the device (re)describes itself: rate, leads, scale, baseline, format
    st.tuples(
        st.just("descriptor"),
        st.sampled_from([360.0, 250.0, 500.0, 360.0, 100.0]),
        st.sampled_from([0, 1, 2, 3, 4, 0, 1, 5]),
        st.sampled_from([2.5, 5.0, 10.0]),
        st.sampled_from([0, 1024]),
        st.sampled_from(["int16", "int24"]),
    ),
    # real ECG: this many samples from this offset, sent in frames of this size (thrice as likely)
    *[
        st.tuples(
            st.just("ecg"),
            st.integers(1, 6000) | st.integers(1500, 6000),
            st.integers(0, 80_000),
            st.integers(1, 50),
        )
    ]
    * 3,
    # data whose channel count is not the descriptor's, lead-off flags, rails
    st.tuples(
        st.just("odd"), st.integers(1, 300), st.sampled_from(["channels", "lead_off", "rail"])
    ),
    st.tuples(st.just("jump"), st.sampled_from([-(10**6), -5, 1, 37, 10**4, 2**40, 2**63 + 11])),
    st.tuples(st.just("lose"), st.integers(1, 40)),  # the next n frames are lost on the wire
    st.tuples(st.just("heartbeat")),
    st.tuples(st.just("event")),
)
session_case = st.tuples(
    st.lists(_op, min_size=1, max_size=12), st.integers(0, 2**32 - 1), st.booleans()
)


def _device_frames(ops):
    """The byte stream of a device doing ``ops`` (frames it 'loses' are never written)."""
    _, ecg = _runtime()
    enc = FrameEncoder()
    names, fmt, s, lose = ("MLII", "V1"), "int16", 0, 0
    out = []

    def put(frame: bytes) -> None:
        nonlocal lose
        if lose:
            lose -= 1
        else:
            out.append(frame)

    for op in ops:
        kind = op[0]
        if kind == "descriptor":
            _, fs, li, uv, base, fmt = op
            names = LEAD_SETS[li]
            c = len(names)
            put(enc.descriptor(Descriptor(fs, names, [uv] * c, [base] * c, fmt, next_sample=s)))
        elif kind == "ecg":
            _, n, off, spf = op
            x = ecg[off % (len(ecg) - 1) :][:n]
            x = np.tile(x, (1, 2))[:, : len(names)]  # as many columns as the device describes
            for a in range(0, len(x), spf):
                put(enc.data(s + a, x[a : a + spf], fmt))
            s += len(x)
        elif kind == "odd":
            _, n, what = op
            c = len(names) + 1 if what == "channels" else len(names)
            x = np.full((n, c), 1024, dtype=np.int64)
            x[:, 0] += (np.arange(n) % 50) * 20
            if what == "rail":
                x[::7] = 2**15 - 1
            lead_off = np.ones(c, bool) if what == "lead_off" else None
            for a in range(0, n, 10):
                put(enc.data(s + a, x[a : a + 10], fmt, lead_off))
            s += n
        elif kind == "jump":
            s = min(max(0, s + op[1]), 2**64 - 10**6)
        elif kind == "lose":
            lose += op[1]
        elif kind == "heartbeat":
            put(enc.heartbeat(s))
        else:
            put(enc.event("marker", 7, s))
    out.append(enc.heartbeat(s))
    return b"".join(out)


def _model_can_use(d: Descriptor, clf) -> bool:
    from edge_ecg.runtime.stream import StreamClassifier

    try:
        StreamClassifier(
            clf, fs_hz=d.fs_hz, lead_names=d.channel_names, uv_per_count=d.uv_per_count
        )
    except DeviceMismatchError:
        return False
    return True


def _lost_ranges(events) -> list[tuple[int, int]]:
    out = []
    for e in events:
        if isinstance(e, Gap):
            out.append((e.first_sample, e.end_sample))
        elif isinstance(e, Overflow):
            out.extend(e.ranges)
    return out


def check_session(ops, seed, drop) -> Counter:
    """Decode the device's bytes, optionally drop a run of events as a full queue would (with the
    ``Overflow`` marker a ``SerialSource`` puts in their place), and feed a ``StreamSession``."""
    from edge_ecg.runtime.session import StreamSession, coalesce
    from edge_ecg.runtime.stream import UNREADABLE

    clf, _ = _runtime()
    dec = FrameDecoder()
    # the device greets with a descriptor the model can use, as the simulator does
    events = dec.feed(_device_frames([("descriptor", 360.0, 0, 5.0, 1024, "int16"), *ops]))
    if drop and len(events) > 2:
        rng = np.random.default_rng(seed)
        a = int(rng.integers(0, len(events) - 1))
        b = int(rng.integers(a + 1, min(len(events), a + 20) + 1))
        gone = events[a:b]
        ranges = tuple(
            (e.first_sample, e.end_sample) for e in gone if isinstance(e, (DataBlock, Gap))
        )
        n = sum(e.n_samples for e in gone if isinstance(e, DataBlock))
        events = events[:a] + [Overflow(len(gone), n, ranges)] + events[b:]
    session = StreamSession(clf)
    results = []
    # (epoch, device rate, result) of every labelled beat, and the lost ranges of each epoch: an
    # epoch ends where the device counter starts again (the same sample numbers recur)
    labelled, lost, epoch, last_end = [], {0: []}, 0, None
    for ev in coalesce(events):
        unannounced_reset = (
            isinstance(ev, DataBlock) and last_end is not None and ev.first_sample < last_end
        )
        if unannounced_reset:  # its CounterReset was dropped with the queue's oldest events
            epoch += 1
            lost[epoch] = []
        if isinstance(ev, (DataBlock, Gap)):
            last_end = ev.end_sample
        if isinstance(ev, Gap):
            lost[epoch].append((ev.first_sample, ev.end_sample))
        elif isinstance(ev, Overflow):
            lost[epoch].extend(ev.ranges)
        elif (
            isinstance(ev, DataBlock)
            and session.descriptor is not None
            and ev.n_channels != session.descriptor.n_channels
        ):
            lost[epoch].append((ev.first_sample, ev.end_sample))  # received, but not as described
        fs_before = session.sc.fs_dev if session.sc is not None else None
        try:
            out = session.handle(ev)
        except DeviceMismatchError:
            # a typed refusal, and only ever of a device the model cannot use
            assert isinstance(ev, Descriptor) and not _model_can_use(ev, clf)
            return Counter(cases=1, refused=1)
        results += out
        fs = fs_before if isinstance(ev, Descriptor) else session.sc.fs_dev if session.sc else None
        if not unannounced_reset:  # its results mix two epochs; the others are checked
            labelled += [(epoch, fs, r) for r in out if r.quality == "ok"]
        if isinstance(ev, CounterReset):
            epoch += 1
            lost[epoch] = []
    out = session.finish()
    results += out
    labelled += [(epoch, session.sc.fs_dev, r) for r in out if r.quality == "ok"]
    s = session.stats
    # every result is well formed, and counted
    assert s.results == len(results) == sum(s.class_counts.values())
    assert s.unreadable == sum(r.quality == UNREADABLE for r in results)
    for r in results:
        if r.quality == "ok":
            assert r.label in clf.classes and 0.0 <= r.prob <= 1.0 and r.reason is None
            assert math.isclose(sum(r.probs.values()), 1.0, rel_tol=1e-4)
        else:
            assert r.label == UNREADABLE and r.reason
    # no beat whose window touches a lost sample is labelled
    beat = clf.manifest.input.beat
    for ep, fs, r in labelled:
        a = r.sample - math.ceil(beat.before_s * fs)
        b = r.sample + math.ceil(beat.after_s * fs)
        assert not any(lo < b and a < hi for lo, hi in merge_ranges(lost[ep])), (r, lost[ep])
    # the session's account is the decoder's (no queue drops): every decoded sample is
    # classified, or arrived before the device described itself, or did not fit its description
    if not drop:
        d = dec.stats
        assert s.samples_in + s.samples_before_descriptor + s.samples_mismatched == d.samples_ok
        assert session.samples_lost == d.samples_lost + s.samples_mismatched
    return Counter(
        cases=1,
        events=len(events),
        results=len(results),
        labelled=sum(r.quality == "ok" for r in results),
        unreadable=s.unreadable,
    )


@settings(FUZZ, max_examples=60)
@given(session_case)
def test_stream_session_survives_anything_the_decoder_emits(case):
    check_session(*case)


def test_counters_past_2_63_are_classified_without_overflow():
    """Device counters are uint64 on the wire; the runtime's index arithmetic must not overflow."""
    ops = [("jump", 2**63 + 11), ("ecg", 4000, 1000, 10), ("lose", 3), ("ecg", 3000, 5000, 10)]
    got = check_session(ops, 0, False)
    assert got["labelled"] >= 5


def test_a_backlog_from_a_low_rate_device_is_classified_not_refused():
    """A 250 Hz device's backlog, coalesced into 4096-sample blocks, is 5,900 samples at the
    model's 360 Hz: more than the 12 s ring buffer. It used to raise SignalError mid-stream."""
    ops = [("descriptor", 250.0, 0, 5.0, 1024, "int16"), ("ecg", 6000, 0, 50)] * 3
    got = check_session(ops, 0, False)
    assert got["labelled"] >= 20 and not got["refused"]


def test_expected_account_clips_faulted_ranges_that_straddle_the_window():
    """Faulted ranges outside the receiver's window are invisible, and a merged faulted range
    that crosses the window's edge counts only with its outside part."""
    from types import SimpleNamespace as NS

    def frame(first, n, fate):
        return NS(frame_type="data", first_sample=first, n_samples=n, fate=fate)

    # frames: [0,10) faulted, [10,20) intact, [20,30) faulted, [30,40) intact, [40,50) faulted
    log = [frame(0, 10, "faulted"), frame(10, 10, "sent"), frame(20, 10, "dropped"),
           frame(30, 10, "sent"), frame(40, 10, "faulted")]
    want, invisible = expected_account(NS(frame_log=log, samples_produced=50))
    assert want.window == (10, 40) and want.lost == [(20, 30)]
    assert invisible == [(0, 10), (40, 50)]
    # a heartbeat announcing sample 15 opens the window inside the merged faulted range [0, 20)
    log = [frame(0, 10, "faulted"), NS(frame_type="heartbeat", first_sample=15, n_samples=0, fate="sent"),
           frame(10, 10, "faulted"), frame(20, 10, "sent")]
    want, invisible = expected_account(NS(frame_log=log, samples_produced=30))
    assert want.window == (15, 30) and want.lost == [(15, 20)]
    assert invisible == [(0, 15)]
