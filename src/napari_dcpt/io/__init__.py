"""Reading and writing medical images: NIfTI, NRRD/MHA and DICOM series -> `Volume`.

One entry point each way: `read` (any supported file or DICOM folder) and `write`
(format from the output name; a name without an image extension is a folder for a
derived DICOM series). Errors are `ReadError`/`WriteError` with one line that names
the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_dcpt.errors import DcptError, OutOfScopeError, ReadError, WriteError
from napari_dcpt.io.atomic import atomic_path, check_output
from napari_dcpt.volume import Volume

__all__ = [
    "IMAGE_SUFFIXES",
    "InputItem",
    "check_format",
    "check_in_scope",
    "detect_format",
    "discover",
    "guess_modality",
    "is_dicom_file",
    "list_series",
    "other_modality",
    "read",
    "write",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES
# Output names that mean a file of a format this package does not write; anything else
# without a known suffix names a DICOM series folder (UID-named folders have dots too).
_FILE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".npy", ".npz", ".mat",
    ".h5", ".hdf5", ".zip", ".gz", ".tar", ".json", ".csv", ".txt", ".mgz", ".img", ".hdr",
)  # fmt: skip


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in IMAGE_SUFFIXES + (".dcm", ".ima"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def is_dicom_file(path: Path) -> bool:
    """Cheap test: the 'DICM' marker at byte 128 (or a ``.dcm`` name)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """``"nifti"``, ``"itk"``, ``"dicom"`` or None for what this package cannot read."""
    p = Path(path)
    if p.is_dir():
        return "dicom"
    sfx = _suffix(p)
    if sfx in NIFTI_SUFFIXES:
        return "nifti"
    if sfx in ITK_SUFFIXES:
        return "itk"
    if sfx in (".dcm", ".ima") or (p.is_file() and is_dicom_file(p)):
        return "dicom"
    return None


def other_modality(meta: dict) -> str:
    """The modality a DICOM header states when it is neither MR nor CT (``""`` else).

    A radiograph (CR/DX), a nuclear-medicine or ultrasound image is not guessed as MR
    from its non-negative intensities: the header knows better, and no shipped model
    was trained on it. ``OT`` ("other", common on secondary captures of MR or CT) says
    nothing, so such a series is still guessed.
    """
    stated = str(meta.get("modality") or "").strip().upper()
    return "" if stated in ("", "MR", "CT", "OT") else stated


def check_in_scope(meta: dict, source: object, hint: str) -> None:
    """Refuse a volume whose DICOM header names a modality no model here restores.

    One message for every front end; ``hint`` says how that front end forces MR or CT.

    Raises
    ------
    OutOfScopeError
        The header names CR, NM, US... (`other_modality`).
    """
    stated = other_modality(meta)
    if stated:
        raise OutOfScopeError(
            f"the DICOM header says modality {stated}, and the models restore MR and CT "
            f"only: {hint}",
            source,
        )


