"""``edge-ecg qat``: quantization-aware fine-tuning (or PTQ calibration) of a float checkpoint.

    edge-ecg qat --checkpoint runs/beat --out runs/beat_qat --epochs 3
    edge-ecg qat --checkpoint runs/beat --out runs/beat_ptq --method ptq

The output directory feeds ``edge-ecg export --qat DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="float checkpoint directory (model.safetensors + config.json)")
    p.add_argument("--out", required=True, help="output directory (quant_state.safetensors + quant.json)")
    p.add_argument("--config", help="JSON file of QuantConfig fields (flags override it)")
    p.add_argument("--method", choices=("qat", "ptq"), help="qat (default): fine-tune with fake-quant; ptq: calibrate only")
    p.add_argument("--epochs", type=int, help="QAT epochs (default 3)")
    p.add_argument("--lr", type=float, help="QAT peak learning rate (default 3e-4)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--freeze-observers-epoch", type=int, help="0-based epoch from which ranges stop moving (-1: last epoch)")
    p.add_argument("--freeze-bn-epoch", type=int, help="0-based epoch from which BN statistics freeze (-1: last epoch)")
    p.add_argument("--max-train", type=int, help="cap on training windows (0: all)")
    p.add_argument("--train-records", help="comma-separated records (default: the checkpoint's training set)")
    p.add_argument("--calibration", choices=("histogram", "minmax"), help="PTQ activation observer (default histogram)")
    p.add_argument("--calibration-windows", type=int, help="PTQ calibration windows (default 4096; 0: all)")
    p.add_argument("--layout", choices=("auto", "conv2d", "conv1d"), help="capture layout (default auto: conv2d when supported)")
    p.add_argument("--no-attention-quant", action="store_true", help="leave the fusion attention matmul/softmax in float")
    p.add_argument("--distill-weight", type=float, help="weight of the float model's outputs in the QAT loss (0: labels only)")
    p.add_argument("--distill-temperature", type=float, help="softmax temperature of the distillation term (default 2)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (0: all cores)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--force", action="store_true", help="overwrite a quantization already in --out")


def config_from_args(args: argparse.Namespace):
    from edge_ecg.quant.qat import QuantConfig
    from edge_ecg.typed import read_json_object

    base: dict = {}
    if args.config:
        base = read_json_object(args.config, "quantization config")
    flags = {
        "method": args.method, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
        "weight_decay": args.weight_decay, "freeze_observers_epoch": args.freeze_observers_epoch,
        "freeze_bn_epoch": args.freeze_bn_epoch, "max_train": args.max_train, "calibration": args.calibration,
        "calibration_windows": args.calibration_windows, "layout": args.layout, "seed": args.seed,
        "distill_weight": args.distill_weight, "distill_temperature": args.distill_temperature,
        "num_threads": args.threads,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    if args.train_records:
        base["train_records"] = [r for r in args.train_records.split(",") if r]
    if args.no_attention_quant:
        base["quantize_attention"] = False
    if args.quiet:
        base["progress"] = False
    return QuantConfig.from_dict(base)


def run(args: argparse.Namespace) -> int:
    from edge_ecg.train.checkpoint import check_out_dir

    cfg = config_from_args(args)
    # before the checkpoint is loaded or any epoch is run
    check_out_dir(args.out, force=args.force, not_same_as=args.checkpoint)
    from edge_ecg.quant.qat import quantize_checkpoint

    command = "edge-ecg qat " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    qm = quantize_checkpoint(args.checkpoint, args.out, cfg, command=command)
    val = qm.config["val"]
    print(json.dumps({
        "out": str(qm.directory),
        "method": qm.method,
        "config": dataclasses.asdict(cfg),
        "val_macro_f1_float": val["float"]["macro_f1"],
        "val_macro_f1_int8": val["quantized"]["macro_f1"],
        "val_top1_agreement": val["top1_agreement_with_float"],
    }, indent=2, default=str))
    return 0
