import numpy as np
import pytest

from edge_ecg.errors import ConfigError
from edge_ecg.signal.rr import RRConfig, RRTracker, rr_features


def _beats(seed=0, n=400, fs=360.0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(int(0.4 * fs), int(1.4 * fs), size=n)) + 50


def test_streaming_features_equal_tracker_fed_one_beat_at_a_time():
    r = _beats()
    offline = rr_features(r, 360.0, streaming=True)
    tracker = RRTracker(360.0)
    rows = []
    for s in r:
        rows.extend(tracker.push(int(s)))
    rows.extend(tracker.flush())
    np.testing.assert_array_equal(np.asarray(rows), offline)


def test_streaming_features_only_look_one_beat_ahead():
    r = _beats(n=300)
    full = rr_features(r, 360.0)
    # truncating the future changes nothing but the last kept beat's post-RR
    part = rr_features(r[:200], 360.0)
    np.testing.assert_array_equal(part[:199], full[:199])
    np.testing.assert_array_equal(part[199, [0, 2, 3]], full[199, [0, 2, 3]])


def test_pre_and_post_rr_are_the_intervals():
    r = np.array([0, 360, 900, 1260])
    f = rr_features(r, 360.0)
    np.testing.assert_allclose(f[1:, 0], np.diff(r) / 360.0)
    np.testing.assert_allclose(f[:-1, 1], np.diff(r) / 360.0)


def test_average_is_causal_window():
    fs = 100.0
    r = np.arange(0, 100_000, 100)  # 1 s RR ...
    r = np.concatenate([r, r[-1] + np.arange(50, 50 * 2000, 50)])  # ... then 0.5 s RR for long
    f = rr_features(r, fs, config=RRConfig(avg_window_s=60.0))
    assert f[500, 3] == pytest.approx(1.0)
    assert f[-10, 3] == pytest.approx(0.5)  # the 1 s beats left the 60 s window


def test_bad_input():
    with pytest.raises(ConfigError, match="increasing"):
        rr_features(np.array([10, 5]), 360.0)
    with pytest.raises(ConfigError, match="fs_hz"):
        rr_features(np.array([1, 2]), 0)
    with pytest.raises(ConfigError, match="local_beats"):
        RRConfig(local_beats=0)
