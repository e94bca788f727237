"""Soak: an hour of device time through the stream runtime, compressed; memory and counters.

    python benchmarks/soak.py [--minutes 60] [--record 100] [--every 5] [--warmup 10]

``edge-ecg simulate --loop --speed max`` (a separate process, so only the runtime's memory is
measured) replays a MIT-BIH record back to back on a pty, the sample counter running on, with a
burst of 20 lost frames every 5 device-minutes and a 1 s unplug every 20; this process reads it
with a ``SerialSource`` into a ``StreamSession`` running the bundled model (the path of
``edge-ecg stream``), as fast as it can, until the device counter reaches ``--minutes``.

Every ``--every`` device-minutes it samples its resident memory (``VmRSS``) and the size of every
list/dict/set/deque held by the session, its ``StreamClassifier`` (and the QRS detector, RR
tracker, filters within), the decoder and the source queue. PASS when:

- resident memory grows by at most 1 MB (``--max-growth-mb``) from the end of the warm-up to the
  end. The bound is on the anonymous part (``RssAnon``: heap, stacks), where a leak would grow;
  the total (``VmRSS``, printed too) also counts pages of the shared libraries' files, which the
  kernel maps in when a code path is first used (a step of ~0.5 MB shows up at a varying point
  of most runs, faults or not, while the Python heap traced by tracemalloc stays flat). The
  latency windows are rings allocated up front (``LatencyWindow``), so they add nothing;
- no container grows without bound: each stays within its ``maxlen`` (the source queue within
  its ``max_queued_events``), and one without a declared bound must level off: if it grew by more
  than 100 entries in the first half of the measured period, its growth rate in the second half
  must be under half of that;
- the counters add up: samples in + lost + before the first descriptor == the device counter
  reached; samples lost == the simulator's fault log (bursts and unplugs, exact to the sample);
  results delivered to the sink == results counted == sum of the per-class counts; one reconnect
  per unplug.

The rows before the warm-up ends are the baseline the rest is compared with.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


QUEUE = 256  # the source's max_queued_events here


def rss_mb() -> tuple[float, float]:
    """Resident memory of this process (MB), from /proc: all of it (``VmRSS``), and the
    anonymous part (``RssAnon``: heap and stacks, where a leak grows; the rest is pages of the
    shared libraries' files, mapped in as code paths are first used)."""
    got = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                got[key] = int(value.split()[0]) / 1024.0
    return got.get("VmRSS", float("nan")), got.get("RssAnon", float("nan"))


def containers(root, name: str, depth: int = 3, seen=None) -> dict[str, tuple[int, int | None]]:
    """``{path: (len, maxlen)}`` of every list/dict/set/deque (or other sized store with a
    ``maxlen``) reachable through attributes of ``root`` (``depth`` levels of our own objects)."""
    seen = set() if seen is None else seen
    out: dict[str, tuple[int, int | None]] = {}
    if id(root) in seen or depth < 0:
        return out
    seen.add(id(root))
    for k, v in vars(root).items() if hasattr(root, "__dict__") else ():
        path = f"{name}.{k}"
        sized = hasattr(v, "__len__") and hasattr(v, "maxlen")  # deques, LatencyWindow
        if isinstance(v, (list, dict, set)) or sized:
            out[path] = (len(v), getattr(v, "maxlen", None))
        elif type(v).__module__.startswith("edge_ecg"):
            out.update(containers(v, path, depth - 1, seen))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--minutes", type=float, default=60.0, help="device minutes to stream (default 60)"
    )
    ap.add_argument(
        "--record", default="100", help="MIT-BIH record replayed back to back (default 100)"
    )
    ap.add_argument("--every", type=float, default=5.0, help="sample memory every N device-minutes")
    ap.add_argument("--warmup", type=float, default=10.0, help="device-minutes of warm-up")
    ap.add_argument("--max-growth-mb", type=float, default=1.0)
    ap.add_argument(
        "--burst-every", type=int, default=5, help="device-minutes between bursts (0: none)"
    )
    ap.add_argument(
        "--unplug-every", type=int, default=20, help="device-minutes between unplugs (0: none)"
    )
    args = ap.parse_args(argv)

    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.classifier import Classifier, default_model_path
    from edge_ecg.runtime.session import StreamSession
    from edge_ecg.runtime.sinks import CallbackSink
    from edge_ecg.runtime.sources import SerialSource, SourceConfig
    from edge_ecg.runtime.stream import NO_BEAT

    fs = 360.0  # MIT-BIH
    target = int(args.minutes * 60 * fs)
    bursts = [f"{60 * m + 17:g}:20" for m in range(2, int(args.minutes), args.burst_every or 10**9)]
    unplugs = [
        f"{60 * m + 31:g}:1" for m in range(10, int(args.minutes), args.unplug_every or 10**9)
    ]
    clf = Classifier(default_model_path("onnxruntime"))
    tmp = Path(tempfile.mkdtemp(prefix="edge_ecg_soak_"))
    link, flog = tmp / "ttyECG", tmp / "faults.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "edge_ecg.cli",
        "simulate",
        "--record",
        str(shared_data_dir() / "mitdb" / args.record),
        "--loop",
        "--speed",
        "max",
        "--link",
        str(link),
        "--fault-log",
        str(flog),
    ]
    for b in bursts:
        cmd += ["--burst", b]
    for u in unplugs:
        cmd += ["--unplug", u]
    sim = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    rows, delivered, marks = [], [0], [0.0]
    session = StreamSession(clf)
    src = None

    def sample() -> None:
        minute = session.device_time_s / 60.0
        objs = {"session": session, "decoder": src.decoder, "queue": src._queue}
        sizes: dict[str, tuple[int, int | None]] = {}
        for name, obj in objs.items():
            sizes.update(containers(obj, name))
        rows.append(
            (
                minute,
                rss_mb(),
                session.stats.samples_in,
                session.stats.results,
                session.samples_lost,
                sizes,
            )
        )

    def on_result(_result) -> None:
        delivered[0] += 1
        if session.device_time_s / 60.0 >= marks[0]:
            sample()
            marks[0] += args.every

    session.sinks.append(CallbackSink(on_result))
    t0 = time.monotonic()
    try:
        pause = threading.Event()
        while not link.exists():
            if sim.poll() is not None or time.monotonic() - t0 > 30:
                raise SystemExit(f"simulator did not start: {sim.stderr.read()}")
            pause.wait(0.05)
        # a short queue: at full speed the reader is always ahead of the model, and a full queue of
        # 4096 frame-sized blocks (~2 MB) would swamp the RSS figures; it waits instead of dropping
        config = SourceConfig(
            max_queued_events=QUEUE, overflow_wait_s=30.0, backoff_initial_s=0.02, backoff_max_s=0.2
        )
        src = SerialSource(link, config=config)
        session.run(src, until_sample=target, idle_timeout_s=30.0)
        sample()
    finally:
        if src is not None:
            src.close()
        if sim.poll() is None:
            sim.send_signal(signal.SIGINT)
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        faults = [json.loads(x) for x in flog.read_text().splitlines()] if flog.exists() else []
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - t0

    # --- the table ------------------------------------------------------------------------
    s = session.summary()
    reached = session.sc.dev_next
    print(
        f"record {args.record} looped, {args.minutes:g} device-minutes in {wall:.1f} s wall "
        f"({args.minutes * 60 / wall:.0f}x real time); model {clf.path.name}"
    )
    print(
        f"faults: burst of 20 frames at {', '.join(b.split(':')[0] for b in bursts)} s; "
        f"1 s unplug at {', '.join(u.split(':')[0] for u in unplugs)} s\n"
    )
    print(
        f"{'device min':>10}  {'RSS MB':>7}  {'anon MB':>7}  {'samples':>10}  {'results':>8}  "
        f"{'lost':>6}  largest container"
    )
    for minute, (rss, anon), samples, results, lost, sizes in rows:
        big = max(sizes.items(), key=lambda kv: kv[1][0])
        print(
            f"{minute:10.1f}  {rss:7.1f}  {anon:7.2f}  {samples:10d}  {results:8d}  {lost:6d}  "
            f"{big[0]} ({big[1][0]})"
        )

    failures = []
    warm = [r for r in rows if r[0] >= args.warmup]
    if len(warm) < 2:
        failures.append("too few samples after the warm-up")
    else:
        for k, what in ((1, "anonymous RSS"), (0, "RSS (incl. library pages)")):
            base, top = warm[0][1][k], max(r[1][k] for r in warm)
            print(
                f"\n{what} after {args.warmup:g} min warm-up: {base:.2f} MB, max {top:.2f} MB "
                f"(growth {top - base:+.2f} MB)",
                end="",
            )
        growth = max(r[1][1] for r in warm) - warm[0][1][1]
        print(f"\nallowed anonymous growth {args.max_growth_mb:g} MB")
        if growth > args.max_growth_mb:
            failures.append(f"anonymous RSS grew by {growth:.2f} MB after the warm-up")
        t0, t2 = warm[0][0], warm[-1][0]
        mid_row = min(warm, key=lambda r: abs(r[0] - (t0 + t2) / 2))
        t1 = mid_row[0]
        first, mid, last = warm[0][5], mid_row[5], warm[-1][5]
        for path, (n, maxlen) in sorted(last.items()):
            n0, n1 = first.get(path, (0, None))[0], mid.get(path, (0, None))[0]
            if path == "queue._q":  # bounded by the put logic, not by a maxlen
                maxlen = QUEUE
            if maxlen is not None:
                ok = n <= maxlen
            else:  # no bound declared: it must level off, not grow on at half its earlier pace
                rate1, rate2 = (n1 - n0) / (t1 - t0), (n - n1) / (t2 - t1)
                ok = n1 - n0 <= 100 or rate2 < 0.5 * rate1
            if not ok:
                failures.append(f"{path} keeps growing: {n0} -> {n1} -> {n} entries")
        bounded = sorted((p, v) for p, v in last.items() if v[1] is not None)
        print("bounded per-beat stores: " + ", ".join(f"{p} {n}/{m}" for p, (n, m) in bounded))

    # counters
    destroyed = [
        (f["first_sample"], f["first_sample"] + f["n_samples"])
        for f in faults
        if f["kind"] in ("burst_drop", "unplug") and f["first_sample"] < reached
    ]
    truth_lost = sum(min(b, reached) - a for a, b in destroyed)
    accounted = s["samples_in"] + s["samples_lost"] + s["samples_before_descriptor"]
    checks = [
        ("samples in + lost + before descriptor == device counter reached", accounted, reached),
        ("samples lost == simulator fault log (bursts + unplugs)", s["samples_lost"], truth_lost),
        ("results delivered to the sink == results counted", delivered[0], s["results"]),
        (
            "results counted == sum of per-class counts",
            s["results"],
            sum(s["class_counts"].values()),
        ),
        (
            "reconnects == unplugs",
            s["reconnects"],
            sum(f["kind"] == "unplug" and f["first_sample"] < reached for f in faults),
        ),
    ]
    print()
    for what, a, b in checks:
        print(f"{'ok  ' if a == b else 'FAIL'} {what}: {a} vs {b}")
        if a != b:
            failures.append(what)
    print(
        f"labelled {s['results'] - s['unreadable'] - s['class_counts'].get(NO_BEAT, 0)}, unreadable {s['unreadable']} "
        f"({', '.join(f'{k} {v}' for k, v in s['unreadable_reasons'].items())}); "
        f"latency p50 {s['latency_ms_p50']:.2f} ms, p99 {s['latency_ms_p99']:.2f} ms"
    )
    print("\n" + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
