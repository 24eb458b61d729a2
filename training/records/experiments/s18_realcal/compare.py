"""Session 18: the held-out MR benchmark's napari-dcpt rows for several weights files.

The same cases, masks and PSNR as `python -m benchmarks quality` (single types at
every severity, the mixtures, clean), for napari-dcpt alone: a candidate can be held
against the shipped file in minutes, without the classical methods. Prints one row
per case and file (gain over the input in the mask, dB; clean: output PSNR) and the
shipping rule's summary per file: cells (type x severity, volumes averaged) at or
below their input, the lowest cell, mean single-type and mixture gains, clean PSNR.

    PYTHONPATH=. python training/records/experiments/s18_realcal/compare.py A.safetensors B...
"""

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import build_case, case_records, heldout_volumes, mask_of, quality
from benchmarks.methods import dcpt_method


def main() -> None:
    files = [Path(f) for f in sys.argv[1:]]
    methods = [dcpt_method(f"{i}:{f.name}", f, threads=1) for i, f in enumerate(files)]
    cells: dict[str, dict[tuple[str, str], list[float]]] = {
        m.name: defaultdict(list) for m in methods
    }
    for vol in heldout_volumes("MR"):
        mask = mask_of(vol)
        for kind, rec in case_records("MR", False):
            case = build_case(vol, kind, rec)
            q_in = quality(vol, case.degraded, mask)["psnr_mask"]
            row = [f"{vol.name:15s} {case.label:40s}"]
            for m in methods:
                q = quality(vol, m.run(case, {}), mask)["psnr_mask"]
                v = q if kind == "clean" else q - q_in
                cells[m.name][kind, case.type_key if kind != "single" else case.label].append(v)
                row.append(f"{v:+8.3f}")
            print(" ".join(row), flush=True)
    for m in methods:
        c = cells[m.name]
        single = {k[1]: float(np.mean(v)) for k, v in c.items() if k[0] == "single"}
        mix = [float(np.mean(v)) for k, v in c.items() if k[0] == "mixture"]
        by_type = defaultdict(list)
        for label, g in single.items():
            by_type[label.split("/")[0]].append(g)
        low = min(single, key=single.get)
        print(
            f"{m.name}: cells at or below input {sum(g <= 0 for g in single.values())} of "
            f"{len(single)}; lowest {low} {single[low]:+.3f} dB; mean single-type gain "
            f"{np.mean([np.mean(v) for v in by_type.values()]):+.3f} dB; mean mixture gain "
            f"{np.mean(mix):+.3f} dB; clean {np.mean(c['clean', 'clean']):.1f} dB"
        )


if __name__ == "__main__":
    main()
