"""Datasets, label maps and lead handling on the real shared recordings.

The DS1/DS2 figures are the published AAMI class counts of de Chazal's inter-patient split (every
annotation whose symbol is in the AAMI map); the per-record figures were made by counting the
AAMI-mapped symbols of ``wfdb.rdann(record, 'atr')`` and are re-derived from wfdb in the test.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from edge_ecg.data.cinc import (
    PTBXL_SUPERCLASSES,
    load_12lead,
    load_cinc2017,
    load_ptbxl,
    read_cinc2017_reference,
)
from edge_ecg.data.labels import (
    AAMI_CLASSES,
    AAMI_MAP,
    DX_VOCABULARY,
    NON_BEAT_SYMBOLS,
    OTHER,
    SNOMED_TABLE,
    aami_class,
    dx_abbreviation,
    map_dx,
    multi_hot,
)
from edge_ecg.data.leads import (
    EIGHT_LEADS,
    STANDARD_12_LEADS,
    lead_index,
    reduce_to_8,
    select_leads,
)
from edge_ecg.data.mitdb import (
    DS1,
    DS2,
    PACED_RECORDS,
    BeatWindowConfig,
    beat_counts,
    load_beats,
    load_rhythm_windows,
)
from edge_ecg.data.records import read_record
from edge_ecg.errors import ConfigError, DeviceMismatchError, LabelError
from edge_ecg.signal.rr import RRConfig, RRTracker, rr_features

wfdb = pytest.importorskip("wfdb")

DS1_COUNTS = {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
DS2_COUNTS = {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}
RECORD_COUNTS = {
    "100": {"N": 2239, "S": 33, "V": 1, "F": 0, "Q": 0},
    "119": {"N": 1543, "S": 0, "V": 444, "F": 0, "Q": 0},
    "208": {"N": 1586, "S": 2, "V": 992, "F": 373, "Q": 2},
}


def _wfdb_beats(data_dir, name):
    ann = wfdb.rdann(str(data_dir / "mitdb" / name), "atr")
    keep = np.array([s in AAMI_MAP for s in ann.symbol])
    return ann.sample[keep], [s for s, k in zip(ann.symbol, keep, strict=True) if k]


# ------------------------------------------------------------------------------------------
# MIT-BIH beats


def test_splits_are_the_de_chazal_records():
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2)
    assert not (set(DS1) | set(DS2)) & set(PACED_RECORDS)


@pytest.mark.parametrize("name", sorted(RECORD_COUNTS))
def test_per_record_counts(data_dir, name):
    beats = load_beats([name], data_dir / "mitdb")
    assert beats.counts() == RECORD_COUNTS[name]
    _, symbols = _wfdb_beats(data_dir, name)
    assert len(beats) == len(symbols)
    assert list(beats.symbol) == symbols


def test_ds1_ds2_exact_counts(data_dir):
    ds1 = load_beats(DS1, data_dir / "mitdb")
    ds2 = load_beats(DS2, data_dir)  # the shared root works too
    assert ds1.counts() == DS1_COUNTS and len(ds1) == 51021
    assert ds2.counts() == DS2_COUNTS and len(ds2) == 49712
    assert beat_counts("DS1", data_dir) == DS1_COUNTS
    for b in (ds1, ds2):
        assert b.x.dtype == np.float32 and b.x.shape == (len(b), 1, 252)
        assert b.rr.dtype == np.float32 and b.rr.shape == (len(b), 4)
        assert b.y.dtype == np.int64 and b.sample.dtype == np.int64
        assert b.classes == AAMI_CLASSES and b.fs_hz == 360.0
        assert np.isfinite(b.x).all() and np.isfinite(b.rr).all()
    assert set(np.unique(ds1.record)) == set(DS1)


def test_without_q_beats(data_dir):
    with_q = load_beats(["208"], data_dir)
    no_q = load_beats(["208"], data_dir, include_q=False)
    assert len(no_q) == len(with_q) - 2
    keep = with_q.y != AAMI_CLASSES.index("Q")
    # Q beats still count as beats for the RR intervals of their neighbours
    np.testing.assert_array_equal(no_q.rr, with_q.rr[keep])


def test_windows_are_the_signal_around_r_and_zero_padded_at_edges(data_dir):
    beats = load_beats(["100"], data_dir, window=BeatWindowConfig(before_s=0.25, after_s=0.45))
    rec = read_record(data_dir / "mitdb" / "100")
    uv = rec.signal_uv()[:, 0]
    before = 90  # 0.25 s at 360 Hz
    for i in (5, 100, len(beats) // 2):
        r = beats.sample[i]
        np.testing.assert_array_equal(beats.x[i, 0], uv[r - before : r + 162].astype(np.float32))
    first = beats.sample[0]
    assert first < before  # the first beat sits inside the first 0.25 s
    assert np.all(beats.x[0, 0, : before - first] == 0)
    np.testing.assert_array_equal(
        beats.x[0, 0, before - first :], uv[: first + 162].astype(np.float32)
    )


def test_lead_by_name_uses_mlii_even_where_it_is_not_first(data_dir):
    rec = read_record(data_dir / "mitdb" / "114")
    assert rec.lead_names == ("V5", "MLII")
    by_name = load_beats(["114"], data_dir, lead="MLII")
    by_index = load_beats(["114"], data_dir, lead=1)
    np.testing.assert_array_equal(by_name.x, by_index.x)
    with pytest.raises(DeviceMismatchError, match="'V1'.*MLII"):
        load_beats(["114"], data_dir, lead="V1")


@pytest.mark.parametrize(
    ("names", "column"),
    [(("ECG",), 0), (("ECG1", "ECG2"), 0), (("ecg 0", "ecg 1"), 0), (("V1", "EKG"), 1), (("V5", "MLII"), 1)],
)
def test_an_unnamed_ecg_channel_is_taken_as_lead_ii_and_only_as_lead_ii(names, column):
    assert lead_index(names, "II") == column
    with pytest.raises(DeviceMismatchError, match="'V1' not found" if "V1" not in names else "'V2' not found"):
        lead_index(names, "V1" if "V1" not in names else "V2")


def test_lead_names_with_a_signal_type_prefix_match_the_lead():
    names = ("ECG I", "EKG II", "ECG-aVR", "ECG_V1", "ECG MLII")
    assert [lead_index(names, lead) for lead in ("I", "II", "aVR", "V1")] == [0, 1, 2, 3]
    assert lead_index(("ECG V5", "ECG MLII"), "II") == 1
    # "ECG 1" is a channel number, not lead I; "ECG X" is no lead at all
    with pytest.raises(DeviceMismatchError, match="'I' not found"):
        lead_index(("ECG 1", "ECG 2"), "I")
    with pytest.raises(DeviceMismatchError, match="'V1' not found"):
        lead_index(("ECG X", "ECG V2"), "V1")


def test_numbered_channels_past_the_first_are_not_taken_as_lead_ii():
    with pytest.raises(DeviceMismatchError, match=r"lead 'II' not found; available leads: \['ECG2', 'ECG3'\]"):
        lead_index(("ECG2", "ECG3"), "II")


def test_filter_applied_to_whole_record(data_dir):
    from scipy.signal import butter, lfilter

    b, a = butter(2, 0.5, btype="highpass", fs=360.0)

    def causal(x, fs_hz):
        assert fs_hz == 360.0
        return lfilter(b, a, x)

    beats = load_beats(["119"], data_dir, filter_fn=causal)
    filtered = lfilter(b, a, read_record(data_dir / "mitdb" / "119").signal_uv()[:, 0])
    i = 200
    r = beats.sample[i]
    np.testing.assert_allclose(beats.x[i, 0], filtered[r - 90 : r + 162], rtol=1e-6, atol=1e-3)


def test_resampled_output(data_dir):
    beats = load_beats(["100"], data_dir, fs_hz_out=250.0)
    r360, _ = _wfdb_beats(data_dir, "100")
    assert beats.fs_hz == 250.0
    assert beats.x.shape[1:] == (1, 62 + 112)
    np.testing.assert_array_equal(beats.sample, np.rint(r360 * 250 / 360).astype(np.int64))
    # RR features are computed at the record's own rate and do not depend on the output rate
    np.testing.assert_array_equal(beats.rr, load_beats(["100"], data_dir).rr)


def test_streaming_rr_equals_tracker(data_dir):
    beats = load_beats(["201"], data_dir, streaming_rr=True)
    r, _ = _wfdb_beats(data_dir, "201")
    tracker = RRTracker(360.0, RRConfig())
    rows = [row for s in r for row in tracker.push(int(s))] + tracker.flush()
    np.testing.assert_array_equal(beats.rr, np.asarray(rows, dtype=np.float32))
    offline = load_beats(["201"], data_dir, streaming_rr=False)
    np.testing.assert_array_equal(
        offline.rr, rr_features(r, 360.0, streaming=False).astype(np.float32)
    )
    assert not np.array_equal(offline.rr[:, 3], beats.rr[:, 3])


def test_wfdb_beat_codes_mitdb_does_not_use_are_classed(data_dir, tmp_path):
    """Other databases' beat codes (INCART, AHA) get the class every EC57 table gives them."""
    for ext in ("hea", "dat"):
        shutil.copy(data_dir / "mitdb" / f"100.{ext}", tmp_path / f"100.{ext}")
    ann = wfdb.rdann(str(data_dir / "mitdb" / "100"), "atr")
    symbols = list(ann.symbol)
    beat_rows = [i for i, s in enumerate(symbols) if s == "N"][5:9]
    for i, code in zip(beat_rows, ("r", "B", "n", "?"), strict=True):
        symbols[i] = code  # R-on-T PVC, bundle branch block, supraventricular escape, unclassified
    wfdb.wrann(
        "100", "atr", ann.sample, symbol=symbols, aux_note=ann.aux_note, write_dir=str(tmp_path)
    )
    before = load_beats(["100"], data_dir / "mitdb").counts()
    after = load_beats(["100"], tmp_path).counts()
    assert after["V"] == before["V"] + 1 and after["N"] == before["N"] - 2
    assert after.get("Q", 0) == before.get("Q", 0) + 1
    assert [aami_class(c) for c in "rBn?`'"] == ["V", "N", "N", "Q", None, None]


