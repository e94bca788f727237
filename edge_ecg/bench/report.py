"""Outputs of ``edge-ecg bench``: the stdout table, the JSON file, the Markdown + PNG report, and
the side-by-side comparison of two runs (the workstation and the Pi).

JSON file (``--json FILE``): one run per file, ``schema_version`` 1
====================================================================

Times in milliseconds, sizes in bytes unless the key says ``_mb`` (MiB), rates per second. A
value that could not be measured is ``null`` and, where it matters, a ``note`` says why. Runs on
different machines are comparable field by field (``edge-ecg bench --compare A.json B.json``).

::

    schema_version   1
    kind             "edge-ecg-bench"
    edge_ecg_version, created_utc (ISO 8601), command (argv list)
    machine          cpu_model, board (device tree, null on PCs), arch, cores_logical,
                     cores_usable (affinity), os, kernel, python, python_impl,
                     packages {pip name: version | null},
                     conditions_start / conditions_end {governor, cpu0_mhz, temperature_c,
                                                        loadavg [1, 5, 15 min], pi_throttled}
    warnings         [str]   conditions that distort timings (governor, load, heat)
    config           the BenchConfig: rounds, per_round, warmup, batch, batch_per_round, seed,
                     record, baseline, providers, rss, floor, profile, profile_runs, max_windows
    baseline         name of the candidate the ratios are against
    schedule         [[candidate name, …] per round]   the shuffled order actually run
    candidates       [candidate]  (empty for a capacity-only run)
    floor            null | {"onnxruntime": {backend, threads: {"<n>": {fp32_gmacs, int8_gmacs,
                              kernels: [{kernel, precision, macs, median_ms, gmacs}]}}},
                             "tflite": {skipped: reason}}
    capacity         null | capacity document (below)
    notes            [str]   what was skipped and why

    candidate:
      name             "<file>/<backend short>/t<threads>", unique in the run
      file, path, backend ("onnxruntime" | "litert" | "tflite-runtime" | "tensorflow"),
      backend_version, backend_describe, threads (int), threads_requested ("1", "2", "all")
      model            manifest (name | null), checksum ("verified" | "not listed in manifest" |
                       "no manifest"), kind, fs_hz, leads, length, precision ("int8" | "fp32" |
                       null), params, macs (per window, batch 1; null if unknown),
                       complexity_source ("manifest" | "onnx-graph" | "tflite-ops" | "n/a" |
                       "manifest+…"), complexity_note, size_bytes, sha256
      inputs           source (how the windows were made), record, n_windows
      latency_ms       n, median, p90, p99, max, min, mean, round_medians [per round],
                       round_iqr (IQR of round_medians), round_iqr_pct (of median)
      throughput       batch1_per_s (1000 / mean), batch, batch_per_s, batch_median_ms, note
      rss              null | {method, runtime_import_mb, rss_before_load_mb, rss_after_mb,
                               peak_mb, added_resident_mb, added_peak_mb}
      ratio            against the baseline: median, p99 (ratios of the statistics),
                       round_median, round_iqr (of the per-round paired ratios)
      floor            null | {floor_ms, over_floor (median / floor_ms), over_floor_batch
                               (per-window time at the larger batch / floor_ms), rate_gmacs, note}
      profile          null | {runs, threads, run_ms, kernel_ms, overhead_share,
                               op_types: [{op, ms_per_run, share, nodes_per_run}]}
      timings_ms       every single-window timing, round after round

    capacity document:
      config           CapacityConfig fields
      streams          [{name ("beat" | "window"), status ("ok" | "n/a"), reason, model,
                         backend, source, fs_hz, n_channels, stream_s,
                         cpu_s_per_stream_s, cpu_ms_per_stream_s {decode, frontend, model,
                         total}, wall_s_per_stream_s, results_per_stream_s (beats or
                         windows emitted), labelled_fraction (of those, the share the gate
                         let through to the model; null if none), k_estimate,
                         verify {method ("backtoback" | "paced" | "none"), k, passed,
                                 trials: [{k, ok, …}]}}]

Plots need matplotlib (``pip install 'edge-ecg[plot]'``), imported only when a report is
written; without it the Markdown says the plots were skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from edge_ecg.errors import ConfigError
from edge_ecg.typed import read_json_object

SCHEMA_VERSION = 1

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
_OPT_DICT = (dict, type(None))

# the documented schema as data: dict → required keys; [spec] → list of items; tuple → types
_CANDIDATE = {
    "name": str, "file": str, "path": str, "backend": str, "backend_version": str, "backend_describe": str,
    "threads": int, "threads_requested": str,
    "model": {"manifest": _OPT_STR, "checksum": str, "kind": _OPT_STR, "precision": _OPT_STR, "params": _OPT_INT,
              "macs": _OPT_INT, "complexity_source": str, "size_bytes": int, "sha256": str},
    "inputs": {"source": str, "record": _OPT_STR, "n_windows": int},
    "latency_ms": {"n": int, "median": _NUM, "p90": _NUM, "p99": _NUM, "max": _NUM, "min": _NUM, "mean": _NUM,
                   "round_medians": [_NUM], "round_iqr": _NUM, "round_iqr_pct": _NUM},
    "throughput": {"batch1_per_s": _NUM, "batch": _OPT_INT, "batch_per_s": _OPT_NUM, "batch_median_ms": _OPT_NUM,
                   "note": _OPT_STR},
    "rss": _OPT_DICT,
    "ratio": {"median": _NUM, "p99": _NUM, "round_median": _NUM, "round_iqr": _NUM},
    "floor": _OPT_DICT, "profile": _OPT_DICT,
    "timings_ms": [_NUM],
}
_CAPACITY_STREAM = {"name": str, "status": str, "reason": _OPT_STR, "cpu_s_per_stream_s": _OPT_NUM,
                    "k_estimate": _OPT_INT, "verify": _OPT_DICT}
SCHEMA = {
    "schema_version": int, "kind": str, "edge_ecg_version": str, "created_utc": str, "command": [str],
    "machine": {"cpu_model": str, "board": _OPT_STR, "arch": str, "cores_logical": int, "cores_usable": int,
                "os": str, "kernel": str, "python": str, "packages": dict, "conditions_start": dict},
    "warnings": [str], "config": dict, "baseline": _OPT_STR, "schedule": [[str]],
    "candidates": [_CANDIDATE],
    "floor": _OPT_DICT, "capacity": (dict, type(None)), "notes": [str],
}


def validate(doc: dict) -> None:
    """Raise :class:`ConfigError` naming the first field that breaks the documented schema."""
    if not isinstance(doc, dict):
        raise ConfigError(f"a bench result must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"bench result schema_version {doc.get('schema_version')!r}: this edge-ecg reads {SCHEMA_VERSION}")
    _check(doc, SCHEMA, "$")
    cap = doc.get("capacity")
    if cap is not None:
        _check(cap, {"config": dict, "streams": [_CAPACITY_STREAM]}, "$.capacity")


def _check(value, spec, where: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        for key, sub in spec.items():
            if key not in value:
                raise ConfigError(f"{where}: missing key {key!r}")
            _check(value[key], sub, f"{where}.{key}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _check(item, spec[0], f"{where}[{i}]")
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(f"{where}: expected {'/'.join(t.__name__ for t in types)}, got {value!r}"[:300])


def write_json(doc: dict, path: str | Path) -> Path:
    validate(doc)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return p


def load_json(path: str | Path) -> dict:
    p = Path(path)
    doc = read_json_object(p, "bench result")
    try:
        validate(doc)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    return doc


# ---------------------------------------------------------------------------------------------
# text


def _fmt(v, spec: str = ".3f", na: str = "—") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return na
    return format(v, spec)


def _si(v, na: str = "—") -> str:
    if v is None:
        return na
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:g}"


def pct(v: float | None) -> str:
    """A fraction as a percentage with two decimals; ``-`` for a missing or undefined one."""
    return "-" if v is None or math.isnan(v) else f"{100 * v:.2f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def machine_line(m: dict) -> str:
    board = f"{m['board']} · " if m.get("board") else ""
    return f"{board}{m['cpu_model']} · {m['arch']} · {m['cores_usable']}/{m['cores_logical']} cores · {m['os']} · Python {m['python']}"


def runtimes_line(m: dict) -> str:
    pk = m.get("packages", {})
    keys = ("numpy", "scipy", "onnxruntime", "ai-edge-litert", "tflite-runtime")
    return " · ".join(f"{k} {pk.get(k) or '—'}" for k in keys)


def format_table(doc: dict) -> str:
    """The stdout summary of a run: machine, method, latency table, floor, profile, capacity."""
    m = doc["machine"]
    cfg = doc["config"]
    out = [f"machine   {machine_line(m)}", f"runtimes  {runtimes_line(m)}"]
    cands = doc["candidates"]
    if cands:
        seen = []
        for c in cands:
            if c["inputs"]["source"] not in seen:
                seen.append(c["inputs"]["source"])
        out += [f"inputs    {s}" for s in seen]
        out.append(f"method    {cfg['rounds']} rounds × {cfg['per_round']} single-window inferences per candidate, "
                   f"interleaved in a shuffled order per round; warm-up {cfg['warmup']}; baseline {doc['baseline']}")
        out += ["", latency_table(doc)]
        fl = doc.get("floor") or {}
        if fl.get("onnxruntime"):
            rows = [[f"t{t}", _fmt(r["fp32_gmacs"], ".2f"), _fmt(r["int8_gmacs"], ".2f")]
                    for t, r in fl["onnxruntime"]["threads"].items()]
            out += ["", f"compute floor, {fl['onnxruntime']['backend']} (peak GMAC/s of large dense MatMul/Conv1d kernels)",
                    text_table(["threads", "fp32 GMAC/s", "int8 GMAC/s"], rows)]
        if fl.get("tflite"):
            out.append(f"TFLite floor skipped: {fl['tflite']['skipped']}")
        for c in cands:
            if c.get("profile"):
                out += ["", format_profile(c["name"], c["profile"])]
    if doc.get("capacity"):
        out += ["", format_capacity(doc["capacity"])]
    for w in doc.get("warnings", []):
        out.append(f"WARNING: {w}")
    for n in doc.get("notes", []):
        out.append(f"note: {n}")
    return "\n".join(out)


def latency_table(doc: dict) -> str:
    """Two tables: the latency distribution with ratios, then throughput, memory and size."""
    cfg = doc["config"]
    b = cfg.get("batch") or 0
    lat_rows, res_rows = [], []
    for c in doc["candidates"]:
        lat, thr, mod = c["latency_ms"], c["throughput"], c["model"]
        lat_rows.append([
            c["name"], str(lat["n"]), _fmt(lat["median"]), _fmt(lat["p90"]), _fmt(lat["p99"]), _fmt(lat["max"]),
            f"±{lat['round_iqr_pct'] / 2:.1f}%", _fmt(c["ratio"]["median"], ".2f"),
            f"±{c['ratio']['round_iqr'] / 2:.2f}", _fmt(c["ratio"]["p99"], ".2f"),
        ])
        res_rows.append([
            c["name"], _fmt(thr["batch1_per_s"], ".0f"), _fmt(thr["batch_per_s"], ".0f"),
            _fmt((c.get("rss") or {}).get("added_peak_mb"), ".1f"), _fmt(mod["size_bytes"] / 1024, ".1f"),
            mod["precision"] or "—", _si(mod["params"]), _si(mod["macs"]),
            _fmt((c.get("floor") or {}).get("floor_ms"), ".4f"), _fmt((c.get("floor") or {}).get("over_floor"), ".1f"),
            _fmt((c.get("floor") or {}).get("over_floor_batch"), ".1f"),
        ])
    t1 = text_table(["candidate", "n", "median", "p90", "p99", "max", "spread", "×base", "±", "p99×base"], lat_rows)
    t2 = text_table(["candidate", "win/s b1", f"win/s b{b}" if b else "batch", "RSS+ MB", "size KB", "precision",
                 "params", "MACs", "floor ms", "÷floor", f"÷floor b{b}" if b else "÷floor batch"], res_rows)
    return (f"latency of one window, ms (batch 1)\n{t1}\n"
            "spread: half the IQR of the per-round medians; ×base: median over the baseline's, ± half the IQR of "
            "the per-round paired ratios\n\n"
            f"throughput, memory, size\n{t2}\n"
            "RSS+: peak memory the model adds (fresh process, load + warm-up); floor ms: MACs at the CPU's "
            "measured peak rate for the precision; ÷floor: median over it")


def format_profile(name: str, prof: dict, top: int = 12) -> str:
    rows = [[r["op"], _fmt(r["ms_per_run"], ".4f"), _fmt(100 * r["share"] if r["share"] is not None else None, ".1f"),
             _fmt(r["nodes_per_run"], ".0f")] for r in prof["op_types"][:top]]
    rows.append(["(outside kernels)", _fmt(prof["run_ms"] - prof["kernel_ms"], ".4f"),
                 _fmt(100 * prof["overhead_share"] if prof["overhead_share"] is not None else None, ".1f"), ""])
    return (f"profile {name}: {prof['runs']} runs, {prof['run_ms']:.4f} ms per run under the profiler (which adds "
            "per-node overhead: read the shares, not the times); op types after graph optimisation\n"
            + text_table(["op type", "ms/run", "% of run", "nodes"], rows))


def labelled_share(stream: dict) -> str:
    """``"98 % of 1.2/s"``: the share of the stream's results the model labelled."""
    frac = stream.get("labelled_fraction")
    rate = stream.get("results_per_stream_s")
    if frac is None:
        return "none" if rate == 0 else "—"
    return f"{100 * frac:.0f} % of {rate:.2f}/s"


