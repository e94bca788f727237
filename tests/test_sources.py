"""SerialSource and FileReplaySource.

The main check: the device simulator replays the first 60 s of MIT-BIH record 100 on a real
pseudo-terminal at maximum speed with one kind of fault at a time; a SerialSource reads it
through pyserial exactly as it would a /dev/ttyUSB0; the receiver's account (decoded sample
ranges + reported losses) must equal the simulator's truth exactly, at frame granularity, and
every decoded sample must equal the record's.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_ecg.errors import ConfigError, PortBusyError, PortNotFoundError, RecordError
from edge_ecg.protocol import DataBlock, Descriptor, FrameDecoder, FrameEncoder, Gap, TextDecoder
from edge_ecg.runtime.sources import (
    Disconnected,
    FileReplaySource,
    Overflow,
    Reconnected,
    SerialSource,
    SourceConfig,
)
from edge_ecg.sim import BurstDrop, FaultPlan, PtyPort, SimConfig, Simulator, Stall, Unplug
from edge_ecg.sim.truth import expected_account, receiver_account

# a queue that never overflows in these tests, and quick re-open attempts
BIG_QUEUE = SourceConfig(max_queued_events=1_000_000, backoff_initial_s=0.02, backoff_max_s=0.2)


@pytest.fixture(scope="module")
def record_100(data_dir):
    from edge_ecg.data.records import read_record

    return read_record(data_dir / "mitdb" / "100", annotator=None)


def run_through_pty(
    record, tmp_path, faults=None, *, duration_s=60.0, speed=None, decoder=None, text=False
):
    """Simulator on a pty -> SerialSource; returns (events, sim, wall seconds)."""
    config = SimConfig(speed=speed, keep_frame_log=True, text_mode=text)
    sim = Simulator.from_record(record, duration_s=duration_s, config=config, faults=faults)
    link = tmp_path / "ttyECG"
    t0 = time.monotonic()
    handle = sim.start(link)
    handle.wait_ready()
    with SerialSource(link, decoder, BIG_QUEUE) as src:
        assert handle.join(120), "simulator did not finish"
    elapsed = time.monotonic() - t0
    return src.drain(), sim, elapsed, src.stats


def check_account(events, sim, counts):
    """Receiver's account == simulator's truth; every decoded sample equals the record's."""
    got = receiver_account(events)
    want, invisible = expected_account(sim)
    assert got == want
    # the link itself lost nothing: the reader was attached throughout and drained at the end
    assert not [r for r in sim.fault_log if r.kind in ("reader_detached", "undrained")]
    assert got.n_received + got.n_lost + sum(b - a for a, b in invisible) == len(counts)  # == sent
    for b in (e for e in events if isinstance(e, DataBlock)):
        assert np.array_equal(b.counts, counts[b.first_sample : b.end_sample])
    return got, invisible


PTY_FAULTS = {
    "none": None,
    "byte_loss_1e-3": FaultPlan(byte_loss_rate=1e-3, seed=21),
    "byte_loss_1e-2": FaultPlan(byte_loss_rate=1e-2, seed=22),
    "bit_flips_1e-3": FaultPlan(bit_flip_rate=1e-3, seed=23),
    "burst_loss": FaultPlan(
        bursts=(BurstDrop(5.0, 4), BurstDrop(31.0, 50), BurstDrop(59.9, 2)), seed=24
    ),
    "stall_0.5s": FaultPlan(stalls=(Stall(12.0, 0.5),)),
    "unplug_replug": FaultPlan(unplugs=(Unplug(20.0, 0.3),)),
}


