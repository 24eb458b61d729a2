"""Hostile and broken inputs: each is refused with one line naming the file (or, where
the data is still sound, loaded) -- never a traceback, never a process killed by the OS."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from napari_dcpt import io
from napari_dcpt.errors import DcptError, GeometryError, ReadError
from napari_dcpt.io.geometry import affine_from_parts

sys.path.insert(0, str(Path(__file__).parent))
from reliability_helpers import write_series  # noqa: E402

AFF = affine_from_parts((0.0, 0.0, 0.0), (2.0, 1.0, 1.0), np.eye(3))


def _series(folder: Path, n: int = 4, **kw) -> list[Path]:
    arr = np.random.default_rng(0).integers(0, 900, size=(n, 16, 12)).astype(np.int16)
    return write_series(folder, arr, AFF, **kw)


def _refused(path: Path, error: type = ReadError, match: str = "", **kw) -> str:
    """Read ``path``; assert a one-line ``error`` naming ``path`` (and ``match``)."""
    with pytest.raises(error) as info:
        io.read(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert match.lower() in msg.lower(), msg
    return msg


def _edit(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for k, v in values.items():
        setattr(ds, k, v)
    ds.save_as(path, enforce_file_format=True)


# -- DICOM --------------------------------------------------------------------------
def test_truncated_pixel_data(tmp_path):
    f = _series(tmp_path / "s")[2]
    f.write_bytes(f.read_bytes()[:-100])
    _refused(tmp_path / "s", match="truncated")
    _refused(f, match="truncated")


def test_missing_file_meta_is_read_like_an_old_acr_nema_file(tmp_path):
    # Arrange: no preamble, no 'DICM', no group 0002 -- implicit VR little endian
    files = _series(tmp_path / "s", n=3)
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.file_meta
        ds.save_as(f, implicit_vr=True, little_endian=True, enforce_file_format=False)
    # Act
    vol = io.read(tmp_path / "s")
    # Assert
    assert vol.shape == (3, 16, 12)


def test_file_meta_only_is_refused(tmp_path):
    f = _series(tmp_path / "s", n=1)[0]
    f.write_bytes(f.read_bytes()[:300])  # preamble + meta group, dataset cut off
    _refused(f)


def test_bad_vr_in_the_header(tmp_path):
    # Arrange: ImagePositionPatient written with VR LO holding text
    f = _series(tmp_path / "s", n=3)[1]
    ds = pydicom.dcmread(f)
    del ds.ImagePositionPatient
    ds.add_new(0x00200032, "LO", "abc\\def\\ghi")
    ds.save_as(f, enforce_file_format=True)
    _refused(tmp_path / "s", GeometryError, match="ImagePositionPatient")


def test_unknown_vr_bytes(tmp_path):
    # Arrange: the two VR bytes of Rows ('US') overwritten with an undefined VR
    f = _series(tmp_path / "s", n=1)[0]
    raw = f.read_bytes()
    i = raw.index(b"\x28\x00\x10\x00US")
    f.write_bytes(raw[: i + 4] + b"ZZ" + raw[i + 6 :])
    with pytest.raises(DcptError) as info:
        io.read(f)
    assert str(f) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2.4.100", "1.2.3.4.5.6.7"])
def test_unsupported_transfer_syntax(tmp_path, ts):
    # MPEG2 video, and a private transfer syntax nobody can decode
    f = _series(tmp_path / "s", n=1)[0]
    ds = pydicom.dcmread(f)
    ds.file_meta.TransferSyntaxUID = ts
    ds.PixelData = encapsulate([ds.PixelData])
    ds.save_as(f, enforce_file_format=False)
    _refused(f)


@pytest.mark.parametrize("photometric,samples", [("RGB", 3), ("PALETTE COLOR", 1), ("YBR_FULL", 3)])
def test_colour_images_are_refused(tmp_path, photometric, samples):
    f = _series(tmp_path / "s", n=1)[0]
    ds = pydicom.dcmread(f)
    ds.PhotometricInterpretation, ds.SamplesPerPixel = photometric, samples
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    ds.PixelData = bytes(16 * 12 * samples)
    ds.save_as(f, enforce_file_format=True)
    _refused(f, match="RGB/palette")


def test_folder_mixing_series_is_refused_until_one_is_chosen(tmp_path):
    _series(tmp_path / "s", series_uid="1.2.3.1", modality="MR")
    _series(tmp_path / "s", series_uid="1.2.3.2", modality="CT", names=[f"ct{i}" for i in range(4)])
    _refused(tmp_path / "s", match="holds 2 DICOM series")
    assert io.read(tmp_path / "s", series_uid="1.2.3.2").modality == "CT"


def test_one_series_uid_over_two_patients_or_modalities_is_refused(tmp_path):
    files = _series(tmp_path / "p", series_uid="1.2.3.9")
    _edit(files[0], PatientID="SOMEONE-ELSE")
    msg = _refused(tmp_path / "p", match="mixes patients")
    assert "SOMEONE-ELSE" not in msg  # the attribute is named, never its value
    files = _series(tmp_path / "m", series_uid="1.2.3.8")
    _edit(files[0], Modality="CT")
    _refused(tmp_path / "m", match="mixes modalities")


def test_duplicate_sop_instance_uids_are_copies_and_loaded_once(tmp_path):
    files = _series(tmp_path / "s", n=4)
    (tmp_path / "s" / "copy_of_slice.dcm").write_bytes(files[1].read_bytes())
    with pytest.warns(UserWarning, match="duplicate"):
        vol = io.read(tmp_path / "s")
    assert vol.shape == (4, 16, 12)


def test_inconsistent_orientation(tmp_path):
    files = _series(tmp_path / "s")
    _edit(files[2], ImageOrientationPatient=[1, 0, 0, 0, 0.8, 0.6])
    _refused(tmp_path / "s", GeometryError, match="orientation")


@pytest.mark.parametrize("pixdim", [0.0, -1.0])
def test_zero_or_negative_nifti_spacing(tmp_path, pixdim):
    # Arrange: no sform/qform, so the affine comes from pixdim alone
    img = nib.Nifti1Image(np.zeros((6, 5, 4), np.int16), None)
    img.header.set_sform(None, code=0)
    img.header.set_qform(None, code=0)
    path = tmp_path / "z.nii"
    nib.save(img, str(path))
    raw = bytearray(path.read_bytes())
    raw[80:84] = struct.pack("<f", pixdim)  # pixdim[1]: the header field, as written
    path.write_bytes(bytes(raw))
    # Act / Assert: nibabel alone would load a 0 as 1 mm and a -1 as 1 mm
    _refused(path, GeometryError, match="zero or negative")


def test_zero_spacing_mha_is_refused(tmp_path):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    path = tmp_path / "z.mha"
    sitk.WriteImage(img, str(path))
    raw = path.read_bytes().replace(b"ElementSpacing = 1 1 1", b"ElementSpacing = 1 0 1")
    path.write_bytes(raw)
    _refused(path)


def test_nan_and_inf_voxels_are_refused_by_restore_with_one_line(tmp_path, tiny_weights, cli):
    # Arrange
    arr = np.random.default_rng(0).random((4, 24, 20)).astype(np.float32) * 100
    arr[1, 2, 3], arr[2, 5, 5] = np.nan, np.inf
    from napari_dcpt.volume import Volume

    src = io.write(Volume(arr, AFF, modality="MR"), tmp_path / "nan.nii.gz")
    # Act
    code, out, err = cli("restore", src, tmp_path / "o.nii.gz", "--weights", tiny_weights)
    # Assert
    assert code == 1
    assert err.count("\n") == 1 and str(src) in err and "NaN or infinite" in err
    assert not (tmp_path / "o.nii.gz").exists()


def test_zero_byte_files(tmp_path):
    (tmp_path / "e.nii.gz").write_bytes(b"")
    (tmp_path / "e.dcm").write_bytes(b"")
    _refused(tmp_path / "e.nii.gz", match="0 bytes")
    _refused(tmp_path / "e.dcm", match="0 bytes")
    # a 0-byte file beside a good series is skipped, not fatal
    _series(tmp_path / "s", n=3)
    (tmp_path / "s" / "zero.dcm").write_bytes(b"")
    assert io.read(tmp_path / "s").shape == (3, 16, 12)


def _nifti_with_dims(tmp_path: Path, dims: tuple[int, ...], gz: bool) -> Path:
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    path = tmp_path / ("lie.nii.gz" if gz else "lie.nii")
    nib.save(img, str(tmp_path / "ok.nii"))
    raw = bytearray((tmp_path / "ok.nii").read_bytes())
    raw[40:56] = struct.pack("<8h", len(dims), *dims, *([1] * (7 - len(dims))))
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    return path


def test_nifti_header_lying_about_its_size_is_refused_before_reading(tmp_path):
    path = _nifti_with_dims(tmp_path, (200, 200, 200), gz=False)
    _refused(path, match="header declares")


def test_volume_too_large_for_memory_is_refused_not_killed(tmp_path):
    # a gzip header cannot be size-checked against the file: memory is the limit
    path = _nifti_with_dims(tmp_path, (30000, 30000, 30000), gz=True)
    _refused(path, match="memory")


def test_memory_limit_applies_to_every_format(tmp_path, monkeypatch, phantom):
    # Arrange: a real, sound image and a machine with 1 kB available
    nii = io.write(phantom, tmp_path / "p.nii.gz")
    mha = io.write(phantom, tmp_path / "p.mha")
    _series(tmp_path / "s", n=4)
    monkeypatch.setenv("NAPARI_DCPT_MAX_MEMORY", "1000")
    # Act / Assert
    for path in (nii, mha, tmp_path / "s"):
        _refused(path, match="memory is available")
