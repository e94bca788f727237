"""Parity: an exported file, run in its own runtime on real held-out beats, against the torch
models it came from — and the verify that turns that into a pass/fail against a recipe.

References (whichever are available):

* ``float`` — the float checkpoint (torch);
* ``fake_quant`` — the frozen QAT/PTQ graph (torch float simulation of the int8 arithmetic);
* ``int8_reference`` — the converted graph (torch's reference quantized ops, BN folded, int32
  biases): the integers the file should hold. ONNX equals it to the last bit; TFLite within a
  quantum (rounding of ties differs).

For each: top-1 agreement, per-class Se/+P/F1 of both and their deltas, max / mean logit
error (and, for the int8 reference, in quanta of the output grid). For int8 ONNX files a per-
layer SQNR (:func:`onnx_layer_sqnr`) compares every quantized activation with the same tensor
computed with float activations, as ``onnxruntime.quantization.qdq_loss_debug`` does for its own
QDQ models (whose naming convention our dynamo-exported graphs do not follow).

Data: MIT-BIH DS2 beats cut exactly as in training (:func:`edge_ecg.train.evaluate.ds2_task`),
the held-out inter-patient split; ``limit`` takes a seeded random subset.

The float checkpoint is the one given, else the one at the path recorded in the manifest (as
given to ``edge-ecg export``, so relative to where the export ran), else a bundled checkpoint
(:data:`BUNDLED_CHECKPOINTS_DIR`) whose weights hash to the manifest's ``training.weights_sha256``
(:func:`find_float_checkpoint`). A reference that cannot be found is not compared, and the
report says so: :attr:`VerifyReport.parity_run` is false when no torch reference ran at all,
and the verdict then reads "PASSED (op check only: parity NOT run …)", never a plain PASSED.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_ecg.errors import CheckpointError, ConfigError, ManifestError
from edge_ecg.paths import ASSETS_DIR
from edge_ecg.runtime.sinks import json_safe

SQNR_WINDOWS = 256
BUNDLED_CHECKPOINTS_DIR = ASSETS_DIR / "checkpoints"
REFERENCE_LABELS = {"float": "torch float", "fake_quant": "fake-quant", "int8_reference": "int8 reference"}


@dataclass(frozen=True)
class Comparison:
    """The file against one torch reference on the same windows."""

    reference: str
    top1_agreement: float
    max_logit_error: float
    mean_logit_error: float
    reference_macro_f1: float
    macro_f1_delta: float  # file − reference
    per_class_delta: dict[str, dict[str, float]]
    output_lsb: float | None = None  # max logit error in quanta of the output grid
    output_lsb_p999: float | None = None  # its 99.9th percentile over windows

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LayerSQNR:
    """One quantized activation: SQNR (dB) of its dequantized value against the same tensor in
    a float-activation run (``xmodel``: error accumulated up to here) and against its own
    pre-quantization value (``local``: this quantizer's rounding/clipping alone)."""

    index: int
    tensor: str
    producer: str
    xmodel_sqnr_db: float
    local_sqnr_db: float


@dataclass
class Check:
    name: str
    value: float | None
    limit: float | None
    passed: bool


@dataclass
class VerifyReport:
    path: str
    format: str
    precision: str
    runtime: str
    windows: int
    records: list[str]
    metrics: dict[str, Any] | None
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    ops: Any = None  # edge_ecg.deploy.opcheck.OpReport
    layer_sqnr: list[LayerSQNR] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # torch references that apply to this file but could not be compared, and what would let
    # them run ("pass --checkpoint", ...)
    references_missing: list[str] = field(default_factory=list)
    missing_hints: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every check that ran passed (see :attr:`parity_run` for whether parity was one)."""
        return all(c.passed for c in self.checks)

    @property
    def parity_run(self) -> bool:
        """The file was compared with at least one torch reference on DS2."""
        return bool(self.comparisons)

    def verdict(self) -> str:
        """``PASSED`` / ``FAILED``, qualified whenever part of the parity could not run."""
        word = "PASSED" if self.passed else "FAILED"
        hint = "; ".join(dict.fromkeys(self.missing_hints)) or "see the notes"
        if not self.parity_run:
            return f"{word} (op check only: parity NOT run — {hint})"
        if self.references_missing:
            ran = ", ".join(REFERENCE_LABELS.get(n, n) for n in self.comparisons)
            missing = ", ".join(REFERENCE_LABELS.get(n, n) for n in self.references_missing)
            return f"{word} (parity vs {ran} only; {missing} parity NOT run — {hint})"
        return word

    def summary(self) -> dict[str, Any]:
        """JSON-able digest that goes into the manifest's ``metrics.files``."""
        c = self.comparisons
        ref = c.get("int8_reference")
        out: dict[str, Any] = {
            "runtime": self.runtime,
            "windows": self.windows,
            "data": "MIT-BIH DS2 (inter-patient, held out)" + (f", records {','.join(self.records)}" if self.records else ""),
            "metrics": _slim(self.metrics),
            "top1_vs_float": c["float"].top1_agreement if "float" in c else None,
            "macro_f1_drop_vs_float": -c["float"].macro_f1_delta if "float" in c else None,
            "top1_vs_fake_quant": c["fake_quant"].top1_agreement if "fake_quant" in c else None,
            "max_logit_error_vs_float": c["float"].max_logit_error if "float" in c else None,
            "top1_vs_int8_reference": ref.top1_agreement if ref is not None else None,
            "output_lsb_vs_reference": ref.output_lsb if ref is not None else None,
            "output_lsb_p999_vs_reference": ref.output_lsb_p999 if ref is not None else None,
            "ops_ok": bool(self.ops.ok) if self.ops is not None else None,
            "ops": dict(self.ops.ops) if self.ops is not None else None,
            "min_layer_sqnr_db": min((s.xmodel_sqnr_db for s in self.layer_sqnr), default=None),
            "passed": self.passed,
            "parity_run": self.parity_run,
            "references_missing": list(self.references_missing),
            "verdict": self.verdict(),
        }
        return json_safe(out)  # NaN and ±inf (an identical layer's SQNR) become null: standard JSON

    def format_text(self) -> str:
        lines = [f"== {Path(self.path).name} ({self.format} {self.precision}) on {self.runtime}: {self.windows} DS2 windows"]
        if self.metrics:
            pc = self.metrics["per_class"]
            lines.append("   class  Se %    +P %    F1 %")
            for k, v in pc.items():
                lines.append(f"   {k:<5} {_p(v.get('se')):>6}  {_p(v.get('ppv')):>6}  {_p(v.get('f1')):>6}")
            lines.append(f"   macro-F1 {self.metrics['macro_f1']:.4f}")
        for name, cmp in self.comparisons.items():
            deltas = ", ".join(
                f"{k} ΔSe {100 * d['se']:+.2f} Δ+P {100 * d['ppv']:+.2f} ΔF1 {100 * d['f1']:+.2f}"
                for k, d in cmp.per_class_delta.items() if not all(math.isnan(x) for x in d.values())
            )
            lsb = (f", {cmp.output_lsb:g} output LSB (99.9 %: {cmp.output_lsb_p999:g})"
                   if cmp.output_lsb is not None else "")
            lines.append(
                f"   vs torch {name}: top-1 {100 * cmp.top1_agreement:.2f} %, max |Δlogit| {cmp.max_logit_error:.4g}{lsb}, "
                f"ΔmacroF1 {cmp.macro_f1_delta:+.4f}; {deltas}"
            )
        if self.layer_sqnr:
            worst = sorted(self.layer_sqnr, key=lambda s: s.xmodel_sqnr_db)[:5]
            lines.append("   lowest per-layer SQNR (dB, accumulated / local): " + "; ".join(
                f"#{s.index} {s.producer} {s.xmodel_sqnr_db:.1f}/{s.local_sqnr_db:.1f}" for s in worst))
        if self.ops is not None:
            lines.append("   " + self.ops.format_text().replace("\n", "\n   "))
        for note in self.notes:
            lines.append(f"   note: {note}")
        for c in self.checks:
            lines.append(f"   [{'ok' if c.passed else 'FAIL'}] {c.name}: {_fmt(c.value)} (limit {_fmt(c.limit)})")
        lines.append(f"   => {self.verdict()}")
        return "\n".join(lines)


def _p(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _slim(report):
    if report is None:
        return None
    return {k: v for k, v in report.items() if k != "confusion"} | {"confusion": report.get("confusion")}


# ---- running things -------------------------------------------------------------------------------
def run_file(classifier, x: np.ndarray, side: np.ndarray | None, *, batch_size: int = 512) -> np.ndarray:
    """Logits of a loaded :class:`~edge_ecg.runtime.classifier.Classifier` on all windows. A
    file with a fixed batch of 1 (the TFLite files) is fed one window at a time."""
    first = classifier.backend.inputs[0].shape[0] if classifier.backend.inputs else None
    step = 1 if first == 1 else batch_size
    out = []
    for start in range(0, len(x), step):
        sl = slice(start, start + step)
        out.append(classifier.logits(x[sl], None if side is None else side[sl]))
    n_classes = len(classifier.classes)
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def run_torch(fn, x: np.ndarray, side: np.ndarray | None, takes_side: bool, *, batch_size: int = 1024) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size]))
            if takes_side:
                sb = torch.from_numpy(np.ascontiguousarray(side[start:start + batch_size]))
                out.append(fn(xb, sb).numpy())
            else:
                out.append(fn(xb).numpy())
    return np.concatenate(out).astype(np.float32)


