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


def test_record_wise_validation_holds_out_whole_records():
    from edge_ecg.train.tasks import _record_val

    rng = np.random.default_rng(0)
    records = np.repeat([f"r{i}" for i in range(10)], 50)
    y = rng.integers(0, 2, records.size)
    y[records == "r3"] = 2  # class 2 lives in two records only
    y[records == "r7"] = 2
    val = _record_val(records, y, 0.2, seed=0)
    assert set(records[val]).isdisjoint(records[~val])
    assert len(set(records[val])) == 2
    # a class found in two records keeps examples on both sides
    assert val[y == 2].any() and (~val[y == 2]).any()
    assert np.array_equal(val, _record_val(records, y, 0.2, seed=0))
    with pytest.raises(ConfigError, match=">= 2 training records"):
        _record_val(np.array(["a", "a"]), np.array([0, 1]), 0.2, seed=0)


def test_noise_augmentation_hits_the_snr_range():
    from edge_ecg.train.torch_data import NoiseAugment

    rng = np.random.default_rng(1)
    windows = rng.normal(0, 100.0, (64, 2, 252)).astype(np.float32)
    traces = rng.normal(0, 30.0, (3, 5000)).astype(np.float32)
    assert NoiseAugment(traces, 0.0, 6.0, 24.0)(windows, rng) is windows
    out = NoiseAugment(traces, 1.0, 6.0, 24.0)(windows, rng)
    noise = out - windows
    snr_db = 10 * np.log10(np.mean(windows**2, -1) / np.mean(noise**2, -1))
    assert snr_db.min() >= 6.0 - 1e-3 and snr_db.max() <= 24.0 + 1e-3
    assert windows.std() == pytest.approx(100.0, rel=0.05)  # input left untouched


def test_config_rejects_bad_augmentation_and_distillation_values():
    with pytest.raises(ConfigError, match="noise_prob"):
        TrainConfig(noise_prob=1.5)
    with pytest.raises(ConfigError, match="noise_snr_min_db"):
        TrainConfig(noise_snr_min_db=30.0, noise_snr_max_db=10.0)
    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainConfig(distill_temperature=0.0)
    with pytest.raises(ConfigError, match="val_split"):
        TrainConfig(val_split="patients")
    with pytest.raises(ConfigError, match="consistency_weight"):
        TrainConfig(consistency_weight=-1.0)


class _ConstantTeacher(torch.nn.Module):
    """Says class ``k`` for every input, whatever the labels say."""

    def __init__(self, k: int, n_classes: int):
        super().__init__()
        self.logits = torch.full((n_classes,), -4.0)
        self.logits[k] = 4.0

    def forward(self, x, side=None):
        return self.logits.expand(x.shape[0], -1)


def test_distillation_follows_the_teacher_not_the_labels(tmp_path):
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.trainer import predict, without_side

    cfg = TrainConfig(**{**TINY, "model": "efficientecg_tiny", "epochs": 2, "lr": 1e-2})
    task = without_side(build_task(cfg))
    teacher = _ConstantTeacher(2, len(task.classes))
    share = {}
    for w in (0.0, 1.0):
        student = fit(cfg.replace(distill_weight=w), tmp_path / str(w), task=task, save=False, teacher=teacher)["model"]
        share[w] = float(np.mean(predict(student, task, task.train).argmax(1) == 2))
    assert share[1.0] > 0.9 and share[0.0] < 0.5, share


def test_symmetric_kl_is_zero_only_for_equal_distributions_and_symmetric():
    from edge_ecg.train.trainer import symmetric_kl

    a = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    b = torch.tensor([[0.0, 2.0, -1.0], [0.5, 0.5, 3.0]])
    assert float(symmetric_kl(a, a + 7.0)) == pytest.approx(0.0, abs=1e-6)  # softmax ignores a shift
    assert float(symmetric_kl(a, b)) == pytest.approx(float(symmetric_kl(b, a)))
    assert float(symmetric_kl(a, b)) > 0.1


def test_shift_consistency_makes_predictions_agree_across_crops(tmp_path):
    """A linear read-out of the raw window is as position-sensitive as a model gets; the
    consistency term must pull its predictions for the same beats at the two extreme crops together."""
    from edge_ecg.runtime.preprocess import model_inputs
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.trainer import symmetric_kl, without_side

    cfg = TrainConfig(**{**TINY, "epochs": 4, "batch_size": 64, "lr": 1e-2, "val_split": "beats"})
    task = without_side(build_task(cfg))
    length = task.train.x.shape[-1] - 2 * task.margin
    assert task.margin >= 2

    def crop(offset):  # every training beat, window start at ``offset`` within the stored margin
        return torch.from_numpy(model_inputs(task.train.x[:, :, offset : offset + length], task.input_spec))

    gap = {}
    for w in (0.0, 5.0):
        torch.manual_seed(0)
        linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(length, len(task.classes)))
        model = fit(cfg.replace(consistency_weight=w), tmp_path / str(w), task=task, save=False, model=linear)["model"].eval()
        with torch.no_grad():
            gap[w] = float(symmetric_kl(model(crop(0)), model(crop(2 * task.margin))))
            assert np.mean(model(crop(task.margin)).argmax(1).numpy() == task.train.y) > 0.95  # it still learns
    assert gap[5.0] < 0.8 * gap[0.0], gap


def test_noise_records_come_from_noise_dir(tmp_path):
    from edge_ecg.errors import RecordError
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.train.tasks import build_task

    cfg = TrainConfig(**{**TINY, "max_train": 200, "noise_prob": 0.5})
    with pytest.raises(RecordError, match=str(tmp_path / "bw")):
        build_task(cfg.replace(noise_dir=str(tmp_path)))
    for f in (shared_data_dir() / "nstdb_noise").iterdir():
        if f.stem in ("bw", "em", "ma"):
            (tmp_path / f.name).write_bytes(f.read_bytes())
    here, shared = build_task(cfg.replace(noise_dir=str(tmp_path))).noise, build_task(cfg).noise
    assert here.shape == shared.shape and np.array_equal(here, shared)


def test_record_folds_hold_out_each_record_once():
    from edge_ecg.data.mitdb import DS1
    from edge_ecg.train.tasks import record_folds

    folds = record_folds(DS1, 3, seed=0)
    assert sorted(r for f in folds for r in f) == sorted(DS1)
    assert {len(f) for f in folds} <= {7, 8}
    assert record_folds(DS1, 3, seed=0) == folds and record_folds(DS1, 3, seed=1) != folds
    for bad in (1, 23, 2.5):
        with pytest.raises(ConfigError, match="folds must be"):
            record_folds(DS1, bad, seed=0)
