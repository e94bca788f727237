"""edge-ecg bench: latency on real windows, interleaving, memory probe, compute floor, capacity,
JSON schema, reports and the comparison of two runs — on tiny ONNX models built here (torch-free).

The fixture models are written with ``onnx.helper``; their manifests with
``edge_ecg.deploy.manifest`` exactly as the exporter writes them, so ``Classifier`` accepts them.
The beat model matches the runtime's beat front end (MLII, 360 Hz, 252 samples, 7 RR side
features on input ``side``); the window model is a 12-lead 500 Hz one.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_ecg.bench import report
from edge_ecg.bench.capacity import (
    CapacityConfig,
    beat_source,
    cpu_per_stream_second,
    encode_frames,
    measure_capacity,
    run_streams,
    stream_capacity,
    twelve_lead_source,
)
from edge_ecg.bench.floor import FloorKernel, floor_for, measure_floor, model_complexity
from edge_ecg.bench.latency import (
    BenchConfig,
    Candidate,
    interleaved_rounds,
    latency_stats,
    make_candidates,
    measure_rss,
    parse_threads,
    pick_baseline,
    real_windows,
    run_latency,
)
from edge_ecg.bench.machine import machine_info
from edge_ecg.errors import ConfigError
from edge_ecg.runtime.backends import Backend, TensorInfo

ROOT = Path(__file__).resolve().parents[1]
BEAT_CLASSES = ("N", "S", "V", "F", "Q")
TWELVE = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def _save_beat_model(path: Path, width: int, seed: int) -> None:
    """ecg (N,1,252) → Conv(k7, ``width`` ch) → ReLU → global mean → concat side (N,7) → Gemm → 5."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array((0.3 * rng.standard_normal((width, 1, 7))).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(width, np.float32), "b1"),
        numpy_helper.from_array((0.3 * rng.standard_normal((width + 7, 5))).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(5, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["ecg", "w1", "b1"], ["c1"], pads=[3, 3], kernel_shape=[7]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Concat", ["f", "side"], ["z"], axis=1),
        helper.make_node("Gemm", ["z", "w2", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_beat",
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 1, 252]),
         helper.make_tensor_value_info("side", TensorProto.FLOAT, ["batch", 7])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _beat_params(width: int) -> int:
    return width * 7 + width + (width + 7) * 5 + 5


def _beat_macs(width: int) -> int:
    return 252 * width * 7 + (width + 7) * 5


@pytest.fixture(scope="module")
def beat_dir(tmp_path_factory) -> Path:
    from edge_ecg.deploy.manifest import BeatInput, InputSpec, Manifest, file_entry, save_manifest

    d = tmp_path_factory.mktemp("beat_models")
    _save_beat_model(d / "tiny_a.onnx", 8, 0)
    _save_beat_model(d / "tiny_b.onnx", 32, 1)
    m = Manifest(
        name="tiny-beat", task="beat_classification", classes=BEAT_CLASSES,
        input=InputSpec(kind="beat", fs_hz=360.0, leads=("MLII",), length=252, beat=BeatInput(0.25, 0.45),
                        side_groups=("rr",), ecg_tensor="ecg", side_tensor="side"),
    )  # fmt: skip
    for name in ("tiny_a.onnx", "tiny_b.onnx"):
        m = m.with_file(name, file_entry(d / name, format="onnx", precision="fp32"))
    save_manifest(m, d)
    return d


@pytest.fixture(scope="module")
def window_model(tmp_path_factory) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from edge_ecg.deploy.manifest import InputSpec, Manifest, WindowInput, file_entry, save_manifest

    d = tmp_path_factory.mktemp("window_model")
    rng = np.random.default_rng(2)
    inits = [
        numpy_helper.from_array((0.3 * rng.standard_normal((4, 12, 5))).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
        numpy_helper.from_array((0.3 * rng.standard_normal((4, 3))).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["ecg", "w1", "b1"], ["c1"], pads=[2, 2], kernel_shape=[5]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "tiny_window",
                              [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 12, 1000])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(d / "tiny_w.onnx"))
    m = Manifest(name="tiny-window", task="rhythm_classification", classes=("NSR", "AF", "other"), multi_label=True,
                 input=InputSpec(kind="window", fs_hz=500.0, leads=TWELVE, length=1000, window=WindowInput(2.0, 1.0)))
    save_manifest(m.with_file("tiny_w.onnx", file_entry(d / "tiny_w.onnx", format="onnx", precision="fp32")), d)
    return d / "tiny_w.onnx"


FAST = BenchConfig(rounds=4, per_round=50, warmup=5, batch=8, batch_per_round=2, rss=False, floor=False)


@pytest.fixture(scope="module")
def run_doc(beat_dir) -> dict:
    cands, notes = make_candidates([beat_dir / "tiny_a.onnx", beat_dir / "tiny_b.onnx"], threads=(1,))
    return run_latency(cands, FAST, notes=notes)


# -- latency ------------------------------------------------------------------------------------


def test_bench_gives_200_real_timings_per_candidate_and_ordered_stats(run_doc):
    assert [c["name"] for c in run_doc["candidates"]] == ["tiny_a.onnx/ort/t1", "tiny_b.onnx/ort/t1"]
    for c in run_doc["candidates"]:
        lat = c["latency_ms"]
        assert len(c["timings_ms"]) == lat["n"] == 200
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert min(c["timings_ms"]) == pytest.approx(lat["min"], abs=1e-5)
        assert len(lat["round_medians"]) == 4 and lat["round_iqr"] >= 0
        assert c["inputs"]["record"] == "mitdb_200_23m30s" and c["inputs"]["n_windows"] > 200
        assert c["model"]["checksum"] == "verified" and c["model"]["precision"] == "fp32"
        assert c["throughput"]["batch1_per_s"] > 0 and c["throughput"]["batch_per_s"] > 0
    a, b = run_doc["candidates"]
    assert run_doc["baseline"] == a["name"]
    assert a["ratio"] == {"median": 1.0, "p99": 1.0, "round_median": 1.0, "round_iqr": 0.0}
    assert b["ratio"]["median"] == pytest.approx(b["latency_ms"]["median"] / a["latency_ms"]["median"], rel=1e-3)


def test_params_and_macs_are_counted_from_the_graph(beat_dir, run_doc):
    pytest.importorskip("onnx")
    for c, width in zip(run_doc["candidates"], (8, 32), strict=True):
        assert c["model"]["complexity_source"] == "onnx-graph"
        assert c["model"]["params"] == _beat_params(width)
        assert c["model"]["macs"] == _beat_macs(width)


def test_windows_are_the_stream_front_end_output(beat_dir):
    from edge_ecg.data.records import read_record
    from edge_ecg.deploy.manifest import load_manifest
    from edge_ecg.runtime.demo import DEMO_RECORD

    record = read_record(DEMO_RECORD)
    ws = real_windows(load_manifest(beat_dir / "tiny_a.onnx"), record, min_duration_s=0)
    ann_beats = len(record.annotations)
    assert 0.85 * ann_beats <= len(ws.feeds) <= ann_beats  # every beat after the 2 s settling time
    for f in ws.feeds[:50]:
        x, side = f["ecg"], f["side"]
        assert x.shape == (1, 1, 252) and x.dtype == np.float32 and side.shape == (1, 7)
        assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1.0, abs=0.01)  # z-scored
        assert np.all(np.isfinite(side)) and np.all(np.abs(side[0, :4]) < math.log(4.0) + 1e-6)  # ln(RR), RR in 0.1..4 s


class _FakeBackend(Backend):
    kind = "fake"

    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log
        self.inputs = (TensorInfo("ecg", ("batch", 1, 252), "tensor(float)"), TensorInfo("side", ("batch", 7), "tensor(float)"))
        self.outputs = (TensorInfo("logits", ("batch", 5), "tensor(float)"),)

    def run(self, feeds):
        self.log.append(self.name)
        return np.zeros((next(iter(feeds.values())).shape[0], 5), np.float32)


def test_candidates_are_interleaved_round_by_round_in_shuffled_order(beat_dir, monkeypatch):
    from edge_ecg.bench import latency

    log: list[str] = []
    monkeypatch.setattr(latency, "open_candidate", lambda c, providers=("cpu",): _FakeBackend(c.name, log))
    cands, _ = make_candidates([beat_dir / "tiny_a.onnx", beat_dir / "tiny_b.onnx"], threads=(1, 2))
    cfg = BenchConfig(rounds=6, per_round=7, warmup=3, batch=0, rss=False, floor=False)
    doc = run_latency(cands, cfg)
    names = [c.name for c in cands]
    timed = log[len(names) * cfg.warmup :]
    assert log[: len(names) * cfg.warmup] == [n for n in names for _ in range(cfg.warmup)]
    assert len(timed) == cfg.rounds * cfg.per_round * len(names)
    blocks = [timed[i : i + cfg.per_round] for i in range(0, len(timed), cfg.per_round)]
    assert all(len(set(b)) == 1 for b in blocks)  # per_round calls back to back
    order = [b[0] for b in blocks]
    rounds = [order[i : i + len(names)] for i in range(0, len(order), len(names))]
    assert all(sorted(r) == sorted(names) for r in rounds)  # every candidate once per round
    assert rounds == doc["schedule"]
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds


def test_interleaved_rounds_times_each_call_with_the_clock():
    ticks = iter(range(0, 10**9, 1000))  # every clock read advances 1 µs
    calls = []
    times, schedule = interleaved_rounds({"a": calls.append, "b": calls.append}, rounds=3, per_round=4,
                                         rng=np.random.default_rng(1), clock=lambda: next(ticks))
    assert sorted(calls) == sorted(list(range(12)) * 2)  # call index counts each runner's calls
    assert all(t.shape == (3, 4) for t in times.values())
    assert np.all(times["a"] == 1e-3) and np.all(times["b"] == 1e-3)  # ms
    assert len(schedule) == 3


def test_latency_stats_and_config_validation():
    t = np.arange(1, 201, dtype=float).reshape(4, 50)
    s = latency_stats(t)
    assert s["median"] == 100.5 and s["max"] == 200 and s["p90"] <= s["p99"] <= s["max"]
    with pytest.raises(ConfigError):
        latency_stats(np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="rounds"):
        BenchConfig(rounds=0)
    with pytest.raises(ConfigError, match="batch 1"):
        BenchConfig(batch=1)
    assert parse_threads("1, 2,all") == (1, 2, "all")
    with pytest.raises(ConfigError, match="'x'"):
        parse_threads("1,x")
    assert pick_baseline(["a.onnx/ort/t1", "b.onnx/ort/t1"], "b.onnx") == "b.onnx/ort/t1"
    with pytest.raises(ConfigError, match="matches no candidate"):
        pick_baseline(["a.onnx/ort/t1"], "zzz")


def test_candidates_resolve_threads_and_skip_missing_backends(beat_dir, tmp_path):
    from edge_ecg.bench.machine import usable_cores

    cands, _ = make_candidates([beat_dir / "tiny_a.onnx"], threads=(1, "all", 1))
    assert [c.threads for c in cands] == list(dict.fromkeys([1, usable_cores()]))
    with pytest.raises(ConfigError, match="does not exist"):
        make_candidates([tmp_path / "missing.onnx"])
    fake = tmp_path / "m.tflite"
    fake.write_bytes(b"not a model")
    cands, notes = make_candidates([fake], backends=["onnxruntime"])
    assert cands == [] and "no selected backend" in notes[0]


def test_rss_probe_in_a_fresh_process_is_non_negative(beat_dir):
    c = Candidate(beat_dir / "tiny_a.onnx", "onnxruntime", 1, "1", "tiny_a.onnx/ort/t1")
    feeds = {"ecg": np.zeros((1, 1, 252), np.float32), "side": np.zeros((1, 7), np.float32)}
    r = measure_rss(c, feeds, warmup=3)
    assert r["added_peak_mb"] >= 0 and r["added_peak_mb"] >= r["added_resident_mb"] - 0.01
    assert r["rss_before_load_mb"] > 10  # numpy + onnxruntime are loaded before the model
    assert r["peak_mb"] >= r["rss_before_load_mb"]


# -- JSON, report, compare ----------------------------------------------------------------------


def test_json_matches_the_documented_schema_and_round_trips(run_doc, tmp_path):
    report.validate(run_doc)
    p = report.write_json(run_doc, tmp_path / "run.json")
    back = report.load_json(p)
    assert back["candidates"][0]["timings_ms"] == run_doc["candidates"][0]["timings_ms"]
    broken = copy.deepcopy(run_doc)
    del broken["candidates"][1]["latency_ms"]["p99"]
    with pytest.raises(ConfigError, match=r"candidates\[1\]\.latency_ms: missing key 'p99'"):
        report.validate(broken)
    broken = dict(run_doc, schema_version=99)
    with pytest.raises(ConfigError, match="schema_version"):
        report.validate(broken)
    (tmp_path / "bad.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="bad.json"):
        report.load_json(tmp_path / "bad.json")


def test_compare_two_runs_prints_ratios(run_doc, tmp_path, capsys):
    from edge_ecg.cli import main

    pi = copy.deepcopy(run_doc)
    pi["machine"]["cpu_model"] = "Cortex-A76"
    for c in pi["candidates"]:
        for k in ("median", "p99"):
            c["latency_ms"][k] *= 3.0
    a = report.write_json(run_doc, tmp_path / "a.json")
    b = report.write_json(pi, tmp_path / "b.json")
    text = report.compare(run_doc, pi)
    assert "Cortex-A76" in text and "tiny_b.onnx/ort/t1" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("tiny_a.onnx/ort/t1")]
    assert len(rows) == 1 and rows[0].split()[3] == "3.00"
    assert main(["bench", "--compare", str(a), str(b)]) == 0
    assert "Cortex-A76" in capsys.readouterr().out


def test_cli_writes_table_json_and_report_with_profile(beat_dir, tmp_path, capsys):
    from edge_ecg.cli import main

    rc = main(["bench", str(beat_dir / "tiny_a.onnx"), "--threads", "1", "--rounds", "2", "--per-round", "100",
               "--warmup", "2", "--batch", "4", "--no-rss", "--profile", "--quiet",
               "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "rep")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "tiny_a.onnx/ort/t1" in out and "profile tiny_a.onnx/ort/t1" in out and "floor" in out
    doc = report.load_json(tmp_path / "r.json")
    c = doc["candidates"][0]
    assert c["latency_ms"]["n"] == 200
    ops = {r["op"] for r in c["profile"]["op_types"]}
    assert ops & {"Conv", "FusedConv"} and "Gemm" in ops
    assert sum(r["share"] for r in c["profile"]["op_types"]) <= 1.0 + 1e-6
    assert c["floor"]["over_floor"] > 0 and c["floor"]["over_floor_batch"] > 0 and doc["floor"]["onnxruntime"]["threads"]["1"]["fp32_gmacs"] > 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Latency" in md and "tiny_a.onnx/ort/t1" in md
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plots skipped" in md
    else:
        assert (tmp_path / "rep" / "latency_box.png").stat().st_size > 1000


# -- compute floor --------------------------------------------------------------------------------


def test_floor_kernels_are_valid_onnx_and_measure_a_rate():
    small = (FloorKernel("matmul", "fp32", m=32, k=32, n=32), FloorKernel("matmul", "int8", m=32, k=32, n=32),
             FloorKernel("conv1d", "fp32", m=8, k=3, n=64), FloorKernel("conv1d", "int8", m=8, k=3, n=64))
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        for k in small:
            onnx.checker.check_model(onnx.load_from_string(k.onnx_bytes()), full_check=True)
    res = measure_floor((1,), kernels=small, rounds=2, per_round=2, warmup=1)
    row = res["threads"]["1"]
    assert row["fp32_gmacs"] > 0 and row["int8_gmacs"] > 0 and len(row["kernels"]) == 4
    assert small[3].macs == 8 * 8 * 3 * 64
    f = floor_for(1_000_000, "int8", {"threads": {"1": {"int8_gmacs": 1.0, "fp32_gmacs": 0.5}}}, 1, 4.0)
    assert f["floor_ms"] == pytest.approx(1.0) and f["over_floor"] == pytest.approx(4.0)
    assert f["over_floor_batch"] is None
    fb = floor_for(1_000_000, "int8", {"threads": {"1": {"int8_gmacs": 1.0}}}, 1, 4.0, batch_window_ms=1.5)
    assert fb["over_floor_batch"] == pytest.approx(1.5) and fb["over_floor"] == pytest.approx(4.0)
    assert floor_for(None, "int8", res, 1, 1.0)["note"] == "model MACs unknown"
    with pytest.raises(ConfigError, match="kind"):
        FloorKernel("fft", "fp32")


def test_complexity_prefers_the_manifest(beat_dir, tmp_path):
    import dataclasses

    from edge_ecg.deploy.manifest import load_manifest

    m = load_manifest(beat_dir / "tiny_a.onnx")
    m2 = dataclasses.replace(m, training={"params": 1234, "macs": 56789})
    cx = model_complexity(beat_dir / "tiny_a.onnx", m2)
    assert (cx.params, cx.macs, cx.source, cx.precision) == (1234, 56789, "manifest", "fp32")


# -- streaming capacity ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def beat_clf(beat_dir):
    from edge_ecg.runtime.classifier import Classifier

    return Classifier(beat_dir / "tiny_a.onnx", threads=1)


def test_frames_encode_the_record_once_as_the_device_would(beat_clf):
    from edge_ecg.protocol import DataBlock, Descriptor, FrameDecoder

    src = beat_source()
    frames = encode_frames(src, 3600)
    events = []
    dec = FrameDecoder()
    for f in frames:
        events += dec.feed(f)
    blocks = [e for e in events if isinstance(e, DataBlock)]
    assert isinstance(events[0], Descriptor) and events[0].channel_names == ("MLII", "V1")
    assert sum(b.n_samples for b in blocks) == 3600 == len(frames) * 10
    assert np.array_equal(np.concatenate([b.counts for b in blocks]), src.counts[:3600])
    assert dec.stats.frames_ok > len(frames) and dec.stats.bytes_discarded == 0  # + descriptors, heartbeats


def test_capacity_on_a_short_excerpt_gives_cpu_cost_and_k(beat_clf):
    src = beat_source()
    frame_s = 10 / src.fs_hz
    frames = encode_frames(src, int(src.fs_hz * 40))
    cost = cpu_per_stream_second(beat_clf, frames, frame_s=frame_s, stream_s=8.0, warm_s=2.5, repeats=1)
    c = cost["cpu_s_per_stream_s"]
    assert 0 < c < 1
    ms = cost["cpu_ms_per_stream_s"]
    assert ms["total"] >= ms["decode"] > 0 and ms["frontend"] >= 0 and ms["model"] >= 0
    assert math.floor(1 / c) >= 1
    assert 0.5 < cost["results_per_stream_s"] < 4 and cost["labelled_fraction"] > 0.6  # the model did run (the first beats settle)
    entry = stream_capacity("beat", beat_clf, src, CapacityConfig(stream_s=6.0, repeats=1, warm_s=2.5, verify="none"))
    assert entry["status"] == "ok" and entry["cpu_s_per_stream_s"] > 0 and entry["k_estimate"] >= 1
    two = run_streams(beat_clf, frames, 2, frame_s=frame_s, warm_s=2.5, verify_s=2.0, paced=False)
    assert two["k"] == 2 and two["wall_s"] > 0 and two["cpu_s"] > 0
    paced = run_streams(beat_clf, frames, 1, frame_s=frame_s, warm_s=2.5, verify_s=1.0, paced=True)
    assert paced["wall_s"] >= 1.0 - frame_s  # released at the pace of the device clock
    assert paced["ok"]  # one stream costs milliseconds per second: it keeps up


def test_window_stream_capacity_and_na_without_a_window_model(beat_dir, window_model):
    from edge_ecg.runtime.classifier import Classifier

    src = twelve_lead_source()
    assert len(src.lead_names) == 12 and src.fs_hz == 500.0
    cfg = CapacityConfig(stream_s=12.0, repeats=1, warm_s=2.5, verify="none")
    entry = stream_capacity("window", Classifier(window_model, threads=1), src, cfg)
    assert entry["status"] == "ok" and entry["cpu_s_per_stream_s"] > 0 and entry["n_channels"] == 12
    # windows reached the model: the clean CinC 2021 record passes the 12-lead quality gate
    assert entry["results_per_stream_s"] > 0 and entry["labelled_fraction"] == 1.0
    assert "100 % of" in report.format_capacity({"streams": [entry]})
    doc = measure_capacity(beat_dir / "tiny_a.onnx", None, config=cfg)
    assert [s["name"] for s in doc["streams"]] == ["beat", "window"]
    assert doc["streams"][1]["status"] == "n/a" and "window model" in doc["streams"][1]["reason"]
    assert "n/a" in report.format_capacity(doc)


# -- environment ----------------------------------------------------------------------------------


def test_machine_info_describes_this_box():
    m = machine_info()
    assert m["cores_usable"] >= 1 and m["arch"] and m["cpu_model"] and m["packages"]["numpy"] == np.__version__


def test_bench_modules_run_without_torch_tensorflow_onnx_or_wfdb(beat_dir):
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'tensorflow', 'wfdb', 'onnx', 'torchao', 'litert_torch'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import edge_ecg.bench.latency, edge_ecg.bench.capacity, edge_ecg.bench.report, edge_ecg.bench.cli\n"
        "from edge_ecg.bench.floor import FloorKernel, measure_floor, model_complexity\n"
        "r = measure_floor((1,), kernels=(FloorKernel('matmul', 'int8', m=16, k=16, n=16),), rounds=1, per_round=1)\n"
        "assert r['threads']['1']['int8_gmacs'] > 0\n"
        f"cx = model_complexity({str(beat_dir / 'tiny_a.onnx')!r})\n"
        "assert cx.macs is None and 'onnx package' in cx.note, cx\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


@pytest.mark.parametrize("name", ["model_int8.onnx", "model_int8.tflite"])
def test_size_breakdown_sums_to_the_file_and_finds_the_int8_parts(name):
    pytest.importorskip("onnx" if name.endswith(".onnx") else "ai_edge_litert")
    from edge_ecg.bench.sizes import CATEGORIES, size_breakdown
    from edge_ecg.deploy.manifest import load_manifest
    from edge_ecg.paths import ASSETS_DIR

    path = ASSETS_DIR / "models" / "beat" / name
    parts = size_breakdown(path)
    assert tuple(parts) == CATEGORIES and all(v >= 0 for v in parts.values())
    assert sum(parts.values()) == path.stat().st_size
    assert max(parts, key=parts.get) == "weights"  # one byte per weight is still the largest part
    assert parts["quant_params"] > 0 and parts["biases"] > 0
    # the embedded manifest is counted as metadata, not as graph
    assert parts["metadata"] >= len(load_manifest(path).to_json(with_files=False)) // 2


def test_size_breakdown_refuses_other_files(tmp_path):
    from edge_ecg.bench.sizes import size_breakdown
    from edge_ecg.errors import ModelError

    with pytest.raises(ModelError, match="does not exist"):
        size_breakdown(tmp_path / "nope.onnx")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"\.onnx or \.tflite"):
        size_breakdown(tmp_path / "m.pt")
