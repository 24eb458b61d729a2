"""Prepare the CT training/validation files from the real data cache (run once).

The cache holds only two CT volumes, so the chest CT is split along z into a
training slab and a held-out validation slab with a 20 mm guard band between them
(no slice of one is a neighbour of the other). The head atlas has its outside air
stored as 0 instead of -1000 HU; the 0-valued background connected to the volume
border is set to -1000 HU so that the CT physics (attenuation, sinograms) sees air.

    python -m training.prepare_ct [--data ~/.cache/napari-dcpt/data] [--out runs/data/ct]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_dcpt import io
from napari_dcpt.volume import Volume


def _slab(vol: Volume, z0: int, z1: int) -> Volume:
    aff = vol.affine.copy()
    aff[:3, 3] = (vol.affine @ np.array([z0, 0, 0, 1.0]))[:3]
    return Volume(np.ascontiguousarray(vol.array[z0:z1]), aff, "CT", "HU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data",
        default=os.environ.get("NAPARI_DCPT_DATA", str(Path.home() / ".cache/napari-dcpt/data")),
    )
    ap.add_argument("--out", default="runs/data/ct")
    args = ap.parse_args()
    data, out = Path(args.data).expanduser(), Path(args.out)
    (out / "train").mkdir(parents=True, exist_ok=True)
    (out / "val").mkdir(parents=True, exist_ok=True)
    lung = io.read(data / "ct/lung1.nrrd", modality="CT")  # 48 slices of 5 mm
    io.write(_slab(lung, 0, 34), out / "train/lung1_z00-33.nii.gz", overwrite=True)
    io.write(_slab(lung, 38, 48), out / "val/lung1_z38-47.nii.gz", overwrite=True)
    head = io.read(data / "ct/head_atlas_1mm.nii.gz", modality="CT")
    arr = head.array.astype(np.int16)
    labels, _ = ndimage.label(arr == 0)
    border = np.unique(
        np.concatenate(
            [labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()]
        )
    )
    air = np.isin(labels, border[border > 0])
    arr[air] = -1000
    io.write(
        Volume(arr, head.affine, "CT", "HU"), out / "train/head_atlas_air.nii.gz", overwrite=True
    )
    print(f"wrote {out}/train (lung1 z0-33, head atlas) and {out}/val (lung1 z38-47)")


if __name__ == "__main__":
    main()
