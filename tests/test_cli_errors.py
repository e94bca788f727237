"""User-facing errors of the model-loading paths (stream, bench, verify) and verify's verdict
when parity cannot run: each wrong input is named as what it is, exit code 2 via the CLI, and a
verify without a torch reference never reads a plain PASSED."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from edge_ecg.cli import main
from edge_ecg.deploy.manifest import load_manifest
from edge_ecg.errors import CheckpointError, ConfigError, ModelError
from edge_ecg.runtime.backends import open_backend, resolve_backend
from edge_ecg.runtime.classifier import DEFAULT_MODEL_DIR, Classifier, default_model_path

ONNX = DEFAULT_MODEL_DIR / "model_int8.onnx"
TFLITE = DEFAULT_MODEL_DIR / "model_int8.tflite"
VERIFY_LIMIT = 300  # seeded DS2 subset: enough for the top-1 figure, a few seconds


def _cuda_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _tflite_installed() -> bool:
    from edge_ecg.runtime.backends import load_tflite_interpreter_class

    try:
        load_tflite_interpreter_class()
    except ImportError:
        return False
    return True


def _cli(argv, capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# ---- 1. --providers with the default (auto) backend -------------------------------------------
def test_auto_backend_with_gpu_providers_picks_the_onnx_build():
    assert default_model_path("auto", ("cuda",)) == ONNX
    assert default_model_path("auto", ("tensorrt", "cuda", "cpu")) == ONNX
    # CPU only: unchanged, the TFLite build when an interpreter is installed
    assert default_model_path("auto", ("cpu",)) == (TFLITE if _tflite_installed() else ONNX)
    assert default_model_path("auto", ("CPU",)) == default_model_path()


@pytest.mark.skipif(_cuda_available(), reason="CUDA is available here: the provider would load")
def test_missing_gpu_provider_with_default_model_is_an_error_not_a_cpu_run(capsys):
    with pytest.raises(ConfigError, match=r"execution provider 'cuda' is not available here"):
        Classifier(providers=("cuda",))
    rc, _, err = _cli(["stream", "--port", "loop://", "--providers", "cuda"], capsys)
    assert rc == 2
    assert "edge-ecg stream: error: execution provider 'cuda' is not available here" in err


def test_gpu_providers_with_a_tflite_file_are_refused():
    msg = r"execution providers \['cuda'\] apply to the onnxruntime backend only, but 'model_int8.tflite' runs on the TFLite"
    with pytest.raises(ConfigError, match=msg):
        Classifier(TFLITE, providers=("cuda", "cpu"))
    with pytest.raises(ConfigError, match=msg):
        Classifier(TFLITE, backend="tflite", providers=("cuda",))
    with pytest.raises(ConfigError, match=msg):
        open_backend(TFLITE, providers=("cuda",))
    # CPU is what the TFLite interpreter runs on anyway: no error
    assert resolve_backend(TFLITE, "auto", ("cpu",)) == "tflite"


# ---- 3. misleading messages --------------------------------------------------------------------
def test_missing_model_file_is_named_not_its_manifest(tmp_path, capsys):
    missing = tmp_path / "none.onnx"
    with pytest.raises(ModelError, match=rf"model file {missing} does not exist") as info:
        Classifier(missing)
    assert "manifest" not in str(info.value)
    rc, _, err = _cli(["stream", "--port", "loop://", "--model", str(missing)], capsys)
    assert rc == 2
    assert f"model file {missing} does not exist" in err and "no manifest" not in err


def test_a_directory_as_model_is_named_a_directory(tmp_path, capsys):
    with pytest.raises(ModelError, match=r"is a directory: expected a \.onnx or \.tflite model file"):
        Classifier(tmp_path)
    rc, _, err = _cli(["bench", str(tmp_path), "--quiet"], capsys)
    assert rc == 2
    assert f"edge-ecg bench: error: model path {tmp_path} is a directory: expected a .onnx or .tflite file" in err
    assert "does not exist" not in err
    rc, _, err = _cli(["bench", str(tmp_path / "nope.onnx"), "--quiet"], capsys)
    assert rc == 2 and "does not exist" in err


@pytest.mark.parametrize(
    ("model", "backend", "message"),
    [
        (ONNX, "tflite", r"backend 'tflite' reads \.tflite files, but 'model_int8.onnx' is a \.onnx file: pass a \.tflite model"),
        (TFLITE, "onnxruntime", r"backend 'onnxruntime' reads \.onnx files, but 'model_int8.tflite' is a \.tflite file"),
    ],
)
def test_backend_and_file_type_mismatch_is_a_config_error(model, backend, message, capsys):
    with pytest.raises(ConfigError, match=message):
        Classifier(model, backend=backend)
    with pytest.raises(ConfigError, match=message):
        open_backend(model, backend=backend)
    rc, _, err = _cli(["stream", "--port", "loop://", "--model", str(model), "--backend", backend], capsys)
    assert rc == 2
    assert "Flatbuffer" not in err and "INVALID_PROTOBUF" not in err and f"backend '{backend}' reads" in err


def test_unknown_backend_name_still_wins_over_other_checks(tmp_path):
    with pytest.raises(ConfigError, match="backend 'onnx': expected one of"):
        Classifier(tmp_path / "none.onnx", backend="onnx")


def test_verify_names_a_missing_model_and_a_missing_checkpoint(tmp_path, capsys):
    rc, _, err = _cli(["verify", str(tmp_path / "none.onnx")], capsys)
    assert rc == 2 and "does not exist" in err and "manifest" not in err
    rc, _, err = _cli(["verify", str(ONNX), "--checkpoint", str(tmp_path / "no_ckpt")], capsys)
    assert rc == 2
    assert f"--checkpoint {tmp_path / 'no_ckpt'}: no model.safetensors there" in err
    from edge_ecg.deploy.parity import verify_model

    # named directories are checked before any DS2 window is cut (this test stays fast)
    with pytest.raises(CheckpointError, match=r"--qat .*no_qat: no quant.json there"):
        verify_model(ONNX, qat_dir=tmp_path / "no_qat", progress=False)


# ---- 2. verify: which float checkpoint, and a verdict that says when parity did not run ------
@pytest.fixture(scope="module")
def manifest():
    return load_manifest(ONNX)


def test_bundled_checkpoint_is_found_by_weights_hash(manifest, tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import BUNDLED_CHECKPOINTS_DIR, find_float_checkpoint

    monkeypatch.chdir(tmp_path)  # the recorded "runs/beat" is relative to where export ran: not here
    notes: list[str] = []
    found = find_float_checkpoint(manifest, notes=notes)
    assert found is not None and found[1] == BUNDLED_CHECKPOINTS_DIR / "beat"
    assert any("bundled beat" in n and manifest.training["weights_sha256"][:12] in n for n in notes)


def test_recorded_checkpoint_path_is_used_when_it_holds_the_same_weights(manifest, tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import BUNDLED_CHECKPOINTS_DIR, find_float_checkpoint

    monkeypatch.chdir(tmp_path)
    shutil.copytree(BUNDLED_CHECKPOINTS_DIR / "beat", tmp_path / manifest.training["checkpoint"])
    notes: list[str] = []
    found = find_float_checkpoint(manifest, notes=notes)
    assert found is not None and str(found[1]) == manifest.training["checkpoint"] and notes == []


def test_checkpoint_with_other_weights_is_not_accepted(manifest, tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import find_float_checkpoint

    monkeypatch.chdir(tmp_path)
    other = dataclasses.replace(manifest, training={**manifest.training, "weights_sha256": "0" * 64})
    notes: list[str] = []
    assert find_float_checkpoint(other, notes=notes) is None
    assert notes[-1].startswith("float checkpoint not found (not at the recorded path runs/beat")
    assert notes[-1].endswith("pass --checkpoint")


def test_without_a_recorded_hash_the_match_is_by_recorded_fields_and_says_so(manifest, tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import find_float_checkpoint

    monkeypatch.chdir(tmp_path)
    training = {k: v for k, v in manifest.training.items() if k != "weights_sha256"}
    notes: list[str] = []
    found = find_float_checkpoint(dataclasses.replace(manifest, training=training), notes=notes)
    assert found is not None and found[1].name == "beat"
    assert "matched by model name and model_kwargs, command, best_epoch only" in notes[-1]
    assert "identity is not proven" in notes[-1]
    # a recorded field that differs: no match
    training["command"] = "edge-ecg train --out elsewhere"
    assert find_float_checkpoint(dataclasses.replace(manifest, training=training), notes=[]) is None


@pytest.fixture(scope="module")
def ds2_cache():
    return {}  # DS2 windows shared by the verify runs below


def test_verify_bundled_model_runs_parity_from_any_directory(data_dir, ds2_cache, tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import verify_model

    monkeypatch.chdir(tmp_path)
    rep = verify_model(ONNX, limit=VERIFY_LIMIT, progress=False, cache=ds2_cache)
    assert rep.parity_run and "float" in rep.comparisons
    assert rep.comparisons["float"].top1_agreement >= 0.98
    # the quantization directory is not bundled: named, not silently skipped
    assert rep.references_missing == ["fake_quant", "int8_reference"]
    assert rep.verdict().endswith("(parity vs torch float only; fake-quant, int8 reference parity NOT run — pass --qat)")
    summary = rep.summary()
    assert summary["parity_run"] is True and summary["references_missing"] == ["fake_quant", "int8_reference"]
    assert any(c.name == "top-1 agreement with torch float" for c in rep.checks)


def test_verify_without_any_checkpoint_says_parity_not_run(data_dir, ds2_cache, tmp_path, monkeypatch, capsys):
    from edge_ecg.deploy import parity

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(parity, "BUNDLED_CHECKPOINTS_DIR", tmp_path / "no_checkpoints")
    rep = parity.verify_model(ONNX, limit=VERIFY_LIMIT, progress=False, cache=ds2_cache)
    assert rep.passed and not rep.parity_run and rep.comparisons == {}
    assert rep.references_missing == ["float", "fake_quant", "int8_reference"]
    assert rep.verdict() == "PASSED (op check only: parity NOT run — pass --checkpoint; pass --qat)"
    text = rep.format_text()
    assert text.splitlines()[-1] == f"   => {rep.verdict()}"
    assert "=> PASSED\n" not in text + "\n"
    assert rep.summary()["parity_run"] is False

    argv = ["verify", str(ONNX), "--limit", str(VERIFY_LIMIT)]
    rc, out, _ = _cli(argv + ["--json"], capsys)
    assert rc == 3
    doc = json.loads(out)
    assert doc["passed"] is True and doc["parity_run"] is False and doc["verdict"].startswith("PASSED (op check only")
    rc, out, _ = _cli(argv + ["--allow-no-parity"], capsys)
    assert rc == 0 and "=> PASSED (op check only: parity NOT run — pass --checkpoint" in out


def test_verify_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "--allow-no-parity" in out and '"parity_run": false' in out
