"""Streaming runtime: a real record over a real pty, gaps, lead-off, mismatches, Ctrl-C, JSONL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_ecg.bench.ec57 import detector_labels, label_agreement, reference_beats, score_record
from edge_ecg.data.records import read_record
from edge_ecg.errors import ChecksumError, ConfigError, DeviceMismatchError, SignalError
from edge_ecg.runtime.classifier import Classifier, default_model_path
from edge_ecg.runtime.demo import DEMO_RECORD
from edge_ecg.runtime.replay import replay_record
from edge_ecg.runtime.sinks import JsonlSink
from edge_ecg.runtime.stream import GateConfig, StreamClassifier
from edge_ecg.sim.simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clf():
    return Classifier(default_model_path("onnxruntime"))


@pytest.fixture(scope="module")
def demo_record():
    return read_record(DEMO_RECORD)


def _stream(clf, record, **kw):
    sc = StreamClassifier(clf, fs_hz=record.fs_hz, lead_names=record.lead_names,
                          uv_per_count=record.uv_per_count(), baseline_counts=record.baseline, **kw)
    return sc


def test_pty_end_to_end_real_record(clf, demo_record):
    session, sim = replay_record(demo_record, clf)
    s = session.summary()
    assert s["samples_in"] == demo_record.n_samples and s["samples_lost"] == 0
    ref_s, ref_c = reference_beats(demo_record)
    beats = [r for r in session.results if r.kind == "beat"]
    c = score_record(ref_s, ref_c, [r.sample for r in beats], [r.label for r in beats], demo_record.fs_hz).summary()
    assert c["qrs_se"] >= 0.99 and c["qrs_ppv"] >= 0.99
    assert c["veb_se"] >= 0.9  # 118 ventricular beats in the excerpt
    assert all(0.0 <= r.prob <= 1.0 for r in beats)
    assert all(r.time_s == pytest.approx(r.sample / demo_record.fs_hz) for r in beats)
    # the runtime's own front end run offline over the whole record gives the same beats and labels
    agree, compared = label_agreement(ref_s, ref_c, [r.sample for r in beats], [r.label for r in beats],
                                      *detector_labels(clf, demo_record), demo_record.fs_hz)
    assert compared >= 0.99 * sum(c != "Q" for c in ref_c) - 2  # all but the settling at the start
    assert agree == compared


def test_ec57_scores_a_holter_style_record_at_128_hz_with_unnamed_channels(tmp_path, clf, demo_record):
    """The demo record resampled to 128 Hz and written as WFDB with SVDB-style channel names
    ("ECG1", "ECG2") and its annotations moved to the new clock: every path of ``ec57_record``
    (stream, offline at the reference R, offline front end) works from the header alone."""
    from edge_ecg.bench.ec57 import ec57_record
    from edge_ecg.data.records import write_wfdb

    write_wfdb(demo_record, tmp_path, fs_hz=128.0, lead_names=("ECG1", "ECG2"), name="h1", seconds=180.0)
    ref_s, ref_c = reference_beats(demo_record)
    n_beats = sum(c != "Q" for s, c in zip(ref_s, ref_c, strict=True) if s < 180 * demo_record.fs_hz)
    r = ec57_record(clf, "h1", tmp_path)
    s, o = r.stream.summary(), r.offline.summary()
    assert r.samples_lost == 0 and r.device_s == pytest.approx(180.0, abs=0.01)
    assert s["qrs_se"] >= 0.99 and s["qrs_ppv"] >= 0.99, s
    assert s["veb_se"] >= 0.9 and o["veb_se"] >= 0.9, (s, o)  # 118 V beats in the first 3 minutes
    # offline labels are matched on the record's clock, not the model's 360 Hz one
    assert r.compared >= 0.98 * n_beats - 10
    assert r.agree >= 0.95 * r.compared and r.agree_pipeline >= 0.98 * r.compared_pipeline, r
    with pytest.raises(DeviceMismatchError, match=r"channel 'V5' for its lead 'MLII'.*\['ECG1', 'ECG2'\]"):
        ec57_record(clf, "h1", tmp_path, channel="V5")
    with pytest.raises(ConfigError, match=r"--skip-s 200 s leaves nothing to score in record h1, which is 180\.0 s long"):
        ec57_record(clf, "h1", tmp_path, skip_s=200.0)



def test_ec57_cli_scores_every_annotated_record_of_a_folder(tmp_path, demo_record, capsys):
    from edge_ecg.cli import main
    from edge_ecg.data.records import write_wfdb

    for name, fs in (("a250", 250.0), ("b500", 500.0)):
        write_wfdb(demo_record, tmp_path, fs_hz=fs, name=name, seconds=40.0)
    (tmp_path / "b500.atr").rename(tmp_path / "b500.atx")  # not annotated the EC57 way: left out
    assert main(["ec57", "--data", str(tmp_path)]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line[:1].isalnum()]
    assert "a250" in rows and "b500" not in rows and "gross" in rows
    whole, late = tmp_path / "whole.json", tmp_path / "late.json"
    assert main(["ec57", "--data", str(tmp_path), "--json", str(whole)]) == 0
    assert main(["ec57", "--data", str(tmp_path), "--skip-s", "20", "--json", str(late)]) == 0
    assert "scored from 20 s into each record" in capsys.readouterr().out
    n_whole, n_late = (json.loads(f.read_text())[0]["stream"]["beats_ref"] for f in (whole, late))
    ref_s, _ = reference_beats(demo_record)
    assert n_whole - n_late == int(np.sum(ref_s < 20 * demo_record.fs_hz)) > 10
    assert main(["ec57", "--data", str(tmp_path), "--skip-s", "-1"]) == 2
    assert "--skip-s must be >= 0 s, got -1.0" in capsys.readouterr().err
    (tmp_path / "a250.atr").unlink()
    assert main(["ec57", "--data", str(tmp_path)]) == 2
    assert "no record there has both a .hea header and .atr annotations" in capsys.readouterr().err


def test_stream_record_in_chunks_equals_the_offline_front_end(clf, demo_record):
    from edge_ecg.runtime.stream import stream_record

    beats = [r for r in stream_record(clf, demo_record, chunk_s=0.37) if r.kind == "beat" and r.quality == "ok"]
    det_s, det_l = detector_labels(clf, demo_record)
    offline = dict(zip(det_s.tolist(), det_l, strict=True))
    assert len(beats) > 200 and all(offline[r.sample] == r.label for r in beats)


def _push_all(sc, counts, chunk=36, skip=None, lead_off=None):
    out = []
    n = len(counts)
    i = 0
    while i < n:
        j = min(n, i + chunk)
        if skip and skip[0] <= i < skip[1]:
            i = skip[1]
            continue
        lo = None if lead_off is None else lead_off[i:j]
        out += sc.push(i, counts[i:j], lo)
        i = j
    out += sc.finish()
    return out


def test_gap_makes_overlapping_windows_unreadable_and_labels_resume(clf, demo_record):
    fs = demo_record.fs_hz
    counts = np.asarray(demo_record.d_signal[: int(60 * fs)])
    gap = (int(20 * fs), int(21.5 * fs))
    sc = _stream(clf, demo_record)
    out = _push_all(sc, counts, skip=gap)
    assert sc.stats["samples_lost"] == gap[1] - gap[0]
    before, after = clf.manifest.input.beat.before_s * fs, clf.manifest.input.beat.after_s * fs
    for r in out:
        overlaps = r.sample - before < gap[1] and r.sample + after > gap[0]
        if overlaps:
            assert r.quality == "unreadable"
    assert any(r.reason == "gap" or (r.reason or "").startswith("settling") for r in out if r.quality == "unreadable")
    resumed = [r for r in out if r.quality == "ok" and r.sample > gap[1] + 3 * fs]
    assert len(resumed) > 30


def test_lead_off_is_unreadable(clf, demo_record):
    fs = demo_record.fs_hz
    counts = np.asarray(demo_record.d_signal[: int(40 * fs)])
    lead_off = np.zeros(counts.shape, dtype=bool)
    off = (int(15 * fs), int(20 * fs))
    lead_off[off[0] : off[1], 0] = True
    out = _push_all(_stream(clf, demo_record), counts, lead_off=lead_off)
    hit = [r for r in out if off[0] <= r.sample < off[1]]
    assert hit and all(r.quality == "unreadable" and r.reason == "lead off" for r in hit)
    assert any(r.quality == "ok" for r in out if r.sample > off[1] + 2 * fs)
    # lead-off on a channel the model does not use changes nothing
    lead_off2 = np.zeros(counts.shape, dtype=bool)
    lead_off2[:, 1] = True
    out2 = _push_all(_stream(clf, demo_record), counts, lead_off=lead_off2)
    assert not any(r.reason == "lead off" for r in out2)


def test_flat_line_and_saturation_are_unreadable(clf, demo_record):
    fs = demo_record.fs_hz
    counts = np.array(demo_record.d_signal[: int(40 * fs)])
    counts[int(15 * fs) : int(20 * fs)] = 1024  # electrode off, no lead-off detection: flat
    counts[int(28 * fs) : int(29 * fs), 0] = 2**15 - 1  # rail
    out = _push_all(_stream(clf, demo_record, rail_counts=2**15 - 1), counts)
    reasons = {r.reason for r in out if r.quality == "unreadable"}
    assert "saturation" in reasons
    assert not any(r.quality == "ok" and int(15.3 * fs) < r.sample < int(19.7 * fs) for r in out)


def test_beat_context_gate_turns_beats_in_electrode_motion_noise_unreadable(clf):
    from edge_ecg.data.mitdb import load_mitdb_record
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.stream import GateConfig

    rec = load_mitdb_record("118e00", shared_data_dir() / "nstdb_noise")  # 0 dB noise from minute 5
    fs = rec.fs_hz
    counts = np.asarray(rec.d_signal[: int(7 * 60 * fs)])
    clean, noisy = (int(60 * fs), int(5 * 60 * fs)), (int(5 * 60 * fs), int(7 * 60 * fs))

    def unreadable_share(gate, span):
        beats = [r for r in _push_all(_stream(clf, rec, gate=gate), counts, chunk=360) if span[0] <= r.sample < span[1]]
        return np.mean([r.quality == "unreadable" for r in beats]), beats

    off, _ = unreadable_share(GateConfig(), noisy)
    on, beats = unreadable_share(GateConfig(beat_context_s=5.0), noisy)
    on_clean, _ = unreadable_share(GateConfig(beat_context_s=5.0), clean)
    assert off < 0.05 and on > 0.5 and on_clean < 0.05, (off, on, on_clean)
    gated = sum(r.quality == "unreadable" and r.reason.startswith("poor signal quality") for r in beats)
    assert gated > 0.5 * len(beats)
    with pytest.raises(ConfigError, match="beat_context_s"):
        GateConfig(beat_context_s=0.2)
    # a beat like its neighbours is labelled even in a failing context: fewer unreadable, but
    # the artefacts (unlike one another) still mostly are
    rescued, beats = unreadable_share(GateConfig(beat_context_s=5.0, beat_context_corr=0.5), noisy)
    assert 0.3 < rescued < on, (rescued, on)
    with pytest.raises(ConfigError, match="beat_context_corr needs beat_context_s"):
        GateConfig(beat_context_corr=0.5)
    with pytest.raises(ConfigError, match=r"correlation in \[-1, 1\], got 1.5"):
        GateConfig(beat_context_s=5.0, beat_context_corr=1.5)


def test_device_mismatch_is_refused_at_start(clf, demo_record):
    with pytest.raises(DeviceMismatchError, match="MLII"):
        StreamClassifier(clf, fs_hz=360.0, lead_names=("V1", "V5"), uv_per_count=5.0)
    with pytest.raises(DeviceMismatchError, match="sampling rate"):
        StreamClassifier(clf, fs_hz=50.0, lead_names=("MLII",), uv_per_count=5.0)
    sc = _stream(clf, demo_record)
    with pytest.raises(SignalError, match="NaN"):
        sc.push(0, np.full((10, 2), np.nan))


def test_channels_pick_the_device_channels_that_feed_the_model(clf):
    from edge_ecg.runtime.stream import match_leads

    assert match_leads(("MLII",), ("ECG1", "ECG2")) == ([0], None)  # unnamed: the first is lead II
    assert match_leads(("MLII",), ("ECG1", "ECG2"), ("ecg2",)) == ([1], None)
    assert StreamClassifier(clf, fs_hz=250.0, lead_names=("V1", "X"), uv_per_count=(1.0, 2.5),
                            channels=("X",)).uv_per_count.tolist() == [2.5]
    with pytest.raises(ConfigError, match=r"channels \['A', 'B'\]: the model takes 1 lead\(s\) \['MLII'\]"):
        match_leads(("MLII",), ("A", "B"), ("A", "B"))


def test_other_sampling_rates_are_resampled(clf, demo_record):
    from edge_ecg.signal.resample import resample_stream

    fs = demo_record.fs_hz
    uv = demo_record.signal_uv()[: int(60 * fs)]
    for fs_dev in (250.0, 500.0):
        x = resample_stream(uv, fs, fs_dev)
        counts = np.round(x / 5.0).astype(np.int32)
        sc = StreamClassifier(clf, fs_hz=fs_dev, lead_names=demo_record.lead_names, uv_per_count=5.0)
        out = _push_all(sc, counts, chunk=50)
        ref_s, ref_c = reference_beats(demo_record)
        m = ref_s < int(59 * fs)
        beats = [r for r in out if r.kind == "beat"]
        c = score_record(np.round(ref_s[m] * fs_dev / fs), [c for c, k in zip(ref_c, m, strict=False) if k],
                         [r.sample for r in beats], [r.label for r in beats], fs_dev, skip_s=3.0).summary()
        assert c["qrs_se"] >= 0.97 and c["qrs_ppv"] >= 0.97, (fs_dev, c)


def test_tampered_model_is_refused(tmp_path):
    src = Path(default_model_path("onnxruntime"))
    for f in src.parent.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    model = tmp_path / src.name
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="altered"):
        Classifier(model)


def test_unknown_backend_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="backend 'onnx': expected one of"):
        Classifier(backend="onnx")
    with pytest.raises(ConfigError, match="backend 'onnx': expected one of"):
        Classifier(default_model_path("onnxruntime"), backend="onnx")


def test_jsonl_appends_and_every_line_is_whole(tmp_path, clf, demo_record):
    path = tmp_path / "out.jsonl"
    fs = demo_record.fs_hz
    counts = np.asarray(demo_record.d_signal[: int(20 * fs)])
    for _ in range(2):
        sink = JsonlSink(path)
        for r in _push_all(_stream(clf, demo_record), counts):
            sink.write(r)
        sink.close()
    lines = path.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) % 2 == 0 and len(rows) >= 40
    strip = [{k: v for k, v in r.items() if k != "latency_ms"} for r in rows]
    assert strip[: len(rows) // 2] == strip[len(rows) // 2 :]  # second run appended, did not truncate
    assert {"sample", "time_s", "label", "prob", "quality", "latency_ms"} <= set(rows[0])


def test_stream_cli_ctrl_c_prints_summary(tmp_path, demo_record):
    sim = Simulator.from_record(demo_record, config=SimConfig(speed=4.0))
    handle = sim.start()
    port = handle.wait_ready()
    out = tmp_path / "beats.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_ecg.cli", "stream", "--port", port, "--jsonl", str(out), "--quiet",
         "--backend", "onnxruntime"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        done = threading.Event()
        # wait until the stream has written a few labels, then interrupt it like Ctrl-C
        for _ in range(600):
            if out.exists() and len(out.read_text().splitlines()) >= 5:
                break
            done.wait(0.05)
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        handle.stop()
        handle.join(5.0)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
    assert summary["results"] >= 5
    assert "Traceback" not in stderr
    assert len(out.read_text().splitlines()) == summary["results"]


def test_twelve_lead_window_model_with_age_and_sex():
    from edge_ecg.paths import ASSETS_DIR, shared_data_dir

    clf12 = Classifier(ASSETS_DIR / "models" / "twelve_lead" / "model_fp32.onnx")
    rec = read_record(shared_data_dir() / "cpsc2018" / "A0005")  # 25 s, 500 Hz, 12 leads
    sc = StreamClassifier(clf12, fs_hz=rec.fs_hz, lead_names=rec.lead_names, uv_per_count=rec.uv_per_count(),
                          baseline_counts=rec.baseline, age=rec.age, sex=rec.sex)
    out = _push_all(sc, np.asarray(rec.d_signal), chunk=500)
    hop_s = clf12.manifest.input.window.hop_s
    windows = [r for r in out if r.kind == "window" and r.quality == "ok"]
    assert len(windows) == 3
    assert [r.time_s for r in windows] == pytest.approx([2.0, 2.0 + hop_s, 2.0 + 2 * hop_s])
    assert all(set(r.probs) == set(clf12.classes) for r in windows)
    # the windows that began before the 25 s record ended are reported, not dropped
    cut = [r for r in out if r.quality != "ok"]
    starts = 2.0 + hop_s * np.arange(3, 10)
    assert [r.time_s for r in cut] == pytest.approx(list(starts[starts < 25.0]))
    assert cut and {(r.kind, r.reason) for r in cut} == {("window", "end of stream")}
    # 1 s lost at 13-14 s: the windows over it (7-17 s, 12-22 s) are reported as a gap; the stream restarts after it
    sc = StreamClassifier(clf12, fs_hz=rec.fs_hz, lead_names=rec.lead_names, uv_per_count=rec.uv_per_count(),
                          baseline_counts=rec.baseline, age=rec.age, sex=rec.sex)
    gapped = _push_all(sc, np.asarray(rec.d_signal), chunk=500, skip=(6500, 7000))
    assert [(r.time_s, r.reason) for r in gapped if r.reason == "gap"] == [(pytest.approx(2.0 + k * hop_s), "gap") for k in (1, 2)]
    assert sc.stats["samples_lost"] == 500 and gapped[0].quality == "ok"
    # a disconnected precordial electrode with no lead-off detection: every window names it
    counts = np.array(rec.d_signal)
    counts[:, rec.lead_names.index("V3")] = rec.baseline[rec.lead_names.index("V3")]
    sc = StreamClassifier(clf12, fs_hz=rec.fs_hz, lead_names=rec.lead_names, uv_per_count=rec.uv_per_count(),
                          baseline_counts=rec.baseline, age=rec.age, sex=rec.sex)
    flat = [r for r in _push_all(sc, counts, chunk=500) if r.reason != "end of stream"]
    assert len(flat) == 3 and {r.reason for r in flat} == {"flat line on lead V3"}
    with pytest.raises(DeviceMismatchError, match="V6"):
        StreamClassifier(clf12, fs_hz=500.0, lead_names=rec.lead_names[:11], uv_per_count=1.0)


def test_twelve_lead_gate_tolerates_one_leads_morphology_but_not_noise_on_most_leads():
    """E07500 (CinC 2021, Georgia) is a clean 12-lead ECG whose leads II and aVF have a low
    kurtosis; a gate that rejects a window for any one lead's noise index left it unreadable."""
    from edge_ecg.paths import ASSETS_DIR, shared_data_dir
    from edge_ecg.signal.noise import add_noise, noise_gain

    clf12 = Classifier(ASSETS_DIR / "models" / "twelve_lead" / "model_fp32.onnx")
    rec = read_record(shared_data_dir() / "cinc2021_12lead" / "E07500")  # 10 s, 500 Hz
    counts = np.tile(np.asarray(rec.d_signal), (3, 1))  # looped to 30 s: windows at 2, 7, … s

    def windows(counts, **gate):
        sc = StreamClassifier(clf12, fs_hz=rec.fs_hz, lead_names=rec.lead_names, uv_per_count=rec.uv_per_count(),
                              baseline_counts=rec.baseline, age=rec.age, sex=rec.sex, gate=GateConfig(**gate))
        return [r for r in _push_all(sc, counts, chunk=500) if r.reason != "end of stream"]

    clean = windows(counts)
    assert len(clean) >= 4 and all(r.quality == "ok" for r in clean)
    strict = windows(counts, max_noisy_lead_fraction=0.0)  # every lead must pass, as 1- and 2-lead windows
    assert len(strict) == len(clean) and all(r.quality == "unreadable" for r in strict)
    assert all("lead II (low_kurtosis)" in r.reason or "lead aVF (low_kurtosis)" in r.reason for r in strict)

    # electrode-motion noise (power SNR -6 dB) on 8 of the 12 leads: unreadable, naming only those leads
    em = read_record(shared_data_dir() / "nstdb_noise" / "em", annotator=None)
    nz = np.zeros(counts.shape)
    idx = (60.0 + np.arange(len(counts)) / rec.fs_hz) * em.fs_hz  # from minute 1 of the noise record
    nz[:, :8] = np.interp(idx, np.arange(len(em.p_signal)), em.p_signal[:, 0])[:, None]
    x = counts.astype(np.float64)
    noisy = add_noise(x, nz, noise_gain(x, nz + 1e-9 * (nz == 0), -6.0) * (np.arange(12) < 8))
    out = windows(np.round(noisy).astype(np.int64))
    assert out and all(r.quality == "unreadable" and r.reason.startswith("poor signal quality on lead") for r in out)
    assert all(sum(f"lead {name} (" in r.reason for name in rec.lead_names[8:]) == 0 for r in out)
    with pytest.raises(ConfigError, match="max_noisy_lead_fraction"):
        GateConfig(max_noisy_lead_fraction=1.0)


