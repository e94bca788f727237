"""Memoise torchao's pattern graphs within a process.

``prepare_qat_pt2e``, ``convert_pt2e`` and every ``move_exported_model_to_train/eval`` turn
small Python pattern functions (conv+BN, dropout, batch-norm in train/eval form) into ATen
graphs with a strict ``torch.export`` each time they are called: ~0.3–0.5 s per pattern, about
50 patterns for one QAT prepare + convert, and 4 more per train/eval switch. The graphs only
depend on the pattern's code, its closure and the shapes of its example inputs, so they are
built once per process and handed out as deep copies (callers get fresh nodes, as before).

Patterns whose closure holds something unhashable are passed through uncached. Installing is
idempotent and a no-op if torchao's private helper moved (the flow still works, only slower).

The conv+BN fuse/fold helpers are also skipped for conv kinds absent from the graph (torchao
tries conv1d, conv2d and both transposed convs, 24 patterns each, on every graph).
"""

from __future__ import annotations

import copy
import threading

_LOCK = threading.Lock()
_CACHE: dict = {}
_INSTALLED = False


def _sig(x):
    import torch

    if isinstance(x, torch.Tensor):
        return ("tensor", tuple(x.shape), str(x.dtype), str(x.device))
    hash(x)
    return x


def _key(pattern, example_inputs, is_cuda, kwargs):
    fn = getattr(pattern, "fn", pattern)  # torchao's WrapperModule keeps the function as .fn
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    try:
        cells = tuple(_sig(c.cell_contents) for c in (fn.__closure__ or ()))
        defaults = tuple(_sig(d) for d in (fn.__defaults__ or ()))
        ins = tuple(_sig(x) for x in example_inputs)
        kw = tuple(sorted((k, _sig(v)) for k, v in kwargs.items()))
        key = (code, cells, defaults, ins, bool(is_cuda), kw)
        hash(key)
    except (TypeError, ValueError):
        return None
    return key


def _conv_targets(conv_fn):
    import torch
    import torch.nn.functional as F

    aten = torch.ops.aten
    return {
        F.conv1d: {aten.conv1d.default, aten.conv1d.padding},
        F.conv2d: {aten.conv2d.default, aten.conv2d.padding},
        F.conv_transpose1d: {aten.conv_transpose1d.default},
        F.conv_transpose2d: {aten.conv_transpose2d.input},
    }.get(conv_fn)


def _skip_absent_convs(qat_utils) -> None:
    import torch

    conv_ops = {torch.ops.aten.convolution.default}
    for name in ("_fuse_conv_bn_qat_helper", "_fold_conv_bn_qat_helper"):
        helper = getattr(qat_utils, name, None)
        if helper is None or getattr(helper, "_edge_wrapped", False):
            continue

        def wrapped(m, conv_fn, example_inputs, is_cuda=False, _helper=helper, **kw):
            targets = _conv_targets(conv_fn)
            if targets is not None:
                present = {n.target for n in m.graph.nodes if n.op == "call_function"}
                if not (present & (targets | conv_ops)):
                    return m
            return _helper(m, conv_fn, example_inputs, is_cuda=is_cuda, **kw)

        wrapped._edge_wrapped = True
        setattr(qat_utils, name, wrapped)


def install() -> bool:
    """Patch torchao's ``_get_aten_graph_module_for_pattern`` with the memoised version."""
    global _INSTALLED
    if _INSTALLED:
        return True
    try:
        from torchao.quantization.pt2e import qat_utils, utils
    except ImportError:
        return False
    original = getattr(utils, "_get_aten_graph_module_for_pattern", None)
    if original is None:
        return False

    def cached(pattern, example_inputs, is_cuda=False, **kwargs):
        key = _key(pattern, example_inputs, is_cuda, kwargs)
        if key is None:
            return original(pattern, example_inputs, is_cuda, **kwargs)
        with _LOCK:
            gm = _CACHE.get(key)
        if gm is None:
            gm = original(pattern, example_inputs, is_cuda, **kwargs)
            with _LOCK:
                _CACHE[key] = gm
        return copy.deepcopy(gm)

    cached.__wrapped__ = original
    utils._get_aten_graph_module_for_pattern = cached
    _skip_absent_convs(qat_utils)
    if getattr(qat_utils, "_get_aten_graph_module_for_pattern", None) is original:
        qat_utils._get_aten_graph_module_for_pattern = cached
    try:
        from torchao.quantization.pt2e import reference_representation_rewrite as rr

        if getattr(rr, "_get_aten_graph_module_for_pattern", None) is original:
            rr._get_aten_graph_module_for_pattern = cached
    except ImportError:
        pass
    _INSTALLED = True
    return True
