"""The one module that converts geometry: affines between NIfTI, ITK, DICOM and napari.

Internal convention (see `napari_dcpt.volume`): a 4x4 affine maps an index in array
axis order ``(z, y, x)`` to **LPS** patient coordinates in mm. NIfTI is RAS and
indexes ``(i, j, k)`` = ``(x, y, z)``; ITK is LPS and indexes ``(x, y, z)``; DICOM
gives ImageOrientationPatient (row then column direction), ImagePositionPatient and
PixelSpacing (row spacing, column spacing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Reverse the three index axes: (x, y, z) <-> (z, y, x).
_REVERSE = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def affine_from_parts(
    origin: Sequence[float], spacing: Sequence[float], direction: np.ndarray
) -> np.ndarray:
    """Build an array-order affine.

    Parameters
    ----------
    origin
        LPS position (mm) of voxel ``(0, 0, 0)``.
    spacing
        Voxel size (mm) along array axes ``(z, y, x)``.
    direction
        3x3 matrix; column ``a`` is the LPS unit vector of array axis ``a``.
    """
    aff = np.eye(4)
    aff[:3, :3] = np.asarray(direction, dtype=np.float64) * np.asarray(spacing, dtype=np.float64)
    aff[:3, 3] = origin
    return aff


def affine_from_nifti(nifti_affine: np.ndarray) -> np.ndarray:
    """NIfTI (RAS, ``(i, j, k)``) affine -> array-order LPS affine.

    The voxel array must be transposed from ``(i, j, k)`` to ``(k, j, i)`` alongside.
    """
    return _RAS_TO_LPS @ np.asarray(nifti_affine, dtype=np.float64) @ _REVERSE


def affine_to_nifti(affine: np.ndarray) -> np.ndarray:
    """Inverse of `affine_from_nifti`."""
    return _RAS_TO_LPS @ np.asarray(affine, dtype=np.float64) @ _REVERSE


def affine_from_itk(
    origin: Sequence[float], spacing: Sequence[float], direction: Sequence[float]
) -> np.ndarray:
    """SimpleITK ``GetOrigin/GetSpacing/GetDirection`` (x-first) -> array-order affine.

    2-D ITK images (2-element origin and spacing, 4-element direction) become a
    single slice in the z=0 plane with 1 mm notional slice thickness.
    """
    n = len(spacing)
    d = np.asarray(direction, dtype=np.float64).reshape(n, n)
    itk_aff = np.eye(4)
    itk_aff[:n, :n] = d * np.asarray(spacing, dtype=np.float64)
    itk_aff[:n, 3] = origin
    if n == 2:  # embed: index (x, y, 0)
        itk_aff[2, 2] = 1.0
    return itk_aff @ _REVERSE


def affine_to_itk(affine: np.ndarray, ndim: int = 3) -> tuple[tuple, tuple, tuple]:
    """Array-order affine -> SimpleITK ``(origin, spacing, direction)`` (x-first)."""
    itk_aff = np.asarray(affine, dtype=np.float64) @ _REVERSE
    lin = itk_aff[:ndim, :ndim]
    spacing = np.linalg.norm(lin, axis=0)
    direction = lin / spacing
    origin = itk_aff[:ndim, 3]
    return tuple(origin.tolist()), tuple(spacing.tolist()), tuple(direction.ravel().tolist())


def slice_normal(image_orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of a DICOM slice: row direction x column direction."""
    iop = np.asarray(image_orientation, dtype=np.float64)
    row, col = iop[:3], iop[3:]
    n = np.cross(row, col)
    return n / np.linalg.norm(n)


def affine_from_dicom(
    image_orientation: Sequence[float],
    first_position: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_step: Sequence[float] | None = None,
) -> np.ndarray:
    """DICOM slice geometry -> array-order affine.

    Parameters
    ----------
    image_orientation
        ImageOrientationPatient: direction cosines of the rows (x index increases)
        then of the columns (y index increases).
    first_position
        ImagePositionPatient (mm) of the first slice after sorting.
    pixel_spacing
        PixelSpacing: spacing between rows (y) then between columns (x), in mm.
    slice_step
        LPS vector (mm) from one slice to the next; defaults to the slice normal
        times 1 mm for a single slice.
    """
    iop = np.asarray(image_orientation, dtype=np.float64)
    row, col = iop[:3], iop[3:]
    dy, dx = (float(v) for v in pixel_spacing)
    step = slice_normal(iop) if slice_step is None else np.asarray(slice_step, dtype=np.float64)
    aff = np.eye(4)
    aff[:3, 0] = step
    aff[:3, 1] = col * dy
    aff[:3, 2] = row * dx
    aff[:3, 3] = first_position
    return aff