def format_capacity(cap: dict) -> str:
    rows = []
    reasons = []
    for s in cap["streams"]:
        if s["status"] != "ok":
            rows.append([s["name"], s.get("source") or "—", "n/a", "", "", "", "", "", "", ""])
            reasons.append(f"{s['name']}: {s.get('reason')}")
            continue
        ms = s["cpu_ms_per_stream_s"]
        v = s.get("verify") or {}
        verdict = {"backtoback": "back-to-back", "paced": "paced"}.get(v.get("method"), "not verified")
        check = "—" if v.get("passed") is None else "ok" if v.get("passed") else "FAILED"
        rows.append([s["name"], s["source"], _fmt(ms["total"], ".2f"), _fmt(ms["decode"], ".2f"),
                     _fmt(ms["frontend"], ".2f"), _fmt(ms["model"], ".2f"), labelled_share(s), str(s["k_estimate"]),
                     _fmt(v.get("k"), "d"), f"{verdict}: {check}"])
        if v.get("reason"):
            reasons.append(f"{s['name']} check: {v['reason']}")
        if s.get("labelled_fraction") is not None and s["labelled_fraction"] < 0.5:
            reasons.append(f"{s['name']}: the quality gate let only {100 * s['labelled_fraction']:.0f} % of the results "
                           "through to the model, so its share is mostly the front end's")
    return ("streaming capacity of one core (FrameDecoder + StreamClassifier, one frame per read, model 1 thread)\n"
            + text_table(["stream", "source", "CPU ms/s", "decode", "front end", "model", "labelled", "K est.", "K verified",
                          "check at K est."], rows)
            + "\nCPU ms per second of stream; K est. = floor(1000 / CPU ms/s) concurrent real-time streams per core; "
            "K verified: the largest K whose check passed" + "".join(f"\n{r}" for r in reasons))