def compare(name: str, file_logits: np.ndarray, ref_logits: np.ndarray, y: np.ndarray, classes, *,
            output_scale: float | None = None) -> Comparison:
    """Top-1 agreement, logit errors and per-class metric deltas of a file against a reference."""
    from edge_ecg.train.metrics import classification_report

    if file_logits.shape != ref_logits.shape:
        raise ManifestError(f"file logits {file_logits.shape} and reference {name} logits {ref_logits.shape} differ in shape")
    rep_f = classification_report(y, _softmax(file_logits), classes)
    rep_r = classification_report(y, _softmax(ref_logits), classes)
    err = np.abs(file_logits - ref_logits)
    deltas = {
        c: {k: rep_f["per_class"][c][k] - rep_r["per_class"][c][k] for k in ("se", "ppv", "f1")}
        for c in classes
    }
    lsb = p999 = None
    if output_scale:
        lsb = float(np.round(err.max() / output_scale, 3)) if err.size else 0.0
        per_window = err.max(axis=1) / output_scale if err.size else np.zeros(1)
        p999 = float(np.round(np.percentile(per_window, 99.9), 3))
    return Comparison(
        reference=name,
        top1_agreement=float(np.mean(file_logits.argmax(1) == ref_logits.argmax(1))) if len(y) else math.nan,
        max_logit_error=float(err.max()) if err.size else 0.0,
        mean_logit_error=float(err.mean()) if err.size else 0.0,
        reference_macro_f1=float(rep_r["macro_f1"]),
        macro_f1_delta=float(rep_f["macro_f1"] - rep_r["macro_f1"]),
        per_class_delta=deltas,
        output_lsb=lsb,
        output_lsb_p999=p999,
    )


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def output_sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """``10·log10(Σref² / Σ(ref − test)²)``; +inf when identical."""
    noise = float(np.sum((reference.astype(np.float64) - test) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return math.inf if noise == 0 else 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def check_limit(limit: int | None) -> None:
    """``--limit``: a number of DS2 windows >= 0 (``0`` or ``None``: all of them)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
        raise ConfigError(f"--limit {limit!r}: expected a number of DS2 windows >= 0 (0: all windows)")


def ds2_windows(spec, *, limit: int | None = None, records: tuple[str, ...] | None = None, seed: int = 0):
    """``(x, side, y, records)``: DS2 beats preprocessed as the runtime does (float32);
    ``limit`` > 0 takes a seeded random subset of that many (0 / ``None``: all)."""
    check_limit(limit)
    from edge_ecg.train.evaluate import ds2_task
    from edge_ecg.train.torch_data import WindowDataset

    task = ds2_task(spec, records=list(records) if records else None)
    ds = WindowDataset(task.val, spec, 0, train=False)
    n = len(ds)
    idx = np.arange(n)
    if limit and limit < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
    x, side, y = ds.batch(idx) if len(idx) else (None, None, None)
    x = x.numpy() if x is not None else np.zeros((0, spec.channels, spec.length), np.float32)
    side = side.numpy() if side is not None else None
    y = y.numpy() if y is not None else np.zeros(0, np.int64)
    return x, side, y, list(task.provenance.get("records", []))


# ---- per-layer SQNR for int8 ONNX ---------------------------------------------------------------
def onnx_layer_sqnr(path: str | Path, feeds: dict[str, np.ndarray]) -> list[LayerSQNR]:
    """SQNR of every activation quantizer of an int8 QDQ ONNX file (see :class:`LayerSQNR`).

    Two runs of the same graph on ``feeds``: as written (int8 activations), and a *float twin*
    in which every activation ``QuantizeLinear → DequantizeLinear`` pair is bypassed (weights stay
    dequantized int8). The SQNR formula is onnxruntime's
    (``qdq_loss_debug.compute_signal_to_quantization_noice_ratio``)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper
    from onnxruntime.quantization.qdq_loss_debug import (
        compute_signal_to_quantization_noice_ratio as sqnr,
    )

    model = onnx.load(str(path))
    inits = {t.name for t in model.graph.initializer}
    const = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    pairs = []  # (pre-quant float tensor, dequantized tensor, producer op)
    for n in model.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits or n.input[0] in const:
            continue
        for d in consumers.get(n.output[0], []):
            if d.op_type == "DequantizeLinear":
                prod = producers.get(n.input[0])
                pairs.append((n.input[0], d.output[0], prod.op_type if prod is not None else "input"))
                break
    if not pairs:
        return []
    graph_inputs = {i.name for i in model.graph.input}

    def with_outputs(m, names):
        m = onnx.ModelProto.FromString(m.SerializeToString())
        have = {o.name for o in m.graph.output}
        for nm in names:
            if nm not in have and nm not in graph_inputs:
                m.graph.output.append(helper.make_tensor_value_info(nm, onnx.TensorProto.FLOAT, None))
        return m

    probe = with_outputs(model, [p for p, _, _ in pairs] + [d for _, d, _ in pairs])
    twin = onnx.ModelProto.FromString(model.SerializeToString())
    bypass = {d: p for p, d, _ in pairs}
    nodes = []
    for n in twin.graph.node:
        if n.op_type == "DequantizeLinear" and n.output[0] in bypass:
            # DQ(Q(t)) -> Identity(t): the activation stays float, every name stays where it was
            nodes.append(helper.make_node("Identity", [bypass[n.output[0]]], [n.output[0]]))
        else:
            nodes.append(n)
    del twin.graph.node[:]
    twin.graph.node.extend(nodes)
    twin = with_outputs(twin, [p for p, _, _ in pairs])

    def run(m):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # keep the graph as written: the twin must not be re-fused into integer kernels
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds), strict=True))

    q_run, f_run = run(probe), run(twin)
    out = []
    for k, (pre, post, prod) in enumerate(pairs):
        f_pre = f_run.get(pre, feeds.get(pre))
        q_pre = q_run.get(pre, feeds.get(pre))
        x_err = float(sqnr([f_pre], [q_run[post]])) if f_pre is not None else math.nan
        l_err = float(sqnr([q_pre], [q_run[post]])) if q_pre is not None else math.nan
        out.append(LayerSQNR(k, pre, prod, x_err, l_err))
    return out


