"""Streaming capacity: how many concurrent real-time ECG streams one CPU core sustains with the
whole runtime pipeline — protocol decoding, causal filters, resampling, QRS detection, windows,
quality gate, normalisation and the model.

Method (:func:`measure_capacity`):

1. A record is encoded **once** as the protocol frames a device would send (the simulator's own
   frame sequence: 10 samples per data frame, a descriptor every 100 frames, heartbeats), looped
   as long as needed.
2. **CPU cost per second of stream**: one :class:`~edge_ecg.protocol.FrameDecoder` +
   :class:`~edge_ecg.runtime.session.StreamSession` (→ :class:`StreamClassifier` → model with
   one intra-op thread) consumes the frames one read per frame — what it does at real time,
   when each read returns one frame — and :func:`time.process_time` (all threads of the process)
   is divided by the seconds of signal consumed. Each stream first runs ``warm_s`` untimed
   (filter settling, QRS learning). Three stages are measured, interleaved per repeat: the
   decoder alone, decoder + front end with a model that does nothing, and the full pipeline, so
   the report can say where the time goes.
3. ``K = floor(1 / cpu_s_per_stream_s)`` streams per core, then **verified by measurement**:
   ``backtoback`` runs K streams interleaved frame by frame in this process, unpaced, and
   requires the wall time to stay below the seconds of signal (faster than real time);
   ``paced`` releases every frame of every stream at its real acquisition time and requires the
   lag behind real time to stay bounded (``max_lag_s``), searching for the largest K that does.
   K streams share one loaded model, as they would on a gateway.

Not included: the serial driver and the ``read`` system calls (a pty or USB CDC read costs
~10 µs per call), and sinks (JSON lines, plots). The figures are per core: the runtime is one
Python thread per process; run one process per core to use more.

Streams: (a) ``beat`` — 2-lead 360 Hz, the MIT-BIH excerpt, with the bundled beat model (or the
beat model given); (b) ``window`` — 12-lead 500 Hz, a CinC 2021 record from the shared data
(else the MIT-BIH excerpt resampled to 500 Hz on 12 channels), with a window model if one is
given, otherwise reported as n/a.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_ecg.errors import ConfigError, DeviceMismatchError, EdgeECGError, ManifestError
from edge_ecg.paths import ASSETS_DIR, shared_data_dir

BEAT_RECORD = ASSETS_DIR / "records" / "mitdb_200_excerpt.npz"
TWELVE_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
DESCRIPTOR_EVERY_FRAMES = 100
VERIFY_METHODS = ("backtoback", "paced", "none")


@dataclass(frozen=True)
class CapacityConfig:
    """``stream_s`` seconds of signal per CPU measurement, ``repeats`` measurements (median);
    ``warm_s`` untimed lead-in of every stream; ``verify``: ``'backtoback'`` (fast),
    ``'paced'`` (real time, searches K) or ``'none'``; ``verify_s`` seconds of signal per stream
    in a check; ``max_lag_s`` the largest lag behind real time a paced check accepts."""

    stream_s: float = 60.0
    repeats: int = 3
    warm_s: float = 3.0
    samples_per_frame: int = 10
    verify: str = "backtoback"
    verify_s: float = 10.0
    max_lag_s: float = 0.5
    max_streams: int = 2000
    max_trials: int = 6
    seed: int = 0

    def __post_init__(self):
        for name in ("stream_s", "verify_s", "max_lag_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be > 0 s, got {v!r}")
        if not (isinstance(self.warm_s, (int, float)) and self.warm_s >= 0):
            raise ConfigError(f"warm_s must be >= 0 s, got {self.warm_s!r}")
        for name in ("repeats", "samples_per_frame", "max_streams", "max_trials"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.verify not in VERIFY_METHODS:
            raise ConfigError(f"verify {self.verify!r}: expected one of {VERIFY_METHODS}")


@dataclass(frozen=True)
class StreamSource:
    """Device-side samples of one stream: ADC counts ``(n, C)`` and their calibration."""

    counts: np.ndarray
    fs_hz: float
    lead_names: tuple[str, ...]
    uv_per_count: np.ndarray
    baseline_counts: np.ndarray
    description: str

    @classmethod
    def from_record(cls, record, description: str | None = None) -> StreamSource:
        from edge_ecg.runtime.stream import record_counts

        counts, upc, base = record_counts(record)
        return cls(np.rint(counts).astype(np.int32), float(record.fs_hz), tuple(record.lead_names), upc,
                   np.asarray(base).astype(np.int64), description or f"{record.name} ({record.fs_hz:g} Hz, {record.n_leads} leads)")


def beat_source(record_path: str | Path | None = None) -> StreamSource:
    """2-lead 360 Hz MIT-BIH stream (the bundled excerpt unless a record is named)."""
    from edge_ecg.data.records import read_record

    return StreamSource.from_record(read_record(record_path or BEAT_RECORD))


def twelve_lead_source(record_path: str | Path | None = None, *, fs_hz: float = 500.0) -> StreamSource:
    """A 12-lead stream: the named record, else the first 12-lead CinC 2021 record of the shared
    data (needs wfdb), else the MIT-BIH excerpt's MLII resampled to ``fs_hz`` on 12 channels."""
    import importlib.util

    from edge_ecg.data.records import read_record

    if record_path is not None:
        return StreamSource.from_record(read_record(record_path))
    folder = shared_data_dir() / "cinc2021_12lead"
    if folder.is_dir() and importlib.util.find_spec("wfdb") is not None:
        for hea in sorted(folder.glob("*.hea")):
            try:
                rec = read_record(hea.with_suffix(""))
            except EdgeECGError:
                continue
            if rec.n_leads == 12 and rec.fs_hz == fs_hz:
                return StreamSource.from_record(rec, f"CinC 2021 {rec.name} ({rec.fs_hz:g} Hz, 12 leads, "
                                                     f"{rec.duration_s:.0f} s looped)")
    from edge_ecg.signal.resample import resample_stream

    rec = read_record(BEAT_RECORD)
    x = resample_stream(np.asarray(rec.d_signal[:, 0], dtype=np.float64), rec.fs_hz, fs_hz)
    counts = np.repeat(np.rint(x).astype(np.int32)[:, None], 12, axis=1)
    return StreamSource(counts, fs_hz, TWELVE_LEADS, np.full(12, rec.uv_per_count()[0]), np.full(12, rec.baseline[0]),
                        f"{rec.name} MLII resampled to {fs_hz:g} Hz on 12 channels (no CinC 2021 data or wfdb here)")


