"""The model manifest: everything the runtime needs to turn raw device samples into model input.

A manifest is the seam between the workstation half (train, quantize, export) and the device half
(runtime). It travels as ``model.json`` beside the model files and is embedded in each ONNX file's
``metadata_props`` (key :data:`ONNX_METADATA_KEY`, without the ``files`` table, which describes the
files themselves). One manifest may describe several files of the same network (the int8 ONNX and
the int8 TFLite builds), each with its SHA-256, so that the runtime can refuse a file that was
altered after export.

This module is torch-free and TensorFlow-free: the runtime imports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ecg.errors import ChecksumError, ConfigError, ManifestError
from edge_ecg.signal.filters import FilterSpec
from edge_ecg.typed import check_field_types, known_fields_only

SCHEMA_VERSION = 1
MANIFEST_NAME = "model.json"
ONNX_METADATA_KEY = "edge_ecg.manifest"
INPUT_KINDS = ("beat", "window")


@dataclass(frozen=True)
class BeatInput:
    """A window cut around each detected R peak: ``before_s`` before it, ``after_s`` after.
    ``template_beats`` > 0: each lead's window comes with the median of that lead's previous
    ``template_beats`` windows (:mod:`edge_ecg.signal.template`) as an extra channel, after all
    the leads. ``polarity_beats`` > 0: each lead's window is flipped when the median value at R
    of its last ``polarity_beats`` beats is negative (:class:`edge_ecg.signal.template.Polarity`),
    before any template is taken."""

    before_s: float
    after_s: float
    template_beats: int = 0
    polarity_beats: int = 0

    def __post_init__(self):
        check_field_types(self, "input.beat.", ManifestError)
        for name in ("template_beats", "polarity_beats"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ManifestError(f"input.beat.{name} must be an int >= 0, got {v!r}")


@dataclass(frozen=True)
class WindowInput:
    """Fixed windows of ``length_s`` every ``hop_s``."""

    length_s: float
    hop_s: float

    def __post_init__(self):
        check_field_types(self, "input.window.", ManifestError)


@dataclass(frozen=True)
class InputSpec:
    """What the model consumes. ``length`` is the window length in samples at ``fs_hz``."""

    kind: str
    fs_hz: float
    leads: tuple[str, ...]
    length: int
    filter: FilterSpec = FilterSpec()
    norm: str = "zscore"
    beat: BeatInput | None = None
    window: WindowInput | None = None
    side_groups: tuple[str, ...] = ()  # SideSpec groups of the side tensor (empty: none)
    rr: dict[str, Any] | None = None  # RRConfig fields when the side input holds RR features
    ecg_tensor: str = "ecg"
    side_tensor: str | None = None

    def __post_init__(self):
        check_field_types(self, "input.", ManifestError)

    @property
    def template_beats(self) -> int:
        return self.beat.template_beats if self.kind == "beat" and self.beat is not None else 0

    @property
    def polarity_beats(self) -> int:
        return self.beat.polarity_beats if self.kind == "beat" and self.beat is not None else 0

    @property
    def channels(self) -> int:
        """Channels of the ECG tensor: the leads, then one template per lead when the beat
        input carries templates."""
        return len(self.leads) * (2 if self.template_beats else 1)


@dataclass(frozen=True)
class FileEntry:
    """One model file described by the manifest."""

    format: str  # "onnx" | "tflite"
    precision: str  # "fp32" | "int8"
    sha256: str
    size_bytes: int
    io_dtype: str = "float32"  # dtype of the ecg input/logit output tensors

    def __post_init__(self):
        check_field_types(self, "files entry ", ManifestError)


@dataclass(frozen=True)
class Manifest:
    name: str
    task: str  # "beat_classification" | "rhythm_classification" | ...
    classes: tuple[str, ...]
    input: InputSpec
    multi_label: bool = False
    output: str = "logits"
    files: dict[str, FileEntry] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        check_field_types(self, "manifest ", ManifestError)
        if self.schema_version != SCHEMA_VERSION:
            raise ManifestError(
                f"manifest schema_version {self.schema_version!r} is not supported "
                f"(this edge-ecg reads version {SCHEMA_VERSION})"
            )
        if self.input.kind not in INPUT_KINDS:
            raise ManifestError(f"input.kind {self.input.kind!r}: expected one of {INPUT_KINDS}")
        if self.input.kind == "beat" and self.input.beat is None:
            raise ManifestError("input.kind is 'beat' but input.beat (before_s/after_s) is missing")
        if self.input.kind == "window" and self.input.window is None:
            raise ManifestError("input.kind is 'window' but input.window (length_s/hop_s) is missing")
        if not self.input.fs_hz > 0:
            raise ManifestError(f"input.fs_hz must be > 0, got {self.input.fs_hz!r}")
        if not self.input.leads:
            raise ManifestError("input.leads is empty: a model needs at least one lead")
        if not self.classes:
            raise ManifestError("classes is empty")

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self, *, with_files: bool = True) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not with_files:
            d.pop("files")
        return d

    def to_json(self, *, with_files: bool = True) -> str:
        return json.dumps(self.to_dict(with_files=with_files), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            d = dict(_only(d, cls, "manifest"))
            inp = dict(_only(d.pop("input"), InputSpec, "input"))
            inp["filter"] = FilterSpec.from_dict(inp.get("filter") or {})
            if inp.get("beat") is not None:
                inp["beat"] = BeatInput(**_only(inp["beat"], BeatInput, "input.beat"))
            if inp.get("window") is not None:
                inp["window"] = WindowInput(**_only(inp["window"], WindowInput, "input.window"))
            inp["leads"] = tuple(inp["leads"])
            inp["side_groups"] = tuple(inp.get("side_groups", ()))
            files = {
                k: FileEntry(**_only(v, FileEntry, f"files.{k}")) for k, v in (d.pop("files", None) or {}).items()
            }
            return cls(input=InputSpec(**inp), files=files, **{**d, "classes": tuple(d["classes"])})
        except ManifestError:
            raise
        except ConfigError as exc:
            raise ManifestError(f"manifest has an illegal value: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}") from exc

    def with_file(self, filename: str, entry: FileEntry) -> Manifest:
        return dataclasses.replace(self, files={**self.files, filename: entry})


def _only(d: Any, cls: type, where: str) -> dict[str, Any]:
    """``d`` if its keys are fields of ``cls`` and every field without a default is there."""
    d = known_fields_only(d, cls, where, ManifestError)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ManifestError(f"{where} lacks required key(s) {missing}")
    return d


def check_embedded(text: str, manifest: Manifest, filename: str) -> None:
    """Refuse a pair whose embedded manifest (the JSON ``text`` stored in model file
    ``filename``) differs from ``manifest`` (its ``model.json``), ``files`` aside. The file's
    SHA-256 covers the embedded copy, so this is what catches a hand-edited ``model.json``."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{filename}: embedded manifest is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{filename}: embedded manifest is not a JSON object")
    # compared as parsed, defaults filled in: a field added to the schema after the file was
    # exported (at its default) is no mismatch
    embedded = json.loads(Manifest.from_dict(raw).to_json(with_files=False))
    mine = json.loads(manifest.to_json(with_files=False))
    if embedded != mine:
        diff = sorted(k for k in set(embedded) | set(mine) if embedded.get(k) != mine.get(k))
        raise ManifestError(
            f"the manifest embedded in {filename} differs from its model.json (keys {diff}): model.json was "
            "edited or belongs to another export; refusing a mismatched pair"
        )


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_entry(path: str | Path, *, format: str, precision: str, io_dtype: str = "float32") -> FileEntry:
    p = Path(path)
    return FileEntry(format=format, precision=precision, sha256=sha256_file(p), size_bytes=p.stat().st_size, io_dtype=io_dtype)


