"""Reading DICOM: discovering series in a file or folder tree and loading one as a `Volume`.

Series are found by SeriesInstanceUID from headers only; slices are sorted by their
ImagePositionPatient projected on the slice normal (never by file name or
InstanceNumber). Single-frame files and multi-frame Enhanced CT/MR (per-frame and
shared functional groups) are flattened into one list of frames, so both go through
the same sorting, geometry and rescale code. Geometry is converted by
`napari_dcpt.io.geometry` only.

Choices (also listed in the reader tests):

- One frame in the series -> a 2-D `Volume` ``(y, x)``.
- A multi-frame file without per-frame geometry (US cine, NM, secondary capture):
  a ``(frames, y, x)`` stack; frames are placed along the slice normal from
  GridFrameOffsetVector (RT dose), else SpacingBetweenSlices, else 1 mm, and
  ``meta["geometry_known"]`` says whether the positions came from the file.
- RGB / palette colour images are refused (the restoration models are greyscale).
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from napari_dcpt.errors import DcptError, GeometryError, ReadError
from napari_dcpt.io.geometry import affine_from_dicom, slice_normal
from napari_dcpt.io.memory import check_fits_in_memory
from napari_dcpt.volume import Modality, Volume

__all__ = ["SeriesInfo", "is_dicom", "list_dicom_series", "quiet_pydicom", "read_dicom"]


#: Largest deviation (mm) of a slice gap from the mean gap that still counts as uniform;
#: DS strings carry ~16 significant digits, so real uniform series sit far below it.
SPACING_TOLERANCE_MM = 1e-3
#: Largest difference between direction cosines that still counts as one orientation.
ORIENTATION_TOLERANCE = 1e-4

_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_FUNCTIONAL_GROUPS = (
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
)
_COLOUR = ("RGB", "YBR", "PALETTE")
#: Exceptions that are not a file's fault and must pass through unchanged.
_NOT_OURS = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


@dataclass(frozen=True)
class SeriesInfo:
    """What a DICOM series is, from its headers only (no pixel data read).

    Attributes
    ----------
    uid
        SeriesInstanceUID (a made-up key ``"file:<path>"`` for a file without one).
    description
        SeriesDescription (may be empty).
    modality
        Modality as written in the header (``"CT"``, ``"MR"``, ``"US"``...).
    n_frames
        Number of slices/frames the series holds (all files together).
    shape
        Array shape `read_dicom` will return: ``(z, y, x)``, or ``(y, x)`` for one frame.
    files
        The series' files, sorted by path.
    """

    uid: str
    description: str
    modality: str
    n_frames: int
    shape: tuple[int, ...]
    files: tuple[Path, ...] = field(repr=False)

    @property
    def n_slices(self) -> int:
        """Alias of `n_frames`."""
        return self.n_frames


@dataclass
class _Frame:
    """One 2-D image of a series: where it lives and its geometry and rescale."""

    file_index: int
    frame_index: int | None  # None for a single-frame file
    position: np.ndarray | None  # ImagePositionPatient, mm
    orientation: np.ndarray | None  # ImageOrientationPatient
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing), mm
    slope: float
    intercept: float
    rescale_type: str | None
    per_frame_geometry: bool  # positions come per frame (single-frame or Enhanced file)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Decode values without pydicom's validation warnings and log lines.

    pydicom quotes an invalid value in its warning ("Invalid value for VR DS:
    'Doe^Jane'"), which would put header text (patient data) on stderr and in logs.
    Values are still checked where they are used (`_floats`, rescale), by our code,
    whose messages name the attribute and never the value.
    """
    settings = pydicom.config.settings
    old = settings.reading_validation_mode
    settings.reading_validation_mode = pydicom.config.IGNORE
    try:
        yield
    finally:
        settings.reading_validation_mode = old


