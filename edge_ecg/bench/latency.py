"""Single-window inference latency of model files on this machine, measured so it can be trusted.

A **candidate** is one model file on one backend at one thread count
(``model_int8.onnx/ort/t1``). How a run goes (:func:`run_latency`):

1. **Real inputs.** Each model gets the windows its manifest describes, cut from a real record
   (the bundled MIT-BIH 200 excerpt unless ``record`` names another) by the runtime's own
   front end: the record is pushed through :class:`~edge_ecg.runtime.stream.StreamClassifier`
   with a stand-in model that keeps every window it is asked to classify (filters, resampling,
   QRS detection, RR side features, quality gate and normalisation all exactly as on the
   device). A file without a manifest gets fixed windows of its input shape from the record's
   first leads (default filter, z-score) and the report says so.
2. **Warm-up**, then **interleaved rounds**: in round ``r`` every candidate runs ``per_round``
   inferences, the candidates in a fresh shuffled order each round, so a slow drift of the
   machine (clock ramps, heat, a neighbour process) hits every candidate alike. The per-round
   medians give the spread (IQR across rounds) and the paired per-round ratios against the
   baseline candidate.
3. What is timed: ``Backend.run(feeds)`` with :func:`time.perf_counter_ns`, garbage collection
   paused — the model call as the SDK makes it (it includes the input quantisation of
   integer-I/O TFLite files, not the window preprocessing, which :mod:`~edge_ecg.bench.capacity`
   measures with the rest of the pipeline).
4. **Batch throughput** on a second instance of each candidate (so the TFLite interpreter is
   not re-allocated between batch sizes), also interleaved.
5. **Peak RSS added by the model**, each candidate in a fresh subprocess: RSS after the runtime
   import and before loading, then VmHWM after load + warm-up (peak counter reset through
   ``/proc/self/clear_refs`` where the kernel allows; ``resource.getrusage`` elsewhere).

Caveat: all candidates live in one process. A multi-threaded onnxruntime or XNNPACK session
keeps its worker threads spinning for a moment after its block, which can slow the first few
calls of the next candidate on a board with few cores; ``per_round`` ≫ 1 keeps that to the
edge of each block, and the medians are insensitive to it (the p99 of 1-thread candidates next
to multi-threaded ones on a 2-core board is not).

Backends: ``onnxruntime`` for ``.onnx``; for ``.tflite`` every installed TFLite interpreter —
``litert`` (ai-edge-litert, XNNPACK for int8) and ``tflite-runtime`` (no XNNPACK for full-int8
graphs: 15-20× slower, see TOOLCHAIN.md) — so a board with the wrong wheel shows it.
``tensorflow`` (``tensorflow.lite``) only when asked for by name.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.bench.report import SCHEMA_VERSION
from edge_ecg.errors import (
    ConfigError,
    DeviceMismatchError,
    EdgeECGError,
    ManifestError,
    ModelError,
)
from edge_ecg.paths import ASSETS_DIR, PACKAGE_DIR, shared_data_dir
from edge_ecg.runtime.backends import Backend, OnnxBackend, TFLiteBackend

DEFAULT_RECORD = ASSETS_DIR / "records" / "mitdb_200_excerpt.npz"
MIN_TIMINGS = 200


# ---------------------------------------------------------------------------------------------
# backends and candidates


@dataclass(frozen=True)
class BackendSpec:
    """A runtime that can run model files with ``suffix``; ``module`` is imported to run them."""

    name: str
    short: str
    module: str
    suffix: str
    default: bool = True

    def installed(self) -> bool:
        # only the top-level name: find_spec of a dotted name would import the parent package
        return importlib.util.find_spec(self.module.split(".")[0]) is not None


BACKENDS = (
    BackendSpec("onnxruntime", "ort", "onnxruntime", ".onnx"),
    BackendSpec("litert", "litert", "ai_edge_litert.interpreter", ".tflite"),
    BackendSpec("tflite-runtime", "tflrt", "tflite_runtime.interpreter", ".tflite"),
    BackendSpec("tensorflow", "tf", "tensorflow.lite", ".tflite", default=False),
)
BACKEND_ALIASES = {"tflite": ("litert", "tflite-runtime"), "ort": ("onnxruntime",), "ai-edge-litert": ("litert",)}


def backend_spec(name: str) -> BackendSpec:
    for b in BACKENDS:
        if b.name == name:
            return b
    raise ConfigError(f"backend {name!r}: expected one of {[b.name for b in BACKENDS]} or {sorted(BACKEND_ALIASES)}")


def resolve_backends(names: Sequence[str] | None) -> tuple[BackendSpec, ...]:
    """Backend names (aliases ``tflite``, ``ort`` allowed) → specs; ``None``: the default ones."""
    if not names:
        return tuple(b for b in BACKENDS if b.default)
    out: list[BackendSpec] = []
    for n in names:
        for m in BACKEND_ALIASES.get(n.strip().lower(), (n.strip().lower(),)):
            b = backend_spec(m)
            if b not in out:
                out.append(b)
    return tuple(out)


THREADS_EXPECTED = "expected an integer >= 1, or 'all' or 0 (every usable core)"


def parse_threads(text: str | Sequence) -> tuple[int | str, ...]:
    """``"1,2,all"`` → ``(1, 2, 'all')``; each an int >= 1, or ``'all'`` / ``0`` (every usable core)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[int | str] = []
    for item in items:
        s = str(item).strip().lower()
        if s in ("all", "0"):
            out.append("all")
            continue
        try:
            v = int(s)
        except ValueError:
            raise ConfigError(f"thread count {item!r}: {THREADS_EXPECTED}") from None
        if v < 1:
            raise ConfigError(f"thread count {item!r}: {THREADS_EXPECTED}")
        out.append(v)
    if not out:
        raise ConfigError("no thread counts given: expected e.g. '1,2,all'")
    return tuple(out)


