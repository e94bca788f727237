"""Output paths never destroy a user's files and fail early with a clear error: the simulator's
``--link`` and ``--fault-log``, ``stream --jsonl``, ``ec57 --json`` / ``--data`` / ``--skip-s``;
result files are standard JSON (a NaN score is ``null``)."""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest

from edge_ecg.errors import ConfigError, RecordError
from edge_ecg.paths import shared_data_dir
from edge_ecg.runtime.sinks import JsonlSink, dumps_strict, json_safe, prepare_output_file
from edge_ecg.sim.pty import PtyPort
from edge_ecg.sim.simulator import SimConfig, Simulator

MITDB = shared_data_dir() / "mitdb"
STALE_PTY = "/dev/pts/987654"  # a pty slave path that does not exist (left by a crashed run)


def _strict_loads(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# -- simulate --link ---------------------------------------------------------------------------


def test_link_refuses_to_replace_a_regular_file(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("data\n")
    with pytest.raises(ConfigError, match=re.escape(f"--link {victim} already exists and is not a symlink to a pty")):
        PtyPort(victim)
    assert victim.read_text() == "data\n"


def test_link_cli_leaves_the_victim_file_and_exits_2(tmp_path, capsys):
    from edge_ecg.cli import main

    victim = tmp_path / "victim.txt"
    victim.write_text("data\n")
    argv = ["simulate", "--record", str(MITDB / "100"), "--duration-s", "1", "--no-wait", "--speed", "max",
            "--link", str(victim)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"edge-ecg simulate: error: --link {victim} already exists")
    assert "refusing to replace it" in err[-1]
    assert victim.read_text() == "data\n" and not victim.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]  # no temporary link left


def test_link_refuses_a_symlink_that_does_not_point_at_a_pty(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep")
    link = tmp_path / "ttyECG"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match=re.escape(f"--link {link} is a symlink to {target}, not to a pty")):
        PtyPort(link)
    assert os.readlink(link) == str(target) and target.read_text() == "keep"


def test_link_at_a_directory_or_in_a_missing_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"--link {tmp_path} is a directory")):
        PtyPort(tmp_path)
    missing = tmp_path / "nope" / "ttyECG"
    with pytest.raises(ConfigError, match=re.escape(f"--link {missing}: folder {missing.parent} does not exist")):
        PtyPort(missing)
    assert tmp_path.is_dir() and not missing.parent.exists()


def test_stale_dangling_pty_link_is_replaced_and_removed_on_close(tmp_path):
    link = tmp_path / "ttyECG"
    link.symlink_to(STALE_PTY)
    port = PtyPort(link)
    try:
        path = port.open()
        assert os.readlink(link) == path and path != STALE_PTY
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ttyECG"]  # no temporary link left
    finally:
        port.close()
    assert not link.is_symlink() and not link.exists()


def test_close_keeps_a_link_that_no_longer_points_at_our_pty(tmp_path):
    link = tmp_path / "ttyECG"
    port = PtyPort(link)
    try:
        port.open()
        link.unlink()
        link.symlink_to(STALE_PTY)  # another simulator took the name over
    finally:
        port.close()
    assert os.readlink(link) == STALE_PTY


def test_file_created_after_the_check_is_not_replaced_by_open(tmp_path):
    link = tmp_path / "ttyECG"
    port = PtyPort(link)
    link.write_text("arrived late")
    with pytest.raises(ConfigError, match="refusing to replace it"):
        port.open()
    assert link.read_text() == "arrived late" and not port.is_open and port.slave_path is None