# -- discovery ---------------------------------------------------------------------
def is_dicom(path: str | os.PathLike[str]) -> bool:
    """Cheap test for a DICOM file: 'DICM' at byte 128, or a first tag in group 0002/0008.

    The second case accepts old files written without the 128-byte preamble (pydicom
    reads them with ``force=True``); anything else is rejected without parsing.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    # First tag group 0x0002 (meta) or 0x0008 (identifying), little or big endian.
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def _read_header(path: Path) -> Dataset:
    """Header of one file (no pixel data); ReadError if it is not DICOM."""
    if not is_dicom(path):
        raise ReadError("not a DICOM file", path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise ReadError(f"not a readable DICOM file ({type(exc).__name__})", path) from exc


def _is_dicomdir(path: Path, ds: Dataset | None = None) -> bool:
    if path.name.upper().startswith("DICOMDIR"):
        return True
    if ds is None:
        return False
    sop = getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return str(sop) == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds


def _candidate_files(path: Path, recursive: bool) -> list[Path]:
    if path.is_file():
        return [path]
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _scan(path: Path, recursive: bool) -> dict[str, list[tuple[Path, Dataset]]]:
    """Group image files under ``path`` by series; a single file must be a DICOM image."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ReadError("no such file or folder", path)
    single = path.is_file()
    series: dict[str, list[tuple[Path, Dataset]]] = {}
    unreadable: list[ReadError] = []
    for p in _candidate_files(path, recursive):
        if _is_dicomdir(p):
            if single:
                raise ReadError("is a DICOMDIR index, not an image (open its folder)", p)
            continue
        if not is_dicom(p):
            if single:
                raise ReadError("not a DICOM file", p)
            continue
        try:
            ds = _read_header(p)
        except ReadError as exc:
            if single:
                raise
            unreadable.append(exc)
            continue
        if _is_dicomdir(p, ds):
            if single:
                raise ReadError("is a DICOMDIR index, not an image (open its folder)", p)
            continue
        if "Rows" not in ds or "Columns" not in ds:
            if single:
                modality = str(ds.get("Modality", "")) or "unknown modality"
                raise ReadError(f"holds no image ({modality} object without pixel data)", p)
            continue  # reports, plans, structure sets beside the images
        uid = str(ds.get("SeriesInstanceUID", "") or f"file:{p}")
        series.setdefault(uid, []).append((p, ds))
    if unreadable:
        # Its series is unknown, so any series here may be missing a slice: restored
        # without it, the slices after the gap would sit at the wrong positions.
        first = unreadable[0]
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise ReadError(
            f"{first.reason}{more}; a series may be missing slices: repair or move it out "
            "of the folder",
            first.path,
        )
    return series


# -- per-frame attributes ----------------------------------------------------------
def _group_item(ds: Dataset, sequence: str, frame: int | None) -> Dataset | None:
    """The item of a functional group macro for ``frame``: per-frame first, then shared."""
    if frame is not None:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame is not None and frame < len(per_frame):
            seq = per_frame[frame].get(sequence)
            if seq:
                return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(sequence)
        if seq:
            return seq[0]
    return None


def _attr(ds: Dataset, frame: int | None, sequence: str, keyword: str) -> Any:
    """``keyword`` from the frame's functional group ``sequence``, else the top level."""
    item = _group_item(ds, sequence, frame) if frame is not None else None
    if item is not None and keyword in item and item[keyword].value not in (None, ""):
        return item[keyword].value
    value = ds.get(keyword)
    return None if value in (None, "") else value


def _floats(value: Any, n: int, what: str, path: Path) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"invalid {what}", path) from exc
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise GeometryError(f"invalid {what} (expected {n} numbers)", path)
    return arr