# ---- verify ---------------------------------------------------------------------------------------
def verify_model(
    path: str | Path,
    *,
    recipe=None,
    checkpoint_dir: str | Path | None = None,
    quantized=None,
    qat_dir: str | Path | None = None,
    limit: int | None = None,
    records: tuple[str, ...] | None = None,
    threads: int | None = None,
    check_embedded: bool = True,
    sqnr_windows: int = SQNR_WINDOWS,
    progress: bool = True,
    cache: dict | None = None,
) -> VerifyReport:
    """Checksum/manifest gate, parity on DS2 and op check of one model file (see module doc).

    The file is loaded through :class:`~edge_ecg.runtime.classifier.Classifier`, which refuses a
    file whose SHA-256 differs from ``model.json``; ``check_embedded`` also refuses a file whose
    embedded manifest differs from ``model.json``. ``recipe`` (name or
    :class:`~edge_ecg.deploy.recipes.Recipe`) gives thresholds and op rules; default: the recipe
    named in the manifest, if any. ``cache`` (a dict shared between calls) keeps the DS2 windows
    and torch reference logits when several files of one export are verified.

    ``checkpoint_dir`` / ``qat_dir`` given but not there is a :class:`CheckpointError`; found
    nowhere by default (see :func:`find_float_checkpoint`), a reference is left out and listed
    in :attr:`VerifyReport.references_missing`."""
    from edge_ecg.deploy.manifest import ONNX_METADATA_KEY, load_manifest, verify_file
    from edge_ecg.deploy.opcheck import check_file
    from edge_ecg.deploy.recipes import RECIPES_DIR, Recipe, Thresholds, load_recipe
    from edge_ecg.runtime.backends import check_model_file
    from edge_ecg.runtime.classifier import Classifier

    t0 = time.perf_counter()
    check_limit(limit)
    path = check_model_file(path)
    _check_given_dirs(checkpoint_dir, qat_dir, quantized)
    manifest = load_manifest(path)
    # the bytes first: a corrupted file is refused as corrupted, whatever byte went wrong and
    # before any parser reads it
    verify_file(path, manifest)
    if check_embedded:
        check_embedded_manifest(path, manifest, ONNX_METADATA_KEY)
    if recipe is None:
        name = (manifest.metrics or {}).get("recipe") or manifest.training.get("recipe")
        if name and (Path(RECIPES_DIR) / f"{name}.json").is_file():
            recipe = load_recipe(name)
    elif isinstance(recipe, str):
        recipe = load_recipe(recipe)
    thresholds = recipe.thresholds if isinstance(recipe, Recipe) else Thresholds()
    threads = threads or (recipe.threads if isinstance(recipe, Recipe) else 1)
    clf = Classifier(path, threads=threads)
    entry = clf.file
    report = VerifyReport(str(path), entry.format, entry.precision, clf.backend.describe(), 0, [], None)

    allow_float = recipe.allow_float_ops if isinstance(recipe, Recipe) else True
    report.ops = check_file(path, precision=entry.precision, allow_float_ops=allow_float, threads=threads)
    report.checks.append(Check("op check (no Flex/unsupported ops" + ("" if allow_float else ", no float body ops") + ")",
                               len(report.ops.errors()), 0, report.ops.ok))

    spec = manifest.input
    from edge_ecg.data.mitdb import shared_mitdb
    from edge_ecg.paths import shared_data_dir

    no_parity = (f"DS2 parity needs a beat model, this is a {spec.kind!r} model" if spec.kind != "beat" else
                 f"no MIT-BIH records at {shared_data_dir() / 'mitdb'} for DS2 parity (set EDGE_ECG_DATA to the "
                 "folder holding mitdb/)" if shared_mitdb() is None else None)
    if no_parity:
        report.notes.append(f"{no_parity}; only the checksum and op checks ran")
        report.references_missing.append("float")
        report.missing_hints.append(no_parity)
        report.seconds = time.perf_counter() - t0
        return report
    cache = {} if cache is None else cache
    key = ("ds2", json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str), limit, tuple(records or ()))
    if key not in cache:
        cache[key] = ds2_windows(spec, limit=limit, records=records)
    x, side, y, recs = cache[key]
    if not spec.side_tensor:
        side = None
    report.windows, report.records = int(len(y)), list(records or [])
    classes = tuple(manifest.classes)
    file_logits = run_file(clf, x, side)
    from edge_ecg.train.metrics import classification_report

    report.metrics = classification_report(y, _softmax(file_logits), classes)

    refs = _torch_references(manifest, entry, checkpoint_dir, quantized, qat_dir, report)
    takes_side = spec.side_tensor is not None
    out_scale = (manifest.quantization.get("output") or {}).get("scale")
    ref_logits_of = {}
    for name, fn in refs.items():
        rkey = (key, name, entry.format if name == "int8_reference" else None)
        if rkey not in cache:
            cache[rkey] = run_torch(fn, x, side, takes_side)
        ref_logits = ref_logits_of[name] = cache[rkey]
        report.comparisons[name] = compare(name, file_logits, ref_logits, y, classes,
                                           output_scale=out_scale if name == "int8_reference" else None)
    if "float" in report.comparisons and entry.precision != "fp32":
        report.notes.append(f"output SQNR vs float {output_sqnr_db(ref_logits_of['float'], file_logits):.1f} dB")

    if entry.format == "onnx" and entry.precision == "int8" and len(y):
        n = min(sqnr_windows, len(y))
        feeds = {spec.ecg_tensor: x[:n]}
        if side is not None:
            feeds[spec.side_tensor] = side[:n]
        report.layer_sqnr = onnx_layer_sqnr(path, feeds)

    c = report.comparisons
    th = thresholds
    if entry.precision == "fp32":
        if "float" in c:
            report.checks.append(Check("top-1 agreement with torch float", c["float"].top1_agreement, 0.999,
                                       c["float"].top1_agreement >= 0.999))
    else:
        if th.min_top1_vs_float is not None and "float" in c:
            v = c["float"].top1_agreement
            report.checks.append(Check("top-1 agreement with torch float", v, th.min_top1_vs_float, v >= th.min_top1_vs_float))
        if th.max_macro_f1_drop is not None and "float" in c:
            v = -c["float"].macro_f1_delta
            report.checks.append(Check("DS2 macro-F1 drop vs torch float", v, th.max_macro_f1_drop, v <= th.max_macro_f1_drop))
        if th.min_top1_vs_fake_quant is not None and "fake_quant" in c:
            v = c["fake_quant"].top1_agreement
            report.checks.append(Check("top-1 agreement with torch fake-quant", v, th.min_top1_vs_fake_quant,
                                       v >= th.min_top1_vs_fake_quant))
        ref = c.get("int8_reference")
        if th.min_top1_vs_reference is not None and ref is not None:
            v = ref.top1_agreement
            report.checks.append(Check("top-1 agreement with the torch int8 reference graph", v, th.min_top1_vs_reference,
                                       v >= th.min_top1_vs_reference))
        if th.max_output_lsb_p999_vs_reference is not None and ref is not None and ref.output_lsb_p999 is not None:
            v = ref.output_lsb_p999
            report.checks.append(Check("logit error vs torch int8 reference, 99.9th pct. (output LSB)", v,
                                       th.max_output_lsb_p999_vs_reference, v <= th.max_output_lsb_p999_vs_reference))
        if th.min_output_sqnr_db is not None and "float" in c:
            v = output_sqnr_db(ref_logits_of["float"], file_logits)
            report.checks.append(Check("output SQNR vs float (dB)", v, th.min_output_sqnr_db, v >= th.min_output_sqnr_db))
    report.seconds = time.perf_counter() - t0
    if progress:
        print(f"verify: {path.name} on {report.windows} windows in {report.seconds:.0f} s", file=sys.stderr)
    return report


