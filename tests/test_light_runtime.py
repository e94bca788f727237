"""The on-device side must install and run without torch, TensorFlow or wfdb."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNTIME_MODULES = (
    "edge_ecg", "edge_ecg.cli", "edge_ecg.errors",
    "edge_ecg.signal", "edge_ecg.signal.filters", "edge_ecg.signal.resample", "edge_ecg.signal.normalize",
    "edge_ecg.signal.quality", "edge_ecg.signal.qrs", "edge_ecg.signal.rr", "edge_ecg.signal.windows",
    "edge_ecg.data", "edge_ecg.data.records", "edge_ecg.data.labels", "edge_ecg.data.leads",
    "edge_ecg.data.mitdb", "edge_ecg.data.cinc", "edge_ecg.data.cli",
    "edge_ecg.protocol", "edge_ecg.protocol.golden", "edge_ecg.protocol.gen_c_header",
    "edge_ecg.sim", "edge_ecg.sim.cli", "edge_ecg.sim.truth",
    "edge_ecg.runtime.sources", "edge_ecg.runtime.backends", "edge_ecg.runtime.classifier",
    "edge_ecg.runtime.stream", "edge_ecg.runtime.session", "edge_ecg.runtime.sinks",
    "edge_ecg.runtime.stream_cli", "edge_ecg.runtime.demo", "edge_ecg.runtime.preprocess",
    "edge_ecg.models.side", "edge_ecg.deploy.manifest", "edge_ecg.bench.ec57", "edge_ecg.train.metrics",
)  # fmt: skip


def test_runtime_side_imports_without_torch_tensorflow_or_wfdb():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'tensorflow', 'wfdb', 'torchao', 'onnx', 'litert_torch'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for m in {RUNTIME_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "from edge_ecg.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
