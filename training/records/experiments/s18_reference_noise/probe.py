"""Session 18 probe: how much noise do the held-out MR references carry themselves?

The benchmark scores a restored MR case by PSNR against the clean crop it was degraded
from. If that crop carries noise of its own (std s0) and a case adds Rician noise of
std s1, a denoiser that returns the noise-free anatomy x is scored on |x - (x + n0)|,
about s0, while the input is scored on about s1: where s0 >= s1 no denoiser that removes
the scan's own noise can score above the input. This prints, for each held-out volume:

- the noise floor of the clean crop: percentiles of the 5 x 5 in-plane local std over
  the eroded foreground (the benchmark's mask), and the same after adding Rician noise
  of known std, to show how the floor responds (a homogeneous region's local std is
  its noise std; the lowest percentiles still hold some anatomy, so it is an upper
  bound for s0);
- skimage's wavelet estimate (`estimate_sigma`, slice median), which counts
  pixel-scale anatomy as noise;
- for each Rician severity and weights file (the shipped one, or those given): the added
  std s1 (record), the output PSNR minus the input's, the std of the change c = output
  - input in the mask (the amount removed) and its cosine with the true correction
  clean - input. A change std above s1 would mean it also removed the scan's own noise;
  a change that removes a share k of both noises alike gains while k < 2 s1^2 / (s0^2 +
  s1^2), so a loss with a small change and a low cosine means anatomy was removed.

Run from the repository root (data cache present, about 1 min on one core):
    PYTHONPATH=. python training/records/experiments/s18_reference_noise/probe.py [WEIGHTS ...]
"""

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.restoration import estimate_sigma

from benchmarks.common import build_case, case_records, heldout_volumes, mask_of, quality
from benchmarks.methods import dcpt_method
from napari_dcpt.inference.engine import DEFAULT_WEIGHTS


def floor(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """5th/10th/25th percentiles of the 5 x 5 in-plane local std in the eroded mask."""
    mu = ndi.uniform_filter(a, (1, 5, 5))
    sd = np.sqrt(np.maximum(ndi.uniform_filter(a * a, (1, 5, 5)) - mu * mu, 0))
    return np.percentile(sd[ndi.binary_erosion(mask, iterations=3)], [5, 10, 25])


def main() -> None:
    rng = np.random.default_rng(0)
    files = [Path(f) for f in sys.argv[1:]] or [DEFAULT_WEIGHTS["MR"]]
    methods = [dcpt_method(f.name, f, threads=1) for f in files]
    records = [r for k, r in case_records("MR", False, mixtures=False, clean=False)]
    noise = [r for r in records if r.types == ("rician_noise",)]
    for vol in heldout_volumes("MR"):
        a = vol.clean.astype(np.float64)
        m = mask_of(vol)
        print(f"{vol.name} {a.shape}: p99.5 {np.percentile(a, 99.5):.1f}")
        print(f"  clean: local-std floor p5/p10/p25 {np.round(floor(a, m), 2)}")
        for s in (2.0, 4.0, 8.0):
            b = np.abs(a + rng.normal(0, s, a.shape) + 1j * rng.normal(0, s, a.shape))
            print(f"  clean + Rician std {s}: floor {np.round(floor(b, m), 2)}")
        print(f"  estimate_sigma (slice median): {np.median([estimate_sigma(z) for z in a]):.2f}")
        for rec in noise:
            case = build_case(vol, "single", rec)
            q_in = quality(vol, case.degraded, m)["psnr_mask"]
            want = (a - case.degraded)[m]
            for dcpt in methods:
                out = dcpt.run(case, {})
                q_out = quality(vol, out, m)["psnr_mask"]
                c = (out - case.degraded)[m]
                cos = float(c @ want / (np.linalg.norm(c) * np.linalg.norm(want) + 1e-12))
                print(
                    f"  {rec.severities[0]:8s} added std {case.noise_std:5.2f} {dcpt.name}: "
                    f"gain {q_out - q_in:+.2f} dB, std of the change {np.std(c):5.2f}, "
                    f"cosine {cos:.2f}"
                )


if __name__ == "__main__":
    main()
