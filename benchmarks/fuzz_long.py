"""Long fuzz run: the property checks of ``tests/test_fuzz.py`` for 100,000+ generated cases.

    python benchmarks/fuzz_long.py [--scale 1.0] [--seed 20240601]

The test suite runs each property for a few hundred derandomized cases; this runs the same check
functions with the same hypothesis strategies, seeded (``--seed``), for a fixed budget per
property (``--scale`` multiplies it; the default totals 100,000 cases):

- ``corrupted frames``: every frame hit by a bit flip is rejected and counted exactly once; every
  intact frame is recovered; bytes, frames, sequence gaps, samples and gaps add up exactly;
- ``decoder vs simulator``: random byte loss / bit flips over random device layouts; the
  decoder's account equals the simulator's frame-by-frame truth, every decoded sample is right,
  except where a corrupted frame passed the CRC-16 (about 1 in 65,536 of them): those are counted
  and reported against that rate;
- ``text lines``: valid and malformed lines mixed; each malformed line is one counted lost sample
  at its position, each valid line a sample at its position;
- ``stream session``: whatever the decoder can emit (re-descriptions, channel-count mismatches,
  counters jumping both ways and past 2**63, lost frames, queue overflows) into a
  ``StreamSession`` with the bundled model: no exception but ``DeviceMismatchError`` for a device
  the model cannot use, no labelled beat touching a lost sample, the account equals the decoder's.

Prints, per property, the cases run and what they exercised, the wall time, and PASS/FAIL (the
first falsifying example, shrunk, is printed on failure). Exit status 1 if any property failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz as tf  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

# property -> (strategy, check, cases at --scale 1, the counters to show)
PROPERTIES = {
    "corrupted frames": (
        tf.corrupted_stream,
        tf.check_corrupted_frames,
        40_000,
        ("frames", "frames_corrupted", "frames_rejected", "frames_recovered", "bytes"),
    ),
    "decoder vs simulator": (
        tf.sim_case,
        tf.check_against_simulator,
        12_000,
        ("frames", "frames_faulted", "crc_escapes", "samples", "samples_lost", "bytes"),
    ),
    "text lines": (
        tf.text_case,
        tf.check_text_lines,
        46_000,
        ("lines", "lines_malformed", "bytes"),
    ),
    "stream session": (
        tf.session_case,
        tf.check_session,
        2_000,
        ("events", "results", "labelled", "unreadable", "refused"),
    ),
}


def run_property(name: str, n_cases: int, seed_value: int) -> tuple[Counter, float, str | None]:
    strategy, check, _, _ = PROPERTIES[name]
    totals: Counter = Counter()

    @seed(seed_value)
    @settings(
        max_examples=n_cases,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def prop(case):
        totals.update(check(*case))

    t0 = time.monotonic()
    try:
        prop()
        failure = None
    except Exception as exc:  # noqa: BLE001 - report the falsifying example and go on
        notes = "\n".join(getattr(exc, "__notes__", ()))  # hypothesis puts the example here
        failure = f"{type(exc).__name__}: {exc}\n{notes}".strip()
    return totals, time.monotonic() - t0, failure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply every budget (1.0: 100,000 cases)"
    )
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--only", choices=sorted(PROPERTIES), action="append", help="run only these")
    args = ap.parse_args(argv)
    names = args.only or list(PROPERTIES)
    print(f"seed {args.seed}, scale {args.scale:g}\n")
    print(f"{'property':<22}{'cases':>9}  {'wall':>8}  {'cases/s':>8}  result  exercised")
    failed, total = 0, 0
    for name in names:
        _, _, budget, shown = PROPERTIES[name]
        n = max(1, int(round(budget * args.scale)))
        totals, wall, failure = run_property(name, n, args.seed)
        cases = totals["cases"]
        total += cases
        what = ", ".join(f"{k} {totals[k]:,}" for k in shown)
        verdict = "FAIL" if failure else "PASS"
        print(
            f"{name:<22}{cases:>9,}  {wall:7.1f}s  {cases / wall:8.0f}  {verdict:<6}  {what}",
            flush=True,
        )
        if totals["crc_escapes"]:
            rate = totals["frames_faulted"] / totals["crc_escapes"]
            print(
                f"    {totals['crc_escapes']} corrupted frame(s) passed the CRC and were decoded as "
                f"sent: 1 in {rate:,.0f} faulted frames (CRC-16 lets ~1 in 65,536 through)"
            )
        if failure:
            failed += 1
            print("    " + failure.replace("\n", "\n    "))
    print(f"\n{total:,} cases in all; {'PASS' if not failed else f'FAIL ({failed} properties)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