def _frames_of(ds: Dataset, file_index: int, path: Path) -> list[_Frame]:
    """Flatten one file into frames (one for a single-frame file)."""
    n = int(ds.get("NumberOfFrames", 1) or 1)
    enhanced = any(k in ds for k in _FUNCTIONAL_GROUPS)
    frames: list[_Frame] = []
    for i in range(n):
        fi: int | None = i if (n > 1 or enhanced) else None
        pos = _attr(ds, fi, "PlanePositionSequence", "ImagePositionPatient")
        iop = _attr(ds, fi, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _attr(ds, fi, "PixelMeasuresSequence", "PixelSpacing")
        if spacing is None:  # projection radiography: spacing at the detector
            spacing = ds.get("ImagerPixelSpacing") or None
        slope = _attr(ds, fi, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _attr(ds, fi, "PixelValueTransformationSequence", "RescaleIntercept")
        rtype = _attr(ds, fi, "PixelValueTransformationSequence", "RescaleType")
        sp = _floats(spacing, 2, "PixelSpacing", path)
        if sp is not None and np.any(sp <= 0):
            sp = None  # e.g. '0\\0' in some CR: unknown, so 1 mm and geometry_known=False
        try:
            slope_f = 1.0 if slope is None else float(slope)
            intercept_f = 0.0 if intercept is None else float(intercept)
        except (TypeError, ValueError) as exc:
            raise ReadError("invalid RescaleSlope/RescaleIntercept", path) from exc
        if not np.isfinite(slope_f) or slope_f == 0 or not np.isfinite(intercept_f):
            raise ReadError("invalid RescaleSlope/RescaleIntercept", path)
        frames.append(
            _Frame(
                file_index=file_index,
                frame_index=i if n > 1 else None,
                position=_floats(pos, 3, "ImagePositionPatient", path),
                orientation=_floats(iop, 6, "ImageOrientationPatient", path),
                pixel_spacing=None if sp is None else (float(sp[0]), float(sp[1])),
                slope=slope_f,
                intercept=intercept_f,
                rescale_type=None if rtype is None else str(rtype),
                per_frame_geometry=n == 1 or enhanced,
            )
        )
    return frames


def _frame_header(ds: Dataset, frame: _Frame) -> Dataset:
    """A single-frame style header for one frame of a multi-frame file.

    Functional groups are resolved into top-level ImagePositionPatient etc. and
    removed, so the derived-series writer treats every slice alike.
    """
    if frame.frame_index is None:
        return ds
    out = Dataset()
    for elem in ds:
        if elem.keyword in (*_FUNCTIONAL_GROUPS, "NumberOfFrames", "FrameIncrementPointer"):
            continue
        out.add(copy.deepcopy(elem))
    out.file_meta = copy.deepcopy(ds.file_meta) if hasattr(ds, "file_meta") else None
    if frame.position is not None:
        out.ImagePositionPatient = [float(v) for v in frame.position]
    if frame.orientation is not None:
        out.ImageOrientationPatient = [float(v) for v in frame.orientation]
    if frame.pixel_spacing is not None:
        out.PixelSpacing = list(frame.pixel_spacing)
    thickness = _attr(ds, frame.frame_index, "PixelMeasuresSequence", "SliceThickness")
    if thickness is not None:
        out.SliceThickness = thickness
    out.RescaleSlope = frame.slope
    out.RescaleIntercept = frame.intercept
    if frame.rescale_type is not None:
        out.RescaleType = frame.rescale_type
    return out


# -- geometry ----------------------------------------------------------------------
@dataclass
class _Geometry:
    order: list[int]  # frame indices in sorted order
    affine: np.ndarray
    deviation_mm: float
    known: bool


def _check_plane(series_files: Sequence[tuple[Path, Dataset]]) -> tuple[int, int]:
    rows_cols = {(int(ds.Rows), int(ds.Columns)) for _, ds in series_files}
    if len(rows_cols) != 1:
        raise ReadError("slices have different sizes (Rows x Columns)", series_files[0][0])
    for p, ds in series_files:
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1 or photometric.startswith(_COLOUR):
            raise ReadError(f"RGB/palette images are not supported ({photometric or 'colour'})", p)
    return next(iter(rows_cols))


def _geometry(frames: list[_Frame], files: Sequence[tuple[Path, Dataset]]) -> _Geometry:
    first_path = files[0][0]
    spacing = {f.pixel_spacing for f in frames}
    if len(spacing) > 1:
        values = np.array([s for s in spacing if s is not None])
        if None in spacing or np.ptp(values, axis=0).max() > SPACING_TOLERANCE_MM:
            raise GeometryError("slices have different PixelSpacing", first_path)
    pixel_spacing = frames[0].pixel_spacing or (1.0, 1.0)

    if len(frames) == 1:
        f = frames[0]
        iop = f.orientation if f.orientation is not None else np.array([1, 0, 0, 0, 1, 0.0])
        pos = f.position if f.position is not None else np.zeros(3)
        affine = affine_from_dicom(iop, pos, pixel_spacing)
        known = f.position is not None and f.pixel_spacing is not None
        return _Geometry([0], affine, 0.0, known)

    ds0 = files[frames[0].file_index][1]
    missing_pos = [f for f in frames if f.position is None]
    if len(files) == 1 and frames[0].frame_index is not None:
        if missing_pos or not frames[0].per_frame_geometry:
            return _stack_geometry(frames, ds0, pixel_spacing)
    if missing_pos:
        bad = files[missing_pos[0].file_index][0]
        raise GeometryError("missing ImagePositionPatient", bad)
    if any(f.orientation is None for f in frames):
        bad = files[next(f for f in frames if f.orientation is None).file_index][0]
        raise GeometryError("missing ImageOrientationPatient", bad)
    iops = np.stack([f.orientation for f in frames])
    if np.abs(iops - iops[0]).max() > ORIENTATION_TOLERANCE:
        raise GeometryError("slices have different orientations", first_path)
    normal = slice_normal(iops[0])
    positions = np.stack([f.position for f in frames])
    dist = positions @ normal
    order = [int(i) for i in np.argsort(dist, kind="stable")]
    dist_sorted = dist[order]
    gaps = np.diff(dist_sorted)
    if np.any(gaps < SPACING_TOLERANCE_MM):
        n_dup = int(np.sum(gaps < SPACING_TOLERANCE_MM)) + 1
        raise GeometryError(
            f"{n_dup} slices share a position (several echoes, phases or time points "
            "in one series are not supported)",
            first_path,
        )
    mean_gap = float(np.mean(gaps))
    deviation = float(np.max(np.abs(gaps - mean_gap)))
    # The step is the mean vector between neighbouring slices, not normal * gap, so a
    # gantry-tilted CT keeps its true (sheared) slice positions.
    step = (positions[order[-1]] - positions[order[0]]) / (len(frames) - 1)
    affine = affine_from_dicom(iops[0], positions[order[0]], pixel_spacing, step)
    return _Geometry(order, affine, deviation, True)


def _stack_geometry(frames: list[_Frame], ds: Dataset, pixel_spacing: tuple) -> _Geometry:
    """Frames of a multi-frame file without per-frame positions (cine, NM, RT dose)."""
    f0 = frames[0]
    iop = f0.orientation if f0.orientation is not None else np.array([1, 0, 0, 0, 1, 0.0])
    origin = f0.position if f0.position is not None else np.zeros(3)
    normal = slice_normal(iop)
    offsets = ds.get("GridFrameOffsetVector")
    known = False
    if (
        offsets is not None
        and len(offsets) == len(frames)
        and f0.position is not None
        and f0.pixel_spacing is not None
    ):
        offs = np.asarray([float(v) for v in offsets])
        gaps = np.diff(offs)
        if np.all(gaps > 0):
            mean_gap = float(np.mean(gaps))
            deviation = float(np.max(np.abs(gaps - mean_gap)))
            step = normal * mean_gap
            affine = affine_from_dicom(iop, origin + normal * offs[0], pixel_spacing, step)
            return _Geometry(list(range(len(frames))), affine, deviation, True)
    gap = ds.get("SpacingBetweenSlices")
    gap_f = float(gap) if gap not in (None, "") and float(gap) > 0 else 1.0
    affine = affine_from_dicom(iop, origin, pixel_spacing, normal * gap_f)
    return _Geometry(list(range(len(frames))), affine, 0.0, known)


# -- listing -----------------------------------------------------------------------
def _series_frames(files: list[tuple[Path, Dataset]]) -> list[_Frame]:
    frames: list[_Frame] = []
    for i, (p, ds) in enumerate(files):
        frames.extend(_frames_of(ds, i, p))
    return frames


def list_dicom_series(path: str | os.PathLike[str], *, recursive: bool = True) -> list[SeriesInfo]:
    """The DICOM image series in a file, a folder or (``recursive``) a folder tree.

    Only headers are read. Non-DICOM files, DICOMDIR indexes and DICOM objects
    without an image (reports, RT plans) are skipped.

    Parameters
    ----------
    path
        A DICOM file or a folder.
    recursive
        Also look in sub-folders.

    Returns
    -------
    list of SeriesInfo
        Sorted by series description, then UID.
    """
    with quiet_pydicom():
        return _list_dicom_series(Path(path), recursive)


def _list_dicom_series(path: Path, recursive: bool) -> list[SeriesInfo]:
    out: list[SeriesInfo] = []
    for uid, files in _scan(path, recursive).items():
        files.sort(key=lambda t: str(t[0]))
        ds0 = files[0][1]
        n = sum(int(ds.get("NumberOfFrames", 1) or 1) for _, ds in files)
        rows, cols = int(ds0.Rows), int(ds0.Columns)
        shape = (rows, cols) if n == 1 else (n, rows, cols)
        out.append(
            SeriesInfo(
                uid=uid,
                description=str(ds0.get("SeriesDescription", "") or ""),
                modality=str(ds0.get("Modality", "") or ""),
                n_frames=n,
                shape=shape,
                files=tuple(p for p, _ in files),
            )
        )
    out.sort(key=lambda s: (s.description, s.uid))
    return out


# -- pixels ------------------------------------------------------------------------
def _load_pixels(path: Path) -> np.ndarray:
    """Decoded stored values of one file, ``(y, x)`` or ``(frames, y, x)``."""
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # any parser failure is the file's fault, not ours
        raise ReadError(f"not a readable DICOM file ({type(exc).__name__})", path) from exc
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ReadError("no pixel data (is the file truncated?)", path)
    file_meta = getattr(ds, "file_meta", None)
    ts = getattr(file_meta, "TransferSyntaxUID", None)
    if ts is None:
        # No file meta (ACR-NEMA style, or stripped by an export): the parser found
        # the encoding itself; tell the pixel decoder what it was.
        implicit, little = getattr(ds, "original_encoding", (True, True))
        ts = (
            ImplicitVRLittleEndian
            if implicit
            else (ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian)
        )
        ds.file_meta = file_meta = file_meta or pydicom.dataset.FileMetaDataset()
        file_meta.TransferSyntaxUID = ts
    if ts is not None:
        ts = UID(str(ts))
        if ts.is_compressed:
            try:
                from pydicom.pixels.decoders.base import get_decoder

                decoder = get_decoder(ts)
            except NotImplementedError as exc:
                raise ReadError(f"unsupported transfer syntax {ts.name}", path) from exc
            if not decoder.is_available:
                needs = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
                raise ReadError(
                    f"unsupported transfer syntax {ts.name} (needs a decoder: {needs})", path
                )
    if "PixelData" in ds and not (ts is not None and ts.is_compressed):
        n = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        expected = int(ds.Rows) * int(ds.Columns) * n * int(ds.get("SamplesPerPixel", 1))
        expected = (expected * bits + 7) // 8
        if len(ds.PixelData) < expected:
            raise ReadError(f"truncated pixel data ({len(ds.PixelData)} of {expected} bytes)", path)
    try:
        arr = ds.pixel_array
    except _NOT_OURS:
        raise
    except BaseException as exc:  # decoders raise many types; all mean "cannot decode"
        # (BaseException: a Rust decoder's panic, pyo3's PanicException, is not an
        # Exception; found by tests/reliability/test_fuzz.py on a mutated RLE file)
        msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        if "length" in msg.lower() or "truncat" in msg.lower() or "short" in msg.lower():
            raise ReadError(f"truncated pixel data ({msg})", path) from exc
        name = ts.name if ts is not None else "unknown transfer syntax"
        raise ReadError(f"could not decode pixel data ({name}): {msg}", path) from exc
    return np.asarray(arr)


def _integer_dtype(lo: float, hi: float) -> np.dtype:
    for dt in (np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def _modality(ds: Dataset) -> tuple[Modality, str]:
    mod = str(ds.get("Modality", "") or "").upper()
    if mod == "CT":
        return "CT", "HU"
    if mod == "MR":
        return "MR", ""
    return "unknown", ""


# -- reading -----------------------------------------------------------------------
def read_dicom(
    path: str | os.PathLike[str], series_uid: str | None = None, *, recursive: bool = True
) -> Volume:
    """Read one DICOM series as a `Volume` in (z, y, x) order with an LPS affine (mm).

    Parameters
    ----------
    path
        A DICOM file (read alone) or a folder (tree) holding the series.
    series_uid
        SeriesInstanceUID to load when the folder holds several series.
    recursive
        Also look in sub-folders of ``path``.

    Returns
    -------
    Volume
        Rescaled values (RescaleSlope/Intercept applied per slice; HU for CT):
        float32 when slopes differ or slope/intercept are not integers, otherwise
        the stored integer dtype (no rescale) or the smallest of int16/int32 that
        holds the values. One frame gives a 2-D ``(y, x)`` volume. ``meta`` holds
        ``format``, ``path``, ``series_uid``, ``series_description``, ``modality``,
        ``files`` (sorted slice order), ``dicom_headers`` (one pydicom Dataset per
        slice, sorted, without pixel data), ``spacing_deviation_mm`` (the largest
        deviation of a slice gap from the mean, mm; 0 within ``SPACING_TOLERANCE_MM``)
        and ``geometry_known``.

    Raises
    ------
    ReadError
        Not DICOM, no image series, several series and no ``series_uid``, colour
        images, undecodable or truncated pixel data.
    GeometryError
        Missing positions, mixed orientations or pixel spacings, duplicate positions.
    """
    p = Path(path).expanduser()
    try:
        with quiet_pydicom():
            return _read_dicom(p, series_uid, recursive)
    except DcptError:
        raise
    except _NOT_OURS:
        raise
    except BaseException as exc:  # never let a raw library exception (or panic) escape
        # Only the exception type: its text may quote header values (patient data).
        raise ReadError(f"could not read DICOM ({type(exc).__name__})", p) from exc


def _read_dicom(p: Path, series_uid: str | None, recursive: bool) -> Volume:
    series = _scan(p, recursive)
    if not series:
        raise ReadError("no DICOM image series found", p)
    if series_uid is None:
        if len(series) > 1:
            raise ReadError(
                f"holds {len(series)} DICOM series; pick one with series_uid "
                "(--series UID on the command line; `napari-dcpt info` lists them)",
                p,
            )
        series_uid = next(iter(series))
    if series_uid not in series:
        raise ReadError(f"no series with SeriesInstanceUID {series_uid}", p)
    files = _drop_duplicate_instances(sorted(series[series_uid], key=lambda t: str(t[0])))
    for keyword, what in (("PatientID", "patients"), ("Modality", "modalities")):
        # One series UID over several patients or modalities is a broken archive;
        # the message names the attribute, never its values (patient data).
        if len({str(ds.get(keyword, "") or "") for _, ds in files}) > 1:
            raise ReadError(f"one series mixes {what} ({keyword} differs between files)", p)
    rows, cols = _check_plane(files)
    frames = _series_frames(files)
    # Stored values plus the float32 result, from the headers, before any pixel is read.
    bits = max(int(ds.get("BitsAllocated", 16) or 16) for _, ds in files)
    check_fits_in_memory(len(frames) * rows * cols * ((bits + 7) // 8 + 4), p)
    geom = _geometry(frames, files)
    sorted_frames = [frames[i] for i in geom.order]

    slopes = np.array([f.slope for f in sorted_frames])
    intercepts = np.array([f.intercept for f in sorted_frames])
    no_rescale = bool(np.all(slopes == 1) and np.all(intercepts == 0))
    integer_rescale = bool(
        np.all(slopes == slopes[0])
        and float(slopes[0]).is_integer()
        and np.all(np.mod(intercepts, 1) == 0)
    )

    # Decode each file once; place its frames at their sorted positions.
    position_of = {(f.file_index, f.frame_index): k for k, f in enumerate(sorted_frames)}
    raw: list[np.ndarray | None] = [None] * len(sorted_frames)
    for i, (fp, ds) in enumerate(files):
        arr = _load_pixels(fp)
        n = int(ds.get("NumberOfFrames", 1) or 1)
        want = (rows, cols) if n == 1 else (n, rows, cols)
        if arr.shape != want:
            raise ReadError(f"pixel data has shape {arr.shape}, expected {want}", fp)
        if n == 1:
            raw[position_of[(i, None)]] = arr
        else:
            for j in range(n):
                raw[position_of[(i, j)]] = arr[j]
    stored_dtype = np.result_type(*[r.dtype for r in raw if r is not None])

    out_shape = (len(sorted_frames), rows, cols)
    if no_rescale:
        out = np.empty(out_shape, dtype=stored_dtype)
        for k, r in enumerate(raw):
            out[k] = r
    elif integer_rescale and np.issubdtype(stored_dtype, np.integer):
        wide = np.empty(out_shape, dtype=np.int64)
        for k, (r, f) in enumerate(zip(raw, sorted_frames)):
            wide[k] = r.astype(np.int64) * int(f.slope) + int(f.intercept)
        out = wide.astype(_integer_dtype(wide.min(), wide.max()))
    else:
        out = np.empty(out_shape, dtype=np.float32)
        for k, (r, f) in enumerate(zip(raw, sorted_frames)):
            out[k] = r.astype(np.float64) * f.slope + f.intercept
    del raw

    # Deviations within the tolerance are rounding of ImagePositionPatient's decimal
    # strings (about 1e-13 mm in real exports); recorded as 0 so no front end reports
    # an evenly spaced series as uneven.
    uneven_mm = geom.deviation_mm if geom.deviation_mm > SPACING_TOLERANCE_MM else 0.0
    if uneven_mm:
        # Positions only; no patient data in the message.
        warnings.warn(
            f"{p}: non-uniform slice spacing (largest deviation from the mean "
            f"{geom.deviation_mm:.4g} mm); loaded with the mean spacing",
            stacklevel=3,
        )
    ds0 = files[sorted_frames[0].file_index][1]
    modality, unit = _modality(ds0)
    rtype = sorted_frames[0].rescale_type
    if modality == "CT" and rtype and rtype.upper() not in ("HU", "US"):
        unit = rtype
    headers = [_frame_header(files[f.file_index][1], f) for f in sorted_frames]
    meta: dict[str, Any] = {
        "format": "dicom",
        "path": str(p),
        "series_uid": series_uid,
        "series_description": str(ds0.get("SeriesDescription", "") or ""),
        "modality": str(ds0.get("Modality", "") or ""),
        "files": _unique(str(files[f.file_index][0]) for f in sorted_frames),
        "dicom_headers": headers,
        "spacing_deviation_mm": uneven_mm,
        "geometry_known": geom.known,
    }
    array = out[0] if out.shape[0] == 1 else out
    return Volume(array=array, affine=geom.affine, modality=modality, unit=unit, meta=meta)


def _drop_duplicate_instances(
    files: list[tuple[Path, Dataset]],
) -> list[tuple[Path, Dataset]]:
    """Keep the first file (by path) of each SOPInstanceUID.

    Two files with one SOPInstanceUID are, by definition, copies of one instance (an
    archive export run twice, "IM1 (copy).dcm"); loading both would stack the same
    slice twice and fail as duplicate positions.
    """
    seen: dict[str, Path] = {}
    kept: list[tuple[Path, Dataset]] = []
    for fp, ds in files:
        uid = str(ds.get("SOPInstanceUID", "") or "")
        if uid and uid in seen:
            warnings.warn(
                f"{fp}: duplicate of {seen[uid].name} (same SOPInstanceUID); ignored", stacklevel=4
            )
            continue
        if uid:
            seen[uid] = fp
        kept.append((fp, ds))
    return kept


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
