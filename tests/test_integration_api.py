"""The Python API as an application embeds it (no CLI): shared models across threads, bytes
pushed from a callback, hand-built events, and every argument checked where it is given."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from edge_ecg import errors as E
from edge_ecg.protocol import DataBlock, Descriptor, FrameDecoder, FrameEncoder
from edge_ecg.runtime.classifier import Classifier, default_model_path
from edge_ecg.runtime.session import StreamSession
from edge_ecg.runtime.sinks import Sink
from edge_ecg.runtime.sources import PushSource
from edge_ecg.runtime.stream import GateConfig, StreamClassifier

SECONDS = 60
SPF = 36  # samples per frame


@pytest.fixture(scope="module")
def record(data_dir):
    """60 s of MIT-BIH 200 (frequent V beats) as raw counts, with its calibration."""
    wfdb = pytest.importorskip("wfdb")
    r = wfdb.rdrecord(str(data_dir / "mitdb" / "200"), sampto=360 * SECONDS, physical=False)
    counts = r.d_signal.astype(np.int32)
    desc = Descriptor(fs_hz=360.0, channel_names=tuple(r.sig_name), uv_per_count=1000.0 / np.asarray(r.adc_gain),
                      baseline_counts=np.asarray(r.baseline))
    return counts, desc


@pytest.fixture(scope="module")
def frames(record):
    counts, desc = record
    enc = FrameEncoder()
    return [enc.descriptor(desc)] + [enc.data(i, counts[i : i + SPF]) for i in range(0, len(counts), SPF)]


def _key(results):
    return [(r.sample, r.label, r.quality, r.reason, round(r.prob, 5)) for r in results]


def _run_frames(clf, frames):
    dec, got = FrameDecoder(), []
    with StreamSession(clf, sinks=[got.append]) as s:  # a plain callable is a sink
        for f in frames:
            for ev in dec.feed(f):
                s.handle(ev)
    return s, dec, got


@pytest.fixture(scope="module")
def tflite_clf():
    return Classifier(default_model_path("tflite"))


# -- one model, several threads ------------------------------------------------------------------
def test_one_tflite_classifier_serves_sessions_in_several_threads(tflite_clf, frames):
    _, _, ref = _run_frames(tflite_clf, frames)
    assert sum(r.quality == "ok" for r in ref) > 50
    outs, errors = [None] * 4, []

    def work(k):
        try:
            outs[k] = _run_frames(tflite_clf, frames)[2]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert all(_key(o) == _key(ref) for o in outs)


# -- bytes pushed by the application ---------------------------------------------------------------
def test_push_source_fed_from_another_thread_gives_the_same_labels(tflite_clf, frames):
    _, _, ref = _run_frames(tflite_clf, frames)
    blob = b"".join(frames)
    rng = np.random.default_rng(7)
    cuts = np.sort(rng.choice(np.arange(1, len(blob)), size=400, replace=False))
    src, got = PushSource(), []

    def callback_thread():  # as a BLE stack would deliver notifications
        for piece in np.split(np.frombuffer(blob, np.uint8), cuts):
            src.feed(piece.tobytes())
        src.close()

    t = threading.Thread(target=callback_thread)
    t.start()
    with StreamSession(tflite_clf, sinks=[got.append]) as s:
        s.run(src)
    t.join(30)
    assert _key(got) == _key(ref)
    assert (s.stats.samples_in, s.samples_lost) == (SECONDS * 360, 0)
    assert src.stats.bytes_read == len(blob) and src.stats.decoder.balanced()
    with pytest.raises(E.ConfigError, match="after close"):
        src.feed(b"\x00")
    with pytest.raises(E.ConfigError, match="takes bytes"):
        PushSource().feed("text")


# -- frames repeated or reordered --------------------------------------------------------------------
def test_a_repeated_frame_is_dropped_and_counted_once(tflite_clf, frames):
    _, _, ref = _run_frames(tflite_clf, frames)
    s, dec, got = _run_frames(tflite_clf, frames[:300] + [frames[299], frames[299]] + frames[300:])
    assert (dec.stats.frames_stale, dec.stats.samples_stale) == (2, 2 * SPF)
    assert dec.stats.counter_resets == 0 and dec.stats.frames_lost == 0
    assert (s.stats.samples_in, s.samples_lost) == (SECONDS * 360, 0)
    assert _key(got) == _key(ref)


def test_a_late_frame_stays_lost_and_is_not_a_restart(tflite_clf, frames):
    s, dec, got = _run_frames(tflite_clf, frames[:300] + [frames[301], frames[300]] + frames[302:])
    assert (dec.stats.frames_stale, dec.stats.samples_stale, dec.stats.counter_resets) == (1, SPF, 0)
    # received + reported lost = sent, to the sample
    assert (s.stats.samples_in, s.samples_lost) == (SECONDS * 360 - SPF, SPF)
    assert s.stats.unreadable_reasons.get("gap") == 1


def test_a_real_counter_reset_is_still_a_restart(record):
    counts, desc = record
    enc = FrameEncoder()
    frames = [enc.data(i, counts[i : i + SPF]) for i in range(0, 3600, SPF)]
    rebooted = FrameEncoder()  # seq and sample counter from 0 again
    frames += [rebooted.data(i, counts[i : i + SPF]) for i in range(0, 720, SPF)]
    dec = FrameDecoder()
    for f in frames:
        dec.feed(f)
    # the reboot's first frame repeats (seq 0, counter 0) from 100 frames ago: outside the history
    assert dec.stats.counter_resets == 1 and dec.stats.frames_stale == 0
    assert dec.stats.frames_lost == 0  # its seq restarted too: that jump is no loss of 65,436 frames


# -- arguments checked where they are given -----------------------------------------------------------
def test_stream_classifier_checks_its_arguments(tflite_clf, record):
    counts, desc = record
    kw = dict(fs_hz=360.0, lead_names=desc.channel_names, uv_per_count=desc.uv_per_count,
              baseline_counts=desc.baseline_counts)
    sc = StreamClassifier(tflite_clf, **{**kw, "fs_hz": np.float32(360.0)})  # a numpy number is a number
    ref = StreamClassifier(tflite_clf, **kw)
    assert _key(sc.push(0, counts[:7200]) + sc.finish()) == _key(ref.push(0, counts[:7200]) + ref.finish())
    bad = [
        ({"fs_hz": True}, E.DeviceMismatchError, "sampling rate True"),
        ({"lead_names": "MLII"}, E.ConfigError, "lead_names 'MLII'"),
        ({"uv_per_count": [1.0, 2.0, 3.0]}, E.ConfigError, "uv_per_count .*one per channel"),
        ({"uv_per_count": 0.0}, E.ConfigError, "µV per count > 0"),
        ({"uv_per_count": "abc"}, E.ConfigError, "uv_per_count 'abc'"),
        ({"buffer_s": 0.1}, E.ConfigError, r"buffer_s 0.1: expected >= \d+\.\d+ s"),
        ({"gate": {"settle_s": 1}}, E.ConfigError, "expected a GateConfig"),
        ({"sex": 1}, E.ConfigError, "sex 1"),
        ({"channels": "MLII"}, E.ConfigError, "channels 'MLII'"),
    ]
    for change, err, msg in bad:
        with pytest.raises(err, match=msg):
            StreamClassifier(tflite_clf, **{**kw, **change})
    for args, msg in [((0, counts[:100, :1]), r"shape \(100, 1\): expected \(samples, 2\)"),
                      ((0, counts[:100].astype(complex)), "dtype complex128"),
                      ((-5, counts[:100]), "first_sample -5"),
                      ((0, counts[:100], np.zeros((99, 2), bool)), r"lead_off of shape \(99, 2\)")]:
        with pytest.raises(E.SignalError, match=msg):
            ref.push(*args)


@pytest.mark.parametrize("change, msg", [
    ({"flat_uv": float("nan")}, "flat_uv"),
    ({"settle_s": -1.0}, "settle_s"),
    ({"settle_s": "2"}, "settle_s: expected a number"),
    ({"saturation_margin": -5}, "saturation_margin"),
])
def test_gate_config_checks_every_field(change, msg):
    with pytest.raises(E.ConfigError, match=msg):
        GateConfig(**change)


def test_session_checks_settings_before_any_device_is_heard(tflite_clf):
    for kw, msg in [({"mains_hz": "fifty"}, "mains_hz"), ({"channels": "MLII"}, "channels"),
                    ({"gate": {}}, "GateConfig"), ({"sinks": [42]}, "sink 42"), ({"age": True}, "age True")]:
        with pytest.raises(E.ConfigError, match=msg):
            StreamSession(tflite_clf, **kw)
    with pytest.raises(E.ConfigError, match="expected an edge_ecg.runtime.classifier.Classifier"):
        StreamSession("model.tflite")
    s = StreamSession(tflite_clf, mains_hz=50)
    assert s.mains_hz == (50.0,)
    for junk in (None, "garbage", np.zeros((10, 2))):
        with pytest.raises(E.ConfigError, match="handle\\(\\) got a"):
            s.handle(junk)
    with pytest.raises(E.ConfigError, match=r"lacks \['drain', 'ended'\]"):
        s.run(type("OnlyGet", (), {"get": lambda self, t: None})())


def test_a_closed_session_closes_its_sinks_and_takes_no_more_events(tflite_clf, record):
    counts, desc = record

    class Recorder(Sink):
        def __init__(self):
            self.closed, self.results, self.uv = 0, [], []

        def write(self, r):
            self.results.append(r)

        def samples(self, first, uv):
            self.uv.append(np.array(uv))

        def close(self):
            self.closed += 1

    rec = Recorder()
    with StreamSession(tflite_clf, sinks=[rec]) as s:
        s.handle(desc)
        s.handle(DataBlock(0, counts[:3600], None))  # built by hand: no calibration of its own
    s.close()
    assert rec.closed == 1 and len(rec.results) > 0
    # the sink gets µV of the model's lead (MLII), from the descriptor's calibration
    want = (counts[:3600, 0] - desc.baseline_counts[0]) * desc.uv_per_count[0]
    np.testing.assert_allclose(rec.uv[0][:, 0], want)
    assert rec.uv[0].shape == (3600, 1)
    with pytest.raises(E.ConfigError, match="has finished"):
        s.handle(desc)
    assert s.finish() == []


def test_descriptor_built_by_hand_is_checked(record):
    _, desc = record
    with pytest.raises(E.ConfigError, match="3 and baseline_counts 2 values for 2 channels"):
        Descriptor(fs_hz=360.0, channel_names=desc.channel_names, uv_per_count=[1.0, 2.0, 3.0],
                   baseline_counts=desc.baseline_counts)
    with pytest.raises(E.ConfigError, match="channel_names 'MLII'"):
        Descriptor(fs_hz=360.0, channel_names="MLII", uv_per_count=1.0, baseline_counts=0)
    assert Descriptor(fs_hz=np.int64(360), channel_names=("MLII",), uv_per_count=1.0, baseline_counts=0).fs_hz == 360.0


def test_classifier_refuses_bad_arrays(tflite_clf):
    x = np.zeros((2, 1, 252), np.float32)
    side = np.zeros((2, tflite_clf.side_dim), np.float32)
    assert tflite_clf.predict(x, side).shape == (2, 4)
    for args, msg in [((x[:0], side[:0]), r"batch >= 1"),
                      ((x, np.full_like(side, np.nan)), "side input holds NaN"),
                      ((x.astype(object), side), "dtype object"),
                      ((x, None), "side input shape None")]:
        with pytest.raises(E.SignalError, match=msg):
            tflite_clf.predict(*args)
    with pytest.raises(E.ConfigError, match="model_path 123"):
        Classifier(123)
    with pytest.raises(E.ConfigError, match="providers 'cpu'"):
        Classifier(default_model_path("onnxruntime"), providers="cpu")


def test_a_tflite_model_json_edited_by_hand_is_refused(tmp_path):
    src = default_model_path("tflite").parent
    d = tmp_path / "m"
    shutil.copytree(src, d)
    m = json.loads((d / "model.json").read_text())
    m["input"]["norm"] = "none"
    (d / "model.json").write_text(json.dumps(m))
    with pytest.raises(E.ManifestError, match=r"embedded in model_int8\.tflite differs from its model\.json \(keys \['input'\]\)"):
        Classifier(d / "model_int8.tflite")


def test_the_readme_python_api_example_runs_as_written(frames, capsys):
    """The README's embedding example, executed with a stand-in BLE stack delivering the demo
    record's frames in uneven pieces."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("### Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    blob = b"".join(frames)

    class FakeBLE:
        def on_notify(self, callback):
            for k in range(0, len(blob), 244):  # a BLE 5 notification payload
                callback(blob[k : k + 244])

    namespace = {"ble": FakeBLE()}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented example itself
    out = capsys.readouterr().out
    assert "PVC at" in out and "'samples_in': 21600" in out and "'samples_lost': 0" in out


