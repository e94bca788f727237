"""``edge-ecg ec57``: accuracy through the stream, scored the way AAMI EC57 does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edge_ecg.runtime.stream_cli import add_mains_argument, add_model_arguments

    add_model_arguments(p)
    add_mains_argument(p)
    p.add_argument("--records", help="comma-separated record names, or the MIT-BIH splits DS1 / DS2 (default: DS2 of "
                                     "the shared MIT-BIH; with --data, every record there that has .atr annotations)")
    p.add_argument("--data", help="folder of WFDB records with .atr beat annotations, any rate (default: the shared MIT-BIH folder)")
    p.add_argument("--channel", help="the records' channel that feeds the model's lead, when its name does not say "
                                     "so (default: by name; MLII counts as II, an unnamed ECG/ECG1 channel as II)")
    p.add_argument("--speed", type=float, help="replay speed (default: as fast as the runtime reads)")
    p.add_argument("--skip-s", type=float, default=0.0, metavar="SECONDS",
                   help="leave each record's first SECONDS out of the scores (default 0: whole records, as the "
                        "inter-patient literature scores; 300 is bxb's and EC57's learning period)")
    p.add_argument("--json", help="write per-record results to this JSON file")


def check_records(records: tuple[str, ...], data_dir: str | Path, skip_s: float, clf=None,
                  channel: str | None = None) -> None:
    """Before any record is streamed (a folder's last record must not fail after an hour of
    streaming the others): every record must read (header, signals, ``.atr`` annotations in
    order), ``skip_s`` must leave something of it to score, and, with ``clf``, the model's lead
    must be found in it (or ``channel``). Raises the loader's error or :class:`ConfigError` /
    :class:`DeviceMismatchError` naming the record. The records stay in the loader's cache."""
    import numpy as np

    from edge_ecg.bench.ec57 import check_skip
    from edge_ecg.data._common import dataset_dir
    from edge_ecg.data.labels import aami_indices
    from edge_ecg.data.mitdb import load_mitdb_record
    from edge_ecg.errors import DeviceMismatchError, RecordError
    from edge_ecg.runtime.stream import match_leads

    for name in records:
        base = dataset_dir(data_dir, "mitdb", f"{name}.hea") / name
        if not Path(f"{base}.hea").is_file():
            raise RecordError(f"record {name}: no WFDB header {base}.hea")
        rec = load_mitdb_record(name, data_dir)
        ann = rec.annotations
        r = ann.sample[aami_indices(ann.symbol, record=name) >= 0]
        if r.size and (np.any(np.diff(r) <= 0) or r[0] < 0 or r[-1] >= rec.n_samples):
            bad = int(r[-1]) if r[-1] >= rec.n_samples else int(r[np.argmax(np.diff(r) <= 0) + 1]) if r.size > 1 else int(r[0])
            raise RecordError(f"record {name}: beat annotation at sample {bad} is out of order or outside the record "
                              f"({rec.n_samples} samples)")
        if skip_s:
            check_skip(skip_s, rec.duration_s, name)
        if clf is not None:
            try:
                match_leads(clf.manifest.input.leads, rec.lead_names, (channel,) if channel else None)
            except DeviceMismatchError as exc:
                raise DeviceMismatchError(f"record {name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from edge_ecg.bench.ec57 import ec57_record, format_ec57
    from edge_ecg.data.mitdb import SPLITS
    from edge_ecg.data.records import annotated_records
    from edge_ecg.errors import ConfigError
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.sinks import prepare_output_file
    from edge_ecg.runtime.stream_cli import classifier_from_args

    if args.speed is not None and not (0 < args.speed < float("inf")):
        raise ConfigError(f"--speed {args.speed!r}: expected a factor > 0 (1 = real time); leave it out to replay "
                          "as fast as the runtime reads")
    if not args.skip_s >= 0:  # a skip past the records' end (inf too) is caught by check_records
        raise ConfigError(f"--skip-s must be >= 0 s, got {args.skip_s!r}")
    if args.data and not Path(args.data).is_dir():
        what = "is not a folder" if Path(args.data).exists() else "does not exist"
        raise ConfigError(f"--data {args.data} {what}; expected a folder of WFDB records with .atr annotations")
    # before the run, which takes minutes: a path that cannot be written must not lose its results
    json_path = prepare_output_file(args.json, "--json") if args.json else None
    clf = classifier_from_args(args)
    data = args.data or str(shared_data_dir() / "mitdb")
    if args.records:
        # names as typed ("I01, I02"), each once: a record scored twice would count twice in the gross figures
        records = SPLITS.get(args.records) or tuple(dict.fromkeys(r.strip() for r in args.records.split(",") if r.strip()))
    elif args.data:
        records = annotated_records(data)
        if not records:
            raise ConfigError(f"--data {data}: no record there has both a .hea header and .atr annotations")
    else:
        records = SPLITS["DS2"]
    check_records(records, data, args.skip_s, clf, args.channel)
    trained_on = sorted(set(records) & set((clf.manifest.training or {}).get("train_records") or ()))
    if trained_on:
        print(f"note: {trained_on} have the names of records this model was trained on: if they are the same "
              "recordings, their scores are not held-out figures", file=sys.stderr)
    results = []
    for name in records:
        r = ec57_record(clf, name, data, speed=args.speed, channel=args.channel, skip_s=args.skip_s, mains_hz=args.mains)
        results.append(r)
        s = r.stream.summary()
        print(f"{name}: {r.device_s:.0f} s in {r.seconds:.1f} s, QRS Se {100 * s['qrs_se']:.2f} +P {100 * s['qrs_ppv']:.2f}, "
              f"agreement with the offline pipeline {100 * r.agree_pipeline / max(r.compared_pipeline, 1):.2f} %, "
              f"with the reference-R evaluation {100 * r.agree / max(r.compared, 1):.2f} %", file=sys.stderr)
    print(f"model {clf.path} ({clf.file.precision}, {clf.backend.describe()})"
          + (f"; scored from {args.skip_s:g} s into each record" if args.skip_s else ""))
    print(format_ec57(results))
    if json_path is not None:
        write_results_json(results, json_path)
    return 0


def write_results_json(results, path: str | Path) -> None:
    """Per-record results as standard JSON: a score with no beats to score (e.g. SVEB Se of a
    record without S beats) is ``null``, not ``NaN``."""
    from edge_ecg.errors import ConfigError
    from edge_ecg.runtime.sinks import dumps_strict

    doc = [{"record": r.record, "stream": r.stream.summary(), "offline": r.offline.summary(),
            "agree": r.agree, "compared": r.compared, "agree_pipeline": r.agree_pipeline,
            "compared_pipeline": r.compared_pipeline, "samples_lost": r.samples_lost,
            "seconds": r.seconds, "device_s": r.device_s} for r in results]
    try:
        Path(path).write_text(dumps_strict(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--json {path}: cannot write the results: {exc.strerror or exc}") from exc
