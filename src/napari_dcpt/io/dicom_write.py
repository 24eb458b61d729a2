"""Writing a derived DICOM series (one file per slice) from a `Volume` read from DICOM.

The source headers are carried over slice by slice; identity (new series and
instance UIDs), ImageType, descriptions, the series/content/creation dates (when the
series is written; none when anonymizing), SoftwareVersions (this package added), geometry (from the
volume's affine through `napari_dcpt.io.geometry`) and the pixel encoding (16-bit,
with a rescale chosen so that the restored values fit without clipping) are rewritten. The folder appears
atomically (`napari_dcpt.io.atomic`): a failure leaves nothing behind.
"""

from __future__ import annotations

import copy
import datetime
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from napari_dcpt import __version__
from napari_dcpt.errors import WriteError
from napari_dcpt.io.atomic import atomic_path, check_output
from napari_dcpt.io.deidentify import deidentify
from napari_dcpt.io.dicom import quiet_pydicom
from napari_dcpt.io.geometry import dicom_orientation, dicom_position
from napari_dcpt.volume import Volume

__all__ = ["write_dicom_series"]

DEFAULT_DERIVATION = "Restored with napari-dcpt (DCPT all-in-one restoration network)"

# Elements that describe the old pixel data or the old multi-frame layout, and so
# would be wrong once the pixels are re-encoded.
_DROP = (
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "ModalityLUTSequence",  # would override the new RescaleSlope/Intercept
    "VOILUTSequence",  # indexed by the old stored values
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "IconImageSequence",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "PlanarConfiguration",
    "SourceImageSequence",  # replaced by a reference to the source slice
)
# Enhanced (multi-frame) storage classes become their single-frame counterparts.
_SINGLE_FRAME_CLASS = {
    "1.2.840.10008.5.1.4.1.1.2.1": CTImageStorage,  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1": MRImageStorage,  # Enhanced MR
}
# Classes whose instances are single 2-D images; any other source class (RT dose,
# segmentation, NM, US multi-frame...) is written as Secondary Capture.
_SINGLE_FRAME_CLASSES = {
    CTImageStorage,
    MRImageStorage,
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # MG for presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
    "1.2.840.10008.5.1.4.1.1.128",  # PET
}


def _ds(value: float) -> str:
    """A DS string (at most 16 characters) for ``value``."""
    return format_number_as_ds(float(value))


def _encoding(array: np.ndarray) -> tuple[np.dtype, float, float]:
    """Stored dtype, slope and intercept that hold ``array`` without clipping.

    Integer-valued data that fits int16 (or uint16) is stored as is (slope 1, exact);
    anything else is mapped linearly onto the full int16 range, so the round-trip
    error is at most half a step, ``slope / 2``.
    """
    values = np.asarray(array)
    if not np.all(np.isfinite(values)):
        raise WriteError("the volume holds NaN or infinite values; DICOM cannot store them")
    lo, hi = float(values.min()), float(values.max())
    integral = np.issubdtype(values.dtype, np.integer) or bool(np.all(np.mod(values, 1) == 0))
    if integral and lo >= -32768 and hi <= 32767:
        return np.dtype("<i2"), 1.0, 0.0
    if integral and lo >= 0 and hi <= 65535:
        return np.dtype("<u2"), 1.0, 0.0
    # Linear map onto int16, with one spare step each side so that the rounding of
    # slope/intercept to 16-character DS strings can never push a value out of range.
    slope = float(_ds(max(hi - lo, 1e-12) / 65533.0))
    if slope <= 0:
        slope = float(_ds(1e-12))
    intercept = float(_ds(lo + 32767.0 * slope))
    return np.dtype("<i2"), slope, intercept


def _check_not_over_inputs(out: Path, inputs: list[Path]) -> None:
    """Refuse an output folder that is, holds, or sits inside a source folder."""
    out_r = out.resolve()
    for folder in {p.resolve().parent for p in inputs}:
        if out_r == folder or folder in out_r.parents or out_r in folder.parents:
            raise WriteError("refusing to write into or over a DICOM input folder", out)


