"""Parameter count and CPU speed of the shipped model configurations (prints a table).

Usage: python benchmarks/model_speed.py [--threads 1] [--size 256]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from napari_dcpt.config import load_training_config
from napari_dcpt.models import build_model, count_parameters

CONFIGS = Path(__file__).parents[1] / "training" / "configs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=256, help="inference slice side (px)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}")
    print(
        "| config | backbone params | head params | head/backbone | MB fp32 "
        f"| infer ms/slice {args.size}^2 | train steps/s b{args.batch} {args.patch}^2 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in ("tiny", "mr", "ct"):
        cfg = load_training_config(CONFIGS / f"{name}.yaml").model
        torch.manual_seed(0)
        model = build_model(cfg, n_classes=9)
        nb, nh = count_parameters(model.backbone), count_parameters(model.classifier)
        x = torch.rand(1, cfg.in_slices, args.size, args.size)
        model.eval()
        with torch.no_grad():
            model(x, return_aux=True)
            t = time.perf_counter()
            for _ in range(3):
                model(x, return_aux=True)
            infer = (time.perf_counter() - t) / 3 * 1000
        model.train()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        xb = torch.rand(args.batch, cfg.in_slices, args.patch, args.patch)
        t, n = time.perf_counter(), 5
        for _ in range(n):
            r, logits, _ = model(xb, return_aux=True)
            loss = r.abs().mean() + logits.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sps = n / (time.perf_counter() - t)
        mb = (nb + nh) * 4 / 2**20
        print(f"| {name} | {nb:,} | {nh:,} | {nh / nb:.2f} | {mb:.2f} | {infer:.0f} | {sps:.1f} |")


if __name__ == "__main__":
    main()