def test_beat_window_config_validation():
    with pytest.raises(ConfigError, match="before_s"):
        BeatWindowConfig(before_s=-0.1)
    with pytest.raises(ConfigError, match="longer than 0"):
        BeatWindowConfig(before_s=0.0, after_s=0.0)
    assert BeatWindowConfig().offsets(360.0) == (90, 162)


# ------------------------------------------------------------------------------------------
# MIT-BIH rhythm windows


def test_rhythm_windows(data_dir):
    windows = load_rhythm_windows(["201", "203"], data_dir, window_s=10.0)
    assert "AFIB" in windows.classes and windows.counts()["AFIB"] > 0
    assert windows.x.shape == (len(windows), 1, 3600) and windows.x.dtype == np.float32
    for name in ("201", "203"):
        ann = wfdb.rdann(str(data_dir / "mitdb" / name), "atr")
        changes = [
            (s, a.strip("\x00"))
            for s, a in zip(ann.sample, ann.aux_note, strict=True)
            if a.startswith("(")
        ]
        uv = read_record(data_dir / "mitdb" / name).signal_uv()[:, 0]
        for k in np.flatnonzero(windows.record == name):
            start = windows.start[k]
            in_force = [a for s, a in changes if s <= start][-1]
            assert in_force == "(" + windows.classes[windows.y[k]]
            assert not any(start < s < start + 3600 for s, _ in changes)  # uniform window
            np.testing.assert_array_equal(
                windows.x[k, 0], uv[start : start + 3600].astype(np.float32)
            )
    mixed = load_rhythm_windows(["201"], data_dir, require_uniform=False)
    assert len(mixed) >= int((windows.record == "201").sum())
    only = load_rhythm_windows(["201"], data_dir, rhythms=("N", "AFIB"))
    assert only.classes == ("N", "AFIB") and set(only.y) <= {0, 1}


