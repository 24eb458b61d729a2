"""napari reader: NIfTI, NRRD, MHA/MHD, DICOM files and folders (one layer per series)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from napari_dcpt.errors import DcptError
from napari_dcpt.io import detect_format, is_dicom_file


def _folder_has_dicom(folder: Path, limit: int = 2000) -> bool:
    """Cheap look for a DICOM file (DICM marker or .dcm name) in a folder tree."""
    seen = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            seen += 1
            p = Path(dirpath) / name
            if name.lower().endswith((".dcm", ".ima")) or is_dicom_file(p):
                return True
            if seen >= limit:
                return False
    return False


def get_reader(path: str | list[str]) -> Callable | None:
    """Return a reader function for a supported path, or None; never raises."""
    try:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        for p in map(Path, paths):
            if p.is_dir():
                if not _folder_has_dicom(p):
                    return None
            elif detect_format(p) is None:
                return None
        return read_layers
    except Exception:  # noqa: BLE001 -- napari asks every reader; ours must not crash
        return None


def read_layers(path: str | list[str]) -> list[tuple]:
    """Read each path into napari layer data; errors become one-line notifications."""
    from napari.utils.notifications import show_error, show_warning

    from napari_dcpt import io
    from napari_dcpt.plugin._layers import volume_to_layer_data

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[tuple] = []
    for p in map(Path, paths):
        try:
            if detect_format(p) == "dicom":
                series = io.list_series(p)
                uids = [s.uid for s in series] if len(series) > 1 else [None]
            else:
                uids = [None]
            for uid in uids:
                vol = io.read(p, series_uid=uid)
                layers.append(volume_to_layer_data(vol))
                dev = vol.meta.get("spacing_deviation_mm")
                if dev:
                    show_warning(
                        f"{p.name}: non-uniform slice spacing (largest deviation {dev:.3g} mm)"
                    )
        except DcptError as exc:
            show_error(str(exc))
    return layers or [(None,)]
