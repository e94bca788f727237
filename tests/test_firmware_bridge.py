"""firmware_bridge/: the generated C header, the golden vectors shared by Python and C, the C
host test compiled with the system compiler, PROTOCOL.md and the MCU example sketch.

How the goldens were made: ``python -m edge_ecg.protocol.golden`` (the Python encoder writes the
``.bin`` frames, the Python decoder the ``.json`` events, and the inputs go to
``golden_inputs.h`` for the C test).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_ecg.protocol import FrameDecoder, spec
from edge_ecg.protocol.gen_c_header import render_c_header
from edge_ecg.protocol.golden import cases, events_to_json, render_all

BRIDGE = Path(__file__).resolve().parents[1] / "firmware_bridge"
GOLDEN = BRIDGE / "golden"
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _compiler(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        f"no C compiler found (looked for {', '.join(names)} on PATH); the C host test needs one"
    )


def test_generated_header_matches_the_committed_one():
    committed = (BRIDGE / "edge_ecg_protocol.h").read_text()
    assert committed == render_c_header(), (
        "firmware_bridge/edge_ecg_protocol.h drifted from edge_ecg/protocol/spec.py; regenerate it "
        "with: python -m edge_ecg.protocol.gen_c_header > firmware_bridge/edge_ecg_protocol.h"
    )


def test_header_names_every_constant_of_the_spec():
    text = render_c_header()
    assert f"#define EDGE_ECG_CRC_CHECK 0x{spec.CRC_CHECK:04X}u" in text
    assert f"#define EDGE_ECG_MAX_PAYLOAD_BYTES {spec.MAX_PAYLOAD_BYTES}u" in text
    for code, name in spec.FRAME_TYPES.items():
        assert f"#define EDGE_ECG_FRAME_{name.upper()} {code}u" in text
    for layout in spec.LAYOUTS:
        for field, off in layout.offsets():
            assert f"#define EDGE_ECG_{layout.c_name}_OFF_{field.name.upper()} {off}u" in text
    assert text.isascii()


def test_committed_golden_files_match_a_fresh_render():
    fresh = render_all()
    on_disk = {p.name for p in GOLDEN.iterdir() if p.is_file()}
    assert on_disk == set(fresh), (
        "golden folder out of date: run python -m edge_ecg.protocol.golden"
    )
    for name, content in fresh.items():
        assert (GOLDEN / name).read_bytes() == content, (
            f"{name} drifted: run python -m edge_ecg.protocol.golden"
        )


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_golden_bin_decodes_to_its_json_whole_and_byte_by_byte(case):
    data = (GOLDEN / f"{case.name}.bin").read_bytes()
    want = json.loads((GOLDEN / f"{case.name}.json").read_text())
    assert data == case.encode()
    assert want["n_bytes"] == len(data)
    dec = FrameDecoder()
    assert events_to_json(dec.feed(data)) == want["events"]
    assert vars(dec.stats) == want["stats"]
    dec1 = FrameDecoder()
    events = []
    for b in data:
        events += dec1.feed(bytes([b]))
    assert events_to_json(events) == want["events"]
    assert vars(dec1.stats) == want["stats"]


def test_golden_stream_accounts_for_the_lost_frame_and_garbage():
    want = json.loads((GOLDEN / "stream.json").read_text())
    kinds = [e["type"] for e in want["events"]]
    assert kinds == ["Descriptor", "DataBlock", "Gap", "DataBlock", "Gap", "Heartbeat"]
    gaps = [(e["first_sample"], e["n_samples"]) for e in want["events"] if e["type"] == "Gap"]
    assert gaps == [(10, 10), (30, 10)]
    s = want["stats"]
    assert s["frames_lost"] == 1 and s["frames_bad_length"] == 1 and s["frames_bad_version"] == 1
    assert s["bytes_in"] == s["bytes_in_frames"] + s["bytes_discarded"] + s["bytes_buffered"]


def test_c_encoder_reproduces_the_golden_vectors(tmp_path):
    cc = _compiler("cc", "gcc", "clang")
    exe = tmp_path / "test_host"
    build = subprocess.run(
        [
            cc,
            *C_FLAGS,
            "-I",
            str(BRIDGE),
            "-I",
            str(GOLDEN),
            str(BRIDGE / "test_host.c"),
            str(BRIDGE / "edge_ecg_encoder.c"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), str(GOLDEN)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "ok   CRC-16/CCITT-FALSE check value 0x29B1 123456789" in lines
    single = [c for c in cases() if c.name != "stream"]
    for case in single:
        assert f"ok   bytes equal golden {case.name}" in lines
    assert lines[-1].endswith(" 0 failures")


def test_c_encoder_uses_only_freestanding_headers():
    src = (BRIDGE / "edge_ecg_encoder.c").read_text() + (BRIDGE / "edge_ecg_encoder.h").read_text()
    includes = {line.split()[1] for line in src.splitlines() if line.startswith("#include")}
    assert includes <= {
        "<stdint.h>",
        "<stddef.h>",
        "<string.h>",
        '"edge_ecg_protocol.h"',
        '"edge_ecg_encoder.h"',
    }
    assert "malloc(" not in src and "printf(" not in src


_ARDUINO_STUB = """
#pragma once
#include <stdint.h>
#include <stddef.h>
#define HIGH 1
#define LOW 0
#define INPUT 0
#define OUTPUT 1
#define INPUT_PULLUP 2
#define FALLING 2
#define A0 14
void pinMode(uint8_t, uint8_t);
void digitalWrite(uint8_t, uint8_t);
int digitalRead(uint8_t);
int analogRead(uint8_t);
void delay(unsigned long);
void delayMicroseconds(unsigned int);
unsigned long millis(void);
int digitalPinToInterrupt(uint8_t);
void attachInterrupt(int, void (*)(void), int);
void noInterrupts(void);
void interrupts(void);
struct HardwareSerial { void begin(unsigned long); size_t write(const uint8_t *, size_t); };
extern HardwareSerial Serial;
"""

_SPI_STUB = """
#pragma once
#include <stdint.h>
#define MSBFIRST 1
#define SPI_MODE1 1
struct SPISettings { SPISettings(uint32_t, uint8_t, uint8_t) {} };
struct SPIClass {
  void begin(); void beginTransaction(SPISettings); uint8_t transfer(uint8_t); void usingInterrupt(int);
};
extern SPIClass SPI;
"""


def test_arduino_sketch_compiles_against_stub_arduino_headers(tmp_path):
    cxx = _compiler("c++", "g++", "clang++")
    (tmp_path / "Arduino.h").write_text(_ARDUINO_STUB)
    (tmp_path / "SPI.h").write_text(_SPI_STUB)
    sketch = BRIDGE / "examples" / "ads1298_arduino" / "ads1298_arduino.ino"
    res = subprocess.run(
        [
            cxx,
            "-std=c++11",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-x",
            "c++",
            "-I",
            str(tmp_path),
            "-I",
            str(BRIDGE),
            str(sketch),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr


def test_protocol_md_holds_the_generated_tables_and_the_golden_examples():
    doc = (BRIDGE / "PROTOCOL.md").read_text()
    assert spec.layout_markdown().rstrip("\n") in doc, (
        "PROTOCOL.md layout tables drifted: paste edge_ecg.protocol.spec.layout_markdown() between "
        "the layout-tables markers"
    )
    assert "0x29B1" in doc and "0x1021" in doc and "0xFFFF" in doc
    for name in ("heartbeat", "data_int16_1ch_1sample", "event_button"):
        hexline = " ".join(f"{b:02X}" for b in (GOLDEN / f"{name}.bin").read_bytes())
        assert hexline in doc, f"the {name} example in PROTOCOL.md does not match golden/{name}.bin"
