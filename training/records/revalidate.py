"""Recompute the MR fine-tuning validation points whose records were lost (sessions 3-8).

Each MR file shipped in git is evaluated with the training loop's own `validate` on
the fixed validation samples of `training/configs/mr_floor.yaml` (the samples
`mr_floor` logged), so the points are comparable with its kept
`mr_floor/metrics.jsonl`. The head refits left the restoration tensors unchanged, so
each file's restoration is that of the fine-tuning run before it.

    PYTHONPATH=. .venv/bin/python training/records/revalidate.py > training/records/mr_revalidated.jsonl

The last file's point reproduced `mr_floor`'s last logged one to the last digit with
the simulator of its day. Since session 14 the MR bias field is scaled over the anatomy
(docs/degradations.md), so the validation samples with a bias field differ and a rerun
no longer reproduces `mr_revalidated.jsonl`: check out ef4b334 to repeat it.

``--config C --file F --step N --run R`` validates one weights file on the samples of
another config instead (one row, to stdout): how the half-way point of `mr_long3`,
the shipped file at step 34745, was measured on the new simulator:

    PYTHONPATH=. .venv/bin/python training/records/revalidate.py \
        --config training/configs/mr_long3.yaml --file src/napari_dcpt/weights/mr.safetensors \
        --step 34745 --run mr_long2 > training/records/mr_long3_start.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from napari_dcpt.config import load_training_config
from napari_dcpt.models import load_weights
from training.engine import Dist, build_data, validate, validation_samples

ROOT = Path(__file__).resolve().parents[2]
# (commit that shipped the MR file, cumulative fine-tuning steps behind its network, run)
FILES = (
    ("701fcba", 5745, "mr_ft"),
    ("68df7b3", 11745, "mr_cont"),
    ("66ee62d", 15745, "mr_psnr"),
    ("2948d17", 17745, "mr_floor"),
)


def _row(model_path: Path, samples: list, vocab: tuple[str, ...], **ids: object) -> str:
    model, _, file_vocab = load_weights(model_path)
    if tuple(file_vocab) != vocab:
        sys.exit(f"{model_path}: vocabulary differs from the config's")
    m = validate(model, samples, vocab, "cpu")
    keys = ("psnr_restored", "psnr_degraded", "psnr_clean_restored")
    return json.dumps({**ids, **{k: m[k] for k in keys}})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "training/configs/mr_floor.yaml")
    ap.add_argument("--file", type=Path, help="one weights file instead of the shipped history")
    ap.add_argument("--step", type=int, help="its cumulative fine-tuning steps (with --file)")
    ap.add_argument("--run", default="", help="the run that made it (with --file)")
    args = ap.parse_args(argv)
    if (args.file is None) != (args.step is None):
        ap.error("--file and --step go together")
    torch.set_num_threads(1)
    cfg = load_training_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        _, val, vocab, _ = build_data(cfg, Path(tmp), Dist())
        samples = validation_samples(cfg, cfg.finetune, val, vocab, cfg.data.batch_size)
        if args.file is not None:
            print(_row(args.file, samples, vocab, run=args.run, step=args.step), flush=True)
            return
        for commit, steps, run in FILES:
            path = Path(tmp) / f"{commit}.safetensors"
            blob = subprocess.run(
                ["git", "show", f"{commit}:src/napari_dcpt/weights/mr.safetensors"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            path.write_bytes(blob)
            print(_row(path, samples, vocab, commit=commit, run=run, step=steps), flush=True)


if __name__ == "__main__":
    main()
