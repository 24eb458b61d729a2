"""Volume <-> napari layer data, one place for both directions.

napari cannot slice rotated layers, so a volume is shown reoriented to the closest
axis-aligned (z=S, y=P, x=L) orientation with ``scale``/``translate`` in mm; the true
affine and the reorientation are kept in ``metadata["napari_dcpt"]`` so a writer
restores the exact geometry. Nothing patient-identifying goes into the metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_dcpt.io import geometry
from napari_dcpt.volume import Volume

KEY = "napari_dcpt"


def layer_name(volume: Volume) -> str:
    """Series description for DICOM, else the file name."""
    from pathlib import Path

    desc = str(volume.meta.get("series_description") or "").strip()
    path = volume.meta.get("path")
    return desc or (Path(path).name if path else "image")


def volume_to_layer_data(volume: Volume, name: str | None = None) -> tuple:
    """A napari ``LayerData`` tuple ``(data, kwargs, "image")`` for a Volume."""
    info: dict[str, Any] = {
        "affine": volume.affine.tolist(),
        "modality": volume.modality,
        "unit": volume.unit,
        "format": volume.meta.get("format"),
        "source_path": volume.meta.get("path"),
        "series_uid": volume.meta.get("series_uid"),
        "modality_guessed": bool(volume.meta.get("modality_guessed", False)),
        "header_modality": str(volume.meta.get("modality") or ""),
        "dtype": str(volume.array.dtype),
        "spacing_deviation_mm": volume.meta.get("spacing_deviation_mm"),
    }
    if volume.ndim == 3:
        perm, flip, scale, translate = geometry.napari_scale_translate(volume.affine, volume.shape)
        data = geometry.apply_display(volume.array, perm, flip)
        info["display_perm"], info["display_flip"] = list(perm), list(flip)
        labels = ("z", "y", "x")
    else:
        data = volume.array
        scale = volume.spacing
        translate = (volume.origin[1], volume.origin[0])
        labels = ("y", "x")
    finite = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data
    lo, hi = (
        (float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5)))
        if finite.size
        else (0.0, 1.0)
    )
    kwargs = {
        "name": name or layer_name(volume),
        "scale": tuple(scale),
        "translate": tuple(translate),
        "axis_labels": labels,
        "units": ("mm",) * len(labels),
        "contrast_limits": (lo, hi if hi > lo else lo + 1.0),
        "metadata": {KEY: info},
    }
    return data, kwargs, "image"


def layer_to_volume(data: Any, attributes: dict[str, Any]) -> Volume:
    """Rebuild a Volume from layer data and layer attributes (``layer.as_layer_data_tuple``).

    Uses the exact affine this plugin stored when present; otherwise (a layer from
    another reader) builds an axis-aligned affine from ``scale`` and ``translate``,
    reading display axes as (S, P, L).
    """
    array = np.asarray(data)
    info = dict((attributes.get("metadata") or {}).get(KEY) or {})
    ndim = array.ndim
    if info.get("affine") is not None:
        affine = np.asarray(info["affine"], dtype=np.float64)
        if ndim == 3 and info.get("display_perm") is not None:
            array = geometry.undo_display(array, info["display_perm"], info["display_flip"])
    else:
        scale = tuple(attributes.get("scale") or (1.0,) * ndim)[-ndim:]
        translate = tuple(attributes.get("translate") or (0.0,) * ndim)[-ndim:]
        if ndim == 2:
            scale, translate = (1.0, *scale), (0.0, *translate)
        direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)
        origin = (translate[2], translate[1], translate[0])
        affine = geometry.affine_from_parts(origin, scale, direction)
    modality = info.get("modality") or "unknown"
    meta = {k: info[k] for k in ("format", "series_uid") if info.get(k) is not None}
    if info.get("source_path"):
        meta["source_path"] = info["source_path"]
    return Volume(
        array=np.ascontiguousarray(array),
        affine=affine,
        modality=modality,
        unit=info.get("unit") or ("HU" if modality == "CT" else ""),
        meta=meta,
    )
