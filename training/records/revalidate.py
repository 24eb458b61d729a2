"""Recompute the MR fine-tuning validation points whose records were lost (sessions 3-8).

Each MR file shipped in git is evaluated with the training loop's own `validate` on
the fixed validation samples of `training/configs/mr_floor.yaml` (the samples
`mr_floor` logged), so the points are comparable with its kept
`mr_floor/metrics.jsonl`. The head refits left the restoration tensors unchanged, so
each file's restoration is that of the fine-tuning run before it.

    PYTHONPATH=. .venv/bin/python training/records/revalidate.py > training/records/mr_revalidated.jsonl

The last file's point reproduces `mr_floor`'s last logged one to the last digit.
"""

from __future__ import annotations

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


def main() -> None:
    torch.set_num_threads(1)
    cfg = load_training_config(ROOT / "training/configs/mr_floor.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        _, val, vocab, _ = build_data(cfg, Path(tmp), Dist())
        samples = validation_samples(cfg, cfg.finetune, val, vocab, cfg.data.batch_size)
        for commit, steps, run in FILES:
            path = Path(tmp) / f"{commit}.safetensors"
            blob = subprocess.run(
                ["git", "show", f"{commit}:src/napari_dcpt/weights/mr.safetensors"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            path.write_bytes(blob)
            model, _, file_vocab = load_weights(path)
            if tuple(file_vocab) != vocab:
                sys.exit(f"{commit}: vocabulary differs from the config's")
            m = validate(model, samples, vocab, "cpu")
            row = {
                "commit": commit,
                "run": run,
                "step": steps,
                **{k: m[k] for k in ("psnr_restored", "psnr_degraded", "psnr_clean_restored")},
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