def test_eight_channel_front_end_feeds_a_twelve_lead_model_with_derived_limb_leads():
    """An 8-channel ECG front end records I, II and V1-V6; III, aVR, aVL and aVF are derived."""
    from edge_ecg.paths import ASSETS_DIR, shared_data_dir

    clf12 = Classifier(ASSETS_DIR / "models" / "twelve_lead" / "model_fp32.onnx")
    rec = read_record(shared_data_dir() / "cpsc2018" / "A0005")  # 25 s, 500 Hz, 12 leads
    counts = np.asarray(rec.d_signal)
    keep = [rec.lead_names.index(n) for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]

    def run(cols, lead_off=None):
        sc = StreamClassifier(clf12, fs_hz=rec.fs_hz, lead_names=tuple(rec.lead_names[c] for c in cols),
                              uv_per_count=np.asarray(rec.uv_per_count())[cols], baseline_counts=np.asarray(rec.baseline)[cols],
                              age=rec.age, sex=rec.sex)
        return sc, [r for r in _push_all(sc, counts[:, cols], chunk=500, lead_off=lead_off) if r.reason != "end of stream"]

    sc12, full = run(list(range(12)))
    sc8, eight = run(keep)
    assert sc12.mix is None and sc8.mix is not None and sc8.mix.shape == (8, 12)
    derived = sc8.front_end()["leads"]
    assert derived["I"] == "I" and derived["V6"] == "V6" and derived["III"] == "II - I"
    assert derived["aVR"] == "- 0.5 I - 0.5 II" and derived["aVL"] == "I - 0.5 II" and derived["aVF"] == "II - 0.5 I"
    assert len(eight) == len(full) == 3 and all(r.quality == "ok" for r in eight)
    # the recorded limb leads are the machine's own derivation, to within rounding of the counts
    for a, b in zip(full, eight, strict=True):
        assert a.label == b.label and max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 0.02
    # lead-off on a channel the limb leads are derived from makes the windows over it unreadable
    off = np.zeros((len(counts), 8), dtype=bool)
    off[3000:3100, 0] = True  # 6.0-6.2 s
    _, flagged = run(keep, lead_off=off)
    reasons = [r.reason for r in flagged if r.quality == "unreadable"]
    assert reasons and set(reasons) == {"lead off"} and len(flagged) == 3
    with pytest.raises(DeviceMismatchError, match=r"cannot feed the model: lead 'II' not found nor derivable \(needs two of I, II, III\)"):
        run([keep[0]] + keep[2:])  # lead I without II or III: no limb lead can be derived