# ------------------------------------------------------------------------------------------
# Label maps


def test_aami_map():
    assert aami_class("N") == "N" and aami_class("/") == "Q" and aami_class("E") == "V"
    assert aami_class("+") is None and aami_class("~") is None
    assert not set(AAMI_MAP) & set(NON_BEAT_SYMBOLS)
    with pytest.raises(LabelError, match=r"record 123: annotation symbol 'Z'"):
        aami_class("Z", record="123")


def test_every_shared_12lead_code_is_known(data_dir):
    codes = set()
    for folder in ("cinc2021_12lead", "cpsc2018"):
        for hea in (data_dir / folder).glob("*.hea"):
            for line in hea.read_text().splitlines():
                if line.lstrip("# ").lower().startswith("dx"):
                    codes |= {c.strip() for c in line.split(":", 1)[1].split(",")}
    assert len(codes) > 20
    unknown = sorted(c for c in codes if dx_abbreviation(c) is None)
    assert unknown == []


def test_dx_merges_and_other_bucket():
    assert dx_abbreviation("713427006") == dx_abbreviation("59118001") == "RBBB"
    assert (
        dx_abbreviation("164884008")
        == dx_abbreviation("427172004")
        == dx_abbreviation("17338001")
        == "PVC"
    )
    assert dx_abbreviation("284470004") == dx_abbreviation("63593006") == "PAC"
    assert dx_abbreviation("Normal") == "NSR" and dx_abbreviation("I-AVB") == "IAVB"
    m = map_dx(["426783006", "59118001", "713427006", "164873001", "999999999"])
    assert m.labels == ("NSR", "RBBB", OTHER)  # LVH is known but outside the vocabulary
    assert m.unknown == ("999999999",)
    y = multi_hot(m.labels)
    assert y.sum() == 3 and y[DX_VOCABULARY.index("RBBB")] == 1
    with pytest.raises(LabelError, match="'XYZ'"):
        multi_hot(["XYZ"])
    assert all(code.isdigit() for code in SNOMED_TABLE)


