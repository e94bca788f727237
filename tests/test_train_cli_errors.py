"""`edge-ecg train` / `edge-ecg qat` refuse bad input before any work, checkpoints prove their
weights, and Ctrl-C keeps the best finished epoch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edge_ecg import cli  # noqa: E402
from edge_ecg.errors import CheckpointError  # noqa: E402
from edge_ecg.paths import ASSETS_DIR  # noqa: E402
from edge_ecg.train import trainer  # noqa: E402
from edge_ecg.train.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint  # noqa: E402
from edge_ecg.train.config import TrainConfig  # noqa: E402

TINY = dict(model="efficientecg_tiny", train_records=("101", "119"), max_train=300, epochs=1, batch_size=128,
            progress=False, num_threads=1, seed=0)
TINY_FLAGS = ["--model", "efficientecg_tiny", "--train-records", "101,119", "--max-train", "300",
              "--batch-size", "128", "--progress", "false", "--num-threads", "1", "--no-eval"]


def no_work(*args, **kwargs):
    raise AssertionError("the command started work although its arguments were wrong")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, data_dir) -> Path:
    out = tmp_path_factory.mktemp("tiny_ckpt")
    trainer.fit(TrainConfig(**TINY), out)
    return out


# ---- 1. checkpoints prove their weights ---------------------------------------------------------------
def test_damaged_weights_are_refused_with_both_digests(tiny_ckpt, tmp_path, capsys):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt, d)
    want = json.loads((d / CONFIG_NAME).read_text())["weights_sha256"]
    raw = bytearray((d / WEIGHTS_NAME).read_bytes())
    raw[-100:] = bytes(100)  # tensor data only: the file still parses
    (d / WEIGHTS_NAME).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=want) as info:
        load_checkpoint(d)
    assert str(d / WEIGHTS_NAME) in str(info.value) and "weights digest" in str(info.value)
    # the command line reports it in one line before any quantization starts
    assert cli.main(["qat", "--checkpoint", str(d), "--out", str(tmp_path / "q"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert want in err and "Traceback" not in err
    assert not (tmp_path / "q" / "quant.json").exists()


def test_intact_and_bundled_checkpoints_load(tiny_ckpt):
    load_checkpoint(tiny_ckpt)
    for name in ("beat", "twelve_lead"):
        d = ASSETS_DIR / "checkpoints" / name
        assert "weights_sha256" in json.loads((d / CONFIG_NAME).read_text())
        load_checkpoint(d)


@pytest.mark.parametrize("key", ["model_kwargs", "model_name"])
def test_config_missing_required_key_names_it(tiny_ckpt, tmp_path, key):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt, d)
    cfg = json.loads((d / CONFIG_NAME).read_text())
    del cfg[key]
    (d / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=key):
        load_checkpoint(d)


def test_config_without_digest_still_loads(tiny_ckpt, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt, d)
    cfg = json.loads((d / CONFIG_NAME).read_text())
    del cfg["weights_sha256"]
    (d / CONFIG_NAME).write_text(json.dumps(cfg))
    load_checkpoint(d)


# ---- 2. --out is checked before any work -------------------------------------------------------------
def test_train_out_is_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trainer, "fit", no_work)
    f = tmp_path / "afile.txt"
    f.write_text("mine")
    assert cli.main(["train", "--out", str(f), *TINY_FLAGS]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert f.read_text() == "mine"


def test_train_out_holding_a_checkpoint_needs_force(tmp_path, monkeypatch, capsys):
    d = tmp_path / "userdir"
    d.mkdir()
    (d / CONFIG_NAME).write_text('{"mine": 1}')
    monkeypatch.setattr(trainer, "fit", no_work)
    assert cli.main(["train", "--out", str(d), *TINY_FLAGS]) == 2
    err = capsys.readouterr().err
    assert "already holds config.json" in err and "--force" in err
    assert (d / CONFIG_NAME).read_text() == '{"mine": 1}'

    called = []
    monkeypatch.setattr(trainer, "fit", lambda cfg, out, **kw: called.append(out) or {"world_size": 1})
    assert cli.main(["train", "--out", str(d), "--force", *TINY_FLAGS]) == 0
    assert called == [str(d)]


def test_train_into_an_empty_or_new_dir_is_fine(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(trainer, "fit", lambda cfg, out, **kw: called.append(out) or {"world_size": 1})
    (tmp_path / "empty").mkdir()
    assert cli.main(["train", "--out", str(tmp_path / "empty"), *TINY_FLAGS]) == 0
    assert cli.main(["train", "--out", str(tmp_path / "new"), *TINY_FLAGS]) == 0
    assert len(called) == 2


def test_qat_out_checks(tiny_ckpt, tmp_path, monkeypatch, capsys):
    from edge_ecg.quant import qat

    monkeypatch.setattr(qat, "quantize_checkpoint", no_work)
    f = tmp_path / "afile.txt"
    f.write_text("x")
    assert cli.main(["qat", "--checkpoint", str(tiny_ckpt), "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
    # the float checkpoint's own directory: refused even with --force
    before = {p.name: p.read_bytes() for p in tiny_ckpt.iterdir()}
    for extra in ([], ["--force"]):
        assert cli.main(["qat", "--checkpoint", str(tiny_ckpt), "--out", str(tiny_ckpt), *extra]) == 2
        assert "--checkpoint directory" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tiny_ckpt.iterdir()} == before
    d = tmp_path / "old_qat"
    d.mkdir()
    (d / "quant.json").write_text("{}")
    assert cli.main(["qat", "--checkpoint", str(tiny_ckpt), "--out", str(d)]) == 2
    assert "already holds quant.json" in capsys.readouterr().err


# ---- 4./5. config errors are one line, exit 2 ---------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ({"epochs": "3"}, [], "epochs: expected an integer, got str '3'"),
        ({"lr": "fast"}, [], "lr: expected a number"),
        ({"progress": "yes"}, [], "progress: expected true or false"),
        ({"train_records": "101"}, [], "train_records: expected a list"),
        (None, ["--weight-decay", "-5"], "weight_decay must be a finite number >= 0, got -5"),
        (None, ["--label-smoothing", "3"], "label_smoothing must be in [0, 1), got 3"),
        (None, ["--task", "cinc_12lead", "--train-records", "101"], "--train-records applies to the mitdb beat task"),
        (None, ["--task", "cinc_12lead", "--max-train", "10"], "--max-train applies to the mitdb beat task"),
    ],
)
def test_train_config_errors(tmp_path, monkeypatch, capsys, config, flags, message):
    monkeypatch.setattr(trainer, "fit", no_work)
    argv = ["train", "--out", str(tmp_path / "out"), *flags]
    if config is not None:
        (tmp_path / "c.json").write_text(json.dumps(config))
        argv += ["--config", str(tmp_path / "c.json")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bool_flag_takes_true_or_false_only(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:  # argparse's usage error
        cli.main(["train", "--out", str(tmp_path / "out"), "--progress", "banana"])
    assert info.value.code == 2
    assert "argument --progress: expected true or false, got 'banana'" in capsys.readouterr().err


# ---- 3. Ctrl-C keeps the best finished epoch ----------------------------------------------------------
def interrupt_on_call(monkeypatch, n: int) -> None:
    """``predict`` runs once per epoch (validation): raise KeyboardInterrupt on its ``n``-th call."""
    real, calls = trainer.predict, []

    def fake(*args, **kwargs):
        calls.append(1)
        if len(calls) >= n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "predict", fake)


def test_interrupted_training_saves_best_epoch(tmp_path, monkeypatch, capsys, data_dir):
    interrupt_on_call(monkeypatch, 2)
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--epochs", "3", *TINY_FLAGS]) == 130
    err = capsys.readouterr().err
    assert f"interrupted at epoch 2 of 3: saved the best finished epoch (1) to {out}" in err
    assert "edge-ecg train: interrupted" not in err  # the specific line replaces the generic one
    model, cfg = load_checkpoint(out)
    assert cfg["interrupted"] == {"epoch": 2, "epochs": 3, "completed_epochs": 1}
    assert cfg["best_epoch"] == 1 and len(cfg["history"]) == 1


def test_interrupt_before_first_epoch_saves_nothing(tmp_path, monkeypatch, capsys, data_dir):
    interrupt_on_call(monkeypatch, 1)
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--epochs", "2", *TINY_FLAGS]) == 130
    assert "interrupted before the first epoch finished: nothing saved" in capsys.readouterr().err
    assert not (out / WEIGHTS_NAME).exists() and not (out / CONFIG_NAME).exists()


def test_generic_interrupt_message(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "fit", interrupted)
    assert cli.main(["train", "--out", str(tmp_path / "o"), *TINY_FLAGS]) == 130
    assert "edge-ecg train: interrupted" in capsys.readouterr().err
