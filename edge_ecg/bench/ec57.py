"""Beat-by-beat scoring against reference annotations, the way ANSI/AAMI EC57 does.

Detections are matched to reference beats within a window (150 ms), each reference and each
detection used at most once, nearest first. From the matches:

- QRS detection: Se = TP / (TP + FN) over reference beats, +P = TP / (TP + FP) over detections.
- VEB (class ``V``) and SVEB (class ``S``), with the formulas of WFDB's ``bxb`` (the reference
  EC57 comparator): Se = matched reference beats of the class labelled as the class / all
  reference beats of the class (unmatched ones count as missed); +P = detections labelled as the
  class that match a reference beat of the class / those plus the false ones. False VEBs are
  detections labelled V on N or S beats or on no beat; a fusion (F) or unclassifiable (Q) beat
  labelled V is not false (a fusion beat is part ventricular). False SVEBs are detections
  labelled S on N, V or F beats or on no beat (Q beats excluded). FPR = false / (false + true
  negatives), the negatives being every other detection not labelled as the class.
  Reference beats of class Q and detections emitted as ``unreadable`` are left out of the class
  statistics (EC57 excludes unclassifiable beats), but counted in the QRS statistics.
- A detection the model labels ``artifact`` (a model trained with hard negatives) is the model's
  verdict that it is not a heartbeat: it is dropped before matching, like a detection the
  detector itself had rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_ecg.bench.report import pct
from edge_ecg.data.labels import ARTIFACT
from edge_ecg.signal.filters import MAINS_HZ
from edge_ecg.signal.qrs import match_pairs

MATCH_WINDOW_S = 0.150
SCORED = ("N", "S", "V", "F")


def match_beats(ref_samples: np.ndarray, det_samples: np.ndarray, fs_hz: float, window_s: float = MATCH_WINDOW_S) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(ref_index, det_index)`` matched within ``window_s``; nearest pairs first."""
    return match_pairs(ref_samples, det_samples, int(round(window_s * fs_hz)))


@dataclass
class EC57Counts:
    """Raw counts, additive over records (gross statistics sum counts, not percentages)."""

    qrs_tp: int = 0
    qrs_fn: int = 0
    qrs_fp: int = 0
    # confusion of matched beats: reference class (N,S,V,F,Q) x emitted label (N,S,V,F,unreadable)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((5, 5), np.int64))
    ref_unmatched: np.ndarray = field(default_factory=lambda: np.zeros(5, np.int64))  # per ref class
    det_unmatched: np.ndarray = field(default_factory=lambda: np.zeros(5, np.int64))  # per emitted label

    def __iadd__(self, other: EC57Counts) -> EC57Counts:
        self.qrs_tp += other.qrs_tp
        self.qrs_fn += other.qrs_fn
        self.qrs_fp += other.qrs_fp
        self.confusion += other.confusion
        self.ref_unmatched += other.ref_unmatched
        self.det_unmatched += other.det_unmatched
        return self

    def summary(self) -> dict[str, float]:
        def div(a, b):
            return float(a) / float(b) if b else float("nan")

        out = {
            "qrs_se": div(self.qrs_tp, self.qrs_tp + self.qrs_fn),
            "qrs_ppv": div(self.qrs_tp, self.qrs_tp + self.qrs_fp),
            "beats_ref": int(self.qrs_tp + self.qrs_fn),
            "beats_detected": int(self.qrs_tp + self.qrs_fp),
        }
        cm = self.confusion
        # rows N,S,V,F,Q (reference), columns N,S,V,F,unreadable (emitted); bxb's VFP / SFP
        false_on = {2: (0, 1), 1: (0, 2, 3)}  # reference classes on which a V / S label is false
        for name, k in (("veb", 2), ("sveb", 1)):
            tp = cm[k, k]
            fn = cm[k].sum() - tp + self.ref_unmatched[k]  # unreadable & missed = missed
            fp = cm[list(false_on[k]), k].sum() + self.det_unmatched[k]
            negatives = [i for i in range(5) if i != k]
            tn = cm[np.ix_(negatives, negatives)].sum() + self.det_unmatched[negatives].sum()
            out[f"{name}_se"] = div(tp, tp + fn)
            out[f"{name}_ppv"] = div(tp, tp + fp)
            out[f"{name}_fpr"] = div(fp, tn + fp)
        scored = cm[:4, :4]
        out["class_agreement"] = div(np.trace(scored), scored.sum())
        out["unreadable"] = int(cm[:, 4].sum() + self.det_unmatched[4])
        return out


