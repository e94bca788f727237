"""The wearer's beat context (running template channel, lead polarity): the same in training,
offline evaluation and the stream."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge_ecg.errors import ConfigError, ManifestError, SignalError
from edge_ecg.signal.template import BeatTemplate, Polarity, polarity_signs, template_windows


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


def test_polarity_follows_the_median_of_the_last_beats_per_lead():
    p = Polarity(3)
    np.testing.assert_array_equal(p.next([-5.0, 2.0]), [-1.0, 1.0])
    np.testing.assert_array_equal(p.next([-4.0, 3.0]), [-1.0, 1.0])
    np.testing.assert_array_equal(p.next([9.0, -8.0]), [-1.0, 1.0])  # one ectopic beat does not flip it
    np.testing.assert_array_equal(p.next([8.0, -8.0]), [1.0, -1.0])  # the majority has turned
    r = np.array([[-1.0], [-2.0], [3.0], [4.0], [-5.0]])
    np.testing.assert_array_equal(polarity_signs(r, 2, np.array([0, 0, 0, 1, 1]))[:, 0], [-1, -1, 1, 1, -1])
    with pytest.raises(ConfigError, match="polarity n_beats must be an int >= 1, got 0"):
        Polarity(0)


def test_an_inverted_recording_gives_the_same_model_input_as_the_upright_one():
    from edge_ecg.deploy.manifest import BeatInput, InputSpec
    from edge_ecg.runtime.preprocess import with_beat_context

    spec = InputSpec(kind="beat", fs_hz=360.0, leads=("MLII",), length=9,
                     beat=BeatInput(0.01, 0.015, template_beats=3, polarity_beats=4))
    rng = np.random.default_rng(2)
    w = rng.normal(size=(12, 1, 9))
    w[:, 0, 4] = 10.0 + rng.random(12)  # upright R at column 4
    w[5, 0, 4] = -12.0  # one beat of the other polarity
    up = with_beat_context(w, spec, 4)
    down = with_beat_context(-w, spec, 4)
    assert up.shape == (12, 2, 9)
    np.testing.assert_allclose(down[1:], up[1:])  # from the 2nd beat on: the median has seen enough
    assert up[5, 0, 4] < 0  # the ectopic beat keeps its polarity relative to the wearer's beats


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


def test_beat_context_model_stream_equals_offline_front_end(tmp_path):
    """A tiny model trained with templates and polarity, exported to fp32 ONNX: its manifest
    carries both, and the stream and the offline front end give the same label to every beat
    (the demo record, and the same record upside down)."""
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
                      epochs=1, batch_size=128, progress=False, num_threads=1, template_beats=4,
                      polarity_beats=8)
    fit(cfg, tmp_path / "ckpt")
    result = export_target("jetson-onnx", tmp_path / "ckpt", tmp_path / "out", records=("200",), limit=300,
                           command="pytest template", progress=False)
    clf = Classifier(result.files["model_fp32.onnx"])
    spec = clf.manifest.input
    assert spec.template_beats == 4 and spec.polarity_beats == 8 and spec.channels == 2
    upright = read_record(DEMO_RECORD)
    inverted = dataclasses.replace(upright, p_signal=-upright.p_signal, d_signal=-np.asarray(upright.d_signal))
    labels = []
    for record in (upright, inverted):
        session, _ = replay_record(record, clf)
        beats = [r for r in session.results if r.kind == "beat"]
        ref_s, ref_c = reference_beats(record)
        agree, compared = label_agreement(ref_s, ref_c, [r.sample for r in beats], [r.label for r in beats],
                                          *detector_labels(clf, record), record.fs_hz)
        assert compared > 200 and agree == compared
        labels.append({r.sample: r.label for r in beats})
    same = [labels[0][k] == labels[1][k] for k in labels[0].keys() & labels[1].keys()]
    assert len(same) > 200 and sum(same) >= 0.95 * len(same)  # the inverted recording reads as the upright one
