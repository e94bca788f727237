"""Record readers on the real shared recordings, and on corrupted copies of them.

Goldens: counts and annotations are compared with wfdb's own reader (``wfdb.rdrecord`` /
``wfdb.rdann``, the reference tool) or with an independent read of the raw file (``scipy.io``
for the CinC ``.mat`` files, ``numpy.loadtxt`` for the OpenSignals text).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_ecg.data.records import (
    BITALINO_ECG_GAIN,
    BITALINO_VCC_V,
    Annotations,
    Record,
    read_opensignals,
    read_record,
    save_npz,
)
from edge_ecg.errors import RecordError, SignalError

wfdb = pytest.importorskip("wfdb")


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------------
# MIT-BIH


def test_mitdb_record_calibration_and_counts(data_dir):
    rec = read_record(data_dir / "mitdb" / "100")
    assert rec.name == "100"
    assert rec.fs_hz == 360.0
    assert rec.lead_names == ("MLII", "V5")
    assert rec.units == ("mV", "mV")
    assert rec.adc_gain == (200.0, 200.0)
    assert rec.baseline == (1024, 1024)
    assert rec.n_samples == 650000 and rec.n_leads == 2
    assert rec.d_signal.dtype == np.int32 and rec.p_signal.dtype == np.float64
    np.testing.assert_array_equal(rec.uv_per_count(), [5.0, 5.0])
    # counts <-> physical: p = (d - baseline) / gain, exactly
    expected = (rec.d_signal - np.array(rec.baseline)) / np.array(rec.adc_gain)
    np.testing.assert_array_equal(rec.p_signal, expected)
    np.testing.assert_allclose(rec.signal_uv(), rec.d_signal * 5.0 - 5120.0, rtol=0, atol=1e-9)

    ref = wfdb.rdrecord(str(data_dir / "mitdb" / "100"), physical=False)
    np.testing.assert_array_equal(rec.d_signal, ref.d_signal)
    ref_p = wfdb.rdrecord(str(data_dir / "mitdb" / "100")).p_signal
    np.testing.assert_allclose(rec.p_signal, ref_p, rtol=0, atol=1e-12)


def test_mitdb_annotations_match_wfdb(data_dir):
    rec = read_record(data_dir / "mitdb" / "201")
    ref = wfdb.rdann(str(data_dir / "mitdb" / "201"), "atr")
    assert isinstance(rec.annotations, Annotations)
    np.testing.assert_array_equal(rec.annotations.sample, ref.sample)
    assert rec.annotations.symbol == tuple(ref.symbol)
    assert "(AFIB" in rec.annotations.aux_note
    assert rec.annotations.sample.dtype == np.int64


def test_extension_variants_and_no_annotator(data_dir):
    base = read_record(data_dir / "mitdb" / "119")
    for variant in ("119.hea", "119.dat"):
        other = read_record(data_dir / "mitdb" / variant)
        np.testing.assert_array_equal(other.d_signal, base.d_signal)
    assert read_record(str(data_dir / "mitdb" / "119"), annotator=None).annotations is None


def test_records_are_read_only(data_dir):
    rec = read_record(data_dir / "mitdb" / "100")
    with pytest.raises(ValueError):
        rec.p_signal[0, 0] = 1.0
    with pytest.raises(ValueError):
        rec.d_signal[0, 0] = 1


def test_noise_record_with_default_gain(data_dir):
    # header gain field "0" means uncalibrated: WFDB's default of 200 adu/mV applies
    rec = read_record(data_dir / "nstdb_noise" / "bw")
    assert rec.adc_gain == (200.0, 200.0)
    assert rec.lead_names == ("noise1", "noise2")


# ------------------------------------------------------------------------------------------
# CinC 2017 header quirk, CinC 2021 and CPSC metadata


def test_cinc2017_header_quirk_read_without_touching_the_data(data_dir):
    folder = data_dir / "cinc2017"
    raw = (folder / "A00001.hea").read_bytes()
    assert b"\r\n" in raw and b"2014-05-08" in raw  # the quirk is really there
    with pytest.raises(ValueError):
        wfdb.rdrecord(str(folder / "A00001"))  # ... and wfdb alone refuses it
    before = _snapshot(folder)
    rec = read_record(folder / "A00001.hea")
    assert _snapshot(folder) == before
    assert rec.fs_hz == 300.0
    assert rec.lead_names == ("ECG",)
    assert rec.n_samples == 9000
    assert rec.adc_gain == (1000.0,) and rec.baseline == (0,) and rec.units == ("mV",)
    from scipy.io import loadmat

    val = loadmat(str(folder / "A00001.mat"))["val"]  # independent read of the MAT v4 file
    np.testing.assert_array_equal(rec.d_signal[:, 0], val[0])
    np.testing.assert_array_equal(rec.p_signal[:, 0], val[0] / 1000.0)


def test_cinc2021_age_sex_dx(data_dir):
    rec = read_record(data_dir / "cinc2021_12lead" / "E07500")
    assert (rec.age, rec.sex, rec.dx) == (78.0, "M", ("67741000119109", "426177001"))
    assert rec.lead_names == (
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    )
    assert rec.fs_hz == 500.0 and rec.n_samples == 5000
    from scipy.io import loadmat

    val = loadmat(str(data_dir / "cinc2021_12lead" / "E07500.mat"))["val"]
    np.testing.assert_array_equal(rec.d_signal, val.T)


def test_cpsc_age_sex_dx_without_space_after_hash(data_dir):
    rec = read_record(data_dir / "cpsc2018" / "A0001")
    assert (rec.age, rec.sex, rec.dx) == (74.0, "M", ("RBBB",))
    assert rec.n_samples == 7500 and rec.fs_hz == 500.0


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ["# Age: NaN", "# Sex: Female", "# Dx: 164889003, 59118001"],
            (None, "F", ("164889003", "59118001")),
        ),
        (["#Age: Unknown", "#Sex: Unknown", "#Dx: Normal"], (None, None, ("Normal",))),
        (["#Age:53", "#Sex:F"], (53.0, "F", ())),
        (["# Age: 300", "# Sex: m"], (90.0, "M", ())),  # PTB-XL's >89 sentinel
    ],
)
def test_header_comment_parsing(data_dir, tmp_path, lines, expected):
    src = data_dir / "cpsc2018"
    head = [ln for ln in (src / "A0001.hea").read_text().splitlines() if not ln.startswith("#")]
    (tmp_path / "A0001.hea").write_text("\n".join(head + lines) + "\n")
    shutil.copy(src / "A0001.mat", tmp_path / "A0001.mat")
    rec = read_record(tmp_path / "A0001")
    assert (rec.age, rec.sex, rec.dx) == expected


# ------------------------------------------------------------------------------------------
# BITalino OpenSignals text


def test_bitalino_opensignals(data_dir):
    path = data_dir / "bitalino" / "SampleECG.txt"
    rec = read_opensignals(path)
    assert rec.fs_hz == 1000.0
    assert 21.5 < rec.n_samples / rec.fs_hz < 23.0
    assert rec.lead_names == ("ECG",) and rec.units == ("mV",)
    gain = 2**10 * BITALINO_ECG_GAIN / (BITALINO_VCC_V * 1000)
    assert rec.adc_gain == pytest.approx((gain,)) and rec.baseline == (512,)
    cols = np.loadtxt(path, comments="#", dtype=np.int64)
    np.testing.assert_array_equal(rec.d_signal[:, 0], cols[:, 5])  # A2 is the 6th column
    # the datasheet transfer function, written out
    mv = ((cols[:, 5] / 2**10 - 0.5) * BITALINO_VCC_V) / BITALINO_ECG_GAIN * 1000
    np.testing.assert_allclose(rec.p_signal[:, 0], mv, rtol=1e-12, atol=1e-15)
    uv = rec.signal_uv()[:, 0]
    assert 300 < np.ptp(uv) < 5000  # a plausible ECG amplitude, in µV
    assert "nSeq gaps: 0" in rec.comments
    assert read_record(path).n_samples == rec.n_samples  # .txt dispatches to the same reader


def test_bitalino_missing_channel_and_bad_rows(data_dir, tmp_path):
    src = data_dir / "bitalino" / "SampleECG.txt"
    with pytest.raises(RecordError, match="A5.*columns"):
        read_opensignals(src, channel="A5")
    text = src.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text(text.rstrip() + "\n1\t1\t1\n")  # truncated last row
    with pytest.raises(RecordError, match="bad.txt.*truncated"):
        read_opensignals(bad)
    bad.write_text(text.replace("496", "4x6", 1))
    with pytest.raises(RecordError, match="not integers"):
        read_opensignals(bad)
    bad.write_text("just some text\nwithout a header\n")
    with pytest.raises(RecordError, match="JSON header"):
        read_opensignals(bad)


# ------------------------------------------------------------------------------------------
# npz round trip


def test_npz_round_trip_without_wfdb(data_dir, tmp_path, monkeypatch):
    rec = read_record(data_dir / "cinc2021_12lead" / "HR06000")
    ann = read_record(data_dir / "mitdb" / "232")
    for r, name in ((rec, "a.npz"), (ann, "b.npz")):
        save_npz(r, tmp_path / name)
    monkeypatch.setitem(sys.modules, "wfdb", None)  # any wfdb import would now fail
    back = read_record(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.p_signal, rec.p_signal)
    np.testing.assert_array_equal(back.d_signal, rec.d_signal)
    for f in (
        "name",
        "fs_hz",
        "lead_names",
        "adc_gain",
        "baseline",
        "units",
        "age",
        "sex",
        "dx",
        "comments",
    ):
        assert getattr(back, f) == getattr(rec, f), f
    assert back.annotations is None
    back = read_record(tmp_path / "b.npz")
    np.testing.assert_array_equal(back.annotations.sample, ann.annotations.sample)
    assert back.annotations.symbol == ann.annotations.symbol
    assert back.annotations.aux_note == ann.annotations.aux_note
    assert back.age is None or back.age == ann.age


def test_npz_without_counts(tmp_path):
    rec = Record(
        name="synthetic", fs_hz=250.0, lead_names=("I",), p_signal=np.zeros((10, 1)),
        d_signal=None, adc_gain=(1000.0,), baseline=(0,), units=("uV",),
    )  # fmt: skip
    save_npz(rec, tmp_path / "s.npz")
    back = read_record(tmp_path / "s.npz")
    assert back.d_signal is None and back.units == ("uV",)
    np.testing.assert_array_equal(back.uv_per_count(), [1e-3])


# ------------------------------------------------------------------------------------------
# Bad files


@pytest.fixture()
def mit_copy(data_dir, tmp_path) -> Path:
    for ext in ("hea", "dat", "atr"):
        shutil.copy(data_dir / "mitdb" / f"100.{ext}", tmp_path / f"100.{ext}")
    return tmp_path


def test_missing_files_raise_record_error(mit_copy):
    with pytest.raises(RecordError, match=r"nothere\.hea.*not found"):
        read_record(mit_copy / "nothere")
    (mit_copy / "100.dat").unlink()
    with pytest.raises(RecordError, match=r"100\.dat.*not found"):
        read_record(mit_copy / "100")


def test_bad_format_field(mit_copy):
    hea = mit_copy / "100.hea"
    hea.write_text(hea.read_text().replace("100.dat 212", "100.dat 999"))
    with pytest.raises(RecordError, match=r"100\.hea.*format '999'"):
        read_record(mit_copy / "100")


def test_truncated_dat(mit_copy):
    os.truncate(mit_copy / "100.dat", 100_000)
    with pytest.raises(RecordError, match=r"100\.dat.*truncated.*100000 bytes.*1950000"):
        read_record(mit_copy / "100")


def test_truncated_mat(data_dir, tmp_path):
    for ext in ("hea", "mat"):
        shutil.copy(data_dir / "cinc2017" / f"A00001.{ext}", tmp_path / f"A00001.{ext}")
    os.truncate(tmp_path / "A00001.mat", 1000)
    with pytest.raises(RecordError, match=r"A00001\.mat.*truncated"):
        read_record(tmp_path / "A00001")


@pytest.mark.parametrize(
    "content",
    [
        b"lorem ipsum dolor sit amet\nconsectetur\n",
        b"\x00\x01\x02binary\xff",
        b"100 two 360 650000\n",
        b"",
    ],
)
def test_garbage_header(mit_copy, content):
    (mit_copy / "100.hea").write_bytes(content)
    with pytest.raises(RecordError, match=r"100\.hea") as info:
        read_record(mit_copy / "100")
    assert "Traceback" not in str(info.value)


def test_garbage_annotation_file(mit_copy):
    (mit_copy / "100.atr").write_bytes(b"\xff" * 7)
    with pytest.raises(RecordError, match=r"100\.atr"):
        read_record(mit_copy / "100")


def test_garbage_npz(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip file")
    with pytest.raises(RecordError, match=r"x\.npz"):
        read_record(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", a=np.zeros(3))
    with pytest.raises(RecordError, match="not an edge-ecg record"):
        read_record(tmp_path / "y.npz")


def test_record_validation():
    with pytest.raises(SignalError, match="lead_names"):
        Record("r", 360.0, ("I", "II"), np.zeros((5, 1)), None, (200.0,), (0,), ("mV",))
    with pytest.raises(SignalError, match="fs_hz"):
        Record("r", 0.0, ("I",), np.zeros((5, 1)), None, (200.0,), (0,), ("mV",))
    rec = Record("r", 360.0, ("I",), np.zeros((5, 1)), None, (200.0,), (0,), ("mmHg",))
    with pytest.raises(SignalError, match="mmHg"):
        rec.signal_uv()


# ------------------------------------------------------------------------------------------
# Light runtime
