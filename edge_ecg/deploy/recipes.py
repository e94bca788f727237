"""Export recipes: what a deployment target needs, as small declarative JSON files in
``export/recipes/`` loaded into a frozen :class:`Recipe` (an unknown key is a
:class:`~edge_ecg.errors.ConfigError`, never silently ignored).

A recipe file::

    {
      "name": "rpi-tflite-int8",
      "description": "...",
      "formats": ["tflite"],          # files to write: "onnx", "tflite" (one manifest for all)
      "precision": "int8",            # "int8" (QAT/PTQ graph), "fp32", "dynamic-int8" (ORT)
      "io_dtype": "int8",             # TFLite input/output tensors: "int8" or "float32"
      "onnx_activations": "uint8",    # int8 ONNX activations: "uint8" (x86 fast path) or "int8"
      "threads": 1,                   # intra-op threads the target runs with (verify, bench)
      "runtime": "ai-edge-litert",    # what the device runs, for the model card
      "providers": ["cpu"],           # onnxruntime execution providers on the device
      "allow_float_ops": false,       # false: a float op in the int8 body is an error
      "with_fp32": false,             # also write the fp32 file(s) for comparison
      "opset": 21,
      "thresholds": {"min_top1_vs_float": 0.99, ...}   # see Thresholds
    }

:func:`export_target` builds a recipe from a checkpoint (and a QAT directory): the files, their
manifest (embedded in each file and mirrored as ``model.json``), the parity / op-check results
and a short Markdown model card.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ecg.errors import ConfigError
from edge_ecg.paths import ASSETS_DIR
from edge_ecg.typed import check_field_types, known_fields_only, read_json_object

# An installed wheel carries the recipes in the package's assets; a checkout (where they are
# never copied) reads its own ``export/recipes``.
_PACKAGED_RECIPES = ASSETS_DIR / "recipes"
RECIPES_DIR = _PACKAGED_RECIPES if _PACKAGED_RECIPES.is_dir() else Path(__file__).resolve().parents[2] / "export" / "recipes"
FORMATS = ("onnx", "tflite")
PRECISIONS = ("int8", "fp32", "dynamic-int8")
MODEL_CARD_NAME = "MODEL_CARD.md"
TASK_NAMES = {"mitdb_beats": "beat_classification", "cinc_12lead": "rhythm_classification"}


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits ``edge-ecg verify`` applies (``None``: not checked).

    ``min_top1_vs_float`` / ``min_top1_vs_fake_quant``: fraction of held-out windows on which
    the file's top-1 class equals the torch float / fake-quant model's.
    ``max_macro_f1_drop``: DS2 macro-F1 of the torch float model minus the file's.
    ``min_top1_vs_reference``: top-1 agreement with the torch int8 reference graph (the
    converted graph: the integers the file should hold).
    ``max_output_lsb_p999_vs_reference``: 99.9th percentile over windows of the largest logit
    difference to that reference, in quanta of the output grid (identical arithmetic gives 0;
    the runtimes' own requantisation rounding gives a quantum here and there, which the SE gates
    of a deep network can amplify on a few windows, hence a percentile, not the maximum).
    ``min_output_sqnr_db``: SQNR of the file's logits against the float model's.
    """

    min_top1_vs_float: float | None = 0.99
    min_top1_vs_fake_quant: float | None = 0.99
    max_macro_f1_drop: float | None = 0.01
    min_top1_vs_reference: float | None = 0.998
    max_output_lsb_p999_vs_reference: float | None = 4.0
    min_output_sqnr_db: float | None = None

    def __post_init__(self):
        for name in ("min_top1_vs_float", "min_top1_vs_fake_quant", "min_top1_vs_reference"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ConfigError(f"thresholds.{name} must be a fraction in [0, 1], got {v!r}")
        for name in ("max_macro_f1_drop", "max_output_lsb_p999_vs_reference"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"thresholds.{name} must be >= 0, got {v!r}")


@dataclass(frozen=True)
class Recipe:
    """One deployment target (see the module docstring for the file format)."""

    name: str
    description: str
    formats: tuple[str, ...]
    precision: str = "int8"
    io_dtype: str = "int8"
    onnx_activations: str = "uint8"
    threads: int = 1
    runtime: str = ""
    providers: tuple[str, ...] = ("cpu",)
    allow_float_ops: bool = True
    with_fp32: bool = False
    opset: int = 21
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self):
        if not self.name:
            raise ConfigError("recipe name is empty")
        object.__setattr__(self, "formats", tuple(self.formats))
        object.__setattr__(self, "providers", tuple(self.providers))
        check_field_types(self, f"recipe {self.name!r}: ")
        if not self.formats or any(f not in FORMATS for f in self.formats):
            raise ConfigError(f"recipe {self.name!r}: formats {list(self.formats)!r}: expected a non-empty subset of {FORMATS}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"recipe {self.name!r}: precision {self.precision!r}: expected one of {PRECISIONS}")
        if self.precision == "dynamic-int8" and self.formats != ("onnx",):
            raise ConfigError(f"recipe {self.name!r}: precision 'dynamic-int8' exists for ONNX only")
        if self.io_dtype not in ("int8", "float32"):
            raise ConfigError(f"recipe {self.name!r}: io_dtype {self.io_dtype!r}: expected 'int8' or 'float32'")
        if self.onnx_activations not in ("uint8", "int8"):
            raise ConfigError(f"recipe {self.name!r}: onnx_activations {self.onnx_activations!r}: expected 'uint8' or 'int8'")
        if self.threads < 1:
            raise ConfigError(f"recipe {self.name!r}: threads must be >= 1, got {self.threads!r}")
        if self.opset < 20:
            raise ConfigError(f"recipe {self.name!r}: opset {self.opset!r}: the QDQ export needs >= 20")
        if not isinstance(self.thresholds, Thresholds):
            raise ConfigError(f"recipe {self.name!r}: thresholds must be a Thresholds")

    def file_names(self) -> list[tuple[str, str]]:
        """``(format, precision)`` of every file the recipe writes, in order."""
        out = []
        for fmt in self.formats:
            if self.precision == "dynamic-int8":
                out += [(fmt, "fp32"), (fmt, "dynamic-int8")]
                continue
            out.append((fmt, self.precision))
            if self.with_fp32 and self.precision != "fp32":
                out.append((fmt, "fp32"))
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "recipe") -> Recipe:
        d = dict(known_fields_only(d, cls, where))
        th = known_fields_only(d.pop("thresholds", {}) or {}, Thresholds, f"{where}: thresholds")
        try:
            return cls(thresholds=Thresholds(**th), **d)
        except TypeError as exc:
            raise ConfigError(f"{where} is missing a field: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["formats"], d["providers"] = list(self.formats), list(self.providers)
        return d


def list_recipes(directory: str | Path = RECIPES_DIR) -> list[str]:
    """Names of the recipes in ``directory`` (default :data:`RECIPES_DIR`)."""
    d = Path(directory)
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def load_recipe(name_or_path: str | Path, directory: str | Path = RECIPES_DIR) -> Recipe:
    """A recipe by name (``<name>.json`` in :data:`RECIPES_DIR`) or by file path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = Path(directory) / f"{name_or_path}.json"
    if not p.is_file():
        raise ConfigError(f"no recipe {str(name_or_path)!r} (looked for {p}); known recipes: {list_recipes(directory)}")
    recipe = Recipe.from_dict(read_json_object(p, "recipe file"), where=f"recipe file {p}")
    if not Path(name_or_path).suffix and recipe.name != str(name_or_path):
        raise ConfigError(f"recipe file {p} names itself {recipe.name!r}, expected {str(name_or_path)!r}")
    return recipe


# ---- building a recipe ----------------------------------------------------------------------------
def file_name(fmt: str, precision: str) -> str:
    suffix = {"onnx": ".onnx", "tflite": ".tflite"}[fmt]
    stem = {"int8": "model_int8", "fp32": "model_fp32", "dynamic-int8": "model_int8_dynamic"}[precision]
    return stem + suffix


@dataclass
class ExportResult:
    """What :func:`export_target` wrote. ``passed``: every check that ran passed (vacuously true
    without verification: see :attr:`verified` and :attr:`parity_run`)."""

    out_dir: Path
    recipe: Recipe
    files: dict[str, Path]
    manifest: Any
    verification: dict[str, Any]
    passed: bool
    seconds: float = 0.0
    verified: bool = True
    removed: tuple[Path, ...] = ()  # stale model files of another export removed with ``force``

    @property
    def parity_run(self) -> bool:
        """Every file was verified and compared with at least one torch reference on DS2."""
        return self.verified and bool(self.verification) and all(r.parity_run for r in self.verification.values())

    def status(self) -> str:
        """One word or phrase for the outcome, as ``edge-ecg verify`` words its verdicts."""
        if not self.verified:
            return "written, not verified (--no-verify)"
        if not self.passed:
            return "FAILED"
        if not self.parity_run:
            return "PASSED (op check only: parity NOT run — " + "; ".join(dict.fromkeys(
                h for r in self.verification.values() if not r.parity_run for h in r.missing_hints)) + ")"
        return "PASSED"


# files an export may leave in its folder, besides the ``ptq`` calibration directory
_MODEL_SUFFIXES = (".onnx", ".tflite")


def foreign_outputs(out_dir: str | Path, recipe: Recipe) -> tuple[list[Path], Path | None]:
    """What in ``out_dir`` this export of ``recipe`` would not write or would replace unasked:
    ``(model files it would leave unlisted, model.json of another recipe or None)``. A
    ``model.json`` of the same recipe is a previous run of this export, not foreign."""
    from edge_ecg.deploy.manifest import MANIFEST_NAME

    out = Path(out_dir)
    if not out.is_dir():
        return [], None
    mine = {file_name(fmt, precision) for fmt, precision in recipe.file_names()}
    stale = sorted(p for p in out.iterdir() if p.suffix.lower() in _MODEL_SUFFIXES and p.name not in mine)
    manifest_path = out / MANIFEST_NAME
    other = None
    if manifest_path.exists():
        try:
            raw = json.loads(manifest_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raw = None
        name = None
        if isinstance(raw, dict):
            name = (raw.get("metrics") or {}).get("recipe") or (raw.get("training") or {}).get("recipe")
        if name != recipe.name:
            other = manifest_path
    return stale, other


def check_output_dir(out_dir: str | Path, recipe: Recipe, *, force: bool = False) -> list[Path]:
    """Refuse (:class:`ConfigError`) an ``out_dir`` holding another export's files unless
    ``force``; returns the model files to remove (those this export would leave unlisted in its
    ``model.json``, which ``edge-ecg verify`` would then refuse)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    stale, other = foreign_outputs(out, recipe)
    if (stale or other) and not force:
        what = [p.name for p in stale] + ([f"{other.name} (of another export)"] if other else [])
        raise ConfigError(
            f"--out {out} already holds files this {recipe.name} export would not write: {', '.join(what)}; "
            "choose an empty folder, or pass --force to replace model.json / MODEL_CARD.md and remove "
            + (", ".join(p.name for p in stale) if stale else "nothing else")
        )
    return stale


def export_target(
    recipe: Recipe | str,
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    *,
    qat_dir: str | Path | None = None,
    quantized=None,
    verify: bool = True,
    limit: int | None = None,
    records: tuple[str, ...] | None = None,
    ptq_windows: int = 4096,
    command: str = "",
    progress: bool = True,
    force: bool = False,
) -> ExportResult:
    """Build ``recipe`` from the float checkpoint (and, for int8, the QAT/PTQ directory made by
    ``edge-ecg qat``; without one, a PTQ calibration runs here on the checkpoint's training
    windows and is saved under ``out_dir/ptq``; ``quantized`` passes an already loaded
    :class:`~edge_ecg.quant.QuantizedModel` instead of ``qat_dir``). Writes the files, ``model.json`` and the model
    card into ``out_dir``; with ``verify``, runs parity and op checks on held-out DS2 beats
    (``limit`` windows, 0 or ``None``: all; ``records`` to restrict) and records the results in
    the manifest.

    An ``out_dir`` that holds model files or a ``model.json`` of another export is refused
    (:class:`ConfigError`, before any work) unless ``force``, which removes the model files this
    export would leave unlisted (see :func:`check_output_dir`)."""
    from edge_ecg.deploy import onnx_export as ox
    from edge_ecg.deploy import tflite_export as tx
    from edge_ecg.deploy.manifest import MANIFEST_NAME, ONNX_METADATA_KEY, save_manifest
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.train.checkpoint import load_checkpoint

    t0 = time.perf_counter()
    recipe = load_recipe(recipe) if isinstance(recipe, str) else recipe
    if verify:
        from edge_ecg.deploy.parity import check_limit

        check_limit(limit)
    out = Path(out_dir)
    stale = check_output_dir(out, recipe, force=force)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = Path(checkpoint_dir)
    model, ckpt_cfg = load_checkpoint(ckpt_dir)
    length = int(ckpt_cfg["input_spec"]["length"])

    qm = None
    if recipe.precision == "int8":
        if quantized is not None:
            from edge_ecg.quant.qat import check_same_checkpoint

            check_same_checkpoint(quantized.config, ckpt_dir, ckpt_cfg)
            qm = quantized
        else:
            qm = _quantized_for(ckpt_dir, ckpt_cfg, qat_dir, out, ptq_windows, progress)
        spec = qm.spec
    else:
        if qat_dir is not None or quantized is not None:
            print(f"export: {recipe.name} is a {recipe.precision} recipe: the --qat graph is not used "
                  "(its files come from the float checkpoint)", file=sys.stderr)
        # the model's native layout: unit-height 2-D convs for the EfficientECG family, which
        # onnxruntime runs about 2x faster than the same model as Conv1d
        spec = graph_spec_for(model, length)
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)

    for p in stale:
        p.unlink()
    if stale:
        # said even with progress off: files the user had are gone
        print(f"export: --force: removed {', '.join(p.name for p in stale)} (model files of another export in {out})",
              file=sys.stderr)
    files: dict[str, Path] = {}
    written: list[Path] = []  # this run's files, removed again if the export does not complete
    try:
        for fmt, precision in recipe.file_names():
            path = out / file_name(fmt, precision)
            written.append(path)
            say(f"export: writing {path.name}")
            if fmt == "onnx" and precision == "int8":
                ox.export_onnx_int8(qm, path, activations=recipe.onnx_activations, opset=recipe.opset)
            elif fmt == "onnx" and precision == "fp32":
                ox.export_onnx_fp32(model, spec, path, opset=recipe.opset)
            elif fmt == "onnx" and precision == "dynamic-int8":
                ox.export_onnx_dynamic_int8(files["model_fp32.onnx"], path)
            elif fmt == "tflite" and precision == "int8":
                tx.export_tflite_int8(qm, path, io_dtype=recipe.io_dtype)
            elif fmt == "tflite" and precision == "fp32":
                tx.export_tflite_fp32(model, spec, path)
            files[path.name] = path

        manifest = build_manifest(ckpt_cfg, recipe, qm, command=command, checkpoint_dir=ckpt_dir, side_dim=spec.side_dim)
        # entries first (verify needs them to pass the checksum gate), then the final ones
        manifest = _with_entries(manifest, files, recipe)
        written.append(out / MANIFEST_NAME)
        save_manifest(manifest, out)

        verification: dict[str, Any] = {}
        passed = True
        if verify:
            from edge_ecg.deploy.parity import verify_model

            cache: dict = {}  # DS2 windows and torch logits, shared by the files of this export
            for name, path in files.items():
                say(f"verify: {name}")
                rep = verify_model(path, recipe=recipe, checkpoint_dir=ckpt_dir, quantized=qm, limit=limit,
                                   records=records, check_embedded=False, progress=progress, cache=cache)
                verification[name] = rep
                passed = passed and rep.passed

        metrics = {
            "recipe": recipe.name,
            "thresholds": dataclasses.asdict(recipe.thresholds),
            "files": {name: rep.summary() for name, rep in verification.items()},
        }
        manifest = dataclasses.replace(manifest, metrics=metrics, files={})
        body = manifest.to_json(with_files=False)
        for path in files.values():
            if path.suffix == ".onnx":
                import onnx

                proto = onnx.load(str(path))
                ox.embed_manifest(proto, body, ONNX_METADATA_KEY)
                onnx.save(proto, str(path))
            else:
                path.write_bytes(tx.embed_metadata(path.read_bytes(), ONNX_METADATA_KEY, body))
        manifest = _with_entries(manifest, files, recipe)
        save_manifest(manifest, out)
        written.append(out / MODEL_CARD_NAME)
        write_model_card(out / MODEL_CARD_NAME, manifest, recipe, verification, command=command)
    except BaseException:
        # files without their embedded manifest (or a model.json for a half-written set) would
        # load in the runtime and be refused by verify: an export that did not finish leaves none
        for p in written:
            p.unlink(missing_ok=True)
        if written:
            print(f"export: did not complete; removed its files from {out}", file=sys.stderr)
        raise
    if progress:
        for rep in verification.values():
            print(rep.format_text(), file=sys.stderr)
    result = ExportResult(out, recipe, files, manifest, verification, passed, time.perf_counter() - t0,
                          verified=verify, removed=tuple(stale))
    say(f"export: {recipe.name} -> {out} ({', '.join(files)}, {MANIFEST_NAME}, {MODEL_CARD_NAME}) "
        f"{result.status()} in {result.seconds:.0f} s")
    return result