@dataclass(frozen=True)
class Candidate:
    """One model file × backend × thread count; ``name`` is unique within a run."""

    path: Path
    backend: str
    threads: int
    threads_requested: str
    name: str


def make_candidates(paths: Sequence[str | Path], *, backends: Sequence[str] | None = None,
                    threads: Sequence[int | str] = (1, 2, "all")) -> tuple[list[Candidate], list[str]]:
    """Every (file, installed backend that reads its format, thread count), in that order.

    Returns the candidates and notes on what was left out (a .tflite file with no interpreter
    installed, …). Thread counts are resolved (``'all'`` = usable cores) and de-duplicated.
    """
    from edge_ecg.bench.machine import usable_cores

    specs = resolve_backends(backends)
    cores = usable_cores()
    counts: list[tuple[int, str]] = []
    for t in parse_threads(threads) if isinstance(threads, str) else threads:
        n = cores if t == "all" else int(t)
        if n not in [c for c, _ in counts]:
            counts.append((n, str(t)))
    files = [Path(p) for p in paths]
    for f in files:
        if f.is_dir():
            raise ConfigError(f"model path {f} is a directory: expected a .onnx or .tflite file (with model.json beside it)")
        if not f.is_file():
            raise ConfigError(f"model file {f} does not exist (expected a .onnx or .tflite file)")
        if f.suffix.lower() not in (".onnx", ".tflite"):
            raise ConfigError(f"{f} is not a model file: expected a .onnx or .tflite file (with model.json beside it)")
    labels = _labels(files)
    out: list[Candidate] = []
    notes: list[str] = []
    for f, label in zip(files, labels, strict=True):
        usable = [b for b in specs if b.suffix == f.suffix.lower()]
        if not usable:
            notes.append(f"{f.name}: no selected backend reads {f.suffix!r} files (selected: {[b.name for b in specs]})")
            continue
        installed = [b for b in usable if b.installed()]
        if not installed:
            notes.append(f"{f.name}: skipped, no backend for it is installed (tried {', '.join(b.name for b in usable)}; "
                         "TFLite: pip install 'edge-ecg[tflite]')")
        for b in installed:
            for n, req in counts:
                out.append(Candidate(f, b.name, n, req, f"{label}/{b.short}/t{n}"))
    return out, notes


def _labels(files: list[Path]) -> list[str]:
    """File names, prefixed by their folder where two files share a name (two exports)."""
    names = [f.name for f in files]
    out = []
    for f in files:
        out.append(f"{f.parent.name}/{f.name}" if names.count(f.name) > 1 else f.name)
    if len(set(out)) != len(out):
        raise ConfigError(f"model files given twice: {[str(f) for f in files]}")
    return out


