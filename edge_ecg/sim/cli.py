"""``edge-ecg simulate``: replay a record as a serial device on a pseudo-terminal.

    edge-ecg simulate --record /path/mitdb/100 --link /tmp/ttyECG --speed 1
    edge-ecg stream --port /tmp/ttyECG ...        # in another shell, like a real /dev/ttyUSB0

The slave path of the pty is printed (again after every simulated replug); ``--link`` keeps a
symlink to it. The simulator waits for a reader to open the port before it starts, and exits
when the record ends unless ``--loop``.
"""

from __future__ import annotations

import argparse
import sys


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"speed must be a factor like 1 or 10, or 'max'; got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"speed must be > 0, got {text!r}")
    return value


def _pair(kind: str):
    def parse(text: str) -> tuple[float, float]:
        try:
            a, b = text.split(":")
            return float(a), float(b)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{kind} must look like AT_S:VALUE (e.g. 12.5:3), got {text!r}"
            ) from None

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("record")
    g.add_argument(
        "--record", required=True, help="WFDB record path, CinC .mat, .npz, or OpenSignals .txt"
    )
    g.add_argument(
        "--start-s", type=float, default=0.0, help="start this many seconds into the record"
    )
    g.add_argument("--duration-s", type=float, default=None, help="replay only this many seconds")
    g = parser.add_argument_group("port and pace")
    g.add_argument(
        "--link", default=None, help="keep a symlink to the pty slave here (e.g. /tmp/ttyECG)"
    )
    g.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="1 = real time, 10 = ten times faster, max (default 1)",
    )
    g.add_argument(
        "--loop", action="store_true", help="replay forever (the sample counter runs on)"
    )
    g.add_argument(
        "--no-wait", action="store_true", help="start without waiting for a reader to open the port"
    )
    g = parser.add_argument_group("wire format")
    g.add_argument("--format", dest="sample_format", choices=("auto", "int16", "int24"), default="auto",
                   help="sample width on the wire (default auto: int16 when the record's counts fit, else int24)")
    g.add_argument("--samples-per-frame", type=int, default=10)
    g.add_argument(
        "--text", action="store_true", help="plain-text mode: one line of integers per sample"
    )
    g.add_argument(
        "--descriptor-every", type=int, default=100, help="descriptor every N data frames"
    )
    g.add_argument(
        "--heartbeat-every",
        type=int,
        default=50,
        help="heartbeat every N data frames (0: only at end)",
    )
    g.add_argument("--device-id", type=int, default=0)
    g = parser.add_argument_group("faults (every fault is logged with the samples it hit)")
    g.add_argument(
        "--byte-loss",
        type=float,
        default=0.0,
        metavar="RATE",
        help="probability per byte of losing it",
    )
    g.add_argument(
        "--bit-flips",
        type=float,
        default=0.0,
        metavar="RATE",
        help="probability per byte of one flipped bit",
    )
    g.add_argument(
        "--burst",
        type=_pair("--burst"),
        action="append",
        default=[],
        metavar="AT_S:N_FRAMES",
        help="drop N whole frames from device time AT_S (repeatable)",
    )
    g.add_argument(
        "--stall",
        type=_pair("--stall"),
        action="append",
        default=[],
        metavar="AT_S:DURATION_S",
        help="stop the link for DURATION_S wall seconds at device time AT_S (repeatable)",
    )
    g.add_argument(
        "--unplug",
        type=_pair("--unplug"),
        action="append",
        default=[],
        metavar="AT_S:DOWN_S",
        help="unplug at AT_S for DOWN_S seconds of device time, then re-create the pty (repeatable)",
    )
    g.add_argument(
        "--drift-pct",
        type=float,
        default=0.0,
        help="device clock runs this many %% fast (+) / slow (-)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    g.add_argument(
        "--fault-log", default=None, metavar="PATH.jsonl", help="append every fault as a JSON line"
    )


def run(args: argparse.Namespace) -> int:
    import threading
    from collections import Counter

    from edge_ecg.data.records import read_record
    from edge_ecg.sim.faults import BurstDrop, FaultPlan, Stall, Unplug
    from edge_ecg.sim.pty import PtyPort
    from edge_ecg.sim.simulator import SimConfig, Simulator

    config = SimConfig(
        speed=args.speed,
        samples_per_frame=args.samples_per_frame,
        sample_format=args.sample_format,
        text_mode=args.text,
        descriptor_every_frames=args.descriptor_every,
        heartbeat_every_frames=args.heartbeat_every,
        loop=args.loop,
        device_id=args.device_id,
        wait_for_reader=not args.no_wait,
    )
    faults = FaultPlan(
        byte_loss_rate=args.byte_loss,
        bit_flip_rate=args.bit_flips,
        bursts=tuple(BurstDrop(at, int(n)) for at, n in args.burst),
        stalls=tuple(Stall(at, d) for at, d in args.stall),
        unplugs=tuple(Unplug(at, d) for at, d in args.unplug),
        clock_drift_pct=args.drift_pct,
        seed=args.seed,
    )
    record = read_record(args.record)
    sim = Simulator.from_record(
        record,
        start_s=args.start_s,
        duration_s=args.duration_s,
        config=config,
        faults=faults,
        fault_log_path=args.fault_log,
    )
    port = PtyPort(args.link)

    def opened(path: str) -> None:
        where = f"{path} (link {args.link})" if args.link else path
        print(where, flush=True)

    pace = "max speed" if args.speed is None else f"{args.speed:g}x real time"
    invalid = 0 if sim.lead_off is None else int(sim.lead_off.sum())
    print(
        f"edge-ecg simulate: {record.name}, {sim.n_samples} samples x {len(sim.descriptor.channel_names)} "
        f"leads at {sim.fs_hz:g} Hz, {pace}; {'waiting for a reader' if config.wait_for_reader else 'not waiting'}"
        + (f"; {invalid} samples the record marks invalid are sent as lead-off" if invalid else ""),
        file=sys.stderr,
        flush=True,
    )
    sim.run(port, threading.Event(), on_open=opened)
    kinds = Counter(r.kind for r in sim.fault_log)
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())) or "none"
    print(
        f"edge-ecg simulate: done, {sim.samples_produced} samples produced, {sim.bytes_written} bytes "
        f"written; faults: {summary}",
        file=sys.stderr,
    )
    return 0
