"""Render every degradation type at every severity on a real MR and a real CT slice.

Run: ``python benchmarks/gallery.py`` -> ``docs/img/gallery.png``. Reads
``mr/colin27_t1_1mm.nii.gz`` and ``ct/lung1.nrrd`` from the data cache
(``$NAPARI_DCPT_DATA`` or ``~/.cache/napari-dcpt/data``) with SimpleITK directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from napari_dcpt.degradations import SEVERITIES, apply_record, sample_record, vocabulary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _slice(path: Path, index: int | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x)
    sp = img.GetSpacing()  # (x, y, z)
    k = arr.shape[0] // 2 if index is None else index
    return arr[k], (float(sp[1]), float(sp[0]))


def main() -> None:
    data = Path(os.environ.get("NAPARI_DCPT_DATA", Path.home() / ".cache/napari-dcpt/data"))
    mr, mr_sp = _slice(data / "mr/colin27_t1_1mm.nii.gz")
    ct, ct_sp = _slice(data / "ct/lung1.nrrd")
    mr = mr[::-1]  # NIfTI rows run inferior->superior after transposition; show head up
    rows = [("MR", mr, mr_sp, (0, np.percentile(mr, 99.5))), ("CT", ct, ct_sp, (-1000, 400))]
    types = {m: vocabulary(m)[1:] for m, *_ in rows}
    n_rows = sum(len(t) for t in types.values())
    fig, axes = plt.subplots(n_rows, 4, figsize=(8, 2 * n_rows), squeeze=False)
    r = 0
    for modality, img, sp, (lo, hi) in rows:
        for name in types[modality]:
            axes[r, 0].imshow(img, cmap="gray", vmin=lo, vmax=hi)
            axes[r, 0].set_title(f"{modality} clean", fontsize=7)
            for c, sev in enumerate(SEVERITIES, start=1):
                rec = sample_record(modality, 7, types=name, severity=sev)
                out = apply_record(img, rec, sp)
                axes[r, c].imshow(out, cmap="gray", vmin=lo, vmax=hi)
                axes[r, c].set_title(f"{name} {sev}", fontsize=7)
            r += 1
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    out = ROOT / "docs/img/gallery.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    main()
