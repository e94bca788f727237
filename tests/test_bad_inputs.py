"""Bad input, one table: every case raises a specific ``EdgeECGError`` subclass, raised by
edge-ecg's own code (not a numpy/onnxruntime/wfdb exception leaking from deep inside; theirs may
be chained as ``__cause__``), with a message that names the problem.

Model cases work on a copy of the bundled model (``default_model_path('onnxruntime')``) in
``tmp_path``; record cases on a copy of MIT-BIH record 100; nothing is written into the package
or the shared data. Then the same from the command line, and the safe-loading guarantees: no
pickle is ever unpickled, and a model's checksum is verified before any runtime parses it.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge_ecg import errors as E

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_ecg"


@dataclass
class Ctx:
    tmp: Path
    data_dir: Path

    # -- a private copy of the bundled model -------------------------------------------------
    def model(self, backend: str = "onnxruntime") -> Path:
        from edge_ecg.errors import ManifestError
        from edge_ecg.runtime.classifier import default_model_path

        try:
            src = Path(default_model_path(backend))
        except ManifestError:
            pytest.skip(f"no bundled {backend} model")
        d = self.tmp / "model"
        shutil.copytree(src.parent, d)
        return d / src.name

    @staticmethod
    def edit_manifest(model: Path, edit) -> None:
        path = model.with_name("model.json")
        m = json.loads(path.read_text())
        edit(m)
        path.write_text(json.dumps(m, indent=2))

    @classmethod
    def rehash(cls, model: Path) -> None:
        """Record the file's current SHA-256 and size, so the checksum passes."""
        from edge_ecg.deploy.manifest import sha256_file

        def edit(m):
            m["files"][model.name].update(
                sha256=sha256_file(model), size_bytes=model.stat().st_size
            )

        cls.edit_manifest(model, edit)

    # -- a private copy of a real record -------------------------------------------------------
    def record(self, name: str = "100") -> Path:
        d = self.tmp / "mitdb"
        d.mkdir(exist_ok=True)
        for ext in ("hea", "dat", "atr"):
            shutil.copyfile(self.data_dir / "mitdb" / f"{name}.{ext}", d / f"{name}.{ext}")
        return d / name


def _classifier(model):
    from edge_ecg.runtime.classifier import Classifier

    backend = "tflite" if model.suffix == ".tflite" else "onnxruntime"
    return Classifier(model, backend=backend)


def _stream(**device):
    from edge_ecg.runtime.classifier import Classifier, default_model_path
    from edge_ecg.runtime.stream import StreamClassifier

    clf = Classifier(default_model_path("onnxruntime"))
    return StreamClassifier(
        clf, **{"fs_hz": 360.0, "lead_names": ("MLII", "V1"), "uv_per_count": 5.0, **device}
    )


# --- the cases ------------------------------------------------------------------------------------