def _with_entries(manifest, files: dict[str, Path], recipe: Recipe):
    from edge_ecg.deploy.manifest import file_entry

    for name, path in files.items():
        fmt = "onnx" if path.suffix == ".onnx" else "tflite"
        precision = "fp32" if "fp32" in name else "int8"
        io = recipe.io_dtype if (fmt == "tflite" and precision == "int8") else "float32"
        manifest = manifest.with_file(name, file_entry(path, format=fmt, precision=precision, io_dtype=io))
    return manifest


def _quantized_for(ckpt_dir: Path, ckpt_cfg: dict, qat_dir, out: Path, ptq_windows: int, progress: bool):
    from edge_ecg.quant.qat import (
        QuantConfig,
        check_same_checkpoint,
        load_quantized,
        quantize_checkpoint,
    )

    if qat_dir is not None:
        qm = load_quantized(qat_dir)
        check_same_checkpoint(qm.config, ckpt_dir, ckpt_cfg)
        return qm
    if progress:
        print("export: no --qat directory given; calibrating a PTQ graph on the checkpoint's training windows", file=sys.stderr)
    return quantize_checkpoint(ckpt_dir, out / "ptq", QuantConfig(method="ptq", calibration_windows=ptq_windows, progress=progress))


def build_manifest(ckpt_cfg: dict[str, Any], recipe: Recipe, qm=None, *, command: str = "",
                   checkpoint_dir: Path | None = None, side_dim: int | None = None):
    """The :class:`~edge_ecg.deploy.manifest.Manifest` of an export (files and metrics are
    filled by :func:`export_target`). ``side_dim=0``: the network takes no side input, so the
    input spec's side tensor is dropped (the task may provide one the model ignores)."""
    from edge_ecg.deploy.manifest import Manifest
    from edge_ecg.train.evaluate import input_spec_from_dict

    tcfg = ckpt_cfg.get("train_config") or {}
    prov = ckpt_cfg.get("provenance") or {}
    training = {
        "model": ckpt_cfg.get("model_name"),
        "model_kwargs": ckpt_cfg.get("model_kwargs"),
        "data": prov.get("dataset"),
        "split": prov.get("split"),
        "train_records": prov.get("train_records"),
        "command": ckpt_cfg.get("command", ""),
        "seed": tcfg.get("seed"),
        "best_epoch": ckpt_cfg.get("best_epoch"),
        "weights_sha256": ckpt_cfg.get("weights_sha256"),
        # as given on the command line (relative to where export ran), not this machine's layout
        "checkpoint": str(checkpoint_dir) if checkpoint_dir else None,
        "export_command": command,
        "recipe": recipe.name,
    }
    quantization: dict[str, Any] = {"method": "none" if recipe.precision == "fp32" else recipe.precision}
    if recipe.precision == "dynamic-int8":
        quantization.update(method="dynamic", quantizer="onnxruntime.quantization.quantize_dynamic (int8 per-channel weights)")
    if qm is not None:
        io = qm.converted("torch")
        from edge_ecg.quant.graph import io_qparams

        qp = io_qparams(io)
        quantization = {
            "method": qm.method,
            "quantizer": qm.config["scheme"],
            "activation_dtype": {"onnx": recipe.onnx_activations, "tflite": "int8"},
            "weight_dtype": "int8 per-channel symmetric",
            "inputs": {name: {"scale": v["scale"], "zero_point": v["zero_point"],
                              "zero_point_uint8": v["zero_point"] + 128} for name, v in qp.items() if name != "logits"},
            "output": qp.get("logits"),
            "input_scale": qp.get("ecg", {}).get("scale"),
            "input_zero_point": qp.get("ecg", {}).get("zero_point"),
            "qat_dir": str(qm.directory),
            "qat_command": qm.config.get("command", ""),
            "qat_config": qm.config.get("quant_config"),
            "qat_val": {k: qm.config["val"].get(k) for k in ("top1_agreement_with_float",)}
            | {"float_macro_f1": qm.config["val"]["float"]["macro_f1"], "int8_macro_f1": qm.config["val"]["quantized"]["macro_f1"]},
            "layout": qm.spec.layout,
        }
    task = ckpt_cfg.get("task", "")
    spec = input_spec_from_dict(ckpt_cfg["input_spec"])
    if side_dim == 0 and spec.side_tensor:
        spec = dataclasses.replace(spec, side_groups=(), rr=None, side_tensor=None)
    return Manifest(
        name=f"{ckpt_cfg.get('model_name', 'model')}",
        task=TASK_NAMES.get(task, task or "classification"),
        classes=tuple(ckpt_cfg["classes"]),
        input=spec,
        multi_label=bool(ckpt_cfg.get("multi_label", False)),
        training=_jsonable(training),
        quantization=_jsonable(quantization),
    )


