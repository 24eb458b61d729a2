"""Session 18 probe: is the MR report's weakness on the breast its small field of view?

13 of the shipped MR report's 16 top-1 errors on single degradations are on the held-out
breast, a 120 x 45 px crop; the held-out brain (128 x 128) scores 45 of 48. This takes
the brain, cuts it to the breast's in-plane size (120 x 45, central) and degrades the cut
with the benchmark's records, as the benchmark degrades the breast, then counts top-1
over the single types (one draw per type and severity) for the full brain, the cut
brain and the transposed cut (45 x 120). If the cut brain falls towards the breast's
score, the field of view explains the errors; if not, the anatomy does.

    PYTHONPATH=. python training/records/experiments/s18_fov_probe/probe.py
"""

from collections import Counter

import numpy as np

from benchmarks.common import TestVolume, case_records, heldout_volumes
from napari_dcpt.inference import classify
from napari_dcpt.inference.engine import DEFAULT_WEIGHTS
from napari_dcpt.volume import Volume


def cut(vol: TestVolume, h: int, w: int) -> TestVolume:
    """The central ``h`` x ``w`` in-plane part of ``vol`` (a new clean volume)."""
    _, ny, nx = vol.clean.shape
    y0, x0 = (ny - h) // 2, (nx - w) // 2
    arr = np.ascontiguousarray(vol.clean[:, y0 : y0 + h, x0 : x0 + w])
    return TestVolume(f"{vol.name}_{h}x{w}", "MR", arr, vol.spacing, vol.affine)


def main() -> None:
    brain = heldout_volumes("MR", quick=True)[0]
    records = [r for kind, r in case_records("MR", False, mixtures=False) if kind == "single"]
    clean_rec = case_records("MR", False, mixtures=False)[0][1]
    for vol in (brain, cut(brain, 120, 45), cut(brain, 45, 120)):
        right, wrong = 0, Counter()
        for rec in records:
            x = vol.degrade(rec)
            rep = classify(Volume(x, vol.affine, "MR", ""), model=DEFAULT_WEIGHTS["MR"], threads=1)
            top = rep.findings[0].type
            if top == rec.types[0]:
                right += 1
            else:
                wrong[f"{rec.types[0]}/{rec.severities[0]} -> {top}"] += 1
        c = classify(
            Volume(vol.degrade(clean_rec), vol.affine, "MR", ""),
            model=DEFAULT_WEIGHTS["MR"],
            threads=1,
        )
        print(
            f"{vol.name} {vol.clean.shape[1:]}: top-1 {right} of {len(records)}; "
            f"clean scan reported clean: {not c.detected} (p(clean) {c.clean_probability:.2f})"
        )
        for k, n in sorted(wrong.items()):
            print(f"   {k}" + (f" x{n}" if n > 1 else ""))


if __name__ == "__main__":
    main()