# ------------------------------------------------------------------------------------------
# Leads


@pytest.mark.parametrize(
    "name", ["cinc2021_12lead/HR06000", "cinc2021_12lead/E07500", "cpsc2018/A0003"]
)
def test_derived_limb_leads_match_recorded(data_dir, name):
    rec = read_record(data_dir / name)
    uv = rec.signal_uv()
    derived = select_leads(uv[:, :2], rec.lead_names[:2], ["III", "aVR", "aVL", "aVF"], derive=True)
    recorded = select_leads(uv, rec.lead_names, ["III", "aVR", "aVL", "aVF"])
    # each lead is quantised on its own (1 µV steps): the relations hold to a few counts
    assert np.abs(derived - recorded).max() <= 4.0
    assert np.ptp(recorded, axis=0).min() > 100  # and the leads are real signals, not zeros


def test_lead_weights_name_the_columns_and_the_einthoven_goldberger_weights():
    from edge_ecg.data.leads import lead_weights

    cols, w = lead_weights(("V1", "I", "II"), ("II", "III", "aVR", "aVL", "aVF", "V1"), derive=True)
    assert cols == [2, 1, 0]  # II, I (derivation), V1
    np.testing.assert_array_equal(w, [[1, 1, -0.5, -0.5, 1, 0], [0, -1, -0.5, 1, -0.5, 0], [0, 0, 0, 0, 0, 1]])
    cols, w = lead_weights(("I", "III"), ("II", "aVF"), derive=True)  # II = I + III
    assert cols == [0, 1]
    np.testing.assert_array_equal(w, [[1, 0.5], [1, 1]])
    cols, w = lead_weights(("II", "III"), ("I",), derive=True)  # I = II - III
    assert cols == [0, 1] and w.tolist() == [[1.0], [-1.0]]
    with pytest.raises(DeviceMismatchError, match="'III' not found; available"):
        lead_weights(("I", "II"), ("III",))  # derivation only when asked for
    x = np.array([[1.0, np.nan, 3.0]])
    assert select_leads(x, ("I", "X", "II"), ("II", "aVL"), derive=True).tolist() == [[3.0, -0.5]]  # no NaN leak


def test_lead_selection_and_reduction(data_dir):
    rec = read_record(data_dir / "cinc2021_12lead" / "JS20000")
    uv = rec.signal_uv()
    eight = reduce_to_8(uv, rec.lead_names)
    assert eight.shape == (rec.n_samples, 8)
    np.testing.assert_array_equal(eight, uv[:, [0, 1, 6, 7, 8, 9, 10, 11]])
    upper = [n.upper() for n in rec.lead_names]
    np.testing.assert_array_equal(select_leads(uv, upper, ["avf", "V1"]), uv[:, [5, 6]])
    twelve = select_leads(eight, EIGHT_LEADS, STANDARD_12_LEADS, derive=True)
    assert np.abs(twelve - uv).max() <= 4.0
    assert lead_index(("MLII", "V5"), "ii") == 0
    with pytest.raises(DeviceMismatchError, match=r"'V7'.*available leads: \['I', 'II'"):
        select_leads(uv, rec.lead_names, ["V7"])
    with pytest.raises(DeviceMismatchError, match="'aVR'.*two of I, II, III"):
        select_leads(uv[:, 6:], rec.lead_names[6:], ["aVR"], derive=True)


