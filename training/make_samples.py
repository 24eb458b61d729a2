"""Build the bundled sample scans from the real data cache (run once; output committed).

python -m training.make_samples [--data ~/.cache/napari-dcpt/data]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from napari_dcpt import io
from napari_dcpt.degradations import apply_record, sample_record
from napari_dcpt.samples import HERE


def _crop(vol, z: slice, y: slice, x: slice):
    from napari_dcpt.volume import Volume

    arr = vol.array[z, y, x]
    aff = vol.affine.copy()
    aff[:3, 3] = (vol.affine @ np.array([z.start, y.start, x.start, 1.0]))[:3]
    return Volume(np.ascontiguousarray(arr), aff, vol.modality, vol.unit)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get("NAPARI_DCPT_DATA", str(Path.home() / ".cache/napari-dcpt/data"))
    ap.add_argument("--data", default=default)
    args = ap.parse_args()
    data = Path(args.data)
    records = {}
    mr = io.read(data / "mr/colin27_t1_1mm.nii.gz", modality="MR")
    mr = _crop(mr, slice(80, 100), slice(10, 210), slice(10, 172))
    rec = sample_record("MR", 7, types=("rician_noise",), severity="moderate", p_clean=0.0)
    noisy = apply_record(mr.array.astype(np.float32), rec, mr.spacing)
    mr = mr.with_array(np.clip(np.rint(noisy), 0, 32767).astype(np.int16))
    records["mr_sample.nii.gz"] = {"source": "mr/colin27_t1_1mm.nii.gz", **rec.to_dict()}
    ct = io.read(data / "ct/lung1.nrrd", modality="CT")
    ct = _crop(ct, slice(18, 30), slice(0, 512), slice(0, 512))
    rec = sample_record("CT", 11, types=("low_dose",), severity="moderate", p_clean=0.0)
    # the sinogram needs whole slices: degrade first, crop in-plane afterwards
    low = apply_record(ct.array.astype(np.float32), rec, ct.spacing)
    ct = ct.with_array(np.clip(np.rint(low), -1024, 3071).astype(np.int16))
    ct = _crop(ct, slice(0, 12), slice(96, 416), slice(96, 416))
    records["ct_sample.nii.gz"] = {"source": "ct/lung1.nrrd", **rec.to_dict()}
    for name, vol in (("mr_sample.nii.gz", mr), ("ct_sample.nii.gz", ct)):
        io.write(vol, HERE / name, overwrite=True)
    (HERE / "RECORDS.json").write_text(json.dumps(records, indent=2, default=str))
    print("wrote", ", ".join(records))


if __name__ == "__main__":
    main()
