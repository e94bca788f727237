"""``EdgeQuantizer``: one PT2E quantizer for both int8 targets (onnxruntime and TFLite).

Written against torchao's public ``Quantizer`` API (``torchao.quantization.pt2e.quantizer``).
It annotates an ``torch.export`` graph of an edge-ecg model so that, after ``convert_pt2e``, every
tensor between two integer kernels is int8:

* **weights**: int8, per output channel, symmetric, range [-127, 127] (zero-point 0: what
  TFLite's int8 spec, XNNPACK and onnxruntime's U8S8 kernels all require);
* **activations**: 8-bit per-tensor affine. The graph is quantized with *int8* activations
  (range [-128, 127]), the TFLite convention; the ONNX export maps every activation to *uint8*
  by adding 128 to its zero-point (exact: same scale, same real values), because onnxruntime on
  x86 only fuses uint8-activation convolutions (:func:`edge_ecg.deploy.onnx_export`);
* **bias**: int32 with scale ``input_scale * weight_scale[c]`` (derived, not observed), when the
  conv/linear has a bias; a conv followed by BatchNorm has none until ``convert_pt2e`` folds BN;
* **conv → BN → ReLU/ReLU6** is one unit (one output quantizer after the activation), so the BN
  is simulated and later folded, and the clamp disappears into the int8 range;
* **SiLU** written as ``x * sigmoid(x)`` (:class:`edge_ecg.models.blocks.Swish`): Sigmoid with
  the fixed output grid ``1/256`` that TFLite's LOGISTIC requires, and the Mul quantized;
* **hard-sigmoid**, **softmax**: fixed output grid ``1/256`` over [0, 1);
* residual **add**, gating **mul**, **mean** (global / SE pooling), **matmul** of attention,
  **cat** (inputs share one grid) and the shape-only ops (reshape, flatten, transpose, …, which
  take the grid of their input so no requantisation appears around them).

Anything else is left float (its neighbours get a dequantize / quantize pair), which
:mod:`edge_ecg.deploy.opcheck` then reports for the target.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e import (
    FusedMovingAvgObsFakeQuantize,
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import (
    DerivedQuantizationSpec,
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)

from edge_ecg.errors import ConfigError

ACT_QMIN, ACT_QMAX = -128, 127
WEIGHT_QMIN, WEIGHT_QMAX = -127, 127
# LOGISTIC / SOFTMAX / hard-sigmoid outputs live in [0, 1): TFLite's int8 kernels require
# exactly this grid for LOGISTIC and SOFTMAX (scale 1/256, zero-point -128).
UNIT_SCALE = 1.0 / 256.0
UNIT_ZERO_POINT = -128
CALIBRATION_OBSERVERS = ("histogram", "minmax")


@dataclass(frozen=True)
class QuantScheme:
    """How :class:`EdgeQuantizer` quantizes.

    ``qat``: fake-quantize modules (trainable graph) instead of observers (calibration).
    ``calibration``: activation observer for post-training calibration (``histogram``: the
    L2-optimal range search of torch/torchao; ``minmax``: the plain range).
    ``averaging_constant``: moving-average weight of the QAT activation range per step.
    ``quantize_attention``: also quantize matmul/softmax (fusion attention); off leaves them float.
    """

    qat: bool = True
    calibration: str = "histogram"
    averaging_constant: float = 0.01
    quantize_attention: bool = True

    def __post_init__(self):
        if self.calibration not in CALIBRATION_OBSERVERS:
            raise ConfigError(f"calibration {self.calibration!r}: expected one of {CALIBRATION_OBSERVERS}")
        if not 0.0 < self.averaging_constant <= 1.0:
            raise ConfigError(f"averaging_constant must be in (0, 1], got {self.averaging_constant!r}")

    def describe(self) -> dict:
        """What goes into the manifest's ``quantization.quantizer``."""
        return {
            "name": "edge_ecg.quant.EdgeQuantizer",
            "weights": "int8 per-channel symmetric [-127, 127]",
            "activations": "8-bit per-tensor affine (int8 in torch/TFLite, uint8 = int8 + 128 in ONNX)",
            "bias": "int32, scale = input_scale * weight_scale",
            "fixed_unit_grid": "sigmoid, hardsigmoid, softmax outputs: scale 1/256, int8 zero-point -128",
            "attention": self.quantize_attention,
            "calibration": "qat" if self.qat else self.calibration,
        }


class FrozenGridFakeQuantize(FusedMovingAvgObsFakeQuantize):
    """torchao's fused fake-quantize that, once its observer is off, reports the scale and
    zero-point its forward pass uses.

    ``convert_pt2e`` asks ``calculate_qparams()``, which recomputes from the observer's running
    min/max; for per-channel weights the fused kernel's ``scale`` buffer (what the network was
    trained and evaluated with) differs from that by a few tenths of a percent, enough to flip
    ~1 % of the top-1 decisions of a small model between the frozen fake-quant graph and the
    exported files. Frozen, the buffers are the grid.
    """

    def calculate_qparams(self):
        if int(self.observer_enabled[0]) != 0:
            return super().calculate_qparams()
        scale = self.scale.detach().clone()
        zero_point = self.zero_point.detach().clone()
        if self.qscheme in (torch.per_channel_symmetric, torch.per_tensor_symmetric):
            # the fused kernel leaves a non-zero zero-point on all-zero (dead) channels;
            # symmetric means 0 (TFLite/XNNPACK reject anything else): take the observer's
            # answer for those channels
            bad = zero_point != 0
            if bool(bad.any()):
                ref_scale, _ = super().calculate_qparams()
                scale[bad] = ref_scale.to(scale.dtype)[bad]
                zero_point[bad] = 0
        return scale, zero_point


