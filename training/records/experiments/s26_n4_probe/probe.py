"""Probe: does SimpleITK's N4 field estimate separate a bias field from its absence?

Design volumes only (training and calibration series; the held-out two are not read).
Each volume: 16 central slices, in-plane <= 256 px, as the benchmarks cut them; clean,
every registry MR type at moderate, and the bias field at each severity (3 seeds).
Prints the N4 log-field's spread over the anatomy as a max/min ratio (p99/p1).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import SimpleITK as sitk

from benchmarks.common import data_dir, load_volume
from napari_dcpt.degradations import SEVERITIES, apply_record, sample_record, vocabulary


def n4_ratio(arr: np.ndarray, spacing: tuple[float, float, float], shrink_mm: float) -> float:
    scale = float(np.percentile(arr, 99.5))
    mask = (arr > 0.1 * scale).astype(np.uint8)
    img = sitk.GetImageFromArray(np.maximum(arr, 0).astype(np.float32))
    img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(img)
    f = [max(1, int(round(shrink_mm / s))) for s in spacing[::-1]]
    small, msmall = sitk.Shrink(img, f), sitk.Shrink(m, f)
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([50, 50, 50])
    n4.Execute(small, msmall)
    logf = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(img))
    v = logf[mask > 0]
    return float(np.exp(np.percentile(v, 99) - np.percentile(v, 1)))


def main() -> None:
    shrink_mm = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    d = data_dir() / "mr"
    names = [
        "s1_t1_1mm.nii.gz",
        "colin27_t1_1mm.nii.gz",
        "brain1_t1c.nrrd",
        "mni152_6asym_t1_1mm.nii.gz",
        "macaque_inia19_t1.nii.gz",
        "mni152_2009a_t1.nii.gz",
    ]
    for n in names:
        vol = load_volume(d / n, "MR", n)
        rows = []
        t0 = time.perf_counter()
        rows.append(("clean", n4_ratio(vol.clean, vol.spacing, shrink_mm)))
        for ti, t in enumerate(vocabulary("MR")[1:]):
            sevs = SEVERITIES if t == "bias_field" else ("moderate",)
            for s in sevs:
                for k in range(3 if t == "bias_field" else 1):
                    rec = sample_record(
                        "MR",
                        1000 + 100 * ti + 10 * k + SEVERITIES.index(s),
                        types=(t,),
                        severity=s,
                        p_clean=0,
                    )
                    out = apply_record(vol.clean, rec, vol.spacing)
                    rows.append((f"{t}/{s}", n4_ratio(out, vol.spacing, shrink_mm)))
        dt = time.perf_counter() - t0
        print(f"{n} {vol.clean.shape} spacing {vol.spacing} ({dt / len(rows):.2f} s per N4)")
        for lab, r in rows:
            print(f"  {lab:28s} {r:.3f}")


if __name__ == "__main__":
    main()
