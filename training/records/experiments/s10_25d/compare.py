"""Two `python -m training evaluate` tables side by side: gain over the input per row.

python training/records/experiments/s10_25d/compare.py A/eval/eval.json B/eval/eval.json
"""

import json
import sys

import numpy as np


def top1(ev: dict) -> float:
    conf = np.asarray(ev["confusion"])
    return float(np.trace(conf[1:, 1:]) / max(conf[1:].sum(), 1))


a, b = (json.load(open(p)) for p in sys.argv[1:3])
gains: dict[str, list[float]] = {"A": [], "B": []}
print(
    f"{'condition':16s} {'severity':9s} {'input':>6s} {'A':>7s} {'B':>7s}  (dB; clean, mixed: output)"
)
for ra, rb in zip(a["rows"], b["rows"], strict=True):
    assert (ra["condition"], ra["severity"]) == (rb["condition"], rb["severity"])
    single = ra["severity"] is not None
    ga = ra["psnr_restored"] - (ra["psnr_degraded"] if single else 0.0)
    gb = rb["psnr_restored"] - (rb["psnr_degraded"] if single else 0.0)
    print(
        f"{ra['condition']:16s} {ra['severity'] or '-':9s} {ra['psnr_degraded']:6.2f} {ga:+7.2f} {gb:+7.2f}"
    )
    if single:
        gains["A"].append(ga)
        gains["B"].append(gb)
for k, ev in (("A", a), ("B", b)):
    g = gains[k]
    print(
        f"{k}: mean gain over single-type rows {np.mean(g):+.3f} dB, rows at or below input "
        f"{sum(x <= 0 for x in g)} of {len(g)}, top-1 {100 * top1(ev):.0f} %"
    )
