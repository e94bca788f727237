"""Streaming QRS detector on the 48 MIT-BIH records, against a naive detector, in one run.

    python benchmarks/bench_qrs.py [--data DIR] [--records 100,105,...] [--chunk-max 72]

For every record (lead 0, µV) the table gives the reference beats and the detector's TP / FN /
FP / Se / +P, scored the way AAMI EC57 / WFDB ``bxb`` do: all beat annotations (AAMI N, S, V, F,
Q symbols), 150 ms matching window, one-to-one; the first 5 minutes are excluded (EC57 allows it:
the detector's learning period) and so are ventricular flutter episodes (``[`` … ``]`` in 207).
The same columns are given for the baseline, ``scipy.signal.find_peaks`` on the Pan-Tompkins
integrated signal with a fixed, whole-record threshold (offline: zero-phase band-pass, centred
integration, a look at the whole record to set its threshold — every advantage the streaming
detector does not have — but no adaptive thresholds, search-back or T-wave rule).

Then, per record: whether the streaming detector fed chunks of random sizes (1 …
``--chunk-max`` samples, default 0.2 s at 360 Hz) reports exactly the peaks of the one-shot
call, and the time each path takes. Throughput is in samples per second (median and the
slowest record over the 48 thirty-minute records, after a warm-up; CPU time of the process, so
that other processes on the machine do not inflate it; median wall time beside it), for: one-shot
``detect_qrs``; streaming with fixed 1 s chunks; streaming with the random small chunks; the
baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import signal as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.paths import shared_data_dir  # noqa: E402
from edge_ecg.signal.qrs import BEAT_SYMBOLS, StreamingQRSDetector, detect_qrs, match_beats  # noqa: E402

SKIP_S = 300.0
TOL_S = 0.150


def read_lead0(path: Path) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """``(x_uv, fs_hz, ann_samples, ann_symbols)`` of lead 0."""
    try:
        from edge_ecg.data.records import read_record
    except ImportError:  # the data layer is optional here: fall back to wfdb itself
        read_record = None
    if read_record is not None:
        rec = read_record(path)
        ann = rec.annotations
        return rec.signal_uv()[:, 0], rec.fs_hz, np.asarray(ann.sample), np.asarray(ann.symbol)
    import wfdb

    rec = wfdb.rdrecord(str(path), physical=False, channels=[0])
    ann = wfdb.rdann(str(path), "atr")
    x = (rec.d_signal[:, 0] - rec.baseline[0]) / rec.adc_gain[0] * 1000.0
    return x, float(rec.fs), np.asarray(ann.sample), np.asarray(ann.symbol)


def reference(samples: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    beats = samples[np.isin(symbols, sorted(BEAT_SYMBOLS))].astype(np.int64)
    vf, on = [], None
    for s, y in zip(samples.tolist(), symbols.tolist(), strict=True):
        if y == "[":
            on = s
        elif y == "]" and on is not None:
            vf.append((on, s))
            on = None
    return beats, vf


def score(beats, det, vf, fs) -> tuple[int, int, int]:
    ref_ok, det_ok = match_beats(beats, det, int(round(TOL_S * fs)))

    def counted(a):
        m = a >= SKIP_S * fs
        for lo, hi in vf:
            m &= ~((a >= lo) & (a <= hi))
        return m

    rin, din = counted(beats), counted(det)
    return int((ref_ok & rin).sum()), int((~ref_ok & rin).sum()), int((~det_ok & din).sum())


def naive_detector(x: np.ndarray, fs: float) -> np.ndarray:
    """find_peaks on the (zero-phase) Pan-Tompkins integrated signal, one global threshold.

    Like the detector, it thresholds the RMS slope (square root of the integrated signal); the
    threshold, 0.3 x the record's 99th percentile, was the best of a few tried on the database.
    """
    sos = sps.butter(2, [5.0, 15.0], btype="bandpass", fs=fs, output="sos")
    bp = sps.sosfiltfilt(sos, x)
    sq = np.gradient(bp) ** 2
    w = int(round(0.15 * fs))
    rms = np.sqrt(np.convolve(sq, np.ones(w) / w, mode="same"))
    height = 0.3 * np.percentile(rms, 99)
    peaks, _ = sps.find_peaks(rms, height=height, distance=int(round(0.25 * fs)))
    # R peak: the largest band-passed excursion within the integration window
    half = w // 2 + 1
    r = [p - half + int(np.argmax(np.abs(bp[max(p - half, 0) : p + half]))) for p in peaks.tolist()]
    r = np.asarray(r, dtype=np.int64)
    r = np.maximum(r, np.concatenate([[0], r[:-1] + 1])) if r.size else r
    return r


class Clock:
    """Wall and CPU time of a block (CPU time stays honest when other processes compete)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def stream(x: np.ndarray, fs: float, sizes: np.ndarray | int) -> np.ndarray:
    det = StreamingQRSDetector(fs)
    parts = []
    if isinstance(sizes, int):
        for i in range(0, len(x), sizes):
            parts.append(det.process(x[i : i + sizes]))
    else:
        i = 0
        for k in sizes.tolist():
            parts.append(det.process(x[i : i + k]))
            i += k
            if i >= len(x):
                break
    parts.append(det.flush())
    return np.concatenate(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None,
                    help="the shared data folder (holding mitdb/) or the mitdb folder itself")
    ap.add_argument("--records", default=None, help="comma-separated subset (default: all 48)")
    ap.add_argument("--chunk-max", type=int, default=72, help="largest random chunk, samples")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    root = args.data if args.data is not None else shared_data_dir()
    mitdb = root if (root / "RECORDS").is_file() else root / "mitdb"
    if not (mitdb / "RECORDS").is_file():
        print(f"MIT-BIH not found under {root}", file=sys.stderr)
        return 2
    records = args.records.split(",") if args.records else (mitdb / "RECORDS").read_text().split()
    rng = np.random.default_rng(args.seed)

    print(f"# bench_qrs  python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}"
          f"  {platform.machine()} {os.cpu_count()} cpu")
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(f"# warning: load average {os.getloadavg()[0]:.1f}: other processes compete, times are pessimistic")

    # warm-up (imports, caches, first-call overheads)
    x0, fs0, _, _ = read_lead0(mitdb / records[0])
    detect_qrs(x0[: int(60 * fs0)], fs0)
    naive_detector(x0[: int(60 * fs0)], fs0)

    header = (f"{'record':>6} {'beats':>6} | {'TP':>6} {'FN':>4} {'FP':>4} {'Se %':>7} {'+P %':>7} | "
              f"{'naive FN':>8} {'FP':>5} {'Se %':>7} {'+P %':>7} | {'chunked==one-shot':>17}")
    print(header)
    print("-" * len(header))
    tot = np.zeros(3, dtype=np.int64)
    tot_naive = np.zeros(3, dtype=np.int64)
    times = {"one-shot detect_qrs": [], "stream, 1 s chunks": [], f"stream, 1..{args.chunk_max}-sample chunks": [],
             "naive find_peaks (baseline)": []}
    n_samples = []
    all_equal = True
    rows = []
    for rec in records:
        x, fs, samples, symbols = read_lead0(mitdb / rec)
        beats, vf = reference(samples, symbols)
        keys = list(times)
        with Clock() as c:
            det = detect_qrs(x, fs)
        times[keys[0]].append(c)
        with Clock() as c:
            stream(x, fs, int(round(fs)))
        times[keys[1]].append(c)
        sizes = rng.integers(1, args.chunk_max + 1, size=len(x))
        with Clock() as c:
            got = stream(x, fs, sizes)
        times[keys[2]].append(c)
        equal = bool(np.array_equal(got, det))
        all_equal &= equal
        with Clock() as c:
            naive = naive_detector(x, fs)
        times[keys[3]].append(c)
        n_samples.append(len(x))
        s = score(beats, det, vf, fs)
        sn = score(beats, naive, vf, fs)
        tot += s
        tot_naive += sn
        rows.append((rec, s, sn))
        tp, fn, fp = s
        ntp, nfn, nfp = sn
        n_ref = tp + fn
        print(f"{rec:>6} {n_ref:>6} | {tp:>6} {fn:>4} {fp:>4} {100 * tp / max(n_ref, 1):>7.2f} "
              f"{100 * tp / max(tp + fp, 1):>7.2f} | {nfn:>8} {nfp:>5} {100 * ntp / max(n_ref, 1):>7.2f} "
              f"{100 * ntp / max(ntp + nfp, 1):>7.2f} | {'yes' if equal else 'NO':>17}", flush=True)
    print("-" * len(header))
    tp, fn, fp = tot
    ntp, nfn, nfp = tot_naive
    print(f"{'gross':>6} {tp + fn:>6} | {tp:>6} {fn:>4} {fp:>4} {100 * tp / (tp + fn):>7.3f} {100 * tp / (tp + fp):>7.3f} | "
          f"{nfn:>8} {nfp:>5} {100 * ntp / (ntp + nfn):>7.3f} {100 * ntp / (ntp + nfp):>7.3f} | "
          f"{'all' if all_equal else 'NOT ALL':>17}")
    worst = sorted(rows, key=lambda r: -(r[1][1] + r[1][2]))[:6]
    print("worst records (FN/FP): " + ", ".join(f"{r} {s[1]}/{s[2]}" for r, s, _ in worst))
    print(f"scoring: EC57 beat-by-beat, {TOL_S * 1000:.0f} ms window, first {SKIP_S:.0f} s excluded, "
          f"VF episodes excluded; gate: gross Se and +P >= 99.5 %")

    print()
    n_med = statistics.median(n_samples)
    print(f"{'path':<36} {'CPU s/record':>12} {'slowest':>8} {'wall s':>7} {'samples/s (CPU)':>16} {'x real time':>11}")
    for name, cs in times.items():
        med = statistics.median(c.cpu for c in cs)
        wall = statistics.median(c.wall for c in cs)
        rate = n_med / med
        print(f"{name:<36} {med:>12.3f} {max(c.cpu for c in cs):>8.3f} {wall:>7.3f} {rate:>16,.0f} {rate / fs0:>11,.0f}")
    print(f"({len(records)} records of {n_med / fs0 / 60:.0f} min at {fs0:.0f} Hz; medians over records, "
          f"'slowest' is the worst record's CPU time; 'wall s' the median wall-clock time)")
    gate = tp / (tp + fn) >= 0.995 and tp / (tp + fp) >= 0.995
    return 0 if (gate and all_equal) else 1


if __name__ == "__main__":
    raise SystemExit(main())