def dicom_position(affine: np.ndarray, z_index: int) -> np.ndarray:
    """ImagePositionPatient (mm) of slice ``z_index`` of an array-order affine."""
    return (np.asarray(affine, dtype=np.float64) @ np.array([z_index, 0.0, 0.0, 1.0]))[:3]


def dicom_orientation(affine: np.ndarray) -> list[float]:
    """ImageOrientationPatient (row cosines, then column cosines) of an affine."""
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    row = lin[:, 2] / np.linalg.norm(lin[:, 2])
    col = lin[:, 1] / np.linalg.norm(lin[:, 1])
    return [*row.tolist(), *col.tolist()]


# -- napari display ----------------------------------------------------------------
def display_transform(affine: np.ndarray) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Axis permutation and flips that make an array closest to axis-aligned LPS.

    napari cannot slice rotated layers, so an oblique or non-axial volume is shown
    reoriented: after ``np.flip(np.transpose(a, perm), axes=flips)`` array axis 0
    runs along +S (z), axis 1 along +P (y) and axis 2 along +L (x), i.e. axial slices
    in radiological view. The true affine stays in the layer metadata.

    Returns
    -------
    perm, flip
        ``perm[a]`` is the source axis shown as display axis ``a``; ``flip[a]`` says
        whether display axis ``a`` is reversed.
    """
    d = np.abs(np.asarray(affine, dtype=np.float64)[:3, :3])
    d = d / np.linalg.norm(d, axis=0)
    # world axis for display axis a: 0 -> z (S), 1 -> y (P), 2 -> x (L)
    world_of_display = (2, 1, 0)
    perm: list[int] = []
    free = [0, 1, 2]
    for a in range(3):
        w = world_of_display[a]
        best = max(free, key=lambda src: d[w, src])
        perm.append(best)
        free.remove(best)
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    flip = tuple(bool(lin[world_of_display[a], perm[a]] < 0) for a in range(3))
    return tuple(perm), flip


def apply_display(array: np.ndarray, perm: Sequence[int], flip: Sequence[bool]) -> np.ndarray:
    """Reorient an array for display (see `display_transform`)."""
    out = np.transpose(array, perm)
    axes = tuple(a for a, f in enumerate(flip) if f)
    return np.flip(out, axis=axes) if axes else out


def undo_display(array: np.ndarray, perm: Sequence[int], flip: Sequence[bool]) -> np.ndarray:
    """Inverse of `apply_display`."""
    axes = tuple(a for a, f in enumerate(flip) if f)
    out = np.flip(array, axis=axes) if axes else array
    return np.transpose(out, np.argsort(perm))


def display_affine(
    affine: np.ndarray, shape: Sequence[int], perm: Sequence[int], flip: Sequence[bool]
) -> np.ndarray:
    """Affine of the reoriented array (same world positions, new index order)."""
    aff = np.asarray(affine, dtype=np.float64)
    out = np.eye(4)
    origin = aff[:3, 3].copy()
    for a, (src, f) in enumerate(zip(perm, flip)):
        col = aff[:3, src]
        if f:
            origin = origin + col * (shape[src] - 1)
            col = -col
        out[:3, a] = col
    out[:3, 3] = origin
    return out


def napari_scale_translate(
    affine: np.ndarray, shape: Sequence[int]
) -> tuple[tuple[int, ...], tuple[bool, ...], tuple[float, ...], tuple[float, ...]]:
    """Display transform plus napari ``scale`` and ``translate`` (mm, display order).

    ``translate`` is the (z=S, y=P, x=L) LPS position of the displayed first voxel,
    so layers from different series of one study overlay where they should.
    """
    perm, flip = display_transform(affine)
    daff = display_affine(affine, shape, perm, flip)
    scale = tuple(float(s) for s in np.linalg.norm(daff[:3, :3], axis=0))
    o = daff[:3, 3]
    translate = (float(o[2]), float(o[1]), float(o[0]))
    return perm, flip, scale, translate
