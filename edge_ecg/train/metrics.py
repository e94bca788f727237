"""Classification metrics, numpy only (the streaming benchmarks use them too).

Beat metrics follow AAMI EC57 conventions as used for inter-patient MIT-BIH work (de Chazal
2004): sensitivity ``Se = TP/(TP+FN)``, positive predictivity ``+P = TP/(TP+FP)`` and false
positive rate ``FPR = FP/(FP+TN)`` per class from the confusion matrix, reported for VEB (V) and
SVEB (S), plus N and F.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from edge_ecg.errors import ConfigError


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class i predicted as j."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ConfigError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ConfigError(f"{name} holds labels outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def per_class(cm: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    """Se, +P, F1, FPR and support of each class from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    out = {}
    for i, c in enumerate(classes):
        tp = cm[i, i]
        fn = cm[i].sum() - tp
        fp = cm[:, i].sum() - tp
        tn = total - tp - fn - fp
        se, ppv = _div(tp, tp + fn), _div(tp, tp + fp)
        f1 = _div(2 * tp, 2 * tp + fn + fp)
        out[c] = {"se": se, "ppv": ppv, "f1": f1, "fpr": _div(fp, fp + tn), "support": int(tp + fn)}
    return out


def macro_f1(cm: np.ndarray) -> float:
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    denom = 2 * tp + (cm.sum(1) - tp) + (cm.sum(0) - tp)
    present = cm.sum(1) > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean()) if present.any() else float("nan")


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; NaN when only one class is present."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def macro_auc(y_true: np.ndarray, probs: np.ndarray, *, multi_label: bool = False) -> float:
    """Macro one-vs-rest ROC AUC over the classes present."""
    probs = np.asarray(probs)
    n = probs.shape[1]
    onehot = np.asarray(y_true) if multi_label else np.eye(n, dtype=bool)[np.asarray(y_true)]
    aucs = [binary_auc(onehot[:, k], probs[:, k]) for k in range(n)]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(
    y_true: np.ndarray, probs: np.ndarray, classes: tuple[str, ...] | list[str], *, multi_label: bool = False
) -> dict:
    """Accuracy, macro-F1, macro AUC and per-class Se/+P/F1 (single-label) or per-class F1 at 0.5
    (multi-label)."""
    probs = np.asarray(probs, dtype=np.float64)
    classes = tuple(classes)
    if multi_label:
        y = np.asarray(y_true).astype(bool)
        pred = probs >= 0.5
        f1s = {}
        for k, c in enumerate(classes):
            tp = np.sum(pred[:, k] & y[:, k])
            f1s[c] = _div(2 * tp, 2 * tp + np.sum(pred[:, k] & ~y[:, k]) + np.sum(~pred[:, k] & y[:, k]))
        valid = [v for k, v in enumerate(f1s.values()) if y[:, k].any()]
        return {
            "accuracy": float(np.mean(np.all(pred == y, axis=1))),
            "macro_f1": float(np.mean(valid)) if valid else float("nan"),
            "macro_auc": macro_auc(y, probs, multi_label=True),
            "per_class": {c: {"f1": f1s[c], "support": int(y[:, k].sum())} for k, c in enumerate(classes)},
        }
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    return {
        "accuracy": float(np.mean(y_pred == y_true)) if y_true.size else float("nan"),
        "macro_f1": macro_f1(cm),
        "macro_auc": macro_auc(y_true, probs),
        "per_class": per_class(cm, classes),
        "confusion": cm.tolist(),
    }


def format_beat_table(report: dict, classes=("N", "S", "V", "F")) -> str:
    """The per-class Se / +P / F1 table (percent) used in the README and benchmark output."""
    lines = [f"{'class':<6}{'support':>9}{'Se %':>8}{'+P %':>8}{'F1 %':>8}{'FPR %':>8}"]
    for c in classes:
        m = report["per_class"].get(c)
        if m is None:
            continue
        lines.append(
            f"{c:<6}{m['support']:>9d}{100 * m['se']:>8.2f}{100 * m['ppv']:>8.2f}"
            f"{100 * m['f1']:>8.2f}{100 * m['fpr']:>8.2f}"
        )
    lines.append(f"accuracy {100 * report['accuracy']:.2f} %  macro-F1 {report['macro_f1']:.4f}  macro-AUC {report['macro_auc']:.4f}")
    return "\n".join(lines)