def _match(a: list[dict], b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Pairs of candidates of two runs: same name, else same file, backend and requested threads."""
    pairs = []
    used = set()
    by_name = {c["name"]: c for c in b}
    for c in a:
        other = by_name.get(c["name"])
        if other is None:
            other = next((x for x in b if x["name"] not in used and x["file"] == c["file"] and x["backend"] == c["backend"]
                          and x["threads_requested"] == c["threads_requested"]), None)
        if other is not None:
            used.add(other["name"])
        pairs.append((c, other))
    pairs += [(None, x) for x in b if x["name"] not in used and x["name"] not in {c["name"] for c in a}]
    return pairs


def compare(a: dict, b: dict, *, label_a: str = "A", label_b: str = "B") -> str:
    """Side by side of two runs with B/A ratios (> 1: B is slower / bigger)."""
    def ratio(x, y):
        return None if x in (None, 0) or y is None else y / x

    out = [f"{label_a}: {machine_line(a['machine'])}", f"   {runtimes_line(a['machine'])} · {a['created_utc']}",
           f"{label_b}: {machine_line(b['machine'])}", f"   {runtimes_line(b['machine'])} · {b['created_utc']}"]
    if a.get("edge_ecg_version") != b.get("edge_ecg_version"):
        out.append(f"note: edge-ecg versions differ ({a.get('edge_ecg_version')} vs {b.get('edge_ecg_version')})")
    rows = []
    for ca, cb in _match(a["candidates"], b["candidates"]):
        if ca is not None and cb is not None and ca["model"]["sha256"] != cb["model"]["sha256"]:
            out.append(f"note: {ca['name']} is a different file in the two runs (SHA-256 differs)")
        la = ca["latency_ms"] if ca else {}
        lb = cb["latency_ms"] if cb else {}
        ta = (ca or {}).get("throughput", {}).get("batch_per_s")
        tb = (cb or {}).get("throughput", {}).get("batch_per_s")
        rows.append([
            (ca or cb)["name"] if ca is None or cb is None or ca["name"] == cb["name"] else f"{ca['name']} | {cb['name']}",
            _fmt(la.get("median")), _fmt(lb.get("median")), _fmt(ratio(la.get("median"), lb.get("median")), ".2f"),
            _fmt(la.get("p99")), _fmt(lb.get("p99")), _fmt(ratio(la.get("p99"), lb.get("p99")), ".2f"),
            _fmt((ca or {}).get("ratio", {}).get("median"), ".2f"), _fmt((cb or {}).get("ratio", {}).get("median"), ".2f"),
            _fmt(ta, ".0f"), _fmt(tb, ".0f"),
            _fmt(((ca or {}).get("rss") or {}).get("added_peak_mb"), ".1f"), _fmt(((cb or {}).get("rss") or {}).get("added_peak_mb"), ".1f"),
        ])
    if rows:
        out += ["", text_table(["candidate", f"median {label_a}", f"median {label_b}", f"{label_b}/{label_a}",
                            f"p99 {label_a}", f"p99 {label_b}", f"{label_b}/{label_a}", f"×base {label_a}", f"×base {label_b}",
                            f"batch/s {label_a}", f"batch/s {label_b}", f"RSS+ {label_a}", f"RSS+ {label_b}"], rows),
                f"latency in ms; ×base: against each run's own baseline ({a.get('baseline')} / {b.get('baseline')})"]
    fa = ((a.get("floor") or {}).get("onnxruntime") or {}).get("threads", {})
    fb = ((b.get("floor") or {}).get("onnxruntime") or {}).get("threads", {})
    frows = []
    for t in sorted(set(fa) & set(fb), key=int):
        for key in ("fp32_gmacs", "int8_gmacs"):
            x, y = fa[t].get(key), fb[t].get(key)
            frows.append([f"t{t} {key[:4]}", _fmt(x, ".2f"), _fmt(y, ".2f"), _fmt(ratio(x, y), ".2f")])
    if frows:
        out += ["", text_table(["floor GMAC/s", label_a, label_b, f"{label_b}/{label_a}"], frows)]
    sa = {s["name"]: s for s in (a.get("capacity") or {}).get("streams", [])}
    sb = {s["name"]: s for s in (b.get("capacity") or {}).get("streams", [])}
    crows = []
    for name in [n for n in sa if n in sb]:
        x, y = sa[name], sb[name]
        mx = (x.get("cpu_ms_per_stream_s") or {}).get("total")
        my = (y.get("cpu_ms_per_stream_s") or {}).get("total")
        kx = (x.get("verify") or {}).get("k") or x.get("k_estimate")
        ky = (y.get("verify") or {}).get("k") or y.get("k_estimate")
        crows.append([name, _fmt(mx, ".2f"), _fmt(my, ".2f"), _fmt(ratio(mx, my), ".2f"), _fmt(kx, "d"), _fmt(ky, "d")])
    if crows:
        out += ["", text_table(["capacity", f"CPU ms/s {label_a}", f"CPU ms/s {label_b}", f"{label_b}/{label_a}",
                            f"K {label_a}", f"K {label_b}"], crows)]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Markdown + PNG


def _plots(doc: dict, directory: Path) -> tuple[list[str], str | None]:
    try:
        from matplotlib.figure import Figure  # no pyplot: no global backend, no display needed
    except ImportError:
        return [], "plots skipped: matplotlib is not installed (pip install 'edge-ecg[plot]')"
    made = []
    cands = doc["candidates"]
    if cands:
        fig = Figure(figsize=(8, 0.45 * len(cands) + 1.5), layout="constrained")
        ax = fig.subplots()
        data = [c["timings_ms"] for c in cands]
        style = {"whis": (1, 99), "showfliers": True, "flierprops": {"markersize": 2}}
        try:
            ax.boxplot(data, orientation="horizontal", **style)  # matplotlib >= 3.10
        except TypeError:
            ax.boxplot(data, vert=False, **style)
        ax.set_yticks(range(1, len(cands) + 1), [c["name"] for c in cands])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("single-window latency (ms, log scale); whiskers p1–p99")
        ax.set_title("latency per candidate")
        fig.savefig(directory / "latency_box.png", dpi=110)
        made.append("latency_box.png")

        fig = Figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.subplots()
        series: dict[str, list[dict]] = {}
        for c in cands:
            series.setdefault(f"{c['backend']} t{c['threads']}", []).append(c)
        for label, members in series.items():
            x = [c["model"]["size_bytes"] / 1024 for c in members]
            med = [c["latency_ms"]["median"] for c in members]
            up = [c["latency_ms"]["p99"] - c["latency_ms"]["median"] for c in members]
            ax.errorbar(x, med, yerr=[[0] * len(x), up], fmt="o", capsize=3, label=label)
        for f in {c["file"]: c for c in cands}.values():
            ax.annotate(f["file"], (f["model"]["size_bytes"] / 1024, f["latency_ms"]["median"]), fontsize=7,
                        xytext=(4, -10), textcoords="offset points")
        ax.set_yscale("log")
        ax.set_xlabel("model file size (KiB)")
        ax.set_ylabel("median latency (ms, log); bar up to p99")
        ax.set_title("latency vs model size")
        ax.legend(fontsize=7)
        fig.savefig(directory / "latency_vs_size.png", dpi=110)
        made.append("latency_vs_size.png")
    streams = [s for s in (doc.get("capacity") or {}).get("streams", []) if s["status"] == "ok"]
    if streams:
        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.subplots()
        left = [0.0] * len(streams)
        labels = [f"{s['name']} (K={(s.get('verify') or {}).get('k') or s['k_estimate']})" for s in streams]
        for part in ("decode", "frontend", "model"):
            vals = [s["cpu_ms_per_stream_s"][part] or 0.0 for s in streams]
            ax.barh(labels, vals, left=left, label=part)
            left = [a + v for a, v in zip(left, vals, strict=True)]
        ax.set_xlabel("CPU ms per second of stream (one core)")
        ax.legend()
        ax.set_title("streaming capacity")
        fig.savefig(directory / "capacity.png", dpi=110)
        made.append("capacity.png")
    return made, None


def check_report_dir(directory: str | Path, option: str = "--report") -> Path:
    """Check, before any measurement, that ``directory`` can hold the report: refuse
    (:class:`ConfigError` naming ``option``) an existing non-folder there or among its parents."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"{option} {d} exists and is not a folder; expected a folder for report.md and the plots")
    blocker = next((a for a in d.parents if a.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"{option} {d}: {blocker} exists and is not a folder")
    return d


def write_report(doc: dict, directory: str | Path) -> Path:
    """``report.md`` (+ PNG plots when matplotlib is installed) in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    images, skipped = _plots(doc, d)
    m = doc["machine"]
    lines = [f"# edge-ecg bench — {m.get('board') or m['cpu_model']}", "",
             f"Run {doc['created_utc']}, edge-ecg {doc['edge_ecg_version']}: `{' '.join(doc['command'])}`", "",
             "## Machine", "", f"- {machine_line(m)}", f"- {runtimes_line(m)}",
             f"- conditions at start: {_conditions(m.get('conditions_start'))}",
             f"- conditions at end: {_conditions(m.get('conditions_end'))}", ""]
    if doc.get("warnings"):
        lines += ["## Warnings", ""] + [f"- **{w}**" for w in doc["warnings"]] + [""]
    if doc["candidates"]:
        cfg = doc["config"]
        lines += ["## Latency", "",
                  f"{cfg['rounds']} rounds × {cfg['per_round']} single-window inferences per candidate, candidates "
                  f"interleaved in a new random order each round (seed {cfg['seed']}), after {cfg['warmup']} warm-up "
                  f"inferences. Baseline: `{doc['baseline']}`.", ""]
        lines += sorted({f"- inputs of `{c['file']}`: {c['inputs']['source']}" for c in doc["candidates"]}) + [""]
        lines += ["```", latency_table(doc), "```", ""]
        for c in doc["candidates"]:
            if c.get("profile"):
                lines += ["```", format_profile(c["name"], c["profile"]), "```", ""]
    if doc.get("capacity"):
        lines += ["## Streaming capacity", "", "```", format_capacity(doc["capacity"]), "```", ""]
    lines += [f"![{img}]({img})" for img in images]
    if skipped:
        lines.append(f"_{skipped}_")
    if doc.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    path = d / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _conditions(c: dict | None) -> str:
    if not c:
        return "—"
    parts = [f"governor {c.get('governor') or '—'}", f"cpu0 {c.get('cpu0_mhz') or '—'} MHz",
             f"{c.get('temperature_c') if c.get('temperature_c') is not None else '—'} °C",
             f"load {c.get('loadavg') or '—'}"]
    return ", ".join(parts)
