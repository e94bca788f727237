"""Streaming signal processing for the runtime and the datasets (numpy/scipy only).

``filters``    causal band-pass/notch with state across chunks (and the offline zero-phase twin)
``resample``   streaming rational-rate polyphase resampling
``normalize``  per-window normalisation
``quality``    signal-quality indices and the accept/reject decision
``qrs``        streaming QRS detector, beat matching
``windows``    ring buffer, fixed and beat-centred windowing with absolute sample indices
``rr``         RR-interval features
"""

from edge_ecg.signal.filters import (
    CausalFilter,
    FilterSpec,
    design_sos,
    filter_causal,
    filter_zero_phase,
)
from edge_ecg.signal.normalize import NORM_METHODS, NormSpec, normalize_window
from edge_ecg.signal.qrs import QRSConfig, StreamingQRSDetector, detect_qrs, match_beats
from edge_ecg.signal.quality import QualityReport, QualityThresholds, assess
from edge_ecg.signal.resample import StreamingResampler, resample_stream
from edge_ecg.signal.windows import BeatWindower, BeatWindows, FixedWindower, RingBuffer

__all__ = [
    "NORM_METHODS", "BeatWindower", "BeatWindows", "CausalFilter", "FilterSpec", "FixedWindower",
    "NormSpec", "QRSConfig", "QualityReport", "QualityThresholds", "RingBuffer",
    "StreamingQRSDetector", "StreamingResampler", "assess", "design_sos", "detect_qrs",
    "filter_causal", "filter_zero_phase", "match_beats", "normalize_window", "resample_stream",
]  # fmt: skip