def encode_frames(source: StreamSource, n_samples: int, *, samples_per_frame: int = 10) -> list[bytes]:
    """The bytes of each data frame (with any descriptor/heartbeat sent with it) a device
    streaming ``source`` in a loop would write, until ``n_samples`` samples are out."""
    from edge_ecg.sim.simulator import SimConfig, Simulator, Write

    lo, hi = int(source.counts.min()), int(source.counts.max())
    fmt = "int16" if -(2**15) <= lo and hi < 2**15 else "int24"
    names = tuple(n.encode("ascii", "replace").decode()[:8] for n in source.lead_names)
    sim = Simulator(source.counts, source.fs_hz, source.uv_per_count, names, baseline_counts=source.baseline_counts,
                    config=SimConfig(speed=None, samples_per_frame=samples_per_frame, sample_format=fmt, loop=True,
                                     descriptor_every_frames=DESCRIPTOR_EVERY_FRAMES, wait_for_reader=False))
    frames = []
    for step in sim.steps():
        if isinstance(step, Write):
            frames.append(step.data)
            if step.end_sample >= n_samples:
                break
    return frames


class _NullModel:
    """A model that costs nothing: the front end's share of the pipeline is measured with it."""

    def __init__(self, clf):
        self.manifest = clf.manifest
        self.classes = clf.classes
        self._p = np.full(len(clf.classes), 1.0 / len(clf.classes))

    def predict(self, x: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self._p, (x.shape[0], self._p.size))


class _Pipeline:
    """Decoder (+ session): what one device connection costs the host."""

    def __init__(self, clf=None):
        from edge_ecg.protocol import FrameDecoder
        from edge_ecg.runtime.session import StreamSession

        self.decoder = FrameDecoder()
        self.session = StreamSession(clf) if clf is not None else None
        self.results = self.labelled = 0

    def feed(self, data: bytes) -> None:
        events = self.decoder.feed(data)
        if self.session is not None:
            for ev in events:
                for r in self.session.handle(ev):
                    self.results += 1
                    self.labelled += r.quality == "ok"


