"""Training and verification on a device maker's own records, and without MIT-BIH at hand:
what the checkpoint claims about its data must be true."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_ecg.errors import ConfigError
from edge_ecg.train.config import TrainConfig

pytest.importorskip("torch")
pytest.importorskip("wfdb")


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory):
    """Two 40 s records of the bundled excerpt at 250 Hz with Holter channel names."""
    from edge_ecg.data.records import read_record, write_wfdb
    from edge_ecg.runtime.demo import DEMO_RECORD

    d = tmp_path_factory.mktemp("own")
    rec = read_record(DEMO_RECORD)
    for k, name in enumerate(("p01", "p02")):
        write_wfdb(rec, d, fs_hz=250.0, lead_names=("ECG1", "ECG2"), name=name, seconds=40.0 + 20 * k)
    return d


def test_own_records_are_described_as_such_not_as_mitdb(own_folder):
    from edge_ecg.train.tasks import mitdb_beats

    task = mitdb_beats(TrainConfig(data_dir=str(own_folder), fs_hz=250.0, val_split="beats"))
    prov = task.provenance
    assert prov["train_records"] == ["p01", "p02"]  # every annotated record of the folder by default
    assert str(own_folder.resolve()) in prov["dataset"] and "MIT-BIH" not in prov["dataset"]
    assert "de Chazal" not in prov["split"] and "DS1" not in prov["split"]
    assert len(task.train.y) + len(task.val.y) > 100


def test_training_on_a_ds2_record_of_the_shared_mitdb_is_refused(data_dir):
    from edge_ecg.train.tasks import mitdb_beats

    with pytest.raises(ConfigError, match=r"\['100'\] are MIT-BIH DS2 records"):
        mitdb_beats(TrainConfig(train_records=("101", "100")))


def test_a_band_above_the_training_rate_nyquist_is_refused():
    with pytest.raises(ConfigError, match=r"lowpass_hz 40 Hz is not below the Nyquist frequency of fs_hz 60 Hz"):
        TrainConfig(fs_hz=60.0)
    assert TrainConfig(fs_hz=100.0).lowpass_hz == 40.0


def test_verify_without_mitdb_says_parity_was_not_run(tmp_path, monkeypatch):
    from edge_ecg.deploy.parity import verify_model
    from edge_ecg.runtime.classifier import default_model_path

    monkeypatch.setenv("EDGE_ECG_DATA", str(tmp_path))  # a machine without the shared data
    report = verify_model(default_model_path("onnxruntime"), progress=False)
    assert not report.parity_run and report.ops.ok
    assert "no MIT-BIH records at" in report.verdict() and "parity NOT run" in report.verdict()


def test_checkpoint_config_is_standard_json(tmp_path):
    import torch

    from edge_ecg.train.checkpoint import CONFIG_NAME, save_checkpoint

    save_checkpoint(tmp_path, torch.nn.Linear(2, 2), {"model_name": "x", "model_kwargs": {},
                                                       "test": {"ppv": float("nan"), "se": np.float32(0.5)}})
    text = (tmp_path / CONFIG_NAME).read_text()
    assert "NaN" not in text and json.loads(text)["test"] == {"ppv": None, "se": 0.5}


@pytest.mark.slow  # a real fp32 + dynamic-int8 export: about 35 s here
def test_an_export_that_does_not_complete_leaves_no_files(tmp_path, monkeypatch):
    """Files written before verification failed would load in the runtime without their
    embedded manifest: an export that stops half-way removes what it wrote."""
    import edge_ecg.deploy.parity as parity
    from edge_ecg.deploy.recipes import export_target
    from edge_ecg.paths import ASSETS_DIR

    def broken(*args, **kwargs):
        raise RuntimeError("verification broke")

    monkeypatch.setattr(parity, "verify_model", broken)
    out = tmp_path / "exp"
    with pytest.raises(RuntimeError, match="verification broke"):
        export_target("x86-onnx-dynamic", ASSETS_DIR / "checkpoints" / "beat", out, progress=False)
    assert out.is_dir() and sorted(p.name for p in out.iterdir()) == []