def check_embedded_manifest(path: Path, manifest, key: str) -> None:
    """Refuse a file whose embedded manifest is missing or differs from ``model.json``."""
    from edge_ecg.deploy.manifest import check_embedded

    if path.suffix == ".onnx":
        from edge_ecg.deploy.onnx_export import read_embedded_manifest

        text = read_embedded_manifest(path, key)
    else:
        from edge_ecg.runtime.backends import tflite_metadata

        text = tflite_metadata(path.read_bytes(), key)
    if text is None:
        raise ManifestError(f"{path.name} carries no embedded manifest ({key}); it was not exported by edge-ecg export")
    check_embedded(text, manifest, path.name)


def _check_given_dirs(checkpoint_dir, qat_dir, quantized) -> None:
    """A checkpoint / quantization directory the user named must be there: checked before any
    DS2 window is cut, and an error rather than a note (a default that is missing is a note)."""
    from edge_ecg.train.checkpoint import WEIGHTS_NAME

    if checkpoint_dir is not None and not (Path(checkpoint_dir) / WEIGHTS_NAME).is_file():
        raise CheckpointError(
            f"--checkpoint {checkpoint_dir}: no {WEIGHTS_NAME} there (expected the float checkpoint directory "
            "written by edge-ecg train)"
        )
    if quantized is None and qat_dir is not None and not Path(qat_dir, "quant.json").is_file():
        raise CheckpointError(f"--qat {qat_dir}: no quant.json there (expected a directory written by edge-ecg qat)")


