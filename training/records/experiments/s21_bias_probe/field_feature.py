"""Session 21: what a smooth-field detector would read on the held-out MR cases.

The spread (std) of a cubic polynomial fitted to each slice's log intensity over the
anatomy (above 10 % of the slice's 99th percentile), averaged over the inner slices.

    PYTHONPATH=. python training/records/experiments/s21_bias_probe/field_feature.py
"""

import numpy as np

from benchmarks.common import build_case, case_records, heldout_volumes


def field_spread(vol: np.ndarray) -> float:
    out = []
    for z in vol[2:-2]:
        m = z > 0.1 * np.percentile(z, 99)
        if m.sum() < 100:
            continue
        yy, xx = np.nonzero(m)
        h, w = z.shape
        u, v = 2 * yy / (h - 1) - 1, 2 * xx / (w - 1) - 1
        basis = np.stack([u**i * v**j for i in range(4) for j in range(4) if i + j <= 3], 1)
        coef, *_ = np.linalg.lstsq(basis, np.log(z[m]), rcond=None)
        out.append(np.std(basis @ coef))
    return float(np.mean(out))


for vol in heldout_volumes("MR"):
    print(vol.name, f"clean {field_spread(vol.clean):.4f}")
    for kind, rec in case_records("MR", False):
        case = build_case(vol, kind, rec)
        if kind == "single" and case.label.split("/")[0] in ("bias_field", "ghosting", "motion"):
            print(f"  {case.label:22s} {field_spread(np.asarray(case.degraded, np.float32)):.4f}")
