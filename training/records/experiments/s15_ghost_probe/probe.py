"""Session 15 probe: does k-space line periodicity reveal MR ghosting on held-out volumes?

The simulator's ghosting (TorchIO's model) scales every ``period``-th phase-encode
line, so the log energy of the k-space lines of a ghosted slice should carry a
periodic pattern that no other type makes. For each held-out case (the benchmark's
volumes and records), this prints, over every 4th slice, the median and minimum of
the largest F-like ratio (variance of the residue-class means / mean within-class
variance of the line-energy profile after a 7-line median detrend), over both axes
and periods 2-4.

Run from the repository root (data cache present, about 1 min on one core):
    PYTHONPATH=. python training/records/experiments/s15_ghost_probe/probe.py
"""

import numpy as np
from scipy.ndimage import median_filter

from benchmarks.common import build_case, case_records, heldout_volumes


def periodicity(sl: np.ndarray) -> float:
    """Largest residue-class F ratio of the detrended log line energies of one slice."""
    best = 0.0
    power = np.abs(np.fft.fft2(sl)) ** 2
    for ax in (0, 1):
        prof = np.log(power.mean(axis=1 - ax) + 1e-10)
        res = prof - median_filter(prof, 7, mode="wrap")
        for period in (2, 3, 4):
            cls = np.arange(len(res)) % period
            means = np.array([res[cls == r].mean() for r in range(period)])
            within = np.mean([res[cls == r].var() for r in range(period)]) + 1e-12
            best = max(best, float(means.var() / within))
    return best


if __name__ == "__main__":
    for vol in heldout_volumes("MR"):
        for kind, rec in case_records("MR", False):
            if kind == "mix":
                continue
            case = build_case(vol, kind, rec)
            s = [periodicity(case.degraded[i]) for i in range(0, case.degraded.shape[0], 4)]
            print(f"{vol.name[:12]:12s} {case.label[:40]:40s} {np.median(s):8.3f} {np.min(s):8.3f}")