# ------------------------------------------------------------------------------------------
# CinC 2017, CinC 2021 / CPSC 2018


def test_cinc2017_uses_v3_labels(data_dir):
    ds = load_cinc2017(data_dir)
    assert len(ds) == 300 and ds.fs_hz == 300.0 and ds.reference == "REFERENCE-v3_full_training.csv"
    v3 = read_cinc2017_reference(data_dir / "cinc2017" / "REFERENCE-v3_full_training.csv")
    old = read_cinc2017_reference(data_dir / "cinc2017" / "REFERENCE.csv")
    revised = [n for n in ds.names if v3[n] != old[n]]
    assert len(revised) == 16
    for i, name in enumerate(ds.names):
        assert ds.classes[ds.y[i]] == v3[name]
    assert all(x.shape[0] == 1 and x.dtype == np.float32 for x in ds.signals)
    secs = [x.shape[1] / 300.0 for x in ds.signals]
    assert 9.0 <= min(secs) and max(secs) <= 61.0


def test_12lead_loader(data_dir):
    ds = load_12lead([data_dir / "cinc2021_12lead", data_dir / "cpsc2018"])
    assert len(ds) == 60
    assert ds.unknown_codes == {}
    assert set(ds.fs_hz) == {500.0}
    assert all(x.shape[0] == 12 and x.dtype == np.float32 for x in ds.signals)
    assert np.isfinite(ds.age_years).all() and set(ds.sex) <= {"M", "F"}
    assert ds.y.shape == (60, len(DX_VOCABULARY))
    i = ds.names.index("A0002")  # CPSC '#Dx: Normal'
    assert ds.y[i, DX_VOCABULARY.index("NSR")] == 1 and ds.y[i].sum() == 1
    i = ds.names.index("E07500")  # 67741000119109 (LAE, unscored) + 426177001 (SB)
    assert ds.y[i, DX_VOCABULARY.index("SB")] == 1 and ds.y[i, DX_VOCABULARY.index(OTHER)] == 1
    assert ds.age_years[i] == 78.0 and ds.sex[i] == "M"
    resampled = load_12lead(data_dir / "cpsc2018", fs_hz_out=250.0, leads=EIGHT_LEADS)
    assert set(resampled.fs_hz) == {250.0} and resampled.signals[0].shape == (8, 3750)


# ------------------------------------------------------------------------------------------
# PTB-XL layout (built from the real PTB-XL-derived CinC 2021 HR* records)

PTBXL_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
PTBXL_ROWS = [
    # ecg_id, age, sex, scp_codes, strat_fold
    (1, "56.0", "1", "{'NORM': 100.0, 'SR': 0.0}", 1),
    (2, "300.0", "0", "{'IMI': 50.0, 'LVH': 100.0, 'SR': 0.0}", 3),
    (3, "70.0", "0", "{'NDT': 100.0}", 9),
    (4, "45.0", "1", "{'SR': 0.0}", 2),  # no diagnostic statement
    (5, "61.0", "0", "{'CLBBB': 100.0, 'IMI': 15.0}", 10),
    (6, "38.0", "1", "{'NORM': 80.0}", 10),
]


