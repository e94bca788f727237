"""Thin torch ``Dataset`` over a task split: crops (random in training, centre otherwise),
normalises and encodes side features with the same function the runtime uses."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_ecg.deploy.manifest import InputSpec
from edge_ecg.runtime.preprocess import model_inputs
from edge_ecg.train.tasks import Split


class WindowDataset(Dataset):
    """Indexable by an int or an index array (a whole batch is cut with one fancy-index)."""

    def __init__(self, split: Split, spec: InputSpec, margin: int, *, train: bool):
        self.split, self.spec, self.margin, self.train = split, spec, margin, train
        self.length = split.x.shape[-1] - 2 * margin

    def __len__(self) -> int:
        return len(self.split.y)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None):
        idx = np.atleast_1d(np.asarray(idx))
        if self.train and self.margin and rng is not None:
            offsets = rng.integers(0, 2 * self.margin + 1, size=idx.size)
        else:
            offsets = np.full(idx.size, self.margin)
        cols = offsets[:, None] + np.arange(self.length)[None, :]
        windows = self.split.x[idx[:, None, None], np.arange(self.split.x.shape[1])[None, :, None], cols[:, None, :]]
        x = model_inputs(windows, self.spec)
        side = self.split.side[idx] if self.split.side.shape[1] else None
        y = torch.from_numpy(np.asarray(self.split.y[idx]))
        return torch.from_numpy(x), (torch.from_numpy(side) if side is not None else None), y

    def __getitem__(self, idx):
        return self.batch(idx)