def _stage_cost(frames: list[bytes], start: int, n_warm: int, n_timed: int, clf) -> tuple[float, float, int, int]:
    """CPU and wall seconds one pipeline spends on ``n_timed`` frames after ``n_warm`` untimed
    ones, and the results it emitted over them and how many of those were labelled."""
    p = _Pipeline(clf)
    for data in frames[start : start + n_warm]:
        p.feed(data)
    p.results = p.labelled = 0
    timed = frames[start + n_warm : start + n_warm + n_timed]
    c0, w0 = time.process_time(), time.perf_counter()
    for data in timed:
        p.feed(data)
    return time.process_time() - c0, time.perf_counter() - w0, p.results, p.labelled


def cpu_per_stream_second(clf, frames: list[bytes], *, frame_s: float, stream_s: float, warm_s: float,
                          repeats: int = 3, rng: np.random.Generator | None = None) -> dict:
    """CPU seconds per second of stream of the decoder, the front end and the model (median of
    ``repeats``; the stages interleaved in a shuffled order per repeat, each repeat starting at a
    different descriptor boundary of the looped record)."""
    rng = rng or np.random.default_rng(0)
    n_warm = int(math.ceil(warm_s / frame_s))
    n_timed = int(math.ceil(stream_s / frame_s))
    starts = _starts(len(frames), n_warm + n_timed, repeats)
    stages = {"decode": None, "frontend": _NullModel(clf), "full": clf}
    cpu: dict[str, list[float]] = {k: [] for k in stages}
    wall: list[float] = []
    results = labelled = 0
    for start in starts:
        for name in rng.permutation(list(stages)):
            c, w, n_res, n_lab = _stage_cost(frames, start, n_warm, n_timed, stages[name])
            cpu[name].append(c)
            if name == "full":
                wall.append(w)
                results, labelled = results + n_res, labelled + n_lab
    seconds = n_timed * frame_s
    med = {k: float(np.median(v)) / seconds for k, v in cpu.items()}
    return {
        "cpu_s_per_stream_s": med["full"],
        "cpu_ms_per_stream_s": {
            "decode": round(1e3 * med["decode"], 4),
            "frontend": round(1e3 * max(0.0, med["frontend"] - med["decode"]), 4),
            "model": round(1e3 * max(0.0, med["full"] - med["frontend"]), 4),
            "total": round(1e3 * med["full"], 4),
        },
        "wall_s_per_stream_s": float(np.median(wall)) / seconds,
        "stream_s": seconds,
        # the model's share is only measured if the gate let windows through to it
        "results_per_stream_s": results / (seconds * len(starts)),
        "labelled_fraction": labelled / results if results else None,
    }


def _starts(n_frames: int, needed: int, count: int) -> list[int]:
    """``count`` start frames, each on a descriptor boundary, with ``needed`` frames after it."""
    if n_frames < needed:
        raise ConfigError(f"{n_frames} encoded frames are fewer than the {needed} a measurement needs")
    slots = (n_frames - needed) // DESCRIPTOR_EVERY_FRAMES + 1
    return [(i % slots) * DESCRIPTOR_EVERY_FRAMES for i in range(count)]


def _hop_s(clf) -> float:
    spec = clf.manifest.input
    return float(spec.window.hop_s) if spec.kind == "window" else 0.0