def _jsonable(d):
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _pct(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def _num(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"


def write_model_card(path: Path, manifest, recipe: Recipe, verification: dict, *, command: str = "") -> Path:
    """A short Markdown card: what the model is, its files, its held-out metrics and parity."""
    m = manifest
    inp = m.input
    lines = [
        f"# {m.name} — {recipe.name}",
        "",
        f"{recipe.description}",
        "",
        "## Model",
        f"- task: {m.task}; classes: {', '.join(m.classes)}",
        f"- input: {inp.kind}, {len(inp.leads)} lead(s) {', '.join(inp.leads)}, {inp.length} samples at {inp.fs_hz:g} Hz"
        + (f", flipped to the polarity of its last {inp.polarity_beats} beats" if inp.polarity_beats else "")
        + (f", each with the median of its previous {inp.template_beats} beats" if inp.template_beats else "")
        + (f" ({inp.beat.before_s:g} s before / {inp.beat.after_s:g} s after the R peak)" if inp.beat else "")
        + f", filter {inp.filter}, normalisation {inp.norm}"
        + (f", side input {inp.side_tensor} = {', '.join(inp.side_groups)}" if inp.side_tensor else ""),
        f"- trained on: {m.training.get('data')} — {m.training.get('split')}",
        f"- quantization: {m.quantization.get('method')}"
        + (f", weights {m.quantization.get('weight_dtype')}, activations {m.quantization.get('activation_dtype')}" if m.quantization.get("weight_dtype") else ""),
        "",
        "## Files",
        "| file | format | precision | I/O | size | SHA-256 |",
        "|---|---|---|---|---:|---|",
    ]
    for name, e in m.files.items():
        lines.append(f"| {name} | {e.format} | {e.precision} | {e.io_dtype} | {e.size_bytes / 1024:.1f} KiB | `{e.sha256[:16]}…` |")
    if verification:
        lines += ["", "## Held-out evaluation (MIT-BIH DS2, inter-patient) and parity", "",
                  "| file | runtime | windows | macro-F1 | VEB Se / +P % | SVEB Se / +P % | top-1 vs float % | top-1 vs fake-quant % | top-1 vs int8 ref % | Δlogit vs int8 ref, LSB (max / 99.9 %) | ops | verdict |",
                  "|---|---|---:|---:|---|---|---:|---:|---:|---:|---|---|"]
        for name, rep in verification.items():
            s = rep.summary()
            # a model without DS2 parity (a 12-lead window model) has no metrics at all
            mets = s.get("metrics") or {}
            pc = mets.get("per_class") or {}
            v, sv = pc.get("V", {}), pc.get("S", {})
            f1 = mets.get("macro_f1")
            verdict = "FAIL" if not s.get("passed") else ("PASS" if s.get("parity_run") else "parity NOT run")
            lines.append(
                f"| {name} | {s.get('runtime', '')} | {s.get('windows', 0)} | {'–' if f1 is None else f'{f1:.4f}'} "
                f"| {_pct(v.get('se'))} / {_pct(v.get('ppv'))} | {_pct(sv.get('se'))} / {_pct(sv.get('ppv'))} "
                f"| {_pct(s.get('top1_vs_float'))} | {_pct(s.get('top1_vs_fake_quant'))} | {_pct(s.get('top1_vs_int8_reference'))} "
                f"| {_num(s.get('output_lsb_vs_reference'))} / {_num(s.get('output_lsb_p999_vs_reference'))} "
                f"| {'ok' if s.get('ops_ok') else 'see report'} | {verdict} |"
            )
        lines += [""] + [f"- {name}: {rep.verdict()}" for name, rep in verification.items()]
    else:
        lines += ["", "## Held-out evaluation and parity", "",
                  "Not verified (exported with `--no-verify`): run `edge-ecg verify` on each file."]
    lines += ["", "## Reproduce", "```", m.training.get("command") or "(float training command not recorded)"]
    if m.quantization.get("qat_command"):
        lines.append(m.quantization["qat_command"])
    lines += [command or f"edge-ecg export --target {recipe.name} ...", "```", "",
              "The runtime configures itself from `model.json` / the embedded manifest and refuses a file whose "
              "SHA-256 differs from the manifest's."]
    path.write_text("\n".join(lines) + "\n")
    return path


def command_line(argv: list[str]) -> str:
    return "edge-ecg " + " ".join(shlex.quote(a) for a in argv)