def find_float_checkpoint(manifest, checkpoint_dir: str | Path | None = None, *,
                          notes: list[str] | None = None):
    """``(model, directory)`` of the float checkpoint ``manifest`` was exported from, or ``None``.

    Looked for in order: ``checkpoint_dir`` (must exist: :class:`CheckpointError` otherwise); the
    path recorded in ``manifest.training["checkpoint"]``; every checkpoint under
    :data:`BUNDLED_CHECKPOINTS_DIR`. A found checkpoint is taken only if its weights digest
    (:func:`edge_ecg.train.checkpoint.state_digest` of the loaded tensors) equals the
    manifest's ``training.weights_sha256``. A manifest without that hash is matched by what it
    does record (model name, model kwargs, training command, best epoch) and ``notes`` says the
    identity is then not proven. An explicitly given checkpoint that does not match is still
    used (the caller asked for it), with a note."""
    from edge_ecg.train.checkpoint import WEIGHTS_NAME, load_checkpoint, read_config, state_digest

    def load(d):
        """``(model, weights digest)``: the digest the config records, which ``load_checkpoint``
        has just proven against the tensors, else recomputed (a checkpoint that records none)."""
        model, cfg = load_checkpoint(d)
        return model, cfg.get("weights_sha256") or state_digest(model)

    notes = [] if notes is None else notes
    training = manifest.training or {}
    want = training.get("weights_sha256")
    recorded = training.get("checkpoint")

    if checkpoint_dir is not None:
        d = Path(checkpoint_dir)
        _check_given_dirs(d, None, None)
        model, have = load(d)
        if want and have != want:
            notes.append(f"checkpoint {d} holds weights {have[:12]}…, not the {want[:12]}… this file was exported "
                         "from: the comparison with torch float is against a different model")
        return model, d

    if recorded and (Path(recorded) / WEIGHTS_NAME).is_file():
        model, have = load(recorded)
        if not want:
            notes.append(f"float checkpoint {recorded} (recorded path; the manifest records no weights hash to confirm it)")
            return model, Path(recorded)
        if have == want:
            return model, Path(recorded)
        notes.append(f"checkpoint at the recorded path {recorded} holds other weights ({have[:12]}…, manifest: "
                     f"{want[:12]}…): not used")

    bundled = sorted(d for d in BUNDLED_CHECKPOINTS_DIR.glob("*") if (d / WEIGHTS_NAME).is_file()) \
        if BUNDLED_CHECKPOINTS_DIR.is_dir() else []
    if recorded:  # the bundled copy of runs/beat is most likely assets/checkpoints/beat: try it first
        bundled.sort(key=lambda d: d.name != Path(recorded).name)
    also = ("model_kwargs", "command", "best_epoch")
    for d in bundled:
        try:
            cfg = read_config(d)
        except CheckpointError:
            continue
        if cfg.get("model_name") != training.get("model"):
            continue
        if want:
            # the config's own record is only a cheap filter; the tensors decide
            if cfg.get("weights_sha256") not in (None, want):
                continue
            model, have = load(d)
            if have != want:
                continue
            notes.append(f"float checkpoint: bundled {d.name} (weights digest equals the manifest's weights_sha256 "
                         f"{want[:12]}…; recorded path {recorded} is not here)")
            return model, d
        fields = [k for k in also if training.get(k) is not None]
        if all(cfg.get(k) == training[k] for k in fields):
            model, _ = load_checkpoint(d)
            notes.append(f"float checkpoint: bundled {d.name}, matched by model name"
                         + (f" and {', '.join(fields)}" if fields else "")
                         + " only: the manifest records no weights hash, so the identity is not proven")
            return model, d
    where = f"not at the recorded path {recorded}" if recorded else "no path recorded in the manifest"
    which = f"weights {want[:12]}…" if want else f"model {training.get('model')!r}"
    notes.append(f"float checkpoint not found ({where}, and no bundled checkpoint holds {which}); pass --checkpoint")
    return None