@pytest.fixture()
def ptbxl_root(data_dir, tmp_path):
    from scipy.signal import resample_poly

    root = tmp_path / "ptbxl"
    for ecg_id, *_ in PTBXL_ROWS:
        rec = read_record(data_dir / "cinc2021_12lead" / f"HR0600{ecg_id - 1}", annotator=None)
        hr_dir, lr_dir = root / "records500" / "00000", root / "records100" / "00000"
        hr_dir.mkdir(parents=True, exist_ok=True)
        lr_dir.mkdir(parents=True, exist_ok=True)
        common = dict(
            units=["mV"] * 12,
            sig_name=list(PTBXL_LEADS),
            fmt=["16"] * 12,
            adc_gain=[1000.0] * 12,
            baseline=[0] * 12,
        )
        wfdb.wrsamp(
            f"{ecg_id:05d}_hr",
            fs=500,
            d_signal=rec.d_signal.astype(np.int64),
            write_dir=str(hr_dir),
            **common,
        )
        wfdb.wrsamp(
            f"{ecg_id:05d}_lr",
            fs=100,
            p_signal=resample_poly(rec.p_signal, 1, 5, axis=0),
            write_dir=str(lr_dir),
            **common,
        )
    with (root / "ptbxl_database.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "ecg_id",
                "patient_id",
                "age",
                "sex",
                "scp_codes",
                "strat_fold",
                "filename_lr",
                "filename_hr",
            ]
        )
        for ecg_id, age, sex, scp, fold in PTBXL_ROWS:
            w.writerow([ecg_id, 1000 + ecg_id, age, sex, scp, fold,
                        f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"])  # fmt: skip
    with (root / "scp_statements.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "",
                "description",
                "diagnostic",
                "form",
                "rhythm",
                "diagnostic_class",
                "diagnostic_subclass",
            ]
        )
        w.writerow(["NORM", "normal ECG", "1.0", "", "", "NORM", "NORM"])
        w.writerow(["IMI", "inferior MI", "1.0", "", "", "MI", "IMI"])
        w.writerow(["LVH", "left ventricular hypertrophy", "1.0", "", "", "HYP", "LVH"])
        w.writerow(["NDT", "non-diagnostic T abnormalities", "1.0", "1.0", "", "STTC", "STTC"])
        w.writerow(["CLBBB", "complete LBBB", "1.0", "", "", "CD", "CLBBB"])
        w.writerow(["SR", "sinus rhythm", "", "", "1.0", "", ""])
    return root


def test_ptbxl_layout_reader(data_dir, ptbxl_root):
    ds = load_ptbxl(ptbxl_root, sampling_rate=500)
    assert list(ds.ecg_id) == [1, 2, 3, 5, 6]  # ecg 4 has no diagnostic superclass
    assert ds.x.shape == (5, 12, 5000) and ds.x.dtype == np.float32 and ds.fs_hz == 500.0
    hr = read_record(data_dir / "cinc2021_12lead" / "HR06000")
    np.testing.assert_array_equal(ds.x[0], hr.signal_uv().T.astype(np.float32))
    label = {
        int(e): {PTBXL_SUPERCLASSES[j] for j in np.flatnonzero(row)}
        for e, row in zip(ds.ecg_id, ds.y, strict=True)
    }
    assert label == {1: {"NORM"}, 2: {"MI", "HYP"}, 3: {"STTC"}, 5: {"CD", "MI"}, 6: {"NORM"}}
    assert ds.age_years[1] == 90.0 and list(ds.sex[:2]) == ["F", "M"]
    assert list(ds.ecg_id[ds.split_mask("train")]) == [1, 2]
    assert list(ds.ecg_id[ds.split_mask("val")]) == [3]
    assert list(ds.ecg_id[ds.split_mask("test")]) == [5, 6]

    strict = load_ptbxl(ptbxl_root, sampling_rate=500, min_likelihood=50.0, split="test")
    assert list(strict.ecg_id) == [5, 6]
    assert strict.y[0, PTBXL_SUPERCLASSES.index("MI")] == 0  # IMI at 15 % is dropped

    lr = load_ptbxl(ptbxl_root, sampling_rate=100, split="train")
    assert lr.x.shape == (2, 12, 1000) and lr.fs_hz == 100.0
    with pytest.raises(ConfigError, match="250"):
        load_ptbxl(ptbxl_root, sampling_rate=250)


def test_ptbxl_bad_scp_codes(ptbxl_root):
    db = ptbxl_root / "ptbxl_database.csv"
    db.write_text(db.read_text().replace("{'NDT': 100.0}", "NDT=100"))
    with pytest.raises(LabelError, match="ecg_id 3.*scp_codes"):
        load_ptbxl(ptbxl_root, sampling_rate=500)


# ------------------------------------------------------------------------------------------
# CLI


def test_cli_mitdb_counts(data_dir, capsys, monkeypatch):
    from edge_ecg.cli import main

    monkeypatch.setenv("EDGE_ECG_DATA", str(data_dir))
    assert main(["data", "mitdb", "--split", "DS2"]) == 0
    out = capsys.readouterr().out
    assert "49,712" in out and "44,259" in out and "1,837" in out
    assert main(["data", "record", str(data_dir / "cinc2017" / "A00001.hea")]) == 0
    assert "300 Hz" in capsys.readouterr().out
    assert main(["data", "record", str(data_dir / "mitdb" / "nothere")]) == 2
    assert "nothere.hea" in capsys.readouterr().err
