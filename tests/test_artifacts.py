"""Recorded noise in blocks, the detector's false detections as an ``artifact`` class, and how the
scoring treats an ``artifact`` label."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ecg.bench.ec57 import score_record
from edge_ecg.errors import ConfigError
from edge_ecg.runtime.classifier import default_model_path
from edge_ecg.signal.noise import add_noise, noise_block_mask, noise_gain
from edge_ecg.train.config import TrainConfig


def test_noise_block_mask_nstdb_layout():
    fs = 10.0
    m = noise_block_mask(int(1000 * fs), fs, block_s=120.0, start_s=300.0)
    t = np.arange(m.size) / fs
    assert not m[t < 300].any()
    assert m[(t >= 300) & (t < 420)].all() and not m[(t >= 420) & (t < 540)].any() and m[(t >= 540) & (t < 660)].all()
    with pytest.raises(ConfigError, match="block_s must be > 0 s"):
        noise_block_mask(10, fs, block_s=0.0)


def test_add_noise_hits_the_snr_per_lead_and_only_in_the_mask():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2)) * [1.0, 30.0]
    noise = rng.normal(size=(4000, 2)) * [5.0, 0.1]
    for snr in (12.0, 0.0, -6.0):
        g = noise_gain(x, noise, snr)
        y = add_noise(x, noise, g)
        ratio = np.mean(x**2, axis=0) / np.mean((y - x) ** 2, axis=0)
        np.testing.assert_allclose(10 * np.log10(ratio), snr, atol=1e-9)
    mask = np.arange(4000) % 2 == 0
    y = add_noise(x, noise, noise_gain(x, noise, 0.0), mask)
    assert np.array_equal(y[~mask], x[~mask]) and not np.allclose(y[mask], x[mask])
    with pytest.raises(ConfigError, match=r"noise shape \(10,\) differs from the signal's \(4000, 2\)"):
        noise_gain(x, np.ones(10), 0.0)
    with pytest.raises(ConfigError, match="must be > 0 on every lead"):
        noise_gain(np.zeros((10, 1)), np.ones((10, 1)), 0.0)


def test_artifact_config_is_checked():
    with pytest.raises(ConfigError, match="artifact_passes=2 needs task 'mitdb_beats' without template_beats"):
        TrainConfig(artifact_passes=2, template_beats=4)
    with pytest.raises(ConfigError, match="artifact_passes must be >= 0"):
        TrainConfig(artifact_passes=-1)
    with pytest.raises(ConfigError, match=r"noise_train_fraction must be in \(0, 1\], got 0.0"):
        TrainConfig(noise_train_fraction=0.0)


def test_artifact_detections_are_not_beats_in_the_scores():
    ref = np.array([100, 400, 700, 1000])
    ref_c = ["N", "V", "N", "N"]
    # a detection called artifact on a real beat is a missed beat; one off every beat is no false one
    det = np.array([100, 250, 400, 700, 1000])
    labels = ["N", "artifact", "artifact", "N", "N"]
    s = score_record(ref, ref_c, det, labels, 360.0).summary()
    assert (s["qrs_se"], s["qrs_ppv"], s["beats_detected"]) == (0.75, 1.0, 3)
    assert s["veb_se"] == 0.0 and np.isnan(s["veb_ppv"])
    all_beats = score_record(ref, ref_c, det[[0, 2, 3, 4]], ["N", "V", "N", "N"], 360.0).summary()
    assert (all_beats["qrs_se"], all_beats["veb_se"]) == (1.0, 1.0)


def test_detector_examples_label_false_detections_artifact(data_dir):
    """On a real record with noise, every ``artifact`` example sits > 150 ms from any reference
    beat and every other example on a reference beat of its class, centred on the detection; the
    draw is reproducible."""
    from edge_ecg.bench.ec57 import reference_beats
    from edge_ecg.data.mitdb import load_mitdb_record
    from edge_ecg.signal.qrs import match_pairs
    from edge_ecg.train.artifacts import ARTIFACT, NOISE_RECORDS, detector_examples
    from edge_ecg.train.tasks import BEAT_CLASSES, _noise_traces, mitdb_beats

    cfg = TrainConfig(model="efficientecg_beat_fusion", train_records=("119", "208"))
    spec = mitdb_beats(cfg.replace(max_train=50)).input_spec
    classes = BEAT_CLASSES + (ARTIFACT,)
    noise = _noise_traces(spec, names=NOISE_RECORDS, fraction=0.7)
    full = _noise_traces(spec, names=NOISE_RECORDS)
    assert noise.shape[0] == full.shape[0] == 4  # em and ma, two channels each
    assert noise.shape[1] == int(round(0.7 * (full.shape[1] + 2 * spec.fs_hz))) - int(2 * spec.fs_hz)
    np.testing.assert_array_equal(noise, full[:, : noise.shape[1]])  # the first 70 %: the rest stays unseen
    ex = detector_examples(spec, ("119",), data_dir / "mitdb", noise, classes, passes=1, seed=3, margin=5)
    again = detector_examples(spec, ("119",), data_dir / "mitdb", noise, classes, passes=1, seed=3, margin=5)
    assert np.array_equal(ex.y, again.y) and np.array_equal(ex.x, again.x)
    two = detector_examples(spec, ("119",), data_dir / "mitdb", noise, classes, passes=2, seed=3, margin=5)
    assert np.array_equal(two.y[: len(ex.y)], ex.y) and len(two.y) > len(ex.y)
    assert ex.x.shape == (len(ex.y), 1, spec.length + 10) and ex.side.shape == (len(ex.y), 7)
    art = ex.y == classes.index(ARTIFACT)
    assert art.sum() > 10 and (~art).sum() > 300
    rec = load_mitdb_record("119", data_dir / "mitdb")
    ref_s, ref_c = reference_beats(rec)
    tol = int(round(0.150 * spec.fs_hz))
    pr, pd = match_pairs(np.asarray(ref_s), ex.meta["sample"][art], tol)
    assert pd.size == 0
    pr, pd = match_pairs(np.asarray(ref_s), ex.meta["sample"][~art], tol)
    assert pd.size == (~art).sum()
    assert [classes.index(ref_c[i]) for i in pr] == ex.y[~art][pd].tolist()
    assert set(ex.meta["record"].tolist()) == {"119"}


def test_artifact_model_streams_like_its_offline_front_end(tmp_path, data_dir):
    """A tiny model trained with hard negatives: its manifest names the ``artifact`` class, the
    stream and the offline front end agree on every beat, and the EC57 scores count only the
    detections it did not call artifact."""
    pytest.importorskip("torch")
    from edge_ecg.bench.ec57 import detector_labels, label_agreement, reference_beats
    from edge_ecg.data.labels import ARTIFACT
    from edge_ecg.data.records import read_record
    from edge_ecg.deploy.recipes import export_target
    from edge_ecg.runtime.classifier import Classifier
    from edge_ecg.runtime.demo import DEMO_RECORD
    from edge_ecg.runtime.stream import stream_record
    from edge_ecg.train.trainer import fit

    cfg = TrainConfig(model="efficientecg_beat_lite_fusion", train_records=("101", "119", "208"), max_train=600,
                      epochs=1, batch_size=128, progress=False, num_threads=1, artifact_passes=1)
    result = fit(cfg, tmp_path / "ckpt", save=True)
    assert result["classes"] == ["N", "S", "V", "F", ARTIFACT]
    assert "hard_negatives" in result["provenance"]
    out = export_target("jetson-onnx", tmp_path / "ckpt", tmp_path / "out", verify=False, progress=False)
    clf = Classifier(out.files["model_fp32.onnx"])
    assert clf.classes[-1] == ARTIFACT
    record = read_record(DEMO_RECORD)
    beats = [r for r in stream_record(clf, record) if r.kind == "beat"]
    ref_s, ref_c = reference_beats(record)
    det_s, det_l = [r.sample for r in beats], [r.label for r in beats]
    off_s, off_l = detector_labels(clf, record)
    assert np.array_equal(np.asarray(det_s), off_s)
    labelled = [(d, o) for d, o in zip(det_l, off_l, strict=True) if d != "unreadable"]  # filter settling
    assert len(labelled) >= len(det_l) - 5 and all(d == o for d, o in labelled)
    agree, compared = label_agreement(ref_s, ref_c, det_s, det_l, off_s, off_l, record.fs_hz)
    assert compared > 200 and agree == compared
    s = score_record(ref_s, ref_c, det_s, det_l, record.fs_hz).summary()
    assert s["beats_detected"] == sum(lab != ARTIFACT for lab in det_l)


def test_bench_noise_on_a_folder_of_other_records(tmp_path, data_dir, capsys):
    """``benchmarks/bench_noise.py --data``: a 250 Hz record with unnamed channels, clean and with
    electrode-motion noise from minute 5 on; noise costs detections' precision, never beats."""
    import importlib.util
    import json
    from pathlib import Path

    from edge_ecg.data.mitdb import load_mitdb_record
    from edge_ecg.data.records import write_wfdb

    write_wfdb(load_mitdb_record("100", data_dir / "mitdb"), tmp_path / "db", fs_hz=250.0,
               lead_names=("ECG1", "ECG2"), name="r100", seconds=480.0)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_noise.py"
    spec = importlib.util.spec_from_file_location("bench_noise", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "noise.json"
    assert bench.main(["--model", "b=" + str(default_model_path("onnxruntime")), "--data", str(tmp_path / "db"),
                       "--snr", "clean,-6", "--json", str(out)]) == 0
    clean, noisy = json.loads(out.read_text())
    assert "r100" in capsys.readouterr().out
    assert clean["snr_db"] is None and noisy["snr_db"] == -6.0
    assert clean["beats_ref"] == noisy["beats_ref"] > 500
    assert clean["qrs_se"] >= 0.99 and clean["qrs_ppv"] >= 0.99
    assert noisy["beats_detected"] > clean["beats_detected"]  # the noisy minutes add false detections
    with pytest.raises(SystemExit):
        bench.main(["--model", "b=x.onnx", "--data", str(tmp_path)])
    assert "no record there has both a .hea header and .atr annotations" in capsys.readouterr().err
