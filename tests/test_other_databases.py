"""Records as other databases deliver them: samples marked invalid, channels without names,
no lead II. Built from the bundled MIT-BIH excerpt with wfdb, in a temporary folder."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ecg import errors as E
from edge_ecg.data.records import read_record, write_wfdb
from edge_ecg.runtime.classifier import Classifier, default_model_path
from edge_ecg.runtime.demo import DEMO_RECORD

pytest.importorskip("wfdb")
FS = 360.0
INVALID_S = (30.0, 35.0)  # a 5 s dropout


@pytest.fixture(scope="module")
def clf():
    return Classifier(default_model_path("tflite"))


@pytest.fixture(scope="module")
def dropout_dir(tmp_path_factory):
    """60 s of the demo record as format-16 WFDB whose samples in INVALID_S hold -32768, the
    format's "no sample" value (a Holter's electrode dropout)."""
    d = tmp_path_factory.mktemp("dropout")
    base = write_wfdb(read_record(DEMO_RECORD), d, name="drop", seconds=60.0)
    dat = base.with_suffix(".dat")
    counts = np.fromfile(dat, dtype="<i2").reshape(-1, 2)
    a, b = (int(t * FS) for t in INVALID_S)
    counts[a:b] = -32768
    counts.tofile(dat)
    return d


def test_invalid_samples_are_sent_as_lead_off_and_their_beats_are_unreadable(clf, dropout_dir):
    from edge_ecg.runtime.replay import replay_record

    rec = read_record(dropout_dir / "drop", annotator="atr")
    a, b = (int(t * FS) for t in INVALID_S)
    assert np.isnan(rec.p_signal[a:b]).all() and not np.isnan(rec.p_signal[:a]).any()
    session, sim = replay_record(rec, clf)
    assert int(sim.lead_off.sum()) == 2 * (b - a)
    assert session.samples_lost == 0 and session.stats.samples_in == rec.n_samples
    inside = [r for r in session.results if a - FS <= r.sample < b + FS]
    # nothing detected on the placeholder value is labelled: those results say why
    assert inside and all(r.quality == "unreadable" for r in inside if a <= r.sample < b)
    # the dropout outlasts NO_BEAT_S: the stream says the signal could not be read, not nothing
    silent = [r for r in session.results if r.kind == "no_beat"]
    assert silent and all(r.reason == "lead off" and a - 2 * FS <= r.sample < b for r in silent)
    labelled = [r for r in session.results if r.quality == "ok"]
    assert len(labelled) >= 50  # the rest of the minute is classified as usual


def test_training_windows_never_cover_invalid_samples(dropout_dir):
    from edge_ecg.data.labels import aami_indices
    from edge_ecg.data.mitdb import BeatWindowConfig, load_beats

    beats = load_beats(["drop"], dropout_dir)
    window = BeatWindowConfig()
    before, after = window.offsets(FS)
    a, b = (int(t * FS) for t in INVALID_S)
    assert beats.dropped_invalid >= 5  # about one beat a second for 5 s
    assert not np.any((beats.sample + after > a) & (beats.sample - before < b))
    ann = read_record(dropout_dir / "drop", annotator="atr").annotations
    assert len(beats) + beats.dropped_invalid == int((aami_indices(ann.symbol) >= 0).sum())  # each beat accounted for


def test_unnamed_channels_are_named_by_position(tmp_path):
    base = write_wfdb(read_record(DEMO_RECORD), tmp_path, name="anon", seconds=10.0)
    hea = base.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    # drop the description (channel name) at the end of each signal line
    lines = [lines[0]] + [" ".join(line.split()[:-1]) for line in lines[1:3]] + lines[3:]
    hea.write_text("\n".join(lines) + "\n")
    assert read_record(base).lead_names == ("ECG1", "ECG2")


def test_ec57_checks_every_record_of_a_folder_before_streaming_any(clf, tmp_path):
    from edge_ecg.bench.ec57_cli import check_records

    demo = read_record(DEMO_RECORD)
    write_wfdb(demo, tmp_path, name="good", seconds=20.0)
    write_wfdb(demo, tmp_path, name="vleads", lead_names=("V1", "V5"), seconds=20.0)
    check_records(("good",), tmp_path, 0.0, clf)
    with pytest.raises(E.DeviceMismatchError, match=r"record vleads: .*\['V1', 'V5'\].*--channel NAME \(ec57\)"):
        check_records(("good", "vleads"), tmp_path, 0.0, clf)
    check_records(("vleads",), tmp_path, 0.0, clf, channel="V1")  # named: accepted


def test_a_readable_stretch_without_beats_is_reported_as_no_beat(clf, tmp_path):
    """6 s of low-amplitude noise in place of the ECG (a pause, or beats too small to detect)."""
    from edge_ecg.runtime.replay import replay_record
    from edge_ecg.runtime.stream import NO_BEAT, NO_BEAT_S

    base = write_wfdb(read_record(DEMO_RECORD), tmp_path, name="pause", seconds=40.0)
    dat = base.with_suffix(".dat")
    counts = np.fromfile(dat, dtype="<i2").reshape(-1, 2)
    a, b = int(20 * FS), int(26 * FS)
    counts[a:b] = np.random.default_rng(3).normal(0, 6, (b - a, 2)).round()  # 30 µV at 5 µV per count
    counts.tofile(dat)
    session, _ = replay_record(read_record(base, annotator="atr"), clf)
    silent = [r for r in session.results if r.kind == "no_beat"]
    assert len(silent) == 1, silent
    r = silent[0]
    assert (r.label, r.quality) == (NO_BEAT, "ok") and a - 2 * FS <= r.sample < a
    assert r.reason == f"no QRS detected in the {NO_BEAT_S:g} s from here"
    assert session.stats.class_counts[NO_BEAT] == 1 and NO_BEAT not in session.stats.unreadable_reasons
