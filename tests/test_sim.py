"""The device simulator: pacing, configuration checks, the faulted byte stream against its own
truth (no port), the pty (raw bytes, waiting for the reader), the JSONL fault log and the CLI.

The end-to-end fault matrix (simulator on a pty -> SerialSource) is in test_sources.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import numpy as np
import pytest
import serial

from edge_ecg.errors import ConfigError, ProtocolError
from edge_ecg.protocol import DataBlock, Descriptor, FrameDecoder, Gap, Heartbeat, TextDecoder
from edge_ecg.runtime.sources import SerialSource
from edge_ecg.sim import (
    BurstDrop,
    FaultPlan,
    Pacer,
    Pause,
    Replug,
    SimConfig,
    Simulator,
    Stall,
    Unplug,
    Write,
)
from edge_ecg.sim.truth import (
    expected_account,
    faulted_ranges,
    merge_ranges,
    receiver_account,
    subtract,
)

FS = 360.0


@pytest.fixture(scope="module")
def mitdb_100(data_dir):
    """The first 60 s of MIT-BIH record 100 (2 leads, 360 Hz, int32 counts)."""
    from edge_ecg.data.records import read_record

    rec = read_record(data_dir / "mitdb" / "100", annotator=None)
    return rec, np.asarray(rec.d_signal[: int(60 * rec.fs_hz)])


def make_sim(counts, config=None, faults=None, **kw) -> Simulator:
    return Simulator(
        counts,
        FS,
        [5.0, 5.0],
        ("MLII", "V5"),
        baseline_counts=[1024, 1024],
        config=config or SimConfig(speed=None, keep_frame_log=True),
        faults=faults,
        **kw,
    )


# --- pacing ---------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_pacer_deadlines_are_absolute_and_catch_up():
    clock = FakeClock()
    pacer = Pacer(360.0, clock=clock)
    pacer.anchor(0)
    assert pacer.delay_s(360) == pytest.approx(1.0)
    clock.t += 5.0  # the writer was blocked for 5 s
    assert pacer.delay_s(360) == 0.0 and pacer.delay_s(3600) == pytest.approx(5.0)
    # being late did not move later deadlines: no drift accumulates
    assert pacer.due_s(360 * 50) == pytest.approx(150.0)


@pytest.mark.parametrize("drift_pct", [1.0, -1.0])
def test_clock_drift_changes_the_pace_not_the_counter(drift_pct):
    clock = FakeClock()
    pacer = Pacer(FS * (1 + drift_pct / 100), clock=clock)
    pacer.anchor(0)
    # 100 s of nominal samples arrive after 100 / (1 + drift) s of wall time
    assert pacer.due_s(int(100 * FS)) - 100.0 == pytest.approx(100.0 / (1 + drift_pct / 100))
    counts = np.zeros((720, 2), np.int32)
    sim = make_sim(counts, faults=FaultPlan(clock_drift_pct=drift_pct))
    events = FrameDecoder().feed(sim.byte_stream())
    assert sum(e.n_samples for e in events if isinstance(e, DataBlock)) == 720
    assert [e.fs_hz for e in events if isinstance(e, Descriptor)][0] == FS  # nominal rate announced
    assert sim.fault_log[0].kind == "clock_drift" and sim.fault_log[0].value == drift_pct


def test_max_speed_has_no_pacing():
    assert Pacer(None).delay_s(10**9) == 0.0


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"speed": 0}, "speed"),
        ({"samples_per_frame": 0}, "samples_per_frame"),
        ({"descriptor_every_frames": -1}, "descriptor_every_frames"),
        ({"sample_format": "int12"}, "sample_format"),
    ],
)
def test_sim_config_rejects_bad_values(kwargs, match):
    with pytest.raises((ConfigError, ProtocolError), match=match):
        SimConfig(**kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FaultPlan(byte_loss_rate=1.5), "byte_loss_rate"),
        (lambda: FaultPlan(clock_drift_pct=80), "clock_drift_pct"),
        (lambda: BurstDrop(1.0, 0), "n_frames"),
        (lambda: Stall(1.0, 0.0), "duration_s"),
        (lambda: Unplug(-1.0, 1.0), "at_s"),
        (lambda: FaultPlan(stalls=(Unplug(1.0, 1.0),)), "Stall"),
    ],
)
def test_fault_plan_rejects_bad_values(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_simulator_rejects_counts_outside_the_format():
    counts = np.array([[40000, 0]], np.int32)
    with pytest.raises(ConfigError, match=r"outside int16 .*send them as int24"):
        make_sim(counts, config=SimConfig(sample_format="int16"))
    assert make_sim(counts).config.sample_format == "int24"  # auto: the width the counts need
    assert make_sim(counts // 4).config.sample_format == "int16"
    with pytest.raises(ConfigError, match="outside int24"):
        make_sim(counts * 300)
    with pytest.raises(ProtocolError, match="1 to 8 printable ASCII"):
        Simulator(np.zeros((4, 1), np.int32), FS, 1.0, ("a-very-long-name",))
    with pytest.raises(ConfigError, match="lead names"):
        Simulator(np.zeros((4, 2), np.int32), FS, 1.0, ("I",))


# --- the byte stream and its truth, without a port ------------------------------------------------


def test_fault_free_stream_carries_the_record_bit_for_bit(mitdb_100):
    rec, counts = mitdb_100
    sim = Simulator.from_record(
        rec, duration_s=60.0, config=SimConfig(speed=None, keep_frame_log=True)
    )
    events = FrameDecoder().feed(sim.byte_stream())
    blocks = [e for e in events if isinstance(e, DataBlock)]
    assert np.array_equal(np.concatenate([b.counts for b in blocks]), counts)
    assert [b.first_sample for b in blocks] == list(range(0, len(counts), 10))
    d = events[0]
    assert isinstance(d, Descriptor) and d.channel_names == ("MLII", "V5") and d.fs_hz == 360.0
    np.testing.assert_allclose(blocks[5].uv(), (blocks[5].counts - 1024) * 5.0)
    assert isinstance(events[-1], Heartbeat) and events[-1].next_sample == len(counts)
    assert not [e for e in events if isinstance(e, Gap)]


FAULT_PLANS = {
    "byte_loss_1e-3": FaultPlan(byte_loss_rate=1e-3, seed=11),
    "byte_loss_1e-2": FaultPlan(byte_loss_rate=1e-2, seed=12),
    "bit_flips_1e-3": FaultPlan(bit_flip_rate=1e-3, seed=13),
    "burst": FaultPlan(bursts=(BurstDrop(3.0, 5), BurstDrop(40.0, 30)), seed=14),
    "unplug": FaultPlan(unplugs=(Unplug(20.0, 1.5),)),
    "everything": FaultPlan(
        byte_loss_rate=2e-3,
        bit_flip_rate=2e-3,
        bursts=(BurstDrop(10.0, 3),),
        stalls=(Stall(5.0, 0.1),),
        unplugs=(Unplug(30.0, 0.5),),
        clock_drift_pct=1.0,
        seed=15,
    ),
}


@pytest.mark.parametrize("name", list(FAULT_PLANS))
def test_decoder_account_equals_the_fault_log(mitdb_100, name):
    rec, counts = mitdb_100
    sim = Simulator.from_record(
        rec,
        duration_s=60.0,
        config=SimConfig(speed=None, keep_frame_log=True),
        faults=FAULT_PLANS[name],
    )
    dec = FrameDecoder()
    events = dec.feed(sim.byte_stream())
    got = receiver_account(events)
    want, invisible = expected_account(sim)
    assert got == want
    # received + lost + what no receiver could see == everything the device produced
    assert got.n_received + got.n_lost + sum(b - a for a, b in invisible) == len(counts)
    # the frame-level truth is the fault log's: every faulted data range is lost unless the
    # exact frame survived on the wire (a lost edge byte stood in for by its equal neighbour)
    recovered = merge_ranges(
        (f.first_sample, f.first_sample + f.n_samples)
        for f in sim.frame_log
        if f.fate == "recovered" and f.n_samples
    )
    faulted = faulted_ranges(sim.fault_log)
    assert merge_ranges(got.lost + invisible) == merge_ranges(
        piece for r in faulted for piece in subtract(r, recovered)
    )
    for b in (e for e in events if isinstance(e, DataBlock)):
        assert np.array_equal(b.counts, counts[b.first_sample : b.end_sample])
    assert dec.stats.balanced() and dec.stats.samples_lost == got.n_lost


def test_fault_log_kinds_and_positions():
    counts = np.zeros((3600, 2), np.int32)
    plan = FaultPlan(
        bursts=(BurstDrop(2.0, 3),), stalls=(Stall(1.0, 0.25),), unplugs=(Unplug(5.0, 0.3),)
    )
    sim = make_sim(counts, faults=plan)
    steps = list(sim.steps())
    log = {r.kind: r for r in sim.fault_log}
    assert log["stall"].first_sample == 360 and log["stall"].value == 0.25
    assert (
        log["burst_drop"].first_sample,
        log["burst_drop"].n_samples,
        log["burst_drop"].n_frames,
    ) == (720, 30, 3)
    # 0.3 s at 360 Hz = 108 samples, rounded up to whole 10-sample frames
    assert (log["unplug"].first_sample, log["unplug"].n_samples) == (1800, 110)
    pauses = [s for s in steps if isinstance(s, Pause)]
    replugs = [s for s in steps if isinstance(s, Replug)]
    assert [p.duration_s for p in pauses] == [0.25]
    assert [(r.next_sample, r.wall_delay_s) for r in replugs] == [(1910, 0.3)]
    assert all(isinstance(s, (Write, Pause, Replug)) for s in steps)


def test_random_faults_are_repeatable_by_seed():
    counts = np.arange(7200, dtype=np.int32).reshape(-1, 2) % 2000
    a = make_sim(
        counts, faults=FaultPlan(byte_loss_rate=1e-2, bit_flip_rate=1e-2, seed=3)
    ).byte_stream()
    b = make_sim(
        counts, faults=FaultPlan(byte_loss_rate=1e-2, bit_flip_rate=1e-2, seed=3)
    ).byte_stream()
    c = make_sim(
        counts, faults=FaultPlan(byte_loss_rate=1e-2, bit_flip_rate=1e-2, seed=4)
    ).byte_stream()
    assert a == b and a != c


def test_text_mode_stream():
    counts = np.array([[1, -2], [30, 400], [-5000, 6]] * 40, np.int32)
    sim = make_sim(counts, config=SimConfig(speed=None, text_mode=True))
    data = sim.byte_stream()
    assert data.startswith(b"1,-2\r\n30,400\r\n")
    events = TextDecoder(FS, 5.0, 2).feed(data)
    got = np.concatenate([e.counts for e in events if isinstance(e, DataBlock)])
    assert np.array_equal(got, counts)


# --- on a pty -------------------------------------------------------------------------------------


def test_pty_is_raw_and_waits_for_the_reader(tmp_path):
    """Bytes a cooked tty would translate or act on (CR, LF, XON/XOFF, ^C, ^D, DEL) arrive
    untouched, and nothing is lost to pyserial's input flush on open: the first frame is there."""
    nasty = np.array([[0x0A0D, 0x1311], [0x0403, 0x7F1A], [-0x0D0A, 0x1113]] * 200, np.int32)
    sim = make_sim(nasty, config=SimConfig(speed=None))
    expected = sim.byte_stream()
    link = tmp_path / "ttyRAW"
    handle = sim.start(link)
    handle.wait_ready()
    assert link.is_symlink()
    port = serial.serial_for_url(str(link), timeout=2.0)
    try:
        got = port.read(len(expected))
    finally:
        port.close()
    assert handle.join(30)
    assert got == expected
    assert not link.exists()  # the simulator removes its link when done


