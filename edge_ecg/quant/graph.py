"""Capture, prepare, switch, freeze and convert: the PT2E steps of :mod:`edge_ecg.quant`.

Everything here works on the graph the models export as ``forward(ecg[, side])``: the wrapper
modules fix the input names (``ecg``, ``side``) that the ONNX and TFLite files carry and that the
manifest's ``input.ecg_tensor`` / ``input.side_tensor`` refer to.

The maintained flow (torchao ``quantization.pt2e``, torch 2.13):

1. :func:`capture` — ``torch.export.export`` with a dynamic batch dimension (a static one trips
   a shape guard as soon as the training loop feeds a different batch size);
2. :func:`prepare` — ``prepare_qat_pt2e`` (fake-quant, conv+BN simulated as one unit) or
   ``prepare_pt2e`` (observers, BN already folded) with :class:`~edge_ecg.quant.quantizer.
   EdgeQuantizer`;
3. :func:`set_mode` — the train/eval switch of an exported graph (``move_exported_model_to_*``;
   ``.train()``/``.eval()`` are refused on it), which also turns observers off in eval so that
   validation batches do not move the ranges;
4. :func:`freeze` — observers off for good, eval mode (BN on its running statistics);
5. :func:`convert` — ``convert_pt2e`` (folds BN) on a copy, then int32 biases
   (:func:`~edge_ecg.quant.convert.quantize_biases`) in the form each exporter wants.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from edge_ecg.errors import ConfigError

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")  # CUDA-only kernels: noise on CPU


# torch's pytree warns on every deepcopy of an exported graph (torch 2.13); not actionable here
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)


def _speedups() -> None:
    from edge_ecg.quant._pattern_cache import install

    install()

LAYOUTS = ("conv2d", "conv1d")
TARGETS = ("onnx", "tflite", "torch")
MAX_BATCH = 1 << 16


class EcgOnly(nn.Module):
    """``forward(ecg)`` for models without side inputs (names the graph input ``ecg``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, ecg: torch.Tensor) -> torch.Tensor:
        return self.net(ecg)


class EcgSide(nn.Module):
    """``forward(ecg, side)`` for fusion models (graph inputs ``ecg`` and ``side``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, ecg: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return self.net(ecg, side)


class CallAdapter(nn.Module):
    """Lets the trainer call a captured graph as ``model(x, side)`` whatever its signature:
    a graph captured without side input drops the ``side`` the dataset hands it."""

    def __init__(self, graph: nn.Module, takes_side: bool):
        super().__init__()
        self.graph = graph
        self.takes_side = takes_side

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        return self.graph(x, side) if self.takes_side else self.graph(x)


@dataclass(frozen=True)
class GraphSpec:
    """How a model is captured: input shapes (without batch), whether it takes ``side``, and
    the layout (``conv2d``: every Conv1d as a unit-height Conv2d, the TFLite-friendly form)."""

    in_leads: int
    length: int
    side_dim: int
    layout: str = "conv2d"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout {self.layout!r}: expected one of {LAYOUTS}")
        for name in ("in_leads", "length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("ecg", "side") if self.side_dim else ("ecg",)

    def example(self, batch: int = 8, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        ecg = torch.randn(batch, self.in_leads, self.length, generator=g)
        if self.side_dim:
            return ecg, torch.randn(batch, self.side_dim, generator=g) * 0.3
        return (ecg,)

    def dynamic_shapes(self):
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        return tuple({0: batch} for _ in self.input_names)

    def to_dict(self) -> dict:
        return {"in_leads": self.in_leads, "length": self.length, "side_dim": self.side_dim, "layout": self.layout}

    @classmethod
    def from_dict(cls, d: dict) -> GraphSpec:
        return cls(**d)


def graph_spec_for(model: nn.Module, length: int, layout: str | None = None) -> GraphSpec:
    """The :class:`GraphSpec` of ``model`` at ``length`` samples; ``conv2d`` layout whenever the
    model supports it natively (the EfficientECG family)."""
    native = any(hasattr(m, "conv2d_layout") for m in model.modules())
    if layout is None:
        layout = "conv2d" if native else "conv1d"
    if layout == "conv2d" and not native:
        raise ConfigError(
            f"{type(model).__name__} has no native 2-D layout; use layout='conv1d' "
            "(edge_ecg.models.to_conv2d only wraps its convs one by one)"
        )
    in_leads = int(getattr(model, "in_leads", model.default_input_shape[0]))
    return GraphSpec(in_leads=in_leads, length=int(length), side_dim=int(getattr(model, "side_dim", 0)), layout=layout)


def wrap(model: nn.Module, spec: GraphSpec) -> nn.Module:
    """The model in ``spec.layout`` behind the ``forward(ecg[, side])`` signature."""
    if spec.layout == "conv2d":
        from edge_ecg.models import to_conv2d

        model = to_conv2d(model)
    return EcgSide(model) if spec.side_dim else EcgOnly(model)


def capture(model: nn.Module, spec: GraphSpec, *, training: bool) -> torch.fx.GraphModule:
    """``torch.export`` of ``wrap(model)`` in train or eval mode, dynamic batch; returns the
    graph module (ATen IR) that torchao's ``prepare_*_pt2e`` take."""
    wrapped = wrap(model, spec).train(training)
    ep = torch.export.export(wrapped, spec.example(), dynamic_shapes=spec.dynamic_shapes())
    return ep.module()


