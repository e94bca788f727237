"""Training: configs, tasks (datasets → arrays), the trainer (single process or torchrun DDP),
metrics and safe checkpoints. ``metrics`` and ``config`` are numpy-only; the rest needs the
``train`` extra (torch)."""