def test_fault_log_path_is_checked_when_the_simulator_is_made(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    bad = blocker / "faults.jsonl"
    with pytest.raises(ConfigError, match=re.escape(f"--fault-log {bad}: {blocker} exists and is not a folder")):
        Simulator(np.zeros((100, 1), np.int32), 100.0, 5.0, ("II",), config=SimConfig(speed=None),
                  fault_log_path=bad)


# -- output files: --jsonl, --json, --fault-log --------------------------------------------------


def test_prepare_output_file_creates_folders_and_leaves_files_alone(tmp_path):
    new = tmp_path / "a" / "b" / "x.json"
    assert prepare_output_file(new, "--json") == new
    assert new.parent.is_dir() and not new.exists()  # checked, not left behind
    old = tmp_path / "old.json"
    old.write_text("previous results")
    prepare_output_file(old, "--json")
    assert old.read_text() == "previous results"  # neither truncated nor appended to


def test_jsonl_sink_path_errors_name_the_path(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    bad = blocker / "x.jsonl"
    with pytest.raises(ConfigError, match=re.escape(f"--jsonl {bad}: {blocker} exists and is not a folder")):
        JsonlSink(bad)
    with pytest.raises(ConfigError, match=re.escape(f"--jsonl {tmp_path} is a directory")):
        JsonlSink(tmp_path)
    nested = tmp_path / "new" / "run.jsonl"
    JsonlSink(nested).close()  # parent folders are made, as for bench --json and ec57 --json
    assert nested.is_file()


def test_jsonl_sink_writes_a_non_finite_probability_as_null(tmp_path):
    from edge_ecg.runtime.stream import StreamResult

    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    sink.write(StreamResult(sample=10, time_s=0.1, label="N", prob=float("nan"), quality="ok",
                            probs={"N": float("nan"), "V": 0.25}))
    sink.close()
    row = _strict_loads(path.read_text())
    assert row["prob"] is None and row["probs"] == {"N": None, "V": 0.25}


def test_dumps_strict_writes_null_for_every_non_finite_number():
    doc = {"a": float("nan"), "b": [float("inf"), -math.inf, 1.5], "c": (np.float64("nan"), np.float32(2.0)),
           "d": np.array([np.nan, 3.0]), "e": {"f": np.int64(7), "g": True, "h": None, "i": "NaN"}}
    got = _strict_loads(dumps_strict(doc, indent=2))
    assert got == {"a": None, "b": [None, None, 1.5], "c": [None, 2.0], "d": [None, 3.0],
                   "e": {"f": 7, "g": True, "h": None, "i": "NaN"}}
    assert json_safe(doc) is not doc and math.isnan(doc["a"])  # the input is not changed


# -- ec57 --------------------------------------------------------------------------------------


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if a record is streamed: these errors must come before the run."""
    import edge_ecg.bench.ec57 as ec57

    def streamed(*a, **kw):
        raise AssertionError("the run started before the error")

    monkeypatch.setattr(ec57, "ec57_record", streamed)


def test_ec57_json_path_is_checked_before_the_run(tmp_path, capsys, no_run):
    from edge_ecg.cli import main

    blocker = tmp_path / "blocker"
    blocker.write_text("")
    bad = blocker / "x.json"
    assert main(["ec57", "--records", "100", "--json", str(bad)]) == 2
    assert f"edge-ecg ec57: error: --json {bad}: {blocker} exists and is not a folder" in capsys.readouterr().err
    assert main(["ec57", "--records", "100", "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path} is a directory" in capsys.readouterr().err


def test_ec57_missing_data_folder_says_it_does_not_exist(tmp_path, capsys, no_run):
    from edge_ecg.cli import main

    missing = tmp_path / "nonexistent"
    assert main(["ec57", "--data", str(missing)]) == 2
    assert f"--data {missing} does not exist" in capsys.readouterr().err


def test_ec57_skip_past_a_records_end_names_the_record_its_length_and_the_skip(capsys, no_run):
    from edge_ecg.cli import main

    assert main(["ec57", "--records", "100", "--skip-s", "5000"]) == 2
    err = capsys.readouterr().err
    # record 100 is 650000 samples at 360 Hz
    assert "--skip-s 5000 s leaves nothing to score in record 100, which is 1805.6 s long" in err


def test_ec57_missing_record_fails_before_the_run(capsys, no_run):
    from edge_ecg.bench.ec57_cli import check_records
    from edge_ecg.cli import main

    assert main(["ec57", "--records", "100,999"]) == 2
    assert f"record 999: no WFDB header {MITDB / '999'}.hea" in capsys.readouterr().err
    with pytest.raises(RecordError, match="record 999"):
        check_records(("999",), MITDB, 0.0)
    check_records(("100",), MITDB, 1805.0)  # just inside the record: fine


def test_ec57_json_writes_null_for_scores_without_beats(tmp_path):
    from edge_ecg.bench.ec57 import EC57Counts, RecordResult
    from edge_ecg.bench.ec57_cli import write_results_json

    counts = EC57Counts(qrs_tp=10, qrs_fn=0, qrs_fp=0)
    counts.confusion[0, 0] = 10  # ten N beats: no S or V beat, so their Se is 0/0
    assert math.isnan(counts.summary()["sveb_se"])
    path = tmp_path / "r.json"
    write_results_json([RecordResult("100", counts, EC57Counts(), 10, 10, 0, 1.0, 20.0)], path)
    text = path.read_text()
    assert "NaN" not in text
    (row,) = _strict_loads(text)
    assert row["stream"]["sveb_se"] is None and row["stream"]["veb_se"] is None
    assert row["stream"]["qrs_se"] == 1.0 and row["offline"]["qrs_se"] is None