def prepare(model: nn.Module, spec: GraphSpec, scheme) -> torch.fx.GraphModule:
    """Fake-quant (``scheme.qat``) or observer graph of ``model`` with :class:`EdgeQuantizer`."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    from edge_ecg.quant.quantizer import EdgeQuantizer

    _speedups()
    quantizer = EdgeQuantizer(scheme)
    if scheme.qat:
        prepared = prepare_qat_pt2e(capture(model, spec, training=True), quantizer)
        set_mode(prepared, True)
    else:
        prepared = prepare_pt2e(capture(model, spec, training=False), quantizer)
        set_mode(prepared, False, observe=True)
    return prepared


def _graph_of(model: nn.Module) -> nn.Module:
    return model.graph if isinstance(model, CallAdapter) else model


def set_mode(model: nn.Module, training: bool, *, observe: bool | None = None) -> None:
    """Train/eval switch of a prepared graph (or a :class:`CallAdapter` around one).

    ``observe`` turns observers on/off; by default they follow ``training`` (eval batches must
    not move the ranges), except that a graph :func:`freeze` marked stays frozen.
    """
    from torchao.quantization.pt2e import (
        disable_observer,
        enable_observer,
        move_exported_model_to_eval,
        move_exported_model_to_train,
    )

    _speedups()
    g = _graph_of(model)
    if training:
        move_exported_model_to_train(g)
    else:
        move_exported_model_to_eval(g)
    if observe is None:
        observe = training and not getattr(g, "_edge_frozen", False)
    g.apply(enable_observer if observe else disable_observer)


class QATSwitch:
    """The ``set_mode`` hook handed to :func:`edge_ecg.train.trainer.fit` for QAT.

    Counts training epochs (one ``training=True`` call each); from epoch
    ``freeze_observers_epoch`` on (0-based) the ranges stop moving, and from
    ``freeze_bn_epoch`` on the BN statistics too (the graph trains in its eval form, where the
    conv+BN unit uses running statistics, as after folding). ``None``: never during training.
    """

    def __init__(self, freeze_observers_epoch: int | None = None, freeze_bn_epoch: int | None = None):
        self.freeze_observers_epoch = freeze_observers_epoch
        self.freeze_bn_epoch = freeze_bn_epoch
        self.epoch = -1

    def __call__(self, model: nn.Module, training: bool) -> None:
        if not training:
            set_mode(model, False)
            return
        self.epoch += 1
        frozen_obs = self.freeze_observers_epoch is not None and self.epoch >= self.freeze_observers_epoch
        frozen_bn = self.freeze_bn_epoch is not None and self.epoch >= self.freeze_bn_epoch
        set_mode(model, not frozen_bn, observe=not frozen_obs)


def freeze(model: nn.Module) -> nn.Module:
    """Observers off for good and eval mode: what is evaluated, saved and converted. Without
    this the scales keep drifting on every evaluation batch."""
    g = _graph_of(model)
    g._edge_frozen = True
    set_mode(g, False, observe=False)
    return g


def convert(prepared: torch.fx.GraphModule, target: str = "onnx") -> torch.fx.GraphModule:
    """Reference-quantized copy of a frozen ``prepared`` graph for ``target``.

    ``onnx``/``torch``: int8 weights and int32 biases stored as integers (``dequantize`` nodes
    in the graph). ``tflite``: weights as float → quantize → dequantize and biases as float
    values already on their int32 grid, the form litert-torch lowers to int8 TFLite ops. All
    targets compute the same numbers. (:func:`convert_all` makes every form from one
    ``convert_pt2e`` call, which is the slow part: torchao re-exports its pattern graphs.)
    """
    if target not in TARGETS:
        raise ConfigError(f"target {target!r}: expected one of {TARGETS}")
    return convert_all(prepared)[target]


def convert_all(prepared: torch.fx.GraphModule) -> dict[str, torch.fx.GraphModule]:
    """``{"onnx", "torch", "tflite"}`` forms of :func:`convert` from a single ``convert_pt2e``."""
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from edge_ecg.quant.convert import quantize_biases

    _speedups()
    g = copy.deepcopy(_graph_of(prepared))
    freeze(g)
    base = convert_pt2e(g, fold_quantize=False)
    tflite = copy.deepcopy(base)
    quantize_biases(tflite, as_float=True)
    folded = base
    # what convert_pt2e(fold_quantize=True) does: quantize ops on constants become int8/int32 constants
    qd = torch.ops.quantized_decomposed
    quant_ops = {qd.quantize_per_tensor.default, qd.quantize_per_tensor.tensor, qd.quantize_per_channel.default}
    constant_fold(folded, lambda n: n.op == "call_function" and n.target in quant_ops)
    folded.recompile()
    quantize_biases(folded, as_float=False)
    return {"onnx": folded, "torch": folded, "tflite": tflite}


def export_program(module: nn.Module, spec: GraphSpec, *, dynamic: bool = True) -> torch.export.ExportedProgram:
    """``torch.export`` of a converted graph (or a float model wrapped by :func:`wrap`)."""
    example = spec.example(batch=8 if dynamic else 1)
    return torch.export.export(module, example, dynamic_shapes=spec.dynamic_shapes() if dynamic else None)


def io_qparams(converted: torch.fx.GraphModule) -> dict[str, dict[str, float]]:
    """Scale / int8 zero-point of each graph input's first quantizer and of the output's last
    dequantizer: what the manifest's ``quantization`` section records."""
    qd = torch.ops.quantized_decomposed
    q_ops = {qd.quantize_per_tensor.default, qd.quantize_per_tensor.tensor}
    dq_ops = {qd.dequantize_per_tensor.default, qd.dequantize_per_tensor.tensor}
    out: dict[str, dict[str, float]] = {}
    for node in converted.graph.nodes:
        if node.op == "placeholder":
            user = _first_quantize(node, q_ops)
            if user is not None:
                out[node.name] = {"scale": _num(converted, user.args[1]), "zero_point": int(_num(converted, user.args[2]))}
        if node.op == "output":
            res = node.args[0]
            res = res[0] if isinstance(res, (tuple, list)) else res
            if getattr(res, "target", None) in dq_ops:
                out["logits"] = {"scale": _num(converted, res.args[1]), "zero_point": int(_num(converted, res.args[2]))}
    return out


def _first_quantize(node, q_ops):
    """The quantize node fed by ``node`` directly or through shape-only ops."""
    from edge_ecg.quant.quantizer import PASSTHROUGH_OPS

    frontier = [node]
    while frontier:
        n = frontier.pop(0)
        for u in n.users:
            if u.op != "call_function":
                continue
            if u.target in q_ops:
                return u
            if u.target in PASSTHROUGH_OPS:
                frontier.append(u)
    return None


def _num(gm, arg) -> float:
    if isinstance(arg, torch.fx.Node) and arg.op == "get_attr":
        obj = gm
        for part in arg.target.split("."):
            obj = getattr(obj, part)
        return float(obj)
    return float(arg)