def test_a_frame_in_another_sample_format_than_described_is_not_classified(tflite_clf, record):
    """int24 frames after an int16 descriptor: their counts are on another scale (x256 if the
    device also changed gain), so they are lost to the classifier, never read at the old scale."""
    counts, desc = record
    enc = FrameEncoder()
    frames = [enc.descriptor(desc)] + [enc.data(i, counts[i : i + SPF]) for i in range(0, 3600, SPF)]
    frames += [enc.data(i, counts[i : i + SPF], "int24") for i in range(3600, 7200, SPF)]
    s, dec, _ = _run_frames(tflite_clf, frames)
    assert s.stats.samples_mismatched == 3600 and s.stats.samples_in == 3600
    assert s.samples_lost == 3600  # received + lost = sent


def test_a_resent_buffer_with_a_heartbeat_in_it_is_stale_not_a_restart(record):
    counts, desc = record
    enc = FrameEncoder()
    frames = [enc.descriptor(desc), enc.data(0, counts[:SPF]), enc.data(SPF, counts[SPF : 2 * SPF]),
              enc.heartbeat(2 * SPF, 1000), enc.data(2 * SPF, counts[2 * SPF : 3 * SPF])]
    dec = FrameDecoder()
    events = [e for f in frames + frames[2:] for e in dec.feed(f)]  # the link re-sends its last three frames
    s = dec.stats
    assert (s.frames_stale, s.samples_stale, s.counter_resets, s.frames_lost) == (3, 2 * SPF, 0, 0)
    assert sum(isinstance(e, DataBlock) for e in events) == 3 and s.samples_ok == 3 * SPF
