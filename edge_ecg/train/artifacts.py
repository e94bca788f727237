"""Hard negatives for the beat model: the detector's own false detections in noise.

In electrode-motion noise the streaming QRS detector fires on artefacts, and a four-class beat
model has to call each of them N, S, V or F, mostly V. Here every training record is run through
the runtime's own causal filter and QRS detector with real recorded noise (NSTDB ``em`` or
``ma``) added in alternating two-minute blocks at an SNR drawn from :data:`SNR_DB`. A detection
with no reference beat within :data:`MATCH_S` becomes an example of the class :data:`ARTIFACT`; a
detection matched to an N/S/V/F reference beat inside a noisy block becomes an example of that
class, so the model also learns that a beat in noise is still a beat. Windows are centred on the
detection and RR features come from the detected sequence, exactly as the runtime makes them.
"""

from __future__ import annotations

import numpy as np

from edge_ecg.data.labels import ARTIFACT
from edge_ecg.deploy.manifest import InputSpec

__all__ = ["ARTIFACT", "detector_examples"]
SNR_DB = (-6.0, 12.0)  # power SNR of the noisy blocks, drawn uniformly per pass
BLOCK_S = 120.0
MATCH_S = 0.150
NOISE_RECORDS = ("em", "ma")


def detector_examples(spec: InputSpec, records, data_dir, noise: np.ndarray, classes: tuple[str, ...], *,
                      passes: int, seed: int, margin: int):
    """``passes`` noisy passes over each of ``records`` (see the module doc). ``noise``:
    ``(traces, samples)`` filtered µV at the model rate; ``classes``: the beat classes, with
    :data:`ARTIFACT` last. Returns a :class:`~edge_ecg.train.tasks.Split` of windows with
    ``margin`` samples on each side, their encoded RR side input and labels."""
    from edge_ecg.bench.ec57 import reference_beats
    from edge_ecg.data.mitdb import load_mitdb_record, prepared_lead
    from edge_ecg.runtime.preprocess import causal_filter_fn, detected_beats
    from edge_ecg.signal.noise import add_noise, noise_block_mask, noise_gain
    from edge_ecg.signal.qrs import match_pairs
    from edge_ecg.train.tasks import Split

    fs = spec.fs_hz
    artifact = classes.index(ARTIFACT)
    rng = np.random.default_rng([seed, 11])
    xs, sides, ys, names, samples = [], [], [], [], []
    for name in records:
        rec = load_mitdb_record(name, data_dir)
        x, _ = prepared_lead(rec, spec.leads[0], fs, causal_filter_fn(spec.filter), None)
        ref_s, ref_c = reference_beats(rec)
        ref = np.rint(np.asarray(ref_s) * fs / rec.fs_hz).astype(np.int64)
        ref_y = np.array([classes.index(c) if c in classes else -1 for c in ref_c], np.int64)  # Q: -1
        for _ in range(passes):
            trace = noise[rng.integers(len(noise))]
            seg = np.resize(np.roll(trace, -int(rng.integers(trace.size))), x.size)
            mask = noise_block_mask(x.size, fs, block_s=BLOCK_S, start_s=float(rng.uniform(0, BLOCK_S)))
            xn = add_noise(x, seg, noise_gain(x, seg, float(rng.uniform(*SNR_DB))), mask)
            r, windows, side = detected_beats(xn, fs, spec, margin=margin)
            pr, pd = match_pairs(ref, r, int(round(MATCH_S * fs)))
            y = np.full(r.size, artifact, np.int64)
            y[pd] = ref_y[pr]
            keep = (y == artifact) | ((y >= 0) & mask[r])
            xs.append(windows[keep])
            sides.append(side[keep])
            ys.append(y[keep])
            names.append(np.full(int(keep.sum()), name))
            samples.append(r[keep])
    return Split(np.concatenate(xs), np.concatenate(sides), np.concatenate(ys),
                 {"record": np.concatenate(names), "sample": np.concatenate(samples)})