def write_dicom_series(
    volume: Volume,
    folder: str | os.PathLike[str],
    *,
    description_suffix: str = " (DCPT restored)",
    derivation: str = DEFAULT_DERIVATION,
    overwrite: bool = False,
    anonymize: bool = False,
) -> list[Path]:
    """Write ``volume`` as a derived DICOM series, one uncompressed file per slice.

    Parameters
    ----------
    volume
        A volume read from DICOM (``meta["dicom_headers"]`` holds one header per
        slice), typically restored; values in the source units (HU for CT).
    folder
        Output folder; it must not exist (unless ``overwrite``) and must not be,
        contain or lie inside a folder the source series was read from.
    description_suffix
        Appended to SeriesDescription (truncated to 64 characters).
    derivation
        DerivationDescription: what was done to the images.
    overwrite
        Replace an existing output folder (atomically).
    anonymize
        De-identify by the DICOM Basic Application Level Confidentiality Profile
        (PS3.15 Annex E, `napari_dcpt.io.deidentify`): patient, study and staff
        identifiers, dates and free text removed or emptied, Study/Frame of Reference
        UIDs replaced consistently across the series, PatientIdentityRemoved YES.
        Without it the source's patient and study modules are kept, because a derived
        series must belong to the same patient and study as its source.

    Returns
    -------
    list of Path
        The files written, in slice order.

    Raises
    ------
    WriteError
        No DICOM source, shape mismatch, non-finite values, existing or input
        folder, or an I/O failure (nothing is left behind).
    """
    out = Path(folder).expanduser()
    headers = volume.meta.get("dicom_headers")
    if not headers:
        raise WriteError(
            "a DICOM output needs a DICOM source (the volume has no DICOM headers); "
            "save as NIfTI instead",
            out,
        )
    array = volume.array if volume.ndim == 3 else volume.array[np.newaxis]
    if len(headers) != array.shape[0]:
        raise WriteError(
            f"the volume has {array.shape[0]} slices but its source had {len(headers)}", out
        )
    if volume.meta.get("files"):
        _check_not_over_inputs(out, [Path(p) for p in volume.meta["files"]])
    out = check_output(out, overwrite=overwrite)
    if out.exists() and not out.is_dir():
        raise WriteError("output exists and is not a folder", out)

    try:
        dtype, slope, intercept = _encoding(array)
    except WriteError as exc:
        raise WriteError(exc.reason, out) from exc
    series_uid = generate_uid()
    # One moment for the whole series; a de-identified series keeps no dates at all
    # (the Basic Profile removes them, and "when it was processed" would be one).
    created = None if anonymize else datetime.datetime.now()
    orientation = dicom_orientation(volume.affine)
    spacing = np.linalg.norm(volume.affine[:3, :3], axis=0)  # (z, y, x) in mm
    width = max(4, len(str(len(headers))))
    names = [f"IM{k + 1:0{width}d}.dcm" for k in range(len(headers))]
    uid_map: dict[str, str] | None = {} if anonymize else None  # one map for the series

    with atomic_path(out) as tmp, quiet_pydicom():
        tmp.mkdir()
        for k, header in enumerate(headers):
            ds = _derived_slice(
                header,
                array[k],
                dtype=dtype,
                slope=slope,
                intercept=intercept,
                series_uid=series_uid,
                instance=k + 1,
                position=dicom_position(volume.affine, k)[:3],
                orientation=orientation,
                spacing=spacing,
                is_3d=volume.ndim == 3,
                modality=volume.modality,
                description_suffix=description_suffix,
                derivation=derivation,
                uid_map=uid_map,
                created=created,
            )
            try:
                ds.save_as(tmp / names[k], enforce_file_format=True)
            except OSError:
                raise  # atomic_path turns it into a WriteError naming the output
            except Exception as exc:  # an invalid carried-over value (its text may be PHI)
                raise WriteError(
                    f"could not encode slice {k + 1} ({type(exc).__name__})", out
                ) from exc
    return [out / n for n in names]