LABEL_INDEX = {"N": 0, "S": 1, "V": 2, "F": 3, "Q": 4}


def score_record(ref_samples, ref_classes, det_samples, det_labels, fs_hz: float, *, skip_s: float = 0.0) -> EC57Counts:
    """Counts of one record. ``ref_classes`` in N/S/V/F/Q; ``det_labels`` in N/S/V/F,
    ``unreadable`` or ``artifact`` (dropped). Beats before ``skip_s`` (both sides) are ignored."""
    ref = np.asarray(ref_samples, np.int64)
    beat = np.array([c != ARTIFACT for c in det_labels], dtype=bool)
    det = np.asarray(det_samples, np.int64)[beat]
    det_labels = [c for c, b in zip(det_labels, beat, strict=True) if b]
    rc = np.array([LABEL_INDEX[c] for c in ref_classes], np.int64)
    dl = np.array([LABEL_INDEX.get(c, 4) for c in det_labels], np.int64)
    lo = int(round(skip_s * fs_hz))
    keep_r, keep_d = ref >= lo, det >= lo
    ref, rc, det, dl = ref[keep_r], rc[keep_r], det[keep_d], dl[keep_d]
    pr, pd = match_beats(ref, det, fs_hz)
    c = EC57Counts()
    c.qrs_tp = int(pr.size)
    c.qrs_fn = int(ref.size - pr.size)
    c.qrs_fp = int(det.size - pd.size)
    np.add.at(c.confusion, (rc[pr], dl[pd]), 1)
    un_r = np.ones(ref.size, bool)
    un_r[pr] = False
    un_d = np.ones(det.size, bool)
    un_d[pd] = False
    c.ref_unmatched = np.bincount(rc[un_r], minlength=5)
    c.det_unmatched = np.bincount(dl[un_d], minlength=5)
    return c


# -- accuracy through the stream vs offline ---------------------------------------------------


def reference_beats(record) -> tuple[np.ndarray, list[str]]:
    """Reference beat samples and their AAMI classes (non-beat annotations dropped)."""
    from edge_ecg.data.labels import aami_class

    cls = [aami_class(s, record=record.name) for s in record.annotations.symbol]
    keep = np.array([c is not None for c in cls], dtype=bool)
    return np.asarray(record.annotations.sample)[keep], [c for c in cls if c is not None]


def offline_labels(clf, record_name: str, data_dir, record_fs_hz: float,
                   channel: str | None = None) -> tuple[np.ndarray, list[str]]:
    """The same model file, offline the way it was evaluated when it was made: windows cut at the
    *reference* R peaks with the runtime's filter, RR features from the reference beats, through
    the same backend. Returns (reference samples on the record's clock, labels)."""
    from edge_ecg.runtime.preprocess import load_beats_for

    spec = clf.manifest.input
    beats, side = load_beats_for(spec, [record_name], data_dir, lead=channel)
    # the windows are cut on the model's clock; the scores match on the record's
    return np.rint(beats.sample * (record_fs_hz / beats.fs_hz)).astype(np.int64), _labels(clf, beats.x, side)


def detector_labels(clf, record, channel: str | None = None, *, mains_hz: tuple[float, ...] = MAINS_HZ) -> tuple[np.ndarray, list[str]]:
    """The same model file with the runtime's own front end run offline over the whole ``record``
    at once: its causal filter over the whole lead, its QRS detector, causal RR features of the
    detected beats, the beat window around each detected R. It differs from the stream only in
    the transport and in being computed in one piece, not chunk by chunk from a serial port, so
    the two agree beat for beat when the streaming path loses and changes nothing. (When the
    model rate differs from the record's, the record is resampled the way training data is, with
    a zero-phase polyphase filter, where the stream uses its causal resampler.) ``channel``: the
    record's channel to use (default: the manifest's lead); ``mains_hz``: the stream's mains
    notches. Returns (detected R samples on the record's clock, labels)."""
    from edge_ecg.data.mitdb import prepared_lead
    from edge_ecg.runtime.preprocess import causal_filter_fn, detected_beats

    spec = clf.manifest.input
    x, fs = prepared_lead(record, channel or spec.leads[0], spec.fs_hz, causal_filter_fn(spec.filter, mains_hz), None)
    r, windows, side = detected_beats(x, fs, spec)
    return np.rint(r * record.fs_hz / fs).astype(np.int64), _labels(clf, windows, side)