def test_mains_hum_is_notched_in_the_stream(clf, demo_record):
    """A 0.3 mV 60 Hz hum (a poorly grounded wearable) turned half the demo's beats into false V
    and S calls before the runtime notched the mains frequencies; with the default notches the
    labels are those of the clean record."""
    counts = np.asarray(demo_record.d_signal)
    t = np.arange(len(counts)) / demo_record.fs_hz
    gain = np.asarray(demo_record.adc_gain)
    hummed = np.round(counts + 0.3 * np.sin(2 * np.pi * 60.0 * t)[:, None] * gain).astype(np.int32)

    def labels(c, **kw):
        return {r.sample: r.label for r in _push_all(_stream(clf, demo_record, **kw), c) if r.kind == "beat"}

    clean = labels(counts)
    notched = labels(hummed)
    raw = labels(hummed, mains_hz=())
    same = sum(notched.get(k) == v for k, v in clean.items())
    assert same >= 0.99 * len(clean) > 300
    assert sum(raw.get(k) == v for k, v in clean.items()) < 0.95 * len(clean)
    with pytest.raises(ConfigError, match="mains_hz"):
        _stream(clf, demo_record, mains_hz=(-50.0,))
    # a device too slow to carry a mains frequency gets no notch there, and the summary says so
    assert _stream(clf, demo_record).front_end()["mains_notched_hz"] == [50.0, 60.0]
    slow = [StreamClassifier(clf, fs_hz=fs, lead_names=("MLII",), uv_per_count=5.0).front_end() for fs in (115.0, 100.0)]
    assert [f["mains_notched_hz"] for f in slow] == [[50.0], []] and slow[0]["leads"] == {"MLII": "MLII"}


