"""``edge-ecg demo``: the whole product in one command, offline.

A bundled four-minute excerpt of MIT-BIH record 200 (inter-patient test set, never trained on) is
replayed by the device simulator as protocol frames on one end of a pseudo-terminal; the runtime
opens the other end with pyserial exactly as it would open ``/dev/ttyUSB0``, and the bundled int8
model classifies every detected beat. The emitted labels are then scored against the reference
annotations beat by beat (AAMI EC57 matching, 150 ms).
"""

from __future__ import annotations

import argparse
import sys
import time

from edge_ecg.paths import ASSETS_DIR

DEMO_RECORD = ASSETS_DIR / "records" / "mitdb_200_excerpt.npz"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edge_ecg.runtime.stream_cli import add_model_arguments

    add_model_arguments(p)
    p.add_argument("--record", default=str(DEMO_RECORD), help="record to replay (default: the bundled MIT-BIH 200 excerpt)")
    p.add_argument("--realtime", action="store_true", help="replay at the true pace (default: as fast as the runtime reads)")
    p.add_argument("--speed", type=float, help="replay N times faster than real time")
    p.add_argument("--print", dest="print_every", type=int, default=1, help="print every N-th label (0: none)")
    p.add_argument("--jsonl", help="also append every result to this JSON-lines file")


def run(args: argparse.Namespace) -> int:
    from edge_ecg.data.records import read_record
    from edge_ecg.runtime.replay import replay_record
    from edge_ecg.runtime.session import print_summary
    from edge_ecg.runtime.sinks import CallbackSink, JsonlSink
    from edge_ecg.runtime.stream_cli import classifier_from_args

    record = read_record(args.record)
    clf = classifier_from_args(args)
    out = sys.stdout
    out.write(
        f"edge-ecg demo: replaying {record.name} ({record.n_samples / record.fs_hz:.0f} s, {record.fs_hz:g} Hz, "
        f"{', '.join(record.lead_names)}) through the device simulator on a pseudo-terminal\n"
        f"model {clf.path.name} ({clf.file.precision}, {clf.backend.describe()})\n"
    )
    count = [0]

    def show(r):
        count[0] += 1
        if args.print_every and count[0] % args.print_every == 0:
            extra = f" p={r.prob:.2f}" if r.quality == "ok" else f" ({r.reason})"
            out.write(f"  t={r.time_s:7.2f} s  {r.label}{extra}\n")

    sinks = [CallbackSink(show)] + ([JsonlSink(args.jsonl)] if args.jsonl else [])
    speed = 1.0 if args.realtime else args.speed
    t0 = time.perf_counter()
    try:
        session, _ = replay_record(record, clf, speed=speed, sinks=sinks)
    finally:
        for s in sinks:
            s.close()
    wall = time.perf_counter() - t0
    summary = session.summary()
    out.write("\n")
    print_summary(summary, out)
    if record.annotations is not None:
        print_agreement(session.results, record, out)
    out.write(f"replayed {summary['device_time_s']:.0f} s of ECG in {wall:.1f} s ({summary['device_time_s'] / wall:.0f}x real time)\n")
    return 0


def print_agreement(results, record, out) -> dict:
    """Score emitted beats against the record's reference annotations (EC57 matching)."""
    import numpy as np

    from edge_ecg.bench.ec57 import score_record
    from edge_ecg.data.labels import aami_class

    ann = record.annotations
    cls = [aami_class(s, record=record.name) for s in ann.symbol]
    keep = [c is not None for c in cls]
    ref_s = np.asarray(ann.sample)[keep]
    ref_c = [c for c in cls if c is not None]
    beats = [r for r in results if r.kind == "beat"]
    counts = score_record(ref_s, ref_c, [r.sample for r in beats], [r.label for r in beats], record.fs_hz)
    s = counts.summary()
    ref_n = {c: ref_c.count(c) for c in ("N", "S", "V", "F", "Q")}
    out.write(
        "\nagainst the reference annotations (150 ms matching):\n"
        f"  reference beats  {', '.join(f'{k} {v}' for k, v in ref_n.items() if v)}\n"
        f"  QRS Se {100 * s['qrs_se']:.2f} %  +P {100 * s['qrs_ppv']:.2f} %\n"
        f"  VEB Se {100 * s['veb_se']:.1f} %  +P {100 * s['veb_ppv']:.1f} %   "
        f"SVEB Se {100 * s['sveb_se']:.1f} %  +P {100 * s['sveb_ppv']:.1f} %\n"
        f"  label agreement on matched, classified beats {100 * s['class_agreement']:.1f} %\n"
    )
    return s
