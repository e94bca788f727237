"""Fault matrix: one fault at a time through the whole stream runtime, against the simulator's truth.

    python benchmarks/fault_matrix.py [--record 100] [--minutes 5] [--drift-speed 20]

The first ``--minutes`` of a MIT-BIH record (from ``edge_ecg.paths.shared_data_dir()``) are
replayed by the device simulator on a real pseudo-terminal; a ``SerialSource`` reads it through
pyserial and a ``StreamSession`` runs the bundled model (``default_model_path('onnxruntime')``), the
path of ``edge-ecg stream``. Random byte loss and bit flips hit the stretch from 20 % to 60 % of
the excerpt; a burst, a 5 s stall and a 2 s unplug hit it at 1/3 and 1/2; clock drift spans all of
it, paced at ``--drift-speed`` times real time (everything else runs as fast as the runtime reads).
The fault-free row is the baseline of the same run.

Columns: samples the device sent; samples destroyed as far as any receiver can see them (the
simulator's frame log, checked against its fault log) and the samples the session reported lost
(must be equal); beats labelled / unreadable; labelled beats whose window (the manifest's
``before_s``/``after_s``) touches a destroyed sample (must be 0); whether labels resume after the
fault and how many seconds of device time after its end the first one came; reconnects. A row
PASSes when ``edge_ecg.sim.fault_harness.failures`` finds nothing (the same checks as the test
suite, which runs this matrix on 40 s excerpts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_ecg.sim.fault_harness import FaultCase, failures, run_case  # noqa: E402
from edge_ecg.sim.faults import BurstDrop, FaultPlan, Stall, Unplug  # noqa: E402


def matrix(duration_s: float, drift_speed: float) -> list[FaultCase]:
    noisy = (0.2 * duration_s, 0.6 * duration_s)
    third, half = duration_s / 3, duration_s / 2
    return [
        FaultCase("none (baseline)"),
        FaultCase("byte loss 1e-3", FaultPlan(byte_loss_rate=1e-3, seed=1), noisy),
        FaultCase("byte loss 1e-2", FaultPlan(byte_loss_rate=1e-2, seed=2), noisy),
        FaultCase("bit flips 1e-3", FaultPlan(bit_flip_rate=1e-3, seed=3), noisy),
        FaultCase("burst 50 frames", FaultPlan(bursts=(BurstDrop(third, 50),))),
        FaultCase("stall 5 s", FaultPlan(stalls=(Stall(half, 5.0),))),
        FaultCase("unplug 2 s", FaultPlan(unplugs=(Unplug(half, 2.0),))),
        FaultCase("clock drift +1 %", FaultPlan(clock_drift_pct=1.0), speed=drift_speed),
        FaultCase("clock drift -1 %", FaultPlan(clock_drift_pct=-1.0), speed=drift_speed),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", default="100", help="MIT-BIH record name (default 100)")
    ap.add_argument("--minutes", type=float, default=5.0, help="excerpt length (default 5)")
    ap.add_argument("--drift-speed", type=float, default=20.0, help="pace of the drift rows")
    args = ap.parse_args(argv)

    from edge_ecg.data.records import read_record
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.classifier import Classifier, default_model_path

    record = read_record(shared_data_dir() / "mitdb" / args.record, annotator=None)
    clf = Classifier(default_model_path("onnxruntime"))
    duration_s = 60.0 * args.minutes
    print(
        f"record {args.record}, first {args.minutes:g} min ({int(duration_s * record.fs_hz)} samples at "
        f"{record.fs_hz:g} Hz), model {clf.path.name} ({clf.backend.describe()})"
    )
    print(
        f"byte loss / bit flips from {0.2 * duration_s:g} s to {0.6 * duration_s:g} s of device time\n"
    )
    head = (
        "fault",
        "sent",
        "lost (truth)",
        "lost (reported)",
        "labelled",
        "unreadable",
        "labels on a gap",
        "resumed",
        "resume after",
        "reconnects",
        "wall",
        "check",
    )
    widths = (18, 8, 12, 15, 8, 10, 15, 7, 12, 10, 7, 6)
    print(
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    )
    failed = 0
    with tempfile.TemporaryDirectory(prefix="edge_ecg_faults_") as tmp:
        for k, case in enumerate(matrix(duration_s, args.drift_speed)):
            t0 = time.monotonic()
            run = run_case(record, clf, case, Path(tmp) / f"tty{k}", duration_s=duration_s)
            problems = failures(run)
            verdict, why = ("FAIL", problems[0]) if problems else ("PASS", "")
            failed += bool(problems)
            name, sent, lost_t, lost_r, lab, unr, over, res, rec = run.row()
            resume = f"{run.resume_after_s:.1f} s" if run.resumed else "-"
            cells = (
                name,
                sent,
                lost_t,
                lost_r,
                lab,
                unr,
                over,
                res,
                resume,
                rec,
                f"{time.monotonic() - t0:.1f} s",
                verdict,
            )
            print(
                "  ".join(
                    str(c).rjust(w) if i else str(c).ljust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                ),
                flush=True,
            )
            if why:
                print(f"    {why}")
            if run.lost_invisible:
                print(
                    f"    ({run.lost_invisible} more samples destroyed before the first / after the "
                    "last frame any receiver could see)"
                )
    print(f"\n{'PASS' if not failed else 'FAIL'}: {failed} of {k + 1} rows failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