def truncated_model(c: Ctx):
    m = c.model()
    m.write_bytes(m.read_bytes()[: m.stat().st_size // 2])
    _classifier(m)


def truncated_model_rehashed(c: Ctx, backend: str = "onnxruntime"):
    m = c.model(backend)
    m.write_bytes(m.read_bytes()[: m.stat().st_size // 2])
    c.rehash(m)
    _classifier(m)


def corrupted_model_rehashed(c: Ctx, backend: str = "onnxruntime"):
    m = c.model(backend)
    data = bytearray(m.read_bytes())
    data[::97] = bytes(b ^ 0x5A for b in data[::97])  # bytes flipped throughout, structure included
    m.write_bytes(bytes(data))
    c.rehash(m)
    _classifier(m)


def _tflite(case):
    def run(c: Ctx):
        from edge_ecg.runtime.backends import load_tflite_interpreter_class

        try:
            load_tflite_interpreter_class()
        except ImportError:
            pytest.skip("no TFLite interpreter installed")
        case(c, "tflite")

    return run


def model_without_manifest(c: Ctx):
    m = c.model()
    m.with_name("model.json").unlink()
    _classifier(m)


def _manifest_case(edit, *, embedded: bool = False):
    """``model.json`` edited by ``edit``. ``embedded=False``: the ONNX file's embedded copy is
    removed first (a file from another exporter), so that the check behind it is reached."""

    def case(c: Ctx):
        m = c.model()
        if not embedded:
            import onnx

            proto = onnx.load(str(m))
            del proto.metadata_props[:]
            onnx.save(proto, str(m))
            c.rehash(m)
        c.edit_manifest(m, edit)
        _classifier(m)

    return case


def checksum_mismatch(c: Ctx):
    m = c.model()
    data = bytearray(m.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the weights: a loader would not notice
    m.write_bytes(bytes(data))
    _classifier(m)


def model_not_in_manifest(c: Ctx):
    m = c.model()
    _classifier(m.rename(m.with_name("renamed.onnx")))


def session_device_without_the_lead(c: Ctx):
    from edge_ecg.protocol import Descriptor
    from edge_ecg.runtime.classifier import Classifier, default_model_path
    from edge_ecg.runtime.session import StreamSession

    session = StreamSession(Classifier(default_model_path("onnxruntime")))
    session.handle(Descriptor(360.0, ("V1", "V5"), [5.0, 5.0], [1024, 1024]))


def session_age_out_of_range(c: Ctx):
    from edge_ecg.runtime.classifier import Classifier, default_model_path
    from edge_ecg.runtime.session import StreamSession

    StreamSession(Classifier(default_model_path("onnxruntime")), age=-5.0)


def nan_samples(c: Ctx):
    counts = np.full((36, 2), 1024.0)
    counts[5, 0] = np.nan
    _stream().push(0, counts)


def inf_model_input(c: Ctx):
    from edge_ecg.runtime.classifier import Classifier, default_model_path

    clf = Classifier(default_model_path("onnxruntime"))
    spec = clf.manifest.input
    x = np.zeros((1, len(spec.leads), spec.length), np.float32)
    x[0, 0, 3] = np.inf
    clf.predict(x, np.zeros((1, clf.side_dim), np.float32))


def wfdb_bad_format(c: Ctx):
    from edge_ecg.data.records import read_record

    rec = c.record()
    hea = rec.with_suffix(".hea")
    hea.write_text(hea.read_text().replace("100.dat 212 ", "100.dat 123 ", 1))
    read_record(rec)


def wfdb_short_dat(c: Ctx):
    from edge_ecg.data.records import read_record

    rec = c.record()
    dat = rec.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:100_000])
    read_record(rec)


def unknown_label_code(c: Ctx):
    import wfdb

    from edge_ecg.data.mitdb import load_beats

    rec = c.record()
    ann = wfdb.rdann(str(rec), "atr")
    symbols = list(ann.symbol)
    symbols[symbols.index("N")] = "Z"  # a database's own code, defined in the annotation file
    wfdb.wrann(rec.name, "atr", np.asarray(ann.sample), symbols, fs=360, write_dir=str(rec.parent),
               custom_labels=[(42, "Z", "a custom beat type")])
    load_beats([rec.name], rec.parent)


def port_not_found(c: Ctx):
    from edge_ecg.runtime.sources import SerialSource

    SerialSource("/dev/does-not-exist")


def port_busy(c: Ctx):
    from edge_ecg.runtime.sources import open_serial

    master, slave = os.openpty()
    path = os.ttyname(slave)
    first = open_serial(path, exclusive=True)
    try:
        open_serial(path, exclusive=True)
    finally:
        first.close()
        os.close(slave)
        os.close(master)


def train_config_unknown_key(c: Ctx):
    from edge_ecg.train.config import TrainConfig

    TrainConfig.from_dict({"epochs": 3, "learning_rate": 1e-3})


def _set(path: str, value):
    def edit(m):
        *parents, key = path.split(".")
        for p in parents:
            m = m[p]
        m[key] = value

    return edit


CASES = [
    # (id, case, raised type, the message must match)
    (
        "truncated model",
        truncated_model,
        E.ChecksumError,
        r"SHA-256 of .* manifest says .*refusing",
    ),
    (
        "truncated model, re-hashed",
        truncated_model_rehashed,
        E.ModelError,
        r"onnxruntime cannot load .*model.*\.onnx.*INVALID_PROTOBUF",
    ),
    (
        "corrupted model, re-hashed",
        corrupted_model_rehashed,
        E.ModelError,
        r"onnxruntime cannot load .*model.*\.onnx",
    ),
    (
        "truncated TFLite model, re-hashed",
        _tflite(truncated_model_rehashed),
        E.ModelError,
        r"the TFLite interpreter cannot load .*\.tflite: The model is not a valid Flatbuffer",
    ),
    (
        "corrupted TFLite model, re-hashed",
        _tflite(corrupted_model_rehashed),
        E.ModelError,
        r"the TFLite interpreter cannot load .*\.tflite",
    ),
    (
        "model without its manifest",
        model_without_manifest,
        E.ManifestError,
        r"no manifest .*model\.json beside model",
    ),
    (
        "manifest: model.json edited, the embedded copy says otherwise",
        _manifest_case(_set("input.fs_hz", 250.0), embedded=True),
        E.ManifestError,
        r"manifest embedded in model_int8\.onnx differs from its model\.json \(keys \['input'\]\)",
    ),
    (
        "manifest: wrong window length",
        _manifest_case(_set("input.length", 300)),
        E.ManifestError,
        r"has shape .* manifest says \(batch, 1 channels, 300 samples\)",
    ),
    (
        "manifest: wrong leads",
        _manifest_case(_set("input.leads", ["MLII", "V1"])),
        E.ManifestError,
        r"manifest says \(batch, 2 channels, 252 samples\)",
    ),
    (
        "manifest: wrong class count",
        _manifest_case(_set("classes", ["N", "S", "V", "F", "Q"])),
        E.ManifestError,
        r"has 4 classes, manifest lists 5",
    ),
    (
        "manifest: unknown key",
        _manifest_case(_set("input.threshold", 0.5)),
        E.ManifestError,
        r"input has unknown key\(s\) \['threshold'\]",
    ),
    (
        "manifest: missing field",
        _manifest_case(lambda m: m["input"].pop("fs_hz")),
        E.ManifestError,
        r"input lacks required key\(s\) \['fs_hz'\]",
    ),
    (
        "checksum mismatch",
        checksum_mismatch,
        E.ChecksumError,
        r"SHA-256 of .*model.*\.onnx is [0-9a-f]{64}, manifest says [0-9a-f]{64}: the file was altered",
    ),
    (
        "model file not in its manifest",
        model_not_in_manifest,
        E.ManifestError,
        r"'renamed\.onnx' is not listed in its manifest",
    ),
    (
        "device rate too low",
        lambda c: _stream(fs_hz=60.0),
        E.DeviceMismatchError,
        r"device sampling rate 60\.0 Hz is too low for a model trained at 360\.0 Hz with a 40\.0 Hz band \(need >= 80\.0 Hz\)",
    ),
    (
        "device rate not a number",
        lambda c: _stream(fs_hz=float("nan")),
        E.DeviceMismatchError,
        r"device sampling rate nan Hz is not usable",
    ),
    (
        "device without the model's lead",
        lambda c: _stream(lead_names=("V1", "V5")),
        E.DeviceMismatchError,
        r"cannot feed the model: lead 'MLII' not found nor derivable \(needs two of I, II, III\); available leads: \['V1', 'V5'\]",
    ),
    (
        "descriptor without the model's lead",
        session_device_without_the_lead,
        E.DeviceMismatchError,
        r"lead 'MLII' not found",
    ),
    (
        "patient age out of range, before any data",
        session_age_out_of_range,
        E.ConfigError,
        r"age -5 years is outside \[0, 130\]",
    ),
    ("NaN samples", nan_samples, E.SignalError, r"NaN or inf"),
    ("inf model input", inf_model_input, E.SignalError, r"input holds NaN or inf"),
    (
        "WFDB header: bad format field",
        wfdb_bad_format,
        E.RecordError,
        r"100\.hea: signal 0 \('MLII'\) has an unknown storage format '123'",
    ),
    (
        "WFDB .dat shorter than declared",
        wfdb_short_dat,
        E.RecordError,
        r"100\.dat: signal file is truncated: 100000 bytes, but header 100\.hea declares 650000 samples",
    ),
    (
        "unknown label code",
        unknown_label_code,
        E.LabelError,
        r"record 100: annotation symbol 'Z' is neither an AAMI-mapped beat",
    ),
    (
        "serial port does not exist",
        port_not_found,
        E.PortNotFoundError,
        r"serial port '/dev/does-not-exist' does not exist",
    ),
    ("serial port busy", port_busy, E.PortBusyError, r"serial port '/dev/pts/\d+' is busy"),
    (
        "train config: unknown key",
        train_config_unknown_key,
        E.ConfigError,
        r"training config has unknown key\(s\) \['learning_rate'\]",
    ),
]


@pytest.mark.parametrize("case, raised, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_our_error_naming_the_problem(case, raised, message, tmp_path, data_dir):
    with pytest.raises(E.EdgeECGError) as info:
        case(Ctx(tmp_path, data_dir))
    exc = info.value
    assert type(exc) is raised, f"{type(exc).__name__}: {exc}"
    assert re.search(message, str(exc)), str(exc)
    # raised by edge-ecg itself: the innermost frame is ours (a library's error is only a cause)
    where = Path(traceback.extract_tb(exc.__traceback__)[-1].filename).resolve()
    assert PACKAGE in where.parents, where
    assert "\n" not in str(exc)  # one line, for a CLI's `error:` message


def test_cli_missing_port_is_one_error_line_and_exit_2():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_ecg.cli",
            "stream",
            "--port",
            "/dev/does-not-exist",
            "--quiet",
            "--backend",
            "onnxruntime",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(
        r"edge-ecg stream: error: serial port '/dev/does-not-exist' does not exist .*", lines[0]
    )
    assert "Traceback" not in proc.stderr and proc.stdout == ""


# --- safe loading ---------------------------------------------------------------------------------


class _Payload:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_malicious_pickle_checkpoint_is_refused_and_never_run(tmp_path):
    from edge_ecg.train.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint

    # the payload is live: unpickling it does create its marker
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()

    marker = tmp_path / "pwned"
    for k, write in enumerate((_write_raw_pickle, _write_torch_save)):
        ckpt = tmp_path / f"ckpt{k}"
        ckpt.mkdir()
        write(ckpt / WEIGHTS_NAME, _Payload(marker))
        (ckpt / CONFIG_NAME).write_text(
            json.dumps({"model_name": "efficientecg_beat_test", "model_kwargs": {}})
        )
        with pytest.raises(E.CheckpointError, match=r"not a safetensors file.*never unpickles"):
            load_checkpoint(ckpt)
        assert not marker.exists(), "loading the checkpoint ran the pickle's code"


def _write_raw_pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps({"stem.weight": obj}))


def _write_torch_save(path: Path, obj) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"stem.weight": obj, "real": torch.zeros(3)}, path)


UNPICKLERS = re.compile(
    r"(^|\.)(c?pickle|_pickle|dill|joblib|cloudpickle)\.(load|loads|Unpickler)$"
)


def unpickling_calls(source: str) -> list[str]:
    """Lines of ``source`` that unpickle: ``pickle.load``/``loads``/``Unpickler`` (and look-alikes,
    also imported by name), ``torch.load`` without ``weights_only=True``, ``np.load`` with
    ``allow_pickle`` set. AST first, then plain text for spellings the AST walk would miss."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in (
            "pickle",
            "_pickle",
            "dill",
            "cloudpickle",
            "joblib",
        ):
            if any(a.name in ("load", "loads", "Unpickler") for a in node.names):
                found.append(f"{node.lineno}: from {node.module} import load")
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kw = {k.arg: k.value for k in node.keywords}
        if UNPICKLERS.search(name):
            found.append(f"{node.lineno}: {name}(")
        elif name == "torch.load" or name.endswith(".torch.load"):
            w = kw.get("weights_only")
            if not (isinstance(w, ast.Constant) and w.value is True):
                found.append(f"{node.lineno}: torch.load( without weights_only=True")
        elif re.search(r"(^|\.)(np|numpy)\.load$", name):
            a = kw.get("allow_pickle")
            if a is not None and not (isinstance(a, ast.Constant) and a.value is False):
                found.append(f"{node.lineno}: np.load(allow_pickle=...)")
    for i, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        m = re.search(r"\btorch\.load\((.*)", code)
        if re.search(r"\bpickle\.loads?\(|\bUnpickler\(", code) or (
            m and "weights_only=True" not in m.group(1)
        ):
            found.append(f"{i}: {line.strip()}")
    return found


def test_the_unpickling_scan_finds_what_it_must():
    bad = (
        "import pickle, torch, numpy as np\n"
        "from pickle import loads\n"
        "a = pickle.load(f)\n"
        "b = torch.load(p)\n"
        "c = torch.load(p, weights_only=False)\n"
        "d = np.load(p, allow_pickle=True)\n"
    )
    assert [f.split(":")[0] for f in unpickling_calls(bad)] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "3",
        "4",
        "5",
    ]
    good = "import torch, numpy as np\nx = torch.load(p, weights_only=True)\ny = np.load(p)\n"
    assert unpickling_calls(good) == []


def test_no_module_unpickles():
    """No module of the package calls ``pickle.load``/``loads`` (or a look-alike), ``torch.load``
    without ``weights_only=True``, or ``np.load`` with pickles allowed."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    offences = [
        f"{p.relative_to(ROOT)}:{f}" for p in files for f in unpickling_calls(p.read_text())
    ]
    assert offences == []


def test_checksum_is_verified_before_any_runtime_parses_the_model(tmp_path, monkeypatch):
    import onnxruntime as ort

    from edge_ecg.runtime.classifier import Classifier

    calls = []
    real = ort.InferenceSession

    def recording(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    model = Ctx(tmp_path, tmp_path).model()
    Classifier(model, backend="onnxruntime")  # the recorder does see a load
    assert calls == [str(model)]
    calls.clear()
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(E.ChecksumError):
        Classifier(model, backend="onnxruntime")
    assert calls == []  # refused before onnxruntime saw a byte of it
