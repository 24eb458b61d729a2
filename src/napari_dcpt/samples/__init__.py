"""Bundled sample scans (small real crops with a recorded simulated degradation).

``mr_sample.nii.gz``: 20 axial slices of the Colin27 T1 template (Debian
mricron-data, BSD-3) with moderate Rician noise; ``ct_sample.nii.gz``: 12 slices (320 x 320 crop) of
the pyradiomics lung1 chest CT (BSD-3) with a simulated low-dose acquisition. Both
are made by ``python -m training.make_samples`` (the exact records are in
``samples/RECORDS.json``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_dcpt.volume import Volume

HERE = Path(__file__).resolve().parent


def sample_paths() -> dict[str, Path]:
    """``{"MR": path, "CT": path}`` of the bundled samples."""
    return {"MR": HERE / "mr_sample.nii.gz", "CT": HERE / "ct_sample.nii.gz"}


def _to_uint8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (np.clip((a.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def comparison_image(before: Volume, after: Volume) -> np.ndarray:
    """Middle slice before | after | |difference| x 4, one uint8 image, same window."""
    z = before.shape[0] // 2 if before.ndim == 3 else None
    b = before.array[z] if z is not None else before.array
    a = after.array[z] if z is not None else after.array
    if before.modality == "CT":
        lo, hi = -160.0, 240.0  # soft-tissue window (W 400, L 40)
    else:
        lo, hi = 0.0, float(np.percentile(b, 99.5))
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)) * 4 + lo
    gap = np.full((b.shape[0], 4), 255, np.uint8)
    return np.hstack(
        [_to_uint8(b, lo, hi), gap, _to_uint8(a, lo, hi), gap, _to_uint8(diff, lo, hi)]
    )


PANEL_LABELS = ("input", "restored", "|difference| x 4")


def save_comparison(before: Volume, after: Volume, path: Path, title: str = "") -> Path:
    """Write `comparison_image` as PNG under a band that names the panels and ``title``.

    ``title`` (e.g. the degradation report's summary) is cut to the image's width.
    """
    from PIL import Image, ImageDraw, ImageFont

    from napari_dcpt.io.atomic import atomic_path

    img = comparison_image(before, after)
    font = ImageFont.load_default()
    line = 14  # px per text line of the default font, with its descent
    band = line * (2 if title else 1) + 4
    canvas = Image.new("L", (img.shape[1], img.shape[0] + band), 0)
    canvas.paste(Image.fromarray(img), (0, band))
    draw = ImageDraw.Draw(canvas)
    panel = (img.shape[1] - 8) // 3  # three panels, two 4-px gaps
    for k, label in enumerate(PANEL_LABELS):
        draw.text((k * (panel + 4) + 3, 2), label, fill=255, font=font)
    if title:
        while len(title) > 4 and draw.textlength(title, font=font) > img.shape[1] - 6:
            title = title[:-4] + "..."  # ASCII: Pillow's bitmap default font has no "…"
        draw.text((3, 2 + line), title, fill=255, font=font)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return Path(path)
