"""napari writers: an image layer to NIfTI, or to a derived DICOM series folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_dcpt.errors import WriteError


def write_nifti(path: str, data: Any, meta: dict) -> list[str]:
    """Write one image layer as NIfTI with its true (un-reoriented) geometry."""
    from napari_dcpt import io
    from napari_dcpt.plugin._layers import layer_to_volume

    vol = layer_to_volume(data, meta)
    return [str(io.write(vol, path, overwrite=True))]


def write_dicom(path: str, data: Any, meta: dict) -> list[str]:
    """Write one image layer as a derived DICOM series (needs a DICOM source layer).

    The source headers are read again from the source series (they are not kept in
    layer metadata, which must hold no patient data).
    """
    from napari_dcpt import io
    from napari_dcpt.io import IMAGE_SUFFIXES
    from napari_dcpt.plugin._layers import layer_to_volume

    out = Path(path)
    if out.name.lower().endswith(IMAGE_SUFFIXES):
        raise WriteError(
            "a DICOM series is written to a folder; give a name without an image extension", out
        )
    vol = layer_to_volume(data, meta)
    src = vol.meta.get("source_path")
    if vol.meta.get("format") != "dicom" or not src:
        raise WriteError("a derived DICOM series needs a layer that was opened from DICOM", out)
    source = io.read(src, series_uid=vol.meta.get("series_uid"))
    derived = source.with_array(vol.array.astype("float32"))
    return [str(io.write(derived, out, overwrite=True))]