@pytest.mark.parametrize("name", list(PTY_FAULTS))
def test_mitdb_over_pty_receiver_account_equals_truth(record_100, tmp_path, name):
    faults = PTY_FAULTS[name]
    events, sim, elapsed, stats = run_through_pty(record_100, tmp_path, faults)
    counts = np.asarray(record_100.d_signal[: 60 * 360])
    got, invisible = check_account(events, sim, counts)
    if name == "none":
        blocks = [e for e in events if isinstance(e, DataBlock)]
        assert np.array_equal(np.concatenate([b.counts for b in blocks]), counts)  # bit for bit
        assert got.lost == [] and invisible == []
        np.testing.assert_allclose(blocks[0].uv(), (counts[:10] - 1024) * 5.0)
    if name == "burst_loss":  # whole frames, known exactly, including the tail
        assert got.lost == [(1800, 1840), (11160, 11660), (21570, 21590)] and invisible == []
    if name == "stall_0.5s":
        assert got.lost == [] and elapsed >= 0.5
        # a silent link is not an unplug
        assert not [e for e in events[:-1] if isinstance(e, Disconnected)]
    if name == "unplug_replug":
        kinds = [type(e) for e in events if isinstance(e, (Disconnected, Reconnected, Gap))]
        assert kinds[:3] == [Disconnected, Reconnected, Gap]
        unplug = [r for r in sim.fault_log if r.kind == "unplug"][0]
        assert [g for g in events if isinstance(g, Gap)] == [
            Gap(unplug.first_sample, unplug.n_samples)
        ]
        assert unplug.n_samples == 110  # 0.3 s at 360 Hz, rounded up to whole frames
        assert stats.reconnects == 1
    if name.startswith("byte_loss") or name.startswith("bit_flips"):
        assert got.n_lost > 0
    assert stats.decoder.balanced()


@pytest.mark.parametrize("drift_pct", [1.0, -1.0])
def test_clock_drift_over_pty_keeps_every_sample(record_100, tmp_path, drift_pct):
    # paced (not max speed), so the drifted clock sets the pace: 10 s at 20x ~ 0.5 s
    faults = FaultPlan(clock_drift_pct=drift_pct)
    events, sim, elapsed, _ = run_through_pty(
        record_100, tmp_path, faults, duration_s=10.0, speed=20.0
    )
    counts = np.asarray(record_100.d_signal[: 10 * 360])
    got, _ = check_account(events, sim, counts)
    assert got.n_received == len(counts) and got.lost == []
    # paced by the device clock: never faster than its (drifted) rate allows
    assert elapsed >= 10.0 / 20.0 / (1 + drift_pct / 100) - 0.05
    blocks = [e for e in events if isinstance(e, DataBlock)]
    # timestamps come from the counter and the nominal rate, not from arrival
    assert blocks[-1].t_s == pytest.approx(blocks[-1].first_sample / 360.0)


@pytest.mark.slow
def test_long_stall_is_not_a_disconnect(record_100, tmp_path):
    events, sim, elapsed, stats = run_through_pty(
        record_100, tmp_path, FaultPlan(stalls=(Stall(10.0, 5.0),)), duration_s=30.0
    )
    got, _ = check_account(events, sim, np.asarray(record_100.d_signal[: 30 * 360]))
    assert got.lost == [] and elapsed >= 5.0 and stats.disconnects <= 1  # only the final close


def test_text_mode_over_pty(record_100, tmp_path):
    events, sim, _, _ = run_through_pty(
        record_100,
        tmp_path,
        duration_s=5.0,
        text=True,
        decoder=TextDecoder(360.0, 5.0, baseline_counts=1024),
    )
    counts = np.asarray(record_100.d_signal[: 5 * 360])
    blocks = [e for e in events if isinstance(e, DataBlock)]
    assert np.array_equal(np.concatenate([b.counts for b in blocks]), counts)
    assert isinstance(events[0], Descriptor)


# --- opening errors --------------------------------------------------------------------------------


def test_missing_port_is_port_not_found(tmp_path):
    missing = tmp_path / "ttyNOPE"
    with pytest.raises(PortNotFoundError, match="ttyNOPE"):
        SerialSource(missing)


def test_busy_port_is_port_busy(tmp_path):
    pty = PtyPort(tmp_path / "ttyBUSY")
    pty.open()
    try:
        with SerialSource(tmp_path / "ttyBUSY"):
            with pytest.raises(PortBusyError, match="ttyBUSY"):
                SerialSource(tmp_path / "ttyBUSY")
    finally:
        pty.close()


def test_bad_url_and_bad_config_are_config_errors():
    with pytest.raises(ConfigError, match="nosuchscheme"):
        SerialSource("nosuchscheme://x")
    with pytest.raises(ConfigError, match="backoff_max_s"):
        SourceConfig(backoff_initial_s=1.0, backoff_max_s=0.5)


