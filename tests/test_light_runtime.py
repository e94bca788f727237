"""The on-device side must install and run without torch, TensorFlow or wfdb."""

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_wheel_carries_the_bundled_models_demo_record_and_export_recipes(tmp_path):
    """An installed wheel has no checkout: everything the commands read must be inside it."""
    import zipfile

    from edge_ecg.deploy.recipes import list_recipes

    pytest.importorskip("hatchling")  # the build backend (dev extra): the wheel is built offline
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (wheel,) = tmp_path.glob("edge_ecg-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    for required in (
        "edge_ecg/assets/models/beat/model_int8.tflite",
        "edge_ecg/assets/models/beat/model_int8.onnx",
        "edge_ecg/assets/models/beat/model.json",
        "edge_ecg/assets/records/mitdb_200_excerpt.npz",
        "edge_ecg/assets/checkpoints/beat/model.safetensors",
    ):
        assert required in names, required
    for recipe in (ROOT / "export" / "recipes").glob("*.json"):
        assert (tmp_path / "site" / "edge_ecg" / "assets" / "recipes" / recipe.name).read_bytes() == recipe.read_bytes()

    # Imported from the unpacked wheel (no checkout around it), the recipes resolve to the packaged copy.
    code = (
        "from edge_ecg.deploy.recipes import RECIPES_DIR, list_recipes, load_recipe\n"
        "print(RECIPES_DIR.relative_to(RECIPES_DIR.parents[2]).as_posix())\n"
        "print(','.join(list_recipes()))\n"
        "print(load_recipe('rpi-tflite-int8').name)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path / "site",
                         env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""}, timeout=120)
    assert res.returncode == 0, res.stderr
    where, names_line, loaded = res.stdout.split()
    assert where == "edge_ecg/assets/recipes"
    assert names_line.split(",") == list_recipes() and loaded == "rpi-tflite-int8"
