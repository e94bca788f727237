"""Error paths and exit statuses of ``edge-ecg export`` / ``verify`` / ``bench`` and of the
wrapper scripts in ``export/``: a 12-lead window model (no DS2 parity) exports with its card
and exit 3, ``--no-verify`` says "not verified", an ``--out`` holding another export is refused
unless ``--force``, a negative ``--limit`` is a ConfigError before any work, and bench checks its
output paths before measuring anything.

The window model is an untrained ``efficientecg_tiny`` (12 leads × 2500 samples) saved as a
checkpoint with the bundled twelve_lead checkpoint's input spec; exported with the fp32
``jetson-onnx`` recipe (no quantization), a few seconds.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from edge_ecg.cli import main
from edge_ecg.paths import ASSETS_DIR

REPO = Path(__file__).resolve().parents[1]
TWELVE = ASSETS_DIR / "checkpoints" / "twelve_lead"
BEAT = ASSETS_DIR / "checkpoints" / "beat"


def _wrapper(name: str):
    spec = importlib.util.spec_from_file_location(f"export_{name}_wrapper", REPO / "export" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def window_ckpt(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from edge_ecg.models import create_model
    from edge_ecg.train.checkpoint import read_config, save_checkpoint

    torch.manual_seed(0)
    cfg = read_config(TWELVE)
    kwargs = {"in_leads": 12, "num_classes": len(cfg["classes"]), "input_len": int(cfg["input_spec"]["length"])}
    model = create_model("efficientecg_tiny", **kwargs)
    cfg = {k: v for k, v in cfg.items() if k not in ("weights_sha256", "history")}
    cfg.update(model_name="efficientecg_tiny", model_kwargs=kwargs, command="pytest tiny 12-lead")
    d = tmp_path_factory.mktemp("tiny12") / "ckpt"
    save_checkpoint(d, model, cfg)
    return d


@pytest.fixture(scope="module")
def window_export(window_ckpt, tmp_path_factory):
    """``(exit status, stdout+stderr, out dir)`` of a verified export of the window model."""
    out = tmp_path_factory.mktemp("w") / "jetson"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(out)])
    return rc, buf.getvalue(), out


# ---- 1. a model without DS2 parity ------------------------------------------------------------------
def test_window_model_export_writes_card_and_exits_3(window_export):
    rc, text, out = window_export
    assert rc == 3, text
    assert "AttributeError" not in text and "Traceback" not in text
    assert "verify: PASSED (op check only: parity NOT run" in text
    card = (out / "MODEL_CARD.md").read_text()
    assert "parity NOT run" in card and "| – |" in card and "None / None" not in card
    m = json.loads((out / "model.json").read_text())
    summary = m["metrics"]["files"]["model_fp32.onnx"]
    assert summary["parity_run"] is False and summary["passed"] is True


def test_window_model_export_allow_no_parity_exits_0(window_ckpt, tmp_path, capsys):
    rc = main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(tmp_path / "o"),
               "--allow-no-parity", "--quiet"])
    assert rc == 0
    assert "parity NOT run" in capsys.readouterr().out


def test_export_help_documents_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    for line in ("0  written", "1  written, but a recipe threshold", "2  refused", "3  written and the checks"):
        assert line in out
    assert "--force" in out and "0 or default: all" in out


# ---- 2. --no-verify -----------------------------------------------------------------------------------
def test_no_verify_says_not_verified(window_ckpt, tmp_path, capsys):
    rc = main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(tmp_path / "o"),
               "--no-verify"])
    cap = capsys.readouterr()
    assert rc == 0
    assert "PASSED" not in cap.err + cap.out
    assert "not verified" in cap.err and "verify: written, not verified" in cap.out
    assert "Not verified" in (tmp_path / "o" / "MODEL_CARD.md").read_text()


def test_qat_given_to_a_float_recipe_is_said_to_be_unused(window_ckpt, tmp_path, capsys):
    rc = main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--qat", str(tmp_path),
               "--out", str(tmp_path / "o"), "--no-verify"])
    assert rc == 0
    assert "export: jetson-onnx is a fp32 recipe: the --qat graph is not used" in capsys.readouterr().err


# ---- 3. an --out holding another export --------------------------------------------------------------
def test_out_with_another_exports_files_is_refused_then_forced(window_export, window_ckpt, tmp_path, capsys):
    _, _, exported = window_export
    d = tmp_path / "mixed"
    shutil.copytree(exported, d)
    (d / "model_int8.onnx").write_bytes(b"stale file of an x86-onnx-int8 export")
    before = (d / "model.json").read_text()
    argv = ["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(d), "--no-verify",
            "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "model_int8.onnx" in err and "--force" in err
    assert (d / "model.json").read_text() == before and (d / "model_int8.onnx").exists()

    assert main(argv + ["--force"]) == 0
    err = capsys.readouterr().err
    assert "removed model_int8.onnx" in err
    assert not (d / "model_int8.onnx").exists()
    assert set(json.loads((d / "model.json").read_text())["files"]) == {"model_fp32.onnx"}


def test_model_json_of_another_recipe_is_refused(window_ckpt, tmp_path, capsys):
    d = tmp_path / "o"
    d.mkdir()
    (d / "model.json").write_text(json.dumps({"metrics": {"recipe": "x86-onnx-int8"}}))
    assert main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(d),
                 "--no-verify", "--quiet"]) == 2
    assert "model.json (of another export)" in capsys.readouterr().err


def test_rerun_of_the_same_export_needs_no_force(window_export, window_ckpt, tmp_path):
    _, _, exported = window_export
    d = tmp_path / "again"
    shutil.copytree(exported, d)
    assert main(["export", "--target", "jetson-onnx", "--checkpoint", str(window_ckpt), "--out", str(d),
                 "--no-verify", "--quiet"]) == 0


def test_foreign_outputs_lists_what_would_be_left_unlisted(tmp_path):
    from edge_ecg.deploy.recipes import foreign_outputs, load_recipe

    for name in ("model_int8.onnx", "model_fp32.onnx", "model_int8.tflite", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    stale, other = foreign_outputs(tmp_path, load_recipe("jetson-onnx"))
    assert [p.name for p in stale] == ["model_int8.onnx", "model_int8.tflite"] and other is None
    stale, _ = foreign_outputs(tmp_path, load_recipe("x86-onnx-int8"))
    assert [p.name for p in stale] == ["model_int8.tflite"]


# ---- 4. --limit ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export", "verify"])
def test_negative_limit_is_a_config_error(command, tmp_path, capsys):
    if command == "export":
        argv = ["export", "--target", "jetson-onnx", "--checkpoint", str(BEAT), "--out", str(tmp_path / "o")]
    else:
        argv = ["verify", str(tmp_path / "model_int8.onnx")]
    assert main(argv + ["--limit", "-5"]) == 2
    err = capsys.readouterr().err
    assert "--limit -5: expected a number of DS2 windows >= 0 (0: all windows)" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_check_limit():
    from edge_ecg.deploy.parity import check_limit
    from edge_ecg.errors import ConfigError

    for ok in (None, 0, 1, 5000):
        check_limit(ok)
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="--limit"):
            check_limit(bad)


# ---- 5. the wrapper scripts ---------------------------------------------------------------------------
def test_export_wrapper_checks_every_target_first(tmp_path, capsys, monkeypatch):
    wrapper = _wrapper("export")
    calls = []
    monkeypatch.setattr(wrapper, "edge_ecg", lambda argv: calls.append(argv) or 0)
    rc = wrapper.main(["--checkpoint", str(BEAT), "--out", str(tmp_path), "rpi-tflite-int8", "nosuch"])
    assert rc == 2 and calls == []
    assert "no recipe 'nosuch'" in capsys.readouterr().err
    assert wrapper.main(["--checkpoint", "c", "--out", str(tmp_path), "--limit", "0", "--force", "jetson-onnx"]) == 0
    assert calls[-1][-3:] == ["--limit", "0", "--force"]
    assert calls[-1][calls[-1].index("--out") + 1] == str(tmp_path / "jetson-onnx")


def test_wrappers_rank_statuses_by_severity():
    for name in ("export", "verify"):
        worst = _wrapper(name).worst_status
        assert worst([0, 3, 1]) == 1 and worst([3, 0]) == 3 and worst([1, 2, 3]) == 2 and worst([]) == 0


def test_verify_wrapper_passes_checkpoint_and_qat(tmp_path, monkeypatch):
    wrapper = _wrapper("verify")
    (tmp_path / "model_int8.onnx").write_bytes(b"x")
    (tmp_path / "model_fp32.onnx").write_bytes(b"x")
    calls = []
    monkeypatch.setattr(wrapper, "edge_ecg", lambda argv: calls.append(argv) or 3)
    rc = wrapper.main([str(tmp_path), "--checkpoint", "runs/beat", "--qat", "runs/beat_qat", "--limit", "10",
                       "--allow-no-parity"])
    assert rc == 3 and len(calls) == 2
    for argv in calls:
        assert argv[0] == "verify"
        assert argv[argv.index("--checkpoint") + 1] == "runs/beat" and argv[argv.index("--qat") + 1] == "runs/beat_qat"
        assert argv[argv.index("--limit") + 1] == "10" and "--allow-no-parity" in argv


# ---- 6. bench ------------------------------------------------------------------------------------------
def _no_benchmark(monkeypatch):
    from edge_ecg.bench import latency

    def boom(*a, **k):
        raise AssertionError("the benchmark ran before the output paths were checked")

    monkeypatch.setattr(latency, "run_latency", boom)


def test_bench_report_on_a_file_is_refused_before_running(tmp_path, capsys, monkeypatch):
    _no_benchmark(monkeypatch)
    f = tmp_path / "afile.txt"
    f.write_text("keep me")
    assert main(["bench", "--report", str(f), "--quiet"]) == 2
    assert "--report" in capsys.readouterr().err and f.read_text() == "keep me"


def test_bench_json_on_a_directory_is_refused_before_running(tmp_path, capsys, monkeypatch):
    _no_benchmark(monkeypatch)
    assert main(["bench", "--json", str(tmp_path), "--quiet"]) == 2
    assert "is a directory; expected a file path" in capsys.readouterr().err


def test_bench_threads_0_is_all_cores_and_the_message_says_so():
    from edge_ecg.bench.latency import parse_threads
    from edge_ecg.errors import ConfigError

    assert parse_threads("0") == ("all",)
    with pytest.raises(ConfigError, match=r"or 'all' or 0 \(every usable core\)"):
        parse_threads("-1")


def test_bench_model_json_is_not_a_model_file(tmp_path, capsys, monkeypatch):
    _no_benchmark(monkeypatch)
    (tmp_path / "model.json").write_text("{}")
    assert main(["bench", str(tmp_path / "model.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not a model file: expected a .onnx or .tflite file" in err and "no candidate" not in err
