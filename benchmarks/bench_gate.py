"""Quality gate of multi-lead windows: how many clean 12-lead windows it accepts and how many
noisy ones it rejects, for each share of leads allowed to fail the noise indices.

Each record goes through the runtime's front end (causal filter and resampler of the window
model's manifest, 2 s of settling dropped), is cut into the model's windows, and every lead of
every window is assessed (:func:`edge_ecg.signal.quality.assess_leads`). A window is rejected as
:func:`edge_ecg.signal.quality.failing_leads` decides at each ``--fractions`` value. Noise is
NSTDB ``em``/``ma``/``bw`` (lead ``k`` gets noise channel ``k % 2`` from a random offset), added
at each power SNR after the model's band-pass, and also alone (no ECG). ``--noise-part first``
takes the first 70 % of each noise record, ``last`` the last 30 %.

    python benchmarks/bench_gate.py --data ../shared/data/cinc2021_12lead --noise-part first --snr 0,-6
    python benchmarks/bench_gate.py --data ../shared/data/cpsc2018 --noise-part last --snr 6,0,-6
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.bench.report import text_table  # noqa: E402
from edge_ecg.data.leads import select_leads  # noqa: E402
from edge_ecg.data.records import read_record  # noqa: E402
from edge_ecg.deploy.manifest import load_manifest  # noqa: E402
from edge_ecg.paths import ASSETS_DIR, shared_data_dir  # noqa: E402
from edge_ecg.signal.filters import CausalFilter, filter_causal  # noqa: E402
from edge_ecg.signal.noise import add_noise, noise_gain  # noqa: E402
from edge_ecg.signal.quality import assess_leads, failing_leads  # noqa: E402
from edge_ecg.signal.resample import StreamingResampler, resample_stream  # noqa: E402

FRACTIONS = (0.0, 1 / 12, 2 / 12, 3 / 12, 4 / 12, 6 / 12)


def window_reports(x_uv: np.ndarray, fs_hz: float, spec) -> list[list]:
    """Per window of the model, the quality report of each lead (front end as the stream's)."""
    y = CausalFilter(spec.filter, fs_hz, x_uv.shape[1]).process(x_uv)
    rs = StreamingResampler(fs_hz, spec.fs_hz, x_uv.shape[1])
    y = rs.process(y)[int(2.0 * spec.fs_hz) + int(round(rs.delay_out_samples)):]
    n = max(1, len(y) // spec.length)  # a short record is one (shorter) window
    return [assess_leads(y[w * spec.length:(w + 1) * spec.length], spec.fs_hz) for w in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ASSETS_DIR / "models" / "twelve_lead" / "model_fp32.onnx"),
                    help="window model whose manifest sets leads, filter, rate and window (default: the bundled 12-lead one)")
    ap.add_argument("--data", default=str(shared_data_dir() / "cinc2021_12lead"), help="folder of WFDB records")
    ap.add_argument("--noise-part", choices=("first", "last"), default="first")
    ap.add_argument("--snr", default="0", help="comma-separated power SNRs in dB (default 0)")
    ap.add_argument("--noise-only", type=int, default=40, help="noise-only windows per noise kind (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    spec = load_manifest(args.model).input
    if spec.kind != "window":
        raise SystemExit(f"{args.model}: a {spec.kind!r} model; the gate of multi-lead windows needs a window model")
    rng = np.random.default_rng(args.seed)
    snrs = [float(s) for s in args.snr.split(",")]
    noise = {}
    for kind in ("em", "ma", "bw"):
        r = read_record(shared_data_dir() / "nstdb_noise" / kind, annotator=None)
        x = np.nan_to_num(r.signal_uv())
        cut = int(0.7 * len(x))
        noise[kind] = (r.fs_hz, x[:cut] if args.noise_part == "first" else x[cut:])
    conditions: dict[str, list[list]] = {}

    def add(name, reports):
        conditions.setdefault(name, []).extend(reports)

    heads = sorted(Path(args.data).glob("*.hea"))
    for h in heads:
        rec = read_record(h.with_suffix(""), annotator=None)
        x = select_leads(np.nan_to_num(rec.signal_uv()), rec.lead_names, spec.leads, derive=True)
        add("clean", window_reports(x, rec.fs_hz, spec))
        xf = filter_causal(x, spec.filter, rec.fs_hz)
        live = np.mean(xf**2, axis=0) > 0  # an all-zero lead gets no noise (no gain gives an SNR)
        for kind, (nfs, nz) in noise.items():
            nz = resample_stream(nz, nfs, rec.fs_hz)
            off = rng.integers(0, len(nz) - len(x))
            seg = nz[off:off + len(x)][:, np.arange(x.shape[1]) % nz.shape[1]]
            segf = filter_causal(seg, spec.filter, rec.fs_hz)
            for snr in snrs:
                g = np.zeros(x.shape[1])
                g[live] = noise_gain(xf[:, live], segf[:, live], snr)
                add(f"{kind} {snr:g} dB", window_reports(add_noise(x, seg, g), rec.fs_hz, spec))
        print(f"[gate] {rec.name}", file=sys.stderr, flush=True)
    n_win = int(round((spec.window.length_s + 2.0) * 500.0))
    for kind, (nfs, nz) in noise.items():
        nz = resample_stream(nz, nfs, 500.0)
        for _ in range(args.noise_only):
            off = rng.integers(0, len(nz) - n_win)
            add(f"{kind} only", window_reports(nz[off:off + n_win][:, np.arange(len(spec.leads)) % nz.shape[1]], 500.0, spec))
    rows = []
    for name, windows in conditions.items():
        accepted = [np.mean([not failing_leads(w, f) for w in windows]) for f in FRACTIONS]
        shown = accepted if name == "clean" else [1 - a for a in accepted]
        rows.append([name, "accepted" if name == "clean" else "rejected", str(len(windows))] + [f"{100 * v:.1f}" for v in shown])
    print(f"{len(heads)} records of {args.data}; noise from the {args.noise_part} "
          f"{'70' if args.noise_part == 'first' else '30'} % of each NSTDB record; % of windows")
    print(text_table(["condition", "", "windows"] + [f"> {math.floor(f * 12 + 1e-9)}/12 fail" if f else "any fails"
                                                    for f in FRACTIONS], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
