"""Quantization (edge_ecg.quant): the PT2E quantizer's annotations, the int32 bias pass, the
train/eval switch, save → rebuild, and a tiny QAT / PTQ run on real MIT-BIH beats.

The tiny pipeline (``build_tiny``) is shared with ``test_export.py``: a 1.5 k-parameter
``efficientecg_tiny`` trained for one epoch on 1 200 beats of records 101 and 119, then one
QAT epoch; together ~30 s on a quiet 2-core box.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchao")

from torch import nn  # noqa: E402

from edge_ecg.errors import CheckpointError, ConfigError  # noqa: E402
from edge_ecg.quant import QuantConfig, QuantScheme, load_quantized, quantize_checkpoint  # noqa: E402
from edge_ecg.quant import graph as G  # noqa: E402
from edge_ecg.quant.quantizer import UNIT_SCALE, UNIT_ZERO_POINT  # noqa: E402

TINY_RECORDS = ("101", "119")


# ---- the shared tiny pipeline ---------------------------------------------------------------------
def strip_side(task):
    """The mitdb task always carries RR side features; a model without side input gets a task
    without them (so the checkpoint's input spec has no side tensor)."""
    spec = dataclasses.replace(task.input_spec, side_groups=(), rr=None, side_tensor=None)

    def no_side(split):
        return dataclasses.replace(split, side=np.zeros((len(split.y), 0), np.float32))

    return dataclasses.replace(task, input_spec=spec, train=no_side(task.train), val=no_side(task.val))


@dataclasses.dataclass
class Tiny:
    root: Path
    ckpt: Path
    qat: Path
    task: object
    qm: object  # QuantizedModel


@functools.cache
def build_tiny(root: Path) -> Tiny:
    """Float checkpoint → QAT directory for ``efficientecg_tiny`` on real beats (cached per run)."""
    from edge_ecg.train.config import TrainConfig
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.trainer import fit

    torch.manual_seed(0)
    cfg = TrainConfig(train_records=TINY_RECORDS, max_train=1200, epochs=2, model="efficientecg_tiny",
                      batch_size=64, lr=1e-2, progress=False, num_threads=1, seed=0)
    task = strip_side(build_task(cfg))
    ckpt, qat = root / "float", root / "qat"
    fit(cfg, ckpt, task=task, command="pytest tiny float")
    qm = quantize_checkpoint(ckpt, qat, QuantConfig(method="qat", epochs=1, batch_size=64, lr=1e-3, num_threads=1,
                                                    progress=False), task=task, command="pytest tiny qat",
                             write_pt2=False)
    return Tiny(root, ckpt, qat, task, qm)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir) -> Tiny:
    return build_tiny(tmp_path_factory.getbasetemp() / "tiny_pipeline")


def val_windows(task, n: int = 256):
    from edge_ecg.train.torch_data import WindowDataset

    ds = WindowDataset(task.val, task.input_spec, task.margin, train=False)
    x, _, y = ds.batch(np.arange(min(n, len(ds))))
    return x, y