def _derived_slice(
    header: Dataset,
    plane: np.ndarray,
    *,
    dtype: np.dtype,
    slope: float,
    intercept: float,
    series_uid: str,
    instance: int,
    position: np.ndarray,
    orientation: list[float],
    spacing: np.ndarray,
    is_3d: bool,
    modality: str,
    description_suffix: str,
    derivation: str,
    uid_map: dict[str, str] | None = None,
    created: datetime.datetime | None = None,
) -> Dataset:
    """One derived single-frame dataset: source header + new identity, geometry, pixels.

    ``created`` (local time) becomes the series', content's and instance's date and
    time: PS3.3 C.7.6.1 dates the content to when its pixels were made, and the
    source's acquisition dates stay as they were.
    """
    # A fresh Dataset (not a copy of the FileDataset) so that it is encoded by the new
    # transfer syntax only: pydicom refuses to re-encode a big-endian source in place.
    ds = Dataset()
    for elem in header:  # iterating decodes raw elements in the source's encoding
        ds.add(copy.deepcopy(elem))
    # Private elements may describe the old pixels in vendor-specific ways and often
    # lose their VR on re-encoding; a derived series does not need them.
    ds.remove_private_tags()
    for keyword in _DROP:
        if keyword in ds:
            delattr(ds, keyword)
    for tag in [t for t in ds.keys() if 0x6000 <= t.group <= 0x60FF and t.group % 2 == 0]:
        del ds[tag]  # overlays belong to the source image

    source_sop_class = str(ds.get("SOPClassUID", ""))
    source_sop_instance = str(ds.get("SOPInstanceUID", ""))
    if uid_map is not None:  # anonymize: the Basic Profile, references mapped alike
        deidentify(ds, uid_map)
        if source_sop_instance:
            source_sop_instance = uid_map.setdefault(source_sop_instance, generate_uid())
    sop_class = _SINGLE_FRAME_CLASS.get(source_sop_class, source_sop_class)
    if sop_class not in _SINGLE_FRAME_CLASSES:
        sop_class = SecondaryCaptureImageStorage
        if "ConversionType" not in ds:
            ds.ConversionType = "WSD"  # workstation: a derived, computed image
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance
    old_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in old_type[2:]]]
    ds.SeriesDescription = (str(ds.get("SeriesDescription", "") or "") + description_suffix)[:64]
    ds.DerivationDescription = derivation[:1024]
    # General Equipment: the scanner's software versions stay, this one is added
    versions = ds.get("SoftwareVersions") or []
    versions = [str(v) for v in (versions if isinstance(versions, MultiValue) else [versions])]
    ours = f"napari-dcpt {__version__}"
    ds.SoftwareVersions = versions if ours in versions else [*versions, ours]
    if created is not None:
        day, clock = created.strftime("%Y%m%d"), created.strftime("%H%M%S")
        for what in ("Series", "Content", "InstanceCreation"):
            setattr(ds, f"{what}Date", day)
            setattr(ds, f"{what}Time", clock)
    if source_sop_instance and source_sop_class:
        ref = Dataset()
        ref.ReferencedSOPClassUID = source_sop_class
        ref.ReferencedSOPInstanceUID = source_sop_instance
        ds.SourceImageSequence = [ref]

    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in orientation]
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[2])]
    if is_3d:
        ds.SliceThickness = _ds(spacing[0])
        ds.SpacingBetweenSlices = _ds(spacing[0])

    stored = np.rint((np.asarray(plane, dtype=np.float64) - intercept) / slope)
    info = np.iinfo(dtype)
    stored = np.clip(stored, info.min, info.max).astype(dtype)  # no-op by construction
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel = 1
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    ds.PhotometricInterpretation = photometric if photometric == "MONOCHROME1" else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if dtype.kind == "i" else 0
    ds.RescaleSlope = _ds(slope)
    ds.RescaleIntercept = _ds(intercept)
    if modality == "CT":
        ds.RescaleType = "HU"
    elif "RescaleType" not in ds:
        ds.RescaleType = "US"  # unspecified units (MR)
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OW"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds
