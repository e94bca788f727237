"""Quantization-aware fine-tuning (QAT) and post-training calibration (PTQ) of a checkpoint.

    from edge_ecg.quant import QuantConfig, quantize_checkpoint, load_quantized
    result = quantize_checkpoint("runs/beat", "runs/beat_qat", QuantConfig(method="qat", epochs=3))
    q = load_quantized("runs/beat_qat")         # rebuilds the frozen fake-quant graph
    q.fake_quant(ecg, side)                      # torch fake-quant logits
    q.converted("onnx")                          # reference int8 graph (what the files compute)

QAT starts from the float checkpoint, inserts fake-quant with :class:`~edge_ecg.quant.quantizer.
EdgeQuantizer`, fine-tunes with the very trainer and data of the checkpoint
(:func:`edge_ecg.train.trainer.fit` with ``model=`` the prepared graph and ``set_mode=`` a
:class:`~edge_ecg.quant.graph.QATSwitch`), freezes observers and BN, and saves. PTQ calibrates
the same quantizer's observers on training windows (centre crops, no augmentation).

What is saved (``out_dir``), never a pickle:

* ``quant_state.safetensors`` — the prepared graph's state dict: weights, BN statistics, and
  every fake-quant / observer buffer (scales, zero-points, ranges, enabled flags);
* ``quant.json`` — method, quantizer scheme, the capture spec (layout, shapes), the source
  checkpoint's config (model name and kwargs, input spec, classes, training provenance) and the
  SHA-256 of its weights, validation metrics before/after;
* ``model_int8.pt2`` — the converted graph via ``torch.export.save`` for inspection in torch.
  edge-ecg never reads it back: ``torch.export.load`` may unpickle, so :func:`load_quantized`
  rebuilds the graph from the model code and loads ``quant_state.safetensors`` instead.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_ecg.errors import CheckpointError, ConfigError
from edge_ecg.runtime.sinks import dumps_strict
from edge_ecg.typed import read_json_object

METHODS = ("qat", "ptq")
STATE_NAME = "quant_state.safetensors"
QUANT_CONFIG_NAME = "quant.json"
PT2_NAME = "model_int8.pt2"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class QuantConfig:
    """How a checkpoint is quantized (all fields validated on construction).

    ``method``: ``qat`` (fine-tune with fake-quant) or ``ptq`` (calibrate only).
    ``epochs``, ``lr``, ``batch_size``, ``weight_decay``: the QAT fine-tuning run (the trainer's
    warm-up + cosine schedule; ``lr`` about a tenth of the float run's).
    ``freeze_observers_epoch`` / ``freeze_bn_epoch``: 0-based epoch from which ranges / BN
    statistics stop moving during QAT (``-1``: the last epoch when ``epochs >= 2``, else never).
    ``max_train``, ``train_records``: data caps (0 / empty: the checkpoint's own training set).
    ``calibration``: PTQ activation observer (``histogram`` or ``minmax``);
    ``calibration_windows``: how many training windows PTQ calibrates on (0: all).
    ``quantize_attention``: quantize the fusion attention's matmul/softmax too.
    ``layout``: ``conv2d`` (unit-height 2-D convs, the clean TFLite form), ``conv1d``, or
    ``auto`` (conv2d when the model supports it).
    ``distill_weight``, ``distill_temperature``: QAT learns the float model's softened outputs
    with this weight next to the labels (0: labels only), so that int8 keeps the float decisions.
    """

    method: str = "qat"
    epochs: int = 3
    lr: float = 3e-4
    batch_size: int = 256
    weight_decay: float = 1e-4
    freeze_observers_epoch: int = -1
    freeze_bn_epoch: int = -1
    max_train: int = 0
    train_records: tuple[str, ...] = ()
    calibration: str = "histogram"
    calibration_windows: int = 4096
    averaging_constant: float = 0.01
    quantize_attention: bool = True
    layout: str = "auto"
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    seed: int = 0
    num_threads: int = 0
    progress: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r}: expected one of {METHODS}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        for name in ("max_train", "calibration_windows", "num_threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.layout not in ("auto", "conv2d", "conv1d"):
            raise ConfigError(f"layout {self.layout!r}: expected 'auto', 'conv2d' or 'conv1d'")
        object.__setattr__(self, "train_records", tuple(str(r) for r in self.train_records))
        self.scheme()  # validates calibration / averaging_constant

    def scheme(self):
        from edge_ecg.quant.quantizer import QuantScheme

        return QuantScheme(
            qat=self.method == "qat",
            calibration=self.calibration,
            averaging_constant=self.averaging_constant,
            quantize_attention=self.quantize_attention,
        )

    def resolved_freeze_epochs(self) -> tuple[int | None, int | None]:
        last = self.epochs - 1 if self.epochs >= 2 else None

        def pick(v: int) -> int | None:
            return last if v < 0 else v

        return pick(self.freeze_observers_epoch), pick(self.freeze_bn_epoch)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["train_records"] = list(self.train_records)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown quantization config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**{**d, "train_records": tuple(d.get("train_records", ()))})


@dataclass
class QuantizedModel:
    """A quantized network rebuilt from a quantization directory (see module docstring)."""

    directory: Path
    config: dict[str, Any]
    prepared: Any  # frozen torch.fx.GraphModule: the fake-quant (QAT) / observed (PTQ) graph
    spec: Any  # edge_ecg.quant.graph.GraphSpec
    _converted: dict | None = dataclasses.field(default=None, repr=False)

    @property
    def method(self) -> str:
        return self.config["method"]

    @property
    def checkpoint_config(self) -> dict[str, Any]:
        return self.config["checkpoint"]

    def fake_quant(self, ecg, side=None):
        """Logits of the torch float simulation of the int8 arithmetic: the fake-quant graph of
        QAT; for PTQ, whose prepared graph holds observers (which would record, not quantize),
        the converted reference graph."""
        import torch

        graph = self.prepared if self.method == "qat" else self.converted("torch")
        with torch.no_grad():
            return graph(ecg, side) if self.spec.side_dim else graph(ecg)

    def converted(self, target: str = "onnx"):
        """Reference-quantized graph for ``target`` (``onnx``/``torch`` or ``tflite``), made once
        and cached (do not modify the returned graph)."""
        from edge_ecg.quant.graph import TARGETS, convert_all

        if target not in TARGETS:
            raise ConfigError(f"target {target!r}: expected one of {TARGETS}")
        if self._converted is None:
            self._converted = convert_all(self.prepared)
        return self._converted[target]

    def float_model(self, checkpoint_dir: str | Path | None = None):
        """The float model this was quantized from (eval mode), checked by weight digest."""
        from edge_ecg.train.checkpoint import load_checkpoint

        ckpt = Path(checkpoint_dir or self.config["source_checkpoint"])
        model, cfg = load_checkpoint(ckpt)
        check_same_checkpoint(self.config, ckpt, cfg)
        return model


def check_same_checkpoint(qconfig: dict, ckpt_dir: Path, ckpt_config: dict) -> None:
    """Refuse to pair a quantization directory with a checkpoint it was not made from."""
    want = qconfig.get("source_weights_sha256")
    have = weights_file_sha256(ckpt_dir)
    if want and have != want:
        raise ConfigError(
            f"quantization directory {qconfig.get('directory', '?')} was made from a checkpoint whose "
            f"model.safetensors has SHA-256 {want[:12]}…, but {ckpt_dir} has {have[:12]}…"
        )
    if ckpt_config.get("model_name") != qconfig["checkpoint"].get("model_name"):
        raise ConfigError(
            f"checkpoint {ckpt_dir} holds {ckpt_config.get('model_name')!r}, quantization was of "
            f"{qconfig['checkpoint'].get('model_name')!r}"
        )


def weights_file_sha256(ckpt_dir: str | Path) -> str:
    from edge_ecg.deploy.manifest import sha256_file
    from edge_ecg.train.checkpoint import WEIGHTS_NAME

    p = Path(ckpt_dir) / WEIGHTS_NAME
    if not p.is_file():
        raise CheckpointError(f"checkpoint weights {p} do not exist")
    return sha256_file(p)


# ----------------------------------------------------------------------------------------------
def train_config_for(ckpt_config: dict[str, Any], qcfg: QuantConfig):
    """The checkpoint's own :class:`~edge_ecg.train.config.TrainConfig` (same data, filters,
    windows, class weighting), with the QAT run's schedule and caps."""
    from edge_ecg.train.config import TrainConfig

    base = dict(ckpt_config.get("train_config") or {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    base = {k: v for k, v in base.items() if k in known}
    base.update(
        epochs=qcfg.epochs,
        lr=qcfg.lr,
        batch_size=qcfg.batch_size,
        weight_decay=qcfg.weight_decay,
        patience=qcfg.epochs,  # keep every epoch: the best one is chosen on validation
        seed=qcfg.seed,
        num_threads=qcfg.num_threads,
        progress=qcfg.progress,
        model=ckpt_config["model_name"],
        distill_weight=qcfg.distill_weight,
        distill_temperature=qcfg.distill_temperature,
    )
    if qcfg.max_train:
        base["max_train"] = qcfg.max_train
    if qcfg.train_records:
        base["train_records"] = list(qcfg.train_records)
    return TrainConfig.from_dict(base)


def quantize_checkpoint(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    cfg: QuantConfig = QuantConfig(),
    *,
    task=None,
    command: str = "",
    write_pt2: bool = True,
) -> QuantizedModel:
    """QAT or PTQ of the checkpoint in ``checkpoint_dir``; writes ``out_dir`` and returns the
    frozen result. ``task`` (a :class:`~edge_ecg.train.tasks.TaskData`) overrides the data the
    checkpoint's training config describes (tests pass a small one)."""
    import torch

    from edge_ecg.quant import graph as G
    from edge_ecg.train.checkpoint import load_checkpoint
    from edge_ecg.train.metrics import classification_report
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.trainer import predict, seed_everything

    t0 = time.perf_counter()
    ckpt_dir = Path(checkpoint_dir)
    out = Path(out_dir)
    float_model, ckpt_config = load_checkpoint(ckpt_dir)
    tcfg = train_config_for(ckpt_config, cfg)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    if task is None:
        task = build_task(tcfg)
    length = int(task.input_spec.length)
    spec = G.graph_spec_for(float_model, length, None if cfg.layout == "auto" else cfg.layout)
    scheme = cfg.scheme()

    float_probs = predict(_as_trainer_model(float_model, spec), task, task.val)
    float_val = classification_report(task.val.y, float_probs, task.classes, multi_label=task.multi_label)

    prepared = G.prepare(float_model, spec, scheme)
    history: list[dict] = []
    if cfg.method == "qat":
        from edge_ecg.train.trainer import fit

        switch = G.QATSwitch(*cfg.resolved_freeze_epochs())
        # a copy: the captured graph may share parameter storage with the float model
        teacher = _as_trainer_model(copy.deepcopy(float_model), spec) if cfg.distill_weight else None
        result = fit(tcfg, out, task=task, model=G.CallAdapter(prepared, bool(spec.side_dim)),
                     set_mode=switch, save=False, command=command, teacher=teacher)
        history = result.get("history", [])
    else:
        calibrate(prepared, task, spec, windows=cfg.calibration_windows, seed=cfg.seed)
    G.freeze(prepared)

    adapter = G.CallAdapter(prepared, bool(spec.side_dim))
    q_probs = predict(adapter, task, task.val, set_mode=lambda m, training: G.set_mode(m, False, observe=False))
    q_val = classification_report(task.val.y, q_probs, task.classes, multi_label=task.multi_label)
    agreement = float(np.mean(q_probs.argmax(1) == float_probs.argmax(1))) if len(q_probs) else math.nan

    qconfig = {
        "format_version": FORMAT_VERSION,
        "method": cfg.method,
        "quant_config": cfg.to_dict(),
        "scheme": scheme.describe(),
        "graph_spec": spec.to_dict(),
        "source_checkpoint": str(ckpt_dir.resolve()),
        "source_weights_sha256": weights_file_sha256(ckpt_dir),
        "checkpoint": {k: v for k, v in ckpt_config.items() if k not in ("history",)},
        "train_config": tcfg.to_dict(),
        "data": {"train_windows": int(len(task.train.y)), "val_windows": int(len(task.val.y)),
                 "provenance": task.provenance},
        "command": command,
        "val": {
            "split": "validation part of the training records (never DS2)",
            "float": _slim(float_val),
            "quantized": _slim(q_val),
            "top1_agreement_with_float": agreement,
        },
        "history": history,
        "seconds": time.perf_counter() - t0,
        "versions": _versions(),
    }
    qm = QuantizedModel(out, qconfig, prepared, spec)
    qm.config = save_quantized(out, qm, write_pt2=write_pt2)
    if cfg.progress:
        print(
            f"{cfg.method}: val macro-F1 float {float_val['macro_f1']:.4f} -> int8 {q_val['macro_f1']:.4f}, "
            f"top-1 agreement {100 * agreement:.2f} % ({time.perf_counter() - t0:.0f} s) -> {out}",
            file=sys.stderr,
        )
    return qm


def _as_trainer_model(model, spec):
    """A float model callable as ``model(x, side)`` by the trainer's ``predict``."""
    from edge_ecg.quant.graph import CallAdapter

    wrapped = CallAdapter(model, bool(spec.side_dim))
    return wrapped.eval()


def calibrate(prepared, task, spec, *, windows: int = 4096, batch_size: int = 256, seed: int = 0) -> int:
    """Run training windows (centre crops, the shared preprocessing) through the observers of a
    PTQ graph; returns how many windows were used."""
    import torch

    from edge_ecg.quant.graph import set_mode
    from edge_ecg.train.torch_data import WindowDataset

    ds = WindowDataset(task.train, task.input_spec, task.margin, train=False)
    n = len(ds)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(windows, n), replace=False)) if windows and windows < n else np.arange(n)
    set_mode(prepared, False, observe=True)
    with torch.no_grad():
        for start in range(0, len(idx), batch_size):
            x, side, _ = ds.batch(idx[start:start + batch_size])
            prepared(x, side) if spec.side_dim else prepared(x)
    set_mode(prepared, False, observe=False)
    return int(len(idx))


def save_quantized(out_dir: str | Path, qm: QuantizedModel, *, write_pt2: bool = True) -> dict[str, Any]:
    """Write ``quant_state.safetensors`` + ``quant.json`` (+ ``model_int8.pt2``); returns the
    config as written (with the state digest)."""
    import torch
    from safetensors.torch import save_file

    from edge_ecg.quant.graph import export_program

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # clone: observers shared between edges appear under several names (safetensors refuses aliases)
    state = {k: v.detach().cpu().clone().contiguous() for k, v in qm.prepared.state_dict().items()}
    save_file(state, str(out / STATE_NAME), metadata={"producer": "edge-ecg", "content": "pt2e prepared state"})
    qconfig = {**qm.config, "state_sha256": _state_digest(state)}
    (out / QUANT_CONFIG_NAME).write_text(dumps_strict(qconfig, indent=2, sort_keys=True) + "\n")
    if write_pt2:
        try:
            torch.export.save(export_program(qm.converted("torch"), qm.spec), str(out / PT2_NAME))
        except Exception as exc:  # an inspection copy only; its absence must not fail the run
            print(f"note: could not write {PT2_NAME}: {exc}", file=sys.stderr)
    return qconfig


def load_quantized(directory: str | Path) -> QuantizedModel:
    """Rebuild the frozen quantized graph saved by :func:`quantize_checkpoint` (no unpickling:
    the graph is re-captured from the model code and the state read from safetensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from edge_ecg.models import create_model
    from edge_ecg.quant import graph as G

    d = Path(directory)
    cfg_path = d / QUANT_CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"{d} is not a quantization directory: {QUANT_CONFIG_NAME} is missing (edge-ecg qat writes it)")
    qconfig = read_json_object(cfg_path, "quantization config", CheckpointError)
    if qconfig.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{cfg_path}: format_version {qconfig.get('format_version')!r}, expected {FORMAT_VERSION}")
    if qconfig.get("method") not in METHODS:  # it is copied into every manifest made from this graph
        raise CheckpointError(f"{cfg_path}: method {qconfig.get('method')!r}, expected one of {METHODS}")
    try:
        state = load_file(str(d / STATE_NAME))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{d / STATE_NAME} is not a readable safetensors file: {exc}") from exc
    if _state_digest(state) != qconfig.get("state_sha256"):
        raise CheckpointError(f"{d / STATE_NAME} does not match the digest recorded in {QUANT_CONFIG_NAME}")
    ck = qconfig["checkpoint"]
    cfg = QuantConfig.from_dict(qconfig["quant_config"])
    spec = G.GraphSpec.from_dict(qconfig["graph_spec"])
    model = create_model(ck["model_name"], **ck["model_kwargs"]).eval()
    prepared = G.prepare(model, spec, cfg.scheme())
    missing, unexpected = prepared.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{d} does not fit a freshly prepared {ck['model_name']!r} graph (code changed since?): "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    G.freeze(prepared)
    return QuantizedModel(d, {**qconfig, "directory": str(d)}, prepared, spec)


def _state_digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def _slim(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "confusion"} | {"confusion": report.get("confusion")}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "torchao", "edge-ecg"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


