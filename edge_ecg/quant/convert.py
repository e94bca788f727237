"""Graph passes on the converted (reference-quantized) PT2E graph, shared by every export.

``convert_pt2e`` folds each BatchNorm into its conv and leaves the folded bias in float. Both
int8 runtimes want an int32 bias on the grid ``input_scale * weight_scale[c]`` (onnxruntime only
fuses ``DQ → Conv → Q`` into QLinearConv when the bias comes from an int32 DequantizeLinear;
TFLite's int8 CONV_2D takes int32 bias by specification). Quantizing it once here, in torch,
means the ONNX file, the TFLite file and the torch reference all hold the same integers.
"""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_qd = torch.ops.quantized_decomposed
DQ_TENSOR = {_qd.dequantize_per_tensor.default, _qd.dequantize_per_tensor.tensor}
DQ_CHANNEL = {_qd.dequantize_per_channel.default}
_WEIGHTED = {torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default, torch.ops.aten.linear.default,
             torch.ops.aten.convolution.default}


def _attr(gm: GraphModule, node: Node):
    if node.op != "get_attr":
        return None
    obj = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj


def _scalar(gm: GraphModule, arg) -> float:
    if isinstance(arg, Node):
        return float(_attr(gm, arg))
    return float(arg)


def quantize_biases(gm: GraphModule, *, as_float: bool = False) -> int:
    """Put the bias of every conv/linear whose input and weight are dequantized on the int32 grid
    ``s_x * s_w[c]``. Returns how many biases were rewritten.

    ``as_float=False`` (onnxruntime): the bias becomes an int32 constant feeding a
    ``dequantize_per_channel``. ``as_float=True`` (TFLite): the bias stays a float constant whose
    values are exactly ``q * s_x * s_w[c]``; the TFLite converter quantizes float biases with that
    same grid (it rejects an int32 quantize/dequantize pair), so it recovers the same integers.
    Biases the quantizer already annotated (a ``quantize -> dequantize`` pair) are replaced too.
    """
    graph = gm.graph
    done = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in _WEIGHTED or len(node.args) < 3:
            continue
        x, w, b = node.args[0], node.args[1], node.args[2]
        if not (isinstance(x, Node) and x.target in DQ_TENSOR and isinstance(w, Node) and w.target in DQ_CHANNEL):
            continue
        bias = _float_bias(gm, b)
        if bias is None:
            continue
        x_scale = _scalar(gm, x.args[1])
        w_scale = _attr(gm, w.args[1]) if isinstance(w.args[1], Node) else None
        if w_scale is None:
            continue
        scale = (x_scale * w_scale.detach().to(torch.float64)).to(torch.float32)
        q = torch.clamp(torch.round(bias.detach().to(torch.float64) / scale.to(torch.float64)), INT32_MIN, INT32_MAX)
        q = q.to(torch.int32)
        prefix = f"_edge_bias_{done}"
        with graph.inserting_before(node):
            if as_float:
                gm.register_buffer(f"{prefix}_f", (q.to(torch.float64) * scale.to(torch.float64)).to(torch.float32))
                new_b = graph.get_attr(f"{prefix}_f")
            else:
                gm.register_buffer(f"{prefix}_q", q)
                gm.register_buffer(f"{prefix}_scale", scale)
                gm.register_buffer(f"{prefix}_zp", torch.zeros_like(q))
                new_b = graph.call_function(
                    _qd.dequantize_per_channel.default,
                    (graph.get_attr(f"{prefix}_q"), graph.get_attr(f"{prefix}_scale"), graph.get_attr(f"{prefix}_zp"),
                     0, INT32_MIN, INT32_MAX, torch.int32),
                )
        node.args = (x, w, new_b, *node.args[3:])
        done += 1
    if done:
        graph.eliminate_dead_code()
        graph.lint()
        gm.recompile()
    return done


def _float_bias(gm: GraphModule, b) -> torch.Tensor | None:
    """The real-valued bias behind ``b``: a float constant, or a (quantize ->) dequantize chain."""
    if not isinstance(b, Node):
        return None
    if b.op == "get_attr":
        t = _attr(gm, b)
        return t if isinstance(t, torch.Tensor) and t.is_floating_point() else None
    if b.op == "call_function" and b.target in DQ_CHANNEL:
        src = b.args[0]
        scale, zp = _attr(gm, b.args[1]), _attr(gm, b.args[2])
        if src.op == "get_attr":  # folded int32
            q = _attr(gm, src)
        elif src.op == "call_function" and src.target is _qd.quantize_per_channel.default and src.args[0].op == "get_attr":
            f = _attr(gm, src.args[0])
            q = torch.round(f.to(torch.float64) / scale.to(torch.float64)) + zp
        else:
            return None
        return ((q.to(torch.float64) - zp.to(torch.float64)) * scale.to(torch.float64)).to(torch.float32)
    return None
