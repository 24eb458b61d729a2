import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from napari_dcpt import io
from napari_dcpt.errors import ReadError, WriteError


@pytest.mark.parametrize("name", ["p.nii", "p.nii.gz", "p.nrrd", "p.mha"])
def test_round_trip_preserves_array_and_affine(tmp_path, phantom, name):
    out = io.write(phantom, tmp_path / name)
    back = io.read(out)
    np.testing.assert_array_equal(back.array, phantom.array)
    assert back.array.dtype == phantom.array.dtype
    np.testing.assert_allclose(back.affine, phantom.affine, atol=1e-5)


def test_nifti_round_trip_is_exact(tmp_path, phantom):
    out = io.write(phantom, tmp_path / "p.nii.gz")
    again = io.write(io.read(out), tmp_path / "q.nii.gz")
    assert np.array_equal(nib.load(out).affine, nib.load(again).affine)
    np.testing.assert_allclose(io.read(again).affine, phantom.affine, atol=1e-6)


def test_nifti_matches_simpleitk_geometry(tmp_path, phantom):
    out = io.write(phantom, tmp_path / "p.nii.gz")
    img = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), phantom.array)
    np.testing.assert_allclose(img.GetOrigin(), phantom.origin, atol=1e-4)
    np.testing.assert_allclose(img.GetSpacing(), phantom.spacing[::-1], atol=1e-4)


def test_2d_image_round_trip(tmp_path):
    arr = np.arange(20, dtype=np.float32).reshape(4, 5)
    nib.save(nib.Nifti1Image(arr.T, np.diag([0.5, 0.8, 1, 1])), tmp_path / "a.nii")
    vol = io.read(tmp_path / "a.nii")
    assert vol.shape == (4, 5)
    assert vol.spacing == pytest.approx((0.8, 0.5))
    np.testing.assert_array_equal(vol.array, arr)
    back = io.read(io.write(vol, tmp_path / "b.mha"))
    np.testing.assert_array_equal(back.array, arr)
    assert back.spacing == pytest.approx((0.8, 0.5))


def test_scaled_integers_read_as_float32_and_written_back_as_scaled_integers(tmp_path):
    # Arrange: int16 with scl_slope 0.5 and scl_inter 10, as dcm2niix writes Philips MR
    stored = np.random.default_rng(4).integers(0, 3000, (12, 10, 6)).astype(np.int16)
    img = nib.Nifti1Image(stored, np.diag([0.8, 0.9, 2.5, 1.0]))
    img.header.set_slope_inter(0.5, 10.0)  # kept as given: the data are integers already
    nib.save(img, tmp_path / "s.nii.gz")
    assert nib.load(tmp_path / "s.nii.gz").dataobj.slope == 0.5
    # Act
    vol = io.read(tmp_path / "s.nii.gz")
    restored = vol.with_array(vol.array * 1.7 - 40.0)  # values outside the input's range
    io.write(restored, tmp_path / "out.nii.gz")
    back = nib.load(tmp_path / "out.nii.gz")
    # Assert: float32 in memory, exact; on disk int16 again, within half a step
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, (stored.T * 0.5 + 10.0).astype(np.float32))
    assert back.get_data_dtype() == np.int16
    step = float(back.dataobj.slope)
    written = np.asarray(back.dataobj, dtype=np.float64).T
    # half a step, plus the float32 rounding of the slope the header stores
    assert np.abs(written - restored.array).max() <= 0.51 * step


def test_scaled_8_bit_storage_is_written_as_float32(tmp_path):
    # 256 levels over the restored range would undo the restoration
    stored = np.random.default_rng(5).integers(0, 255, (12, 10, 6)).astype(np.uint8)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(2.0, -5.0)
    nib.save(img, tmp_path / "s.nii.gz")
    vol = io.read(tmp_path / "s.nii.gz")
    restored = vol.with_array(vol.array * 0.97 + 0.3)
    io.write(restored, tmp_path / "out.nii.gz")
    back = nib.load(tmp_path / "out.nii.gz")
    assert vol.array.dtype == np.float32 and back.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asarray(back.dataobj).T, restored.array)


