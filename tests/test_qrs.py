"""Streaming QRS detector against the MIT-BIH reference beat annotations.

Scoring follows AAMI EC57 / WFDB ``bxb``: every reference beat annotation (AAMI N, S, V, F, Q
symbols), 150 ms matching window, one-to-one; the first 5 minutes of each record are excluded (the
detector's learning period, as EC57 allows) and so are ventricular flutter episodes (between the
``[`` and ``]`` annotations of record 207), whose flutter waves are not beats.
Records are read with wfdb directly: lead 0 in µV = (count - baseline) / gain * 1000.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_ecg.errors import ConfigError, SignalError
from edge_ecg.signal.filters import FilterSpec, filter_causal
from edge_ecg.signal.qrs import (
    BEAT_SYMBOLS,
    QRSConfig,
    StreamingQRSDetector,
    detect_qrs,
    match_beats,
)
from edge_ecg.signal.resample import StreamingResampler

FS = 360.0
SKIP_S = 300.0
TOL_S = 0.150


def load(data_dir, record: str, seconds: float | None = None):
    """``(x_uv, beat_samples, vf_spans)`` of lead 0 of a MIT-BIH record."""
    wfdb = pytest.importorskip("wfdb")
    path = str(data_dir / "mitdb" / record)
    kw = {} if seconds is None else {"sampto": int(seconds * FS)}
    rec = wfdb.rdrecord(path, physical=False, channels=[0], **kw)
    ann = wfdb.rdann(path, "atr", **kw)
    x = (rec.d_signal[:, 0] - rec.baseline[0]) / rec.adc_gain[0] * 1000.0
    beats = np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in BEAT_SYMBOLS], dtype=np.int64)
    vf, on = [], None
    for s, y in zip(ann.sample, ann.symbol, strict=True):
        if y == "[":
            on = s
        elif y == "]" and on is not None:
            vf.append((on, s))
            on = None
    return x, beats, vf


def score(beats, det, vf, fs=FS, skip_s=SKIP_S) -> tuple[int, int, int]:
    """``(TP, FN, FP)`` with the EC57 rules of the module docstring (sample indices at ``fs``)."""
    ref_ok, det_ok = match_beats(beats, det, int(round(TOL_S * fs)))

    def counted(a):
        m = a >= skip_s * fs
        for lo, hi in vf:
            m &= ~((a >= lo) & (a <= hi))
        return m

    rin, din = counted(beats), counted(det)
    return int((ref_ok & rin).sum()), int((~ref_ok & rin).sum()), int((~det_ok & din).sum())


def chunked(det: StreamingQRSDetector, x: np.ndarray, rng: np.random.Generator, high: int):
    parts, i = [], 0
    while i < len(x):
        k = int(rng.integers(0, high))
        parts.append(det.process(x[i : i + k]))
        i += k
    parts.append(det.flush())
    return np.concatenate(parts)


# -- streaming == one-shot ---------------------------------------------------------------------


@pytest.mark.parametrize("record", ["105", "203", "232"])
def test_chunked_equals_one_shot_exactly(data_dir, record):
    x, _, _ = load(data_dir, record, seconds=420)
    one = detect_qrs(x, FS)
    rng = np.random.default_rng(int(record))
    for high in (60, 5000):
        got = chunked(StreamingQRSDetector(FS), x, rng, high)
        np.testing.assert_array_equal(got, one)
    assert one.dtype == np.int64 and np.all(np.diff(one) > 0)


def test_reported_latency_is_bounded(data_dir):
    x, _, _ = load(data_dir, "232", seconds=120)  # long pauses: beats found by search-back
    det = StreamingQRSDetector(FS)
    worst = 0
    step = 4
    for i in range(0, len(x), step):
        for r in det.process(x[i : i + step]).tolist():
            if r >= det.config.learn_s * FS:
                worst = max(worst, i + step - 1 - r)
    assert 0 < worst <= det.latency_samples + step - 1
    assert det.latency_samples < 3.2 * FS


def test_reset_and_flush_start_over(data_dir):
    x, _, _ = load(data_dir, "100", seconds=30)
    det = StreamingQRSDetector(FS)
    a = np.concatenate([det.process(x), det.flush()])
    b = np.concatenate([det.process(x), det.flush()])  # flush resets
    np.testing.assert_array_equal(a, b)
    det.process(x[:5000])
    det.reset()
    np.testing.assert_array_equal(np.concatenate([det.process(x), det.flush()]), a)


# -- accuracy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "min_se", "min_ppv"),
    [("100", 1.0, 1.0), ("119", 0.999, 0.999), ("208", 0.99, 0.995), ("105", 0.99, 0.98), ("232", 0.998, 0.998)],
)
def test_accuracy_on_single_records(data_dir, record, min_se, min_ppv):
    x, beats, vf = load(data_dir, record)
    tp, fn, fp = score(beats, detect_qrs(x, FS), vf)
    assert tp / (tp + fn) >= min_se and tp / (tp + fp) >= min_ppv, (record, tp, fn, fp)


def test_r_peak_sits_on_the_annotation(data_dir):
    """MIT-BIH annotations sit on the R peak; the detector's fiducial must too (samples at 360 Hz).

    Wide PVCs are the exception: in 208 and 233 MIT-BIH marks many on their first peak where the
    detector picks the sharper second one (~30-60 ms later); they are bounded separately."""
    wfdb = pytest.importorskip("wfdb")
    err_n, err_v = [], []
    for record in ("100", "106", "119", "208", "233"):
        x, _, _ = load(data_dir, record, seconds=600)
        ann = wfdb.rdann(str(data_dir / "mitdb" / record), "atr", sampto=int(600 * FS))
        keep = np.isin(ann.symbol, sorted(BEAT_SYMBOLS))
        beats, symbols = ann.sample[keep], np.asarray(ann.symbol)[keep]
        det = detect_qrs(x, FS)
        ref_ok, det_ok = match_beats(beats, det, int(TOL_S * FS))
        e = np.abs(det[det_ok] - beats[ref_ok])  # matches pair up in order
        is_v = symbols[ref_ok] == "V"
        err_n.append(e[~is_v])
        err_v.append(e[is_v])
    e_n, e_v = np.concatenate(err_n), np.concatenate(err_v)
    assert np.median(e_n) == 0 and np.percentile(e_n, 99) <= 5 and e_n.max() <= 18  # 14 ms, 50 ms
    assert np.median(e_v) <= 1 and np.mean(e_v > 25) < 0.12  # 70 ms


def test_recovers_after_an_amplitude_drop(data_dir):
    """Electrode contact worsens tenfold mid-stream: within relearn_s + a few beats the detector
    finds every beat again (the old signal level alone would keep the threshold too high)."""
    x, beats, _ = load(data_dir, "100", seconds=120)
    x = x.copy()
    x[int(60 * FS) :] *= 0.1
    det = detect_qrs(x, FS)
    ref_ok, det_ok = match_beats(beats, det, int(TOL_S * FS))
    late = beats >= (60 + QRSConfig().relearn_s + 2) * FS
    assert ref_ok[late].all() and det_ok.all()


def test_works_on_front_end_filtered_input(data_dir):
    x, beats, vf = load(data_dir, "119")
    y = filter_causal(x, FilterSpec(), FS)
    tp, fn, fp = score(beats, detect_qrs(y, FS), vf)
    assert fn <= 2 and fp <= 2, (tp, fn, fp)


@pytest.mark.parametrize("fs_out", [250.0, 500.0])
def test_any_sampling_rate_after_resampling(data_dir, fs_out):
    totals = np.zeros(3, dtype=np.int64)
    for record in ("103", "119", "203", "213"):
        x, beats, vf = load(data_dir, record)
        rs = StreamingResampler(FS, fs_out)
        peaks = detect_qrs(rs.process(x), fs_out)
        det = np.round(rs.output_to_input_index(peaks)).astype(np.int64)  # back on the 360 Hz clock
        totals += score(beats, det, vf)
    tp, fn, fp = totals
    assert tp / (tp + fn) >= 0.995 and tp / (tp + fp) >= 0.995, (fs_out, totals)


@pytest.mark.slow
def test_all_48_records_gross_se_and_ppv(data_dir):
    """The hard gate: gross Se and +P >= 99.5 % over the 48 MIT-BIH records (lead 0).

    Measured (defaults of QRSConfig): TP 91173, FN 112, FP 109 → Se 99.877 %, +P 99.881 %.
    Worst records: 105 (FN 10 / FP 37: noise bursts), 203 (19 / 19: multiform VT and noise),
    116 (20 / 2: ~20 s where lead 0 saturates and the beats are only visible in lead 1),
    208 (13 / 5), 222 (1 / 14), 201 (13 / 0: small aberrated APCs), 108 (6 / 9).
    ``python benchmarks/bench_qrs.py`` prints the per-record table.
    """
    records = (data_dir / "mitdb" / "RECORDS").read_text().split()
    assert len(records) == 48
    totals = np.zeros(3, dtype=np.int64)
    for record in records:
        x, beats, vf = load(data_dir, record)
        totals += score(beats, detect_qrs(x, FS), vf)
    tp, fn, fp = totals
    se, ppv = tp / (tp + fn), tp / (tp + fp)
    print(f"TP {tp} FN {fn} FP {fp} Se {100 * se:.3f} % +P {100 * ppv:.3f} %")
    assert se >= 0.995 and ppv >= 0.995


# -- edge cases and validation ----------------------------------------------------------------


def test_flat_and_tiny_inputs():
    det = StreamingQRSDetector(FS)
    assert det.process(np.zeros(int(20 * FS))).size == 0
    assert det.flush().size == 0
    assert detect_qrs(np.zeros(0), FS).size == 0
    assert detect_qrs(np.full(10, 7.0), FS).size == 0
    assert det.process(np.zeros(0)).dtype == np.int64


def test_synthetic_beats_at_other_rates():
    for fs in (128.0, 250.0, 1000.0):
        n = int(60 * fs)
        t = np.arange(n) / fs
        r_true = np.arange(0.5, 59.5, 0.75)  # 80 bpm
        x = np.zeros(n)
        for r in r_true:
            x += 1200.0 * np.exp(-0.5 * ((t - r) / 0.012) ** 2)  # R waves
            x += 300.0 * np.exp(-0.5 * ((t - r - 0.25) / 0.04) ** 2)  # T waves
        x += np.random.default_rng(0).standard_normal(n) * 15.0
        peaks = detect_qrs(x, fs)
        truth = np.round(r_true * fs).astype(np.int64)
        ref_ok, det_ok = match_beats(truth, peaks, int(0.05 * fs))
        assert ref_ok.all() and det_ok.all(), fs
        assert np.max(np.abs(peaks - truth)) <= max(1, int(0.004 * fs))


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="fs_hz"):
        StreamingQRSDetector(0.0)
    with pytest.raises(ConfigError, match="Nyquist"):
        StreamingQRSDetector(25.0)
    with pytest.raises(ConfigError, match="threshold_fraction"):
        QRSConfig(threshold_fraction=1.5)
    with pytest.raises(ConfigError, match="band_hz"):
        QRSConfig(band_hz=(15.0, 5.0))
    det = StreamingQRSDetector(FS)
    with pytest.raises(SignalError, match="one lead"):
        det.process(np.zeros((10, 2)))
    with pytest.raises(SignalError, match="NaN"):
        det.process(np.r_[np.zeros(10), np.nan])


def test_match_beats_is_one_to_one_nearest_first():
    ref = np.array([100, 200, 300, 1000])
    det = np.array([95, 150, 205, 210, 2000])
    ref_ok, det_ok = match_beats(ref, det, tolerance=54)
    assert ref_ok.tolist() == [True, True, False, False]
    assert det_ok.tolist() == [True, False, True, False, False]
    r, d = match_beats(np.array([], dtype=np.int64), det, 54)
    assert r.size == 0 and not d.any()
