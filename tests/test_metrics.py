import numpy as np
import pytest

from edge_ecg.bench.ec57 import match_beats, score_record
from edge_ecg.errors import ConfigError
from edge_ecg.train.metrics import (
    binary_auc,
    classification_report,
    confusion_matrix,
    macro_f1,
    per_class,
)


def test_confusion_and_per_class_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = per_class(cm, ("a", "b", "c"))
    assert m["a"]["se"] == pytest.approx(2 / 3) and m["a"]["ppv"] == 1.0
    assert m["b"]["se"] == pytest.approx(0.5) and m["b"]["ppv"] == pytest.approx(0.5)
    assert m["c"]["fpr"] == pytest.approx(1 / 5)
    f1 = [2 * 2 / (2 * 2 + 1), 2 * 1 / (2 + 1 + 1), 2 / (2 + 1)]
    assert macro_f1(cm) == pytest.approx(np.mean(f1))
    with pytest.raises(ConfigError, match="outside"):
        confusion_matrix(np.array([3]), np.array([0]), 3)


def test_auc_rank_formula():
    assert binary_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert np.isnan(binary_auc(np.array([1, 1]), np.array([0.2, 0.3])))
    probs = np.eye(3)[[0, 1, 2, 0]] * 0.9 + 0.05
    r = classification_report(np.array([0, 1, 2, 0]), probs, ("a", "b", "c"))
    assert r["accuracy"] == 1.0 and r["macro_auc"] == 1.0 and r["macro_f1"] == 1.0


def test_match_beats_nearest_first_within_window():
    ref = np.array([100, 400, 700, 1000])
    det = np.array([95, 420, 455, 1300])  # 455 is 55 samples from 400, 420 is nearer
    r, d = match_beats(ref, det, fs_hz=360.0)
    assert sorted(zip(r.tolist(), d.tolist(), strict=False)) == [(0, 0), (1, 1)]


def test_ec57_counts():
    ref = np.array([100, 400, 700, 1000, 1300])
    cls = ["N", "V", "S", "N", "Q"]
    det = np.array([101, 399, 702, 1100 + 200, 2000])
    lab = ["N", "V", "N", "unreadable", "V"]
    c = score_record(ref, cls, det, lab, 360.0)
    s = c.summary()
    assert (c.qrs_tp, c.qrs_fn, c.qrs_fp) == (4, 1, 1)
    assert s["veb_se"] == 1.0  # the one V beat found and labelled V
    assert s["veb_ppv"] == pytest.approx(1 / 2)  # the unmatched V detection is false
    assert s["sveb_se"] == 0.0
    assert s["unreadable"] == 1


def test_ec57_class_statistics_follow_bxb():
    """VEB: a fusion or Q beat labelled V is not a false VEB; SVEB: a fusion beat labelled S is a
    false SVEB, a Q beat labelled S is not; FPR counts every other detection as a negative."""
    ref = np.array([100, 400, 700, 1000, 1300, 1600, 1900, 2200])
    cls = ["V", "F", "Q", "N", "S", "F", "Q", "N"]
    det = np.array([100, 400, 700, 1000, 1300, 1600, 1900, 2200, 2600])
    lab = ["V", "V", "V", "V", "S", "S", "S", "N", "S"]
    s = score_record(ref, cls, det, lab, 360.0).summary()
    assert s["veb_se"] == 1.0
    assert s["veb_ppv"] == pytest.approx(1 / 2)  # only the N beat labelled V is false
    # V negatives: the 8 other detections not labelled V (S, S, S, N, S); V false: 1 (the N beat)
    assert s["veb_fpr"] == pytest.approx(1 / (1 + 5))
    assert s["sveb_se"] == 1.0
    assert s["sveb_ppv"] == pytest.approx(1 / 3)  # F labelled S and the S on no beat are false
    # S negatives: detections not labelled S on non-S beats or none: V, F(V), Q(V), N(V), N(N)
    assert s["sveb_fpr"] == pytest.approx(2 / (2 + 5))
