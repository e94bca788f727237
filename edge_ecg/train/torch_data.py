"""Thin torch ``Dataset`` over a task split: crops (random in training, centre otherwise),
optionally adds real recorded noise (training only), normalises and encodes side features with
the same function the runtime uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_ecg.deploy.manifest import InputSpec
from edge_ecg.runtime.preprocess import model_inputs
from edge_ecg.train.tasks import Split


@dataclass(frozen=True)
class NoiseAugment:
    """Add a random segment of ``traces`` (filtered µV) to a window with probability ``prob``,
    scaled to an SNR (window power over noise power) uniform in [``snr_min_db``, ``snr_max_db``]."""

    traces: np.ndarray  # (k, samples)
    prob: float
    snr_min_db: float
    snr_max_db: float

    def __call__(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, c, length = windows.shape
        rows = np.flatnonzero(rng.random(n) < self.prob)
        if rows.size == 0:
            return windows
        out = windows.copy()
        k, span = self.traces.shape
        trace = rng.integers(0, k, size=(rows.size, c))
        start = rng.integers(0, span - length, size=(rows.size, c))
        seg = self.traces[trace[..., None], start[..., None] + np.arange(length)]
        snr_db = rng.uniform(self.snr_min_db, self.snr_max_db, size=(rows.size, 1, 1))
        p_sig = np.mean(out[rows] ** 2, axis=-1, keepdims=True)
        p_noise = np.maximum(np.mean(seg**2, axis=-1, keepdims=True), 1e-12)
        out[rows] += seg * np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
        return out


class WindowDataset(Dataset):
    """Indexable by an int or an index array (a whole batch is cut with one fancy-index)."""

    def __init__(self, split: Split, spec: InputSpec, margin: int, *, train: bool, noise: NoiseAugment | None = None):
        self.split, self.spec, self.margin, self.train = split, spec, margin, train
        self.noise = noise if train else None
        self.length = split.x.shape[-1] - 2 * margin

    def __len__(self) -> int:
        return len(self.split.y)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None):
        idx = np.atleast_1d(np.asarray(idx))
        if self.train and self.margin and rng is not None:
            offsets = rng.integers(0, 2 * self.margin + 1, size=idx.size)
        else:
            offsets = np.full(idx.size, self.margin)
        n_leads = len(self.spec.leads)
        # the jitter stands for the detector's error on this beat: it moves the beat, not the
        # running template (a median over many beats), which stays centred
        channel_offsets = np.repeat(offsets[:, None], self.split.x.shape[1], axis=1)
        channel_offsets[:, n_leads:] = self.margin
        cols = channel_offsets[:, :, None] + np.arange(self.length)[None, None, :]
        windows = self.split.x[idx[:, None, None], np.arange(self.split.x.shape[1])[None, :, None], cols]
        if self.noise is not None and rng is not None:
            # noise on the beat only: the template's median over beats averages most of it away
            windows = np.concatenate([self.noise(windows[:, :n_leads], rng), windows[:, n_leads:]], axis=1)
        x = model_inputs(windows, self.spec)
        side = self.split.side[idx] if self.split.side.shape[1] else None
        y = torch.from_numpy(np.asarray(self.split.y[idx]))
        return torch.from_numpy(x), (torch.from_numpy(side) if side is not None else None), y

    def __getitem__(self, idx):
        return self.batch(idx)