def test_mains_option_parses_frequencies_or_off():
    import argparse

    from edge_ecg.runtime.stream_cli import parse_mains

    assert parse_mains("50,60") == (50.0, 60.0) and parse_mains("60") == (60.0,) and parse_mains("off") == ()
    for bad in ("fifty", "0", "50,-60"):
        with pytest.raises(argparse.ArgumentTypeError, match="--mains"):
            parse_mains(bad)


def test_an_inverted_lead_is_flagged_and_invert_restores_the_labels(clf, data_dir):
    """A hand-held device held the other way round records the lead upside down; the model
    learnt an upright MLII QRS and may call such beats V (CinC 2017). The summary says so, and
    --invert gives the model exactly the upright input back."""
    from edge_ecg.runtime.session import print_summary

    rec = read_record(data_dir / "mitdb" / "100")
    counts = np.asarray(rec.d_signal[: int(300 * rec.fs_hz)]).astype(np.int64)  # 5 min, 1 V beat
    flipped = 2 * np.asarray(rec.baseline) - counts  # the same µV, negated

    def run(c, **kw):
        sc = _stream(clf, rec, **kw)
        return sc, {r.sample: r.label for r in _push_all(sc, c) if r.kind == "beat" and r.quality == "ok"}

    sc, upright = run(counts)
    sc_f, flipped_labels = run(flipped)
    sc_i, restored = run(flipped, invert=True)
    assert sc.front_end()["negative_r_share"] < 0.5 < 0.9 <= sc_f.front_end()["negative_r_share"]
    assert restored == upright and sc_i.front_end()["leads"] == {"MLII": "- MLII"}
    assert len(upright) > 300 and flipped_labels.keys() == upright.keys()  # found the same beats
    import io

    out = io.StringIO()
    print_summary({**_summary_stub(), "front_end": sc_f.front_end()}, out)
    assert "looks inverted" in out.getvalue() and "--invert" in out.getvalue()
    out = io.StringIO()
    print_summary({**_summary_stub(), "front_end": sc.front_end()}, out)
    assert "looks inverted" not in out.getvalue()


