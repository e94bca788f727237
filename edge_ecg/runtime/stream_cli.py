"""``edge-ecg stream``: classify ECG arriving on a serial port in real time."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial device path (/dev/ttyUSB0) or pyserial URL (loop://, socket://host:port)")
    add_model_arguments(p)
    p.add_argument("--baud", type=int, default=921600, help="baud rate (ignored by pseudo-terminals and USB CDC)")
    p.add_argument("--format", choices=("binary", "text"), default="binary", help="framed binary protocol, or one line of integers per sample")
    p.add_argument("--fs", type=float, help="text mode: sampling rate in Hz (the lines carry none)")
    p.add_argument("--scale", type=float, help="text mode: µV per count")
    p.add_argument("--leads", help="text mode: comma-separated channel names (default: the model's leads)")
    p.add_argument("--channels", help="comma-separated device channels that feed the model's leads, in its order "
                                      "(default: matched by name; MLII counts as II, an unnamed ECG/ECG1 channel as II)")
    add_mains_argument(p)
    p.add_argument("--invert", action="store_true",
                   help="flip the sign of the model's leads (the summary warns when the lead looks inverted)")
    p.add_argument("--baseline", type=int, default=0, help="text mode: count value of 0 µV")
    p.add_argument("--jsonl", help="append one JSON object per beat/window to this file (line-buffered)")
    p.add_argument("--quiet", action="store_true", help="no JSON lines on stdout")
    p.add_argument("--plot", action="store_true", help="live matplotlib view of the last seconds with labels")
    p.add_argument("--duration", type=float, help="stop after this many seconds of wall time")
    p.add_argument("--no-drop", action="store_true",
                   help="when this host falls behind, stop reading until it catches up (the sender waits) instead of "
                        "dropping the oldest samples: for replays (edge-ecg simulate --speed max), never for a live "
                        "device, whose own buffer would overflow")
    p.add_argument("--age", type=float, help="patient age in years, for models that fuse it")
    p.add_argument("--sex", choices=("M", "F"), help="patient sex, for models that fuse it")
    p.add_argument("--beat-context", type=float, metavar="S",
                   help="label a beat only if the quality indices of the last S seconds pass "
                        "(rejects beats in electrode-motion noise; off by default, see README)")
    p.add_argument("--beat-context-corr", type=float, metavar="C",
                   help="with --beat-context: still label a beat whose window correlates >= C with the median "
                        "of the last 8 beats (keeps runs of ectopic beats; see README)")


def add_mains_argument(p: argparse.ArgumentParser) -> None:
    from edge_ecg.signal.filters import MAINS_HZ

    default = ",".join(f"{f:g}" for f in MAINS_HZ)
    p.add_argument("--mains", type=parse_mains, default=default,
                   help=f"power-line frequencies notched before the model's filter: 50, 60, {default} (default) or off")


def parse_mains(text: str) -> tuple[float, ...]:
    """``--mains``: ``off`` or comma-separated frequencies in Hz."""
    from edge_ecg.errors import ConfigError
    from edge_ecg.signal.filters import check_mains

    if text.strip().lower() in ("off", "none", ""):
        return ()
    try:
        return check_mains(text.split(","))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"--mains {text!r}: {exc} (or 'off')") from None


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model file (.onnx / .tflite with model.json beside it); default: the bundled int8 beat model")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "tflite"), default="auto")
    p.add_argument("--threads", type=int, default=1, help="inference threads (0: all cores)")
    p.add_argument("--providers", default="cpu", help="onnxruntime providers in order, e.g. tensorrt,cuda,cpu")


def classifier_from_args(args):
    from edge_ecg.runtime.classifier import Classifier

    return Classifier(args.model, backend=args.backend, threads=args.threads, providers=tuple(args.providers.split(",")))


def make_decoder(args, clf):
    from edge_ecg.errors import ConfigError
    from edge_ecg.protocol import FrameDecoder, TextDecoder

    if args.format == "binary":
        return FrameDecoder()
    if args.fs is None or args.scale is None:
        raise ConfigError("--format text needs --fs (Hz) and --scale (µV per count): a text line carries neither")
    names = tuple(args.leads.split(",")) if args.leads else tuple(clf.manifest.input.leads)
    return TextDecoder(args.fs, args.scale, len(names), baseline_counts=args.baseline, channel_names=names)


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from edge_ecg.errors import ConfigError
    from edge_ecg.runtime.session import StreamSession, print_summary
    from edge_ecg.runtime.sinks import JsonlSink, PlotSink, dumps_strict
    from edge_ecg.runtime.sources import REPLAY_WAIT_S, SerialSource, SourceConfig
    from edge_ecg.runtime.stream import GateConfig

    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 s of wall time, got {args.duration!r}")
    clf = classifier_from_args(args)
    sinks = []
    if not args.quiet:
        sinks.append(JsonlSink(sys.stdout))
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl))
    if args.plot:
        sinks.append(PlotSink(args.fs or clf.manifest.input.fs_hz))
    session = StreamSession(clf, sinks=sinks, age=args.age, sex=args.sex, gate=GateConfig(beat_context_s=args.beat_context, beat_context_corr=args.beat_context_corr),
                            channels=tuple(args.channels.split(",")) if args.channels else None, mains_hz=args.mains,
                            invert=args.invert)
    source = SerialSource(args.port, make_decoder(args, clf), SourceConfig(baudrate=args.baud, overflow_wait_s=REPLAY_WAIT_S if args.no_drop else 0.0))
    stop = threading.Event()
    # a service manager (systemctl stop, timeout) ends the stream as Ctrl-C does: summary included
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    timer = None
    if args.duration:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    try:
        session.run(source, stop=stop, status=sys.stderr if sys.stderr.isatty() else None)
    finally:
        source.close()
        for s in sinks:
            s.close()
        if timer:
            timer.cancel()
    summary = session.summary()
    print_summary(summary)
    sys.stderr.write(dumps_strict({"summary": summary}) + "\n")
    return 0