def guess_modality(array: np.ndarray) -> str:
    """Guess CT or MR from intensities when no header says (NIfTI/NRRD).

    CT in HU has air near -1000 and few values below -1100; MR magnitude images are
    non-negative. Anything else stays ``"unknown"``.
    """
    a = np.asarray(array)
    sample = a.ravel()[:: max(1, a.size // 200_000)].astype(np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return "unknown"
    lo = float(np.percentile(sample, 0.5))
    if -1100.0 <= lo <= -800.0 or (lo < -500 and float(np.min(sample)) >= -3100):
        return "CT"
    if lo >= 0.0:
        return "MR"
    return "unknown"


def read(
    path: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    index: int | None = None,
    modality: str | None = None,
) -> Volume:
    """Read a medical image into a `Volume`.

    Parameters
    ----------
    path
        A NIfTI/NRRD/MHA/MHD file, a DICOM file, or a folder (tree) of DICOM files.
    series_uid
        With a DICOM folder holding several series, the SeriesInstanceUID to load.
    index
        For a 4-D file, which 3-D volume along the fourth axis to load.
    modality
        ``"MR"`` or ``"CT"`` to override the header/guess; ``None`` keeps it.

    Raises
    ------
    ReadError
        Missing, empty, corrupt or unsupported input (one line naming the file).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ReadError("no such file or folder", p)
    if p.is_file() and p.stat().st_size == 0:
        raise ReadError("file is empty (0 bytes)", p)
    fmt = detect_format(p)
    try:
        if fmt == "nifti":
            from napari_dcpt.io.nifti import read_nifti

            vol = read_nifti(p, index=index)
        elif fmt == "itk":
            from napari_dcpt.io.itk import read_itk

            vol = read_itk(p, index=index)
        elif fmt == "dicom":
            from napari_dcpt.io.dicom import read_dicom

            vol = read_dicom(p, series_uid=series_uid)
        else:
            raise ReadError("unsupported file type (expected NIfTI, NRRD, MHA/MHD or DICOM)", p)
    except DcptError:
        raise
    except MemoryError as exc:
        raise ReadError("image is too large for the available memory", p) from exc
    except Exception as exc:  # a library failure we did not anticipate: still one line
        raise ReadError(f"cannot read ({type(exc).__name__}: {exc})", p) from exc
    if not np.issubdtype(vol.array.dtype, np.number) or np.iscomplexobj(vol.array):
        raise ReadError(f"unsupported voxel type {vol.array.dtype}", p)
    if vol.array.size == 0:
        raise ReadError("image has no voxels", p)
    if any(s <= 0 or not np.isfinite(s) for s in vol.spacing):
        raise ReadError(f"invalid voxel spacing {vol.spacing}", p)
    if modality is not None:
        vol.modality = modality.upper()  # type: ignore[assignment]
    elif vol.modality == "unknown" and not other_modality(vol.meta):
        vol.modality = guess_modality(vol.array)  # type: ignore[assignment]
        vol.meta["modality_guessed"] = vol.modality != "unknown"
    if vol.modality == "CT" and not vol.unit:
        vol.unit = "HU"
    return vol


def check_format(volume: Volume, path: str | os.PathLike[str]) -> str:
    """The format `write` would use for ``volume`` at ``path``: ``"nifti"``, ``"itk"``
    or ``"dicom"`` (a folder), checked without writing, so that a front end can refuse
    an impossible output before restoring.

    Raises
    ------
    WriteError
        A two-file format (``.mhd``, ``.nhdr``: not atomic), or a DICOM folder for a
        volume that was not read from DICOM (a derived series needs its source's headers).
    """
    out = Path(path)
    sfx = _suffix(out)
    if sfx == ".mhd":
        raise WriteError(
            "write .mha (single file) instead of .mhd: it can be written atomically", out
        )
    if sfx == ".nhdr":
        raise WriteError("write .nrrd (single file) instead of .nhdr", out)
    if sfx in NIFTI_SUFFIXES:
        return "nifti"
    if sfx in ITK_SUFFIXES:
        return "itk"
    if sfx in (".dcm", ".ima"):
        raise WriteError(
            "a derived DICOM series is a folder of files; name a folder (no suffix)", out
        )
    if sfx in _FILE_SUFFIXES:  # would silently become a folder called "x.png"
        raise WriteError(
            f"cannot write {sfx} files: use .nii.gz, .nrrd or .mha, or a folder name "
            "without a suffix for a DICOM series",
            out,
        )
    if not volume.meta.get("dicom_headers"):
        raise WriteError(
            "without a .nii, .nii.gz, .nrrd or .mha suffix the output is a DICOM series "
            "folder, and a DICOM output needs a DICOM source; name a .nii.gz file instead",
            out,
        )
    return "dicom"


def write(
    volume: Volume,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    anonymize: bool = False,
    **dicom_options: object,
) -> Path:
    """Write a `Volume` atomically; the format follows the output name.

    ``.nii``/``.nii.gz`` -> NIfTI, ``.nrrd``/``.mha``/``.mhd`` -> SimpleITK, anything
    else is a folder for a derived DICOM series (the volume must come from DICOM).
    The source file is never overwritten, and an existing output only with
    ``overwrite=True``. Returns the written path.

    ``anonymize=True`` de-identifies a derived DICOM series (PS3.15 Annex E Basic
    Profile, see `napari_dcpt.io.dicom_write.write_dicom_series`); NIfTI/NRRD/MHA
    outputs carry no patient module, only geometry and the modality.
    """
    out = check_output(
        path, overwrite=overwrite, inputs=(volume.meta.get("path"), volume.meta.get("source_path"))
    )
    kind = check_format(volume, out)
    if kind != "dicom":
        with atomic_path(out) as tmp:
            if kind == "nifti":
                from napari_dcpt.io.nifti import write_nifti

                write_nifti(volume, tmp)
            else:
                from napari_dcpt.io.itk import write_itk

                write_itk(volume, tmp)
        return out
    from napari_dcpt.io.dicom_write import write_dicom_series

    write_dicom_series(volume, out, overwrite=overwrite, anonymize=anonymize, **dicom_options)  # type: ignore[arg-type]
    return out


@dataclass(frozen=True)
class InputItem:
    """One readable input found by `discover`: a file, or a DICOM series in a folder."""

    path: Path
    series_uid: str | None = None
    description: str = ""

    @property
    def key(self) -> str:
        """A stable identifier (path, plus series UID for DICOM)."""
        return f"{self.path}#{self.series_uid}" if self.series_uid else str(self.path)


def list_series(path: str | os.PathLike[str]) -> list:
    """The DICOM series under a file or folder (see `napari_dcpt.io.dicom.SeriesInfo`)."""
    from napari_dcpt.io.dicom import list_dicom_series

    return list_dicom_series(Path(path))


def discover(root: str | os.PathLike[str]) -> tuple[list[InputItem], list[tuple[Path, str]]]:
    """Find every image file and DICOM series under a folder tree.

    Returns
    -------
    items, skipped
        Inputs in a deterministic (sorted) order, and ``(path, reason)`` for folders
        whose DICOM files could not be grouped into series. Non-image files are
        ignored silently (reports, spreadsheets).
    """
    rootp = Path(root).expanduser()
    if not rootp.exists():
        raise ReadError("no such file or folder", rootp)
    if rootp.is_file():
        return [InputItem(rootp)], []
    items: list[InputItem] = []
    skipped: list[tuple[Path, str]] = []
    dicom_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(rootp):
        dirnames.sort()
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if name.startswith("."):
                continue
            fmt = detect_format(f)
            if fmt in ("nifti", "itk"):
                if _suffix(f) in (".raw", ".zraw"):
                    continue
                items.append(InputItem(f))
            elif fmt == "dicom":
                dicom_dirs.add(Path(dirpath))
    for d in sorted(dicom_dirs):
        try:
            from napari_dcpt.io.dicom import list_dicom_series

            series = list_dicom_series(d, recursive=False)
        except DcptError as exc:
            # name the file when one file in the folder is the problem
            where = "" if exc.path in (None, str(d)) else f"{Path(exc.path).name}: "
            skipped.append((d, where + exc.reason))
            continue
        for s in series:
            items.append(InputItem(d, s.uid, getattr(s, "description", "")))
    items.sort(key=lambda it: it.key)
    return items, skipped