def _summary_stub() -> dict:
    return {"device_time_s": 1.0, "samples_in": 1, "samples_lost": 0, "results": 1, "unreadable": 0, "class_counts": {},
            "latency_ms_p50": 0.0, "latency_ms_p99": 0.0, "cpu_ms_per_device_s": 0.0, "disconnects": 0, "reconnects": 0,
            "unreadable_reasons": {}}


def test_summary_says_what_the_text_decoder_refused_and_counts_received_time(tmp_path, demo_record):
    """A 2-column text stream read as 1 column: every line is refused, and the summary says why
    instead of only counting lost samples."""
    from edge_ecg.protocol import TextDecoder, encode_text_lines
    from edge_ecg.runtime.session import StreamSession, malformed_input, print_summary
    from edge_ecg.runtime.sources import FileReplaySource

    fs = demo_record.fs_hz
    counts = np.asarray(demo_record.d_signal[: int(20 * fs)])
    path = tmp_path / "two_columns.txt"
    path.write_bytes(encode_text_lines(counts))
    clf = Classifier(default_model_path("onnxruntime"))

    def run(n_columns):
        session = StreamSession(clf)
        source = FileReplaySource(path, TextDecoder(fs, 5.0, n_columns, channel_names=("MLII", "V5")[:n_columns]))
        session.run(source)
        return session.summary()

    bad = run(1)
    assert (bad["samples_in"], bad["samples_lost"], bad["device_time_s"]) == (0, len(counts), 0.0)
    assert bad["decoder"]["lines_bad_columns"] == len(counts)
    assert malformed_input(bad["decoder"]) == (f"{len(counts)} lines had 2 columns where 1 were expected "
                                               f"(--leads names the columns, one per lead); "
                                               f"{path.stat().st_size} bytes discarded")
    good = run(2)
    assert (good["samples_in"], good["samples_lost"]) == (len(counts), 0) and malformed_input(good["decoder"]) is None
    assert good["device_time_s"] == pytest.approx(20.0)
    import io

    text = io.StringIO()
    print_summary(bad, text)
    assert "malformed input" in text.getvalue() and "2 columns where 1 were expected" in text.getvalue()


def test_device_time_is_the_signal_received_not_the_device_counter(demo_record):
    """Joining a device that has been running for an hour: 10 s received is 10 s, not 3610 s."""
    from edge_ecg.protocol import DataBlock, Descriptor
    from edge_ecg.runtime.session import StreamSession

    fs = demo_record.fs_hz
    counts = np.asarray(demo_record.d_signal[: int(10 * fs)], dtype=np.int32)
    session = StreamSession(Classifier(default_model_path("onnxruntime")))
    d = Descriptor(fs, tuple(demo_record.lead_names), np.asarray(demo_record.uv_per_count()), np.asarray(demo_record.baseline))
    session.handle(d)
    first = int(3600 * fs)
    for a in range(0, len(counts), 360):
        session.handle(DataBlock(first + a, counts[a:a + 360], np.zeros(2, bool), 0, fs, d.uv_per_count, d.baseline_counts))
    session.finish()
    assert session.summary()["device_time_s"] == pytest.approx(10.0)
