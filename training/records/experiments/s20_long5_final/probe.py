"""Session 20: why the candidate's failing cells fail: report and applied strength per file.

For the held-out MR benchmark's bias_field and motion cases (every severity, both
volumes), prints per weights file the gain over the input (dB, in the mask), the
report's top types and the strength `restore()` applied (the share of the network's
change), then the same gain at full strength.

    PYTHONPATH=. python training/records/experiments/s20_long5_final/probe.py A.safetensors B...
"""

import sys
from pathlib import Path

import numpy as np

from benchmarks.common import build_case, case_records, heldout_volumes, mask_of, quality
from napari_dcpt.inference import restore, run
from napari_dcpt.volume import Volume


def main() -> None:
    files = [Path(f) for f in sys.argv[1:]]
    for vol in heldout_volumes("MR"):
        mask = mask_of(vol)
        for kind, rec in case_records("MR", False):
            case = build_case(vol, kind, rec)
            if kind != "single" or case.label.split("/")[0] not in ("bias_field", "motion"):
                continue
            q_in = quality(vol, case.degraded, mask)["psnr_mask"]
            v = Volume(case.degraded, vol.affine, "MR", "")
            for i, f in enumerate(files):
                res = run(restore(v, model=f, device="cpu", threads=2))
                full = run(restore(v, model=f, device="cpu", threads=2, scale_by_report=False))
                g = quality(vol, np.asarray(res.volume.array, np.float32), mask)["psnr_mask"]
                gf = quality(vol, np.asarray(full.volume.array, np.float32), mask)["psnr_mask"]
                top = sorted(res.report.findings, key=lambda x: -x.probability)[:2]
                tops = ", ".join(f"{x.type} {x.probability:.2f}" for x in top)
                print(
                    f"{vol.name:15s} {case.label:24s} file {i}: gain {g - q_in:+.3f} dB at "
                    f"strength {res.strength:.2f}; full strength {gf - q_in:+.3f} dB; {tops}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
