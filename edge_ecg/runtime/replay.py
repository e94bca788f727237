"""Replay a record through the whole product path: simulator → pseudo-terminal → pyserial
source → decoder → :class:`StreamSession`. Used by the demo, the EC57 benchmark and the tests."""

from __future__ import annotations

from edge_ecg.runtime.classifier import Classifier
from edge_ecg.runtime.session import StreamSession
from edge_ecg.runtime.sinks import Sink
from edge_ecg.signal.filters import MAINS_HZ


def replay_record(record, clf: Classifier, *, speed: float | None = None, sinks: list[Sink] = (),
                  faults=None, start_s: float = 0.0, duration_s: float | None = None,
                  idle_timeout_s: float = 10.0, channels: tuple[str, ...] | None = None,
                  mains_hz: tuple[float, ...] = MAINS_HZ) -> tuple[StreamSession, object]:
    """Stream ``record`` over a pty at ``speed`` (``None``: as fast as the runtime reads; the
    replay is lossless because the reader waits for the runtime and the pty throttles the
    simulator). Returns the finished session (``session.results`` holds every result) and the
    simulator (its ``fault_log`` is the truth to check the session's account against).
    ``channels``: the record's channels that feed the model's leads (default: by lead name);
    ``mains_hz``: the runtime's mains notches."""
    from edge_ecg.runtime.sources import REPLAY_WAIT_S, SerialSource, SourceConfig
    from edge_ecg.sim.simulator import SimConfig, Simulator

    sim = Simulator.from_record(record, start_s=start_s, duration_s=duration_s,
                                config=SimConfig(speed=speed), faults=faults)
    handle = sim.start()
    port = handle.wait_ready()
    session = StreamSession(clf, sinks=sinks, channels=channels, mains_hz=mains_hz)
    session.keep_results = True
    source = SerialSource(port, config=SourceConfig(overflow_wait_s=REPLAY_WAIT_S))
    try:
        session.run(source, until_sample=sim.n_samples, idle_timeout_s=idle_timeout_s)
    finally:
        source.close()
        handle.stop()
        handle.join(5.0)
    session.port = port
    return session, sim