def manifest_path_for(model_path: str | Path) -> Path:
    """``model.json`` beside the model file (or inside it, when given a directory)."""
    p = Path(model_path)
    return p / MANIFEST_NAME if p.is_dir() else p.with_name(MANIFEST_NAME)


def load_manifest(model_path: str | Path) -> Manifest:
    path = manifest_path_for(model_path)
    if not path.is_file():
        raise ManifestError(f"no manifest {path} beside model {model_path}: export writes one")
    return Manifest.from_json(path.read_text())


def save_manifest(manifest: Manifest, directory: str | Path) -> Path:
    path = Path(directory) / MANIFEST_NAME
    path.write_text(manifest.to_json() + "\n")
    return path


def verify_file(model_path: str | Path, manifest: Manifest) -> FileEntry:
    """Check the file is listed in the manifest and its bytes hash to the recorded SHA-256."""
    p = Path(model_path)
    if not p.is_file():
        raise ManifestError(f"model file {p} does not exist")
    entry = manifest.files.get(p.name)
    if entry is None:
        raise ManifestError(f"model file {p.name!r} is not listed in its manifest (lists {sorted(manifest.files)})")
    actual = sha256_file(p)
    if actual != entry.sha256:
        raise ChecksumError(
            f"SHA-256 of {p} is {actual}, manifest says {entry.sha256}: the file was altered "
            "or corrupted after export; refusing to load it"
        )
    return entry
