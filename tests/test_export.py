"""Export (edge_ecg.deploy): one int8 graph as an int8 QDQ ONNX file and a full-integer TFLite
file, one manifest for both, the op check, parity on real held-out beats, recipes, and the
refusal of corrupted or mismatched files.

Uses the tiny QAT pipeline of ``test_quant.py`` (``build_tiny``); the export + verify of both
files on 400 DS2 beats of record 200 adds ~40 s on a quiet 2-core box.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchao")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

from test_quant import build_tiny  # noqa: E402

from edge_ecg.deploy.manifest import MANIFEST_NAME, ONNX_METADATA_KEY, Manifest, load_manifest  # noqa: E402
from edge_ecg.errors import ChecksumError, ConfigError, ManifestError  # noqa: E402

VERIFY_RECORDS = ("200",)  # DS2, held out: plenty of V beats among the N
VERIFY_LIMIT = 1000


def tiny_recipe():
    """bundle-int8 with the float-agreement limits relaxed for a 1.5 k-parameter model after one
    QAT epoch (the fake-quant and int8-reference limits are the shipped ones)."""
    import dataclasses

    from edge_ecg.deploy.recipes import load_recipe

    r = load_recipe("bundle-int8")
    return dataclasses.replace(r, thresholds=dataclasses.replace(r.thresholds, min_top1_vs_float=0.95,
                                                                 max_macro_f1_drop=0.03))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir):
    return build_tiny(tmp_path_factory.getbasetemp() / "tiny_pipeline")


@pytest.fixture(scope="module")
def bundle(tiny, tmp_path_factory):
    from edge_ecg.deploy.recipes import export_target

    out = tmp_path_factory.mktemp("bundle")
    result = export_target(tiny_recipe(), tiny.ckpt, out, quantized=tiny.qm, records=VERIFY_RECORDS,
                           limit=VERIFY_LIMIT, command="pytest bundle", progress=False)
    return result


@pytest.fixture(scope="module")
def ds2(tiny, bundle):
    from edge_ecg.deploy.parity import ds2_windows

    manifest = bundle.manifest
    x, side, y, _ = ds2_windows(manifest.input, limit=VERIFY_LIMIT, records=VERIFY_RECORDS)
    return x, y


def _copy(bundle, tmp_path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(bundle.out_dir, d)
    return d


# ---- recipes ---------------------------------------------------------------------------------------
def test_recipes_load_and_reject_unknown_keys(tmp_path):
    from edge_ecg.deploy.recipes import Recipe, list_recipes, load_recipe

    names = list_recipes()
    assert {"rpi-tflite-int8", "jetson-onnx", "x86-onnx-int8", "bundle-int8"} <= set(names)
    for name in names:
        r = load_recipe(name)
        assert r.name == name and isinstance(r, Recipe)
        assert Recipe.from_dict(r.to_dict()) == r
    rpi = load_recipe("rpi-tflite-int8")
    assert rpi.formats == ("tflite",) and rpi.precision == "int8" and not rpi.allow_float_ops
    bad = json.loads((Path(__file__).parents[1] / "export" / "recipes" / "rpi-tflite-int8.json").read_text())
    bad["treads"] = 2
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="treads"):
        load_recipe(p)
    bad.pop("treads")
    bad["thresholds"]["min_top1"] = 0.9
    p.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="min_top1"):
        load_recipe(p)
    with pytest.raises(ConfigError, match="formats"):
        Recipe(name="x", description="", formats=("coreml",))
    bad["thresholds"].pop("min_top1")
    bad["threads"] = "2"  # a hand-edited file: a string where a number was meant
    p.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=r"recipe 'rpi-tflite-int8': threads: expected an integer, got str '2'"):
        load_recipe(p)
    with pytest.raises(ConfigError, match="no recipe"):
        load_recipe("does-not-exist")


# ---- the bundle: one int8 network, two files, one manifest ----------------------------------------
def test_bundle_files_and_manifest(bundle):
    out = bundle.out_dir
    manifest = load_manifest(out / "model_int8.onnx")
    assert set(manifest.files) == {"model_int8.onnx", "model_int8.tflite"}
    assert manifest.files["model_int8.tflite"].io_dtype == "int8"
    assert manifest.quantization["method"] == "qat"
    assert manifest.quantization["activation_dtype"] == {"onnx": "uint8", "tflite": "int8"}
    q = manifest.quantization["inputs"]["ecg"]
    assert q["zero_point_uint8"] == q["zero_point"] + 128 and q["scale"] > 0
    assert manifest.training["train_records"] == ["101", "119"] and manifest.training["seed"] == 0
    assert manifest.input.side_tensor is None  # efficientecg_tiny takes no side input
    assert set(manifest.metrics["files"]) == set(manifest.files)
    assert (out / "MODEL_CARD.md").read_text().count("model_int8") >= 2
    # the manifest travels inside each file, equal to model.json without its files table
    from edge_ecg.deploy.onnx_export import read_embedded_manifest
    from edge_ecg.deploy.tflite_export import read_metadata

    body = json.loads(manifest.to_json(with_files=False))
    assert json.loads(read_embedded_manifest(out / "model_int8.onnx", ONNX_METADATA_KEY)) == body
    assert json.loads(read_metadata(out / "model_int8.tflite", ONNX_METADATA_KEY)) == body
    assert bundle.passed, "\n".join(r.format_text() for r in bundle.verification.values())


def test_onnx_runs_integer_kernels(bundle):
    from edge_ecg.deploy.onnx_export import optimized_ops

    ops = optimized_ops(bundle.files["model_int8.onnx"])
    assert ops["QLinearConv"] >= 5 and ops["QGemm"] >= 1
    assert ops["QLinearSigmoid"] >= 1 and ops["QLinearMul"] >= 1 and ops["QLinearAdd"] >= 1
    assert ops["QLinearGlobalAveragePool"] >= 1
    assert "Conv" not in ops and "FusedConv" not in ops and "Gemm" not in ops


def test_onnx_int8_equals_the_torch_int8_reference(tiny, bundle, ds2):
    from edge_ecg.quant.graph import io_qparams
    from edge_ecg.runtime.classifier import Classifier

    x, _ = ds2
    clf = Classifier(bundle.files["model_int8.onnx"])
    got = clf.logits(x)
    with torch.no_grad():
        ref = tiny.qm.converted("onnx")(torch.from_numpy(x)).numpy()
    lsb = io_qparams(tiny.qm.converted("onnx"))["logits"]["scale"]
    err = np.abs(got - ref)
    # integer kernels: equal except where QLinearGlobalAveragePool rounds a mean differently
    assert err.max() <= 1 * lsb + 1e-6
    assert np.mean(err == 0) >= 0.9
    assert np.array_equal(got.argmax(1), ref.argmax(1))


def test_tflite_is_full_integer_without_flex(bundle):
    from edge_ecg.deploy.opcheck import check_tflite
    from edge_ecg.deploy.tflite_export import tflite_ops

    path = bundle.files["model_int8.tflite"]
    ops = tflite_ops(path)
    names = {o.name for o in ops}
    assert not any(o.custom for o in ops)
    assert {"CONV_2D", "LOGISTIC", "MUL", "FULLY_CONNECTED"} <= names
    assert "QUANTIZE" not in names and "DEQUANTIZE" not in names  # int8 I/O: nothing float at all
    for o in ops:
        assert "float32" not in o.input_dtypes + o.output_dtypes, o
    # 1-D convs arrive as unit-height CONV_2D: no transpose pair around every conv
    assert sum(o.name == "TRANSPOSE" for o in ops) <= 2
    report = check_tflite(path, precision="int8", allow_float_ops=False)
    assert report.ok and report.float_ops == 0


def test_tflite_agrees_with_fake_quant_on_real_beats(tiny, bundle, ds2):
    from edge_ecg.deploy.parity import run_file
    from edge_ecg.quant.graph import io_qparams
    from edge_ecg.runtime.classifier import Classifier

    x, _ = ds2
    clf = Classifier(bundle.files["model_int8.tflite"])
    got = run_file(clf, x, None)
    fq = tiny.qm.fake_quant(torch.from_numpy(x)).numpy()
    assert np.mean(got.argmax(1) == fq.argmax(1)) >= 0.99
    with torch.no_grad():
        ref = tiny.qm.converted("tflite")(torch.from_numpy(x)).numpy()
    lsb = io_qparams(tiny.qm.converted("torch"))["logits"]["scale"]
    assert np.abs(got - ref).max() <= 2 * lsb + 1e-6


def test_float_io_tflite_equals_int8_io(tiny, bundle, ds2, tmp_path):
    from edge_ecg.deploy.tflite_export import tflite_ops, to_float_io
    from edge_ecg.runtime.backends import TFLiteBackend

    x, _ = ds2
    src = bundle.files["model_int8.tflite"]
    dst = tmp_path / "float_io.tflite"
    dst.write_bytes(to_float_io(src.read_bytes()))
    ops = tflite_ops(dst)
    assert ops[0].name == "QUANTIZE" and ops[-1].name == "DEQUANTIZE"
    a, b = TFLiteBackend(src), TFLiteBackend(dst)
    assert b.inputs[0].dtype == "float32" and b.outputs[0].dtype == "float32"
    for i in range(0, 64):
        assert np.array_equal(a.run({"ecg": x[i:i + 1]}), b.run({"ecg": x[i:i + 1]}))


def test_verify_reports_parity_sqnr_and_ops(bundle):
    from edge_ecg.deploy.parity import verify_model

    rep = verify_model(bundle.files["model_int8.onnx"], recipe=tiny_recipe(), records=VERIFY_RECORDS,
                       limit=VERIFY_LIMIT, progress=False)
    assert rep.passed, rep.format_text()
    assert set(rep.comparisons) == {"float", "fake_quant", "int8_reference"}
    assert rep.parity_run and rep.references_missing == [] and rep.verdict() == "PASSED"
    assert rep.comparisons["fake_quant"].top1_agreement >= 0.99
    assert rep.layer_sqnr and all(np.isfinite(s.local_sqnr_db) for s in rep.layer_sqnr)
    assert rep.windows == VERIFY_LIMIT and rep.metrics["per_class"]["V"]["support"] > 0
    s = rep.summary()
    assert s["ops_ok"] and s["top1_vs_float"] >= 0.95 and s["top1_vs_fake_quant"] >= 0.99
    json.dumps(s)  # the manifest stores it
    card = rep.format_text()
    assert "QLinearConv" in card and "PASSED" in card


def test_rpi_recipe_fails_on_a_float_body_op(bundle, tmp_path):
    """The rpi-tflite-int8 op rule: a float op inside the body is an error."""
    from edge_ecg.deploy.opcheck import check_tflite
    from edge_ecg.deploy.tflite_export import export_tflite_fp32
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.train.checkpoint import load_checkpoint

    model, cfg = load_checkpoint(bundle.manifest.training["checkpoint"])
    path = export_tflite_fp32(model, graph_spec_for(model, cfg["input_spec"]["length"]), tmp_path / "m.tflite")
    report = check_tflite(path, precision="int8", allow_float_ops=False)
    assert not report.ok and report.errors()[0].severity == "error"
    assert check_tflite(path, precision="fp32").ok


# ---- refusing bad files ------------------------------------------------------------------------------
def test_corrupted_file_is_refused(bundle, tmp_path):
    from edge_ecg.cli import main
    from edge_ecg.deploy.parity import verify_model
    from edge_ecg.runtime.classifier import Classifier

    d = _copy(bundle, tmp_path)
    for name in ("model_int8.onnx", "model_int8.tflite"):
        blob = bytearray((d / name).read_bytes())
        blob[len(blob) // 2] ^= 0x40
        (d / name).write_bytes(bytes(blob))
        with pytest.raises(ChecksumError):
            Classifier(d / name)
        with pytest.raises(ChecksumError):
            verify_model(d / name, progress=False)
        assert main(["verify", str(d / name)]) == 2


def test_bundled_files_carry_the_manifest_beside_them():
    """The shipped files were exported before fields with defaults joined the schema: they still
    match their model.json, and an edited model.json still does not."""
    import dataclasses

    from edge_ecg.deploy.parity import check_embedded_manifest
    from edge_ecg.runtime.classifier import DEFAULT_MODEL_DIR

    manifest = load_manifest(DEFAULT_MODEL_DIR / "model_int8.onnx")
    for name in ("model_int8.onnx", "model_int8.tflite"):
        check_embedded_manifest(DEFAULT_MODEL_DIR / name, manifest, ONNX_METADATA_KEY)
        edited = dataclasses.replace(manifest, input=dataclasses.replace(
            manifest.input, beat=dataclasses.replace(manifest.input.beat, polarity_beats=16)))
        with pytest.raises(ManifestError, match=r"differs from its model.json \(keys \['input'\]\)"):
            check_embedded_manifest(DEFAULT_MODEL_DIR / name, edited, ONNX_METADATA_KEY)


def test_manifest_mismatch_is_refused(bundle, tmp_path):
    from edge_ecg.deploy.parity import verify_model
    from edge_ecg.runtime.classifier import Classifier

    d = _copy(bundle, tmp_path)
    data = json.loads((d / MANIFEST_NAME).read_text())
    data["classes"] = ["N", "V", "S", "F"]  # same file, different meaning
    (d / MANIFEST_NAME).write_text(json.dumps(data))
    # the checksum still matches, but the embedded manifest (which the checksum covers) does not
    for name in ("model_int8.onnx", "model_int8.tflite"):
        with pytest.raises(ManifestError, match=r"differs from its model.json \(keys \['classes'\]\)"):
            Classifier(d / name)
    with pytest.raises(ManifestError, match="differs from its model.json"):
        verify_model(d / "model_int8.onnx", progress=False)
    data = json.loads((bundle.out_dir / MANIFEST_NAME).read_text())
    data["input"]["length"] += 10
    (d / MANIFEST_NAME).write_text(json.dumps(data))
    for name in ("model_int8.onnx", "model_int8.tflite"):
        with pytest.raises(ManifestError):
            Classifier(d / name)
    data = json.loads((bundle.out_dir / MANIFEST_NAME).read_text())
    data["files"]["model_int8.tflite"]["sha256"] = data["files"]["model_int8.onnx"]["sha256"]
    (d / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ChecksumError):
        Classifier(d / "model_int8.tflite")
    assert Manifest.from_json((bundle.out_dir / MANIFEST_NAME).read_text()).files


# ---- fp32 comparison files and the CLI ---------------------------------------------------------------
def test_fp32_files_match_the_float_model(tiny, ds2, tmp_path):
    from edge_ecg.deploy.onnx_export import export_onnx_fp32
    from edge_ecg.deploy.tflite_export import export_tflite_fp32
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.runtime.backends import OnnxBackend, TFLiteBackend
    from edge_ecg.train.checkpoint import load_checkpoint

    x, _ = ds2
    model, cfg = load_checkpoint(tiny.ckpt)
    length = cfg["input_spec"]["length"]
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:32])).numpy()
    onnx_path = export_onnx_fp32(model, graph_spec_for(model, length, "conv1d"), tmp_path / "m.onnx")
    assert np.abs(OnnxBackend(onnx_path).run({"ecg": x[:32]}) - ref).max() < 1e-4
    tfl_path = export_tflite_fp32(model, graph_spec_for(model, length), tmp_path / "m.tflite")
    tfl = TFLiteBackend(tfl_path)
    got = np.concatenate([tfl.run({"ecg": x[i:i + 1]}) for i in range(32)])
    assert np.abs(got - ref).max() < 1e-4


def test_fp32_recipe_exports_the_native_2d_layout_and_verifies(tiny, tmp_path):
    import onnx

    from edge_ecg.deploy.recipes import export_target

    result = export_target("jetson-onnx", tiny.ckpt, tmp_path, records=VERIFY_RECORDS, limit=VERIFY_LIMIT,
                           command="pytest jetson", progress=False)
    assert list(result.files) == ["model_fp32.onnx"]
    graph = onnx.load(str(result.files["model_fp32.onnx"])).graph
    init = {t.name: t for t in graph.initializer}
    conv_weights = [init[n.input[1]] for n in graph.node if n.op_type == "Conv"]
    assert conv_weights and all(len(w.dims) == 4 and 1 in w.dims[2:] for w in conv_weights)
    assert result.passed, result.verification["model_fp32.onnx"].format_text()
    assert result.verification["model_fp32.onnx"].summary()["top1_vs_float"] >= 0.999


def test_export_cli(tiny, tmp_path, capsys):
    from edge_ecg.cli import main

    assert main(["export", "--list"]) == 0
    assert "rpi-tflite-int8" in capsys.readouterr().out
    assert main(["export", "--target", "x86-onnx-int8"]) == 2  # missing --checkpoint/--out: a ConfigError
    assert "--checkpoint" in capsys.readouterr().err
    rc = main(["export", "--target", "x86-onnx-int8", "--checkpoint", str(tiny.ckpt), "--qat", str(tiny.qat),
               "--out", str(tmp_path / "x86"), "--no-verify", "--quiet"])
    assert rc == 0
    m = load_manifest(tmp_path / "x86" / "model_int8.onnx")
    assert set(m.files) == {"model_int8.onnx", "model_int8.onnx".replace("int8", "fp32")}
    import onnx
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "x86" / "model_int8.onnx")).graph.initializer]
    # every conv/linear weight is stored as int8 (a 1.5 k-parameter model is too small for the
    # file to shrink: QDQ bookkeeping outweighs the weights; see benchmarks/bench_quant.py)
    assert sum(w.size for w in weights if w.dtype == np.int8) >= 1000
    assert not any(w.dtype == np.float32 and w.ndim >= 2 for w in weights)


# ---- larger models: slow -----------------------------------------------------------------------------
@pytest.mark.slow
def test_fusion_model_end_to_end(tmp_path, data_dir):
    """efficientecg_beat_fusion (side input, attention): float → QAT → both files → verify."""
    from edge_ecg.deploy.recipes import export_target
    from edge_ecg.quant import QuantConfig, quantize_checkpoint
    from edge_ecg.train.config import TrainConfig
    from edge_ecg.train.trainer import fit

    cfg = TrainConfig(train_records=("101", "119", "208"), max_train=3000, epochs=2, model="efficientecg_beat_fusion",
                      progress=False, num_threads=2)
    fit(cfg, tmp_path / "float")
    qm = quantize_checkpoint(tmp_path / "float", tmp_path / "qat", QuantConfig(epochs=1, progress=False))
    res = export_target("bundle-int8", tmp_path / "float", tmp_path / "out", quantized=qm, records=("200", "232"),
                        limit=2000, progress=False)
    assert res.passed, {k: v.format_text() for k, v in res.verification.items()}
    m = res.manifest
    assert m.input.side_tensor == "side" and m.quantization["inputs"]["side"]["scale"] > 0
    tfl = res.verification["model_int8.tflite"]
    assert tfl.comparisons["fake_quant"].top1_agreement >= 0.99 and tfl.ops.ok


@pytest.mark.slow
@pytest.mark.parametrize("name", ["imlenet", "reslstm_tse"])
def test_recurrent_models_export_to_onnx(name, tmp_path):
    """IMLE-Net and ResLSTM: fp32 ONNX equal to torch; dynamic int8 (DynamicQuantizeLSTM) close."""
    from edge_ecg.deploy.onnx_export import (
        export_onnx_dynamic_int8,
        export_onnx_fp32,
        optimized_ops,
    )
    from edge_ecg.models import create_model
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.runtime.backends import OnnxBackend

    torch.manual_seed(0)
    model = create_model(name).eval()
    spec = graph_spec_for(model, model.default_input_shape[1], "conv1d")
    x = torch.randn(4, spec.in_leads, spec.length)
    with torch.no_grad():
        ref = model(x).numpy()
    fp32 = export_onnx_fp32(model, spec, tmp_path / "fp32.onnx")
    assert np.abs(OnnxBackend(fp32).run({"ecg": x.numpy()}) - ref).max() < 1e-4
    dyn = export_onnx_dynamic_int8(fp32, tmp_path / "dyn.onnx")
    assert optimized_ops(dyn)["DynamicQuantizeLSTM"] >= 1
    assert np.abs(OnnxBackend(dyn).run({"ecg": x.numpy()}) - ref).max() < 0.05 * np.abs(ref).max() + 0.01
