"""Beat models in recorded noise, through the streaming runtime: MIT-BIH records with NSTDB noise
added the way the Noise Stress Test Database adds it (clean for 5 minutes, then noise switched on
and off every 2 minutes), at each SNR, streamed chunk by chunk through ``StreamClassifier`` and
scored beat by beat the way AAMI EC57 does (QRS, VEB, SVEB; ``artifact`` detections dropped).

    python benchmarks/bench_noise.py --model bundled=edge_ecg/assets/models/beat/model_int8.onnx \\
        [--records DS2 | --data DIR] [--snr clean,6,0] [--noise em] [--noise-from 0.7] [--json FILE]
    python benchmarks/bench_noise.py --model se=runs/kfold/se --model art=runs/kfold/art [--folds 3]

``--model NAME=FILE`` streams ``--records`` (of ``--data``: any folder of annotated WFDB records,
any rate and channel naming the runtime accepts). ``--model NAME=DIR`` where DIR holds the fold
checkpoints of ``benchmarks/kfold_select.py`` (``fold0`` …) is k-fold mode: each fold's model
(exported once to fp32 ONNX in ``DIR/foldN/onnx``) streams the DS1 records it was not trained on,
and the counts are pooled, so DS2 plays no part. ``--noise-from 0.7`` takes the noise from the
last 30 % of the noise record, which a model trained with ``--noise-train-fraction 0.7`` never
saw. The SNR is the power ratio of signal to noise after the model's band-pass filter, per lead,
over the whole record (NSTDB defines it on QRS amplitudes instead; its "6 dB" is noisier).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.bench.ec57 import EC57Counts, reference_beats, score_record  # noqa: E402
from edge_ecg.bench.report import pct, text_table  # noqa: E402
from edge_ecg.data.labels import ARTIFACT  # noqa: E402
from edge_ecg.data.mitdb import DS1, SPLITS, load_mitdb_record  # noqa: E402
from edge_ecg.data.records import annotated_records, read_record  # noqa: E402
from edge_ecg.paths import shared_data_dir  # noqa: E402
from edge_ecg.runtime.classifier import Classifier  # noqa: E402
from edge_ecg.runtime.stream import stream_record  # noqa: E402
from edge_ecg.signal.filters import filter_causal  # noqa: E402
from edge_ecg.signal.noise import add_noise, noise_block_mask, noise_gain  # noqa: E402

NSTDB_START_S = 300.0


def noisy_record(rec, noise_uv: np.ndarray, snr_db: float | None, filt):
    """``rec`` with ``noise_uv`` (``(n, channels)`` µV at the record's rate, tiled to length;
    lead ``i`` gets channel ``i % channels``) added in the NSTDB layout at ``snr_db`` (after the
    filter ``filt``); ``None``: the record as it is."""
    if snr_db is None:
        return rec
    x = np.nan_to_num(rec.signal_uv())
    cols = np.arange(rec.n_leads) % noise_uv.shape[1]
    seg = np.resize(noise_uv[:, cols].T, (rec.n_leads, rec.n_samples)).T
    gain = noise_gain(filter_causal(x, filt, rec.fs_hz), filter_causal(seg, filt, rec.fs_hz), snr_db)
    y = add_noise(x, seg, gain, noise_block_mask(rec.n_samples, rec.fs_hz, start_s=NSTDB_START_S))
    return dataclasses.replace(rec, p_signal=y / rec.uv_per_unit(), d_signal=None, name=f"{rec.name}+noise")


@functools.cache
def load_noise(name: str, start_fraction: float, fs_hz: float) -> np.ndarray:
    """The NSTDB noise record ``name`` in µV from ``start_fraction`` of it on, at ``fs_hz``
    (read once per rate)."""
    from edge_ecg.data._common import resample_poly_uv

    rec = read_record(shared_data_dir() / "nstdb_noise" / name, annotator=None)
    x = rec.signal_uv()[int(round(start_fraction * rec.n_samples)):]
    if rec.fs_hz != fs_hz:
        x = np.stack([resample_poly_uv(c, rec.fs_hz, fs_hz) for c in x.T], axis=1)
    return x


def fold_models(folder: Path, folds: int, seed: int) -> list[tuple[Path, tuple[str, ...]]]:
    """``(fp32 ONNX file, held-out records)`` per fold of a kfold_select folder, exported once."""
    from edge_ecg.deploy.recipes import export_target
    from edge_ecg.train.tasks import record_folds

    out = []
    for i, held_out in enumerate(record_folds(DS1, folds, seed)):
        target = folder / f"fold{i}" / "onnx"
        if not (target / "model_fp32.onnx").is_file():
            export_target("jetson-onnx", folder / f"fold{i}", target, verify=False, progress=False)
        out.append((target / "model_fp32.onnx", held_out))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="NAME=MODEL_FILE or NAME=KFOLD_DIR (repeatable)")
    p.add_argument("--records", help="comma-separated record names, or DS1 / DS2 (file models; default: DS2, or with "
                                     "--data every record there that has .atr annotations)")
    p.add_argument("--data", help="folder of annotated WFDB records, any rate (default: the shared MIT-BIH)")
    p.add_argument("--folds", type=int, default=3, help="k-fold mode: folds and seed of kfold_select")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snr", default="clean,6,0", help="comma-separated SNRs in dB; 'clean': no noise")
    p.add_argument("--noise", default="em", help="NSTDB noise record: em, ma or bw")
    p.add_argument("--noise-from", type=float, default=0.7, help="use the noise record from this fraction on")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)

    snrs = [None if s == "clean" else float(s) for s in args.snr.split(",") if s]
    data = Path(args.data) if args.data else shared_data_dir() / "mitdb"
    if args.records:
        records = SPLITS.get(args.records) or tuple(r for r in args.records.split(",") if r)
    elif args.data:
        records = annotated_records(data)
    else:
        records = SPLITS["DS2"]
    if not records:
        p.error(f"--data {data}: no record there has both a .hea header and .atr annotations")
    rows, out = [], []
    for spec in args.model:
        name, _, path = spec.partition("=")
        path = Path(path)
        runs = fold_models(path, args.folds, args.seed) if (path / "fold0").is_dir() else [(path, records)]
        for snr in snrs:
            total, dropped, beats = EC57Counts(), 0, 0
            for model_file, recs in runs:
                clf = Classifier(model_file, threads=1)
                filt = clf.manifest.input.filter
                for rec_name in recs:
                    rec = load_mitdb_record(rec_name, data)
                    noise = load_noise(args.noise, args.noise_from, rec.fs_hz)
                    results = [r for r in stream_record(clf, noisy_record(rec, noise, snr, filt))
                               if r.kind == "beat"]
                    ref_s, ref_c = reference_beats(rec)
                    total += score_record(ref_s, ref_c, [r.sample for r in results], [r.label for r in results], rec.fs_hz)
                    dropped += sum(r.label == ARTIFACT for r in results)
                    beats += len(ref_s)
            s = total.summary()
            label = "clean" if snr is None else f"{snr:g} dB"
            rows.append([name, label] + [pct(s[k]) for k in ("qrs_se", "qrs_ppv", "veb_se", "veb_ppv", "sveb_se", "sveb_ppv")]
                        + [str(dropped), str(s["unreadable"])])
            out.append({"model": name, "path": str(path), "snr_db": snr, "noise": args.noise,
                        "noise_from": args.noise_from, "reference_beats": beats, "artifact": dropped, **s})
            print("  ".join(rows[-1]), file=sys.stderr)
    print(f"noise {args.noise} (from {args.noise_from:.0%} of the record on), NSTDB layout; "
          f"{'k-fold held-out DS1' if any((Path(m.partition('=')[2]) / 'fold0').is_dir() for m in args.model) else ', '.join(records)}")
    print(text_table(["model", "SNR", "QRS Se", "QRS +P", "VEB Se", "VEB +P", "SVEB Se", "SVEB +P", "artifact", "unreadable"], rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