def _specs(scheme: QuantScheme):
    eps = {"eps": 2.0**-12}
    if scheme.qat:
        fq = FrozenGridFakeQuantize
        act_ctr = fq.with_args(observer=MovingAverageMinMaxObserver, averaging_constant=scheme.averaging_constant, **eps)
        weight_ctr = fq.with_args(observer=MovingAveragePerChannelMinMaxObserver, **eps)
    else:
        act_ctr = (HistogramObserver if scheme.calibration == "histogram" else MinMaxObserver).with_args(**eps)
        weight_ctr = PerChannelMinMaxObserver.with_args(**eps)
    act = QuantizationSpec(
        dtype=torch.int8, quant_min=ACT_QMIN, quant_max=ACT_QMAX, qscheme=torch.per_tensor_affine,
        observer_or_fake_quant_ctr=act_ctr,
    )
    weight = QuantizationSpec(
        dtype=torch.int8, quant_min=WEIGHT_QMIN, quant_max=WEIGHT_QMAX, qscheme=torch.per_channel_symmetric,
        ch_axis=0, observer_or_fake_quant_ctr=weight_ctr,
    )
    unit = FixedQParamsQuantizationSpec(
        dtype=torch.int8, scale=UNIT_SCALE, zero_point=UNIT_ZERO_POINT, quant_min=ACT_QMIN, quant_max=ACT_QMAX,
        qscheme=torch.per_tensor_affine,
    )
    return act, weight, unit


def _bias_spec(act_edge, weight_edge):
    return DerivedQuantizationSpec(
        derived_from=[act_edge, weight_edge],
        derive_qparams_fn=_derive_bias_qparams,
        dtype=torch.int32,
        quant_min=-(2**31),
        quant_max=2**31 - 1,
        qscheme=torch.per_channel_symmetric,
        ch_axis=0,
    )


def _derive_bias_qparams(obs_or_fqs):
    act, weight = obs_or_fqs
    act_scale, _ = act.calculate_qparams()
    weight_scale, _ = weight.calculate_qparams()
    scale = (act_scale * weight_scale).to(torch.float32)
    return scale, torch.zeros_like(scale, dtype=torch.int32)


aten = torch.ops.aten
CONV_OPS = {aten.conv1d.default, aten.conv2d.default, aten.convolution.default}
LINEAR_OPS = {aten.linear.default}
BN_OPS = {
    aten.batch_norm.default,
    aten._native_batch_norm_legit.default,
    aten._native_batch_norm_legit_no_training.default,
    aten.cudnn_batch_norm.default,
}
FUSED_ACT_OPS = {aten.relu.default, aten.relu_.default, aten.hardtanh.default, aten.hardtanh_.default, aten.relu6.default}
BINARY_OPS = {aten.add.Tensor, aten.mul.Tensor, aten.add_.Tensor, aten.mul_.Tensor, aten.sub.Tensor}
UNIT_OPS = {aten.sigmoid.default, aten.hardsigmoid.default}
SOFTMAX_OPS = {aten.softmax.int, aten._softmax.default}
MATMUL_OPS = {aten.matmul.default, aten.bmm.default}
MEAN_OPS = {aten.mean.dim, aten.adaptive_avg_pool1d.default, aten.adaptive_avg_pool2d.default, aten.avg_pool1d.default, aten.avg_pool2d.default}
PASSTHROUGH_OPS = {
    aten.view.default, aten.reshape.default, aten.flatten.using_ints, aten.squeeze.dim, aten.squeeze.dims,
    aten.unsqueeze.default, aten.permute.default, aten.transpose.int, aten.slice.Tensor, aten.select.int,
    aten.max_pool1d.default, aten.max_pool2d.default, aten.dropout.default, aten.clone.default,
    aten.contiguous.default, aten.expand.default, aten.alias.default,
}
CAT_OPS = {aten.cat.default, aten.stack.default}


def _is_tensor_node(x) -> bool:
    return isinstance(x, Node) and isinstance(x.meta.get("val"), torch.Tensor) and x.meta["val"].is_floating_point()


def _annotated(node: Node) -> bool:
    ann = node.meta.get("quantization_annotation")
    return ann is not None and ann._annotated


def _only_user(node: Node) -> Node | None:
    users = [u for u in node.users if not (u.op == "call_function" and u.target is operator.getitem and not u.users)]
    return users[0] if len(users) == 1 else None