def test_jsonl_fault_log_matches_the_in_memory_log(tmp_path):
    counts = np.zeros((1800, 2), np.int32)
    path = tmp_path / "faults.jsonl"
    sim = make_sim(
        counts,
        faults=FaultPlan(byte_loss_rate=5e-3, bursts=(BurstDrop(1.0, 2),), seed=1),
        fault_log_path=path,
    )
    handle = sim.start(tmp_path / "tty")
    handle.wait_ready()
    with SerialSource(tmp_path / "tty"):
        assert handle.join(30)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [json.loads(r.to_json()) for r in sim.fault_log]
    assert Counter(r["kind"] for r in lines)["burst_drop"] == 1


def test_cli_simulate_replays_a_record_to_a_reader(data_dir, tmp_path, capsys):
    from edge_ecg.cli import main

    link = tmp_path / "ttyECG"
    result: dict = {}
    t = threading.Thread(
        target=lambda: result.setdefault(
            "rc",
            main(
                [
                    "simulate",
                    "--record",
                    str(data_dir / "mitdb" / "100"),
                    "--duration-s",
                    "2",
                    "--speed",
                    "max",
                    "--link",
                    str(link),
                    "--burst",
                    "1:2",
                    "--fault-log",
                    str(tmp_path / "f.jsonl"),
                ]
            ),
        ),
        daemon=True,
    )
    t.start()
    deadline = threading.Event()
    for _ in range(500):  # the link appears once the record is read and the pty made
        if link.is_symlink() or not t.is_alive():
            break
        deadline.wait(0.01)
    with SerialSource(link) as src:
        t.join(30)
    events = src.drain()
    assert result.get("rc") == 0
    blocks = [e for e in events if isinstance(e, DataBlock)]
    gaps = [e for e in events if isinstance(e, Gap)]
    assert sum(b.n_samples for b in blocks) == 720 - 20 and gaps == [Gap(360, 20)]
    out = capsys.readouterr()
    assert str(link) in out.out and "burst_drop x1" in out.err
