"""Train one modality's default model and its ablation inside a wall-clock budget.

    python -m training.timed mr --minutes 8 --run-root runs/gpu --device cuda

For a lent machine with a fixed time (a GPU for ten minutes, a night on a shared
node): the number of steps that fits is not known in advance, and a cosine schedule
cut short by a time limit leaves the learning rate high. So the budget is spent in
two phases:

1. DCPT pre-training for ``--pretrain-steps`` steps; its wall time gives the step rate.
2. Fine-tuning (from the pre-trained weights) and the ablation (the same total steps
   from random initialisation) run side by side, with the step count chosen from the
   measured rate so that both finish inside the budget with ``--margin`` to spare.

Every stage runs as ``python -m training <stage>`` on a config written to
``<run-root>/<mod>_<stage>.yaml``, so each run can be repeated with fixed steps on any
machine. A stage still running at the deadline gets SIGTERM and saves its checkpoint
(the engine's normal interruption path); the step counts it reached are in
``<run-root>/<mod>_timed.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from training.engine import load_checkpoint


def _write_config(base: dict, path: Path, **stage_steps: int) -> Path:
    cfg = json.loads(json.dumps(base))  # deep copy
    for stage, steps in stage_steps.items():
        cfg[stage]["steps"] = steps
        every = max(50, steps // 10)  # ten validation points: a learning curve for the card
        cfg[stage]["val_every"] = every
        cfg[stage]["checkpoint_every"] = every
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _stage(stage: str, cfg: Path, run: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "training", stage, "--config", str(cfg), "--run-dir", str(run),
        "--device", args.device, "--threads", "1", *extra,
    ]  # fmt: skip


def _finish(procs: list[subprocess.Popen], deadline: float) -> list[int]:
    """Wait for ``procs``; at the deadline send SIGTERM (they save and stop)."""
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(1.0)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    return [p.wait() for p in procs]


def _steps_done(run: Path) -> int:
    ckpt = run / "last.pt"
    if not ckpt.is_file():
        raise SystemExit(f"{run}: no checkpoint was written; see its log")
    return int(load_checkpoint(ckpt)["step"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.timed", description=__doc__.split("\n")[0])
    p.add_argument("modality", choices=("mr", "ct"))
    p.add_argument("--minutes", type=float, required=True, help="wall-clock budget, minutes")
    p.add_argument("--run-root", default="runs", help="folder for the runs and configs")
    p.add_argument("--config", default=None, help="base config (default configs/<mod>.yaml)")
    p.add_argument("--pretrain-steps", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2, help="data workers per training process")
    p.add_argument("--batch-size", type=int, default=None, help="override data.batch_size")
    p.add_argument("--patches-per-slice", type=int, default=None)
    p.add_argument("--data-root", default=None, help="override data.root")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--margin", type=float, default=0.8, help="share of the rate to plan on")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    deadline = t0 + args.minutes * 60
    root = Path(args.run_root)
    root.mkdir(parents=True, exist_ok=True)
    mod = args.modality
    base = yaml.safe_load(
        Path(args.config or Path(__file__).parent / f"configs/{mod}.yaml").read_text()
    )
    base["data"]["num_workers"] = args.workers
    for key, value in (
        ("root", args.data_root),
        ("batch_size", args.batch_size),
        ("patches_per_slice", args.patches_per_slice),
    ):
        if value is not None:
            base["data"][key] = value
    report: dict = {"modality": mod, "minutes": args.minutes, "device": args.device}
    if args.device != "cpu":
        import torch

        if torch.cuda.is_available():
            report["device"] = torch.cuda.get_device_name(0)

    pre_cfg = _write_config(base, root / f"{mod}_pretrain.yaml", pretrain=args.pretrain_steps)
    pre_run = root / f"{mod}_pre"
    with open(root / f"{mod}_pre.log", "w") as log:
        # Phase 1 may use at most half the budget.
        proc = subprocess.Popen(_stage("pretrain", pre_cfg, pre_run, args), stderr=log, stdout=log)
        rc = _finish([proc], t0 + args.minutes * 30)[0]
    pre_steps = _steps_done(pre_run)
    t1 = time.monotonic()
    # The engine's rate counts data waits but not start-up (imports, volume caching,
    # validation), which phase 2 pays again: plan on the rate and subtract start-up.
    metrics = (pre_run / "metrics.jsonl").read_text().splitlines()
    rate = float(json.loads(metrics[-1])["steps_per_s"])
    startup = max(0.0, (t1 - t0) - pre_steps / rate)
    total = int(rate * args.margin * (deadline - t1 - startup))
    if total <= pre_steps + 50:
        raise SystemExit(f"{mod}: {rate:.1f} steps/s leaves no time to fine-tune")
    report.update(pretrain_steps=pre_steps, pretrain_rc=rc, pretrain_s=round(t1 - t0, 1))
    report.update(rate_steps_per_s=round(rate, 2), startup_s=round(startup, 1))
    report.update(planned_total_steps=total)
    ft_cfg = _write_config(
        base, root / f"{mod}_finetune.yaml", pretrain=pre_steps, finetune=total - pre_steps
    )
    runs = {"finetune": root / f"{mod}_ft", "ablation": root / f"{mod}_abl"}
    logs = {k: open(root / f"{mod}_{k}.log", "w") for k in runs}
    procs = [
        subprocess.Popen(
            _stage("finetune", ft_cfg, runs["finetune"], args, "--init", str(pre_run / "last.pt")),
            stdout=logs["finetune"],
            stderr=logs["finetune"],
        ),
        subprocess.Popen(
            _stage("ablation", ft_cfg, runs["ablation"], args),
            stdout=logs["ablation"],
            stderr=logs["ablation"],
        ),
    ]
    codes = _finish(procs, deadline)
    for fh in logs.values():
        fh.close()
    for (name, run), code in zip(runs.items(), codes, strict=True):
        report[f"{name}_rc"] = code
        report[f"{name}_steps"] = _steps_done(run)
    report["wall_s"] = round(time.monotonic() - t0, 1)
    (root / f"{mod}_timed.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0 if all(c == 0 for c in codes) and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
