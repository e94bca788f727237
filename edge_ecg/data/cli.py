"""``edge-ecg data``: summarise a dataset or a record (class counts, splits, calibration).

Examples::

    edge-ecg data mitdb --split DS1           # AAMI beat counts of the DS1 records
    edge-ecg data mitdb --records 100 101     # ... of chosen records, per record
    edge-ecg data rhythm --split DS2          # 10 s rhythm windows per rhythm
    edge-ecg data cinc2017                    # N/A/O/~ counts (REFERENCE-v3 labels)
    edge-ecg data 12lead DIR [DIR ...]        # diagnosis counts, age/sex coverage
    edge-ecg data ptbxl ROOT --sampling-rate 100
    edge-ecg data record PATH                 # one record's header, calibration and labels
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)

    def data_dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="folder holding the dataset (default: the shared data folder, $EDGE_ECG_DATA)",
        )

    p = sub.add_parser("mitdb", help="MIT-BIH AAMI beat counts (DS1/DS2 or chosen records)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--split", choices=("DS1", "DS2"), default="DS1")
    g.add_argument("--records", nargs="+", metavar="NAME", help="record names instead of a split")
    p.add_argument("--per-record", action="store_true", help="print one row per record")
    data_dir_arg(p)

    p = sub.add_parser("rhythm", help="MIT-BIH rhythm windows per rhythm label")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--split", choices=("DS1", "DS2"), default="DS1")
    g.add_argument("--records", nargs="+", metavar="NAME")
    p.add_argument("--window-s", type=float, default=10.0, help="window length in seconds")
    data_dir_arg(p)

    p = sub.add_parser("cinc2017", help="CinC 2017 label counts (REFERENCE-v3)")
    data_dir_arg(p)

    p = sub.add_parser("12lead", help="CinC 2020/2021 / CPSC 2018 folders: diagnoses, age, sex")
    p.add_argument(
        "dirs",
        nargs="*",
        type=Path,
        help="record folders (default: shared cinc2021_12lead and cpsc2018)",
    )

    p = sub.add_parser("ptbxl", help="PTB-XL folder: superclass counts per split")
    p.add_argument("root", type=Path, help="folder holding ptbxl_database.csv")
    p.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100)

    p = sub.add_parser("record", help="one record's header, calibration and annotations")
    p.add_argument(
        "path", type=Path, help="WFDB record (with or without extension), .npz or OpenSignals .txt"
    )


def _default_dir(args, folder: str) -> Path:
    from edge_ecg.paths import shared_data_dir

    return args.data_dir if args.data_dir is not None else shared_data_dir() / folder


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    return {
        "mitdb": _mitdb,
        "rhythm": _rhythm,
        "cinc2017": _cinc2017,
        "12lead": _twelve_lead,
        "ptbxl": _ptbxl,
        "record": _record,
    }[args.dataset](args)


def _mitdb(args) -> int:
    from edge_ecg.data.labels import AAMI_CLASSES
    from edge_ecg.data.mitdb import SPLITS, beat_counts

    data_dir = _default_dir(args, "mitdb")
    names = tuple(args.records) if args.records else SPLITS[args.split]
    title = "records " + " ".join(names) if args.records else f"{args.split} ({len(names)} records)"
    rows = [["record", *AAMI_CLASSES, "total"]]
    total = dict.fromkeys(AAMI_CLASSES, 0)
    for name in names:
        c = beat_counts([name], data_dir)
        for k in AAMI_CLASSES:
            total[k] += c[k]
        if args.per_record:
            rows.append([name, *(f"{c[k]:,}" for k in AAMI_CLASSES), f"{sum(c.values()):,}"])
    rows.append(["all", *(f"{total[k]:,}" for k in AAMI_CLASSES), f"{sum(total.values()):,}"])
    print(f"MIT-BIH AAMI beat classes, {title}")
    print(_table(rows))
    return 0


def _rhythm(args) -> int:
    from edge_ecg.data.mitdb import SPLITS, load_rhythm_windows

    names = tuple(args.records) if args.records else SPLITS[args.split]
    s = load_rhythm_windows(names, _default_dir(args, "mitdb"), window_s=args.window_s)
    rows = [["rhythm", "windows"]] + [[k, f"{v:,}"] for k, v in s.counts().items()]
    rows.append(["all", f"{len(s):,}"])
    print(f"MIT-BIH {args.window_s:g} s rhythm windows (uniform rhythm only), {len(names)} records")
    print(_table(rows))
    return 0


def _cinc2017(args) -> int:
    from edge_ecg.data.cinc import load_cinc2017

    s = load_cinc2017(_default_dir(args, "cinc2017"))
    rows = [["label", "records"]] + [[k, f"{v:,}"] for k, v in s.counts().items()]
    rows.append(["all", f"{len(s):,}"])
    secs = [x.shape[1] / s.fs_hz for x in s.signals]
    print(
        f"CinC 2017, labels from {s.reference}, {s.fs_hz:g} Hz, {min(secs):.1f}-{max(secs):.1f} s"
    )
    print(_table(rows))
    return 0


def _twelve_lead(args) -> int:
    import numpy as np

    from edge_ecg.data.cinc import load_12lead
    from edge_ecg.paths import shared_data_dir

    dirs = args.dirs or [shared_data_dir() / "cinc2021_12lead", shared_data_dir() / "cpsc2018"]
    s = load_12lead(dirs)
    rows = [["label", "records"]] + [[k, f"{v:,}"] for k, v in s.counts().items() if v]
    print(f"{len(s)} records from {', '.join(str(d) for d in dirs)}")
    print(_table(rows))
    known_age = np.isfinite(s.age_years)
    print(
        f"age known for {int(known_age.sum())}/{len(s)}"
        + (f" (median {float(np.median(s.age_years[known_age])):.0f} y)" if known_age.any() else "")
        + f"; sex M {int((s.sex == 'M').sum())}, F {int((s.sex == 'F').sum())}, "
        f"unknown {int((s.sex == '').sum())}"
    )
    if s.unknown_codes:
        print(
            "unknown Dx codes (counted as OTHER): "
            + ", ".join(f"{k} x{v}" for k, v in s.unknown_codes.items())
        )
    return 0


def _ptbxl(args) -> int:
    from edge_ecg.data.cinc import PTBXL_SPLITS, load_ptbxl

    s = load_ptbxl(args.root, args.sampling_rate)
    rows = [["split", *s.classes, "records"]]
    for split in PTBXL_SPLITS:
        m = s.split_mask(split)
        rows.append(
            [
                split,
                *(f"{int(s.y[m, i].sum()):,}" for i in range(len(s.classes))),
                f"{int(m.sum()):,}",
            ]
        )
    print(f"PTB-XL diagnostic superclasses, {args.sampling_rate} Hz, {len(s)} records")
    print(_table(rows))
    return 0


def _record(args) -> int:
    from collections import Counter

    import numpy as np

    from edge_ecg.data.records import read_record

    r = read_record(args.path)
    upc = r.uv_per_count()  # a unit that is no voltage is refused here, before anything is printed
    invalid = np.isnan(r.p_signal).sum(axis=0)
    print(
        f"{r.name}: {r.n_leads} lead(s), {r.fs_hz:g} Hz, {r.n_samples} samples ({r.n_samples / r.fs_hz:.1f} s)"
    )
    rows = [["lead", "units", "adc_gain", "baseline", "uV/count", "invalid samples"]]
    for i, lead in enumerate(r.lead_names):
        rows.append(
            [
                lead,
                r.units[i],
                f"{r.adc_gain[i]:g}",
                str(r.baseline[i]),
                f"{upc[i]:.4g}",
                str(int(invalid[i])),
            ]
        )
    print(_table(rows))
    if r.age is not None or r.sex is not None or r.dx:
        print(
            f"age {r.age if r.age is not None else '?'}, sex {r.sex or '?'}, Dx {', '.join(r.dx) or '-'}"
        )
    if r.annotations is not None:
        c = Counter(r.annotations.symbol)
        print(
            f"{len(r.annotations)} annotations: "
            + ", ".join(f"{k} {v}" for k, v in c.most_common())
        )
    return 0