class EdgeQuantizer(Quantizer):
    """The annotation rules of the module docstring, for one :class:`QuantScheme`."""

    def __init__(self, scheme: QuantScheme = QuantScheme()):
        super().__init__()
        self.scheme = scheme
        self.act, self.weight, self.unit = _specs(scheme)

    def annotate(self, model: GraphModule) -> GraphModule:
        act, unit = self.act, self.unit
        nodes = list(model.graph.nodes)
        # Pass 1: weighted ops and the chains (BN, ReLU/ReLU6) that fold into them.
        for node in nodes:
            if node.op == "call_function" and not _annotated(node) and node.target in CONV_OPS | LINEAR_OPS:
                self._annotate_weighted(node)
        # Pass 2: everything else, in graph order.
        for node in nodes:
            if node.op != "call_function" or _annotated(node):
                continue
            t = node.target
            if t in BINARY_OPS:
                ins = [a for a in node.args[:2] if _is_tensor_node(a)]
                if len(ins) == 2:
                    _mark(node, {a: act for a in ins}, act)
                elif len(ins) == 1 and t in (aten.mul.Tensor, aten.mul_.Tensor):
                    # scaling by a constant (e.g. 1/6): keep the grid moving with the values
                    _mark(node, {ins[0]: act}, act)
            elif t in UNIT_OPS:
                _mark(node, {node.args[0]: act}, unit)
            elif t in SOFTMAX_OPS:
                if self.scheme.quantize_attention:
                    _mark(node, {node.args[0]: act}, unit)
            elif t in MATMUL_OPS:
                if self.scheme.quantize_attention:
                    _mark(node, {node.args[0]: act, node.args[1]: act}, act)
            elif t in MEAN_OPS:
                _mark(node, {node.args[0]: act}, act)
            elif t in FUSED_ACT_OPS:
                # a free-standing ReLU: the int8 grid of its output starts at zero
                _mark(node, {node.args[0]: act}, act)
            elif t in PASSTHROUGH_OPS and _is_tensor_node(node.args[0]):
                src = node.args[0]
                _mark(node, {src: act}, SharedQuantizationSpec((src, node)))
            elif t in CAT_OPS:
                tensors = [a for a in node.args[0] if _is_tensor_node(a)]
                if tensors:
                    first = tensors[0]
                    shared = SharedQuantizationSpec((first, node))
                    _mark(node, {a: (act if a is first else shared) for a in tensors}, shared)
        _share_fixed_producers(nodes)
        return model

    def _annotate_weighted(self, node: Node) -> None:
        x, w = node.args[0], node.args[1]
        bias = node.args[2] if len(node.args) > 2 else None
        inputs = {x: self.act, w: self.weight}
        if isinstance(bias, Node):
            inputs[bias] = _bias_spec((x, node), (w, node))
        chain = [node]
        nxt = _only_user(node)
        if nxt is not None and nxt.op == "call_function" and nxt.target in BN_OPS and node.target in CONV_OPS:
            chain.append(nxt)
            # _native_batch_norm_legit returns a tuple: the tensor is getitem 0
            if nxt.target is not aten.batch_norm.default:
                item = next((u for u in nxt.users if u.target is operator.getitem and u.args[1] == 0), None)
                if item is not None:
                    chain.append(item)
            nxt = _only_user(chain[-1])
        if nxt is not None and nxt.op == "call_function" and nxt.target in FUSED_ACT_OPS and _fusable_clamp(nxt):
            chain.append(nxt)
        _mark(node, inputs, self.act if len(chain) == 1 else None)
        for n in chain[1:-1]:
            _mark(n, {})
        if len(chain) > 1:
            _mark(chain[-1], {}, self.act)

    def validate(self, model: GraphModule) -> None:
        return None


def _mark(node: Node, inputs: dict, output=None) -> None:
    node.meta["quantization_annotation"] = QuantizationAnnotation(
        input_qspec_map=inputs, output_qspec=output, _annotated=True
    )


def _share_fixed_producers(nodes: list[Node]) -> None:
    """An input edge fed by a fixed-grid (sigmoid, softmax) or shared-grid output reuses that
    grid instead of observing its own: otherwise a needless requantisation (Q → DQ → Q) sits
    between e.g. the Sigmoid and the Mul of SiLU, and onnxruntime cannot fuse either."""
    for node in nodes:
        ann = node.meta.get("quantization_annotation")
        if ann is None:
            continue
        for src, qspec in list(ann.input_qspec_map.items()):
            if not isinstance(qspec, QuantizationSpec):
                continue
            src_ann = src.meta.get("quantization_annotation")
            if src_ann is None or src_ann.output_qspec is None:
                continue
            if isinstance(src_ann.output_qspec, (FixedQParamsQuantizationSpec, SharedQuantizationSpec)):
                ann.input_qspec_map[src] = SharedQuantizationSpec(src)


def _fusable_clamp(node: Node) -> bool:
    """ReLU, and hardtanh clamps whose lower bound is 0 (ReLU6): the int8 range absorbs them."""
    if node.target in (aten.hardtanh.default, aten.hardtanh_.default):
        lo = node.args[1] if len(node.args) > 1 else node.kwargs.get("min_val", -1.0)
        return float(lo) == 0.0
    return True
