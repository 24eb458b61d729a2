"""`Volume`: the one type that crosses module boundaries (voxels + geometry + units).

Geometry convention (see `napari_dcpt.io.geometry`, the only module that converts it):
`affine` is a 4x4 matrix mapping an index in *array axis order* ``(z, y, x)`` to
patient coordinates in millimetres in DICOM/ITK **LPS** space. A 2-D image is a
single slice: its array is ``(y, x)`` and index ``(0, y, x)`` goes through the affine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

Modality = Literal["MR", "CT", "unknown"]


@dataclass(eq=False)
class Volume:
    """A 2-D image or 3-D volume with its geometry, modality and units.

    Parameters
    ----------
    array
        Voxels, shape ``(z, y, x)`` or ``(y, x)``; any numeric dtype. For CT the
        values are Hounsfield units (rescale already applied).
    affine
        4x4 float64 matrix, array index ``(z, y, x)`` -> LPS position in mm.
    modality
        ``"MR"``, ``"CT"`` or ``"unknown"``.
    unit
        Intensity unit: ``"HU"`` for CT, ``""`` (arbitrary) for MR.
    meta
        Source information needed to write a faithful derived file: ``format``,
        ``path``, ``series_uid``, ``series_description``, ``dicom_headers`` (the
        per-slice pydicom datasets without pixel data), ``spacing_deviation_mm``.
        Never shown to users verbatim (it may contain patient data).
    """

    array: np.ndarray
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    modality: Modality = "unknown"
    unit: str = ""
    meta: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold patient data

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")
        if self.array.ndim not in (2, 3):
            raise ValueError(f"a Volume is 2-D or 3-D, got an array of shape {self.array.shape}")

    # -- geometry, derived from the affine (never stored twice) -----------------
    @property
    def ndim(self) -> int:
        """Number of array axes (2 or 3)."""
        return self.array.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape, ``(z, y, x)`` or ``(y, x)``."""
        return tuple(self.array.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        """Voxel size in mm along each array axis (same length as ``shape``)."""
        full = np.linalg.norm(self.affine[:3, :3], axis=0)
        return tuple(float(s) for s in full[3 - self.ndim :])

    @property
    def origin(self) -> tuple[float, float, float]:
        """LPS position (mm) of the centre of voxel ``(0, 0, 0)``."""
        return tuple(float(v) for v in self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction(self) -> np.ndarray:
        """3x3 matrix whose columns are the LPS unit vectors of array axes z, y, x."""
        lin = self.affine[:3, :3]
        return lin / np.linalg.norm(lin, axis=0)

    def with_array(self, array: np.ndarray, **changes: Any) -> Volume:
        """A copy with new voxels (same shape) and the same geometry and metadata."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from {self.array.shape}")
        changes.setdefault("meta", dict(self.meta))
        return replace(self, array=array, **changes)

    def describe(self) -> str:
        """One human-readable line: shape, spacing, modality (no patient data)."""
        sp = " x ".join(f"{s:.3g}" for s in self.spacing)
        shp = " x ".join(str(s) for s in self.shape)
        return f"{self.modality} {shp} voxels, {sp} mm, {self.array.dtype}"