def run_streams(clf, frames: list[bytes], k: int, *, frame_s: float, warm_s: float, verify_s: float,
                paced: bool, max_lag_s: float = 0.5, clock: Callable[[], float] = time.perf_counter) -> dict:
    """``k`` streams interleaved frame by frame in this process (one shared model), each
    started at its own place in the record. Unpaced: passes when the wall time is below the
    ``verify_s`` seconds of signal. Paced: frame ``j`` is released at its acquisition time and
    the check passes when the lag behind it stays below ``max_lag_s`` over the second half.
    Window streams are spread evenly over one hop, as devices switched on at unrelated times
    are (streams started together would all finish a window in the same frame)."""
    n_warm = int(math.ceil(warm_s / frame_s))
    n_timed = int(math.ceil(verify_s / frame_s))
    hop_frames = int(round(_hop_s(clf) / frame_s))
    phases = [i * hop_frames // k for i in range(k)]
    starts = _starts(len(frames), n_warm + hop_frames + n_timed, k)
    pipes = [_Pipeline(clf) for _ in range(k)]
    offsets = [s + n_warm + ph for s, ph in zip(starts, phases, strict=True)]
    for p, s, off in zip(pipes, starts, offsets, strict=True):
        for data in frames[s:off]:
            p.feed(data)
    lags = np.zeros(n_timed)
    slept = 0.0
    c0 = time.process_time()
    t0 = clock()
    for j in range(n_timed):
        due = (j + 1) * frame_s  # the device has acquired this frame's last sample
        if paced:
            wait = due - (clock() - t0)
            if wait > 0:
                s0 = clock()
                time.sleep(wait)
                slept += clock() - s0
        for p, off in zip(pipes, offsets, strict=True):
            p.feed(frames[off + j])
        lags[j] = (clock() - t0) - due
    wall = clock() - t0
    cpu = time.process_time() - c0
    seconds = n_timed * frame_s
    # the share of the time it wanted to run (not sleeping until a frame was due) it got the CPU
    busy = wall - slept
    out = {"k": k, "stream_s": round(seconds, 3), "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
           "slept_s": round(slept, 4), "cpu_share": round(cpu / busy, 3) if busy > 0 else None}
    if paced:
        tail = lags[n_timed // 2 :]
        out.update({"max_lag_s": round(float(max(0.0, tail.max())), 4), "final_lag_s": round(float(lags[-1]), 4),
                    "ok": bool(tail.max() <= max_lag_s)})
    else:
        out.update({"realtime_factor": round(seconds / wall, 3), "ok": bool(wall < seconds)})
    return out


def verify_k(clf, frames: list[bytes], k_est: int, *, frame_s: float, config: CapacityConfig,
             log: Callable[[str], None] | None = None) -> dict:
    """Check ``k_est`` streams (see :func:`run_streams`); on failure step down by ~10 % until a
    K passes; when paced and it passes, step up by ~10 % until one fails. ``k`` is the largest
    K that passed (0: none did). A check that falls behind while its process got less than 90 %
    of a core ran out of CPU to *other* processes: the search stops there with a ``reason``, and
    ``k`` is ``None`` unless a smaller K had already passed."""
    say = log or (lambda _m: None)
    if config.verify == "none" or k_est < 1:
        why = None if config.verify == "none" else "not even one stream fits in one core"
        return {"method": "none", "k": None, "passed": None, "reason": why, "trials": []}
    paced = config.verify == "paced"
    trials: list[dict] = []
    k = min(k_est, config.max_streams)
    best = 0
    direction = 0
    reason = None
    for _ in range(config.max_trials):
        say(f"capacity check: {k} stream(s) {'paced at real time' if paced else 'back to back'}")
        r = run_streams(clf, frames, k, frame_s=frame_s, warm_s=config.warm_s, verify_s=config.verify_s,
                        paced=paced, max_lag_s=config.max_lag_s)
        trials.append(r)
        if not r["ok"] and r["cpu_share"] is not None and r["cpu_share"] < 0.9:
            # behind real time while not even using the core when it had work: the CPU went to
            # other processes
            reason = (f"the check got only {100 * r['cpu_share']:.0f} % of a core ({r['cpu_s']:.1f} s CPU in "
                      f"{r['wall_s'] - r['slept_s']:.1f} s of work): other processes compete, so K cannot be "
                      "verified on this machine now")
            break
        if r["ok"]:
            best = max(best, k)
            if not paced or direction < 0 or k >= config.max_streams:
                break
            direction = 1
            k = min(config.max_streams, max(k + 1, int(k * 1.1)))
        else:
            if direction > 0 or k <= 1:
                break
            direction = -1
            k = max(1, min(k - 1, int(k * 0.9)))
    if reason is None and paced and trials and trials[-1]["ok"] and len(trials) == config.max_trials and k < config.max_streams:
        reason = f"search stopped after {len(trials)} checks while still keeping up: K is at least {best}"
    # under contention only a K that did pass means something (it kept up even so)
    k_out = best if reason is None or best > 0 else None
    return {"method": config.verify, "k": k_out, "passed": bool(trials and trials[0]["ok"]), "reason": reason, "trials": trials}


def stream_capacity(name: str, clf, source: StreamSource, config: CapacityConfig = CapacityConfig(), *,
                    log: Callable[[str], None] | None = None) -> dict:
    """Capacity entry of one stream kind (see module docstring; JSON-ready)."""
    say = log or (lambda _m: None)
    entry = {"name": name, "status": "ok", "reason": None, "model": clf.path.name, "backend": clf.backend.describe(),
             "source": source.description, "fs_hz": source.fs_hz, "n_channels": len(source.lead_names)}
    try:
        from edge_ecg.runtime.stream import match_leads

        match_leads(tuple(clf.manifest.input.leads), source.lead_names)
    except DeviceMismatchError as exc:
        return {**entry, "status": "n/a", "reason": str(exc), "cpu_s_per_stream_s": None, "k_estimate": None, "verify": None}
    frame_s = config.samples_per_frame / source.fs_hz
    needed_s = config.warm_s + _hop_s(clf) + max(config.stream_s, config.verify_s) + 2 * DESCRIPTOR_EVERY_FRAMES * frame_s * max(config.repeats, 8)
    say(f"encoding {needed_s:.0f} s of {name} stream as protocol frames")
    frames = encode_frames(source, int(math.ceil(needed_s * source.fs_hz)), samples_per_frame=config.samples_per_frame)
    say(f"measuring CPU per stream-second ({name}, {config.repeats} x {config.stream_s:g} s)")
    cost = cpu_per_stream_second(clf, frames, frame_s=frame_s, stream_s=config.stream_s, warm_s=config.warm_s,
                                 repeats=config.repeats, rng=np.random.default_rng(config.seed))
    c = cost["cpu_s_per_stream_s"]
    k_est = int(math.floor(1.0 / c)) if c > 0 else config.max_streams
    verify = verify_k(clf, frames, k_est, frame_s=frame_s, config=config, log=say)
    return {**entry, "stream_s": cost["stream_s"], "cpu_s_per_stream_s": round(c, 7),
            "cpu_ms_per_stream_s": cost["cpu_ms_per_stream_s"], "wall_s_per_stream_s": round(cost["wall_s_per_stream_s"], 7),
            "results_per_stream_s": round(cost["results_per_stream_s"], 4), "labelled_fraction": cost["labelled_fraction"],
            "k_estimate": k_est, "verify": verify}


def measure_capacity(beat_model: str | Path | None = None, window_model: str | Path | None = None, *,
                     config: CapacityConfig = CapacityConfig(), beat_record: str | Path | None = None,
                     window_record: str | Path | None = None, backend: str = "auto",
                     log: Callable[[str], None] | None = None) -> dict:
    """The capacity document of :mod:`edge_ecg.bench.report`: (a) beat streams with
    ``beat_model`` (default: the bundled int8 beat model), (b) 12-lead window streams with
    ``window_model`` (n/a without one). Models run with one intra-op thread."""
    from edge_ecg.runtime.classifier import Classifier, default_model_path

    streams = []
    try:
        beat_path = Path(beat_model) if beat_model is not None else default_model_path(backend)
    except ManifestError as exc:  # no bundled model in this checkout
        beat_path, missing = None, str(exc)
    else:
        missing = f"{beat_path} does not exist"
    if beat_path is not None and beat_path.is_file():
        clf = Classifier(beat_path, backend=backend, threads=1)
        if clf.manifest.input.kind != "beat":
            raise ConfigError(f"{beat_path.name} is a {clf.manifest.input.kind!r} model; the beat stream needs a 'beat' model")
        streams.append(stream_capacity("beat", clf, beat_source(beat_record), config, log=log))
    else:
        streams.append({"name": "beat", "status": "n/a", "reason": f"no beat model: {missing}",
                        "cpu_s_per_stream_s": None, "k_estimate": None, "verify": None})
    if window_model is not None:
        clf = Classifier(window_model, backend=backend, threads=1)
        if clf.manifest.input.kind != "window":
            raise ConfigError(f"{Path(window_model).name} is a {clf.manifest.input.kind!r} model; the 12-lead stream needs a 'window' model")
        streams.append(stream_capacity("window", clf, twelve_lead_source(window_record), config, log=log))
    else:
        streams.append({"name": "window", "status": "n/a", "reason": "no window model given (--window-model)",
                        "cpu_s_per_stream_s": None, "k_estimate": None, "verify": None})
    return {"config": asdict(config), "streams": streams}
