"""The trainer: one code path for a single process and for ``torchrun --nproc_per_node N`` (DDP,
gloo on CPU). Seeded and reproducible; validation each epoch; early stopping on validation
macro-F1; the best epoch is saved as a safetensors checkpoint with a JSON config."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_ecg.errors import ConfigError
from edge_ecg.models import create_model
from edge_ecg.train.checkpoint import save_checkpoint, state_digest
from edge_ecg.train.config import TrainConfig
from edge_ecg.train.metrics import classification_report, format_beat_table
from edge_ecg.train.tasks import Split, TaskData, build_task
from edge_ecg.train.torch_data import NoiseAugment, WindowDataset


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group torchrun describes in the environment (gloo: CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size())


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights_from_counts(counts: np.ndarray, power: float) -> np.ndarray:
    """``(total / (K * count_k)) ** power``, normalised to mean 1 over present classes."""
    counts = np.asarray(counts, dtype=np.float64)
    w = np.where(counts > 0, (counts.sum() / (len(counts) * np.maximum(counts, 1))) ** power, 0.0)
    return w / w[counts > 0].mean()


def model_kwargs_for(model_name: str, task: TaskData) -> dict[str, Any]:
    """Constructor arguments from the task; side inputs only for models that fuse them."""
    import inspect

    from edge_ecg.models.registry import model_factory

    x = task.train.x
    kw: dict[str, Any] = {"in_leads": int(x.shape[1]), "num_classes": len(task.classes), "input_len": int(task.input_spec.length)}
    if task.input_spec.side_groups and "side_spec" in inspect.signature(model_factory(model_name)).parameters:
        kw["side_spec"] = list(task.input_spec.side_groups)
    return kw


def without_side(task: TaskData) -> TaskData:
    """The task for a model that takes no side input: the manifest must not promise one."""
    spec = dataclasses.replace(task.input_spec, side_groups=(), side_tensor=None, rr=None)

    def strip(split: Split) -> Split:
        return dataclasses.replace(split, side=np.zeros((len(split.y), 0), np.float32))

    return dataclasses.replace(task, input_spec=spec, train=strip(task.train), val=strip(task.val))


def default_set_mode(model: nn.Module, training: bool) -> None:
    model.train(training)


@torch.no_grad()
def predict(model: nn.Module, task: TaskData, split: Split, batch_size: int = 1024, *, set_mode=default_set_mode) -> np.ndarray:
    """Probabilities (softmax, or sigmoid for multi-label) of ``split``, centre-cropped."""
    set_mode(model, False)
    ds = WindowDataset(split, task.input_spec, task.margin, train=False)
    out = []
    for start in range(0, len(ds), batch_size):
        x, side, _ = ds[np.arange(start, min(start + batch_size, len(ds)))]
        logits = model(x, side) if side is not None else model(x)
        out.append(torch.sigmoid(logits) if task.multi_label else torch.softmax(logits, dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, len(task.classes)), np.float32)


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """``(KL(p_a || p_b) + KL(p_b || p_a)) / 2`` of the softmax distributions, batch mean."""
    la, lb = torch.log_softmax(logits_a, dim=1), torch.log_softmax(logits_b, dim=1)
    return 0.5 * (F.kl_div(lb, la, log_target=True, reduction="batchmean")
                  + F.kl_div(la, lb, log_target=True, reduction="batchmean"))


def fit(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    task: TaskData | None = None,
    command: str = "",
    model: nn.Module | None = None,
    set_mode=default_set_mode,
    save: bool = True,
    teacher: nn.Module | None = None,
) -> dict[str, Any]:
    """Train, validate each epoch, keep the best epoch; returns the final report (rank 0 saves).

    ``model``/``set_mode`` let quantization-aware training reuse this loop on a prepared graph
    (whose train/eval switch is not ``nn.Module.train``); ``save=False`` skips the checkpoint.
    ``teacher`` (a frozen model called like ``model``) adds the distillation term of
    ``cfg.distill_weight``; QAT passes the float model so the int8 model learns its outputs.
    """
    if save and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ConfigError(f"output {out_dir} exists and is not a directory: give a directory (created if missing)")
    dist_info = init_distributed()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    elif dist_info.world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist_info.world_size))
    seed_everything(cfg.seed)
    task = task or build_task(cfg)
    out_dir = Path(out_dir)
    model_name = cfg.model
    kwargs = model_kwargs_for(model_name, task)
    if model is None:
        model = create_model(model_name, **kwargs)
    if not kwargs.get("side_spec") and task.input_spec.side_groups:
        task = without_side(task)
    net: nn.Module = model
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)

    n_classes = len(task.classes)
    noise = None
    if cfg.noise_prob and task.noise is not None:
        noise = NoiseAugment(task.noise, cfg.noise_prob, cfg.noise_snr_min_db, cfg.noise_snr_max_db)
    train_ds = WindowDataset(task.train, task.input_spec, task.margin, train=True, noise=noise)
    distill = teacher is not None and cfg.distill_weight > 0 and not task.multi_label
    consistency = cfg.consistency_weight > 0 and not task.multi_label
    if distill:
        teacher.eval()
    majority = None
    counts = None
    if not task.multi_label:
        counts = np.bincount(task.train.y, minlength=n_classes).astype(np.float64)
        if cfg.majority_fraction < 1.0:
            majority = int(np.argmax(counts))
            counts[majority] *= cfg.majority_fraction
    weight = None
    if not task.multi_label and cfg.imbalance == "weighted_loss":
        weight = torch.tensor(class_weights_from_counts(counts, cfg.imbalance_power), dtype=torch.float32)
    pos_weight = None
    if task.multi_label and cfg.imbalance == "weighted_loss":
        pos = task.train.y.sum(0).astype(np.float64)
        pos_weight = torch.tensor(np.clip((len(task.train.y) - pos) / np.maximum(pos, 1), 1, 50) ** cfg.imbalance_power, dtype=torch.float32)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_all = len(train_ds)
    n = n_all if majority is None else int(round(counts.sum()))
    per_rank = math.ceil(n / dist_info.world_size)
    steps_per_epoch = max(1, math.ceil(per_rank / cfg.batch_size))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = min(steps_per_epoch, total_steps // 10 + 1)

    def lr_at(step: int) -> float:
        if step < warmup:
            return cfg.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, total_steps - warmup)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))

    tqdm = None
    if cfg.progress and dist_info.is_main:
        from tqdm.auto import tqdm

    best = {"score": -math.inf, "epoch": -1, "state": None, "report": None}
    history = []
    step = 0
    bad_epochs = 0
    interrupted = None
    try:
        for epoch in range(cfg.epochs):
            set_mode(model, True)
            # every rank draws the same permutation, then takes its own shard (DistributedSampler's rule)
            epoch_rng = np.random.default_rng([cfg.seed, epoch])
            pool = np.arange(n_all)
            if majority is not None:
                maj = np.flatnonzero(task.train.y == majority)
                keep = epoch_rng.choice(maj, size=int(round(cfg.majority_fraction * maj.size)), replace=False)
                pool = np.concatenate([np.flatnonzero(task.train.y != majority), keep])
            if cfg.imbalance == "sampler" and not task.multi_label:
                w = class_weights_from_counts(counts, cfg.imbalance_power)[task.train.y[pool]]
                order = epoch_rng.choice(pool, size=pool.size, replace=True, p=w / w.sum())
            else:
                order = epoch_rng.permutation(pool)
            order = np.resize(order, per_rank * dist_info.world_size)[dist_info.rank :: dist_info.world_size]
            crop_rng = np.random.default_rng([cfg.seed, epoch, dist_info.rank, 7])
            batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            it = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr) if tqdm else batches
            t0 = time.perf_counter()
            loss_sum, seen = 0.0, 0
            for idx in it:
                x, side, y = train_ds.batch(idx, rng=crop_rng)
                if consistency:
                    # the same beats at a second random crop, through the net in the same batch
                    x2, _, _ = train_ds.batch(idx, rng=crop_rng)
                    x = torch.cat([x, x2])
                    side = torch.cat([side, side]) if side is not None else None
                    y = torch.cat([y, y])
                for g in opt.param_groups:
                    g["lr"] = lr_at(step)
                logits = net(x, side) if side is not None else net(x)
                if task.multi_label:
                    loss = F.binary_cross_entropy_with_logits(logits, y.float(), pos_weight=pos_weight)
                else:
                    loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=cfg.label_smoothing)
                if consistency:
                    loss = loss + cfg.consistency_weight * symmetric_kl(*logits.chunk(2))
                if distill:
                    t = cfg.distill_temperature
                    with torch.no_grad():
                        target = torch.log_softmax((teacher(x, side) if side is not None else teacher(x)) / t, dim=1)
                    kd = F.kl_div(torch.log_softmax(logits / t, dim=1), target, log_target=True, reduction="batchmean")
                    loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * t * t * kd
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
            if dist_info.world_size > 1:
                # DDP keeps gradients (so parameters) in step, but each rank's last forward updated
                # its own BatchNorm running statistics: take rank 0's so every rank validates, picks
                # its best epoch and ends with the same model
                import torch.distributed as dist

                for b in model.buffers():
                    dist.broadcast(b, 0)
            probs = predict(model, task, task.val, set_mode=set_mode)
            report = classification_report(task.val.y, probs, task.classes, multi_label=task.multi_label)
            score = report["macro_f1"]
            history.append({"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "val_macro_f1": score, "val_accuracy": report["accuracy"], "seconds": time.perf_counter() - t0})
            if dist_info.is_main:
                print(
                    f"epoch {epoch + 1:3d}  loss {loss_sum / max(seen, 1):.4f}  val acc {report['accuracy']:.4f}  "
                    f"val macro-F1 {score:.4f}  ({time.perf_counter() - t0:.1f} s)",
                    file=sys.stderr,
                )
            if score > best["score"]:
                best = {"score": score, "epoch": epoch + 1, "state": {k: v.clone() for k, v in model.state_dict().items()}, "report": report}
                bad_epochs = 0
            else:
                bad_epochs += 1
                if bad_epochs >= cfg.patience:
                    if dist_info.is_main:
                        print(f"early stop: no val macro-F1 gain for {cfg.patience} epochs", file=sys.stderr)
                    break
    except KeyboardInterrupt as exc:
        # Ctrl-C: keep what the finished epochs earned instead of losing the whole run
        interrupted = {"epoch": len(history) + 1, "epochs": cfg.epochs, "completed_epochs": len(history)}
        if best["state"] is None or not save:
            if dist_info.is_main and save:
                print("interrupted before the first epoch finished: nothing saved", file=sys.stderr)
                exc.edge_ecg_reported = True
            raise
        interrupt = exc
    model.load_state_dict(best["state"])
    set_mode(model, False)
    digest = state_digest(model)
    if save:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"rank{dist_info.rank}.sha256").write_text(digest + "\n")
    result = {
        "model_name": model_name,
        "model_kwargs": kwargs,
        "task": task.name,
        "classes": list(task.classes),
        "multi_label": task.multi_label,
        "input_spec": dataclasses.asdict(task.input_spec),
        "train_config": cfg.to_dict(),
        "provenance": task.provenance,
        "command": command,
        "best_epoch": best["epoch"],
        "val": best["report"],
        "history": history,
        "world_size": dist_info.world_size,
        "weights_sha256": digest,
    }
    if interrupted is not None:
        result["interrupted"] = interrupted
    if dist_info.is_main and save:
        save_checkpoint(out_dir, model, result)
        if not task.multi_label:
            print("validation (held out from training) at best epoch:\n" + format_beat_table(best["report"], task.classes), file=sys.stderr)
    if interrupted is not None:
        # other ranks got the same signal from torchrun: no barrier, just report and stop
        if dist_info.is_main:
            print(f"interrupted at epoch {interrupted['epoch']} of {interrupted['epochs']}: saved the best finished "
                  f"epoch ({best['epoch']}) to {out_dir}", file=sys.stderr)
            interrupt.edge_ecg_reported = True
        raise interrupt
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    result["model"] = model
    return result
