"""Trainer: config validation, reproducibility, checkpoints, DDP under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_ecg.errors import CheckpointError, ConfigError  # noqa: E402
from edge_ecg.train.checkpoint import load_checkpoint  # noqa: E402
from edge_ecg.train.config import TrainConfig  # noqa: E402
from edge_ecg.train.trainer import class_weights_from_counts, fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(train_records=("101", "119"), max_train=500, epochs=1, batch_size=128, progress=False, num_threads=1)


def test_config_rejects_unknown_and_illegal_values(tmp_path):
    with pytest.raises(ConfigError, match="lerning_rate"):
        TrainConfig.from_dict({"lerning_rate": 0.1})
    with pytest.raises(ConfigError, match="imbalance"):
        TrainConfig(imbalance="smote")
    with pytest.raises(ConfigError, match="majority_fraction"):
        TrainConfig(majority_fraction=0.0)
    bad = tmp_path / "c.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        TrainConfig.from_file(bad)


def test_class_weights():
    w = class_weights_from_counts(np.array([900.0, 100.0, 0.0]), power=1.0)
    assert w[2] == 0.0 and w[1] / w[0] == pytest.approx(9.0) and w[:2].mean() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    res = fit(TrainConfig(**TINY), out)
    return out, res


def test_fit_is_reproducible_and_checkpoint_round_trips(tiny_run, tmp_path):
    out, res = tiny_run
    again = fit(TrainConfig(**TINY), tmp_path)
    assert again["weights_sha256"] == res["weights_sha256"]
    model, cfg = load_checkpoint(out)
    assert cfg["weights_sha256"] == res["weights_sha256"]
    assert cfg["provenance"]["train_records"] == ["101", "119"]
    assert cfg["input_spec"]["side_groups"] == ["rr"]
    x = torch.randn(3, 1, cfg["input_spec"]["length"])
    side = torch.randn(3, 7)
    torch.testing.assert_close(model(x, side), res["model"](x, side))


def test_non_fusion_model_gets_no_side_input(tmp_path):
    res = fit(TrainConfig(**{**TINY, "model": "efficientecg_tiny"}), tmp_path)
    assert list(res["input_spec"]["side_groups"]) == [] and res["input_spec"]["side_tensor"] is None
    assert "side_spec" not in res["model_kwargs"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="do not exist"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_checkpoint(tmp_path)


def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
        "-m", "edge_ecg.cli", "train", "--out", str(tmp_path), "--train-records", "101,119",
        "--max-train", "400", "--epochs", "1", "--batch-size", "64", "--progress", "false", "--no-eval",
        "--model", "efficientecg_tiny",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    d0 = (tmp_path / "rank0.sha256").read_text()
    d1 = (tmp_path / "rank1.sha256").read_text()
    assert d0 == d1
    assert json.loads((tmp_path / "config.json").read_text())["world_size"] == 2


def test_held_out_split_follows_the_models_side_input():
    import dataclasses

    from edge_ecg.deploy.manifest import BeatInput, InputSpec
    from edge_ecg.train.evaluate import ds2_task

    spec = InputSpec(kind="beat", fs_hz=360.0, leads=("MLII",), length=252, beat=BeatInput(0.25, 0.45),
                     side_groups=("rr",), side_tensor="side")
    with_rr = ds2_task(spec, records=("100",))
    without = ds2_task(dataclasses.replace(spec, side_groups=(), side_tensor=None), records=("100",))
    assert with_rr.val.side.shape == (len(with_rr.val.y), 7)
    assert without.val.side.shape == (len(without.val.y), 0)
    assert len(with_rr.val.y) == 2273  # record 100: 2239 N + 33 A (S) + 1 V