# --- loop:// ---------------------------------------------------------------------------------------


def _wait_for(pred, timeout_s: float = 5.0) -> bool:
    import threading

    ev = threading.Event()
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            return False
        ev.wait(0.005)
    return True


def test_loop_url_round_trip_and_iteration_timeout():
    enc = FrameEncoder()
    d = Descriptor(250.0, ("A",), [2.0], [0], next_sample=0)
    payload = enc.descriptor(d) + b"".join(enc.data(5 * k, np.full((5, 1), k)) for k in range(4))
    with SerialSource("loop://") as src:
        src.serial.write(payload)
        events = list(src.iter_events(timeout_s=0.5))
        assert (
            list(src.iter_events(timeout_s=0.05)) == []
        )  # nothing more: returns after the timeout
    assert isinstance(events[0], Descriptor)
    assert [e.first_sample for e in events[1:]] == [0, 5, 10, 15]
    assert events[-1].uv().tolist() == [[6.0]] * 5
    assert src.stats.bytes_read == len(payload) and not src.is_alive
    src.close()  # idempotent


def test_overflow_drops_oldest_and_accounts_for_every_sample():
    enc = FrameEncoder()
    payload = b"".join(enc.data(10 * k, np.full((10, 1), k)) for k in range(20))
    src = SerialSource("loop://", config=SourceConfig(max_queued_events=5))
    try:
        src.serial.write(payload)
        assert _wait_for(lambda: src.stats.bytes_read == len(payload))
    finally:
        src.close()
    events = src.drain()
    assert (
        isinstance(events[0], Overflow) and events[0].n_events == 15 and events[0].n_samples == 150
    )
    assert [e.first_sample for e in events[1:]] == [150, 160, 170, 180, 190]
    acct = receiver_account(events)
    assert acct.received == [(150, 200)] and acct.lost == [(0, 150)]
    assert src.stats.events_dropped == 15 and src.stats.samples_dropped == 150


# --- file replay -----------------------------------------------------------------------------------


def test_file_replay_equals_one_shot_decoding(tmp_path):
    counts = (np.arange(2000, dtype=np.int32).reshape(-1, 2) % 700) - 350
    sim = Simulator(
        counts,
        360.0,
        5.0,
        ("MLII", "V5"),
        config=SimConfig(speed=None),
        faults=FaultPlan(byte_loss_rate=5e-3, seed=5),
    )
    data = sim.byte_stream()
    path = tmp_path / "capture.bin"
    path.write_bytes(data)
    want = FrameDecoder().feed(data)
    with FileReplaySource(path, chunk_bytes=7) as src:
        got = list(src)
    assert got == want
    assert src.stats.bytes_read == len(data) and src.stats.decoder.balanced()


def test_file_replay_missing_file(tmp_path):
    with pytest.raises(RecordError, match="capture.bin"):
        FileReplaySource(tmp_path / "capture.bin")


def test_reader_closing_and_a_new_reader_is_logged_and_greeted_with_a_descriptor(tmp_path):
    counts = (np.arange(360 * 60 * 2, dtype=np.int32).reshape(-1, 2) % 1500) - 700
    sim = Simulator(counts, 360.0, 5.0, ("MLII", "V5"), config=SimConfig(speed=None))
    handle = sim.start(tmp_path / "tty")
    handle.wait_ready()
    with SerialSource(tmp_path / "tty", config=BIG_QUEUE) as first:
        assert _wait_for(lambda: first.stats.decoder.samples_ok >= 1000)
    # the simulator blocks on the full pty until a new reader opens; it then flushes the old bytes
    with SerialSource(tmp_path / "tty", config=BIG_QUEUE) as second:
        assert handle.join(60)
    events = second.drain()
    assert "reader_detached" in [r.kind for r in sim.fault_log]
    assert any(isinstance(e, Descriptor) for e in events)  # the new reader learns the scale
    blocks = [e for e in events if isinstance(e, DataBlock)]
    assert blocks[-1].end_sample == len(counts)
    for b in blocks:
        assert np.array_equal(b.counts, counts[b.first_sample : b.end_sample])
