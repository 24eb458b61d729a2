"""Session 21: the shipped MR report's top findings on clean, ghosting and bias-field cases.

PYTHONPATH=. python training/records/experiments/s21_bias_probe/report_probe.py
"""

import numpy as np

from benchmarks.common import build_case, case_records, heldout_volumes, mask_of
from napari_dcpt.inference import classify
from napari_dcpt.volume import Volume

WEIGHTS = "src/napari_dcpt/weights/mr.safetensors"


def top3(report) -> str:
    found = sorted(report.findings, key=lambda f: -f.probability)[:3]
    return ", ".join(f"{f.type} {f.probability:.2f}" for f in found)


for vol in heldout_volumes("MR"):
    clean = vol.clean
    print(vol.name, clean.shape, vol.spacing)
    rep = classify(Volume(clean, vol.affine, "MR", ""), model=WEIGHTS, device="cpu", threads=2)
    print(f"  clean  clean_p {rep.clean_probability:.2f} {top3(rep)}")
    mask = mask_of(vol)
    for kind, rec in case_records("MR", False):
        case = build_case(vol, kind, rec)
        if kind != "single" or not case.label.startswith(("bias_field", "ghosting")):
            continue
        deg = np.asarray(case.degraded, np.float32)
        ratio = deg[mask] / np.maximum(clean[mask], 1e-3)
        rep = classify(Volume(deg, vol.affine, "MR", ""), model=WEIGHTS, device="cpu", threads=2)
        lo, hi = np.percentile(ratio, 1), np.percentile(ratio, 99)
        print(f"  {case.label:22s} field p1-p99 {lo:.2f}-{hi:.2f} {top3(rep)}")
