"""NIfTI-1/2 reading and writing with nibabel, affine preserved exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_dcpt.errors import GeometryError, ReadError
from napari_dcpt.io import geometry
from napari_dcpt.io.memory import check_fits_in_memory
from napari_dcpt.volume import Volume


def read_nifti(path: Path, *, index: int | None = None) -> Volume:
    """Read a ``.nii``/``.nii.gz`` file.

    A 4-D file (e.g. fMRI, DWI) is refused unless ``index`` picks one 3-D volume
    along the fourth axis: restoring a time series as one block would mix volumes.
    A 5-D or higher file, or a vector/RGB file, is refused.
    """
    import nibabel as nib

    try:
        img = nib.load(str(path))
        shape = img.shape
    except Exception as exc:  # nibabel raises many types for a bad header
        raise ReadError(f"not a readable NIfTI file ({type(exc).__name__}: {exc})", path) from exc
    _check_raw_spacing(img, path)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 4:
        if index is None:
            raise ReadError(
                f"4-D image with {shape[3]} volumes; choose one with index 0..{shape[3] - 1}",
                path,
            )
        if not 0 <= index < shape[3]:
            raise ReadError(f"index {index} is outside 0..{shape[3] - 1}", path)
    elif index is not None and index != 0:
        raise ReadError(f"index {index} given but the image is {len(shape)}-D", path)
    if len(shape) not in (2, 3, 4):
        raise ReadError(f"{len(shape)}-D images are not supported", path)
    _check_declared_size(img, shape, path)
    try:
        if len(shape) == 4:
            data = np.asanyarray(img.dataobj[..., index])
        else:
            data = np.asanyarray(img.dataobj).reshape(shape)
    except Exception as exc:  # truncated file, header lying about its size
        raise ReadError(f"cannot read voxel data ({type(exc).__name__}: {exc})", path) from exc
    if data.dtype.fields is not None:
        raise ReadError("RGB/vector NIfTI images are not supported", path)
    scaled = _scaled_integers(img)
    if scaled and img.header.get_data_dtype().itemsize <= 2:
        # nibabel applies scl_slope/inter in float64; up to 16-bit stored integers,
        # float32 holds every scaled value to its 24-bit precision in half the memory
        # (unless a wild slope overflows it: then float64 stays)
        with np.errstate(over="ignore"):
            single = data.astype(np.float32)
        if np.isfinite(single).all() or not np.isfinite(data).all():
            data = single
    # nibabel indexes (i, j, k) = (x, y, z); our arrays are (z, y, x).
    array = np.ascontiguousarray(data.T)
    affine = geometry.affine_from_nifti(img.affine)
    header = img.header
    descrip = bytes(header["descrip"]).split(b"\0")[0].decode("latin-1")
    modality = next(
        (m for m in ("MR", "CT") if f"modality={m}" in descrip), "unknown"
    )  # written by write_nifti; NIfTI has no modality field of its own
    return Volume(
        array=array,
        affine=affine,
        modality=modality,  # type: ignore[arg-type]
        unit="HU" if modality == "CT" else "",
        meta={
            "format": "nifti",
            "path": str(path),
            "nifti_header": header.copy(),
            "nifti_scaled_integers": scaled,
        },
    )


def _check_raw_spacing(img: object, path: Path) -> None:
    """Refuse a zero or negative pixdim where the affine is built from it (no sform).

    nibabel silently "fixes" a zero pixdim to 1 mm when it loads a header, which would
    invent a geometry; the header is re-read unfixed to see what the file says.
    """
    from nibabel.openers import ImageOpener

    header = img.header  # type: ignore[attr-defined]
    if int(header["sform_code"]) > 0:
        return  # the sform carries the geometry; pixdim is not used
    with ImageOpener(str(path)) as fh:
        raw = type(header).from_fileobj(fh, check=False)
    ndim = min(int(raw["dim"][0]), 3)
    pixdim = [float(v) for v in raw["pixdim"][1 : ndim + 1]]
    if any(not np.isfinite(v) or v <= 0 for v in pixdim):
        raise GeometryError(f"voxel spacing (pixdim) {tuple(pixdim)} is zero or negative", path)


def _check_declared_size(img: object, shape: tuple[int, ...], path: Path) -> None:
    """Refuse a header whose voxel data the file cannot hold or memory cannot take.

    Checked from the header alone, before reading: nibabel would otherwise allocate
    what the header claims (a lying header can ask for terabytes) or fail late.
    """
    header = img.header  # type: ignore[attr-defined]
    if any(int(n) <= 0 for n in shape):
        raise ReadError(f"header declares an empty or negative image size {shape}", path)
    itemsize = int(header.get_data_dtype().itemsize)
    n_total = int(np.prod([int(n) for n in shape], dtype=object))
    declared = n_total * itemsize
    if not str(path).lower().endswith(".gz"):
        # Uncompressed: the file size bounds the data (a .gz is checked while decoding).
        offset = int(header.get_data_offset())
        size = Path(path).stat().st_size
        if offset + declared > size:
            raise ReadError(
                f"header declares {declared} bytes of voxel data but the file holds "
                f"{max(size - offset, 0)} (truncated, or the header lies about its size)",
                path,
            )
    n_read = n_total // int(shape[3]) if len(shape) == 4 else n_total  # one 3-D volume
    check_fits_in_memory(n_read * (8 if _scaled_integers(img) else itemsize), path)


def _scaled_integers(img: object) -> bool:
    """True when the file stores integers with a scl_slope/inter other than 1/0
    (dcm2niix writes Philips MR this way). nibabel moves the scaling from the loaded
    header (set to nan there) to the image's data proxy, so it is read from that."""
    proxy = img.dataobj  # type: ignore[attr-defined]
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    stored = img.header.get_data_dtype()  # type: ignore[attr-defined]
    return stored.kind in "iu" and (float(slope) != 1.0 or float(inter) != 0.0)


