"""Patient template channel: the running median of the previous beats, the same in training, offline
evaluation and the stream."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ecg.errors import ConfigError, ManifestError, SignalError
from edge_ecg.signal.template import BeatTemplate, template_windows


def test_template_is_the_median_of_the_previous_beats_only():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 2, 5))
    t = BeatTemplate(3)
    np.testing.assert_array_equal(t.next(w[0]), np.zeros((2, 5)))  # nothing before the first beat
    np.testing.assert_array_equal(t.next(w[1]), w[0])
    np.testing.assert_allclose(t.next(w[2]), (w[0] + w[1]) / 2)
    np.testing.assert_allclose(t.next(w[3]), np.median(w[:3], axis=0))
    np.testing.assert_allclose(t.next(w[4]), np.median(w[1:4], axis=0))  # the oldest has left
    t.reset()
    np.testing.assert_array_equal(t.next(w[5]), np.zeros((2, 5)))


def test_one_ectopic_beat_does_not_shape_the_template():
    normal = np.tile(np.sin(np.linspace(0, np.pi, 20)), (1, 1))
    t = BeatTemplate(5)
    for w in (normal, normal, -3 * normal, normal):
        t.next(w)
    np.testing.assert_allclose(t.next(normal), normal)


def test_template_windows_restart_per_segment_and_equal_the_tracker():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(7, 1, 4)).astype(np.float32)
    seg = np.array(["a", "a", "a", "a", "b", "b", "b"])
    out = template_windows(w, 2, seg)
    assert out.dtype == w.dtype and out.shape == w.shape
    tracker = BeatTemplate(2)
    for i in range(4):
        np.testing.assert_allclose(out[i], tracker.next(w[i]), rtol=1e-6)
    np.testing.assert_array_equal(out[4], 0)
    np.testing.assert_allclose(out[6], np.median(w[4:6], axis=0), rtol=1e-6)


def test_template_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="n_beats must be an int >= 1, got 0"):
        BeatTemplate(0)
    t = BeatTemplate(2)
    t.next(np.zeros((1, 4)))
    with pytest.raises(SignalError, match=r"shape \(1, 5\) differs from the template's \(1, 4\)"):
        t.next(np.zeros((1, 5)))
    with pytest.raises(SignalError, match=r"\(n, leads, length\), got shape \(4,\)"):
        template_windows(np.zeros(4), 2)
    from edge_ecg.deploy.manifest import BeatInput

    with pytest.raises(ManifestError, match="template_beats must be an int >= 0, got -1"):
        BeatInput(0.25, 0.45, template_beats=-1)


def test_training_crops_jitter_the_beat_but_not_its_template():
    pytest.importorskip("torch")
    from edge_ecg.deploy.manifest import BeatInput, InputSpec
    from edge_ecg.train.tasks import Split
    from edge_ecg.train.torch_data import NoiseAugment, WindowDataset

    spec = InputSpec(kind="beat", fs_hz=360.0, leads=("MLII",), length=8, norm="none",
                     beat=BeatInput(0.01, 0.012, template_beats=4))
    assert spec.channels == 2
    margin = 3
    x = np.stack([np.stack([np.arange(14.0), 100 + np.arange(14.0)])] * 64).astype(np.float32)
    split = Split(x, np.zeros((64, 0), np.float32), np.zeros(64, np.int64))
    centred = np.tile(100 + margin + np.arange(8.0), (64, 1))
    xb = WindowDataset(split, spec, margin, train=True).batch(np.arange(64), rng=np.random.default_rng(0))[0].numpy()
    assert set(xb[:, 0, 0].astype(int)) == set(range(2 * margin + 1))  # the beat: every jitter offset drawn
    np.testing.assert_array_equal(xb[:, 1], centred)  # its template: centred
    noisy = WindowDataset(split, spec, margin, train=True, noise=NoiseAugment(np.ones((1, 100), np.float32), 1.0, 0.0, 0.0))
    xb = noisy.batch(np.arange(64), rng=np.random.default_rng(0))[0].numpy()
    # a constant noise trace scaled to the window's power: the beat's ramp moves off the integers
    assert np.all(np.diff(xb[:, 0], axis=1) == pytest.approx(1.0)) and not np.isin(xb[:, 0, 0], np.arange(7.0)).any()
    np.testing.assert_array_equal(xb[:, 1], centred)  # the template gets none


def test_template_model_stream_equals_offline_front_end(tmp_path):
    """A tiny model trained with templates, exported to fp32 ONNX: its manifest carries the
    template, and the stream and the offline front end give the same label to every beat."""
    pytest.importorskip("torch")
    from edge_ecg.bench.ec57 import detector_labels, label_agreement, reference_beats
    from edge_ecg.data.records import read_record
    from edge_ecg.deploy.recipes import export_target
    from edge_ecg.runtime.classifier import Classifier
    from edge_ecg.runtime.demo import DEMO_RECORD
    from edge_ecg.runtime.replay import replay_record
    from edge_ecg.train.config import TrainConfig
    from edge_ecg.train.trainer import fit

    cfg = TrainConfig(model="efficientecg_beat_lite_fusion", train_records=("101", "119", "208"), max_train=600,
                      epochs=1, batch_size=128, progress=False, num_threads=1, template_beats=4)
    fit(cfg, tmp_path / "ckpt")
    result = export_target("jetson-onnx", tmp_path / "ckpt", tmp_path / "out", records=("200",), limit=300,
                           command="pytest template", progress=False)
    clf = Classifier(result.files["model_fp32.onnx"])
    assert clf.manifest.input.template_beats == 4 and clf.manifest.input.channels == 2
    record = read_record(DEMO_RECORD)
    session, _ = replay_record(record, clf)
    beats = [r for r in session.results if r.kind == "beat"]
    ref_s, ref_c = reference_beats(record)
    agree, compared = label_agreement(ref_s, ref_c, [r.sample for r in beats], [r.label for r in beats],
                                      *detector_labels(clf, record), record.fs_hz)
    assert compared > 200 and agree == compared
