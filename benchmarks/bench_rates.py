"""The bundled model on devices at other sampling rates: MIT-BIH DS2 rewritten as WFDB records at
each rate (zero-phase polyphase anti-alias filter, annotations moved to the new clock), streamed
through simulator → pty → runtime and scored the way AAMI EC57 does; the native 360 Hz records
are the baseline of the same run.

    python benchmarks/bench_rates.py [--rates 128,250,360,500,1000] [--records DS2]
                                     [--unnamed] [--model FILE] [--json FILE]

``--unnamed`` also renames the channels ``ECG1``/``ECG2`` as many Holter databases do, so the
runtime has to find lead II without a lead name. Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.bench.ec57 import EC57Counts, ec57_record  # noqa: E402
from edge_ecg.bench.report import pct, text_table  # noqa: E402
from edge_ecg.data.mitdb import SPLITS  # noqa: E402
from edge_ecg.data.records import read_record, write_wfdb  # noqa: E402
from edge_ecg.paths import shared_data_dir  # noqa: E402
from edge_ecg.runtime.classifier import Classifier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="128,250,360,500,1000", help="device rates in Hz (360: the records as they are)")
    p.add_argument("--records", default="DS2", help="comma-separated MIT-BIH records, or DS1 / DS2")
    p.add_argument("--unnamed", action="store_true", help="rename the channels ECG1, ECG2, … at every rate")
    p.add_argument("--model", help="model file (default: the bundled int8 beat model)")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)

    rates = [float(r) for r in args.rates.split(",") if r]
    records = SPLITS.get(args.records) or tuple(r for r in args.records.split(",") if r)
    source = shared_data_dir() / "mitdb"
    clf = Classifier(args.model, threads=1)
    print(f"model {clf.path} ({clf.file.precision}, {clf.backend.describe()}); records {args.records} "
          f"({len(records)}){'; channels renamed ECG1, ECG2' if args.unnamed else ''}")
    rows, out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for fs in rates:
            folder = Path(tmp) / f"{fs:g}"
            stream, offline = EC57Counts(), EC57Counts()
            agree = compared = lost = 0
            device_s = cpu_s = 0.0
            for name in records:
                rec = read_record(source / name)
                names = tuple(f"ECG{i + 1}" for i in range(rec.n_leads)) if args.unnamed else None
                if fs != rec.fs_hz or names:
                    write_wfdb(rec, folder, fs_hz=fs, lead_names=names)
                    r = ec57_record(clf, name, folder)
                else:
                    r = ec57_record(clf, name, source)
                stream += r.stream
                offline += r.offline
                agree += r.agree_pipeline
                compared += r.compared_pipeline
                lost += r.samples_lost
                device_s += r.device_s
                cpu_s += r.cpu_s
                print(f"[rates] {fs:g} Hz {name}: QRS Se {100 * r.stream.summary()['qrs_se']:.2f}", file=sys.stderr, flush=True)
            s, o = stream.summary(), offline.summary()
            row = {"fs_hz": fs, "stream": s, "offline": o, "agree_pipeline": agree, "compared_pipeline": compared,
                   "samples_lost": lost, "cpu_ms_per_stream_s": 1e3 * cpu_s / device_s}
            out.append(row)
            rows.append([f"{fs:g}", pct(s["qrs_se"]), pct(s["qrs_ppv"]), pct(s["veb_se"]), pct(s["veb_ppv"]),
                         pct(s["sveb_se"]), pct(s["sveb_ppv"]), pct(o["veb_se"]), pct(o["sveb_se"]),
                         f"{100 * agree / max(compared, 1):.2f}", str(lost), f"{row['cpu_ms_per_stream_s']:.2f}"])
    print(text_table(["Hz", "QRS Se", "QRS +P", "VEB Se", "VEB +P", "SVEB Se", "SVEB +P", "off VEB Se",
                      "off SVEB Se", "pipeline %", "lost", "CPU ms/s"], rows))
    print("stream: simulator → pty → runtime at the device rate; off: the same file at the reference R peaks "
          "(resampled to the model's rate); pipeline: agreement with the runtime's front end run offline")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