def write_nifti(volume: Volume, path: Path) -> None:
    """Write a Volume as NIfTI-1 (``.nii`` or ``.nii.gz`` from the name) to ``path``.

    sform and qform both carry the affine (code 1, scanner); a source NIfTI header
    (intent, description, units) is reused when the volume came from NIfTI. A source
    that stored scaled 16- or 32-bit integers is written in its own integer type again,
    with a scl_slope/inter that nibabel fits to the new values (at most half a step
    off), not as the float the scaling produced in memory (twice the size on disk for
    16-bit storage); scaled 8-bit storage is written as float32, since 256 levels
    would undo the restoration.
    """
    import nibabel as nib

    data = volume.array.T  # (z, y, x) -> (i, j, k)
    nifti_aff = geometry.affine_to_nifti(volume.affine)
    header = volume.meta.get("nifti_header")
    hdr = header.copy() if isinstance(header, nib.Nifti1Header) else None
    img = nib.Nifti1Image(np.asarray(data), nifti_aff, header=hdr)
    rescale = (  # 8-bit storage would leave 256 levels for the restored range: float32
        hdr is not None
        and bool(volume.meta.get("nifti_scaled_integers"))
        and hdr.get_data_dtype().itemsize >= 2
        and volume.array.dtype.kind == "f"
    )
    if rescale:
        img.set_data_dtype(hdr.get_data_dtype())  # type: ignore[union-attr]
        img.header.set_slope_inter(np.nan, np.nan)  # nan: nibabel computes them on save
    else:
        img.set_data_dtype(volume.array.dtype)
        img.header.set_slope_inter(1.0, 0.0) if hdr is not None else None
    img.set_sform(nifti_aff, code=1)
    img.set_qform(nifti_aff, code=1)
    img.header.set_xyzt_units("mm")
    if volume.modality in ("MR", "CT"):
        img.header["descrip"] = f"napari-dcpt modality={volume.modality}".encode()
    nib.save(img, str(path))