# ---- synthetic graphs (no data) ---------------------------------------------------------------------
class ConvBnNet(nn.Module):
    """conv → BN → ReLU6, SiLU block with bias, SE-style gate, residual add, linear head."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, (1, 5), padding=(0, 2), bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()
        self.c2 = nn.Conv2d(8, 8, (1, 3), padding=(0, 1), bias=True)
        self.head = nn.Linear(8, 3)
        self.in_leads, self.side_dim, self.default_input_shape = 1, 0, (1, 64)
        self.conv2d_layout = True

    def forward(self, x, side=None):
        h = self.act(self.bn1(self.c1(x.unsqueeze(2))))
        g = self.c2(h)
        g = g * torch.sigmoid(g)
        h = h + g * torch.sigmoid(g.mean(-1, keepdim=True))
        return self.head(h.mean(-1).flatten(1))


def _ptq_small(seed: int = 0):
    torch.manual_seed(seed)
    net = ConvBnNet().eval()
    with torch.no_grad():  # non-trivial BN statistics
        net.bn1.running_mean.uniform_(-0.5, 0.5)
        net.bn1.running_var.uniform_(0.5, 2.0)
    spec = G.GraphSpec(in_leads=1, length=64, side_dim=0, layout="conv1d")
    prepared = G.prepare(net, spec, QuantScheme(qat=False, calibration="minmax"))
    x = torch.randn(64, 1, 64)
    with torch.no_grad():
        prepared(x)
    G.freeze(prepared)
    return net, spec, prepared, x


def test_quant_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="method"):
        QuantConfig(method="fx")
    with pytest.raises(ConfigError, match="epochs"):
        QuantConfig(epochs=0)
    with pytest.raises(ConfigError, match="lr"):
        QuantConfig(lr=0)
    with pytest.raises(ConfigError, match="layout"):
        QuantConfig(layout="nhwc")
    with pytest.raises(ConfigError, match="calibration"):
        QuantConfig(calibration="percentile")
    with pytest.raises(ConfigError, match="unknown quantization config key"):
        QuantConfig.from_dict({"epoch": 3})
    assert QuantConfig.from_dict(QuantConfig(train_records=("101",)).to_dict()) == QuantConfig(train_records=("101",))
    assert QuantConfig(epochs=3).resolved_freeze_epochs() == (2, 2)
    assert QuantConfig(epochs=1).resolved_freeze_epochs() == (None, None)


def test_quantizer_annotations():
    """conv→BN→ReLU6 is one unit (one output quantizer, after the clamp); sigmoid outputs sit on
    the fixed 1/256 grid; every weight is per-channel symmetric within [-127, 127]."""
    _, _, prepared, _ = _ptq_small()
    converted = G.convert(prepared, "onnx")
    qd = torch.ops.quantized_decomposed
    nodes = list(converted.graph.nodes)
    conv = next(n for n in nodes if n.target is torch.ops.aten.conv2d.default)
    # BN folded: the first conv feeds the clamp directly, and only the clamp's output is quantized
    users = list(conv.users)
    assert [u.target for u in users] == [torch.ops.aten.hardtanh.default]
    assert [u.target for u in users[0].users] == [qd.quantize_per_tensor.default]
    for n in nodes:
        if n.target is torch.ops.aten.sigmoid.default:
            q = next(iter(n.users))
            assert q.target is qd.quantize_per_tensor.default
            assert q.args[1] == pytest.approx(UNIT_SCALE) and q.args[2] == UNIT_ZERO_POINT
        if n.target is qd.dequantize_per_channel.default and n.args[-1] is torch.int8:
            assert (n.args[4], n.args[5]) == (-127, 127)
            assert torch.all(getattr(converted, n.args[2].target) == 0)  # symmetric: zero-point 0
    # no float op is left between two quantized tensors except the intended clamp
    float_ops = {n.target for n in nodes if n.op == "call_function" and "quantize" not in str(n.target)}
    assert torch.ops.aten.batch_norm.default not in float_ops


def test_bias_pass_puts_biases_on_the_int32_grid():
    net, spec, prepared, x = _ptq_small()
    onnx_form = G.convert(prepared, "onnx")
    tflite_form = G.convert(prepared, "tflite")
    with torch.no_grad():
        a, b = onnx_form(x), tflite_form(x)
    assert torch.equal(a, b)
    qd = torch.ops.quantized_decomposed
    int32_dq = [n for n in onnx_form.graph.nodes
                if n.target is qd.dequantize_per_channel.default and n.args[-1] is torch.int32]
    assert len(int32_dq) == 3  # folded conv+BN, the biased conv, the linear
    for n in int32_dq:
        q = getattr(onnx_form, n.args[0].target)
        assert q.dtype == torch.int32
        conv = next(iter(n.users))
        x_scale = conv.args[0].args[1]
        w_scale = getattr(onnx_form, conv.args[1].args[1].target)
        assert torch.allclose(getattr(onnx_form, n.args[1].target), (x_scale * w_scale.double()).float())
    with torch.no_grad():  # and the reference stays close to the float model
        ref = net(x)
    assert (a - ref).abs().max() < 0.1 * ref.abs().max() + 0.05


def test_eval_switch_and_rebuild_are_exact(tiny):
    """After freeze the graph uses BN running statistics (a window's logits do not depend on the
    rest of the batch), and the saved state rebuilds the same graph bit for bit."""
    x, _ = val_windows(tiny.task, 64)
    batch = tiny.qm.fake_quant(x)
    one = torch.cat([tiny.qm.fake_quant(x[i:i + 1]) for i in range(8)])
    assert torch.allclose(batch[:8], one, atol=1e-6)
    rebuilt = load_quantized(tiny.qat)
    assert torch.equal(rebuilt.fake_quant(x), batch)
    with torch.no_grad():
        assert torch.equal(rebuilt.converted("onnx")(x), tiny.qm.converted("onnx")(x))
    assert rebuilt.config["state_sha256"] == tiny.qm.config["state_sha256"]


def test_fake_quant_and_converted_agree_on_real_beats(tiny):
    x, _ = val_windows(tiny.task, 256)
    fq = tiny.qm.fake_quant(x)
    with torch.no_grad():
        conv = tiny.qm.converted("torch")(x)
    out_scale = G.io_qparams(tiny.qm.converted("torch"))["logits"]["scale"]
    assert (fq.argmax(1) == conv.argmax(1)).float().mean() >= 0.99
    # BN folding changes float rounding, so a few output quanta at most
    assert (fq - conv).abs().max() <= 4 * out_scale + 1e-6


def test_qat_run_records_what_it_did(tiny):
    cfg = json.loads((tiny.qat / "quant.json").read_text())
    assert cfg["method"] == "qat" and cfg["graph_spec"]["layout"] == "conv2d"
    assert cfg["checkpoint"]["model_name"] == "efficientecg_tiny"
    assert cfg["val"]["top1_agreement_with_float"] >= 0.9
    assert len(cfg["history"]) == 1 and cfg["source_weights_sha256"]
    # quant_state is plain safetensors: loadable without torch's unpickler
    from safetensors.numpy import load_file

    state = load_file(str(tiny.qat / "quant_state.safetensors"))
    assert any("activation_post_process" in k for k in state)


def test_tampered_quant_state_is_refused(tiny, tmp_path):
    d = tmp_path / "qat"
    shutil.copytree(tiny.qat, d)
    blob = bytearray((d / "quant_state.safetensors").read_bytes())
    blob[-1] ^= 0x01
    (d / "quant_state.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError):
        load_quantized(d)
    (d / "quant_state.safetensors").write_bytes(b"\x80\x04pickle")  # not safetensors
    with pytest.raises(CheckpointError, match="safetensors"):
        load_quantized(d)
    with pytest.raises(CheckpointError, match="quant.json"):
        load_quantized(tmp_path / "nowhere")
    # a hand-edited method would travel into every manifest made from the graph
    shutil.copytree(tiny.qat, tmp_path / "edited")
    qj = tmp_path / "edited" / "quant.json"
    qj.write_text(qj.read_text().replace(f'"method": "{json.loads(qj.read_text())["method"]}"', '"method": "zzz"'))
    with pytest.raises(CheckpointError, match=r"method 'zzz', expected one of \('qat', 'ptq'\)"):
        load_quantized(tmp_path / "edited")


def test_quantized_dir_pairs_only_with_its_checkpoint(tiny, tmp_path):
    from edge_ecg.quant.qat import check_same_checkpoint
    from edge_ecg.train.checkpoint import read_config

    other = tmp_path / "other"
    shutil.copytree(tiny.ckpt, other)
    blob = bytearray((other / "model.safetensors").read_bytes())
    blob[-1] ^= 0x01
    (other / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(ConfigError, match="SHA-256"):
        check_same_checkpoint(tiny.qm.config, other, read_config(other))
    check_same_checkpoint(tiny.qm.config, tiny.ckpt, read_config(tiny.ckpt))


def test_ptq_calibration_on_the_same_quantizer(tiny, tmp_path):
    qm = quantize_checkpoint(tiny.ckpt, tmp_path / "ptq", QuantConfig(method="ptq", calibration="histogram",
                                                                      calibration_windows=512, progress=False),
                             task=tiny.task, write_pt2=False)
    x, _ = val_windows(tiny.task, 256)
    from edge_ecg.train.checkpoint import load_checkpoint

    model, _ = load_checkpoint(tiny.ckpt)
    with torch.no_grad():
        ref = model(x)
    assert qm.method == "ptq"
    assert (qm.fake_quant(x).argmax(1) == ref.argmax(1)).float().mean() >= 0.95
    # reloaded, its simulation is the int8 reference graph, and evaluating it moves no range
    loaded = load_quantized(tmp_path / "ptq")
    first = loaded.fake_quant(x)
    torch.testing.assert_close(first, loaded.converted("torch")(x), rtol=0, atol=0)
    torch.testing.assert_close(loaded.fake_quant(x), first, rtol=0, atol=0)


def test_qat_cli_arguments():
    import argparse

    from edge_ecg.quant import cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["--checkpoint", "c", "--out", "o", "--epochs", "2", "--train-records", "101,119",
                         "--method", "ptq", "--no-attention-quant", "--quiet"])
    cfg = cli.config_from_args(args)
    assert cfg == QuantConfig(method="ptq", epochs=2, train_records=("101", "119"), quantize_attention=False,
                              progress=False)
