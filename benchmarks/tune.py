"""Tune the classical methods once, on volumes that are not benchmarked (grid search).

MR: a 12-slice 160x160 crop of colin27 T1; CT: an 8-slice head-atlas slab. Denoisers
are scored on the noise type (rician_noise / low_dose) at all three severities,
deconvolution on blur; the score is the masked PSNR averaged over those cases.
Prints the best settings and writes ``benchmarks/results/tuning.json``; the chosen
values are copied by hand into `benchmarks.methods.TUNED` (so a benchmark run never
depends on a tuning run).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.methods import classical_methods

GRID: dict[str, list[dict[str, Any]]] = {
    "nlm": [{"patch_size": 5, "patch_distance": 6, "k": k} for k in (0.6, 0.8, 1.0, 1.2)],
    "tv": [{"k": k} for k in (0.125, 0.25, 0.5, 1.0, 2.0)],
    "wavelet": [{"k": k, "wavelet": "db2"} for k in (0.75, 1.0, 1.5, 2.0, 3.0)],
    "richardson_lucy": [{"num_iter": n} for n in (1, 2, 5, 10, 20, 40)],
    "wiener": [{"balance": b} for b in (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)],
    "dipy_nlm": [{"patch_radius": 1, "block_radius": 3, "k": k} for k in (0.75, 1.0, 1.25)],
}
# Not tuned: BM4D (k = 1, the true std, as its authors intend; ~40 s per call) and N4
# (3 fitting levels of 50 iterations, shrink factor 2; it takes no noise level).


def main(argv: list[str]) -> None:
    """``python -m benchmarks tune [--modality MR CT]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks tune", description=__doc__)
    ap.add_argument("--modality", nargs="+", default=["MR", "CT"], choices=["MR", "CT"])
    args = ap.parse_args(argv)
    out: dict[str, Any] = {
        "environment": common.environment(["python", "-m", "benchmarks", "tune", *argv]),
        "scores": {},
        "best": {},
    }
    for mod in args.modality:
        methods = {m.name: m for m in classical_methods(mod, "none")}
        vols = common.tuning_volumes(mod)
        cases = []
        for vol in vols:
            for kind, rec in common.case_records(
                mod, quick=False, seed0=90_000, mixtures=False, clean=False
            ):
                if rec.types[0] in (common.NOISE_TYPES[mod], "blur"):
                    cases.append((vol, common.mask_of(vol), common.build_case(vol, kind, rec)))
        for name, grid in GRID.items():
            if name not in methods:
                continue
            m = methods[name]
            scores = []
            for params in grid:
                vals = [
                    common.quality(v, m.run(c, params), mk)["psnr_mask"]
                    - common.quality(v, c.degraded, mk)["psnr_mask"]
                    for v, mk, c in cases
                    if m.applies(c)
                    and (name in ("richardson_lucy", "wiener")) == ("blur" in c.record.types)
                ]
                scores.append(
                    {"params": params, "mean_gain_db": float(np.mean(vals)), "n": len(vals)}
                )
                print(
                    f"{mod} {name} {params} {scores[-1]['mean_gain_db']:+.2f} dB",
                    file=sys.stderr,
                    flush=True,
                )
            out["scores"].setdefault(mod, {})[name] = scores
            out["best"].setdefault(mod, {})[name] = max(scores, key=lambda s: s["mean_gain_db"])[
                "params"
            ]
    path = common.RESULTS / "tuning.json"
    if path.exists():  # keep the other modality's results when tuning one
        old = json.loads(path.read_text())
        for key in ("scores", "best"):
            out[key] = {**old.get(key, {}), **out[key]}
        out["environment_previous"] = old.get("environment")
    common.write_json(path, out)
    print(out["best"])
