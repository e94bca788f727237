"""The on-device runtime: model files in, device bytes or samples in, labels out.

No torch and no TensorFlow on this path. The public names are importable from here and load
their module on first use (``from edge_ecg.runtime import StreamSession``)::

    Classifier        a model file + its manifest (checked), ``predict(x, side)``
    StreamClassifier  samples of one device description in, :class:`StreamResult` s out
    StreamSession     decoder events in (``handle``, or ``run(source)``), results to sinks
    SerialSource      a serial port read by a thread; FileReplaySource: a capture file;
    PushSource        bytes or events your own code feeds (BLE, sockets, vendor drivers)
    EventSource       what ``StreamSession.run`` consumes, for sources of your own
    Sink, JsonlSink, CallbackSink   where results go (any callable taking a result works too)
    GateConfig        the quality gate; StreamResult: one classified or refused beat/window
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "Classifier": "classifier", "default_model_path": "classifier",
    "StreamClassifier": "stream", "StreamResult": "stream", "GateConfig": "stream", "NO_BEAT": "stream",
    "StreamSession": "session", "print_summary": "session",
    "SerialSource": "sources", "FileReplaySource": "sources", "PushSource": "sources",
    "EventSource": "sources", "SourceConfig": "sources",
    "Sink": "sinks", "JsonlSink": "sinks", "CallbackSink": "sinks",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_ecg.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edge_ecg.runtime.{module}"), name)


def __dir__() -> list[str]:
    return __all__
