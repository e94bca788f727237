"""Beat models with mains (power-line) hum added, with and without the runtime's mains notches.

Every record gets a sinusoidal hum (frequency and amplitude per condition) on every lead, and is
run through the runtime's own front end offline (``edge_ecg.bench.ec57.detector_labels``: mains
notches, causal filter, QRS detector, RR features, beat windows; the stream agrees with it beat
for beat), once with the default notches (:data:`edge_ecg.signal.filters.MAINS_HZ`) and once
without, and scored the way AAMI EC57 does. The clean records give the agreement of the notched
labels with the unnotched ones.

    python benchmarks/bench_mains.py [--model FILE] [--records DS1] [--hum 50:0.3,60:0.3,50.2:0.3,50:1] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.bench.ec57 import detector_labels, label_agreement, reference_beats, score_record  # noqa: E402
from edge_ecg.bench.report import pct, text_table  # noqa: E402
from edge_ecg.data.mitdb import SPLITS, load_mitdb_record  # noqa: E402
from edge_ecg.errors import ConfigError  # noqa: E402
from edge_ecg.paths import shared_data_dir  # noqa: E402
from edge_ecg.runtime.classifier import Classifier, default_model_path  # noqa: E402
from edge_ecg.signal.filters import MAINS_HZ  # noqa: E402


def parse_hum(text: str) -> list[tuple[float, float]]:
    """``"50:0.3,60:0.3"`` → ``[(50.0, 0.3), (60.0, 0.3)]`` (Hz, mV)."""
    out = []
    for item in text.split(","):
        try:
            f, a = (float(v) for v in item.split(":"))
        except ValueError:
            raise ConfigError(f"--hum {item!r}: expected FREQ_HZ:AMPLITUDE_MV, e.g. 50:0.3") from None
        if not (f > 0 and a > 0):
            raise ConfigError(f"--hum {item!r}: frequency and amplitude must be > 0")
        out.append((f, a))
    return out


def with_hum(rec, f_hz: float, amp_mv: float):
    """``rec`` plus ``amp_mv`` millivolts of ``f_hz`` hum on every lead."""
    t = np.arange(rec.n_samples) / rec.fs_hz
    hum_uv = 1000.0 * amp_mv * np.sin(2 * np.pi * f_hz * t + 0.3)[:, None]
    y = np.nan_to_num(rec.signal_uv()) + hum_uv
    return dataclasses.replace(rec, p_signal=y / rec.uv_per_unit(), d_signal=None, name=f"{rec.name}+hum")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="beat model file (default: the bundled int8 ONNX)")
    ap.add_argument("--records", default="DS1", help="DS1 / DS2 or comma-separated MIT-BIH records (default DS1)")
    ap.add_argument("--hum", default="50:0.3,60:0.3,50.2:0.3,50:1", help="FREQ_HZ:AMPLITUDE_MV,… (default %(default)s)")
    ap.add_argument("--json", help="also write the scores here")
    args = ap.parse_args(argv)
    clf = Classifier(args.model or default_model_path("onnxruntime"))
    records = SPLITS.get(args.records) or tuple(r for r in args.records.split(",") if r)
    conditions = [("clean", None)] + [(f"{f:g} Hz {a:g} mV", (f, a)) for f, a in parse_hum(args.hum)]
    totals: dict[tuple[str, str], object] = {}
    agree = compared = 0
    data = shared_data_dir() / "mitdb"
    for name in records:
        rec = load_mitdb_record(name, data)
        ref_s, ref_c = reference_beats(rec)
        for label, hum in conditions:
            r = rec if hum is None else with_hum(rec, *hum)
            runs = {}
            for notch, mains in (("notches", MAINS_HZ), ("no notch", ())):
                det = detector_labels(clf, r, mains_hz=mains)
                runs[notch] = det
                c = score_record(ref_s, ref_c, *det, rec.fs_hz)
                key = (label, notch)
                if key in totals:
                    totals[key] += c
                else:
                    totals[key] = c
            if hum is None:
                a, n = label_agreement(ref_s, ref_c, *runs["notches"], *runs["no notch"], rec.fs_hz)
                agree, compared = agree + a, compared + n
        print(f"[mains] {name} done", file=sys.stderr, flush=True)
    rows, doc = [], []
    for (label, notch), c in totals.items():
        s = c.summary()
        rows.append([label, notch, f"{pct(s['qrs_se'])} / {pct(s['qrs_ppv'])}", f"{pct(s['veb_se'])} / {pct(s['veb_ppv'])}",
                     f"{pct(s['sveb_se'])} / {pct(s['sveb_ppv'])}"])
        doc.append({"condition": label, "mains": notch, **s})
    print(f"model {clf.path} · {len(records)} records ({args.records}) · notches at {', '.join(f'{f:g}' for f in MAINS_HZ)} Hz")
    print(text_table(["condition", "mains", "QRS Se / +P %", "VEB Se / +P %", "SVEB Se / +P %"], rows))
    print(f"clean records: notched labels agree with unnotched ones on {pct(agree / max(compared, 1))} % "
          f"of matched beats ({agree:,} of {compared:,})")
    if args.json:
        Path(args.json).write_text(json.dumps({"records": list(records), "rows": doc, "agree": agree, "compared": compared}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