def open_candidate(c: Candidate, providers: tuple[str, ...] = ("cpu",)) -> Backend:
    """Load ``c.path`` on ``c.backend`` with ``c.threads`` threads."""
    spec = backend_spec(c.backend)
    if spec.name == "onnxruntime":
        return OnnxBackend(c.path, threads=c.threads, providers=providers)
    return TFLiteBackend(c.path, threads=c.threads, interpreter_module=spec.module)


# ---------------------------------------------------------------------------------------------
# real inputs


@dataclass(frozen=True)
class WindowSet:
    """Model inputs, one window each (``{tensor name: float32 (1, …)}``), and where they came from."""

    feeds: tuple[dict[str, np.ndarray], ...]
    source: str
    record: str | None

    def __post_init__(self):
        if not self.feeds:
            raise ConfigError(f"no windows could be cut ({self.source})")

    def one(self, i: int) -> dict[str, np.ndarray]:
        return self.feeds[i % len(self.feeds)]

    def batch(self, size: int) -> dict[str, np.ndarray]:
        """``size`` windows stacked along the batch axis (cycling through the set)."""
        picks = [self.one(i) for i in range(size)]
        return {k: np.concatenate([p[k] for p in picks], axis=0) for k in picks[0]}


class _WindowRecorder:
    """Stands in for :class:`~edge_ecg.runtime.classifier.Classifier` inside the stream: keeps
    the model input of every window it is asked to classify and answers with flat probabilities."""

    def __init__(self, manifest):
        self.manifest = manifest
        self.classes = manifest.classes
        self.windows: list[tuple[np.ndarray, np.ndarray | None]] = []

    def predict(self, x: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        self.windows.append((np.array(x, dtype=np.float32), None if side is None else np.array(side, dtype=np.float32)))
        return np.full((x.shape[0], len(self.classes)), 1.0 / len(self.classes))


def default_record_for(spec) -> Path:
    """The bundled MIT-BIH excerpt when it has the model's leads, else a CinC 2021 12-lead record
    from the shared data folder; :class:`ConfigError` asking for ``--record`` otherwise."""
    from edge_ecg.runtime.stream import match_leads

    try:
        match_leads(tuple(spec.leads), ("MLII", "V1"))
        return DEFAULT_RECORD
    except DeviceMismatchError:
        pass
    cinc = shared_data_dir() / "cinc2021_12lead"
    heads = sorted(cinc.glob("*.hea")) if cinc.is_dir() else []
    if heads and importlib.util.find_spec("wfdb") is not None:
        return heads[0].with_suffix("")
    raise ConfigError(
        f"the model needs leads {list(spec.leads)}, which the bundled MIT-BIH excerpt does not have; "
        "pass a record that has them with --record"
    )


def real_windows(manifest, record, *, max_windows: int = 512, min_duration_s: float = 60.0) -> WindowSet:
    """The windows the runtime would classify on ``record``: the record, looped to at least
    ``min_duration_s``, is pushed second by second through a :class:`StreamClassifier`."""
    from edge_ecg.runtime.stream import StreamClassifier, record_counts

    rec = _WindowRecorder(manifest)
    counts, uv_per_count, baseline = record_counts(record)
    sc = StreamClassifier(rec, fs_hz=record.fs_hz, lead_names=record.lead_names,
                          uv_per_count=uv_per_count, baseline_counts=baseline)
    loops = max(1, int(np.ceil(min_duration_s / record.duration_s)))
    step = max(1, int(record.fs_hz))
    s0 = 0
    for _ in range(loops):
        for i in range(0, counts.shape[0], step):
            sc.push(s0 + i, counts[i : i + step])
            if len(rec.windows) >= max_windows:
                break
        s0 += counts.shape[0]
        if len(rec.windows) >= max_windows:
            break
    sc.finish()
    spec = manifest.input
    feeds = []
    for x, side in rec.windows[:max_windows]:
        f = {spec.ecg_tensor: x}
        if spec.side_tensor:
            f[spec.side_tensor] = side if side is not None else np.zeros((1, 0), np.float32)
        feeds.append(f)
    looped = f", looped {loops}x" if loops > 1 else ""
    what = "beat" if spec.kind == "beat" else f"{spec.window.length_s:g} s"
    return WindowSet(tuple(feeds), f"{len(feeds)} {what} windows of {record.name} ({spec.fs_hz:g} Hz, "
                     f"{', '.join(spec.leads)}{looped}) cut by the stream front end", record.name)


def shape_windows(inputs, record, *, max_windows: int = 512) -> WindowSet:
    """For a model file without a manifest: fixed windows of its input shape from the record's
    first leads at the record's own rate (default causal band-pass, z-score); 2-D inputs zeros."""
    from edge_ecg.signal.filters import FilterSpec, filter_causal
    from edge_ecg.signal.normalize import normalize_window

    ecg = next((t for t in inputs if len(t.shape) == 3), None)
    if ecg is None or not all(isinstance(d, int) and d > 0 for d in ecg.shape[1:]):
        raise ManifestError("no manifest beside the model and no (batch, leads, samples) input to cut windows for")
    a, b = ecg.shape[1:]
    channels_last = a > b  # TFLite exports may be NWC
    leads, length = (b, a) if channels_last else (a, b)
    x = filter_causal(np.nan_to_num(record.signal_uv()), FilterSpec(), record.fs_hz)
    x = x[:, np.arange(leads) % record.n_leads]
    starts = range(0, x.shape[0] - length + 1, length)
    feeds = []
    for s in list(starts)[:max_windows]:
        w = normalize_window(x[s : s + length].T[None], "zscore").astype(np.float32)
        f = {ecg.name: np.transpose(w, (0, 2, 1)) if channels_last else w}
        for t in inputs:
            if t is not ecg:
                f[t.name] = np.zeros((1, *[int(d) if isinstance(d, int) else 1 for d in t.shape[1:]]), np.float32)
        feeds.append(f)
    return WindowSet(tuple(feeds), f"{len(feeds)} fixed windows of {record.name} at {record.fs_hz:g} Hz "
                     "(no manifest: default filter, z-score, side inputs zero)", record.name)


# ---------------------------------------------------------------------------------------------
# timing


def interleaved_rounds(runners: Mapping[str, Callable[[int], object]], *, rounds: int, per_round: int,
                       rng: np.random.Generator, clock: Callable[[], int] = time.perf_counter_ns
                       ) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """Run ``runners[name](i)`` round by round: in each round every runner runs ``per_round``
    times back to back, the runners in a new random order. ``i`` counts that runner's calls.

    Returns ``{name: float64 ms array (rounds, per_round)}`` and the order of every round.
    """
    if rounds < 1 or per_round < 1:
        raise ConfigError(f"rounds and per_round must be >= 1, got {rounds} and {per_round}")
    names = list(runners)
    times = {n: np.empty((rounds, per_round)) for n in names}
    schedule: list[list[str]] = []
    was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed call would land on whichever candidate is unlucky
    try:
        for r in range(rounds):
            order = [names[i] for i in rng.permutation(len(names))]
            schedule.append(order)
            for name in order:
                run = runners[name]
                row = times[name][r]
                for j in range(per_round):
                    t0 = clock()
                    run(r * per_round + j)
                    row[j] = (clock() - t0) / 1e6
            gc.collect()  # between rounds, untimed
    finally:
        if was_enabled:
            gc.enable()
    return times, schedule


def latency_stats(times_ms: np.ndarray) -> dict:
    """Median, p90, p99, max … of all timings and the spread of the per-round medians."""
    t = np.asarray(times_ms, dtype=np.float64)
    if t.ndim == 1:
        t = t[None]
    flat = t.ravel()
    if flat.size == 0 or not np.all(flat > 0):
        raise ConfigError("latency_stats needs positive timings")
    p50, p90, p99 = np.percentile(flat, [50, 90, 99])
    rmed = np.median(t, axis=1)
    q1, q3 = np.percentile(rmed, [25, 75])
    return {
        "n": int(flat.size), "median": round(float(p50), 5), "p90": round(float(p90), 5),
        "p99": round(float(p99), 5), "max": round(float(flat.max()), 5), "min": round(float(flat.min()), 5),
        "mean": round(float(flat.mean()), 5), "round_medians": [round(float(v), 5) for v in rmed],
        "round_iqr": round(float(q3 - q1), 5), "round_iqr_pct": round(float(100 * (q3 - q1) / p50), 2),
    }


def ratio_stats(times_ms: np.ndarray, base_ms: np.ndarray) -> dict:
    """Candidate over baseline: ratio of medians and of p99s, and the per-round paired ratios
    (median and IQR): rounds are interleaved, so each pair shared the machine's state."""
    t, b = np.asarray(times_ms), np.asarray(base_ms)
    per_round = np.median(t, axis=1) / np.median(b, axis=1)
    q1, q3 = np.percentile(per_round, [25, 75])
    return {
        "median": round(float(np.median(t) / np.median(b)), 4),
        "p99": round(float(np.percentile(t, 99) / np.percentile(b, 99)), 4),
        "round_median": round(float(np.median(per_round)), 4),
        "round_iqr": round(float(q3 - q1), 4),
    }


def pick_baseline(names: Sequence[str], wanted: str | None) -> str:
    """``wanted`` matched exactly, else the first name containing it; default the first name."""
    if not names:
        raise ConfigError("no candidates to pick a baseline from")
    if wanted is None:
        return names[0]
    if wanted in names:
        return wanted
    hits = [n for n in names if wanted in n]
    if not hits:
        raise ConfigError(f"baseline {wanted!r} matches no candidate; candidates: {list(names)}")
    return hits[0]


# ---------------------------------------------------------------------------------------------
# memory (fresh subprocess per candidate)


def _proc_status_kb() -> dict[str, int]:
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _maxrss_kb() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, kB on Linux


def _rss_probe(spec_path: str) -> None:
    """Child side of :func:`measure_rss` (prints one JSON line)."""
    spec = json.loads(Path(spec_path).read_text())
    start = _proc_status_kb()
    feeds = {k: v for k, v in np.load(spec["feeds"]).items()}
    importlib.import_module(backend_spec(spec["backend"]).module)  # runtime import is not the model's
    method = "VmRSS/VmHWM"
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        method = "VmRSS/VmHWM (peak not resettable: includes imports)"
    before = _proc_status_kb()
    if not before:
        method = "getrusage ru_maxrss"
        before = {"VmRSS": _maxrss_kb(), "VmHWM": _maxrss_kb()}
    c = Candidate(Path(spec["path"]), spec["backend"], int(spec["threads"]), str(spec["threads"]), "probe")
    backend = open_candidate(c, tuple(spec["providers"]))
    for _ in range(int(spec["warmup"])):
        backend.run(feeds)
    after = _proc_status_kb() or {"VmRSS": _maxrss_kb(), "VmHWM": _maxrss_kb()}
    mb = 1 / 1024
    print(json.dumps({
        "method": method,
        "runtime_import_mb": round((before["VmRSS"] - start.get("VmRSS", before["VmRSS"])) * mb, 2),
        "rss_before_load_mb": round(before["VmRSS"] * mb, 2),
        "rss_after_mb": round(after["VmRSS"] * mb, 2),
        "peak_mb": round(after["VmHWM"] * mb, 2),
        "added_resident_mb": round((after["VmRSS"] - before["VmRSS"]) * mb, 2),
        "added_peak_mb": round((after["VmHWM"] - before["VmRSS"]) * mb, 2),
    }))


def measure_rss(c: Candidate, feeds: dict[str, np.ndarray], *, warmup: int = 20,
                providers: tuple[str, ...] = ("cpu",), timeout_s: float = 300.0) -> dict:
    """Memory the model adds, measured in a fresh Python process (so nothing the benchmark has
    loaded counts): RSS before loading (after importing the runtime) vs. after load + ``warmup``
    inferences. Sizes in MiB; ``added_peak_mb`` is the peak over load and warm-up."""
    with tempfile.TemporaryDirectory(prefix="edge_ecg_rss_") as tmp:
        np.savez(Path(tmp) / "feeds.npz", **feeds)
        spec = {"path": str(Path(c.path).resolve()), "backend": c.backend, "threads": c.threads,
                "providers": list(providers), "warmup": warmup, "feeds": str(Path(tmp) / "feeds.npz")}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_DIR.parent), env.get("PYTHONPATH")]))
        code = f"from edge_ecg.bench.latency import _rss_probe; _rss_probe({str(Path(tmp) / 'spec.json')!r})"
        try:
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ModelError(f"RSS probe of {c.name} did not finish in {timeout_s:.0f} s") from None
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr or "").strip().splitlines()[-3:]
        raise ModelError(f"RSS probe of {c.name} failed (exit {res.returncode}): {' | '.join(tail)}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# onnxruntime profiler


def profile_onnx(path: str | Path, feeds: Sequence[dict[str, np.ndarray]], *, threads: int = 1, runs: int = 100,
                 warmup: int = 10, providers: tuple[str, ...] = ("cpu",)) -> dict:
    """Per-op-type time shares of a model under onnxruntime's profiler
    (``SessionOptions.enable_profiling``), after graph optimisation (the fused ``QLinearConv``
    … kernels that actually run). ``overhead`` is run time outside any kernel (framework,
    input/output copies), ``overhead_share`` its share of the run. Warm-up runs are left out."""
    import onnxruntime as ort

    from edge_ecg.runtime.backends import PROVIDERS

    with tempfile.TemporaryDirectory(prefix="edge_ecg_prof_") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=[PROVIDERS.get(p, p) for p in providers])
        out_names = [sess.get_outputs()[0].name]
        for i in range(warmup + runs):
            sess.run(out_names, feeds[i % len(feeds)])
        events = json.loads(Path(sess.end_profiling()).read_text())
    model_runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    t_start = model_runs[warmup]["ts"] if len(model_runs) > warmup else 0
    timed_runs = [e for e in model_runs if e["ts"] >= t_start]
    run_us = sum(e["dur"] for e in timed_runs)
    per_op: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= t_start:
            op = e.get("args", {}).get("op_name", "?")
            acc = per_op.setdefault(op, [0.0, 0])
            acc[0] += e["dur"]
            acc[1] += 1
    n = max(1, len(timed_runs))
    kernel_us = sum(v[0] for v in per_op.values())
    rows = [{"op": op, "ms_per_run": round(us / n / 1e3, 5), "share": round(us / run_us, 4) if run_us else None,
             "nodes_per_run": round(cnt / n, 1)} for op, (us, cnt) in sorted(per_op.items(), key=lambda kv: -kv[1][0])]
    return {
        "runs": len(timed_runs), "threads": threads, "run_ms": round(run_us / n / 1e3, 5),
        "kernel_ms": round(kernel_us / n / 1e3, 5),
        "overhead_share": round(1 - kernel_us / run_us, 4) if run_us else None,
        "op_types": rows,
    }


