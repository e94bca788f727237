"""Decoder throughput: the vectorised FrameDecoder against a naive per-sample struct decoder.

    python benchmarks/bench_decoder.py [--seconds 600] [--repeats 7] [--chunk 4096] [--spf 10,50]

Two streams, built from real recordings when ../shared/data is present (synthetic otherwise):
2-lead 360 Hz int16 (MIT-BIH 100) and 12-lead 500 Hz int24 (a CinC 2021 record, tiled), as
frames of 10 samples (the simulator's default: 28 ms / 20 ms of latency) and 50 samples, made by
the Python encoder. Both decoders get the same bytes in the same
chunks and use the same framing and CRC (``binascii.crc_hqx``); they differ only in how the
payload becomes numbers: ``np.frombuffer`` on the whole payload (int24 sign-extended with one
shift) against ``struct.unpack_from`` per sample. Each decoder is run once to warm up, then
``--repeats`` times; the table gives the median and the slowest run (p99 of so few runs), in
samples (time points of all channels) per second, and the real-time factor (samples/s / fs).
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.protocol import DataBlock, FrameDecoder, FrameEncoder, spec  # noqa: E402


class NaiveDecoder:
    """The same framing as FrameDecoder, decoding samples one ``struct.unpack_from`` at a time."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.samples = 0

    def feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        out = []
        pos = 0
        while True:
            i = buf.find(spec.SYNC, pos)
            if i < 0 or len(buf) - i < spec.HEADER_SIZE:
                pos = len(buf) if i < 0 else i
                break
            _s, _v, ftype, _seq, length = spec.HEADER_STRUCT.unpack_from(buf, i)
            end = i + spec.HEADER_SIZE + length + spec.CRC_SIZE
            if end > len(buf):
                pos = i
                break
            if spec.crc16(bytes(buf[i : end - 2])) != struct.unpack_from("<H", buf, end - 2)[0]:
                pos = i + 1
                continue
            if ftype == spec.FRAME_DATA:
                p = i + spec.HEADER_SIZE
                first, c, fmt, n = spec.DATA_STRUCT.unpack_from(buf, p)
                p += spec.DATA.size + (c + 7) // 8
                rows = []
                for _ in range(n):
                    row = []
                    for _ in range(c):
                        if fmt == spec.FORMAT_INT16:
                            row.append(struct.unpack_from("<h", buf, p)[0])
                            p += 2
                        else:
                            lo, hi = struct.unpack_from("<Hb", buf, p)
                            row.append(lo | (hi << 16))
                            p += 3
                    rows.append(row)
                out.append((first, np.array(rows, dtype=np.int32)))
                self.samples += n
            pos = end
        del buf[:pos]
        return out


def _load(data_dir: Path | None, which: str, seconds: float) -> tuple[np.ndarray, float, str]:
    try:
        from edge_ecg.data.records import read_record

        if data_dir is None:
            raise FileNotFoundError
        if which == "2lead":
            rec = read_record(data_dir / "mitdb" / "100", annotator=None)
            src = "MIT-BIH 100"
        else:
            rec = read_record(
                sorted((data_dir / "cinc2021_12lead").glob("*.hea"))[0].with_suffix("")
            )
            src = f"CinC 2021 {rec.name} (tiled)"
        counts = np.asarray(rec.d_signal, dtype=np.int32)
        fs = float(rec.fs_hz)
    except Exception:  # noqa: BLE001 - no data folder: a synthetic signal of the same shape
        fs = 360.0 if which == "2lead" else 500.0
        c = 2 if which == "2lead" else 12
        rng = np.random.default_rng(0)
        counts = rng.integers(-2000, 2000, size=(int(fs * 10), c)).astype(np.int32)
        src = "synthetic"
    n = int(seconds * fs)
    reps = -(-n // len(counts))
    counts = np.tile(counts, (reps, 1))[:n]
    if which == "12lead":
        counts = counts * 200  # use the int24 range, as an ADS1298 at gain 6 would
    return counts, fs, src


def _stream(counts: np.ndarray, fmt: str, spf: int = 10) -> bytes:
    enc = FrameEncoder()
    return b"".join(enc.data(a, counts[a : a + spf], fmt) for a in range(0, len(counts), spf))


def _time(make, data: bytes, chunk: int) -> float:
    dec = make()
    t0 = time.perf_counter()
    for k in range(0, len(data), chunk):
        dec.feed(data[k : k + chunk])
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seconds", type=float, default=600.0, help="seconds of signal per stream (default 600)"
    )
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--chunk", type=int, default=4096, help="bytes per feed() call, like one serial read"
    )
    ap.add_argument(
        "--spf", default="10,50", help="samples per frame, comma-separated (default 10,50)"
    )
    args = ap.parse_args(argv)

    from edge_ecg.paths import shared_data_dir

    data_dir = shared_data_dir()
    data_dir = data_dir if (data_dir / "mitdb").is_dir() else None

    rows = []
    for which, fmt in (("2lead", "int16"), ("12lead", "int24")):
        counts, fs, src = _load(data_dir, which, args.seconds)
        for spf in (int(v) for v in args.spf.split(",")):
            data = _stream(counts, fmt, spf)
            # both decoders must agree before their speed means anything
            ref = [e for e in FrameDecoder().feed(data) if isinstance(e, DataBlock)]
            naive = NaiveDecoder().feed(data)
            assert len(ref) == len(naive) and all(
                a.first_sample == f and np.array_equal(a.counts, c)
                for a, (f, c) in zip(ref, naive, strict=True)
            ), "decoders disagree"
            label = f"{counts.shape[1]}-lead {fs:g} Hz {fmt}, {spf}/frame"
            results = {}
            for name, make in (
                ("FrameDecoder (numpy)", FrameDecoder),
                ("naive struct per sample", NaiveDecoder),
            ):
                _time(make, data, args.chunk)  # warm-up
                results[name] = sorted(_time(make, data, args.chunk) for _ in range(args.repeats))
            base = statistics.median(results["naive struct per sample"])
            for name, times in results.items():
                med = statistics.median(times)
                rows.append(
                    (
                        label,
                        src,
                        name,
                        len(counts) / med,
                        len(counts) / times[-1],
                        len(data) / med / 1e6,
                        len(counts) / med / fs,
                        base / med,
                    )
                )

    print(
        f"Decoder throughput, {args.seconds:g} s per stream, {args.chunk}-byte chunks, "
        f"median (slowest) of {args.repeats} runs after a warm-up"
    )
    hdr = (
        "stream",
        "source",
        "decoder",
        "samples/s median",
        "samples/s slowest",
        "MB/s",
        "x real time",
        "speed-up",
    )
    widths = (34, 26, 24, 17, 18, 6, 12, 8)
    print(" | ".join(h.ljust(w) for h, w in zip(hdr, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for label, src, name, med, slow, mbs, rt, speedup in rows:
        cells = (
            label,
            src,
            name,
            f"{med:,.0f}",
            f"{slow:,.0f}",
            f"{mbs:.1f}",
            f"{rt:,.0f}",
            f"{speedup:.1f}x",
        )
        print(" | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
