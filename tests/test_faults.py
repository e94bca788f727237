"""Failure behaviour of the whole stream runtime, checked against the simulator's truth.

A MIT-BIH record is replayed by the device simulator on a real pseudo-terminal with one fault at a
time; a ``SerialSource`` reads it through pyserial and a ``StreamSession`` runs the bundled model,
exactly the product path of ``edge-ecg stream``. For every fault the run must show:

- the runtime stays up to the end of the record (and reconnects after an unplug);
- the samples it reports lost equal, sample for sample, what the simulator destroyed as far as any
  receiver can see it (the simulator's frame log; the fault log agrees with it);
- no beat whose window (the manifest's ``before_s``/``after_s`` around its R peak) touches a lost
  sample carries a label: it is ``unreadable`` or not emitted at all;
- labels resume after the fault.

Random byte loss and bit flips are applied to one stretch of the record (:class:`NoisyStretch`), so
that "after the fault" exists. ``benchmarks/fault_matrix.py`` runs the same cases (the harness
in ``edge_ecg.sim.fault_harness``) on five minutes of record 100 and prints the table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_ecg.sim.fault_harness import FaultCase, FaultRun, failures, run_case
from edge_ecg.sim.faults import BurstDrop, FaultPlan, Stall, Unplug
from edge_ecg.sim.simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[1]


def check_run(run: FaultRun, *, resume_within_s: float = 6.0) -> None:
    assert failures(run, resume_within_s=resume_within_s) == []


# --- the fast matrix ----------------------------------------------------------------------------

NOISE = (12.0, 24.0)  # the noisy stretch of the 40 s excerpt
FAST_MATRIX = {
    "none": FaultCase("none"),
    "byte loss 1e-3": FaultCase("byte loss 1e-3", FaultPlan(byte_loss_rate=1e-3, seed=11), NOISE),
    "byte loss 1e-2": FaultCase("byte loss 1e-2", FaultPlan(byte_loss_rate=1e-2, seed=12), NOISE),
    "bit flips 1e-3": FaultCase("bit flips 1e-3", FaultPlan(bit_flip_rate=1e-3, seed=13), NOISE),
    "burst loss": FaultCase("burst loss", FaultPlan(bursts=(BurstDrop(15.0, 40),))),
    "stall 0.5 s": FaultCase("stall 0.5 s", FaultPlan(stalls=(Stall(15.0, 0.5),))),
    "unplug/replug": FaultCase("unplug/replug", FaultPlan(unplugs=(Unplug(15.0, 0.5),))),
    "clock drift +1 %": FaultCase("clock drift +1 %", FaultPlan(clock_drift_pct=1.0), speed=20.0),
    "clock drift -1 %": FaultCase("clock drift -1 %", FaultPlan(clock_drift_pct=-1.0), speed=20.0),
}


@pytest.fixture(scope="module")
def record_100(data_dir):
    from edge_ecg.data.records import read_record

    return read_record(data_dir / "mitdb" / "100", annotator=None)


@pytest.fixture(scope="module")
def clf():
    from edge_ecg.runtime.classifier import Classifier, default_model_path

    return Classifier(default_model_path("onnxruntime"))


@pytest.fixture(scope="module")
def baseline(record_100, clf, tmp_path_factory):
    return run_case(record_100, clf, FAST_MATRIX["none"], tmp_path_factory.mktemp("pty") / "tty")


@pytest.mark.parametrize("name", [n for n in FAST_MATRIX if n != "none"])
def test_fault_matrix_through_the_stream_runtime(record_100, clf, baseline, tmp_path, name):
    run = run_case(record_100, clf, FAST_MATRIX[name], tmp_path / "ttyECG")
    check_run(run)
    s = run.summary
    if name.startswith(("byte loss", "bit flips")):
        assert run.lost_truth > 0 and run.unreadable > 0
        # the noise is over: from then on the runtime labels as much as without any fault
        clean = [
            r for r in baseline.results if r.quality == "ok" and r.sample >= run.fault_end + 3 * 360
        ]
        now = [r for r in run.results if r.quality == "ok" and r.sample >= run.fault_end + 3 * 360]
        assert [r.sample for r in now] == [r.sample for r in clean]
        assert [r.label for r in now] == [r.label for r in clean]
    if name == "burst loss":  # 40 frames of 10 samples, whole frames, known exactly
        assert run.lost_ranges == [(5400, 5800)] and run.lost_reported == 400
        assert (
            s["unreadable_reasons"].get("gap", 0)
            + s["unreadable_reasons"].get("settling after start or gap", 0)
            >= 1
        )
    if name == "stall 0.5 s":  # a silent link loses nothing, and is not an unplug
        assert run.lost_truth == 0 and run.disconnects_before_end == 0
        assert run.elapsed_s >= 0.5
        assert [r.label for r in run.results] == [r.label for r in baseline.results]
    if name == "unplug/replug":
        assert run.reconnects == 1 and run.disconnects_before_end == 1
        assert run.lost_truth == 180  # 0.5 s at 360 Hz, in whole frames
    if name.startswith("clock drift"):  # the pace changes, the counter does not: nothing lost
        assert run.lost_truth == 0 and s["samples_in"] == run.sent
        assert [(r.sample, r.label) for r in run.results] == [
            (r.sample, r.label) for r in baseline.results
        ]


def test_no_fault_baseline_labels_everything(baseline):
    check_run(baseline)
    assert baseline.lost_truth == 0 and baseline.summary["samples_in"] == baseline.sent
    assert baseline.labelled >= 45  # record 100: ~75 bpm, 40 s, less the first seconds


@pytest.mark.slow
def test_five_second_stall(record_100, clf, baseline, tmp_path):
    run = run_case(
        record_100,
        clf,
        FaultCase("stall 5 s", FaultPlan(stalls=(Stall(15.0, 5.0),))),
        tmp_path / "ttyECG",
    )
    check_run(run)
    assert run.elapsed_s >= 5.0 and run.lost_truth == 0 and run.disconnects_before_end == 0
    assert [r.label for r in run.results] == [r.label for r in baseline.results]


# --- the CLI: `edge-ecg stream` against `edge-ecg simulate`, with an unplug ------------------------


def _wait(pred, timeout_s: float) -> bool:
    ev = threading.Event()
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            return False
        ev.wait(0.05)
    return True


def test_stream_cli_survives_an_unplug_and_reports_the_exact_gap(data_dir, tmp_path):
    """Two processes, as a user would run them: the stream process stays up across the unplug,
    reconnects, reports exactly the samples the simulator's fault log says it destroyed, never
    labels a beat overlapping them, and labels again afterwards."""
    link, out, flog = tmp_path / "ttyECG", tmp_path / "beats.jsonl", tmp_path / "faults.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_ecg.cli",
            "simulate",
            "--record",
            str(data_dir / "mitdb" / "100"),
            "--duration-s",
            "30",
            "--speed",
            "10",
            "--link",
            str(link),
            "--unplug",
            "12:1.5",
            "--fault-log",
            str(flog),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stream = None
    try:
        assert _wait(link.exists, 20), "simulator did not create its port"
        stream = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge_ecg.cli",
                "stream",
                "--port",
                str(link),
                "--jsonl",
                str(out),
                "--quiet",
                "--backend",
                "onnxruntime",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        sim.communicate(timeout=60)
        assert sim.returncode == 0
        # the simulator is done (30 s of device time); the stream process is still up
        assert _wait(lambda: out.exists() and out.read_text().count("\n") >= 25, 20)
        assert stream.poll() is None
        os.kill(stream.pid, signal.SIGINT)
        _, stderr = stream.communicate(timeout=30)
    finally:
        for p in (sim, stream):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    assert stream.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
    unplug = [json.loads(line) for line in flog.read_text().splitlines()]
    unplug = [r for r in unplug if r["kind"] == "unplug"]
    assert len(unplug) == 1 and unplug[0]["n_samples"] == 540  # 1.5 s at 360 Hz
    lost = (unplug[0]["first_sample"], unplug[0]["first_sample"] + unplug[0]["n_samples"])
    assert summary["samples_lost"] == lost[1] - lost[0]
    assert summary["reconnects"] == 1 and summary["disconnects"] >= 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == summary["results"]
    before, after = 0.25 * 360, 0.45 * 360
    ok = [r for r in rows if r["quality"] == "ok"]
    assert not [r for r in ok if lost[0] < r["sample"] + after and r["sample"] - before < lost[1]]
    assert any(r["quality"] == "unreadable" for r in rows)
    resumed = [r for r in ok if r["sample"] > lost[1]]
    assert resumed and (resumed[0]["sample"] - lost[1]) / 360 < 6.0
    assert all(r["time_s"] == pytest.approx(r["sample"] / 360, abs=1e-4) for r in rows)
    assert np.all(np.diff([r["sample"] for r in rows]) > 0)  # beats in device order, no repeats


# --- output durability: a killed stream process leaves whole lines, a restart appends ------------


def _start_stream(port: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_ecg.cli",
            "stream",
            "--port",
            port,
            "--jsonl",
            str(out),
            "--quiet",
            "--backend",
            "onnxruntime",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _whole_lines(path: Path) -> list[dict]:
    """Every line of ``path`` parses as JSON and the file ends at a line end (no partial line)."""
    text = path.read_text()
    assert text.endswith("\n"), f"partial last line: {text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_survives_sigkill_and_a_restart_appends(tmp_path):
    from edge_ecg.data.records import read_record
    from edge_ecg.runtime.demo import DEMO_RECORD

    sim = Simulator.from_record(read_record(DEMO_RECORD), config=SimConfig(speed=8.0))
    handle = sim.start(tmp_path / "ttyECG")
    port = str(tmp_path / "ttyECG")
    handle.wait_ready()
    out = tmp_path / "beats.jsonl"
    seen: list[str] = []
    procs = []
    try:
        for stop in (signal.SIGKILL, signal.SIGKILL, signal.SIGINT):
            before = out.read_text() if out.exists() else ""
            proc = _start_stream(port, out)
            procs.append(proc)
            n0 = before.count("\n")

            # kill it while it is writing: once it has added lines of its own
            def grew(n0=n0):
                return out.exists() and out.read_text().count("\n") >= n0 + 15

            assert _wait(grew, 60), proc.stderr.read() if proc.poll() is not None else "no output"
            proc.send_signal(stop)
            _, stderr = proc.communicate(timeout=30)
            rows = _whole_lines(out)
            text = out.read_text()
            assert text.startswith(before)  # appended, never truncated or rewritten
            seen.append(text)
            if stop == signal.SIGKILL:
                assert proc.returncode == -signal.SIGKILL
            else:
                assert proc.returncode == 0 and "Traceback" not in stderr
                summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
                assert len(rows) - n0 == summary["results"]  # every result it counted is on disk
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        handle.stop()
        handle.join(10.0)
    assert len(seen) == 3 and all(len(a) < len(b) for a, b in zip(seen, seen[1:], strict=False))
    rows = _whole_lines(out)
    assert {"sample", "time_s", "label", "quality"} <= set(rows[0])


def test_jsonl_sink_puts_each_line_on_disk_as_it_is_written(tmp_path):
    """The mechanism behind the test above, without timing: append mode, and each line flushed
    whole to the OS before ``write`` returns (readable by another handle, sink still open)."""
    from edge_ecg.runtime.sinks import JsonlSink
    from edge_ecg.runtime.stream import StreamResult

    path = tmp_path / "out.jsonl"
    path.write_text('{"earlier": "run"}\n')
    sink = JsonlSink(path)
    try:
        for k in range(3):
            sink.write(StreamResult(100 * k, k / 3.6, "N", 0.9, "ok"))
            rows = _whole_lines(path)
            assert (
                len(rows) == k + 2
                and rows[0] == {"earlier": "run"}
                and rows[-1]["sample"] == 100 * k
            )
    finally:
        sink.close()
