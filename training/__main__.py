"""Command line of the training recipe: ``python -m training <command>``."""

from __future__ import annotations

import argparse
import sys

from napari_dcpt.errors import DcptError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive step, got {value}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML training config (training/configs/)")
    p.add_argument("--run-dir", required=True, help="folder for checkpoints, logs, metrics")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: free cores)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--data-root", default=None, help="override data.root (also when resuming)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="override data.num_workers (also when resuming; the samples stay the same)",
    )
    p.add_argument(
        "--until",
        type=_positive,
        default=None,
        metavar="STEP",
        help="stop after STEP (checkpointed; --resume goes on to the configured steps)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one sub-command per stage)."""
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="DCPT stage 1: degradation-classification pre-training")
    _common(p)
    p = sub.add_parser("finetune", help="DCPT stage 2: all-in-one restoration from --init")
    _common(p)
    p.add_argument(
        "--init", default=None, help="pre-training checkpoint (last.pt) or a weights file"
    )
    p = sub.add_parser("ablation", help="stage 2 from random init, same total step budget")
    _common(p)
    p = sub.add_parser(
        "head", help="refit the classifier head on whole slices, backbone frozen (after stage 2)"
    )
    _common(p)
    p.add_argument("--init", required=True, help="fine-tuned checkpoint (.pt) or weights file")
    p = sub.add_parser("evaluate", help="PSNR/SSIM and accuracy per type and severity")
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pt) or weights (.safetensors)")
    p.add_argument("--config", default=None, help="config for the data (default: checkpoint's)")
    p.add_argument("--out", required=True, help="output folder for eval.md/json/png")
    p.add_argument("--samples", type=int, default=8, help="slices per type and severity")
    p.add_argument("--data-root", default=None, help="override data.root")
    p.add_argument("--threads", type=int, default=None)
    p = sub.add_parser("export", help="write the EMA weights as a .safetensors weights file")
    p.add_argument("checkpoint", help="training checkpoint (last.pt)")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--raw", action="store_true", help="export raw weights instead of the EMA")
    p = sub.add_parser(
        "calibrate", help="measure and embed the per-type share of the change that helps"
    )
    p.add_argument("weights", help="weights file (.safetensors) to calibrate")
    p.add_argument("out", help="output .safetensors (may be the input)")
    p.add_argument(
        "--volumes",
        nargs="+",
        default=None,
        help="volumes not trained on (default: the validation split)",
    )
    p.add_argument("--data-root", default=None, help="override the embedded data.root")
    p.add_argument("--repeats", type=int, default=2, help="draws per volume, type and severity")
    p.add_argument("--slices", type=int, default=4, help="central slices per volume")
    p.add_argument("--threads", type=int, default=None)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("pretrain", "finetune", "ablation", "head"):
            from napari_dcpt.config import load_training_config
            from training.engine import train

            cfg = load_training_config(args.config)
            return train(
                cfg,
                args.command,
                args.run_dir,
                init=getattr(args, "init", None),
                resume=args.resume,
                threads=args.threads,
                device=args.device,
                until=args.until,
                data_root=args.data_root,
                workers=args.workers,
            )
        if args.command == "evaluate":
            from training.evaluate import evaluate

            evaluate(
                args.checkpoint,
                args.out,
                config=args.config,
                samples=args.samples,
                data_root=args.data_root,
                threads=args.threads,
            )
            return 0
        if args.command == "export":
            from training.export import export

            path = export(args.checkpoint, args.out, ema=not args.raw)
            print(path)
            return 0
        if args.command == "calibrate":
            from training.calibrate import main as calibrate_main

            return calibrate_main(
                args.weights,
                args.out,
                args.volumes,
                args.data_root,
                args.repeats,
                args.slices,
                args.threads,
            )
    except DcptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