def _labels(clf, windows_uv: np.ndarray, side: np.ndarray, batch: int = 256) -> list[str]:
    from edge_ecg.runtime.preprocess import model_inputs

    x = model_inputs(windows_uv, clf.manifest.input)
    side = side if side.shape[1] else None
    probs = [clf.predict(x[i : i + batch], None if side is None else side[i : i + batch]) for i in range(0, len(x), batch)]
    return [clf.classes[k] for k in np.concatenate(probs).argmax(1)] if probs else []


def label_agreement(ref_samples, ref_classes, det_samples, det_labels, other_samples, other_labels,
                    fs_hz: float) -> tuple[int, int]:
    """``(agree, compared)`` over the reference beats (class Q left out) that the stream labelled
    with a class: the other path's label of the same reference beat must be the same. A beat the
    other path did not find, or left unlabelled, counts as a disagreement."""
    pr, pd = match_beats(ref_samples, det_samples, fs_hz)
    qr, qo = match_beats(ref_samples, other_samples, fs_hz)
    other_by_ref = {int(r): other_labels[o] for r, o in zip(qr, qo, strict=True)}
    agree = compared = 0
    for r, d in zip(pr, pd, strict=True):
        if det_labels[d] in SCORED and ref_classes[r] != "Q":
            compared += 1
            agree += det_labels[d] == other_by_ref.get(int(r))
    return agree, compared


@dataclass
class RecordResult:
    record: str
    stream: EC57Counts
    offline: EC57Counts  # the model file at the reference R peaks
    agree: int  # matched beats whose streamed label equals the offline (reference R) label
    compared: int
    samples_lost: int
    seconds: float
    device_s: float
    cpu_s: float = 0.0  # runtime CPU (reader + consumer threads)
    latencies_ms: list[float] = field(default_factory=list)
    agree_pipeline: int = 0  # ... equals the label of the offline run of the runtime's own front end
    compared_pipeline: int = 0


def check_skip(skip_s: float, length_s: float, record_name: str) -> None:
    """:class:`ConfigError` when skipping ``skip_s`` seconds leaves nothing of a ``length_s``
    record to score (empty scores would be printed beside a perfect agreement)."""
    from edge_ecg.errors import ConfigError

    if skip_s >= length_s:
        raise ConfigError(f"--skip-s {skip_s:g} s leaves nothing to score in record {record_name}, which is "
                          f"{length_s:.1f} s long; expected a skip shorter than every record")


def ec57_record(clf, record_name: str, data_dir, *, speed: float | None = None,
                channel: str | None = None, skip_s: float = 0.0, mains_hz: tuple[float, ...] = MAINS_HZ) -> RecordResult:
    """One record through simulator → pty → runtime, and offline two ways (at the reference R
    peaks; with the runtime's own front end over the whole record); all scored. ``channel``: the
    record's channel that feeds the (single-lead) model, when its name does not say so.
    ``skip_s``: beats before this time are left out of the EC57 scores (``bxb`` skips a 300 s
    learning period by default); the per-beat agreements cover the whole record. ``mains_hz``: the
    runtime's mains notches (in the stream and in the offline run of its front end alike)."""
    import time

    from edge_ecg.data.mitdb import load_mitdb_record
    from edge_ecg.runtime.replay import replay_record

    rec = load_mitdb_record(record_name, data_dir)
    check_skip(skip_s, rec.duration_s, record_name)
    ref_s, ref_c = reference_beats(rec)
    t0 = time.perf_counter()
    session, _ = replay_record(rec, clf, speed=speed, channels=(channel,) if channel else None, mains_hz=mains_hz)
    seconds = time.perf_counter() - t0
    beats = [r for r in session.results if r.kind == "beat"]
    det_s = np.array([r.sample for r in beats], np.int64)
    det_l = [r.label for r in beats]
    stream = score_record(ref_s, ref_c, det_s, det_l, rec.fs_hz, skip_s=skip_s)
    off_s, off_l = offline_labels(clf, record_name, data_dir, rec.fs_hz, channel)
    offline = score_record(ref_s, ref_c, off_s, off_l, rec.fs_hz, skip_s=skip_s)
    agree, compared = label_agreement(ref_s, ref_c, det_s, det_l, off_s, off_l, rec.fs_hz)
    agree_p, compared_p = label_agreement(ref_s, ref_c, det_s, det_l, *detector_labels(clf, rec, channel, mains_hz=mains_hz), rec.fs_hz)
    return RecordResult(record_name, stream, offline, agree, compared, session.summary()["samples_lost"],
                        seconds, rec.n_samples / rec.fs_hz, session.cpu_s, list(session.latencies_ms),
                        agree_p, compared_p)


def format_ec57(results: list[RecordResult]) -> str:
    """Per-record and gross table: stream (QRS, VEB, SVEB) and offline at the reference R peaks
    (VEB, SVEB); per-beat agreement of the streamed labels with the offline run of the runtime's
    own front end (``pipeline``) and with the offline labels at the reference R peaks (``ref R``)."""
    def ratio(a, b):
        return pct(a / b if b else float("nan"))

    w = max([7, *(len(r.record) + 1 for r in results)])  # record names of other databases are longer
    head = (f"{'record':<{w}}{'QRS Se':>7}{'QRS +P':>7}{'VEB Se':>7}{'VEB +P':>7}{'SVEB Se':>8}{'SVEB +P':>8}"
            f" | {'off VEB Se':>10}{'+P':>7}{'off SVEB Se':>12}{'+P':>7} | {'pipeline':>8}{'ref R':>7}{'lost':>6}")
    lines = [head, "-" * len(head)]
    gs, go = EC57Counts(), EC57Counts()

    def row(name, s, o, ap, cp, a, c, lost):
        return (f"{name:<{w}}{pct(s['qrs_se']):>7}{pct(s['qrs_ppv']):>7}{pct(s['veb_se']):>7}{pct(s['veb_ppv']):>7}"
                f"{pct(s['sveb_se']):>8}{pct(s['sveb_ppv']):>8} | {pct(o['veb_se']):>10}{pct(o['veb_ppv']):>7}"
                f"{pct(o['sveb_se']):>12}{pct(o['sveb_ppv']):>7} | {ratio(ap, cp):>8}{ratio(a, c):>7}{lost:>6}")

    for r in results:
        gs += r.stream
        go += r.offline
        lines.append(row(r.record, r.stream.summary(), r.offline.summary(), r.agree_pipeline,
                         r.compared_pipeline, r.agree, r.compared, r.samples_lost))
    lines.append("-" * len(head))
    s = gs.summary()
    lines.append(row("gross", s, go.summary(), sum(r.agree_pipeline for r in results),
                     sum(r.compared_pipeline for r in results), sum(r.agree for r in results),
                     sum(r.compared for r in results), sum(r.samples_lost for r in results)))
    dev = sum(r.device_s for r in results)
    wall = sum(r.seconds for r in results)
    lat = np.concatenate([r.latencies_ms for r in results]) if results else np.zeros(0)
    p50, p99 = (np.percentile(lat, [50, 99]) if lat.size else (float("nan"), float("nan")))
    lines.append(f"streamed {dev / 3600:.2f} h of ECG in {wall:.1f} s ({dev / wall:.0f}x real time); "
                 f"runtime CPU {1e3 * sum(r.cpu_s for r in results) / dev:.2f} ms per stream-second; "
                 f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
                 f"VEB FPR {pct(s['veb_fpr'])} %, SVEB FPR {pct(s['sveb_fpr'])} %")
    return "\n".join(lines)
