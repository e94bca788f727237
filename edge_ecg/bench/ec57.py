"""Beat-by-beat scoring against reference annotations, the way ANSI/AAMI EC57 does.

Detections are matched to reference beats within a window (150 ms), each reference and each
detection used at most once, nearest first. From the matches:

- QRS detection: Se = TP / (TP + FN) over reference beats, +P = TP / (TP + FP) over detections.
- VEB (class ``V``) and SVEB (class ``S``): Se = matched reference beats of the class labelled as
  the class / all reference beats of the class (unmatched ones count as missed); +P = detections
  labelled as the class that match a reference beat of the class / all detections labelled as the
  class (unmatched detections labelled as the class count as false); FPR = detections labelled as
  the class matched to reference beats of other classes / those reference beats.
  Reference beats of class Q and detections emitted as ``unreadable`` are left out of the class
  statistics (EC57 excludes unclassifiable beats), but counted in the QRS statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MATCH_WINDOW_S = 0.150
SCORED = ("N", "S", "V", "F")


def match_beats(ref_samples: np.ndarray, det_samples: np.ndarray, fs_hz: float, window_s: float = MATCH_WINDOW_S) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(ref_index, det_index)`` matched within ``window_s``; nearest pairs first."""
    ref = np.asarray(ref_samples, dtype=np.int64)
    det = np.asarray(det_samples, dtype=np.int64)
    if ref.size == 0 or det.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tol = window_s * fs_hz
    order = np.argsort(det, kind="stable")
    det_sorted = det[order]
    # candidate pairs: each reference with its neighbours in the sorted detections
    pos = np.searchsorted(det_sorted, ref)
    cand_r, cand_d, cand_dist = [], [], []
    for off in (-2, -1, 0, 1):
        j = pos + off
        ok = (j >= 0) & (j < det_sorted.size)
        dist = np.abs(det_sorted[np.clip(j, 0, det_sorted.size - 1)] - ref).astype(np.float64)
        ok &= dist <= tol
        cand_r.append(np.flatnonzero(ok))
        cand_d.append(order[j[ok]])
        cand_dist.append(dist[ok])
    r_idx = np.concatenate(cand_r)
    d_idx = np.concatenate(cand_d)
    dist = np.concatenate(cand_dist)
    used_r = np.zeros(ref.size, bool)
    used_d = np.zeros(det.size, bool)
    pairs_r, pairs_d = [], []
    for k in np.lexsort((r_idx, dist)):
        r, d = r_idx[k], d_idx[k]
        if not used_r[r] and not used_d[d]:
            used_r[r] = used_d[d] = True
            pairs_r.append(r)
            pairs_d.append(d)
    return np.asarray(pairs_r, np.int64), np.asarray(pairs_d, np.int64)


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
        for name, k in (("veb", 2), ("sveb", 1)):
            tp = cm[k, k]
            ref_total = cm[k, :4].sum() + cm[k, 4] + self.ref_unmatched[k]  # unreadable & missed = missed
            det_total = cm[:, k].sum() + self.det_unmatched[k]
            fp_matched = cm[[i for i in range(4) if i != k], k].sum()
            others = cm[[i for i in range(4) if i != k], :].sum()
            out[f"{name}_se"] = div(tp, ref_total)
            out[f"{name}_ppv"] = div(tp, det_total - cm[4, k])  # detections on Q beats are excluded
            out[f"{name}_fpr"] = div(fp_matched, others)
        scored = cm[:4, :4]
        out["class_agreement"] = div(np.trace(scored), scored.sum())
        out["unreadable"] = int(cm[:, 4].sum() + self.det_unmatched[4])
        return out


LABEL_INDEX = {"N": 0, "S": 1, "V": 2, "F": 3, "Q": 4}


def score_record(ref_samples, ref_classes, det_samples, det_labels, fs_hz: float, *, skip_s: float = 0.0) -> EC57Counts:
    """Counts of one record. ``ref_classes`` in N/S/V/F/Q; ``det_labels`` in N/S/V/F or
    ``unreadable``. Beats before ``skip_s`` (both sides) are ignored."""
    ref = np.asarray(ref_samples, np.int64)
    det = np.asarray(det_samples, np.int64)
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
