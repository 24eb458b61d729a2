"""Time every degradation type per 128^2 / 256^2 slice and per 96^3 volume (markdown table).

Run: ``python benchmarks/degradations_speed.py`` (one torch thread, moderate severity,
median of a few repeats). CT sinogram types run slice by slice, batched over the
volume's slices.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from napari_dcpt.degradations import REGISTRY, apply_record, sample_record


def _image(modality: str, shape: tuple[int, ...]) -> np.ndarray:
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    inside = sum(g**2 for g in grids[-2:]) < 0.8
    if modality == "MR":
        return np.where(inside, 100.0, 0.0).astype(np.float32)
    return np.where(inside, 40.0, -1000.0).astype(np.float32)


def _time(img: np.ndarray, modality: str, name: str, repeats: int) -> float:
    times = []
    for seed in range(repeats):
        rec = sample_record(modality, seed, types=name, severity="moderate")
        t0 = time.perf_counter()
        apply_record(img, rec, (1.0,) * img.ndim)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    torch.set_num_threads(1)
    shapes = [(128, 128), (256, 256), (96, 96, 96)]
    print("| modality | type | ms / 128x128 | ms / 256x256 | ms / 96^3 |")
    print("|---|---|---|---|---|")
    for modality, name in REGISTRY:
        cells = []
        for shp in shapes:
            reps = 5 if len(shp) == 2 else 2
            cells.append(f"{_time(_image(modality, shp), modality, name, reps):.1f}")
        print(f"| {modality} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
