"""Test helper: write small synthetic single-frame DICOM series from scratch with pydicom.

Geometry is converted here by hand, independently of `napari_dcpt.io.geometry`, so
that the reader is checked against a second implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_series(
    folder: Path,
    stored: np.ndarray,
    affine: np.ndarray,
    *,
    modality: str = "MR",
    slopes: Sequence[float] | None = None,
    intercepts: Sequence[float] | None = None,
    positions: Sequence[Sequence[float]] | None = None,
    orientations: Sequence[Sequence[float]] | None = None,
    series_uid: str | None = None,
    description: str = "phantom",
    names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
) -> list[Path]:
    """Write ``stored`` (``(z, y, x)`` int16 stored values) as one file per slice.

    ``affine`` maps array index ``(z, y, x)`` to LPS mm; ``positions`` /
    ``orientations`` override the per-slice ImagePositionPatient / ImageOrientation-
    Patient it implies (for non-uniform or mixed-orientation series).
    """
    folder.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = stored.shape
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    row = lin[:, 2] / np.linalg.norm(lin[:, 2])
    col = lin[:, 1] / np.linalg.norm(lin[:, 1])
    dz, dy, dx = np.linalg.norm(lin, axis=0)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    frame_uid = generate_uid()
    paths = []
    for k in range(nz):
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = modality
        ds.PatientName = "Phantom^Secret"
        ds.PatientID = "SECRET-ID-42"
        ds.SeriesDescription = description
        ds.SeriesNumber = 3
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = int(instance_numbers[k]) if instance_numbers else k + 1
        pos = positions[k] if positions is not None else affine[:3, 3] + k * lin[:, 0]
        iop = orientations[k] if orientations is not None else [*row, *col]
        ds.ImagePositionPatient = [f"{v:.10g}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in iop]
        ds.PixelSpacing = [f"{dy:.10g}", f"{dx:.10g}"]
        ds.SliceThickness = f"{dz:.10g}"
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        if slopes is not None or intercepts is not None or modality == "CT":
            ds.RescaleSlope = f"{(slopes[k] if slopes is not None else 1):.10g}"
            ds.RescaleIntercept = f"{(intercepts[k] if intercepts is not None else 0):.10g}"
            if modality == "CT":
                ds.RescaleType = "HU"
        ds.PixelData = np.ascontiguousarray(stored[k], dtype="<i2").tobytes()
        ds["PixelData"].VR = "OW"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.preamble = b"\x00" * 128
        path = folder / (names[k] if names else f"slice{k:03d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