# ---------------------------------------------------------------------------------------------
# the whole latency run


@dataclass(frozen=True)
class BenchConfig:
    """How a latency run is done (see module docstring). ``rounds × per_round`` single-window
    timings per candidate (at least 200 for a meaningful p99); ``batch`` windows per batched
    call for the throughput figure (0: skip); ``record``: a record path (default: the bundled
    MIT-BIH excerpt); ``baseline``: a candidate name (or part of one), default the first."""

    rounds: int = 10
    per_round: int = 30
    warmup: int = 20
    batch: int = 32
    batch_per_round: int = 3
    seed: int = 0
    record: str | None = None
    baseline: str | None = None
    providers: tuple[str, ...] = ("cpu",)
    rss: bool = True
    floor: bool = True
    profile: bool = False
    profile_runs: int = 200
    max_windows: int = 512

    def __post_init__(self):
        for name in ("rounds", "per_round", "max_windows", "profile_runs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("warmup", "batch", "batch_per_round"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
        if self.batch == 1:
            raise ConfigError("batch 1 is the single-window measurement already; use --batch 0 to skip or >= 2")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["providers"] = list(self.providers)
        return d


@dataclass
class _Loaded:
    cand: Candidate
    backend: Backend
    inputs: WindowSet
    info: dict
    batch_backend: Backend | None = None
    batch_feeds: dict | None = None
    batch_note: str | None = None


def _model_info(path: Path, notes: list[str]) -> tuple[object | None, dict]:
    """Manifest (or ``None``), checksum status and complexity of one model file."""
    from edge_ecg.bench.floor import model_complexity
    from edge_ecg.deploy.manifest import load_manifest, sha256_file, verify_file

    manifest = None
    checksum = "no manifest"
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        notes.append(f"{path.name}: {exc}")
    if manifest is not None:
        if path.name in manifest.files:
            verify_file(path, manifest)  # a file altered after export is refused, as the runtime does
            checksum = "verified"
        else:
            checksum = "not listed in manifest"
            notes.append(f"{path.name}: not listed in its manifest's files; its input spec is used anyway")
    cx = model_complexity(path, manifest)
    spec = manifest.input if manifest is not None else None
    info = {
        "manifest": manifest.name if manifest is not None else None,
        "checksum": checksum,
        "kind": spec.kind if spec else None, "fs_hz": spec.fs_hz if spec else None,
        "leads": list(spec.leads) if spec else None, "length": spec.length if spec else None,
        "precision": cx.precision, "params": cx.params, "macs": cx.macs,
        "complexity_source": cx.source, "complexity_note": cx.note,
        "size_bytes": path.stat().st_size, "sha256": sha256_file(path),
    }
    return manifest, info


def run_latency(candidates: Sequence[Candidate], config: BenchConfig = BenchConfig(), *,
                log: Callable[[str], None] | None = None, notes: list[str] | None = None) -> dict:
    """Measure every candidate (see module docstring); returns the JSON-ready run document
    described in :mod:`edge_ecg.bench.report` (without ``capacity``)."""
    from edge_ecg.bench.floor import floor_for, measure_floor, no_floor
    from edge_ecg.bench.machine import machine_info
    from edge_ecg.data.records import read_record

    say = log or (lambda _msg: None)
    notes = list(notes or [])
    if not candidates:
        raise ConfigError("nothing to benchmark: no candidate (model file × installed backend)")
    machine = machine_info()
    rng = np.random.default_rng(config.seed)
    records: dict[str, object] = {}
    per_file: dict[Path, tuple[object, dict, WindowSet | None]] = {}
    loaded: list[_Loaded] = []
    for c in candidates:
        if c.path not in per_file:
            manifest, info = _model_info(c.path, notes)
            per_file[c.path] = (manifest, info, None)
        manifest, info, windows = per_file[c.path]
        try:
            backend = open_candidate(c, config.providers)
        except (EdgeECGError, ImportError) as exc:
            notes.append(f"{c.name}: skipped, cannot load: {exc}")
            continue
        if windows is None:
            if config.record:
                rec_path = Path(config.record)
            elif manifest is not None:
                rec_path = default_record_for(manifest.input)
            else:
                rec_path = DEFAULT_RECORD
            if str(rec_path) not in records:
                say(f"reading {rec_path}")
                records[str(rec_path)] = read_record(rec_path)
            record = records[str(rec_path)]
            say(f"cutting windows for {c.path.name}")
            windows = (real_windows(manifest, record, max_windows=config.max_windows) if manifest is not None
                       else shape_windows(backend.inputs, record, max_windows=config.max_windows))
            per_file[c.path] = (manifest, info, windows)
        loaded.append(_Loaded(c, backend, windows, info))
    if not loaded:
        raise ConfigError("no candidate could be loaded: " + "; ".join(notes))

    # warm-up (also proves the windows fit the model before anything is timed)
    kept: list[_Loaded] = []
    for item in loaded:
        say(f"warming up {item.cand.name}")
        try:
            for i in range(max(1, config.warmup)):
                item.backend.run(item.inputs.one(i))
        except Exception as exc:  # runtimes raise their own types for a shape mismatch
            notes.append(f"{item.cand.name}: skipped, inference on its windows failed: {exc}")
            continue
        if config.batch:
            try:
                item.batch_backend = open_candidate(item.cand, config.providers)
                item.batch_feeds = item.inputs.batch(config.batch)
                for _ in range(max(1, config.warmup // 5)):
                    item.batch_backend.run(item.batch_feeds)
            except Exception as exc:
                item.batch_backend = None
                item.batch_note = f"batch {config.batch} not supported: {str(exc).splitlines()[0][:200]}"
        kept.append(item)
    loaded = kept
    if not loaded:
        raise ConfigError("no candidate could run: " + "; ".join(notes))
    names = [item.cand.name for item in loaded]
    baseline = pick_baseline(names, config.baseline)

    rss: dict[str, dict | None] = {}
    if config.rss:
        for item in loaded:
            say(f"measuring RSS of {item.cand.name} in a fresh process")
            try:
                rss[item.cand.name] = measure_rss(item.cand, item.inputs.one(0), warmup=max(1, config.warmup),
                                                  providers=config.providers)
            except ModelError as exc:
                rss[item.cand.name] = None
                notes.append(str(exc))

    say(f"timing {len(loaded)} candidate(s): {config.rounds} rounds x {config.per_round} inferences, interleaved")
    runners = {item.cand.name: (lambda i, b=item.backend, w=item.inputs: b.run(w.one(i))) for item in loaded}
    times, schedule = interleaved_rounds(runners, rounds=config.rounds, per_round=config.per_round, rng=rng)
    batch_times: dict[str, np.ndarray] = {}
    batch_ready = {item.cand.name: item for item in loaded if item.batch_backend is not None}
    if batch_ready and config.batch_per_round:
        say(f"timing batch {config.batch}")
        batch_runners = {n: (lambda i, b=it.batch_backend, f=it.batch_feeds: b.run(f)) for n, it in batch_ready.items()}
        batch_times, _ = interleaved_rounds(batch_runners, rounds=config.rounds, per_round=config.batch_per_round, rng=rng)

    floor = None
    if config.floor:
        ort_threads = sorted({item.cand.threads for item in loaded if item.cand.backend == "onnxruntime"})
        if ort_threads:
            say(f"measuring the onnxruntime MAC-rate floor at {ort_threads} thread(s)")
            floor = {"onnxruntime": measure_floor(tuple(ort_threads), seed=config.seed)}
        if any(item.cand.backend != "onnxruntime" for item in loaded):
            floor = floor or {}
            floor["tflite"] = {"skipped": "no TFLite model can be built without TensorFlow or the converter "
                                          "(not on the runtime install); TFLite candidates have no floor"}

    profiles: dict[str, dict] = {}
    if config.profile:
        for item in loaded:
            if item.cand.backend != "onnxruntime":
                notes.append(f"{item.cand.name}: --profile covers onnxruntime only (the Python TFLite "
                             "interpreter has no profiler; use TFLite's benchmark_model tool)")
                continue
            say(f"profiling {item.cand.name}")
            profiles[item.cand.name] = profile_onnx(item.cand.path, item.inputs.feeds, threads=item.cand.threads,
                                                    runs=config.profile_runs, providers=config.providers)

    base_t = times[baseline]
    out_cands = []
    for item in loaded:
        c, t = item.cand, times[item.cand.name]
        stats = latency_stats(t)
        thr = {"batch1_per_s": round(1e3 / stats["mean"], 2), "batch": config.batch or None,
               "batch_per_s": None, "batch_median_ms": None, "note": item.batch_note}
        if c.name in batch_times:
            bmed = float(np.median(batch_times[c.name]))
            thr["batch_median_ms"] = round(bmed, 5)
            thr["batch_per_s"] = round(config.batch * 1e3 / bmed, 2)
        fl = None
        if floor is not None:
            per_window = thr["batch_median_ms"] / config.batch if thr["batch_median_ms"] else None
            fl = (floor_for(item.info["macs"], item.info["precision"], floor.get("onnxruntime"), c.threads,
                            stats["median"], per_window)
                  if c.backend == "onnxruntime" else no_floor(floor["tflite"]["skipped"]))
        out_cands.append({
            "name": c.name, "file": c.path.name, "path": str(c.path.resolve()),
            "backend": c.backend, "backend_version": item.backend.version, "backend_describe": item.backend.describe(),
            "threads": c.threads, "threads_requested": c.threads_requested,
            "model": item.info,
            "inputs": {"source": item.inputs.source, "record": item.inputs.record, "n_windows": len(item.inputs.feeds)},
            "latency_ms": stats,
            "throughput": thr,
            "rss": rss.get(c.name),
            "ratio": ratio_stats(t, base_t),
            "floor": fl,
            "profile": profiles.get(c.name),
            "timings_ms": [round(float(v), 5) for v in t.ravel()],
        })
    if config.rounds * config.per_round < MIN_TIMINGS:
        notes.append(f"only {config.rounds * config.per_round} timings per candidate (< {MIN_TIMINGS}): p99 is rough")
    doc = new_document(config, notes, machine=machine)
    doc.update({"baseline": baseline, "schedule": schedule, "candidates": out_cands, "floor": floor})
    return finish_document(doc)


def new_document(config: BenchConfig, notes: Sequence[str] = (), *, machine: dict | None = None) -> dict:
    """An empty run document (no candidates yet) with the machine description filled in."""
    from edge_ecg import __version__
    from edge_ecg.bench.machine import machine_info

    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "edge-ecg-bench",
        "edge_ecg_version": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": [str(a) for a in sys.argv],
        "machine": machine or machine_info(),
        "warnings": [],
        "config": config.to_dict(),
        "baseline": None,
        "schedule": [],
        "candidates": [],
        "floor": None,
        "capacity": None,
        "notes": list(notes),
    }


def finish_document(doc: dict) -> dict:
    """Record the machine's conditions at the end of the run and the warnings they raise."""
    from edge_ecg.bench.machine import conditions, warnings_for

    end = conditions()
    doc["machine"]["conditions_end"] = end
    doc["warnings"] = warnings_for(doc["machine"]["conditions_start"], end)
    return doc

