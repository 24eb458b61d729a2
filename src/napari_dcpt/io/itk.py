"""NRRD and MetaImage (``.mha``/``.mhd``) reading and writing with SimpleITK."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_dcpt.errors import GeometryError, ReadError
from napari_dcpt.io import geometry
from napari_dcpt.io.memory import check_fits_in_memory
from napari_dcpt.volume import Volume


def read_itk(path: Path, *, index: int | None = None) -> Volume:
    """Read a NRRD/MHA/MHD file; 4-D files need ``index`` (as for NIfTI)."""
    import SimpleITK as sitk

    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        dim = reader.GetDimension()
        ncomp = reader.GetNumberOfComponents()
        size = reader.GetSize()
    except RuntimeError as exc:
        raise ReadError(f"not a readable image ({_first_line(exc)})", path) from exc
    if ncomp != 1:
        raise ReadError(f"vector/RGB images ({ncomp} components) are not supported", path)
    if dim == 4:
        if size[3] == 1:
            index = 0
        if index is None:
            raise ReadError(
                f"4-D image with {size[3]} volumes; choose one with index 0..{size[3] - 1}", path
            )
        if not 0 <= index < size[3]:
            raise ReadError(f"index {index} is outside 0..{size[3] - 1}", path)
        reader.SetExtractIndex([0, 0, 0, index])
        reader.SetExtractSize([size[0], size[1], size[2], 0])
    elif dim not in (2, 3):
        raise ReadError(f"{dim}-D images are not supported", path)
    # Refuse before reading what the header claims if memory cannot hold it.
    item = sitk.Image([1] * 2, reader.GetPixelID()).GetSizeOfPixelComponent()
    check_fits_in_memory(int(np.prod([int(n) for n in size[:3]], dtype=object)) * item, path)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ReadError(f"cannot read voxel data ({_first_line(exc)})", path) from exc
    array = sitk.GetArrayFromImage(img)
    if any(s <= 0 for s in img.GetSpacing()):
        raise GeometryError(f"non-positive spacing {img.GetSpacing()}", path)
    affine = geometry.affine_from_itk(img.GetOrigin(), img.GetSpacing(), img.GetDirection())
    meta_keys = {k: img.GetMetaData(k) for k in img.GetMetaDataKeys()}
    return Volume(
        array=np.ascontiguousarray(array),
        affine=affine,
        meta={"format": "itk", "path": str(path), "itk_metadata": meta_keys},
    )


def write_itk(volume: Volume, path: Path) -> None:
    """Write a Volume as NRRD/MHA/MHD (format from the file name), compressed."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    origin, spacing, direction = geometry.affine_to_itk(volume.affine, volume.ndim)
    lin = np.asarray(direction).reshape(volume.ndim, volume.ndim)
    if not np.allclose(lin @ lin.T, np.eye(volume.ndim), atol=1e-5):
        raise GeometryError("sheared affines cannot be stored in NRRD/MHA; use NIfTI", path)
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    sitk.WriteImage(img, str(path), useCompression=True)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # ITK messages start with the source location; the useful text is the last line.
    return lines[-1] if lines else type(exc).__name__
