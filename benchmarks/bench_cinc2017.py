"""Another device, another rate: the bundled beat model on the PhysioNet/CinC 2017 recordings.

    python benchmarks/bench_cinc2017.py [--model FILE] [--backend auto|onnxruntime|tflite] [--beat-context S]

The CinC 2017 sample (AliveCor hand-held single-lead device, 300 Hz, 9-60 s each) has no beat
annotations, only a rhythm label per record (N normal, A atrial fibrillation, O other rhythm,
~ too noisy). Each record's ADC counts go through the streaming runtime as a device would send
them (its ``ECG`` channel taken as lead II, resampled 300 → 360 Hz by the runtime), and the
table gives, per rhythm class: records, minutes, detected beats per minute (median over
records), the share of beats left unreadable, and the shares labelled N / S / V / F. What to read
from it: in normal-rhythm records every non-N label is a false alarm on a device the model never
saw; atrial fibrillation beats are N in the AAMI classes, so S labels there are the RR-irregularity
false SVEB rate; noisy records should end up unreadable rather than labelled.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.data.cinc import read_cinc2017_reference  # noqa: E402
from edge_ecg.data.records import read_record  # noqa: E402
from edge_ecg.paths import shared_data_dir  # noqa: E402
from edge_ecg.runtime.classifier import Classifier  # noqa: E402
from edge_ecg.runtime.stream import UNREADABLE, GateConfig, streamed_record  # noqa: E402

RHYTHMS = {"N": "normal rhythm", "A": "atrial fibrillation", "O": "other rhythm", "~": "too noisy"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the bundled int8 beat model)")
    p.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tflite"))
    p.add_argument("--data", help="cinc2017 folder (default: the shared data folder's)")
    p.add_argument("--beat-context", type=float, metavar="S", help="the runtime's beat context quality gate (off by default)")
    p.add_argument("--invert-flagged", action="store_true",
                   help="stream again with --invert every record whose summary says the lead looks inverted")
    args = p.parse_args(argv)

    folder = Path(args.data) if args.data else shared_data_dir() / "cinc2017"
    labels = read_cinc2017_reference(folder / "REFERENCE-v3_full_training.csv")
    names = [n for n in (folder / "RECORDS").read_text().split() if n in labels]
    if not names:
        raise SystemExit(f"no labelled CinC 2017 records in {folder}")
    clf = Classifier(args.model, backend=args.backend)
    rows: dict[str, dict] = {k: {"records": 0, "seconds": 0.0, "bpm": [], "labels": Counter(), "flagged": 0} for k in RHYTHMS}
    rates, leads = set(), set()
    for name in names:
        rec = read_record(folder / name)
        rates.add(rec.fs_hz)
        leads.add(rec.lead_names[0])
        gate = GateConfig(beat_context_s=args.beat_context)
        sc, results = streamed_record(clf, rec, gate=gate)
        flagged = sc.front_end()["looks_inverted"]
        if flagged and args.invert_flagged:
            _, results = streamed_record(clf, rec, gate=gate, invert=True)
        beats = [r for r in results if r.kind == "beat"]
        row = rows[labels[name]]
        row["flagged"] += flagged
        row["records"] += 1
        seconds = rec.n_samples / rec.fs_hz
        row["seconds"] += seconds
        row["bpm"].append(60.0 * len(beats) / seconds)
        row["labels"].update(r.label for r in beats)

    print(f"model {clf.path} ({clf.file.precision}, {clf.backend.describe()}); {len(names)} CinC 2017 records, "
          f"{', '.join(f'{r:g}' for r in sorted(rates))} Hz, lead {', '.join(sorted(leads))}, beat context gate {args.beat_context or 'off'}")
    head = (f"{'rhythm':<20}{'records':>8}{'inverted':>9}{'min':>7}{'beats/min':>10}{'unreadable':>11}"
            + "".join(f"{c:>7}" for c in clf.classes))
    print(head + "\n" + "-" * len(head))
    for key, name in RHYTHMS.items():
        r = rows[key]
        n = sum(r["labels"].values())
        if not r["records"]:
            continue

        def share(label, r=r, n=n):
            return f"{100 * r['labels'][label] / n:.1f}%" if n else "-"

        print(f"{name:<20}{r['records']:>8}{r['flagged']:>9}{r['seconds'] / 60:>7.1f}{np.median(r['bpm']):>10.0f}{share(UNREADABLE):>11}"
              + "".join(f"{share(c):>7}" for c in clf.classes))
    print("shares are of all beats the runtime emitted for records of that rhythm; inverted: records whose summary says "
          "the lead looks inverted" + (" (streamed again with --invert)" if args.invert_flagged else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