def test_4d_refused_without_index_and_split_with_it(tmp_path):
    data = np.stack([np.full((3, 4, 5), v, np.int16) for v in range(3)], axis=-1)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "f.nii.gz")
    with pytest.raises(ReadError, match=r"f\.nii\.gz: 4-D image with 3 volumes"):
        io.read(tmp_path / "f.nii.gz")
    vol = io.read(tmp_path / "f.nii.gz", index=2)
    assert vol.shape == (5, 4, 3)
    assert np.all(vol.array == 2)
    with pytest.raises(ReadError, match="outside"):
        io.read(tmp_path / "f.nii.gz", index=3)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x00" * 100, "not a readable"), (b"garbage" * 50, "not a readable")],
)
def test_corrupt_files_give_one_line_errors(tmp_path, content, message):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(content)
    with pytest.raises(ReadError, match=message) as err:
        io.read(bad)
    assert "\n" not in str(err.value) and "bad.nii.gz" in str(err.value)


def test_truncated_nifti_refused(tmp_path, phantom):
    out = io.write(phantom, tmp_path / "p.nii")
    out.write_bytes(out.read_bytes()[:500])
    with pytest.raises(ReadError, match="p.nii"):
        io.read(out)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        io.read(tmp_path / "nope.nii")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ReadError, match="unsupported file type"):
        io.read(tmp_path / "x.txt")


def test_write_refuses_existing_and_input(tmp_path, phantom):
    out = io.write(phantom, tmp_path / "p.nii.gz")
    with pytest.raises(WriteError, match="exists"):
        io.write(phantom, out)
    vol = io.read(out)
    with pytest.raises(WriteError, match="input"):
        io.write(vol, out, overwrite=True)
    io.write(phantom, tmp_path / "p2.nii.gz")
    io.write(vol, tmp_path / "p2.nii.gz", overwrite=True)


def test_failed_write_leaves_nothing(tmp_path, phantom, monkeypatch):
    import napari_dcpt.io.nifti as nifti

    def boom(volume, path):
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nifti, "write_nifti", boom)
    with pytest.raises(WriteError, match="No space left"):
        io.write(phantom, tmp_path / "p.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_guess_modality():
    rng = np.random.default_rng(0)
    ct = rng.normal(0, 50, (10, 10, 10))
    ct[:, :3] = -1000
    assert io.guess_modality(ct) == "CT"
    assert io.guess_modality(np.abs(rng.normal(100, 30, (10, 10, 10)))) == "MR"


MANIFEST_SPACING = {
    "ct/lung1.nrrd": (5.0, 0.57, 0.57),
    "ct/head_atlas_1mm.nii.gz": (1.0, 1.0, 1.0),
    "mr/brain1_t1c.nrrd": (6.5, 0.78, 0.78),
    "mr/breast1.nrrd": (2.1, 0.66, 0.66),
    "mr/s1_t1_1mm.nii.gz": (1.0, 1.0, 1.0),
    "mr/colin27_t1_1mm.nii.gz": (1.0, 1.0, 1.0),
    "mr/colin27_t1_0p5mm.nii.gz": (0.5, 0.5, 0.5),
    "mr/macaque_inia19_t1.nii.gz": (0.5, 0.5, 0.5),
    "mr/mni152_2009a_t1.nii.gz": (1.0, 1.0, 1.0),
    "mr/mni152_6asym_t1_1mm.nii.gz": (1.0, 1.0, 1.0),
    "mr/itk_t1_coronal.nii.gz": (3.0, 2.0, 2.0),
    # MANIFEST says 2 mm, but the file's sform is sheared: its slice axis is the
    # vector (30, 30, 32) mm (pixdim[3] = 53.14 too). We report what the header says.
    "mr/dwi_b0_10slices.nii.gz": (53.14, 2.0, 2.0),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(MANIFEST_SPACING))
def test_real_volumes_load_with_manifest_spacing(data_dir, name):
    vol = io.read(data_dir / name)
    assert vol.ndim == 3
    assert sorted(vol.spacing) == pytest.approx(sorted(MANIFEST_SPACING[name]), abs=0.01)
    # No header says the modality: it is guessed from intensities. The head atlas
    # has its air set to 0 (not -1000 HU), so intensities cannot tell it is CT.
    if name != "ct/head_atlas_1mm.nii.gz":
        assert vol.modality == ("CT" if name.startswith("ct/") else "MR")
        assert vol.meta["modality_guessed"]