def _torch_references(manifest, entry, checkpoint_dir, quantized, qat_dir, report: VerifyReport) -> dict[str, Any]:
    """``name -> callable(ecg[, side])`` for the torch models available here; the ones that
    apply but are not available go to ``report.references_missing`` with a hint."""
    notes = report.notes
    wants_quant = entry.precision == "int8" and manifest.quantization.get("method") in ("qat", "ptq")
    expected = ["float"] + (["fake_quant", "int8_reference"] if wants_quant else [])
    try:
        import torch  # noqa: F401
    except ImportError:
        notes.append("torch is not installed: no comparison with the torch models")
        report.references_missing.extend(expected)
        report.missing_hints.append("install torch: pip install 'edge-ecg[train]'")
        return {}
    refs: dict[str, Any] = {}
    found = find_float_checkpoint(manifest, checkpoint_dir, notes=notes)
    if found is not None:
        model = found[0]
        takes_side = bool(getattr(model, "side_dim", 0))
        refs["float"] = (lambda m: (lambda e, s=None: m(e, s)) if takes_side else (lambda e: m(e)))(model)
    else:
        report.references_missing.append("float")
        report.missing_hints.append("pass --checkpoint")
    if wants_quant:
        qm = quantized
        qdir = qat_dir or manifest.quantization.get("qat_dir")
        if qm is None and qdir and Path(qdir, "quant.json").is_file():
            from edge_ecg.quant.qat import load_quantized

            qm = load_quantized(qdir)
        if qm is None:
            notes.append(f"quantization directory not found ({qdir}); pass --qat for the fake-quant comparison")
            report.references_missing.extend(["fake_quant", "int8_reference"])
            report.missing_hints.append("pass --qat")
        else:
            refs["fake_quant"] = qm.fake_quant
            target = "tflite" if entry.format == "tflite" else "onnx"
            conv = qm.converted(target)
            refs["int8_reference"] = conv
    return refs
