"""What machine a benchmark ran on: CPU, board, cores, OS, Python and runtime versions, and the
conditions that make timings untrustworthy (frequency governor, temperature, load).

Standard library only (``/proc``, ``/sys``, :mod:`platform`, :mod:`importlib.metadata`): it runs on
a bare Raspberry Pi or Jetson without psutil, and never imports the runtimes it reports on.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

# distributions whose versions decide inference speed (pip names)
PACKAGES = ("edge-ecg", "numpy", "scipy", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tflite-runtime", "onnx")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_model() -> str:
    """A human name of the CPU: ``model name`` on x86, the SoC/board on ARM, else platform."""
    text = _read("/proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    if fields.get("model name"):
        return fields["model name"]
    # aarch64 kernels print no model name; the part number names the core (ARM's own table)
    arm_parts = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
                 "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
                 "0xd0c": "Neoverse-N1", "0xd41": "Cortex-A78", "0xd42": "Cortex-A78AE", "0xd4a": "Neoverse-E1",
                 "0x004": "Carmel (NVIDIA)"}
    part = fields.get("CPU part", "").lower()
    if part in arm_parts:
        return arm_parts[part]
    return fields.get("Hardware") or platform.processor() or platform.machine() or "unknown"


def board_model() -> str | None:
    """The board (``Raspberry Pi 5 Model B Rev 1.0``, ``NVIDIA Jetson Orin Nano``) from the device tree."""
    return _read("/proc/device-tree/model") or _read("/sys/firmware/devicetree/base/model")


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity / cgroup pinning), at least 1."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def os_name() -> str:
    text = _read("/etc/os-release") or ""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`PACKAGES` (``None``: not installed), without importing them."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_temperature_c() -> float | None:
    """The first thermal zone's temperature in °C (SoC on a Pi), or ``None``."""
    raw = _read("/sys/class/thermal/thermal_zone0/temp")
    try:
        return round(int(raw) / 1000.0, 1) if raw else None
    except ValueError:
        return None


def conditions() -> dict:
    """What may distort a timing *now*: governor, temperature, load, Pi throttling flags."""
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    try:
        load = tuple(round(v, 2) for v in os.getloadavg())
    except (AttributeError, OSError):
        load = None
    throttled = _read("/sys/devices/platform/soc/soc:firmware/get_throttled")
    return {
        "governor": governor,
        "cpu0_mhz": round(int(freq) / 1000) if freq and freq.isdigit() else None,
        "temperature_c": cpu_temperature_c(),
        "loadavg": list(load) if load else None,
        "pi_throttled": throttled,
    }


def machine_info() -> dict:
    """Everything :mod:`edge_ecg.bench.report` prints about the machine (JSON-ready)."""
    return {
        "cpu_model": cpu_model(),
        "board": board_model(),
        "arch": platform.machine(),
        "cores_logical": os.cpu_count() or 1,
        "cores_usable": usable_cores(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": sys.implementation.name,
        "packages": package_versions(),
        "conditions_start": conditions(),
    }


def warnings_for(conditions_start: dict, conditions_end: dict | None = None) -> list[str]:
    """Plain-language warnings a reader of the report must see next to the numbers."""
    out = []
    gov = conditions_start.get("governor")
    if gov and gov not in ("performance",):
        out.append(f"CPU frequency governor is {gov!r}: clocks ramp with load, so short runs read slow "
                   "(for stable numbers: sudo cpupower frequency-set -g performance)")
    load = conditions_start.get("loadavg")
    cores = usable_cores()
    if load and load[0] > 0.5 * cores:
        out.append(f"load average {load[0]} on {cores} cores at start: other processes compete for the CPU")
    end = conditions_end or {}
    t0, t1 = conditions_start.get("temperature_c"), end.get("temperature_c")
    if t1 is not None and t1 >= 80.0:
        out.append(f"SoC reached {t1} °C (from {t0} °C): thermal throttling is likely, add cooling")
    thr = end.get("pi_throttled") or conditions_start.get("pi_throttled")
    if thr and thr not in ("0", "0x0"):
        out.append(f"firmware reports throttling/under-voltage (get_throttled={thr})")
    return out
