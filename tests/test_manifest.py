import json

import pytest

from edge_ecg.deploy.manifest import (
    BeatInput,
    InputSpec,
    Manifest,
    file_entry,
    load_manifest,
    save_manifest,
    verify_file,
)
from edge_ecg.errors import ChecksumError, ManifestError


def _manifest(**kw):
    spec = InputSpec(kind="beat", fs_hz=360.0, leads=("MLII",), length=252, beat=BeatInput(0.25, 0.45))
    return Manifest(name="m", task="beat_classification", classes=("N", "S", "V", "F"), input=spec, **kw)


def test_round_trip_json(tmp_path):
    m = _manifest()
    model = tmp_path / "model.onnx"
    model.write_bytes(b"abc" * 100)
    m = m.with_file("model.onnx", file_entry(model, format="onnx", precision="int8"))
    save_manifest(m, tmp_path)
    back = load_manifest(model)
    assert back == m
    assert verify_file(model, back).size_bytes == 300


def test_tampered_file_is_refused(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x00" * 64)
    m = _manifest().with_file("model.onnx", file_entry(model, format="onnx", precision="int8"))
    model.write_bytes(b"\x00" * 63 + b"\x01")
    with pytest.raises(ChecksumError, match="altered"):
        verify_file(model, m)


def test_unknown_key_and_bad_values(tmp_path):
    d = _manifest().to_dict()
    d["inptu"] = {}
    with pytest.raises(ManifestError, match="inptu"):
        Manifest.from_dict(d)
    d = _manifest().to_dict()
    d["input"]["filter"]["lowpass_hz"] = -1
    with pytest.raises(ManifestError, match="lowpass_hz"):
        Manifest.from_dict(d)
    d = _manifest().to_dict()
    d["schema_version"] = 99
    with pytest.raises(ManifestError, match="schema_version"):
        Manifest.from_dict(d)
    with pytest.raises(ManifestError, match="JSON"):
        Manifest.from_json("{not json")
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(tmp_path / "model.tflite")


def test_unlisted_file_is_refused(tmp_path):
    other = tmp_path / "other.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ManifestError, match="not listed"):
        verify_file(other, _manifest())
    assert json.loads(_manifest().to_json())["input"]["beat"]["before_s"] == 0.25
