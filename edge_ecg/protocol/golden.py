"""Golden vectors shared by the Python and the C tests of the protocol.

    python -m edge_ecg.protocol.golden            # writes firmware_bridge/golden/
    python -m edge_ecg.protocol.golden --out DIR

For every case this writes ``<name>.bin`` (the frame bytes made by the Python encoder) and
``<name>.json`` (its inputs, and the events and counters the Python decoder makes of the bytes),
plus ``golden_inputs.h``: the same inputs as C arrays, so ``firmware_bridge/test_host.c`` encodes
them with the C encoder and compares byte for byte with the ``.bin`` files. The ``stream`` case
(frames, garbage, a lost frame) exercises the decoder only.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.protocol import spec
from edge_ecg.protocol.decoder import FrameDecoder
from edge_ecg.protocol.encoder import (
    encode_data,
    encode_descriptor,
    encode_event,
    encode_heartbeat,
    format_code,
)
from edge_ecg.protocol.events import (
    CounterReset,
    DataBlock,
    Descriptor,
    DeviceEvent,
    Gap,
    Heartbeat,
)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "golden"
INPUTS_HEADER = "golden_inputs.h"


@dataclass(frozen=True)
class DataCase:
    name: str
    seq: int
    first_sample: int
    counts: np.ndarray
    sample_format: str
    lead_off_mask: int

    def encode(self) -> bytes:
        return encode_data(
            self.seq, self.first_sample, self.counts, self.sample_format, self.lead_off_mask
        )

    def inputs(self) -> dict:
        return {
            "kind": "data",
            "seq": self.seq,
            "first_sample": self.first_sample,
            "sample_format": self.sample_format,
            "lead_off_mask": self.lead_off_mask,
            "counts": self.counts.tolist(),
        }


@dataclass(frozen=True)
class DescriptorCase:
    name: str
    seq: int
    descriptor: Descriptor

    def encode(self) -> bytes:
        return encode_descriptor(self.seq, self.descriptor)

    def inputs(self) -> dict:
        return {"kind": "descriptor", "seq": self.seq, **_event_json(self.descriptor)}


@dataclass(frozen=True)
class EventCase:
    name: str
    seq: int
    kind: str
    value: int
    sample: int

    def encode(self) -> bytes:
        return encode_event(self.seq, self.kind, self.value, self.sample)

    def inputs(self) -> dict:
        return {
            "kind": "event",
            "seq": self.seq,
            "event_kind": self.kind,
            "value": self.value,
            "sample": self.sample,
        }


@dataclass(frozen=True)
class HeartbeatCase:
    name: str
    seq: int
    next_sample: int
    uptime_ms: int

    def encode(self) -> bytes:
        return encode_heartbeat(self.seq, self.next_sample, self.uptime_ms)

    def inputs(self) -> dict:
        return {
            "kind": "heartbeat",
            "seq": self.seq,
            "next_sample": self.next_sample,
            "uptime_ms": self.uptime_ms,
        }


@dataclass(frozen=True)
class StreamCase:
    name: str
    parts: tuple  # cases or raw garbage bytes

    def encode(self) -> bytes:
        return b"".join(p if isinstance(p, bytes) else p.encode() for p in self.parts)

    def inputs(self) -> dict:
        return {
            "kind": "stream",
            "parts": [
                {"garbage_hex": p.hex()} if isinstance(p, bytes) else {"case": p.name, **p.inputs()}
                for p in self.parts
            ],
        }


_TWELVE = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def cases() -> list:
    """The golden cases (deterministic: a fixed seed and hand-picked edge values)."""
    rng = np.random.default_rng(20240601)
    mitdb_desc = Descriptor(
        fs_hz=360.0,
        channel_names=("MLII", "V5"),
        uv_per_count=[5.0, 5.0],
        baseline_counts=[1024, 1024],
        sample_format="int16",
        samples_per_frame=10,
        device_id=0xEC600100,
        firmware_version=(1, 2, 3),
        next_sample=0,
    )
    # ADS1298 at gain 6, Vref 2.4 V: 2 * 2.4 V / 6 / 2**24 = 0.0476837158203125 µV, exact in float32
    ads_desc = Descriptor(
        fs_hz=500.0,
        channel_names=_TWELVE,
        uv_per_count=[0.0476837158203125] * 12,
        baseline_counts=[0] * 12,
        sample_format="int24",
        samples_per_frame=4,
        device_id=42,
        firmware_version=(0, 9, 17),
        next_sample=4294967301,
    )
    i16 = rng.integers(-2000, 2000, size=(10, 2))
    i16[0] = (-32768, 32767)
    i16[1] = (0, -1)
    i24 = rng.integers(-(2**23), 2**23, size=(4, 12))
    i24[0, :4] = (-(2**23), 2**23 - 1, -1, 0)
    i24[1, :3] = (1, -2, 0x7FFF)
    data16 = DataCase("data_int16_2ch", 1, 0, i16, "int16", 0b10)
    data24 = DataCase(
        "data_int24_12ch", 2, 4294967301, i24, "int24", (1 << 0) | (1 << 9) | (1 << 11)
    )
    one = DataCase("data_int16_1ch_1sample", 65535, 7, np.array([[-12345]]), "int16", 0)
    out = [
        DescriptorCase("descriptor_mitdb", 0, mitdb_desc),
        DescriptorCase("descriptor_ads1298", 0xFFFF, ads_desc),
        data16,
        data24,
        one,
        EventCase("event_button", 3, "button", 2, 123456),
        EventCase("event_battery", 4, "battery", 3712, 9000000000),
        EventCase("event_marker", 5, "marker", -7, 0),
        HeartbeatCase("heartbeat", 6, 1000, 987654),
    ]
    later16 = rng.integers(-2000, 2000, size=(10, 2))
    stream = StreamCase(
        "stream",
        (
            b"\x00\xec\x13\xa5\xec",  # noise, including a lone first sync byte
            DescriptorCase("s_descriptor", 10, mitdb_desc),
            DataCase("s_data_0", 11, 0, i16, "int16", 0),
            b"\xec\xa5\x01\x02\x00\x00\xff\xff",  # a header claiming 65535 payload bytes
            DataCase("s_data_20", 13, 20, later16, "int16", 0b01),  # seq 12 lost: samples 10..19
            b"\xec\xa5\x07",  # a bad version
            HeartbeatCase("s_heartbeat", 14, 40, 5000),  # samples 30..39 never sent: a gap
        ),
    )
    out.append(stream)
    return out


def _event_json(ev) -> dict:
    if isinstance(ev, Descriptor):
        return {
            "type": "Descriptor",
            "fs_hz": ev.fs_hz,
            "channel_names": list(ev.channel_names),
            "uv_per_count": [float(v) for v in ev.uv_per_count],
            "baseline_counts": [int(v) for v in ev.baseline_counts],
            "sample_format": ev.sample_format,
            "samples_per_frame": ev.samples_per_frame,
            "device_id": ev.device_id,
            "firmware_version": list(ev.firmware_version),
            "next_sample": ev.next_sample,
            "seq": ev.seq,
        }
    if isinstance(ev, DataBlock):
        return {
            "type": "DataBlock",
            "first_sample": ev.first_sample,
            "seq": ev.seq,
            "counts": ev.counts.tolist(),
            "lead_off": ev.lead_off.tolist(),
            "uv": None if ev.uv_per_count is None else ev.uv().tolist(),
        }
    if isinstance(ev, Gap):
        return {"type": "Gap", "first_sample": ev.first_sample, "n_samples": ev.n_samples}
    if isinstance(ev, DeviceEvent):
        return {
            "type": "DeviceEvent",
            "kind": ev.kind,
            "value": ev.value,
            "sample": ev.sample,
            "seq": ev.seq,
        }
    if isinstance(ev, Heartbeat):
        return {
            "type": "Heartbeat",
            "next_sample": ev.next_sample,
            "uptime_ms": ev.uptime_ms,
            "seq": ev.seq,
        }
    if isinstance(ev, CounterReset):
        return {
            "type": "CounterReset",
            "expected_sample": ev.expected_sample,
            "first_sample": ev.first_sample,
        }
    raise TypeError(f"not a protocol event: {ev!r}")


def events_to_json(events) -> list[dict]:
    """Events as plain JSON values (what the ``.json`` golden files hold)."""
    return [_event_json(e) for e in events]


def decode_json(data: bytes) -> dict:
    """Decode ``data`` in one piece and return ``{"events": ..., "stats": ...}`` as JSON values."""
    dec = FrameDecoder()
    events = dec.feed(data)
    return {"events": events_to_json(events), "stats": vars(dec.stats)}


def case_json(case) -> dict:
    data = case.encode()
    return {"name": case.name, "n_bytes": len(data), "inputs": case.inputs(), **decode_json(data)}


# --- C inputs -----------------------------------------------------------------------------------


def _c_array(ctype: str, name: str, values) -> str:
    vals = [str(v) for v in values]
    lines = []
    for k in range(0, len(vals), 12):
        lines.append("    " + ", ".join(vals[k : k + 12]) + ",")
    return f"static const {ctype} {name}[] = {{\n" + "\n".join(lines) + "\n};"


def _c_int32(v: int) -> str:
    # INT32_MIN cannot be written as a literal in C
    return "(-2147483647 - 1)" if v == -(2**31) else f"{v}"


def _c_float(v: float) -> str:
    return f"{float(np.float32(v))!r}f"


def render_inputs_header(all_cases=None) -> str:
    """``golden_inputs.h``: every single-frame case as C data for ``test_host.c``."""
    all_cases = cases() if all_cases is None else all_cases
    out = [
        "/* golden_inputs.h: GENERATED by `python -m edge_ecg.protocol.golden`; do not edit.",
        " * Inputs of the golden vectors; test_host.c encodes them with the C encoder and compares",
        " * the bytes with <name>.bin. Requires edge_ecg_encoder.h. */",
        "#ifndef EDGE_ECG_GOLDEN_INPUTS_H",
        "#define EDGE_ECG_GOLDEN_INPUTS_H",
        "",
        '#include "edge_ecg_encoder.h"',
        "",
    ]
    data_rows, desc_rows, event_rows, hb_rows = [], [], [], []
    for case in all_cases:
        if isinstance(case, DataCase):
            arr = f"golden_{case.name}_counts"
            out.append(
                _c_array("int32_t", arr, [_c_int32(int(v)) for v in case.counts.reshape(-1)])
            )
            n, c = case.counts.shape
            data_rows.append(
                f'    {{"{case.name}", {case.seq}u, {case.first_sample}ull, {c}u, '
                f"{format_code(case.sample_format)}u, {n}u, 0x{case.lead_off_mask:08X}ul, {arr}}},"
            )
        elif isinstance(case, DescriptorCase):
            d = case.descriptor
            names = f"golden_{case.name}_names"
            uv = f"golden_{case.name}_uv"
            base = f"golden_{case.name}_baseline"
            out.append(_c_array("char *const", names, [f'"{s}"' for s in d.channel_names]))
            out.append(_c_array("float", uv, [_c_float(v) for v in d.uv_per_count]))
            out.append(_c_array("int32_t", base, [_c_int32(int(v)) for v in d.baseline_counts]))
            major, minor, patch = d.firmware_version
            desc_rows.append(
                f'    {{"{case.name}", {case.seq}u, {{{d.next_sample}ull, {round(d.fs_hz * 1000)}ul, '
                f"0x{d.device_id:08X}ul, {major}u, {minor}u, {patch}u, {d.n_channels}u, "
                f"{format_code(d.sample_format)}u, {d.samples_per_frame}u, {names}, {uv}, {base}}}}},"
            )
        elif isinstance(case, EventCase):
            event_rows.append(
                f'    {{"{case.name}", {case.seq}u, {case.sample}ull, {spec.EVENT_CODES[case.kind]}u, '
                f"{_c_int32(case.value)}}},"
            )
        elif isinstance(case, HeartbeatCase):
            hb_rows.append(
                f'    {{"{case.name}", {case.seq}u, {case.next_sample}ull, {case.uptime_ms}ul}},'
            )
    out += [
        "",
        "typedef struct { const char *name; uint16_t seq; uint64_t first_sample; uint8_t n_channels;",
        "                 uint8_t sample_format; uint16_t n_samples; uint32_t lead_off_mask;",
        "                 const int32_t *counts; } golden_data_case_t;",
        "typedef struct { const char *name; uint16_t seq; edge_ecg_descriptor_t d; } golden_descriptor_case_t;",
        "typedef struct { const char *name; uint16_t seq; uint64_t sample; uint8_t kind; int32_t value; }",
        "    golden_event_case_t;",
        "typedef struct { const char *name; uint16_t seq; uint64_t next_sample; uint32_t uptime_ms; }",
        "    golden_heartbeat_case_t;",
        "",
        "static const golden_data_case_t golden_data_cases[] = {",
        *data_rows,
        "};",
        "static const golden_descriptor_case_t golden_descriptor_cases[] = {",
        *desc_rows,
        "};",
        "static const golden_event_case_t golden_event_cases[] = {",
        *event_rows,
        "};",
        "static const golden_heartbeat_case_t golden_heartbeat_cases[] = {",
        *hb_rows,
        "};",
        "",
        "#endif /* EDGE_ECG_GOLDEN_INPUTS_H */",
        "",
    ]
    return "\n".join(out)


def render_all() -> dict[str, bytes]:
    """Every golden file, by file name, as bytes."""
    files: dict[str, bytes] = {}
    all_cases = cases()
    for case in all_cases:
        files[f"{case.name}.bin"] = case.encode()
        files[f"{case.name}.json"] = (json.dumps(case_json(case), indent=1) + "\n").encode()
    files[INPUTS_HEADER] = render_inputs_header(all_cases).encode()
    return files


def write_golden(out_dir: Path = DEFAULT_DIR) -> list[Path]:
    """Write the golden files into ``out_dir`` and return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_all().items():
        path = out_dir / name
        path.write_bytes(content)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_ecg.protocol.golden", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_DIR, help=f"output folder (default {DEFAULT_DIR})"
    )
    args = parser.parse_args(argv)
    for path in write_golden(args.out):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
