"""Derived DICOM series writer: identity, geometry, values, atomicity, refusals."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

import napari_dcpt
from napari_dcpt.errors import WriteError
from napari_dcpt.io.dicom import read_dicom
from napari_dcpt.io.dicom_write import write_dicom_series
from napari_dcpt.io.geometry import affine_from_itk, affine_from_parts
from napari_dcpt.volume import Volume

sys.path.insert(0, str(Path(__file__).parent))  # the dicom_phantom helper beside this file
from dicom_phantom import write_series  # noqa: E402

TOL_MM = 1e-4


def _oblique() -> np.ndarray:
    rot = Rotation.from_euler("xy", [20, 20], degrees=True).as_matrix()
    return affine_from_parts((-120.5, 33.25, 47.0), (2.5, 0.7, 0.9), rot[:, [2, 1, 0]])


@pytest.fixture
def source(tmp_path, rng) -> Volume:
    """A CT phantom series read back from DICOM (int16 HU, oblique, 7 x 11 x 13)."""
    stored = rng.integers(0, 2000, size=(7, 11, 13)).astype(np.int16)
    write_series(
        tmp_path / "src",
        stored,
        _oblique(),
        modality="CT",
        intercepts=[-1024] * 7,
        description="Chest",
    )
    return read_dicom(tmp_path / "src")


def _headers(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]


def test_derived_series_has_new_identity_and_derived_type(tmp_path, source):
    # Act
    files = write_dicom_series(source, tmp_path / "out", derivation="denoised")
    # Assert
    heads = _headers(tmp_path / "out")
    assert len(files) == len(heads) == 7
    src = source.meta["dicom_headers"]
    series_uids = {h.SeriesInstanceUID for h in heads}
    assert len(series_uids) == 1 and src[0].SeriesInstanceUID not in series_uids
    sops = {h.SOPInstanceUID for h in heads}
    assert len(sops) == 7 and not sops & {h.SOPInstanceUID for h in src}
    for h in heads:
        assert list(h.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert h.SeriesDescription == "Chest (DCPT restored)"
        assert h.DerivationDescription == "denoised"
        assert h.StudyInstanceUID == src[0].StudyInstanceUID  # carried over
        assert h.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert h.file_meta.MediaStorageSOPInstanceUID == h.SOPInstanceUID
        assert h.RescaleType == "HU"
    assert [int(h.InstanceNumber) for h in heads] == list(range(1, 8))


def test_derived_series_is_dated_now_and_names_its_software(tmp_path, source):
    # Arrange: the source was acquired long ago by a scanner with its own software
    for h in source.meta["dicom_headers"]:
        h.ContentDate, h.AcquisitionDate, h.SoftwareVersions = "20010203", "20010203", "VA10"
    before = datetime.datetime.now().replace(microsecond=0)
    # Act
    write_dicom_series(source, tmp_path / "out")
    again = read_dicom(tmp_path / "out")
    write_dicom_series(again, tmp_path / "twice")
    anonymous = write_dicom_series(source, tmp_path / "anon", anonymize=True)
    # Assert: pixels made now, acquired then; the scanner's software kept, ours added once
    heads = _headers(tmp_path / "out")
    for h in heads:
        made = datetime.datetime.strptime(h.ContentDate + h.ContentTime, "%Y%m%d%H%M%S")
        assert before <= made <= datetime.datetime.now()
        assert (h.SeriesDate, h.InstanceCreationDate) == (h.ContentDate, h.ContentDate)
        assert h.AcquisitionDate == "20010203"
        assert list(h.SoftwareVersions) == ["VA10", f"napari-dcpt {napari_dcpt.__version__}"]
    assert list(_headers(tmp_path / "twice")[0].SoftwareVersions) == list(heads[0].SoftwareVersions)
    anon = pydicom.dcmread(anonymous[0])
    assert not anon.get("InstanceCreationDate") and not anon.get("SeriesDate")
    assert anon.ContentDate == ""  # the Basic Profile empties it; nothing dates it again
    assert list(anon.SoftwareVersions) == ["VA10", f"napari-dcpt {napari_dcpt.__version__}"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [("out.png", "cannot write .png files"), ("out.tar.gz", "cannot write .gz files"),
     ("out.dcm", "a derived DICOM series is a folder")],
)  # fmt: skip
def test_a_file_name_is_not_taken_for_a_dicom_folder(tmp_path, source, name, problem):
    from napari_dcpt import io

    with pytest.raises(WriteError, match=problem):
        io.write(source, tmp_path / name)
    assert not (tmp_path / name).exists()
    # a UID-named folder has dots but no file suffix: still a DICOM series
    assert io.check_format(source, tmp_path / "1.2.840.10008.5") == "dicom"


def test_integer_hu_round_trip_exactly_with_same_geometry_as_simpleitk(tmp_path, source):
    write_dicom_series(source, tmp_path / "out")
    back = read_dicom(tmp_path / "out")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "out")))
    image = reader.Execute()
    itk_aff = affine_from_itk(image.GetOrigin(), image.GetSpacing(), image.GetDirection())

    assert back.modality == "CT" and back.unit == "HU" and back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, source.array)
    np.testing.assert_allclose(back.affine, source.affine, atol=TOL_MM)
    np.testing.assert_allclose(back.affine, _oblique(), atol=TOL_MM)
    np.testing.assert_allclose(itk_aff, back.affine, atol=TOL_MM)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), source.array)


def test_float_values_outside_source_range_round_trip_within_one_step(tmp_path, source, rng):
    # Arrange: restored floats far outside the source's int16 range
    restored = rng.uniform(-60000.0, 80000.0, source.shape).astype(np.float32)
    restored[0, 0, 0], restored[-1, -1, -1] = -70000.0, 90000.0
    vol = source.with_array(restored)
    # Act
    write_dicom_series(vol, tmp_path / "out")
    back = read_dicom(tmp_path / "out")
    # Assert
    step = float(_headers(tmp_path / "out")[0].RescaleSlope)
    assert step == pytest.approx(160000.0 / 65533, rel=1e-3)
    assert np.abs(back.array.astype(np.float64) - restored).max() <= step  # no clipping
    assert back.array.min() == pytest.approx(-70000.0, abs=step)
    assert back.array.max() == pytest.approx(90000.0, abs=step)


def test_2d_volume_is_written_as_one_file(tmp_path, source):
    single = read_dicom(source.meta["files"][2])
    files = write_dicom_series(single, tmp_path / "one")
    back = read_dicom(files[0])
    assert len(files) == 1 and back.shape == (11, 13)
    np.testing.assert_array_equal(back.array, single.array)
    np.testing.assert_allclose(back.affine, single.affine, atol=TOL_MM)


def test_written_series_can_be_written_again(tmp_path, source):
    write_dicom_series(source, tmp_path / "a")
    again = read_dicom(tmp_path / "a")
    write_dicom_series(again, tmp_path / "b", description_suffix=" x")
    assert _headers(tmp_path / "b")[0].SeriesDescription == "Chest (DCPT restored) x"


def test_refuses_a_volume_without_dicom_source(tmp_path):
    vol = Volume(np.zeros((2, 3, 4), np.int16))
    with pytest.raises(WriteError, match="needs a DICOM source"):
        write_dicom_series(vol, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_existing_output_unless_overwrite(tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(WriteError, match="exists"):
        write_dicom_series(source, out)
    assert (out / "keep.txt").exists()
    write_dicom_series(source, out, overwrite=True)
    assert not (out / "keep.txt").exists() and len(list(out.glob("*.dcm"))) == 7


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_refuses_to_write_into_or_over_an_input_folder(tmp_path, source, where):
    target = {
        "same": tmp_path / "src",
        "inside": tmp_path / "src" / "restored",
        "parent": tmp_path,
    }[where]
    before = sorted((tmp_path / "src").iterdir())
    with pytest.raises(WriteError, match="input"):
        write_dicom_series(source, target, overwrite=True)
    assert sorted((tmp_path / "src").iterdir()) == before


def test_failure_midway_leaves_no_partial_folder(tmp_path, source, monkeypatch):
    # Arrange: the 4th file fails to save (disk full)
    calls = {"n": 0}
    real_save = pydicom.Dataset.save_as

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.Dataset, "save_as", flaky)
    # Act / Assert
    with pytest.raises(WriteError, match="No space left"):
        write_dicom_series(source, tmp_path / "out")
    assert calls["n"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # nothing else left


def test_failure_during_overwrite_keeps_the_old_output(tmp_path, source, monkeypatch):
    write_dicom_series(source, tmp_path / "out")
    old = sorted(p.read_bytes() for p in (tmp_path / "out").iterdir())

    def broken(self, *args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(pydicom.Dataset, "save_as", broken)
    with pytest.raises(WriteError, match="could not encode"):
        write_dicom_series(source, tmp_path / "out", overwrite=True)
    assert sorted(p.read_bytes() for p in (tmp_path / "out").iterdir()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_nan_values_are_refused(tmp_path, source):
    bad = source.array.astype(np.float32)
    bad[1, 2, 3] = np.nan
    with pytest.raises(WriteError, match="NaN"):
        write_dicom_series(source.with_array(bad), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_big_endian_source_is_rewritten_little_endian(tmp_path):
    src = pydicom.data.get_testdata_file("MR_small_bigendian.dcm")
    vol = read_dicom(src)
    files = write_dicom_series(vol, tmp_path / "out")
    back = read_dicom(files[0])
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=TOL_MM)
